/*
 * build-base.c: base images. A stage's base (or a COPY --from image) is
 * pulled into the blob store, every byte verified, and its layers are
 * unpacked as they arrive (build-unpack.c): the blobs stay for the outputs
 * (a tarball, a layout, a push to another registry) and for rebuilding a
 * stage's tree.
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "base-cache.h"
#include "fileio.h"
#include "log.h"
#include "path.h"
#include "registry.h"

#include <fcntl.h>
#include <sys/stat.h>

void blob_path(struct kiln_buf *out, const struct build *b, const struct kiln_digest *d)
{
	char hex[2 * KILN_SHA256_LEN + 1];

	kiln_digest_hex(hex, d);
	kiln_buf_addf(out, "%s/sha256/%s", b->blob_dir, hex);
}

void blob_origin_add(struct build *b, const struct kiln_digest *d, const char *repo, bool cache,
		     const char *file)
{
	if (blob_origin_find(b, d))
		return;
	if (b->nr_origins == b->alloc_origins) {
		b->alloc_origins = b->alloc_origins ? 2 * b->alloc_origins : 16;
		b->origins = xreallocarray(b->origins, b->alloc_origins, sizeof(*b->origins));
	}
	b->origins[b->nr_origins++] =
		(struct blob_origin){ *d, xstrdup(repo), cache, file ? xstrdup(file) : NULL };
}

const struct blob_origin *blob_origin_find(const struct build *b, const struct kiln_digest *d)
{
	for (size_t i = 0; i < b->nr_origins; i++) {
		if (kiln_digest_eq(&b->origins[i].digest, d))
			return &b->origins[i];
	}
	return NULL;
}

/* A blob on this machine (an OCI-layout cache): a hardlink where it can
 * be, else a copy. */
static int copy_local(const char *dst, const char *src, struct kiln_error *err)
{
	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
	int in, ret;

	if (link(src, dst) == 0 || errno == EEXIST)
		return 0;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return kiln_err(err, KILN_EIO, errno, "open '%s'", src);
	if ((ret = kiln_atomic_file_open(&f, dst, 0644, err)) == 0 &&
	    (ret = kiln_copy_fd(f.fd, in, src, err)) == 0)
		ret = kiln_atomic_file_commit(&f, err);
	kiln_atomic_file_abort(&f);
	close(in);
	return ret;
}

/* Into the temporary file, telling the feed what it may read. */
struct feed_sink {
	int fd;
	struct layer_feed *feed;
};

static int feed_sink_write(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	struct feed_sink *s = ctx;
	int ret = registry_write_fd(&s->fd, data, len, err);

	return ret < 0 || !s->feed ? ret : layer_feed_wrote(s->feed, len, err);
}

/* Download to a temporary file renamed into place only once verified. */
int blob_fetch_feed(struct build *b, const struct kiln_digest *d, struct layer_feed *feed,
		    struct kiln_error *err)
{
	const struct blob_origin *o = blob_origin_find(b, d);
	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
	struct feed_sink sink = { -1, feed };
	struct registry_ref ref = REGISTRY_REF_INIT;
	struct kiln_buf path = KILN_BUF_INIT, src = KILN_BUF_INIT;
	char ds[KILN_DIGEST_STR_SIZE];
	struct stat st;
	int ret = 0;

	kiln_digest_format(ds, d);
	blob_path(&path, b, d);
	if (stat(path.buf, &st) == 0)
		goto out; /* fetched already */
	if (!o) {
		ret = kiln_err(err, KILN_ENOENT, 0, "blob %s is in no repository kiln knows", ds);
		goto out;
	}
	if (o->file || (o->cache && b->cache && cache_repo_blob_file(&src, b->cache, d))) {
		if (o->file)
			kiln_buf_setstr(&src, o->file);
		ret = copy_local(path.buf, src.buf, err);
		goto out;
	}
	if ((ret = registry_ref_parse(&ref, o->repo, err)) < 0 ||
	    (ret = kiln_atomic_file_open(&f, path.buf, 0644, err)) < 0)
		goto out;
	sink.fd = f.fd;
	if (feed)
		layer_feed_opened(feed, f.fd);
	ret = registry_blob_get(o->cache ? b->cache_client : b->pull, &ref, d, -1, feed_sink_write,
				&sink, err);
	if (ret < 0)
		kiln_atomic_file_abort(&f);
	else
		ret = kiln_atomic_file_commit(&f, err);
out:
	if (ret < 0)
		kiln_err_prefix(err, "pull %s from '%s'", ds, o ? o->repo : "?");
	registry_ref_release(&ref);
	kiln_buf_release(&path);
	kiln_buf_release(&src);
	return ret;
}

int blob_fetch(struct build *b, const struct kiln_digest *d, struct kiln_error *err)
{
	return blob_fetch_feed(b, d, NULL, err);
}

bool blob_present(const struct build *b, const struct kiln_digest *d)
{
	struct kiln_buf path = KILN_BUF_INIT;
	bool ok;

	blob_path(&path, b, d);
	ok = access(path.buf, F_OK) == 0;
	kiln_buf_release(&path);
	return ok;
}

static int buf_sink(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	return kiln_buf_add_capped(ctx, data, len, IMAGE_CONFIG_MAX, "an image config", err);
}

/* The config blob: parsed, and kept in the blob store as pulled. */
static int pull_config(struct image_config *out, struct build *b, const struct registry_ref *ref,
		       const struct image_descriptor *d, struct kiln_error *err)
{
	struct kiln_buf data = KILN_BUF_INIT;
	int ret;

	if ((ret = registry_blob_get(b->pull, ref, &d->digest, d->size, buf_sink, &data, err)) <
		    0 ||
	    (ret = image_config_parse(out, data.buf, data.len, err)) < 0)
		goto out;
out:
	kiln_buf_release(&data);
	return ret;
}

static const char *platform_for(struct build *b, const char *platform)
{
	return platform ? platform : b->platform_str;
}

/* The config blob of an entry of the warmer's cache, verified. */
static int cache_dir_config(struct image_config *out, const struct base_cache_entry *e,
			    const struct image_descriptor *d, struct kiln_error *err)
{
	struct kiln_buf path = KILN_BUF_INIT, data = KILN_BUF_INIT;
	int ret;

	base_cache_blob_path(&path, e, &d->digest);
	if ((ret = kiln_file_read_digest(&data, path.buf, IMAGE_CONFIG_MAX, &d->digest, err)) == 0)
		ret = image_config_parse(out, data.buf, data.len, err);
	kiln_buf_release(&path);
	kiln_buf_release(&data);
	return ret;
}

/* The image from an entry: layers are taken from the entry's files when
 * a tree or an output needs them (the extractor verifies them then). */
static int cache_dir_image(struct stage_image *img, struct build *b, const char *name,
			   const struct base_cache_entry *e, struct kiln_error *err)
{
	struct registry_ref ref = REGISTRY_REF_INIT;
	struct kiln_buf repo = KILN_BUF_INIT, path = KILN_BUF_INIT;
	int ret;

	if ((ret = registry_ref_parse(&ref, name, err)) < 0 ||
	    (ret = image_manifest_parse(&img->manifest, e->manifest, e->manifest_len, err)) < 0 ||
	    (ret = cache_dir_config(&img->config, e, &img->manifest.config, err)) < 0)
		goto out;
	img->docker_format = e->media_type && !strcmp(e->media_type, IMAGE_MT_DOCKER_MANIFEST);
	registry_ref_name(&repo, &ref);
	img->mount_from = kiln_buf_detach(&repo, NULL);
	for (size_t i = 0; i < img->manifest.nr_layers; i++) {
		kiln_buf_reset(&path);
		base_cache_blob_path(&path, e, &img->manifest.layers[i].digest);
		blob_origin_add(b, &img->manifest.layers[i].digest, name, false, path.buf);
	}
out:
	registry_ref_release(&ref);
	kiln_buf_release(&repo);
	kiln_buf_release(&path);
	return ret;
}

/* With --cache, a base image `executor warm` stored in --cache-dir;
 * missing, expired or unusable, the registry has it. */
static int base_from_cache_dir(bool *found, struct stage_image *img, struct kiln_digest *digest,
			       struct build *b, const char *name, const char *platform)
{
	const struct build_options *o = b->o;
	struct base_cache_entry e = { 0 };
	struct kiln_error err = KILN_ERROR_INIT;
	char ds[KILN_DIGEST_STR_SIZE];

	*found = false;
	if (!o->cache || !o->cache_dir || !*o->cache_dir || access(o->cache_dir, F_OK) < 0)
		return 0;
	if (base_cache_lookup(&e, found, o->cache_dir, name, platform, o->cache_ttl_s, &err) < 0 ||
	    (*found && cache_dir_image(img, b, name, &e, &err) < 0)) {
		kiln_warn("--cache-dir: the entry for %s cannot be used, so it is pulled: %s", name,
			  kiln_error_msg(&err));
		image_manifest_release(&img->manifest);
		image_config_release(&img->config);
		img->manifest = (struct image_manifest)IMAGE_MANIFEST_INIT;
		memset(&img->config, 0, sizeof(img->config));
		*found = false;
	}
	if (*found) {
		*digest = e.manifest_digest;
		kiln_digest_format(ds, digest);
		kiln_info("Found image %s (%s) in the cache dir %s", name, ds, o->cache_dir);
	}
	base_cache_entry_release(&e);
	kiln_error_release(&err);
	return 0;
}

int base_image_load(struct stage_image *img, struct kiln_digest *digest, struct build *b,
		    const char *name, const char *platform, struct kiln_error *err)
{
	struct registry_ref ref = REGISTRY_REF_INIT;
	struct registry_manifest m = REGISTRY_MANIFEST_INIT;
	struct kiln_buf repo = KILN_BUF_INIT;
	struct timespec t0;
	char ds[KILN_DIGEST_STR_SIZE];
	struct kiln_digest d;
	bool cached;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	base_from_cache_dir(&cached, img, digest ? digest : &d, b, name, platform_for(b, platform));
	if (cached)
		return 0;
	if ((ret = registry_ref_parse(&ref, name, err)) < 0 ||
	    (ret = registry_manifest_get(&m, b->pull, &ref, platform_for(b, platform), err)) < 0 ||
	    (ret = image_manifest_parse(&img->manifest, m.data, m.len, err)) < 0 ||
	    (ret = pull_config(&img->config, b, &ref, &img->manifest.config, err)) < 0)
		goto out;
	img->docker_format = m.media_type && !strcmp(m.media_type, IMAGE_MT_DOCKER_MANIFEST);
	registry_ref_name(&repo, &ref);
	img->mount_from = kiln_buf_detach(&repo, NULL);
	for (size_t i = 0; i < img->manifest.nr_layers; i++)
		blob_origin_add(b, &img->manifest.layers[i].digest, name, false, NULL);
	if (digest)
		*digest = m.digest;
	kiln_digest_format(ds, &m.digest);
	kiln_info("Retrieved image %s (%s), %zu layers in %.1fs", name, ds, img->manifest.nr_layers,
		  build_elapsed(&t0));
out:
	if (ret < 0)
		kiln_err_prefix(err, "base image '%s'", name);
	registry_manifest_release(&m);
	registry_ref_release(&ref);
	kiln_buf_release(&repo);
	return ret;
}

int stage_image_unpack_dir(struct build *b, const struct stage_image *img, const char *path,
			   struct kiln_error *err)
{
	int fd, ret;

	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return kiln_err(err, KILN_EIO, errno, "mkdir '%s'", path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open '%s'", path);
	ret = stage_image_unpack(b, img, 0, fd, NULL, err);
	close(fd);
	return ret;
}

int base_image_tree(char **dir, struct build *b, const char *name, struct kiln_error *err)
{
	struct stage_image img = { .config = { 0 }, .manifest = IMAGE_MANIFEST_INIT };
	struct kiln_digest key;
	char hex[2 * KILN_SHA256_LEN + 1];
	char *path = NULL;
	int ret;

	kiln_digest_of(&key, name, strlen(name));
	kiln_digest_hex(hex, &key);
	path = xasprintf("%s/image-%.16s", b->stages_dir, hex);
	if (access(path, F_OK) == 0) {
		*dir = path;
		return 0;
	}
	if ((ret = base_image_load(&img, NULL, b, name, NULL, err)) < 0 ||
	    (ret = stage_image_unpack_dir(b, &img, path, err)) < 0)
		goto out;
	*dir = steal_ptr(&path);
out:
	free(path);
	stage_image_release(&img);
	return ret;
}
