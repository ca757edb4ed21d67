/*
 * base-cache.c: the base-image cache (base-cache.h): entries are OCI image
 * layouts, written whole in a temporary directory and renamed into place.
 */
#include "compat.h"
#include "base-cache.h"
#include "alloc.h"
#include "buf.h"
#include "build-int.h" /* root_remove_tree, build_elapsed */
#include "error.h"
#include "fileio.h"
#include "image.h"
#include "log.h"
#include "path.h"
#include "registry.h"
#include "timestamp.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define LAYOUT_FILE "{\"imageLayoutVersion\":\"1.0.0\"}"
/* Temporary directories of warmers at work: ".warm-<16 hex of the key>-XXXXXX". */
#define TMP_PREFIX ".warm-"
/* A temporary directory nobody holds a lock on is a dead warmer's, once it
 * is older than this: younger, its warmer may not have locked it yet. */
#define TMP_GRACE_S 60
/* Blob downloads at once (images rarely have more layers than this). */
#define PULL_THREADS 4

/* --------------------------------------------------------------- the key */

/* A reference and a platform in the forms the entry's name is made of. */
struct entry_name {
	struct kiln_buf ref;	  /* registry_ref_format of the parsed ref */
	struct kiln_buf platform; /* os/arch[/variant], normalised */
	char hex[2 * KILN_SHA256_LEN + 1];
};

static int key_make(struct entry_name *k, const char *ref, const char *platform,
		    struct kiln_error *err)
{
	struct registry_ref r = REGISTRY_REF_INIT;
	struct image_platform p = { 0 };
	struct kiln_buf text = KILN_BUF_INIT;
	struct kiln_digest d;
	int ret;

	*k = (struct entry_name){ .ref = KILN_BUF_INIT, .platform = KILN_BUF_INIT };
	if ((ret = registry_ref_parse(&r, ref, err)) < 0)
		goto out;
	if (platform)
		ret = image_platform_parse(&p, platform, err);
	else
		image_platform_host(&p);
	if (ret < 0)
		goto out;
	registry_ref_format(&k->ref, &r);
	image_platform_format(&k->platform, &p);
	kiln_buf_addf(&text, "%s\n%s", k->ref.buf, k->platform.buf);
	kiln_digest_of(&d, text.buf, text.len);
	kiln_digest_hex(k->hex, &d);
out:
	registry_ref_release(&r);
	image_platform_release(&p);
	kiln_buf_release(&text);
	return ret;
}

static void key_release(struct entry_name *k)
{
	kiln_buf_release(&k->ref);
	kiln_buf_release(&k->platform);
}

int base_cache_entry_dir(struct kiln_buf *out, const char *cache_dir, const char *ref,
			 const char *platform, struct kiln_error *err)
{
	struct entry_name k;
	int ret = key_make(&k, ref, platform, err);

	if (ret == 0)
		kiln_buf_addf(out, "%s/%s", cache_dir, k.hex);
	key_release(&k);
	return ret;
}

/* ---------------------------------------------------------------- lookup */

static void blob_path_in(struct kiln_buf *out, const char *dir, const struct kiln_digest *d)
{
	char hex[2 * KILN_SHA256_LEN + 1];

	kiln_digest_hex(hex, d);
	kiln_buf_addf(out, "%s/blobs/sha256/%s", dir, hex);
}

void base_cache_blob_path(struct kiln_buf *out, const struct base_cache_entry *e,
			  const struct kiln_digest *d)
{
	blob_path_in(out, e->layout_dir, d);
}

void base_cache_entry_release(struct base_cache_entry *e)
{
	xfree(&e->layout_dir);
	xfree(&e->manifest);
	xfree(&e->media_type);
	e->manifest_len = 0;
}

/* The blob is there at its descriptor's size (its content is verified by
 * whoever streams it). */
static int check_blob(const char *dir, const struct image_descriptor *d, struct kiln_error *err)
{
	struct kiln_buf path = KILN_BUF_INIT;
	char ds[KILN_DIGEST_STR_SIZE];
	struct stat st;
	int ret = 0;

	blob_path_in(&path, dir, &d->digest);
	kiln_digest_format(ds, &d->digest);
	if (stat(path.buf, &st) < 0)
		ret = kiln_err(err, KILN_EIO, errno, "blob %s", ds);
	else if (!S_ISREG(st.st_mode) || st.st_size != d->size)
		ret = kiln_err(err, KILN_EIO, 0, "blob %s has %lld bytes, its descriptor says %lld",
			       ds, (long long)st.st_size, (long long)d->size);
	kiln_buf_release(&path);
	return ret;
}

/* The manifest index.json names, its bytes verified, and its blobs. */
static int read_manifest(struct base_cache_entry *e, const struct image_descriptor *d,
			 struct kiln_error *err)
{
	struct image_manifest m = IMAGE_MANIFEST_INIT;
	struct kiln_buf path = KILN_BUF_INIT, data = KILN_BUF_INIT;
	int ret;

	blob_path_in(&path, e->layout_dir, &d->digest);
	if ((ret = kiln_file_read_digest(&data, path.buf, IMAGE_MANIFEST_MAX, &d->digest, err)) < 0)
		goto out;
	if ((int64_t)data.len != d->size) {
		ret = kiln_err(err, KILN_EDIGEST, 0, "the manifest blob does not match index.json");
		goto out;
	}
	if ((ret = image_manifest_parse(&m, data.buf, data.len, err)) < 0 ||
	    (ret = check_blob(e->layout_dir, &m.config, err)) < 0)
		goto out;
	for (size_t i = 0; i < m.nr_layers; i++) {
		if ((ret = check_blob(e->layout_dir, &m.layers[i], err)) < 0)
			goto out;
	}
	e->media_type = xstrdup(m.media_type ? m.media_type : d->media_type);
	e->manifest_digest = d->digest;
	e->manifest = kiln_buf_detach(&data, &e->manifest_len);
out:
	image_manifest_release(&m);
	kiln_buf_release(&path);
	kiln_buf_release(&data);
	return ret;
}

/* Read and check the entry at e->layout_dir. */
static int read_entry(struct base_cache_entry *e, const struct entry_name *k,
		      struct kiln_error *err)
{
	struct image_index ix = IMAGE_INDEX_INIT;
	struct kiln_buf path = KILN_BUF_INIT, text = KILN_BUF_INIT;
	const struct image_descriptor *d;
	const char *name, *created;
	int ret;

	kiln_buf_addf(&path, "%s/index.json", e->layout_dir);
	if ((ret = kiln_file_read(&text, path.buf, IMAGE_MANIFEST_MAX, err)) < 0 ||
	    (ret = image_index_parse(&ix, text.buf, text.len, err)) < 0)
		goto out;
	ret = KILN_EINVAL;
	if (ix.nr_manifests != 1) {
		kiln_err(err, ret, 0, "index.json lists %zu images, not one", ix.nr_manifests);
		goto out;
	}
	d = &ix.manifests[0];
	name = image_map_get(&d->annotations, BASE_CACHE_ANNOT_REF);
	created = image_map_get(&d->annotations, BASE_CACHE_ANNOT_CREATED);
	if (!d->media_type || !image_media_type_is_manifest(d->media_type)) {
		kiln_err(err, ret, 0, "index.json names a '%s', not an image manifest",
			 d->media_type ? d->media_type : "document without a media type");
	} else if (name && strcmp(name, k->ref.buf)) {
		kiln_err(err, ret, 0, "the entry holds '%s'", name);
	} else if (!created || kiln_time_parse(&e->created, created) < 0) {
		kiln_err(err, ret, 0, "index.json has no valid %s annotation",
			 BASE_CACHE_ANNOT_CREATED);
	} else {
		ret = read_manifest(e, d, err);
	}
out:
	image_index_release(&ix);
	kiln_buf_release(&path);
	kiln_buf_release(&text);
	return ret;
}

/* Look up k: *found false when there is no entry or it has expired. */
static int lookup_key(struct base_cache_entry *out, bool *found, const char *cache_dir,
		      const struct entry_name *k, int64_t ttl_s, struct kiln_error *err)
{
	struct base_cache_entry e = { .layout_dir = xasprintf("%s/%s", cache_dir, k->hex) };
	struct stat st;
	int ret = 0;

	*found = false;
	if (lstat(e.layout_dir, &st) < 0) {
		if (errno != ENOENT)
			ret = kiln_err(err, KILN_EIO, errno, "stat");
	} else if (!S_ISDIR(st.st_mode)) {
		ret = kiln_err(err, KILN_EINVAL, 0, "not a directory");
	} else if ((ret = read_entry(&e, k, err)) == 0 &&
		   (int64_t)time(NULL) - e.created <= ttl_s) {
		*found = true;
		*out = e;
		memset(&e, 0, sizeof(e));
	}
	if (ret < 0)
		kiln_err_prefix(err, "cached base image '%s' (%s) in '%s'", k->ref.buf,
				k->platform.buf, e.layout_dir);
	base_cache_entry_release(&e);
	return ret;
}

int base_cache_lookup(struct base_cache_entry *out, bool *found, const char *cache_dir,
		      const char *ref, const char *platform, int64_t ttl_s, struct kiln_error *err)
{
	struct entry_name k;
	int ret;

	*found = false;
	if ((ret = key_make(&k, ref, platform, err)) == 0)
		ret = lookup_key(out, found, cache_dir, &k, ttl_s, err);
	key_release(&k);
	return ret;
}

/* ------------------------------------------------------------ directories */

static int fsync_dir(const char *path, struct kiln_error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0 || fsync(fd) < 0)
		ret = kiln_err(err, KILN_EIO, errno, "sync directory '%s'", path);
	close_fd(&fd);
	return ret;
}

/* mkdir -p: the cache directory may be a fresh volume's subdirectory. */
static int mkdir_parents(const char *path, struct kiln_error *err)
{
	struct kiln_buf p = KILN_BUF_INIT;
	int ret = 0;

	kiln_buf_addstr(&p, path);
	for (size_t i = 1; i <= p.len && ret == 0; i++) {
		if (p.buf[i] != '/' && p.buf[i] != '\0')
			continue;
		p.buf[i] = '\0';
		if (mkdir(p.buf, 0755) < 0 && errno != EEXIST)
			ret = kiln_err(err, KILN_EIO, errno, "create the cache directory '%s'",
				       p.buf);
		if (i < p.len)
			p.buf[i] = '/';
	}
	kiln_buf_release(&p);
	return ret;
}

/* An exclusive lock on the directory fd; false when another process holds one. */
static bool lock_dir(int fd, bool wait)
{
	int r;

	while ((r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) < 0 && errno == EINTR)
		;
	/* a file system without flock on directories: proceed unlocked (the
	 * sweep then never removes anything, it cannot tell the dead) */
	return r == 0 || (wait && errno != EWOULDBLOCK);
}

/* Remove cache_dir/name once this process holds its lock (a warmer that
 * still works on it keeps it). */
static void remove_locked(int cache_fd, const char *cache_dir, const char *name, bool wait)
{
	struct kiln_error err = KILN_ERROR_INIT;
	int fd = openat(cache_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		goto out;
	if (!wait && (time(NULL) - st.st_ctime < TMP_GRACE_S || !lock_dir(fd, false)))
		goto out;
	if (wait)
		lock_dir(fd, true);
	if (root_remove_tree(cache_fd, name, &err) < 0)
		kiln_warn("could not remove '%s/%s': %s", cache_dir, name, kiln_error_msg(&err));
	else if (!wait)
		kiln_debug("Removed '%s/%s', left by a warmer that stopped", cache_dir, name);
out:
	close_fd(&fd);
	kiln_error_release(&err);
}

/* Remove the temporary directories of warmers that died (killed, power
 * lost) before they could clean up. */
static void sweep_tmp(const char *cache_dir)
{
	struct kiln_strvec names = KILN_STRVEC_INIT;
	int fd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(dup(fd)) : NULL;
	struct dirent *de;

	if (!d)
		goto out;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
			kiln_strvec_push(&names, de->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < names.nr; i++)
		remove_locked(fd, cache_dir, names.v[i], false);
out:
	close_fd(&fd);
	kiln_strvec_clear(&names);
}

/* Remove path, a directory of this process (waits for a sweeper that
 * happens to hold its lock). */
static void remove_own(const char *path)
{
	struct kiln_buf dir = KILN_BUF_INIT, base = KILN_BUF_INIT;
	int fd;

	kiln_path_split(&dir, &base, path);
	fd = open(dir.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		remove_locked(fd, dir.buf, base.buf, true);
	close_fd(&fd);
	kiln_buf_release(&dir);
	kiln_buf_release(&base);
}

/* ------------------------------------------------------------------ pull */

struct pull_set {
	struct registry_client *c;
	const struct registry_ref *ref;
	const char *dir;
	const struct image_descriptor **v; /* distinct blobs */
	size_t n;
	pthread_mutex_t lock;
	size_t next;
	int ret; /* the first failure, in err */
	struct kiln_error err;
};

/* One blob, verified, renamed into place and synced. */
static int pull_blob(struct pull_set *s, const struct image_descriptor *d, struct kiln_error *err)
{
	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
	struct kiln_buf path = KILN_BUF_INIT;
	int ret;

	blob_path_in(&path, s->dir, &d->digest);
	if ((ret = kiln_atomic_file_open(&f, path.buf, 0644, err)) == 0 &&
	    (ret = registry_blob_get(s->c, s->ref, &d->digest, d->size, registry_write_fd, &f.fd,
				     err)) == 0)
		ret = kiln_atomic_file_commit(&f, err);
	kiln_atomic_file_abort(&f);
	kiln_buf_release(&path);
	return ret;
}

/* Take blobs from the set until none is left or one failed. */
static void *pull_worker(void *arg)
{
	struct pull_set *s = arg;

	for (;;) {
		struct kiln_error err = KILN_ERROR_INIT;
		size_t i;
		int ret;

		pthread_mutex_lock(&s->lock);
		i = s->next++;
		if (s->ret < 0 || i >= s->n) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		pthread_mutex_unlock(&s->lock);
		ret = pull_blob(s, s->v[i], &err);
		pthread_mutex_lock(&s->lock);
		if (ret < 0 && s->ret == 0) {
			s->ret = ret;
			s->err = err;
			err = (struct kiln_error)KILN_ERROR_INIT;
		}
		pthread_mutex_unlock(&s->lock);
		kiln_error_release(&err);
	}
}

static void add_distinct(struct pull_set *s, const struct image_descriptor *d)
{
	for (size_t i = 0; i < s->n; i++) {
		if (kiln_digest_eq(&s->v[i]->digest, &d->digest))
			return;
	}
	s->v[s->n++] = d;
}

/* The config and every layer, PULL_THREADS at a time. */
static int pull_blobs(struct registry_client *c, const struct registry_ref *ref, const char *dir,
		      const struct image_manifest *m, struct kiln_error *err)
{
	struct pull_set s = { .c = c, .ref = ref, .dir = dir, .err = KILN_ERROR_INIT };
	pthread_t th[PULL_THREADS];
	bool started[PULL_THREADS] = { false };
	int ret;

	s.v = xcalloc(m->nr_layers + 1, sizeof(*s.v));
	add_distinct(&s, &m->config);
	for (size_t i = 0; i < m->nr_layers; i++)
		add_distinct(&s, &m->layers[i]);
	pthread_mutex_init(&s.lock, NULL);
	for (size_t i = 0; i + 1 < PULL_THREADS && i + 1 < s.n; i++)
		started[i] = pthread_create(&th[i], NULL, pull_worker, &s) == 0;
	pull_worker(&s); /* also on this thread: finishes the set if no thread started */
	for (size_t i = 0; i < PULL_THREADS; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
	}
	pthread_mutex_destroy(&s.lock);
	ret = s.ret;
	if (ret < 0)
		kiln_err(err, s.err.code, 0, "%s", kiln_error_msg(&s.err));
	kiln_error_release(&s.err);
	free(s.v);
	return ret;
}

static int write_index(const char *dir, const struct registry_manifest *m,
		       const struct entry_name *k, int64_t created, struct kiln_error *err)
{
	struct image_index ix = IMAGE_INDEX_INIT;
	struct image_descriptor d = { .media_type = m->media_type,
				      .digest = m->digest,
				      .size = (int64_t)m->len };
	struct kiln_buf path = KILN_BUF_INIT, json = KILN_BUF_INIT;
	char when[KILN_TIME_SIZE];
	int ret;

	kiln_time_format(when, created);
	image_map_set(&d.annotations, BASE_CACHE_ANNOT_CREATED, when);
	image_map_set(&d.annotations, BASE_CACHE_ANNOT_REF, k->ref.buf);
	ix.media_type = (char *)IMAGE_MT_OCI_INDEX;
	ix.manifests = &d;
	ix.nr_manifests = 1;
	image_index_write(&json, &ix);
	kiln_buf_addf(&path, "%s/index.json", dir);
	ret = kiln_file_write_atomic(path.buf, json.buf, json.len, 0644, err);
	image_map_release(&d.annotations);
	kiln_buf_release(&path);
	kiln_buf_release(&json);
	return ret;
}

static int make_layout_dirs(const char *dir, struct kiln_error *err)
{
	struct kiln_buf p = KILN_BUF_INIT;
	int ret = 0;

	kiln_buf_addf(&p, "%s/blobs", dir);
	if (mkdir(p.buf, 0755) < 0)
		ret = kiln_err(err, KILN_EIO, errno, "mkdir '%s'", p.buf);
	kiln_buf_addstr(&p, "/sha256");
	if (ret == 0 && mkdir(p.buf, 0755) < 0)
		ret = kiln_err(err, KILN_EIO, errno, "mkdir '%s'", p.buf);
	kiln_buf_release(&p);
	return ret;
}

/* What a store did, for its log line. */
struct pulled {
	struct kiln_digest digest;
	uint64_t size; /* manifest, config and layers */
	size_t nr_layers;
};

/* The whole layout in dir (an empty directory), every file and directory
 * synced, so that a rename makes a complete entry. */
static int pull_layout(struct pulled *out, struct registry_client *c, const char *dir,
		       const struct registry_ref *ref, const struct entry_name *k,
		       struct kiln_error *err)
{
	struct registry_manifest m = REGISTRY_MANIFEST_INIT;
	struct image_manifest im = IMAGE_MANIFEST_INIT;
	struct kiln_buf path = KILN_BUF_INIT;
	int ret;

	if ((ret = make_layout_dirs(dir, err)) < 0 ||
	    (ret = registry_manifest_get(&m, c, ref, k->platform.buf, err)) < 0)
		goto out;
	if (!image_media_type_is_manifest(m.media_type)) {
		ret = kiln_err(err, KILN_EINVAL, 0,
			       "the registry sent a '%s', not an image manifest",
			       m.media_type ? m.media_type : "document without a media type");
		goto out;
	}
	if ((ret = image_manifest_parse(&im, m.data, m.len, err)) < 0 ||
	    (ret = pull_blobs(c, ref, dir, &im, err)) < 0)
		goto out;
	blob_path_in(&path, dir, &m.digest);
	if ((ret = kiln_file_write_atomic(path.buf, m.data, m.len, 0644, err)) < 0)
		goto out;
	kiln_buf_reset(&path);
	kiln_buf_addf(&path, "%s/oci-layout", dir);
	if ((ret = kiln_file_write_atomic(path.buf, LAYOUT_FILE, strlen(LAYOUT_FILE), 0644, err)) <
		    0 ||
	    (ret = write_index(dir, &m, k, time(NULL), err)) < 0)
		goto out;
	kiln_buf_reset(&path);
	kiln_buf_addf(&path, "%s/blobs", dir);
	/* blobs/sha256 was synced by each blob's commit, dir by index.json's */
	if ((ret = fsync_dir(path.buf, err)) < 0)
		goto out;
	out->digest = m.digest;
	out->nr_layers = im.nr_layers;
	out->size = m.len + (uint64_t)im.config.size;
	for (size_t i = 0; i < im.nr_layers; i++)
		out->size += (uint64_t)im.layers[i].size;
out:
	registry_manifest_release(&m);
	image_manifest_release(&im);
	kiln_buf_release(&path);
	return ret;
}

/* ----------------------------------------------------------------- store */

struct store {
	const char *cache_dir;
	struct entry_name key;
	char *final; /* <cache_dir>/<hex> */
	char *tmp;   /* the temporary directory, NULL once it is gone or published */
	int tmp_fd;  /* holds the lock on tmp */
	bool force;
	int64_t ttl_s;
};

/* The entry is there, complete and young enough to keep. */
static bool entry_fresh(const struct store *s)
{
	struct base_cache_entry e = { 0 };
	struct kiln_error err = KILN_ERROR_INIT;
	bool found = false;

	if (lookup_key(&e, &found, s->cache_dir, &s->key, s->ttl_s, &err) < 0)
		kiln_warn("%s; replacing it", kiln_error_msg(&err));
	base_cache_entry_release(&e);
	kiln_error_release(&err);
	return found;
}

static int make_tmp(struct store *s, struct kiln_error *err)
{
	char *tmp = xasprintf("%s/" TMP_PREFIX "%.16s-XXXXXX", s->cache_dir, s->key.hex);

	if (!mkdtemp(tmp)) {
		int e = errno;

		free(tmp);
		kiln_err(err, KILN_EIO, e, "create a directory in the cache directory '%s'",
			 s->cache_dir);
		return kiln_err_hint(err, "--cache-dir must name a directory kiln can write");
	}
	s->tmp = tmp;
	s->tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* mkdtemp makes it 0700: the entry must be readable by builds that
	 * run as another user than the warmer */
	if (s->tmp_fd < 0 || fchmod(s->tmp_fd, 0755) < 0)
		return kiln_err(err, KILN_EIO, errno, "open '%s'", tmp);
	lock_dir(s->tmp_fd, true);
	return 0;
}

/* Swap the new entry with the one in place; the old one ends at s->tmp. */
static int exchange(struct store *s, struct kiln_error *err)
{
	char *aside;
	int ret = 0;

	if (syscall(SYS_renameat2, AT_FDCWD, s->tmp, AT_FDCWD, s->final, RENAME_EXCHANGE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return kiln_err(err, KILN_EIO, errno, "replace '%s'", s->final);
	/* No atomic exchange here: move the old entry aside, then rename. For
	 * a moment there is no entry (a build then pulls from the registry),
	 * never a partial one. */
	aside = xasprintf("%s/" TMP_PREFIX "%.16s-XXXXXX", s->cache_dir, s->key.hex);
	if (!mkdtemp(aside)) {
		ret = kiln_err(err, KILN_EIO, errno, "move '%s' aside", s->final);
	} else if (rename(s->final, aside) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "move '%s' aside", s->final);
		rmdir(aside);
	} else if (rename(s->tmp, s->final) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "rename '%s' to '%s'", s->tmp, s->final);
		if (rename(aside, s->final) < 0)
			kiln_warn("could not move '%s' back to '%s'", aside, s->final);
	} else {
		remove_own(aside);
	}
	free(aside);
	return ret;
}

/* Rename the finished layout into place; *stored false when another
 * warmer's fresh entry is kept instead. */
static int publish(bool *stored, struct store *s, struct kiln_error *err)
{
	*stored = false;
	if (rename(s->tmp, s->final) == 0) {
		xfree(&s->tmp);
	} else if (errno != EEXIST && errno != ENOTEMPTY) {
		return kiln_err(err, KILN_EIO, errno, "rename '%s' to '%s'", s->tmp, s->final);
	} else if (!s->force && entry_fresh(s)) {
		return 0; /* another warmer stored it meanwhile: theirs stays */
	} else if (exchange(s, err) < 0) {
		return err->code;
	}
	*stored = true;
	return fsync_dir(s->cache_dir, err);
}

static void store_release(struct store *s)
{
	close_fd(&s->tmp_fd);
	if (s->tmp)
		remove_own(s->tmp);
	free(s->tmp);
	free(s->final);
	key_release(&s->key);
}

static void log_kept(const struct store *s)
{
	struct base_cache_entry e = { 0 };
	struct kiln_error err = KILN_ERROR_INIT;
	char ds[KILN_DIGEST_STR_SIZE] = "?", when[KILN_TIME_SIZE] = "?";
	bool found = false;

	if (lookup_key(&e, &found, s->cache_dir, &s->key, INT64_MAX, &err) == 0 && found) {
		kiln_digest_format(ds, &e.manifest_digest);
		kiln_time_format(when, e.created);
	}
	kiln_info("%s (%s) is already cached: %s, stored %s, in '%s'", s->key.ref.buf,
		  s->key.platform.buf, ds, when, s->final);
	base_cache_entry_release(&e);
	kiln_error_release(&err);
}

int base_cache_store(bool *stored, struct registry_client *c, const char *cache_dir,
		     const char *ref, const char *platform, bool force, int64_t ttl_s,
		     struct kiln_error *err)
{
	struct store s = { .cache_dir = cache_dir, .tmp_fd = -1, .force = force, .ttl_s = ttl_s };
	struct registry_ref r = REGISTRY_REF_INIT;
	struct pulled p = { .size = 0 };
	struct timespec t0;
	char ds[KILN_DIGEST_STR_SIZE];
	int ret;

	*stored = false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((ret = key_make(&s.key, ref, platform, err)) < 0 ||
	    (ret = registry_ref_parse(&r, ref, err)) < 0)
		goto out;
	s.final = xasprintf("%s/%s", cache_dir, s.key.hex);
	if ((ret = mkdir_parents(cache_dir, err)) < 0)
		goto out;
	if (!force && entry_fresh(&s)) {
		log_kept(&s);
		goto out;
	}
	sweep_tmp(cache_dir);
	if ((ret = make_tmp(&s, err)) < 0 ||
	    (ret = pull_layout(&p, c, s.tmp, &r, &s.key, err)) < 0 ||
	    (ret = publish(stored, &s, err)) < 0)
		goto out;
	if (!*stored) {
		log_kept(&s);
		goto out;
	}
	kiln_digest_format(ds, &p.digest);
	kiln_info("Stored %s (%s) in '%s': %s, %zu layers, %.1f MB, in %.1fs", s.key.ref.buf,
		  s.key.platform.buf, s.final, ds, p.nr_layers, (double)p.size / 1e6,
		  build_elapsed(&t0));
out:
	if (ret < 0)
		kiln_err_prefix(err, "warm '%s'", ref);
	registry_ref_release(&r);
	store_release(&s);
	return ret;
}
