/*
 * `executor debug pull [FLAGS] REF --output DIR`: pull one image (the
 * platform's manifest when REF names an index) into an OCI image layout
 * (oci-layout, index.json, blobs/sha256/...), every blob verified.
 *
 * `executor debug push [FLAGS] DIR REF...`: push the image of an OCI
 * layout's index.json (its first manifest) to each REF: blobs first
 * (HEAD, mount, upload), then the manifest to every tag.
 *
 * Both print the manifest digest on stdout. FLAGS: --platform os/arch[/v],
 * --insecure, --skip-tls-verify, --insecure-registry R,
 * --skip-tls-verify-registry R, --registry-certificate R=ca.pem,
 * --registry-client-cert R=cert,key, --retries N, --parallel N,
 * --chunk-size BYTES, --mount-from REPO (push), --docker-config FILE,
 * --registry-mirror HOST[/PREFIX], --registry-map ORIG=HOST[/PREFIX][;...],
 * --skip-default-registry-fallback (pull), --progress-interval MS,
 * --check-only (push: `debug push --check-only REF...` checks the push
 * permission of each REF, uploading nothing).
 *
 * `executor debug download [--sha256 sha256:HEX] [--max-size N] [FLAGS] URL
 * --output FILE`: registry_download() into FILE (written atomically, its
 * mtime the Last-Modified time; a failure leaves no file); prints the
 * digest, size, Last-Modified and final URL on stdout.
 * Tests drive the registry client through these.
 */
#include "compat.h"
#include "commands.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "fileio.h"
#include "image.h"
#include "registry.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

struct reg_args {
	struct registry_options o;
	const char *output, *mount_from;
	const char *sha256; /* download: the expected digest */
	uint64_t max_size;  /* download: the size cap */
	bool check_only;
	struct kiln_strvec operands;
};

static int usage(struct kiln_error *err, const char *tool, const char *why, const char *arg)
{
	kiln_err(err, KILN_EINVAL, 0, "debug %s: %s '%s'", tool, why, arg);
	kiln_err_hint(err, "see the usage in 'executor debug'");
	return 2;
}

static bool parse_number(unsigned long long *out, const char *s, unsigned long long max)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && end != s && !*end && *out <= max;
}

/* One flag; 1 when it was one, 0 when not, 2 on a usage error. */
static int parse_flag(struct reg_args *a, const char *tool, int *i, int argc, char **argv,
		      struct kiln_error *err)
{
	const char *arg = argv[*i], *v;
	unsigned long long n;

	if (!strcmp(arg, "--insecure"))
		a->o.insecure = true;
	else if (!strcmp(arg, "--skip-tls-verify"))
		a->o.skip_tls_verify = true;
	else if (!strcmp(arg, "--check-only"))
		a->check_only = true;
	else if (!strcmp(arg, "--skip-default-registry-fallback"))
		a->o.skip_default_fallback = true;
	else if ((v = debug_flag_value(arg, "--registry-mirror", i, argc, argv)))
		kiln_strvec_push(&a->o.mirrors, v);
	else if ((v = debug_flag_value(arg, "--registry-map", i, argc, argv)))
		kiln_strvec_push(&a->o.registry_maps, v);
	else if ((v = debug_flag_value(arg, "--platform", i, argc, argv)))
		a->o.platform = v;
	else if ((v = debug_flag_value(arg, "--insecure-registry", i, argc, argv)))
		kiln_strvec_push(&a->o.insecure_registries, v);
	else if ((v = debug_flag_value(arg, "--skip-tls-verify-registry", i, argc, argv)))
		kiln_strvec_push(&a->o.skip_tls_verify_registries, v);
	else if ((v = debug_flag_value(arg, "--registry-certificate", i, argc, argv)))
		kiln_strvec_push(&a->o.certificates, v);
	else if ((v = debug_flag_value(arg, "--registry-client-cert", i, argc, argv)))
		kiln_strvec_push(&a->o.client_certs, v);
	else if ((v = debug_flag_value(arg, "--docker-config", i, argc, argv)))
		a->o.docker_config = v;
	else if ((v = debug_flag_value(arg, "--output", i, argc, argv)))
		a->output = v;
	else if ((v = debug_flag_value(arg, "--mount-from", i, argc, argv)))
		a->mount_from = v;
	else if ((v = debug_flag_value(arg, "--sha256", i, argc, argv)))
		a->sha256 = v;
	else if ((v = debug_flag_value(arg, "--max-size", i, argc, argv)))
		return parse_number(&n, v, 1ull << 50) && n
			       ? (a->max_size = n, 1)
			       : usage(err, tool, "invalid --max-size", v);
	else if ((v = debug_flag_value(arg, "--retries", i, argc, argv)))
		return parse_number(&n, v, 100) ? (a->o.retries = (unsigned)n, 1)
						: usage(err, tool, "invalid --retries", v);
	else if ((v = debug_flag_value(arg, "--parallel", i, argc, argv)))
		return parse_number(&n, v, 64) && n ? (a->o.parallel = (unsigned)n, 1)
						    : usage(err, tool, "invalid --parallel", v);
	else if ((v = debug_flag_value(arg, "--progress-interval", i, argc, argv)))
		return parse_number(&n, v, 3600000) && n
			       ? (a->o.progress_interval_ms = (unsigned)n, 1)
			       : usage(err, tool, "invalid --progress-interval", v);
	else if ((v = debug_flag_value(arg, "--chunk-size", i, argc, argv)))
		return parse_number(&n, v, 1ull << 40) && n
			       ? (a->o.chunk_size = (size_t)n, 1)
			       : usage(err, tool, "invalid --chunk-size", v);
	else if (arg[0] == '-')
		return usage(err, tool, "unknown flag", arg);
	else
		return 0;
	return 1;
}

static int parse_args(struct reg_args *a, const char *tool, int argc, char **argv,
		      struct kiln_error *err)
{
	registry_options_init(&a->o);
	a->o.backoff_ms = 200;
	for (int i = 0; i < argc; i++) {
		int r = parse_flag(a, tool, &i, argc, argv, err);

		if (r == 2)
			return 2;
		if (r == 0)
			kiln_strvec_push(&a->operands, argv[i]);
	}
	return 0;
}

static void args_release(struct reg_args *a)
{
	registry_options_release(&a->o);
	kiln_strvec_clear(&a->operands);
}

/* ---------------------------------------------------------------- pull */

static void blob_path(struct kiln_buf *out, const char *dir, const struct kiln_digest *d)
{
	char hex[2 * KILN_SHA256_LEN + 1];

	kiln_digest_hex(hex, d);
	kiln_buf_addf(out, "%s/blobs/sha256/%s", dir, hex);
}

/* Download to a temporary file renamed into place only once verified. */
static int pull_blob(struct registry_client *c, const struct registry_ref *ref, const char *dir,
		     const struct image_descriptor *d, struct kiln_error *err)
{
	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
	struct kiln_buf path = KILN_BUF_INIT;
	int ret;

	blob_path(&path, dir, &d->digest);
	if ((ret = kiln_atomic_file_open(&f, path.buf, 0644, err)) < 0)
		goto out;
	if ((ret = registry_blob_get(c, ref, &d->digest, d->size, registry_write_fd, &f.fd, err)) <
	    0) {
		kiln_atomic_file_abort(&f);
		goto out;
	}
	ret = kiln_atomic_file_commit(&f, err);
out:
	kiln_buf_release(&path);
	return ret;
}

static int write_layout(const char *dir, const struct registry_manifest *m,
			const struct registry_ref *ref, struct kiln_error *err)
{
	struct image_index ix = IMAGE_INDEX_INIT;
	struct image_descriptor d = { 0 };
	struct kiln_buf path = KILN_BUF_INIT, json = KILN_BUF_INIT;
	int ret;

	blob_path(&path, dir, &m->digest);
	if ((ret = kiln_file_write_atomic(path.buf, m->data, m->len, 0644, err)) < 0)
		goto out;
	d.media_type = m->media_type;
	d.digest = m->digest;
	d.size = (int64_t)m->len;
	if (ref->tag)
		image_map_set(&d.annotations, "org.opencontainers.image.ref.name", ref->tag);
	ix.manifests = &d;
	ix.nr_manifests = 1;
	image_index_write(&json, &ix);
	kiln_buf_reset(&path);
	kiln_buf_addf(&path, "%s/index.json", dir);
	if ((ret = kiln_file_write_atomic(path.buf, json.buf, json.len, 0644, err)) < 0)
		goto out;
	kiln_buf_reset(&path);
	kiln_buf_addf(&path, "%s/oci-layout", dir);
	ret = kiln_file_write_atomic(path.buf, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644, err);
out:
	image_map_release(&d.annotations);
	kiln_buf_release(&path);
	kiln_buf_release(&json);
	return ret;
}

static int make_dirs(const char *dir, struct kiln_error *err)
{
	const char *subs[] = { "", "/blobs", "/blobs/sha256" };
	struct kiln_buf p = KILN_BUF_INIT;
	int ret = 0;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(subs) && ret == 0; i++) {
		kiln_buf_reset(&p);
		kiln_buf_addf(&p, "%s%s", dir, subs[i]);
		if (mkdir(p.buf, 0755) < 0 && errno != EEXIST)
			ret = kiln_err(err, KILN_EIO, errno, "mkdir '%s'", p.buf);
	}
	kiln_buf_release(&p);
	return ret;
}

static int do_pull(struct registry_client *c, const struct registry_ref *ref, const char *dir,
		   const char *platform, struct kiln_error *err)
{
	struct registry_manifest m = REGISTRY_MANIFEST_INIT;
	struct image_manifest im = IMAGE_MANIFEST_INIT;
	char ds[KILN_DIGEST_STR_SIZE];
	int ret;

	if ((ret = make_dirs(dir, err)) < 0 ||
	    (ret = registry_manifest_get(&m, c, ref, platform, err)) < 0 ||
	    (ret = image_manifest_parse(&im, m.data, m.len, err)) < 0 ||
	    (ret = pull_blob(c, ref, dir, &im.config, err)) < 0)
		goto out;
	for (size_t i = 0; i < im.nr_layers; i++) {
		if ((ret = pull_blob(c, ref, dir, &im.layers[i], err)) < 0)
			goto out;
	}
	if ((ret = write_layout(dir, &m, ref, err)) < 0)
		goto out;
	kiln_digest_format(ds, &m.digest);
	printf("%s\n", ds);
out:
	image_manifest_release(&im);
	registry_manifest_release(&m);
	return ret;
}

static int run_client(struct reg_args *a, struct registry_client **c, struct kiln_error *err)
{
	if (registry_global_init(err) < 0)
		return -1;
	return registry_client_new(c, &a->o, err);
}

int debug_pull(int argc, char **argv, struct kiln_error *err)
{
	struct reg_args a = { .operands = KILN_STRVEC_INIT };
	struct registry_client *c = NULL;
	struct registry_ref ref = REGISTRY_REF_INIT;
	struct image_platform host = { 0 };
	struct kiln_buf plat = KILN_BUF_INIT;
	int code = 1;

	if ((code = parse_args(&a, "pull", argc, argv, err)) != 0)
		goto out;
	code = 2;
	if (a.operands.nr != 1 || !a.output) {
		kiln_err(err, KILN_EINVAL, 0,
			 "usage: executor debug pull [FLAGS] REF --output DIR");
		goto out;
	}
	code = 1;
	if (!a.o.platform) {
		image_platform_host(&host);
		image_platform_format(&plat, &host);
		a.o.platform = plat.buf;
	}
	if (registry_ref_parse(&ref, a.operands.v[0], err) < 0 || run_client(&a, &c, err) < 0 ||
	    do_pull(c, &ref, a.output, a.o.platform, err) < 0)
		goto out;
	code = 0;
out:
	registry_client_free(c);
	registry_global_cleanup();
	registry_ref_release(&ref);
	image_platform_release(&host);
	kiln_buf_release(&plat);
	args_release(&a);
	return code;
}

/* ---------------------------------------------------------------- push */

struct layout_image {
	struct kiln_buf manifest;
	char *media_type;
	struct image_manifest m;
	struct registry_blob_source *srcs; /* config, then layers */
	int *fds;
	size_t n;
};

static int read_layout(struct layout_image *li, const char *dir, struct kiln_error *err)
{
	struct kiln_buf text = KILN_BUF_INIT, path = KILN_BUF_INIT;
	struct image_index ix = IMAGE_INDEX_INIT;
	int ret;

	kiln_buf_addf(&path, "%s/index.json", dir);
	if ((ret = kiln_file_read(&text, path.buf, IMAGE_MANIFEST_MAX, err)) < 0 ||
	    (ret = image_index_parse(&ix, text.buf, text.len, err)) < 0)
		goto out;
	if (!ix.nr_manifests) {
		ret = kiln_err(err, KILN_EINVAL, 0, "'%s' lists no image", path.buf);
		goto out;
	}
	kiln_buf_reset(&path);
	blob_path(&path, dir, &ix.manifests[0].digest);
	if ((ret = kiln_file_read(&li->manifest, path.buf, IMAGE_MANIFEST_MAX, err)) < 0 ||
	    (ret = image_manifest_parse(&li->m, li->manifest.buf, li->manifest.len, err)) < 0)
		goto out;
	li->media_type = xstrdup(li->m.media_type	      ? li->m.media_type
				 : ix.manifests[0].media_type ? ix.manifests[0].media_type
							      : IMAGE_MT_OCI_MANIFEST);
out:
	image_index_release(&ix);
	kiln_buf_release(&text);
	kiln_buf_release(&path);
	return ret;
}

static int open_sources(struct layout_image *li, const char *dir, const char *mount_from,
			struct kiln_error *err)
{
	struct kiln_buf path = KILN_BUF_INIT;
	int ret = 0;

	li->n = li->m.nr_layers + 1;
	li->srcs = xcalloc(li->n, sizeof(*li->srcs));
	li->fds = xcalloc(li->n, sizeof(*li->fds));
	for (size_t i = 0; i < li->n; i++)
		li->fds[i] = -1;
	for (size_t i = 0; i < li->n && ret == 0; i++) {
		const struct image_descriptor *d = i ? &li->m.layers[i - 1] : &li->m.config;

		kiln_buf_reset(&path);
		blob_path(&path, dir, &d->digest);
		li->fds[i] = open(path.buf, O_RDONLY | O_CLOEXEC);
		if (li->fds[i] < 0)
			ret = kiln_err(err, KILN_EIO, errno, "open '%s'", path.buf);
		li->srcs[i].digest = d->digest;
		li->srcs[i].size = (uint64_t)d->size;
		li->srcs[i].read_at = registry_read_at_fd;
		li->srcs[i].ctx = &li->fds[i];
		li->srcs[i].mount_from = mount_from;
	}
	kiln_buf_release(&path);
	return ret;
}

static void layout_image_release(struct layout_image *li)
{
	for (size_t i = 0; i < li->n; i++)
		close_fd(&li->fds[i]);
	free(li->fds);
	free(li->srcs);
	free(li->media_type);
	image_manifest_release(&li->m);
	kiln_buf_release(&li->manifest);
}

static int do_push(struct registry_client *c, struct reg_args *a, struct kiln_error *err)
{
	struct layout_image li = { .manifest = KILN_BUF_INIT, .m = IMAGE_MANIFEST_INIT };
	struct registry_ref *refs = xcalloc(a->operands.nr, sizeof(*refs));
	struct kiln_digest d;
	char ds[KILN_DIGEST_STR_SIZE];
	size_t mounted = 0, skipped = 0;
	int ret;

	for (size_t i = 1; i < a->operands.nr; i++) {
		if ((ret = registry_ref_parse(&refs[i], a->operands.v[i], err)) < 0)
			goto out;
	}
	if ((ret = read_layout(&li, a->operands.v[0], err)) < 0 ||
	    (ret = open_sources(&li, a->operands.v[0], a->mount_from, err)) < 0)
		goto out;
	for (size_t i = 1; i < a->operands.nr; i++) {
		/* Every blob before any manifest: a tag never names missing blobs. */
		if ((ret = registry_blobs_push(c, &refs[i], li.srcs, li.n, err)) < 0)
			goto out;
		for (size_t j = 0; j < li.n; j++) {
			mounted += li.srcs[j].mounted;
			skipped += li.srcs[j].skipped;
		}
	}
	for (size_t i = 1; i < a->operands.nr; i++) {
		if ((ret = registry_manifest_put(&d, c, &refs[i], li.media_type, li.manifest.buf,
						 li.manifest.len, err)) < 0)
			goto out;
	}
	kiln_digest_format(ds, &d);
	printf("%s\n", ds);
	fprintf(stderr, "blobs: %zu, already there: %zu, mounted: %zu\n", li.n, skipped, mounted);
out:
	for (size_t i = 0; i < a->operands.nr; i++)
		registry_ref_release(&refs[i]);
	free(refs);
	layout_image_release(&li);
	return ret;
}

/* --check-only REF...: may we push to every REF? Nothing is uploaded. */
static int check_push(struct registry_client *c, struct reg_args *a, struct kiln_error *err)
{
	for (size_t i = 0; i < a->operands.nr; i++) {
		struct registry_ref ref = REGISTRY_REF_INIT;
		int ret = registry_ref_parse(&ref, a->operands.v[i], err);

		if (ret == 0)
			ret = registry_check_push(c, &ref, err);
		registry_ref_release(&ref);
		if (ret < 0)
			return ret;
		printf("push allowed: %s\n", a->operands.v[i]);
	}
	return 0;
}

int debug_push(int argc, char **argv, struct kiln_error *err)
{
	struct reg_args a = { .operands = KILN_STRVEC_INIT };
	struct registry_client *c = NULL;
	int code;

	if ((code = parse_args(&a, "push", argc, argv, err)) != 0)
		goto out;
	code = 2;
	if (a.operands.nr < (a.check_only ? 1u : 2u)) {
		kiln_err(err, KILN_EINVAL, 0,
			 "usage: executor debug push [FLAGS] DIR REF... | --check-only REF...");
		goto out;
	}
	code = 1;
	if (run_client(&a, &c, err) < 0 ||
	    (a.check_only ? check_push(c, &a, err) : do_push(c, &a, err)) < 0)
		goto out;
	code = 0;
out:
	registry_client_free(c);
	registry_global_cleanup();
	args_release(&a);
	return code;
}

/* ------------------------------------------------------------ download */

/* What `debug download` writes when no --max-size is given. */
#define DOWNLOAD_MAX_DEFAULT (4ull << 30)

static int do_download(struct registry_client *c, struct reg_args *a, struct kiln_error *err)
{
	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
	struct registry_download dl = REGISTRY_DOWNLOAD_INIT;
	struct kiln_digest want;
	char ds[KILN_DIGEST_STR_SIZE];
	int ret;

	if (a->sha256 && (ret = kiln_digest_parse(&want, a->sha256, err)) < 0)
		return kiln_err_prefix(err, "--sha256");
	if ((ret = kiln_atomic_file_open(&f, a->output, 0644, err)) < 0)
		return ret;
	if ((ret = registry_download(&dl, c, a->operands.v[0], a->sha256 ? &want : NULL,
				     a->max_size ? a->max_size : DOWNLOAD_MAX_DEFAULT,
				     registry_write_fd, &f.fd, err)) < 0)
		goto out;
	if (dl.last_modified >= 0) {
		/* As ADD does: the file's mtime is the server's Last-Modified. */
		struct timespec ts[2] = { { .tv_sec = (time_t)dl.last_modified },
					  { .tv_sec = (time_t)dl.last_modified } };

		if (futimens(f.fd, ts) < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "set the mtime of '%s'", a->output);
			goto out;
		}
	}
	if ((ret = kiln_atomic_file_commit(&f, err)) < 0)
		goto out;
	kiln_digest_format(ds, &dl.digest);
	printf("digest: %s\nsize: %" PRIu64 "\nlast-modified: %" PRId64 "\nurl: %s\n", ds, dl.size,
	       dl.last_modified, dl.url);
out:
	kiln_atomic_file_abort(&f);
	registry_download_release(&dl);
	return ret;
}

int debug_download(int argc, char **argv, struct kiln_error *err)
{
	struct reg_args a = { .operands = KILN_STRVEC_INIT };
	struct registry_client *c = NULL;
	int code;

	if ((code = parse_args(&a, "download", argc, argv, err)) != 0)
		goto out;
	code = 2;
	if (a.operands.nr != 1 || !a.output) {
		kiln_err(err, KILN_EINVAL, 0,
			 "usage: executor debug download [--sha256 sha256:HEX] [--max-size N] "
			 "[FLAGS] URL --output FILE");
		goto out;
	}
	code = 1;
	if (run_client(&a, &c, err) < 0 || do_download(c, &a, err) < 0)
		goto out;
	code = 0;
out:
	registry_client_free(c);
	registry_global_cleanup();
	args_release(&a);
	return code;
}
