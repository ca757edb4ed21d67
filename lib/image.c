/*
 * image.c: image config, manifest and index <-> JSON.
 *
 * Parsing is strict about types (a string where a string belongs, sizes
 * that are non-negative integers, digests in canonical form) because these
 * documents come from registries kiln does not trust, and lenient about
 * presence (unknown fields are ignored, optional ones may be missing), as
 * Docker and containerd are.
 */
#include "compat.h"
#include "image.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"

#include <cjson/cJSON.h>
#include <sys/utsname.h>

/* -------------------------------------------------------- media types */

bool image_media_type_is_index(const char *mt)
{
	return mt && (!strcmp(mt, IMAGE_MT_OCI_INDEX) || !strcmp(mt, IMAGE_MT_DOCKER_LIST));
}

bool image_media_type_is_manifest(const char *mt)
{
	return mt && (!strcmp(mt, IMAGE_MT_OCI_MANIFEST) || !strcmp(mt, IMAGE_MT_DOCKER_MANIFEST));
}

bool image_media_type_is_layer(const char *mt)
{
	static const char *const layers[] = {
		IMAGE_MT_OCI_LAYER,	    IMAGE_MT_OCI_LAYER_GZIP,	   IMAGE_MT_OCI_LAYER_ZSTD,
		IMAGE_MT_DOCKER_LAYER_GZIP, IMAGE_MT_DOCKER_LAYER_FOREIGN,
	};

	for (size_t i = 0; mt && i < KILN_ARRAY_SIZE(layers); i++) {
		if (!strcmp(mt, layers[i]))
			return true;
	}
	return false;
}

/* ------------------------------------------------------ parse helpers */

/* What is being parsed, for messages: "image manifest", "layers[2].digest". */
struct jctx {
	const char *doc;
	struct kiln_error *err;
};

static int jfail(struct jctx *j, const char *where, const char *key, const char *want)
{
	return kiln_err(j->err, KILN_EINVAL, 0, "%s: field '%s%s%s': want %s", j->doc, where,
			*where ? "." : "", key, want);
}

static int jstr(char **out, struct jctx *j, const cJSON *obj, const char *where, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return jfail(j, where, key, "a string");
	free(*out);
	*out = xstrdup(v->valuestring);
	return 0;
}

/* A JSON number that is an integer in [0, 2^53] (what a double holds exactly). */
static int jint(int64_t *out, struct jctx *j, const cJSON *obj, const char *where, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v))
		return jfail(j, where, key, "a non-negative integer");
	d = cJSON_GetNumberValue(v);
	/* Range first: casting NaN or a huge double to int64_t is undefined. */
	if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(int64_t)d)
		return jfail(j, where, key, "a non-negative integer");
	*out = (int64_t)d;
	return 0;
}

static int jbool(bool *out, struct jctx *j, const cJSON *obj, const char *where, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return jfail(j, where, key, "true or false");
	*out = cJSON_IsTrue(v);
	return 0;
}

static int jdigest(struct kiln_digest *out, struct jctx *j, const cJSON *obj, const char *where,
		   const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsString(v) || kiln_digest_parse(out, v->valuestring, NULL) < 0)
		return jfail(j, where, key, "a digest sha256:<64 lowercase hex>");
	return 0;
}

/* An array of strings; *present tells null/absent from []. */
static int jstrv(struct kiln_strvec *out, bool *present, struct jctx *j, const cJSON *obj,
		 const char *where, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key), *e;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return jfail(j, where, key, "an array of strings");
	cJSON_ArrayForEach(e, v)
	{
		if (!cJSON_IsString(e))
			return jfail(j, where, key, "an array of strings");
		kiln_strvec_push(out, e->valuestring);
	}
	if (present)
		*present = true;
	return 0;
}

/* An object of strings; with keys_only, any values (Docker's {"80/tcp":{}}). */
static int jmap(struct image_map *out, struct jctx *j, const cJSON *obj, const char *where,
		const char *key, bool keys_only)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key), *e;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return jfail(j, where, key, "an object");
	cJSON_ArrayForEach(e, v)
	{
		if (!keys_only && !cJSON_IsString(e))
			return jfail(j, where, key, "an object of strings");
		image_map_set(out, e->string, keys_only ? "" : e->valuestring);
	}
	return 0;
}

static int jparse(cJSON **out, struct jctx *j, const void *data, size_t len, size_t cap)
{
	/* The caller's reader already capped the bytes; this catches callers
	 * that did not, before cJSON builds a tree as large as the input. */
	if (len > cap)
		return kiln_err(j->err, KILN_EINVAL, 0, "%s is larger than the limit of %zu bytes",
				j->doc, cap);
	*out = cJSON_ParseWithLength(data, len);
	if (!*out || !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return kiln_err(j->err, KILN_EINVAL, 0, "%s is not a JSON object", j->doc);
	}
	return 0;
}

/* --------------------------------------------------------------- maps */

void image_map_set(struct image_map *m, const char *key, const char *value)
{
	for (size_t i = 0; i < m->nr; i++) {
		if (!strcmp(m->items[i].key, key)) {
			free(m->items[i].value);
			m->items[i].value = xstrdup(value);
			return;
		}
	}
	if (m->nr == m->alloc) {
		m->alloc = m->alloc ? 2 * m->alloc : 8;
		m->items = xreallocarray(m->items, m->alloc, sizeof(*m->items));
	}
	m->items[m->nr].key = xstrdup(key);
	m->items[m->nr++].value = xstrdup(value);
}

const char *image_map_get(const struct image_map *m, const char *key)
{
	for (size_t i = 0; i < m->nr; i++) {
		if (!strcmp(m->items[i].key, key))
			return m->items[i].value;
	}
	return NULL;
}

bool image_map_remove(struct image_map *m, const char *key)
{
	for (size_t i = 0; i < m->nr; i++) {
		if (!strcmp(m->items[i].key, key)) {
			free(m->items[i].key);
			free(m->items[i].value);
			memmove(&m->items[i], &m->items[i + 1],
				(m->nr - i - 1) * sizeof(*m->items));
			m->nr--;
			return true;
		}
	}
	return false;
}

void image_map_release(struct image_map *m)
{
	for (size_t i = 0; i < m->nr; i++) {
		free(m->items[i].key);
		free(m->items[i].value);
	}
	xfree(&m->items);
	m->nr = m->alloc = 0;
}

/* ----------------------------------------------------------- platform */

/* Go's architecture names, which images use, for what uname and users say. */
static const char *arch_normalize(const char *arch)
{
	static const char *const aliases[][2] = {
		{ "x86_64", "amd64" }, { "x86-64", "amd64" },	 { "aarch64", "arm64" },
		{ "i386", "386" },     { "i686", "386" },	 { "armhf", "arm" },
		{ "armel", "arm" },    { "ppc64el", "ppc64le" },
	};

	for (size_t i = 0; i < KILN_ARRAY_SIZE(aliases); i++) {
		if (!strcmp(arch, aliases[i][0]))
			return aliases[i][1];
	}
	return arch;
}

/* The variant an image without one is assumed to have (containerd's rule). */
static const char *default_variant(const char *arch)
{
	if (!strcmp(arch, "arm64"))
		return "v8";
	if (!strcmp(arch, "arm"))
		return "v7";
	return "";
}

int image_platform_parse(struct image_platform *out, const char *s, struct kiln_error *err)
{
	const char *a = strchr(s, '/'), *v;

	memset(out, 0, sizeof(*out));
	if (!a || a == s || !a[1] || a[1] == '/')
		return kiln_err(err, KILN_EINVAL, 0,
				"invalid platform '%s': want os/arch[/variant], e.g. linux/arm64",
				s);
	v = strchr(a + 1, '/');
	if (v && (!v[1] || strchr(v + 1, '/')))
		return kiln_err(err, KILN_EINVAL, 0,
				"invalid platform '%s': want os/arch[/variant], e.g. linux/arm/v7",
				s);
	out->os = xstrndup(s, (size_t)(a - s));
	out->architecture = v ? xstrndup(a + 1, (size_t)(v - a - 1)) : xstrdup(a + 1);
	if (arch_normalize(out->architecture) != out->architecture) {
		char *n = xstrdup(arch_normalize(out->architecture));

		free(out->architecture);
		out->architecture = n;
	}
	out->variant = v ? xstrdup(v + 1) : NULL;
	return 0;
}

void image_platform_host(struct image_platform *out)
{
	struct utsname u;

	memset(out, 0, sizeof(*out));
	out->os = xstrdup("linux");
	out->architecture = xstrdup(uname(&u) == 0 ? arch_normalize(u.machine) : "amd64");
	if (!strncmp(u.machine, "armv", 4) && u.machine[4] >= '5' && u.machine[4] <= '8')
		out->variant = xasprintf("v%c", u.machine[4]);
}

void image_platform_format(struct kiln_buf *out, const struct image_platform *p)
{
	kiln_buf_addf(out, "%s/%s", p->os ? p->os : "?", p->architecture ? p->architecture : "?");
	if (p->variant && *p->variant)
		kiln_buf_addf(out, "/%s", p->variant);
}

void image_platform_release(struct image_platform *p)
{
	xfree(&p->os);
	xfree(&p->architecture);
	xfree(&p->variant);
	xfree(&p->os_version);
}

bool image_platform_match(const struct image_platform *want, const struct image_platform *have)
{
	const char *wa, *ha, *wv, *hv;

	if (!want->os || !have->os || !want->architecture || !have->architecture)
		return false;
	wa = arch_normalize(want->architecture);
	ha = arch_normalize(have->architecture);
	if (strcmp(want->os, have->os) || strcmp(wa, ha))
		return false;
	if (!want->variant || !*want->variant)
		return true;
	wv = want->variant;
	hv = have->variant && *have->variant ? have->variant : default_variant(ha);
	return !strcmp(wv, hv) || (!strcmp(wv, default_variant(wa)) && !*hv);
}

/* ------------------------------------------------------- descriptors */

void image_descriptor_release(struct image_descriptor *d)
{
	xfree(&d->media_type);
	kiln_strvec_clear(&d->urls);
	image_map_release(&d->annotations);
	if (d->platform) {
		image_platform_release(d->platform);
		xfree(&d->platform);
	}
}

static int parse_platform(struct image_platform **out, struct jctx *j, const cJSON *obj,
			  const char *where)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "platform");
	struct image_platform *p;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return jfail(j, where, "platform", "an object");
	p = *out = xcalloc(1, sizeof(*p));
	if (jstr(&p->os, j, v, where, "os") < 0 ||
	    jstr(&p->architecture, j, v, where, "architecture") < 0 ||
	    jstr(&p->variant, j, v, where, "variant") < 0 ||
	    jstr(&p->os_version, j, v, where, "os.version") < 0)
		return j->err ? j->err->code : KILN_EINVAL;
	return 0;
}

static int parse_descriptor(struct image_descriptor *d, struct jctx *j, const cJSON *obj,
			    const char *where)
{
	if (!cJSON_IsObject(obj))
		return kiln_err(j->err, KILN_EINVAL, 0, "%s: '%s' is not an object", j->doc, where);
	d->size = -1;
	if (jstr(&d->media_type, j, obj, where, "mediaType") < 0 ||
	    jdigest(&d->digest, j, obj, where, "digest") < 0 ||
	    jint(&d->size, j, obj, where, "size") < 0 ||
	    jstrv(&d->urls, NULL, j, obj, where, "urls") < 0 ||
	    jmap(&d->annotations, j, obj, where, "annotations", false) < 0 ||
	    parse_platform(&d->platform, j, obj, where) < 0)
		return j->err ? j->err->code : KILN_EINVAL;
	if (d->size < 0)
		return jfail(j, where, "size", "a non-negative integer");
	return 0;
}

/* An array of descriptors, "layers" or "manifests". */
static int parse_descriptors(struct image_descriptor **out, size_t *nr, struct jctx *j,
			     const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key), *e;
	struct kiln_buf where = KILN_BUF_INIT;
	int ret = 0;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return jfail(j, "", key, "an array");
	*out = xcalloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(**out));
	cJSON_ArrayForEach(e, v)
	{
		kiln_buf_reset(&where);
		kiln_buf_addf(&where, "%s[%zu]", key, *nr);
		if ((ret = parse_descriptor(&(*out)[*nr], j, e, where.buf)) < 0)
			break;
		(*nr)++;
	}
	if (ret < 0)
		image_descriptor_release(&(*out)[*nr]);
	kiln_buf_release(&where);
	return ret;
}

/* ------------------------------------------------------ write helpers */

static void put_str(cJSON *obj, const char *key, const char *s)
{
	if (s)
		cJSON_AddStringToObject(obj, key, s);
}

static void put_digest(cJSON *obj, const char *key, const struct kiln_digest *d)
{
	char s[KILN_DIGEST_STR_SIZE];

	kiln_digest_format(s, d);
	cJSON_AddStringToObject(obj, key, s);
}

static void put_strv(cJSON *obj, const char *key, const struct kiln_strvec *v)
{
	cJSON *a = cJSON_AddArrayToObject(obj, key);

	for (size_t i = 0; i < v->nr; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v->v[i]));
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct image_kv *)a)->key, ((const struct image_kv *)b)->key);
}

/* Keys sorted like Go's encoding/json; keys_only writes {"k":{}}. */
static void put_map(cJSON *obj, const char *key, const struct image_map *m, bool keys_only)
{
	struct image_kv *sorted;
	cJSON *o;

	if (!m->nr)
		return;
	sorted = xcalloc(m->nr, sizeof(*sorted));
	memcpy(sorted, m->items, m->nr * sizeof(*sorted));
	qsort(sorted, m->nr, sizeof(*sorted), kv_cmp);
	o = cJSON_AddObjectToObject(obj, key);
	for (size_t i = 0; i < m->nr; i++) {
		if (keys_only)
			cJSON_AddObjectToObject(o, sorted[i].key);
		else
			cJSON_AddStringToObject(o, sorted[i].key, sorted[i].value);
	}
	free(sorted);
}

static cJSON *descriptor_json(const struct image_descriptor *d)
{
	cJSON *o = cJSON_CreateObject();

	put_str(o, "mediaType", d->media_type);
	put_digest(o, "digest", &d->digest);
	cJSON_AddNumberToObject(o, "size", (double)d->size);
	if (d->urls.nr)
		put_strv(o, "urls", &d->urls);
	put_map(o, "annotations", &d->annotations, false);
	if (d->platform) {
		cJSON *p = cJSON_AddObjectToObject(o, "platform");

		put_str(p, "architecture", d->platform->architecture);
		put_str(p, "os", d->platform->os);
		put_str(p, "os.version", d->platform->os_version);
		put_str(p, "variant", d->platform->variant);
	}
	return o;
}

/* Print compactly into out and free the tree. */
static void emit(struct kiln_buf *out, cJSON *root)
{
	char *s = cJSON_PrintUnformatted(root);

	if (!s) {
		fprintf(stderr, "kiln: fatal: out of memory writing JSON\n");
		exit(1);
	}
	kiln_buf_addstr(out, s);
	cJSON_free(s);
	cJSON_Delete(root);
}

/*
 * What manifests and indexes share: the JSON itself (size-capped),
 * schemaVersion 2, and a mediaType (optional in OCI) of the expected kind.
 * On failure *root may be set: the caller's cleanup deletes it.
 */
static int parse_head(cJSON **root, char **media_type, struct jctx *j, const void *data, size_t len,
		      bool (*is_kind)(const char *))
{
	int64_t version = 0;
	int ret;

	if ((ret = jparse(root, j, data, len, IMAGE_MANIFEST_MAX)) < 0)
		return ret;
	if (jint(&version, j, *root, "", "schemaVersion") < 0 ||
	    jstr(media_type, j, *root, "", "mediaType") < 0)
		return KILN_EINVAL;
	if (version != 2)
		return kiln_err(j->err, KILN_EINVAL, 0,
				"%s: schemaVersion %lld is not supported (want 2)", j->doc,
				(long long)version);
	if (*media_type && !is_kind(*media_type))
		return kiln_err(j->err, KILN_EINVAL, 0, "%s: unexpected mediaType '%s'", j->doc,
				*media_type);
	return 0;
}

/* ----------------------------------------------------------- manifest */

int image_manifest_parse(struct image_manifest *out, const void *data, size_t len,
			 struct kiln_error *err)
{
	struct jctx j = { "image manifest", err };
	struct image_manifest m = IMAGE_MANIFEST_INIT;
	cJSON *root = NULL;
	int ret;

	if ((ret = parse_head(&root, &m.media_type, &j, data, len, image_media_type_is_manifest)) <
	    0)
		goto out;
	if ((ret = parse_descriptor(&m.config, &j, cJSON_GetObjectItemCaseSensitive(root, "config"),
				    "config")) < 0 ||
	    (ret = parse_descriptors(&m.layers, &m.nr_layers, &j, root, "layers")) < 0 ||
	    (ret = jmap(&m.annotations, &j, root, "", "annotations", false)) < 0)
		goto out;
	*out = m;
	memset(&m, 0, sizeof(m));
	ret = 0;
out:
	image_manifest_release(&m);
	cJSON_Delete(root);
	return ret;
}

void image_manifest_write(struct kiln_buf *out, const struct image_manifest *m)
{
	cJSON *root = cJSON_CreateObject(), *layers;

	cJSON_AddNumberToObject(root, "schemaVersion", m->schema_version ? m->schema_version : 2);
	put_str(root, "mediaType", m->media_type);
	cJSON_AddItemToObject(root, "config", descriptor_json(&m->config));
	layers = cJSON_AddArrayToObject(root, "layers");
	for (size_t i = 0; i < m->nr_layers; i++)
		cJSON_AddItemToArray(layers, descriptor_json(&m->layers[i]));
	put_map(root, "annotations", &m->annotations, false);
	emit(out, root);
}

void image_manifest_release(struct image_manifest *m)
{
	xfree(&m->media_type);
	image_descriptor_release(&m->config);
	for (size_t i = 0; i < m->nr_layers; i++)
		image_descriptor_release(&m->layers[i]);
	xfree(&m->layers);
	m->nr_layers = 0;
	image_map_release(&m->annotations);
}

void image_manifest_add_layer(struct image_manifest *m, const char *media_type,
			      const struct kiln_digest *d, int64_t size)
{
	struct image_descriptor *l;

	m->layers = xreallocarray(m->layers, m->nr_layers + 1, sizeof(*m->layers));
	l = &m->layers[m->nr_layers++];
	memset(l, 0, sizeof(*l));
	l->media_type = xstrdup(media_type);
	l->digest = *d;
	l->size = size;
}

/* -------------------------------------------------------------- index */

int image_index_parse(struct image_index *out, const void *data, size_t len, struct kiln_error *err)
{
	struct jctx j = { "image index", err };
	struct image_index ix = IMAGE_INDEX_INIT;
	cJSON *root = NULL;
	int ret;

	if ((ret = parse_head(&root, &ix.media_type, &j, data, len, image_media_type_is_index)) < 0)
		goto out;
	if ((ret = parse_descriptors(&ix.manifests, &ix.nr_manifests, &j, root, "manifests")) < 0 ||
	    (ret = jmap(&ix.annotations, &j, root, "", "annotations", false)) < 0)
		goto out;
	*out = ix;
	memset(&ix, 0, sizeof(ix));
	ret = 0;
out:
	image_index_release(&ix);
	cJSON_Delete(root);
	return ret;
}

void image_index_write(struct kiln_buf *out, const struct image_index *ix)
{
	cJSON *root = cJSON_CreateObject(), *list;

	cJSON_AddNumberToObject(root, "schemaVersion", ix->schema_version ? ix->schema_version : 2);
	put_str(root, "mediaType", ix->media_type);
	list = cJSON_AddArrayToObject(root, "manifests");
	for (size_t i = 0; i < ix->nr_manifests; i++)
		cJSON_AddItemToArray(list, descriptor_json(&ix->manifests[i]));
	put_map(root, "annotations", &ix->annotations, false);
	emit(out, root);
}

void image_index_release(struct image_index *ix)
{
	xfree(&ix->media_type);
	for (size_t i = 0; i < ix->nr_manifests; i++)
		image_descriptor_release(&ix->manifests[i]);
	xfree(&ix->manifests);
	ix->nr_manifests = 0;
	image_map_release(&ix->annotations);
}

int image_index_select(size_t *out, const struct image_index *ix, const struct image_platform *want,
		       struct kiln_error *err)
{
	struct kiln_buf have = KILN_BUF_INIT, w = KILN_BUF_INIT;

	for (size_t i = 0; i < ix->nr_manifests; i++) {
		const struct image_platform *p = ix->manifests[i].platform;

		if (p && image_platform_match(want, p)) {
			*out = i;
			kiln_buf_release(&have);
			return 0;
		}
		if (p) {
			kiln_buf_addstr(&have, have.len ? ", " : "");
			image_platform_format(&have, p);
		}
	}
	image_platform_format(&w, want);
	kiln_err(err, KILN_ENOENT, 0, "no image for platform '%s' in the index (it has: %s)", w.buf,
		 have.len ? have.buf : "no platforms");
	kiln_err_hint(err, "choose one with --custom-platform");
	kiln_buf_release(&have);
	kiln_buf_release(&w);
	return KILN_ENOENT;
}

/* ------------------------------------------------------------- config */

/* Durations are Go time.Duration nanoseconds. */
static int parse_healthcheck(struct image_healthcheck *h, struct jctx *j, const cJSON *cfg)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "Healthcheck");
	const char *w = "config.Healthcheck";
	int64_t retries = 0;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return jfail(j, "config", "Healthcheck", "an object");
	h->present = true;
	if (jstrv(&h->test, NULL, j, v, w, "Test") < 0 ||
	    jint(&h->interval, j, v, w, "Interval") < 0 ||
	    jint(&h->timeout, j, v, w, "Timeout") < 0 ||
	    jint(&h->start_period, j, v, w, "StartPeriod") < 0 ||
	    jint(&h->start_interval, j, v, w, "StartInterval") < 0 ||
	    jint(&retries, j, v, w, "Retries") < 0)
		return j->err ? j->err->code : KILN_EINVAL;
	if (retries > INT32_MAX)
		return jfail(j, w, "Retries", "a small integer");
	h->retries = (int)retries;
	return 0;
}

static int parse_run_config(struct image_run_config *r, struct jctx *j, const cJSON *root)
{
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
	const char *w = "config";

	if (!cfg || cJSON_IsNull(cfg))
		return 0;
	if (!cJSON_IsObject(cfg))
		return jfail(j, "", "config", "an object");
	if (jstr(&r->user, j, cfg, w, "User") < 0 ||
	    jmap(&r->exposed_ports, j, cfg, w, "ExposedPorts", true) < 0 ||
	    jstrv(&r->env, NULL, j, cfg, w, "Env") < 0 ||
	    jstrv(&r->entrypoint, &r->has_entrypoint, j, cfg, w, "Entrypoint") < 0 ||
	    jstrv(&r->cmd, &r->has_cmd, j, cfg, w, "Cmd") < 0 ||
	    jmap(&r->volumes, j, cfg, w, "Volumes", true) < 0 ||
	    jstr(&r->working_dir, j, cfg, w, "WorkingDir") < 0 ||
	    jmap(&r->labels, j, cfg, w, "Labels", false) < 0 ||
	    jstr(&r->stop_signal, j, cfg, w, "StopSignal") < 0 ||
	    jbool(&r->args_escaped, j, cfg, w, "ArgsEscaped") < 0 ||
	    jstrv(&r->on_build, NULL, j, cfg, w, "OnBuild") < 0 ||
	    jstrv(&r->shell, NULL, j, cfg, w, "Shell") < 0 ||
	    parse_healthcheck(&r->healthcheck, j, cfg) < 0)
		return j->err ? j->err->code : KILN_EINVAL;
	return 0;
}

static int parse_rootfs(struct image_config *c, struct jctx *j, const cJSON *root)
{
	const cJSON *rootfs = cJSON_GetObjectItemCaseSensitive(root, "rootfs"), *ids, *e;
	struct kiln_digest d;

	if (!rootfs || cJSON_IsNull(rootfs))
		return 0;
	ids = cJSON_GetObjectItemCaseSensitive(rootfs, "diff_ids");
	if (!cJSON_IsObject(rootfs) || (ids && !cJSON_IsNull(ids) && !cJSON_IsArray(ids)))
		return jfail(j, "", "rootfs", "{\"type\":\"layers\",\"diff_ids\":[...]}");
	cJSON_ArrayForEach(e, ids)
	{
		if (!cJSON_IsString(e) || kiln_digest_parse(&d, e->valuestring, NULL) < 0)
			return jfail(j, "rootfs", "diff_ids", "an array of sha256 digests");
		image_config_add_diff_id(c, &d);
	}
	return 0;
}

static int parse_history(struct image_config *c, struct jctx *j, const cJSON *root)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "history"), *e;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return jfail(j, "", "history", "an array");
	cJSON_ArrayForEach(e, v)
	{
		struct image_history h = { 0 };
		int ret = 0;

		if (!cJSON_IsObject(e) || jstr(&h.created, j, e, "history", "created") < 0 ||
		    jstr(&h.created_by, j, e, "history", "created_by") < 0 ||
		    jstr(&h.author, j, e, "history", "author") < 0 ||
		    jstr(&h.comment, j, e, "history", "comment") < 0 ||
		    jbool(&h.empty_layer, j, e, "history", "empty_layer") < 0)
			ret = jfail(j, "", "history", "an array of history objects");
		else
			image_config_add_history(c, &h);
		free(h.created);
		free(h.created_by);
		free(h.author);
		free(h.comment);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int image_config_parse(struct image_config *out, const void *data, size_t len,
		       struct kiln_error *err)
{
	struct jctx j = { "image config", err };
	struct image_config c = { 0 };
	cJSON *root = NULL;
	int ret;

	if ((ret = jparse(&root, &j, data, len, IMAGE_CONFIG_MAX)) < 0)
		return ret;
	ret = KILN_EINVAL;
	if (jstr(&c.created, &j, root, "", "created") < 0 ||
	    jstr(&c.author, &j, root, "", "author") < 0 ||
	    jstr(&c.architecture, &j, root, "", "architecture") < 0 ||
	    jstr(&c.os, &j, root, "", "os") < 0 ||
	    jstr(&c.os_version, &j, root, "", "os.version") < 0 ||
	    jstr(&c.variant, &j, root, "", "variant") < 0 ||
	    parse_run_config(&c.config, &j, root) < 0 || parse_rootfs(&c, &j, root) < 0 ||
	    parse_history(&c, &j, root) < 0)
		goto out;
	*out = c;
	memset(&c, 0, sizeof(c));
	ret = 0;
out:
	image_config_release(&c);
	cJSON_Delete(root);
	return ret;
}

static void put_healthcheck(cJSON *cfg, const struct image_healthcheck *h)
{
	cJSON *o;

	if (!h->present)
		return;
	o = cJSON_AddObjectToObject(cfg, "Healthcheck");
	put_strv(o, "Test", &h->test);
	if (h->interval)
		cJSON_AddNumberToObject(o, "Interval", (double)h->interval);
	if (h->timeout)
		cJSON_AddNumberToObject(o, "Timeout", (double)h->timeout);
	if (h->start_period)
		cJSON_AddNumberToObject(o, "StartPeriod", (double)h->start_period);
	if (h->start_interval)
		cJSON_AddNumberToObject(o, "StartInterval", (double)h->start_interval);
	if (h->retries)
		cJSON_AddNumberToObject(o, "Retries", h->retries);
}

/* Field names and order as Docker writes them (so tools diffing configs
 * see what they expect). */
static cJSON *run_config_json(const struct image_run_config *r)
{
	cJSON *o = cJSON_CreateObject();

	put_str(o, "User", r->user);
	put_map(o, "ExposedPorts", &r->exposed_ports, true);
	if (r->env.nr)
		put_strv(o, "Env", &r->env);
	if (r->has_entrypoint)
		put_strv(o, "Entrypoint", &r->entrypoint);
	if (r->has_cmd)
		put_strv(o, "Cmd", &r->cmd);
	put_healthcheck(o, &r->healthcheck);
	if (r->args_escaped)
		cJSON_AddTrueToObject(o, "ArgsEscaped");
	put_map(o, "Volumes", &r->volumes, true);
	put_str(o, "WorkingDir", r->working_dir);
	put_map(o, "Labels", &r->labels, false);
	if (r->on_build.nr)
		put_strv(o, "OnBuild", &r->on_build);
	put_str(o, "StopSignal", r->stop_signal);
	if (r->shell.nr)
		put_strv(o, "Shell", &r->shell);
	return o;
}

void image_config_write(struct kiln_buf *out, const struct image_config *c)
{
	cJSON *root = cJSON_CreateObject(), *rootfs, *ids, *hist;

	put_str(root, "architecture", c->architecture);
	put_str(root, "author", c->author);
	put_str(root, "created", c->created);
	put_str(root, "os", c->os);
	put_str(root, "os.version", c->os_version);
	put_str(root, "variant", c->variant);
	cJSON_AddItemToObject(root, "config", run_config_json(&c->config));
	rootfs = cJSON_AddObjectToObject(root, "rootfs");
	cJSON_AddStringToObject(rootfs, "type", "layers");
	ids = cJSON_AddArrayToObject(rootfs, "diff_ids");
	for (size_t i = 0; i < c->nr_diff_ids; i++) {
		char s[KILN_DIGEST_STR_SIZE];

		kiln_digest_format(s, &c->diff_ids[i]);
		cJSON_AddItemToArray(ids, cJSON_CreateString(s));
	}
	hist = cJSON_AddArrayToObject(root, "history");
	for (size_t i = 0; i < c->nr_history; i++) {
		const struct image_history *h = &c->history[i];
		cJSON *o = cJSON_CreateObject();

		put_str(o, "created", h->created);
		put_str(o, "created_by", h->created_by);
		put_str(o, "author", h->author);
		put_str(o, "comment", h->comment);
		if (h->empty_layer)
			cJSON_AddTrueToObject(o, "empty_layer");
		cJSON_AddItemToArray(hist, o);
	}
	emit(out, root);
}

static void run_config_release(struct image_run_config *r)
{
	xfree(&r->user);
	image_map_release(&r->exposed_ports);
	kiln_strvec_clear(&r->env);
	kiln_strvec_clear(&r->entrypoint);
	kiln_strvec_clear(&r->cmd);
	image_map_release(&r->volumes);
	xfree(&r->working_dir);
	image_map_release(&r->labels);
	xfree(&r->stop_signal);
	kiln_strvec_clear(&r->on_build);
	kiln_strvec_clear(&r->shell);
	kiln_strvec_clear(&r->healthcheck.test);
	memset(r, 0, sizeof(*r));
}

void image_config_release(struct image_config *c)
{
	xfree(&c->created);
	xfree(&c->author);
	xfree(&c->architecture);
	xfree(&c->os);
	xfree(&c->os_version);
	xfree(&c->variant);
	run_config_release(&c->config);
	xfree(&c->diff_ids);
	c->nr_diff_ids = 0;
	for (size_t i = 0; i < c->nr_history; i++) {
		free(c->history[i].created);
		free(c->history[i].created_by);
		free(c->history[i].author);
		free(c->history[i].comment);
	}
	xfree(&c->history);
	c->nr_history = 0;
}

void image_config_add_diff_id(struct image_config *c, const struct kiln_digest *d)
{
	c->diff_ids = xreallocarray(c->diff_ids, c->nr_diff_ids + 1, sizeof(*c->diff_ids));
	c->diff_ids[c->nr_diff_ids++] = *d;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void image_config_add_history(struct image_config *c, const struct image_history *h)
{
	struct image_history *n;

	c->history = xreallocarray(c->history, c->nr_history + 1, sizeof(*c->history));
	n = &c->history[c->nr_history++];
	n->created = dup_or_null(h->created);
	n->created_by = dup_or_null(h->created_by);
	n->author = dup_or_null(h->author);
	n->comment = dup_or_null(h->comment);
	n->empty_layer = h->empty_layer;
}
