/*
 * build-base.c: base images. A stage's base (or a COPY --from image) is
 * pulled into the blob store, every byte verified, and its layers are
 * unpacked from there: the blobs stay for the outputs (a tarball, a
 * layout, a push to another registry) and for rebuilding a stage's tree.
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "extract.h"
#include "fileio.h"
#include "log.h"
#include "path.h"
#include "registry.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

void blob_path(struct kiln_buf *out, const struct build *b, const struct kiln_digest *d)
{
	char hex[2 * KILN_SHA256_LEN + 1];

	kiln_digest_hex(hex, d);
	kiln_buf_addf(out, "%s/sha256/%s", b->blob_dir, hex);
}

static int write_to_fd(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	return kiln_write_all(*(int *)ctx, data, len, "a pulled blob", err);
}

struct pull_job {
	struct build *b;
	const struct registry_ref *ref;
	const struct image_descriptor *d;
	struct kiln_error err;
	int ret;
};

/* Download to a temporary file renamed into place only once verified. */
static void *pull_blob(void *arg)
{
	struct pull_job *j = arg;
	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
	struct kiln_buf path = KILN_BUF_INIT;
	struct stat st;

	blob_path(&path, j->b, &j->d->digest);
	if (stat(path.buf, &st) == 0 && st.st_size == j->d->size)
		goto out; /* pulled already by an earlier stage */
	if ((j->ret = kiln_atomic_file_open(&f, path.buf, 0644, &j->err)) < 0)
		goto out;
	j->ret = registry_blob_get(j->b->pull, j->ref, &j->d->digest, j->d->size, write_to_fd,
				   &f.fd, &j->err);
	if (j->ret < 0)
		kiln_atomic_file_abort(&f);
	else
		j->ret = kiln_atomic_file_commit(&f, &j->err);
out:
	kiln_buf_release(&path);
	return NULL;
}

/* All layers at once (the client bounds nothing here, so at most a few
 * threads: images rarely have more than a dozen layers). */
static int pull_layers(struct build *b, const struct registry_ref *ref,
		       const struct image_manifest *m, struct kiln_error *err)
{
	enum { MAX_AT_ONCE = 4 };
	struct pull_job *jobs = xcalloc(m->nr_layers + 1, sizeof(*jobs));
	pthread_t th[MAX_AT_ONCE];
	int ret = 0;

	for (size_t i = 0; i < m->nr_layers; i += MAX_AT_ONCE) {
		size_t n = m->nr_layers - i < MAX_AT_ONCE ? m->nr_layers - i : MAX_AT_ONCE;

		for (size_t k = 0; k < n; k++) {
			jobs[i + k] =
				(struct pull_job){ .b = b, .ref = ref, .d = &m->layers[i + k] };
			if (pthread_create(&th[k], NULL, pull_blob, &jobs[i + k]) != 0)
				pull_blob(&jobs[i + k]), th[k] = 0;
		}
		for (size_t k = 0; k < n; k++) {
			if (th[k])
				pthread_join(th[k], NULL);
		}
	}
	for (size_t i = 0; i < m->nr_layers; i++) {
		if (jobs[i].ret < 0 && ret == 0) {
			ret = jobs[i].ret;
			kiln_err(err, jobs[i].err.code, jobs[i].err.sys_errno, "%s",
				 kiln_error_msg(&jobs[i].err));
		}
		kiln_error_release(&jobs[i].err);
	}
	free(jobs);
	return ret;
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

int stage_image_unpack(struct build *b, const struct stage_image *img, int dir_fd,
		       struct snapshot *seed, struct kiln_error *err)
{
	struct extract_options eo = { .ignore = (const char *const *)b->ignore.v,
				      .nr_ignore = b->ignore.nr,
				      .seed = seed,
				      .no_chown = geteuid() != 0 };
	struct kiln_buf path = KILN_BUF_INIT;
	struct extract *x = NULL;
	int ret;

	if ((ret = extract_new(&x, dir_fd, &eo, err)) < 0)
		goto out;
	for (size_t i = 0; i < img->manifest.nr_layers && ret == 0; i++) {
		const struct image_descriptor *d = &img->manifest.layers[i];
		char ds[KILN_DIGEST_STR_SIZE];
		int fd;

		kiln_buf_reset(&path);
		blob_path(&path, b, &d->digest);
		kiln_digest_format(ds, &d->digest);
		fd = open(path.buf, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "open layer '%s'", path.buf);
			break;
		}
		ret = extract_layer_fd(NULL, x, fd, &d->digest, err);
		close(fd);
		if (ret < 0)
			kiln_err_prefix(err, "layer %s", ds);
	}
out:
	extract_free(x);
	kiln_buf_release(&path);
	return ret;
}

static const char *platform_for(struct build *b, const char *platform)
{
	return platform ? platform : b->platform_str;
}

int base_image_load(struct stage_image *img, struct build *b, const char *name,
		    const char *platform, bool unpack, struct snapshot *seed,
		    struct kiln_error *err)
{
	struct registry_ref ref = REGISTRY_REF_INIT;
	struct registry_manifest m = REGISTRY_MANIFEST_INIT;
	struct kiln_buf repo = KILN_BUF_INIT;
	struct timespec t0;
	char ds[KILN_DIGEST_STR_SIZE];
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((ret = registry_ref_parse(&ref, name, err)) < 0 ||
	    (ret = registry_manifest_get(&m, b->pull, &ref, platform_for(b, platform), err)) < 0 ||
	    (ret = image_manifest_parse(&img->manifest, m.data, m.len, err)) < 0 ||
	    (ret = pull_config(&img->config, b, &ref, &img->manifest.config, err)) < 0 ||
	    (ret = pull_layers(b, &ref, &img->manifest, err)) < 0)
		goto out;
	img->docker_format = m.media_type && !strcmp(m.media_type, IMAGE_MT_DOCKER_MANIFEST);
	registry_ref_name(&repo, &ref);
	img->mount_from = kiln_buf_detach(&repo, NULL);
	kiln_digest_format(ds, &m.digest);
	kiln_info("Retrieved image %s (%s), %zu layers in %.1fs", name, ds, img->manifest.nr_layers,
		  build_elapsed(&t0));
	if (unpack) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if ((ret = stage_image_unpack(b, img, b->root_fd, seed, err)) < 0)
			goto out;
		kiln_info("Unpacked %s into '%s' in %.1fs", name, b->root, build_elapsed(&t0));
	}
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
	ret = stage_image_unpack(b, img, fd, NULL, err);
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
	if ((ret = base_image_load(&img, b, name, NULL, false, NULL, err)) < 0 ||
	    (ret = stage_image_unpack_dir(b, &img, path, err)) < 0)
		goto out;
	*dir = steal_ptr(&path);
out:
	free(path);
	stage_image_release(&img);
	return ret;
}
