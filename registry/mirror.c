/*
 * mirror.c: where a pull comes from. --registry-map "orig=host[/prefix]"
 * (several, ';'-separated or repeated, tried in order) and, for Docker Hub,
 * --registry-mirror "host[/prefix]" name places to try before the
 * reference's own registry; --skip-default-registry-fallback leaves the
 * registry itself out when any of those apply. Pushes never use mirrors.
 *
 * The candidate that served a repository's manifest is remembered, so its
 * blobs are asked from the same place first (a mirror holding the manifest
 * holds the blobs), without a 404 round trip to each mirror per blob.
 */
#include "compat.h"
#include "registry-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"

struct reg_source {
	char *name; /* the original "domain/path" */
	char *domain, *path;
	struct reg_source *next;
};

/* Docker Hub has several names; maps may use any of them. */
static const char *hub_alias(const char *domain, size_t n)
{
	static const char *const names[] = { "docker.io", "index.docker.io",
					     "registry-1.docker.io" };

	for (size_t i = 0; i < KILN_ARRAY_SIZE(names); i++) {
		if (strlen(names[i]) == n && !strncmp(domain, names[i], n))
			return "docker.io";
	}
	return NULL;
}

static bool domain_is(const char *key, size_t n, const char *domain)
{
	const char *a = hub_alias(key, n);

	if (a)
		return !strcmp(domain, a);
	return strlen(domain) == n && !strncmp(domain, key, n);
}

/* "host[/prefix]" (n bytes at s) + ref -> a candidate reference. */
static void candidate_add(struct reg_candidates *cs, const char *s, size_t n,
			  const struct registry_ref *ref)
{
	struct registry_ref *r;
	const char *slash = memchr(s, '/', n);
	size_t hlen = slash ? (size_t)(slash - s) : n;

	cs->v = xreallocarray(cs->v, cs->n + 1, sizeof(*cs->v));
	r = &cs->v[cs->n++];
	registry_ref_copy(r, ref);
	free(r->domain);
	r->domain = xstrndup(s, hlen);
	if (slash && n > hlen + 1) {
		char *p = xasprintf("%.*s/%s", (int)(n - hlen - 1), slash + 1, ref->path);

		free(r->path);
		r->path = p;
	}
}

/* Each "orig=target" of one --registry-map value that applies to domain. */
static void maps_add(struct reg_candidates *cs, const char *map, const struct registry_ref *ref)
{
	for (const char *p = map; *p;) {
		size_t len = strcspn(p, ";");
		const char *eq = memchr(p, '=', len);

		if (eq && domain_is(p, (size_t)(eq - p), ref->domain) && eq + 1 < p + len)
			candidate_add(cs, eq + 1, (size_t)(p + len - eq - 1), ref);
		p += len;
		p += *p == ';';
	}
}

static struct reg_source *source_find(struct registry_client *c, const char *name)
{
	for (struct reg_source *s = c->sources; s; s = s->next) {
		if (!strcmp(s->name, name))
			return s;
	}
	return NULL;
}

/* Move the candidate that served this repository before to the front. */
static void prefer_known(struct reg_candidates *cs, struct registry_client *c,
			 const struct registry_ref *ref)
{
	struct kiln_buf name = KILN_BUF_INIT;
	struct reg_source *s;

	registry_ref_name(&name, ref);
	pthread_mutex_lock(&c->lock);
	s = source_find(c, name.buf);
	for (size_t i = 1; s && i < cs->n; i++) {
		struct registry_ref t = cs->v[i];

		if (strcmp(t.domain, s->domain) || strcmp(t.path, s->path))
			continue;
		memmove(&cs->v[1], &cs->v[0], i * sizeof(*cs->v));
		cs->v[0] = t;
		break;
	}
	pthread_mutex_unlock(&c->lock);
	kiln_buf_release(&name);
}

void reg_candidates_get(struct reg_candidates *out, struct registry_client *c,
			const struct registry_ref *ref)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < c->o.registry_maps.nr; i++)
		maps_add(out, c->o.registry_maps.v[i], ref);
	for (size_t i = 0; !strcmp(ref->domain, "docker.io") && i < c->o.mirrors.nr; i++)
		candidate_add(out, c->o.mirrors.v[i], strlen(c->o.mirrors.v[i]), ref);
	/* The registry itself comes last, unless mirrors apply and the user
	 * said never to fall back to it (an air-gapped cluster). */
	if (!out->n || !c->o.skip_default_fallback) {
		out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
		registry_ref_copy(&out->v[out->n++], ref);
		out->has_original = true;
	}
	if (out->n > 1)
		prefer_known(out, c, ref);
}

void reg_candidates_release(struct reg_candidates *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		registry_ref_release(&cs->v[i]);
	free(cs->v);
	memset(cs, 0, sizeof(*cs));
}

void reg_source_remember(struct registry_client *c, const struct registry_ref *ref,
			 const struct registry_ref *src)
{
	struct kiln_buf name = KILN_BUF_INIT;
	struct reg_source *s;

	registry_ref_name(&name, ref);
	pthread_mutex_lock(&c->lock);
	s = source_find(c, name.buf);
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->name = kiln_buf_detach(&name, NULL);
		s->next = c->sources;
		c->sources = s;
	}
	free(s->domain);
	free(s->path);
	s->domain = xstrdup(src->domain);
	s->path = xstrdup(src->path);
	pthread_mutex_unlock(&c->lock);
	kiln_buf_release(&name);
}

void reg_sources_free(struct registry_client *c)
{
	while (c->sources) {
		struct reg_source *s = c->sources;

		c->sources = s->next;
		free(s->name);
		free(s->domain);
		free(s->path);
		free(s);
	}
}

/* A "host[/prefix]" a reference can be built on. */
static int target_check(const char *flag, const char *s, size_t n, struct kiln_error *err)
{
	struct registry_ref r = REGISTRY_REF_INIT;
	char *probe = xasprintf("%.*s/x", (int)n, s);
	int ret = 0;

	/* A first component without '.' or ':' would be read as a Docker Hub
	 * path, not a host: accept only what parses back to the same host. */
	if (!n || memchr(s, '=', n) || registry_ref_parse(&r, probe, NULL) < 0 ||
	    strncmp(r.domain, s, strlen(r.domain)) || strlen(r.domain) > n ||
	    (strlen(r.domain) < n && s[strlen(r.domain)] != '/'))
		ret = kiln_err(err, KILN_EINVAL, 0,
			       "%s: '%.*s' is not host[:port][/path] (e.g. mirror.gcr.io or "
			       "127.0.0.1:5000/cache)",
			       flag, (int)n, s);
	registry_ref_release(&r);
	free(probe);
	return ret;
}

int reg_mirrors_check(const struct registry_options *o, struct kiln_error *err)
{
	for (size_t i = 0; i < o->mirrors.nr; i++) {
		if (target_check("--registry-mirror", o->mirrors.v[i], strlen(o->mirrors.v[i]),
				 err) < 0)
			return KILN_EINVAL;
	}
	for (size_t i = 0; i < o->registry_maps.nr; i++) {
		for (const char *p = o->registry_maps.v[i]; *p;) {
			size_t len = strcspn(p, ";");
			const char *eq = memchr(p, '=', len);

			if (!eq || eq == p)
				return kiln_err(err, KILN_EINVAL, 0,
						"--registry-map: '%.*s' is not orig=host[/path]",
						(int)len, p);
			if (target_check("--registry-map", eq + 1, (size_t)(p + len - eq - 1),
					 err) < 0)
				return KILN_EINVAL;
			p += len;
			p += *p == ';';
		}
	}
	return 0;
}
