/*
 * build-image.c: the image a stage makes: history entries, and at the end
 * its config and manifest, written into the blob store like every layer.
 *
 * Media types follow the base image (Docker's or OCI's); scratch gives
 * OCI; --image-format overrides. A base layer keeps its bytes (never
 * recompressed), only its media type is renamed to the chosen family.
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"

#include <time.h>

double build_elapsed(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

void build_time(struct kiln_buf *out, const struct build *b)
{
	struct timespec now;
	struct tm tm;
	char s[64];

	if (b->epoch >= 0) {
		now.tv_sec = (time_t)b->epoch;
		now.tv_nsec = 0;
	} else {
		clock_gettime(CLOCK_REALTIME, &now);
	}
	gmtime_r(&now.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	if (b->epoch >= 0)
		kiln_buf_addf(out, "%sZ", s);
	else
		kiln_buf_addf(out, "%s.%09ldZ", s, now.tv_nsec);
}

void image_history_add(struct build *b, struct stage_image *img, const char *created_by,
		       bool empty_layer)
{
	struct kiln_buf when = KILN_BUF_INIT;
	struct image_history h = { .created_by = (char *)created_by,
				   .comment = "buildkit.dockerfile.v0",
				   .empty_layer = empty_layer };

	build_time(&when, b);
	h.created = when.buf;
	image_config_add_history(&img->config, &h);
	kiln_buf_release(&when);
}

void stage_image_release(struct stage_image *img)
{
	image_config_release(&img->config);
	image_manifest_release(&img->manifest);
	xfree(&img->mount_from);
	xfree(&img->tree_dir);
}

static bool want_docker(const struct build *b, const struct stage_image *img)
{
	const char *f = b->o->image_format;

	if (f && !strcmp(f, "oci"))
		return false;
	if (f && !strcmp(f, "docker"))
		return true;
	return img->docker_format;
}

/* The layer's media type in the chosen family; zstd and plain tar have
 * no Docker name and keep theirs. */
static void rename_layer_type(struct image_descriptor *d, bool docker)
{
	const char *mt = d->media_type ? d->media_type : "";
	const char *to = NULL;

	if (!strcmp(mt, IMAGE_MT_OCI_LAYER_GZIP) || !strcmp(mt, IMAGE_MT_DOCKER_LAYER_GZIP))
		to = docker ? IMAGE_MT_DOCKER_LAYER_GZIP : IMAGE_MT_OCI_LAYER_GZIP;
	if (to && strcmp(to, mt)) {
		free(d->media_type);
		d->media_type = xstrdup(to);
	}
}

static int store_blob(struct kiln_digest *d, struct build *b, const struct kiln_buf *data,
		      struct kiln_error *err)
{
	struct kiln_buf path = KILN_BUF_INIT;
	int ret;

	kiln_digest_of(d, data->buf, data->len);
	blob_path(&path, b, d);
	ret = kiln_file_write_atomic(path.buf, data->buf, data->len, 0644, err);
	kiln_buf_release(&path);
	return ret;
}

int image_finish(struct kiln_buf *manifest, const char **media_type, struct kiln_digest *digest,
		 struct build *b, struct stage_image *img, struct kiln_error *err)
{
	bool docker = want_docker(b, img);
	struct kiln_buf config = KILN_BUF_INIT;
	struct image_manifest *m = &img->manifest;
	int ret;

	xfree(&img->config.created);
	{
		struct kiln_buf when = KILN_BUF_INIT;

		build_time(&when, b);
		img->config.created = kiln_buf_detach(&when, NULL);
	}
	image_config_write(&config, &img->config);
	if ((ret = store_blob(&m->config.digest, b, &config, err)) < 0)
		goto out;
	m->schema_version = 2;
	xfree(&m->media_type);
	m->media_type = xstrdup(docker ? IMAGE_MT_DOCKER_MANIFEST : IMAGE_MT_OCI_MANIFEST);
	xfree(&m->config.media_type);
	m->config.media_type = xstrdup(docker ? IMAGE_MT_DOCKER_CONFIG : IMAGE_MT_OCI_CONFIG);
	m->config.size = (int64_t)config.len;
	for (size_t i = 0; i < m->nr_layers; i++)
		rename_layer_type(&m->layers[i], docker);
	kiln_buf_reset(manifest);
	image_manifest_write(manifest, m);
	if ((ret = store_blob(digest, b, manifest, err)) < 0)
		goto out;
	*media_type = m->media_type;
out:
	kiln_buf_release(&config);
	return ret;
}
