/*
 * manifest.c: manifest GET and PUT, and choosing a platform's manifest
 * from an index. Manifests stay bytes here (lib/image parses them); the
 * little index reading platform selection needs is done with cJSON
 * directly, because registry/ may not depend on lib/.
 */
#include "compat.h"
#include "registry-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "log.h"

#include <cjson/cJSON.h>

static const char accept_all[] = REGISTRY_MT_OCI_MANIFEST
	", " REGISTRY_MT_OCI_INDEX ", " REGISTRY_MT_DOCKER_MANIFEST ", " REGISTRY_MT_DOCKER_LIST;

bool registry_media_type_is_index(const char *mt)
{
	return mt && (!strcmp(mt, REGISTRY_MT_OCI_INDEX) || !strcmp(mt, REGISTRY_MT_DOCKER_LIST));
}

void registry_manifest_release(struct registry_manifest *m)
{
	xfree(&m->media_type);
	xfree(&m->data);
	m->len = 0;
}

/* mediaType from the document, else the Content-Type without parameters. */
static char *media_type_of(const struct kiln_buf *body, const char *content_type)
{
	cJSON *root = cJSON_ParseWithLength(body->buf, body->len);
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "mediaType");
	char *out = NULL;

	if (cJSON_IsString(mt))
		out = xstrdup(mt->valuestring);
	else if (content_type)
		out = xstrndup(content_type, strcspn(content_type, "; "));
	cJSON_Delete(root);
	return out;
}

static int fetch(struct registry_manifest *out, struct registry_client *c, struct reg_host *h,
		 const struct registry_ref *ref, const char *reference,
		 const struct kiln_digest *want, struct kiln_error *err)
{
	struct reg_response resp = REG_RESPONSE_INIT;
	struct kiln_buf url = KILN_BUF_INIT, scope = KILN_BUF_INIT;
	struct reg_request rq = { .method = "GET", .host = h, .accept = accept_all };
	char got[KILN_DIGEST_STR_SIZE];
	int ret;

	reg_url(&url, h, ref->path, "manifests/%s", reference);
	kiln_buf_addf(&scope, "repository:%s:pull", ref->path);
	rq.url = url.buf;
	rq.scope = scope.buf;
	rq.body_cap = REGISTRY_MANIFEST_MAX; /* the manifest is read whole: capped */
	if ((ret = reg_do(&resp, c, &rq, err)) < 0)
		goto out;
	if (resp.status != 200) {
		ret = reg_status_err(&resp, &rq, err);
		goto out;
	}
	kiln_digest_of(&out->digest, resp.body.buf, resp.body.len);
	kiln_digest_format(got, &out->digest);
	/* By digest the bytes must be exactly those; by tag, a registry that
	 * names a digest must have sent the bytes it names. */
	if ((want && !kiln_digest_eq(want, &out->digest)) ||
	    (!want && resp.digest && !strncmp(resp.digest, "sha256:", 7) &&
	     strcmp(resp.digest, got))) {
		ret = kiln_err(err, KILN_EDIGEST, 0,
			       "the manifest '%s' from registry '%s' does not match its digest "
			       "(got %s)",
			       reference, h->domain, got);
		goto out;
	}
	out->media_type = media_type_of(&resp.body, resp.content_type);
	out->data = kiln_buf_detach(&resp.body, &out->len);
	ret = 0;
out:
	reg_response_release(&resp);
	kiln_buf_release(&url);
	kiln_buf_release(&scope);
	return ret;
}

/* ---------------------------------------------------- platform choice */

/* GOARCH names for what uname and users say. */
static const char *arch_norm(const char *a)
{
	if (!strcmp(a, "x86_64") || !strcmp(a, "x86-64"))
		return "amd64";
	if (!strcmp(a, "aarch64"))
		return "arm64";
	if (!strcmp(a, "i386") || !strcmp(a, "i686"))
		return "386";
	return a;
}

static const char *variant_norm(const char *arch, const char *v)
{
	if (v && *v)
		return v;
	return !strcmp(arch, "arm64") ? "v8" : !strcmp(arch, "arm") ? "v7" : "";
}

struct platform {
	char os[64], arch[64], variant[64];
};

static int platform_parse(struct platform *p, const char *s, struct kiln_error *err)
{
	char arch[64] = "";

	memset(p, 0, sizeof(*p));
	if (sscanf(s, "%63[^/]/%63[^/]/%63s", p->os, arch, p->variant) < 2)
		return kiln_err(err, KILN_EINVAL, 0,
				"invalid platform '%s': want os/arch[/variant], e.g. linux/arm64",
				s);
	snprintf(p->arch, sizeof(p->arch), "%s", arch_norm(arch));
	return 0;
}

static bool platform_match(const struct platform *want, const cJSON *plat)
{
	const cJSON *os = cJSON_GetObjectItemCaseSensitive(plat, "os");
	const cJSON *arch = cJSON_GetObjectItemCaseSensitive(plat, "architecture");
	const cJSON *var = cJSON_GetObjectItemCaseSensitive(plat, "variant");
	const char *a;

	if (!cJSON_IsString(os) || !cJSON_IsString(arch) || strcmp(os->valuestring, want->os))
		return false;
	a = arch_norm(arch->valuestring);
	if (strcmp(a, want->arch))
		return false;
	return !want->variant[0] ||
	       !strcmp(variant_norm(a, want->variant),
		       variant_norm(a, cJSON_IsString(var) ? var->valuestring : NULL));
}

static void platform_describe(struct kiln_buf *out, const cJSON *plat)
{
	const char *keys[] = { "os", "architecture", "variant" };

	kiln_buf_addstr(out, out->len ? ", " : "");
	for (size_t i = 0; i < KILN_ARRAY_SIZE(keys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(plat, keys[i]);

		if (cJSON_IsString(v) && *v->valuestring)
			kiln_buf_addf(out, "%s%.32s", i ? "/" : "", v->valuestring);
	}
}

/* The digest of want's manifest in the index; none: ENOENT listing those present. */
static int index_select(struct kiln_digest *out, const struct registry_manifest *ix,
			const struct platform *want, const char *platform, const char *name,
			struct kiln_error *err)
{
	cJSON *root = cJSON_ParseWithLength(ix->data, ix->len), *m;
	struct kiln_buf have = KILN_BUF_INIT;
	int ret = KILN_ENOENT;

	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "manifests"))
	{
		const cJSON *plat = cJSON_GetObjectItemCaseSensitive(m, "platform");
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "digest");

		if (!cJSON_IsObject(plat))
			continue;
		if (platform_match(want, plat) && cJSON_IsString(d)) {
			ret = kiln_digest_parse(out, d->valuestring, err);
			goto out;
		}
		platform_describe(&have, plat);
	}
	kiln_err(err, KILN_ENOENT, 0, "image '%s' has no manifest for platform '%s' (it has: %s)",
		 name, platform, have.len ? have.buf : "none");
	kiln_err_hint(err, "choose one of those with --custom-platform");
out:
	kiln_buf_release(&have);
	cJSON_Delete(root);
	return ret;
}

static int manifest_get_one(struct registry_manifest *out, struct registry_client *c,
			    const struct registry_ref *ref, const char *platform,
			    struct kiln_error *err)
{
	struct registry_manifest ix = REGISTRY_MANIFEST_INIT, m = REGISTRY_MANIFEST_INIT;
	struct kiln_digest want, child;
	struct kiln_buf name = KILN_BUF_INIT;
	struct platform p;
	char ds[KILN_DIGEST_STR_SIZE];
	struct reg_host *h;
	int ret;

	registry_ref_format(&name, ref);
	if ((ret = reg_host_get(&h, c, ref->domain, err)) < 0 ||
	    (ref->digest && (ret = kiln_digest_parse(&want, ref->digest, err)) < 0) ||
	    (ret = fetch(&ix, c, h, ref, ref->digest ? ref->digest : ref->tag,
			 ref->digest ? &want : NULL, err)) < 0)
		goto out;
	if (!platform || !registry_media_type_is_index(ix.media_type)) {
		*out = ix;
		memset(&ix, 0, sizeof(ix));
		goto out;
	}
	if ((ret = platform_parse(&p, platform, err)) < 0 ||
	    (ret = index_select(&child, &ix, &p, platform, name.buf, err)) < 0)
		goto out;
	kiln_digest_format(ds, &child);
	kiln_debug("%s: platform %s is %s", name.buf, platform, ds);
	if ((ret = fetch(&m, c, h, ref, ds, &child, err)) < 0)
		goto out;
	m.index_digest = ix.digest;
	m.from_index = true;
	*out = m;
	memset(&m, 0, sizeof(m));
out:
	if (ret < 0)
		kiln_err_prefix(err, "pull manifest of '%s'", name.buf);
	registry_manifest_release(&ix);
	registry_manifest_release(&m);
	kiln_buf_release(&name);
	return ret;
}

/* The last candidate's error goes to the caller; earlier ones are logged,
 * since the next candidate may well succeed. */
int registry_manifest_get(struct registry_manifest *out, struct registry_client *c,
			  const struct registry_ref *ref, const char *platform,
			  struct kiln_error *err)
{
	struct reg_candidates cs;
	struct kiln_error e = KILN_ERROR_INIT;
	struct kiln_buf name = KILN_BUF_INIT;
	int ret = KILN_EINVAL;

	reg_candidates_get(&cs, c, ref);
	for (size_t i = 0; i < cs.n; i++) {
		kiln_error_release(&e);
		ret = manifest_get_one(out, c, &cs.v[i], platform, &e);
		if (ret == 0) {
			if (cs.n > 1)
				reg_source_remember(c, ref, &cs.v[i]);
			break;
		}
		if (i + 1 < cs.n) {
			kiln_buf_reset(&name);
			registry_ref_name(&name, &cs.v[i + 1]);
			kiln_warn("%s; trying '%s'", kiln_error_msg(&e), name.buf);
		}
	}
	reg_err_move(err, &e, ret);
	if (ret < 0 && !cs.has_original)
		kiln_err_hint(err,
			      "the image's own registry '%s' was not tried "
			      "(--skip-default-registry-fallback)",
			      ref->domain);
	reg_candidates_release(&cs);
	kiln_buf_release(&name);
	return ret;
}

int registry_manifest_put(struct kiln_digest *out, struct registry_client *c,
			  const struct registry_ref *ref, const char *media_type, const void *data,
			  size_t len, struct kiln_error *err)
{
	struct reg_response resp = REG_RESPONSE_INIT;
	struct kiln_buf url = KILN_BUF_INIT, scope = KILN_BUF_INIT, name = KILN_BUF_INIT;
	struct reg_request rq = { .method = "PUT", .content_type = media_type };
	struct reg_host *h;
	int ret;

	registry_ref_format(&name, ref);
	if ((ret = reg_host_get(&h, c, ref->domain, err)) < 0)
		goto out;
	reg_url(&url, h, ref->path, "manifests/%s", ref->tag ? ref->tag : ref->digest);
	kiln_buf_addf(&scope, "repository:%s:pull,push", ref->path);
	rq.url = url.buf;
	rq.host = h;
	rq.scope = scope.buf;
	rq.body = data;
	rq.body_len = len;
	if ((ret = reg_do(&resp, c, &rq, err)) < 0)
		goto out;
	if (resp.status != 201 && resp.status != 200) {
		ret = reg_status_err(&resp, &rq, err);
		goto out;
	}
	if (out)
		kiln_digest_of(out, data, len);
out:
	if (ret < 0)
		kiln_err_prefix(err, "push manifest to '%s'", name.buf);
	reg_response_release(&resp);
	kiln_buf_release(&url);
	kiln_buf_release(&scope);
	kiln_buf_release(&name);
	return ret;
}
