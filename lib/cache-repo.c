/*
 * cache-repo.c: cache entries in a registry repository: lookups on the
 * build's thread, pushes queued to a thread of their own (see cache.h).
 */
#include "compat.h"
#include "cache.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "log.h"
#include "output.h"
#include "registry.h"
#include "timestamp.h"
#include "workq.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

/* The tag of an entry in an OCI-layout cache. */
#define LAYOUT_REF_NAME "org.opencontainers.image.ref.name"
/* A config bigger than this is not one of ours. */
#define ENTRY_CONFIG_MAX (1u << 20)

struct push_job {
	struct kiln_digest key;
	struct cache_layer layer;
	char *media_type;
	char *blob_path;
	char *created_by;
};

struct cache_repo {
	struct registry_client *c;
	char *name;	/* domain/path, or oci:DIR */
	char *layout;	/* DIR of an OCI-layout cache, or NULL */
	char *blob_dir; /* the build's blob store */
	int64_t ttl_s;
	bool push;
	char *architecture, *os;
	const char *(*mount_from)(void *ctx, const struct kiln_digest *d, const char *domain);
	void *mount_ctx;

	struct kiln_workq *q;
	pthread_mutex_t lock; /* for the counts */
	size_t pushed, failed;
};

void cache_hit_release(struct cache_hit *h)
{
	free(h->created_by);
	free(h->media_type);
	memset(h, 0, sizeof(*h));
}

const char *cache_repo_name(const struct cache_repo *cr)
{
	return cr->name;
}

static int entry_ref(struct registry_ref *ref, const struct cache_repo *cr,
		     const struct kiln_digest *key, struct kiln_error *err)
{
	char hex[2 * KILN_SHA256_LEN + 1];
	char *s;
	int ret;

	kiln_digest_hex(hex, key);
	s = xasprintf("%s:%s", cr->name, hex);
	ret = registry_ref_parse(ref, s, err);
	free(s);
	return ret;
}

/* ---------------------------------------------------------------- lookup */

static int buf_sink(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	return kiln_buf_add_capped(ctx, data, len, ENTRY_CONFIG_MAX, "a cache entry's config", err);
}

static bool expired(const struct cache_repo *cr, const struct image_config *c)
{
	int64_t created;

	return !c->created || kiln_time_parse(&created, c->created) < 0 ||
	       (int64_t)time(NULL) - created > cr->ttl_s;
}

static int hit_from(struct cache_hit *out, const struct cache_repo *cr,
		    const struct image_manifest *m, const struct image_config *c,
		    struct kiln_error *err)
{
	if (m->nr_layers > 1 || c->nr_diff_ids != m->nr_layers)
		return kiln_err(err, KILN_EINVAL, 0, "not a kiln cache entry (%zu layers)",
				m->nr_layers);
	if (expired(cr, c))
		return 0;
	out->found = true;
	out->layer.empty = m->nr_layers == 0;
	if (!out->layer.empty) {
		const struct image_descriptor *d = &m->layers[0];

		out->media_type = xstrdup(d->media_type ? d->media_type : IMAGE_MT_OCI_LAYER_GZIP);
		out->layer.media_type = out->media_type;
		out->layer.digest = d->digest;
		out->layer.size = d->size;
		out->layer.diff_id = c->diff_ids[0];
	}
	if (c->nr_history && c->history[c->nr_history - 1].created_by)
		out->created_by = xstrdup(c->history[c->nr_history - 1].created_by);
	return 0;
}

static int read_blob_file(struct kiln_buf *out, const struct cache_repo *cr,
			  const struct kiln_digest *d, struct kiln_error *err)
{
	struct kiln_buf path = KILN_BUF_INIT;
	int ret;

	cache_repo_blob_file(&path, cr, d);
	ret = kiln_file_read_digest(out, path.buf, REGISTRY_MANIFEST_MAX, d, err);
	kiln_buf_release(&path);
	return ret;
}

/* The entry tagged hex in an OCI layout: its index.json names it. */
static int layout_lookup(struct cache_hit *out, struct cache_repo *cr, const char *hex,
			 struct kiln_error *err)
{
	struct image_index ix = IMAGE_INDEX_INIT;
	struct image_manifest m = IMAGE_MANIFEST_INIT;
	struct image_config c = { 0 };
	struct kiln_buf data = KILN_BUF_INIT;
	const struct image_descriptor *e = NULL;
	int ret;

	if ((ret = output_layout_read_index(&ix, cr->layout, err)) < 0)
		goto out;
	for (size_t i = 0; i < ix.nr_manifests && !e; i++) {
		const char *n = image_map_get(&ix.manifests[i].annotations, LAYOUT_REF_NAME);

		if (n && !strcmp(n, hex))
			e = &ix.manifests[i];
	}
	if (!e)
		goto out;
	if ((ret = read_blob_file(&data, cr, &e->digest, err)) < 0 ||
	    (ret = image_manifest_parse(&m, data.buf, data.len, err)) < 0)
		goto out;
	kiln_buf_reset(&data);
	if ((ret = read_blob_file(&data, cr, &m.config.digest, err)) < 0 ||
	    (ret = image_config_parse(&c, data.buf, data.len, err)) < 0)
		goto out;
	ret = hit_from(out, cr, &m, &c, err);
out:
	image_index_release(&ix);
	image_manifest_release(&m);
	image_config_release(&c);
	kiln_buf_release(&data);
	return ret;
}

int cache_repo_lookup(struct cache_hit *out, struct cache_repo *cr, const struct kiln_digest *key,
		      struct kiln_error *err)
{
	struct registry_ref ref = REGISTRY_REF_INIT;
	struct registry_manifest rm = REGISTRY_MANIFEST_INIT;
	struct image_manifest m = IMAGE_MANIFEST_INIT;
	struct image_config c = { 0 };
	struct kiln_buf data = KILN_BUF_INIT;
	int ret;

	memset(out, 0, sizeof(*out));
	if (cr->layout) {
		char hex[2 * KILN_SHA256_LEN + 1];

		kiln_digest_hex(hex, key);
		ret = layout_lookup(out, cr, hex, err);
		goto out;
	}
	if ((ret = entry_ref(&ref, cr, key, err)) < 0)
		goto out;
	ret = registry_manifest_get(&rm, cr->c, &ref, NULL, err);
	if (ret == KILN_ENOENT) {
		ret = 0;
		goto out;
	}
	if (ret < 0 || (ret = image_manifest_parse(&m, rm.data, rm.len, err)) < 0 ||
	    (ret = registry_blob_get(cr->c, &ref, &m.config.digest, m.config.size, buf_sink, &data,
				     err)) < 0 ||
	    (ret = image_config_parse(&c, data.buf, data.len, err)) < 0)
		goto out;
	ret = hit_from(out, cr, &m, &c, err);
out:
	if (ret < 0)
		cache_hit_release(out);
	registry_ref_release(&ref);
	registry_manifest_release(&rm);
	image_manifest_release(&m);
	image_config_release(&c);
	kiln_buf_release(&data);
	return ret;
}

/* ------------------------------------------------------------------ push */

struct mem_src {
	const char *data;
	size_t len;
};

static int mem_read_at(void *ctx, void *buf, size_t len, uint64_t off, struct kiln_error *err)
{
	const struct mem_src *m = ctx;

	if (off > m->len || len > m->len - off)
		return kiln_err(err, KILN_EIO, 0, "read past a cache entry's config");
	memcpy(buf, m->data + off, len);
	return 0;
}

static void entry_config(struct kiln_buf *out, const struct cache_repo *cr,
			 const struct push_job *j)
{
	char when[KILN_TIME_SIZE];
	struct image_config c = { 0 };
	struct image_history h = { .created_by = j->created_by, .empty_layer = j->layer.empty };

	kiln_time_format(when, (int64_t)time(NULL));
	c.created = when;
	h.created = when;
	c.architecture = cr->architecture;
	c.os = cr->os;
	if (!j->layer.empty)
		image_config_add_diff_id(&c, &j->layer.diff_id);
	image_config_add_history(&c, &h);
	image_config_write(out, &c);
	c.created = c.architecture = c.os = NULL;
	image_config_release(&c);
}

static int push_layer(struct cache_repo *cr, const struct registry_ref *ref,
		      const struct push_job *j, struct kiln_error *err)
{
	struct registry_blob_source src = { .digest = j->layer.digest,
					    .size = (uint64_t)j->layer.size,
					    .read_at = registry_read_at_fd };
	int fd = open(j->blob_path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open '%s'", j->blob_path);
	src.ctx = &fd;
	if (cr->mount_from)
		src.mount_from = cr->mount_from(cr->mount_ctx, &j->layer.digest, ref->domain);
	ret = registry_blob_push(cr->c, ref, &src, err);
	close(fd);
	return ret;
}

/* Into an OCI layout: the blobs, then index.json under a lock on the
 * directory, so that two builders sharing it lose no entry. */
static int layout_push(struct cache_repo *cr, const struct push_job *j,
		       const struct kiln_buf *config, const struct kiln_digest *config_digest,
		       const struct kiln_buf *manifest, const struct image_manifest *m,
		       struct kiln_error *err)
{
	struct output_image oi = { .blob_dir = cr->blob_dir,
				   .manifest = manifest->buf,
				   .manifest_len = manifest->len,
				   .media_type = IMAGE_MT_OCI_MANIFEST,
				   .parsed = m };
	struct kiln_buf path = KILN_BUF_INIT;
	char hex[2 * KILN_SHA256_LEN + 1];
	int dfd = -1, ret;

	kiln_digest_of(&oi.digest, manifest->buf, manifest->len);
	kiln_digest_hex(hex, config_digest);
	kiln_buf_addf(&path, "%s/sha256/%s", cr->blob_dir, hex);
	if ((ret = kiln_file_write_atomic(path.buf, config->buf, config->len, 0644, err)) < 0)
		goto out;
	if (mkdir(cr->layout, 0755) < 0 && errno != EEXIST) {
		ret = kiln_err(err, KILN_EIO, errno, "mkdir '%s'", cr->layout);
		goto out;
	}
	dfd = open(cr->layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "lock '%s'", cr->layout);
		goto out;
	}
	kiln_digest_hex(hex, &j->key);
	ret = output_oci_layout(cr->layout, &oi, hex, err);
out:
	close_fd(&dfd);
	kiln_buf_release(&path);
	return ret;
}

static int push_entry(struct cache_repo *cr, const struct push_job *j, struct kiln_error *err)
{
	struct registry_ref ref = REGISTRY_REF_INIT;
	struct image_manifest m = IMAGE_MANIFEST_INIT;
	struct kiln_buf config = KILN_BUF_INIT, manifest = KILN_BUF_INIT;
	struct mem_src ms;
	struct registry_blob_source src = { .read_at = mem_read_at, .ctx = &ms };
	int ret;

	entry_config(&config, cr, j);
	ms = (struct mem_src){ config.buf, config.len };
	kiln_digest_of(&src.digest, config.buf, config.len);
	src.size = config.len;
	m.media_type = xstrdup(IMAGE_MT_OCI_MANIFEST);
	m.config.media_type = xstrdup(IMAGE_MT_OCI_CONFIG);
	m.config.digest = src.digest;
	m.config.size = (int64_t)config.len;
	if (!j->layer.empty)
		image_manifest_add_layer(&m, j->layer.media_type, &j->layer.digest, j->layer.size);
	image_manifest_write(&manifest, &m);
	if (cr->layout) {
		ret = layout_push(cr, j, &config, &src.digest, &manifest, &m, err);
		goto out;
	}
	if ((ret = entry_ref(&ref, cr, &j->key, err)) < 0 ||
	    (!j->layer.empty && (ret = push_layer(cr, &ref, j, err)) < 0) ||
	    (ret = registry_blob_push(cr->c, &ref, &src, err)) < 0)
		goto out;
	ret = registry_manifest_put(NULL, cr->c, &ref, IMAGE_MT_OCI_MANIFEST, manifest.buf,
				    manifest.len, err);
out:
	registry_ref_release(&ref);
	image_manifest_release(&m);
	kiln_buf_release(&config);
	kiln_buf_release(&manifest);
	return ret;
}

static void job_free(struct push_job *j)
{
	free(j->media_type);
	free(j->blob_path);
	free(j->created_by);
	free(j);
}

static void run_job(void *ctx, void *job)
{
	struct cache_repo *cr = ctx;
	struct push_job *j = job;
	struct kiln_error err = KILN_ERROR_INIT;
	char hex[2 * KILN_SHA256_LEN + 1];
	bool ok;

	kiln_digest_hex(hex, &j->key);
	ok = push_entry(cr, j, &err) == 0;
	if (ok)
		kiln_debug("cache: pushed entry %s:%.12s", cr->name, hex);
	else
		kiln_warn("cache: pushing entry %s:%.12s failed (the build goes on): %s", cr->name,
			  hex, kiln_error_msg(&err));
	pthread_mutex_lock(&cr->lock);
	ok ? cr->pushed++ : cr->failed++;
	pthread_mutex_unlock(&cr->lock);
	kiln_error_release(&err);
	job_free(j);
}

static void drop_job(void *ctx, void *job)
{
	(void)ctx;
	job_free(job);
}

void cache_repo_push(struct cache_repo *cr, const struct kiln_digest *key,
		     const struct cache_layer *layer, const char *blob_path, const char *created_by)
{
	struct push_job *j;

	if (!cr->push)
		return;
	j = xcalloc(1, sizeof(*j));
	j->key = *key;
	j->layer = *layer;
	if (!layer->empty) {
		j->media_type = xstrdup(layer->media_type);
		j->layer.media_type = j->media_type;
		j->blob_path = xstrdup(blob_path);
	}
	j->created_by = created_by ? xstrdup(created_by) : NULL;
	kiln_workq_push(cr->q, j);
}

void cache_repo_finish(struct cache_repo *cr, bool drop, size_t *pushed, size_t *failed)
{
	kiln_workq_finish(cr->q, drop);
	*pushed = cr->pushed;
	*failed = cr->failed;
}

static struct cache_repo *repo_new(const struct cache_options *o)
{
	struct cache_repo *cr = xcalloc(1, sizeof(*cr));

	cr->ttl_s = o->ttl_s;
	cr->push = o->push;
	cr->blob_dir = xstrdup(o->blob_dir);
	cr->architecture = xstrdup(o->architecture ? o->architecture : "amd64");
	cr->os = xstrdup(o->os ? o->os : "linux");
	cr->mount_from = o->mount_from;
	cr->mount_ctx = o->mount_ctx;
	pthread_mutex_init(&cr->lock, NULL);
	cr->q = kiln_workq_new(run_job, drop_job, cr);
	return cr;
}

/* "oci:DIR": a directory every builder can reach (a shared volume). */
static int layout_open(struct cache_repo **out, const struct cache_options *o,
		       struct kiln_error *err)
{
	const char *dir = o->repo + 4;
	struct cache_repo *cr;

	if (dir[0] != '/')
		return kiln_err(err, KILN_EINVAL, 0,
				"--cache-repo '%s': give an absolute path after oci:", o->repo);
	cr = repo_new(o);
	cr->layout = xstrdup(dir);
	cr->name = xstrdup(o->repo);
	*out = cr;
	return 0;
}

bool cache_repo_blob_file(struct kiln_buf *path, const struct cache_repo *cr,
			  const struct kiln_digest *d)
{
	char hex[2 * KILN_SHA256_LEN + 1];

	if (!cr->layout)
		return false;
	kiln_digest_hex(hex, d);
	kiln_buf_addf(path, "%s/blobs/sha256/%s", cr->layout, hex);
	return true;
}

int cache_repo_open(struct cache_repo **out, struct registry_client *c,
		    const struct cache_options *o, struct kiln_error *err)
{
	struct registry_ref ref = REGISTRY_REF_INIT;
	struct kiln_buf name = KILN_BUF_INIT;
	struct cache_repo *cr;
	int ret;

	if (!strncmp(o->repo, "oci:", 4))
		return layout_open(out, o, err);
	if ((ret = registry_ref_parse(&ref, o->repo, err)) < 0)
		return kiln_err_prefix(err, "--cache-repo '%s'", o->repo);
	if (ref.digest || (ref.tag && strcmp(ref.tag, "latest")) || strchr(o->repo, '@')) {
		registry_ref_release(&ref);
		return kiln_err(err, KILN_EINVAL, 0,
				"--cache-repo '%s' names a tag or digest; give a repository "
				"(registry/path)",
				o->repo);
	}
	registry_ref_name(&name, &ref);
	registry_ref_release(&ref);
	cr = repo_new(o);
	cr->c = c;
	cr->name = kiln_buf_detach(&name, NULL);
	*out = cr;
	return 0;
}

void cache_repo_free(struct cache_repo *cr)
{
	size_t p, f;

	if (!cr)
		return;
	cache_repo_finish(cr, true, &p, &f);
	kiln_workq_free(cr->q);
	pthread_mutex_destroy(&cr->lock);
	free(cr->name);
	free(cr->layout);
	free(cr->blob_dir);
	free(cr->architecture);
	free(cr->os);
	free(cr);
}
