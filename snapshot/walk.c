/*
 * walk.c: the parallel walker.
 *
 * Directories are a shared work stack; each worker takes one, reads it
 * with one openat2 + getdents64 loop, statx()es each entry without
 * following symlinks, pushes subdirectories back onto the stack and
 * passes every entry to the visit callback (which decides, in the worker,
 * whether anything changed, so content hashing runs in parallel too).
 * Entries the callback keeps are collected in per-directory batches that
 * the consumer takes with walk_next(), in no particular order.
 *
 * Never descended into: ignored paths, directories on another device
 * (mount points), and symlinks (a link is recorded as a link, so loops
 * such as /var/mail <-> /var/spool/mail are harmless). Sockets are skipped:
 * they cannot be stored in a layer.
 */
#include "compat.h"
#include "snapshot-int.h"
#include "alloc.h"
#include "buf.h"
#include "cpus.h"
#include "error.h"
#include "strvec.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

#define DENTS_BUF (64 * 1024)

struct walk_batch {
	struct walk_entry *v;
	size_t nr, alloc;
};

struct snapshot_walk {
	struct walk_options opts;
	uint64_t root_dev;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	char **dirs; /* pending directories, "" for ROOT */
	size_t nr_dirs, alloc_dirs;
	unsigned busy; /* workers inside a directory */
	struct walk_batch *done;
	size_t nr_done, alloc_done;
	unsigned running; /* workers not yet exited */
	bool failed;
	struct kiln_error err; /* the first failure */

	pthread_t *threads;
	unsigned nr_threads;
	struct walk_batch cur; /* the batch walk_next() is handing out */
	size_t cur_i;
};

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

void snapshot_stat_from_statx(struct snapshot_stat *st, const struct statx *sx)
{
	st->mode = sx->stx_mode;
	st->uid = sx->stx_uid;
	st->gid = sx->stx_gid;
	st->nlink = sx->stx_nlink;
	st->size = sx->stx_size;
	st->ino = sx->stx_ino;
	st->dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
	st->rdev = makedev(sx->stx_rdev_major, sx->stx_rdev_minor);
	st->mtime_ns = sx->stx_mtime.tv_sec * 1000000000LL + sx->stx_mtime.tv_nsec;
	st->ctime_ns = sx->stx_ctime.tv_sec * 1000000000LL + sx->stx_ctime.tv_nsec;
}

void snapshot_stat_from_stat(struct snapshot_stat *out, const struct stat *st)
{
	out->mode = st->st_mode;
	out->uid = st->st_uid;
	out->gid = st->st_gid;
	out->nlink = (uint32_t)st->st_nlink;
	out->size = (uint64_t)st->st_size;
	out->ino = st->st_ino;
	out->dev = st->st_dev;
	out->rdev = st->st_rdev;
	out->mtime_ns = st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
	out->ctime_ns = st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
}

static bool is_ignored(const struct snapshot_walk *w, const char *path)
{
	for (size_t i = 0; i < w->opts.nr_ignore; i++) {
		if (!strcmp(w->opts.ignore[i], path))
			return true;
	}
	return false;
}

/* Open a directory below ROOT; refuses symlinks anywhere on the way, so a
 * path swapped for a link while we walk cannot lead out of ROOT. */
static int open_dir(const struct snapshot_walk *w, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, w->opts.root_fd, path[0] ? path + 1 : ".", &how,
			    sizeof(how));
}

static void push_dir(struct snapshot_walk *w, char *path)
{
	if (w->nr_dirs == w->alloc_dirs) {
		w->alloc_dirs = w->alloc_dirs ? st_mult(w->alloc_dirs, 2) : 64;
		w->dirs = xreallocarray(w->dirs, w->alloc_dirs, sizeof(*w->dirs));
	}
	w->dirs[w->nr_dirs++] = path;
}

static void batch_add(struct walk_batch *b, const struct walk_entry *e)
{
	if (b->nr == b->alloc) {
		b->alloc = b->alloc ? st_mult(b->alloc, 2) : 16;
		b->v = xreallocarray(b->v, b->alloc, sizeof(*b->v));
	}
	b->v[b->nr++] = *e;
}

static void batch_release(struct walk_batch *b)
{
	for (size_t i = 0; i < b->nr; i++)
		free(b->v[i].path);
	free(b->v);
	memset(b, 0, sizeof(*b));
}

/* One entry of a directory: stat it, queue it if it is a directory to
 * walk, let the callback judge it. path holds "<dir>/<name>"; it is copied
 * only for entries kept or queued, which in a quiet tree is almost none. */
static int visit_one(struct snapshot_walk *w, int dir_fd, const char *path, const char *name,
		     struct walk_batch *batch, struct kiln_strvec *subdirs, struct kiln_error *err)
{
	struct walk_entry e = { .old = -1, .path = (char *)path };
	struct statx sx;
	int ret;

	if (is_ignored(w, path))
		return 0;
	if (statx(dir_fd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC,
		  STATX_BASIC_STATS, &sx) < 0) {
		if (errno == ENOENT)
			return 0; /* gone since getdents: not in this snapshot */
		return kiln_err(err, KILN_EIO, errno, "stat '%s'", path);
	}
	snapshot_stat_from_statx(&e.st, &sx);
	if (S_ISSOCK(e.st.mode))
		return 0;
	if (S_ISDIR(e.st.mode) && e.st.dev != w->root_dev)
		return 0; /* a mount point: never part of an image */
	ret = w->opts.visit(w->opts.ctx, &e, dir_fd, name, err);
	if (ret < 0)
		return ret;
	if (S_ISDIR(e.st.mode)) {
		kiln_strvec_push(subdirs, path);
	}
	if (ret == 1) {
		e.path = xstrdup(path);
		batch_add(batch, &e);
	}
	return 0;
}

static int scan_dir(struct snapshot_walk *w, const char *dir, struct walk_batch *batch,
		    struct kiln_strvec *subdirs, struct kiln_error *err)
{
	struct kiln_buf path = KILN_BUF_INIT;
	char *buf = NULL;
	size_t dir_len;
	int fd = open_dir(w, dir);
	int ret = 0;

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV)
			return 0; /* replaced or removed while we walked */
		return kiln_err(err, KILN_EIO, errno, "open directory '%s'", dir[0] ? dir : "/");
	}
	buf = xmalloc(DENTS_BUF);
	kiln_buf_addf(&path, "%s/", dir);
	dir_len = path.len;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, DENTS_BUF);

		if (n < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "read directory '%s'",
				       dir[0] ? dir : "/");
			break;
		}
		if (n == 0)
			break;
		for (long off = 0; off < n && ret == 0;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);

			off += d->d_reclen;
			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
				continue;
			kiln_buf_setlen(&path, dir_len);
			kiln_buf_addstr(&path, d->d_name);
			ret = visit_one(w, fd, path.buf, d->d_name, batch, subdirs, err);
		}
		if (ret < 0)
			break;
	}
	kiln_buf_release(&path);
	free(buf);
	close(fd);
	return ret;
}

static void fail_locked(struct snapshot_walk *w, struct kiln_error *err)
{
	if (!w->failed) {
		w->failed = true;
		w->err = *err;
		memset(err, 0, sizeof(*err));
	}
	kiln_error_release(err);
}

static void *worker(void *arg)
{
	struct snapshot_walk *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct kiln_error err = KILN_ERROR_INIT;
		struct walk_batch batch = { 0 };
		struct kiln_strvec subdirs = KILN_STRVEC_INIT;
		char *dir;
		int ret;

		while (!w->nr_dirs && w->busy && !w->failed)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->nr_dirs || w->failed)
			break;
		dir = w->dirs[--w->nr_dirs];
		w->busy++;
		pthread_mutex_unlock(&w->lock);

		ret = scan_dir(w, dir, &batch, &subdirs, &err);
		free(dir);

		pthread_mutex_lock(&w->lock);
		w->busy--;
		for (size_t i = 0; i < subdirs.nr; i++)
			push_dir(w, steal_ptr(&subdirs.v[i]));
		kiln_strvec_clear(&subdirs);
		if (ret < 0) {
			fail_locked(w, &err);
			batch_release(&batch);
		} else if (batch.nr) {
			if (w->nr_done == w->alloc_done) {
				w->alloc_done = w->alloc_done ? st_mult(w->alloc_done, 2) : 64;
				w->done = xreallocarray(w->done, w->alloc_done, sizeof(*w->done));
			}
			w->done[w->nr_done++] = batch;
		} else {
			batch_release(&batch);
		}
		pthread_cond_broadcast(&w->cond);
	}
	w->running--;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

unsigned snapshot_default_threads(void)
{
	/* stat-bound walks gain from a few more threads than cores (I/O waits),
	 * but not from many: they contend on directory locks. The count comes
	 * from the cgroup quota too, so a 1-CPU pod does not run 16 walkers. */
	unsigned n = kiln_cpus_available() + 1;

	return n > 16 ? 16 : n;
}

int walk_begin(struct snapshot_walk **out, const struct walk_options *opts, struct kiln_error *err)
{
	struct snapshot_walk *w = xcalloc(1, sizeof(*w));
	struct stat st;

	if (fstat(opts->root_fd, &st) < 0) {
		free(w);
		return kiln_err(err, KILN_EIO, errno, "stat the snapshot root");
	}
	w->opts = *opts;
	w->root_dev = st.st_dev;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	push_dir(w, xstrdup(""));
	w->nr_threads = opts->threads ? opts->threads : snapshot_default_threads();
	w->threads = xcalloc(w->nr_threads, sizeof(*w->threads));
	pthread_mutex_lock(&w->lock);
	for (unsigned i = 0; i < w->nr_threads; i++) {
		if (pthread_create(&w->threads[i], NULL, worker, w) != 0) {
			fprintf(stderr, "kiln: fatal: cannot start a walker thread\n");
			exit(1);
		}
		w->running++;
	}
	pthread_mutex_unlock(&w->lock);
	*out = w;
	return 0;
}

int walk_next(struct snapshot_walk *w, struct walk_entry *e, struct kiln_error *err)
{
	if (w->cur_i < w->cur.nr) {
		*e = w->cur.v[w->cur_i];
		w->cur.v[w->cur_i++].path = NULL;
		return 1;
	}
	batch_release(&w->cur);
	w->cur_i = 0;
	pthread_mutex_lock(&w->lock);
	while (!w->nr_done && w->running && !w->failed)
		pthread_cond_wait(&w->cond, &w->lock);
	if (w->failed) {
		pthread_mutex_unlock(&w->lock);
		return kiln_err(err, w->err.code, 0, "%s", kiln_error_msg(&w->err));
	}
	if (!w->nr_done) {
		pthread_mutex_unlock(&w->lock);
		return 0;
	}
	w->cur = w->done[--w->nr_done];
	pthread_mutex_unlock(&w->lock);
	return walk_next(w, e, err);
}

void walk_free(struct snapshot_walk *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->failed = true; /* stops workers early when the consumer gives up */
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->nr_threads; i++)
		pthread_join(w->threads[i], NULL);
	batch_release(&w->cur);
	for (size_t i = 0; i < w->nr_done; i++)
		batch_release(&w->done[i]);
	for (size_t i = 0; i < w->nr_dirs; i++)
		free(w->dirs[i]);
	free(w->done);
	free(w->dirs);
	free(w->threads);
	kiln_error_release(&w->err);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
