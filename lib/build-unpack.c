/*
 * build-unpack.c: an image's layers into a directory, each extracted while
 * it is still being pulled.
 *
 * A layer the blob store lacks is downloaded into its temporary file by a
 * puller thread; the extractor reads that file behind the download and
 * waits when it catches up, so the pull and the unpack overlap instead of
 * adding up (over a real network the pull is most of a base image's cost).
 * The extractor hashes every byte it reads against the layer's digest, and
 * it sees the end of a layer only once the puller has verified and
 * committed the whole blob, so nothing unverified is ever taken as done.
 * blobs_ensure() uses the same pullers for the outputs, with no reader.
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "extract.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

/* At most this many downloads at once: images rarely have more layers. */
#define PULLERS 4

/* One layer on its way: written by its puller, read by the extractor. */
struct layer_feed {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct build *b;
	const struct kiln_digest *digest;
	int fd;		  /* the reader's own descriptor of the blob; -1 until known */
	uint64_t written; /* bytes the reader may read */
	bool done;	  /* the puller has finished (ret says how) */
	bool stop;	  /* the reader gave up: abandon the download */
	int ret;
	struct kiln_error err;
	uint64_t off; /* the reader's position */
};

void layer_feed_opened(struct layer_feed *f, int fd)
{
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	pthread_mutex_lock(&f->lock);
	f->fd = own; /* -1 (none left): the reader waits for the committed blob */
	pthread_mutex_unlock(&f->lock);
}

int layer_feed_wrote(struct layer_feed *f, size_t len, struct kiln_error *err)
{
	bool stop;

	pthread_mutex_lock(&f->lock);
	f->written += len;
	stop = f->stop;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return stop ? kiln_err(err, KILN_EIO, 0, "the unpack stopped") : 0;
}

/* The puller's end: the reader may now read to the end of the blob. */
static void feed_finish(struct layer_feed *f, int ret, struct kiln_error *err)
{
	struct kiln_buf path = KILN_BUF_INIT;
	struct stat st;

	pthread_mutex_lock(&f->lock);
	if (ret == 0 && f->fd < 0) {
		/* nothing was streamed (a local copy, a blob there already) */
		blob_path(&path, f->b, f->digest);
		f->fd = open(path.buf, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0 || fstat(f->fd, &st) < 0)
			ret = kiln_err(err, KILN_EIO, errno, "open layer '%s'", path.buf);
		else
			f->written = (uint64_t)st.st_size;
	}
	f->ret = ret;
	if (ret < 0)
		f->err = *err, *err = (struct kiln_error)KILN_ERROR_INIT;
	f->done = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	kiln_buf_release(&path);
}

static ssize_t feed_read(void *arg, void *buf, size_t len, struct kiln_error *err)
{
	struct layer_feed *f = arg;
	uint64_t avail;
	ssize_t n;

	pthread_mutex_lock(&f->lock);
	/* no descriptor yet (or none to be had): the end tells where to read */
	while (!f->done && (f->fd < 0 || f->off >= f->written))
		pthread_cond_wait(&f->cond, &f->lock);
	if (f->done && f->ret < 0) {
		kiln_err(err, f->err.code, f->err.sys_errno, "%s", kiln_error_msg(&f->err));
		pthread_mutex_unlock(&f->lock);
		return -1;
	}
	avail = f->written - f->off;
	pthread_mutex_unlock(&f->lock);
	if (avail == 0)
		return 0;
	if (len > avail)
		len = (size_t)avail;
	do
		n = pread(f->fd, buf, len, (off_t)f->off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return kiln_err(err, KILN_EIO, errno, "read a layer being pulled");
	if (n == 0)
		return kiln_err(err, KILN_EIO, 0, "a layer being pulled is shorter than written");
	f->off += (uint64_t)n;
	return n;
}

/* The layers a puller takes: every PULLERS-th missing one, in order. */
struct puller {
	pthread_t thread;
	struct layer_feed **feeds;
	size_t first, nr;
};

static bool feed_stopped(struct layer_feed *f)
{
	bool stop;

	pthread_mutex_lock(&f->lock);
	stop = f->stop;
	pthread_mutex_unlock(&f->lock);
	return stop;
}

static void *puller_main(void *arg)
{
	struct puller *p = arg;

	for (size_t i = p->first; i < p->nr; i += PULLERS) {
		struct layer_feed *f = p->feeds[i];
		struct kiln_error err = KILN_ERROR_INIT;
		int ret;

		if (feed_stopped(f))
			ret = kiln_err(&err, KILN_EIO, 0, "the unpack stopped");
		else
			ret = blob_fetch_feed(f->b, f->digest, f, &err);
		feed_finish(f, ret, &err);
		kiln_error_release(&err);
	}
	return NULL;
}

struct unpack {
	struct layer_feed **feeds; /* per layer; NULL: the blob is in the store */
	struct layer_feed **missing;
	size_t nr, nr_missing, nr_pullers;
	struct puller pullers[PULLERS];
};

static void unpack_start(struct unpack *u, struct build *b, const struct image_descriptor *layers,
			 size_t n)
{
	u->nr = n;
	u->feeds = xcalloc(n + 1, sizeof(*u->feeds));
	u->missing = xcalloc(n + 1, sizeof(*u->missing));
	for (size_t i = 0; i < n; i++) {
		struct layer_feed *f;

		if (blob_present(b, &layers[i].digest))
			continue;
		f = xcalloc(1, sizeof(*f));
		pthread_mutex_init(&f->lock, NULL);
		pthread_cond_init(&f->cond, NULL);
		f->b = b;
		f->digest = &layers[i].digest;
		f->fd = -1;
		u->feeds[i] = u->missing[u->nr_missing++] = f;
	}
	for (size_t k = 0; k < PULLERS && k < u->nr_missing; k++) {
		struct puller *p = &u->pullers[k];

		*p = (struct puller){ .feeds = u->missing, .first = k, .nr = u->nr_missing };
		if (pthread_create(&p->thread, NULL, puller_main, p) != 0)
			puller_main(p); /* no thread: pull these now, in order */
		else
			u->nr_pullers = k + 1;
	}
}

/* Stop what is still downloading (the unpack failed), wait for the
 * pullers, free everything. */
static void unpack_finish(struct unpack *u)
{
	for (size_t i = 0; i < u->nr_missing; i++) {
		pthread_mutex_lock(&u->missing[i]->lock);
		u->missing[i]->stop = true;
		pthread_mutex_unlock(&u->missing[i]->lock);
	}
	for (size_t k = 0; k < u->nr_pullers; k++)
		pthread_join(u->pullers[k].thread, NULL);
	for (size_t i = 0; i < u->nr_missing; i++) {
		struct layer_feed *f = u->missing[i];

		if (f->fd >= 0)
			close(f->fd);
		kiln_error_release(&f->err);
		pthread_cond_destroy(&f->cond);
		pthread_mutex_destroy(&f->lock);
		free(f);
	}
	free(u->feeds);
	free(u->missing);
}

static int unpack_stored(struct extract *x, struct build *b, const struct kiln_digest *d,
			 struct kiln_error *err)
{
	struct kiln_buf path = KILN_BUF_INIT;
	int fd, ret;

	blob_path(&path, b, d);
	fd = open(path.buf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		ret = kiln_err(err, KILN_EIO, errno, "open layer '%s'", path.buf);
	else
		ret = extract_layer_fd(NULL, x, fd, d, err);
	if (fd >= 0)
		close(fd);
	kiln_buf_release(&path);
	return ret;
}

/* The same pullers with nobody reading: every missing blob fetched (the
 * outputs need them whole), the first failure reported. */
int blobs_ensure(struct build *b, const struct image_descriptor *layers, size_t n,
		 struct kiln_error *err)
{
	struct unpack u = { 0 };
	int ret = 0;

	unpack_start(&u, b, layers, n);
	for (size_t i = 0; i < u.nr_missing; i++) {
		struct layer_feed *f = u.missing[i];

		pthread_mutex_lock(&f->lock);
		while (!f->done)
			pthread_cond_wait(&f->cond, &f->lock);
		if (f->ret < 0 && ret == 0)
			ret = kiln_err(err, f->err.code, f->err.sys_errno, "%s",
				       kiln_error_msg(&f->err));
		pthread_mutex_unlock(&f->lock);
	}
	unpack_finish(&u);
	return ret;
}

int stage_image_unpack(struct build *b, const struct stage_image *img, size_t from, int dir_fd,
		       struct snapshot *seed, struct kiln_error *err)
{
	struct extract_options eo = { .ignore = (const char *const *)b->ignore.v,
				      .nr_ignore = b->ignore.nr,
				      .seed = seed,
				      .no_chown = geteuid() != 0 };
	const struct image_manifest *m = &img->manifest;
	struct unpack u = { 0 };
	struct extract *x = NULL;
	int ret;

	if (from >= m->nr_layers)
		return 0;
	if ((ret = extract_new(&x, dir_fd, &eo, err)) < 0)
		return ret;
	unpack_start(&u, b, m->layers + from, m->nr_layers - from);
	for (size_t i = 0; i < u.nr && ret == 0; i++) {
		const struct kiln_digest *d = &m->layers[from + i].digest;
		char ds[KILN_DIGEST_STR_SIZE];

		if (u.feeds[i])
			ret = extract_layer_read(NULL, x, feed_read, u.feeds[i], d, err);
		else
			ret = unpack_stored(x, b, d, err);
		if (ret < 0) {
			kiln_digest_format(ds, d);
			kiln_err_prefix(err, "layer %s", ds);
		}
	}
	unpack_finish(&u);
	extract_free(x);
	return ret;
}
