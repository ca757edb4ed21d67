/*
 * ref.c: image references, parsed and normalised the way Docker does
 * (distribution/reference's grammar), so that every name a kaniko user
 * writes means the same image here.
 *
 *	reference  := name [ ":" tag ] [ "@" digest ]
 *	name       := [ domain "/" ] component ( "/" component )*
 *	domain     := host [ ":" port ]      host: DNS name, IPv4 or [IPv6]
 *	component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *	tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
 */
#include "compat.h"
#include "registry.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "error.h"

#include <ctype.h>

#define DOCKER_HUB     "docker.io"
#define DOCKER_HUB_API "registry-1.docker.io"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: alphanumeric runs joined by ".", "_", "__" or "-"+. */
static bool component_valid(const char *s, size_t len)
{
	size_t i = 0;

	if (!len || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	while (i < len) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		size_t start = i;

		if (s[i] == '-') {
			while (i < len && s[i] == '-')
				i++;
		} else if (s[i] == '_' && i + 1 < len && s[i + 1] == '_') {
			i += 2;
		} else if (s[i] == '.' || s[i] == '_') {
			i++;
		} else {
			return false;
		}
		if (i == start || i >= len || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

/* A DNS label: alphanumerics, inner dashes. */
static bool label_valid(const char *s, size_t len)
{
	if (!len || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	}
	return true;
}

static bool port_valid(const char *s, size_t len)
{
	if (!len || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static bool domain_valid(const char *s, size_t len)
{
	const char *colon;
	size_t host_len = len;

	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close || close == s + 1)
			return false;
		for (const char *p = s + 1; p < close; p++) {
			if (!isxdigit((unsigned char)*p) && *p != ':')
				return false;
		}
		host_len = (size_t)(close - s) + 1;
		if (host_len == len)
			return true;
		return s[host_len] == ':' && port_valid(s + host_len + 1, len - host_len - 1);
	}
	colon = memchr(s, ':', len);
	if (colon) {
		host_len = (size_t)(colon - s);
		if (!port_valid(colon + 1, len - host_len - 1))
			return false;
	}
	for (size_t i = 0; i < host_len;) {
		const char *dot = memchr(s + i, '.', host_len - i);
		size_t end = dot ? (size_t)(dot - s) : host_len;

		if (!label_valid(s + i, end - i))
			return false;
		i = end + 1;
		if (dot && i == host_len)
			return false; /* trailing dot */
	}
	return host_len > 0;
}

static bool tag_valid(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > REGISTRY_TAG_MAX || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	}
	return true;
}

/* Docker refuses a bare 64-hex name: it would be mistaken for an image ID. */
static bool is_image_id(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (const char *p = s; *p; p++) {
		if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
			return false;
	}
	return true;
}

/*
 * Split the first component off as the domain when it looks like one:
 * it holds '.' or ':', is "localhost", or has an uppercase letter.
 */
static void split_domain(char **domain, char **path, const char *name)
{
	const char *slash = strchr(name, '/');
	bool is_domain = false;

	if (slash) {
		size_t n = (size_t)(slash - name);

		is_domain = memchr(name, '.', n) || memchr(name, ':', n) ||
			    (n == 9 && !memcmp(name, "localhost", 9));
		for (size_t i = 0; i < n && !is_domain; i++)
			is_domain = isupper((unsigned char)name[i]);
	}
	if (!is_domain) {
		*domain = xstrdup(DOCKER_HUB);
		*path = strchr(name, '/') ? xstrdup(name) : xasprintf("library/%s", name);
		return;
	}
	*domain = xstrndup(name, (size_t)(slash - name));
	if (!strcmp(*domain, "index.docker.io")) {
		free(*domain);
		*domain = xstrdup(DOCKER_HUB);
	}
	if (!strcmp(*domain, DOCKER_HUB) && !strchr(slash + 1, '/'))
		*path = xasprintf("library/%s", slash + 1);
	else
		*path = xstrdup(slash + 1);
}

static int path_check(const char *path, const char *s, struct kiln_error *err)
{
	for (const char *p = path; *p; p++) {
		if (isupper((unsigned char)*p))
			return kiln_err(err, KILN_EINVAL, 0,
					"invalid reference '%s': repository name '%s' must be "
					"lowercase",
					s, path);
	}
	for (const char *p = path;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (!component_valid(p, n))
			return kiln_err(
				err, KILN_EINVAL, 0,
				"invalid reference '%s': bad repository name component "
				"'%.*s' (use lowercase letters, digits and single '.', '_', "
				"'__' or '-' separators)",
				s, (int)n, p);
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

/* Split "name[:tag][@digest]" into owned pieces. */
static int split_parts(char **name, char **tag, char **digest, const char *s,
		       struct kiln_error *err)
{
	const char *at = strchr(s, '@');
	size_t name_len = at ? (size_t)(at - s) : strlen(s);
	const char *slash, *colon;

	if (at) {
		struct kiln_digest d;

		*digest = xstrdup(at + 1);
		if (kiln_digest_parse(&d, *digest, NULL) < 0)
			return kiln_err(err, KILN_EINVAL, 0,
					"invalid reference '%s': bad digest '%s' (want "
					"sha256:<64 lowercase hex digits>)",
					s, *digest);
	}
	/* The tag follows the last ':' after the last '/' (a port's ':' comes before). */
	slash = memrchr(s, '/', name_len);
	colon = memrchr(slash ? slash : s, ':', name_len - (size_t)(slash ? slash - s : 0));
	if (colon) {
		*tag = xstrndup(colon + 1, name_len - (size_t)(colon - s) - 1);
		name_len = (size_t)(colon - s);
		if (!tag_valid(*tag))
			return kiln_err(err, KILN_EINVAL, 0,
					"invalid reference '%s': bad tag '%s' (at most %d of "
					"A-Z a-z 0-9 _ . -, not starting with '.' or '-')",
					s, *tag, REGISTRY_TAG_MAX);
	}
	*name = xstrndup(s, name_len);
	return 0;
}

int registry_ref_parse(struct registry_ref *out, const char *s, struct kiln_error *err)
{
	struct registry_ref r = REGISTRY_REF_INIT;
	char *name = NULL;
	int ret = -1;

	if (!*s) {
		ret = kiln_err(err, KILN_EINVAL, 0, "invalid reference '': empty image name");
		goto out;
	}
	if ((ret = split_parts(&name, &r.tag, &r.digest, s, err)) < 0)
		goto out;
	if (!*name || is_image_id(name)) {
		ret = kiln_err(err, KILN_EINVAL, 0,
			       *name ? "invalid reference '%s': a 64-hex name is an image ID, "
				       "not a repository"
				     : "invalid reference '%s': no repository name",
			       s);
		goto out;
	}
	split_domain(&r.domain, &r.path, name);
	if (!domain_valid(r.domain, strlen(r.domain))) {
		ret = kiln_err(err, KILN_EINVAL, 0, "invalid reference '%s': bad registry '%s'", s,
			       r.domain);
		goto out;
	}
	if ((ret = path_check(r.path, s, err)) < 0)
		goto out;
	if (strlen(r.domain) + 1 + strlen(r.path) > REGISTRY_NAME_MAX) {
		ret = kiln_err(err, KILN_EINVAL, 0,
			       "invalid reference '%s': name longer than %d characters", s,
			       REGISTRY_NAME_MAX);
		goto out;
	}
	if (!r.tag && !r.digest)
		r.tag = xstrdup("latest");
	*out = r;
	memset(&r, 0, sizeof(r));
	ret = 0;
out:
	free(name);
	registry_ref_release(&r);
	return ret;
}

void registry_ref_release(struct registry_ref *ref)
{
	xfree(&ref->domain);
	xfree(&ref->path);
	xfree(&ref->tag);
	xfree(&ref->digest);
}

void registry_ref_copy(struct registry_ref *out, const struct registry_ref *ref)
{
	out->domain = ref->domain ? xstrdup(ref->domain) : NULL;
	out->path = ref->path ? xstrdup(ref->path) : NULL;
	out->tag = ref->tag ? xstrdup(ref->tag) : NULL;
	out->digest = ref->digest ? xstrdup(ref->digest) : NULL;
}

void registry_ref_name(struct kiln_buf *out, const struct registry_ref *ref)
{
	kiln_buf_addf(out, "%s/%s", ref->domain, ref->path);
}

void registry_ref_format(struct kiln_buf *out, const struct registry_ref *ref)
{
	registry_ref_name(out, ref);
	if (ref->tag)
		kiln_buf_addf(out, ":%s", ref->tag);
	if (ref->digest)
		kiln_buf_addf(out, "@%s", ref->digest);
}

const char *registry_ref_api_host(const struct registry_ref *ref)
{
	/* Docker Hub's API does not live on docker.io itself. */
	return strcmp(ref->domain, DOCKER_HUB) ? ref->domain : DOCKER_HUB_API;
}

/* domain without its ":port" (an IPv6 literal keeps its brackets off). */
static size_t host_part(const char **host, const char *domain)
{
	const char *colon;

	if (domain[0] == '[') {
		const char *close = strchr(domain, ']');

		*host = domain + 1;
		return close ? (size_t)(close - domain - 1) : strlen(domain + 1);
	}
	*host = domain;
	colon = strchr(domain, ':');
	return colon ? (size_t)(colon - domain) : strlen(domain);
}

bool registry_host_is_loopback(const char *domain)
{
	const char *h;
	size_t n = host_part(&h, domain);
	unsigned a, b, c, d;
	char tail;
	char ip[16];

	if ((n == 9 && !strncasecmp(h, "localhost", 9)) || (n == 3 && !memcmp(h, "::1", 3)))
		return true;
	if (n >= sizeof(ip))
		return false;
	memcpy(ip, h, n);
	ip[n] = '\0';
	/* 127.0.0.0/8: four dotted numbers, the first 127. */
	return sscanf(ip, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
	       c < 256 && d < 256;
}
