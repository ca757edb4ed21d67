/*
 * extract-source.c: layer bytes in, tar bytes out to libarchive.
 *
 * Every byte read is hashed (sha256 of the blob as the registry stores
 * it), the compression is told by magic bytes rather than by a media type
 * a hostile registry could get wrong, and the stream is read to its end
 * even after the tar's end-of-archive blocks so the digest covers all of
 * it.
 *
 * A compressed layer is read, hashed and decompressed on a second thread,
 * which hands tar bytes to the thread writing entries through a few
 * blocks: decompressing a base image costs about a fifth of unpacking it,
 * and writing files leaves a core idle. Only that thread calls the read
 * callback while it runs; it is stopped (and joined) before anyone else
 * looks at the stream's state.
 */
#include "compat.h"
#include "extract-int.h"
#include "alloc.h"
#include "error.h"

#include <archive.h>
#include <pthread.h>

#define SOURCE_CHUNK (1024 * 1024)
#define PIPE_BLOCKS  4
#define PIPE_BLOCK   (256 * 1024)

/*
 * Decompressed bytes from the decoding thread to the tar reader. Blocks
 * [tail, head) are full; the reader holds block tail while libarchive
 * reads from it (a read callback's buffer stays valid until the next
 * call), so the decoder only ever fills a block nobody reads.
 */
struct inflate_pipe {
	struct gunzip *gz; /* gzip */
	struct archive *d; /* zstd (libarchive, format raw); NULL for gzip */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *blk[PIPE_BLOCKS];
	size_t len[PIPE_BLOCKS];
	size_t head, tail;
	bool held;   /* the reader holds block tail */
	bool done;   /* the decoder met the end or an error */
	bool stop;   /* the reader wants no more */
	char *error; /* the decoder's error, or NULL */
};

struct extract_source {
	extract_read_fn *read;
	void *arg;
	struct kiln_sha256 sha;
	uint64_t bytes;
	char *buf;
	size_t pending; /* bytes of buf read for the magic check, not yet handed on */
	bool eof;
	struct kiln_error err;	   /* a read error, kept for the caller */
	struct inflate_pipe *pipe; /* NULL: libarchive decompresses inline */
};

static ssize_t source_fill(struct extract_source *src, size_t len)
{
	ssize_t n;

	if (src->eof)
		return 0;
	n = src->read(src->arg, src->buf, len, &src->err);
	if (n < 0) {
		if (!src->err.code)
			kiln_err(&src->err, KILN_EIO, 0, "read the layer");
		return -1;
	}
	if (n == 0)
		src->eof = true;
	kiln_sha256_update(&src->sha, src->buf, (size_t)n);
	src->bytes += (uint64_t)n;
	return n;
}

/* The next chunk: first what the magic check read, then fresh reads. */
static ssize_t source_next(struct extract_source *src, const void **out)
{
	ssize_t n;

	*out = src->buf;
	if (src->pending) {
		n = (ssize_t)src->pending;
		src->pending = 0;
		return n;
	}
	return source_fill(src, SOURCE_CHUNK);
}

static la_ssize_t source_read_cb(struct archive *a, void *data, const void **out)
{
	struct extract_source *src = data;
	ssize_t n = source_next(src, out);

	if (n < 0)
		archive_set_error(a, EIO, "%s", kiln_error_msg(&src->err));
	return n;
}

/* The read error stays in src->err for extract_source_failed(). */
static ssize_t gunzip_input(void *arg, const void **buf, struct kiln_error *err)
{
	struct extract_source *src = arg;
	ssize_t n = source_next(src, buf);

	if (n < 0)
		kiln_err(err, src->err.code, 0, "%s", kiln_error_msg(&src->err));
	return n;
}

/* ------------------------------------------------- decoding thread */

/* Fill one block from the decoder. Returns its length; *end set at the
 * stream's end or on an error (then p->error is set). */
static size_t pipe_fill_gzip(struct inflate_pipe *p, char *blk, bool *end)
{
	struct kiln_error err = KILN_ERROR_INIT;
	size_t len = 0;

	while (len < PIPE_BLOCK) {
		ssize_t n = gunzip_read(p->gz, blk + len, PIPE_BLOCK - len, &err);

		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n < 0)
			p->error = xstrdup(kiln_error_msg(&err));
		*end = true;
		break;
	}
	kiln_error_release(&err);
	return len;
}

static size_t pipe_fill(struct inflate_pipe *p, char *blk, bool *end)
{
	size_t len = 0;

	if (p->gz)
		return pipe_fill_gzip(p, blk, end);
	while (len < PIPE_BLOCK) {
		la_ssize_t n = archive_read_data(p->d, blk + len, PIPE_BLOCK - len);

		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n < 0)
			p->error = xstrdup(archive_error_string(p->d) ? archive_error_string(p->d)
								      : "decompression failed");
		*end = true;
		break;
	}
	return len;
}

static void *pipe_thread(void *arg)
{
	struct inflate_pipe *p = arg;
	struct archive_entry *ae;
	bool end = false;
	int r;

	/* format empty: a stream that decompresses to nothing ends here,
	 * and the tar reader says what is wrong with it */
	r = p->d ? archive_read_next_header(p->d, &ae) : ARCHIVE_OK;
	if (r != ARCHIVE_OK) {
		if (r != ARCHIVE_EOF)
			p->error = xstrdup(archive_error_string(p->d) ? archive_error_string(p->d)
								      : "decompression failed");
		end = true;
	}
	pthread_mutex_lock(&p->lock);
	while (!end) {
		size_t i, len;

		while (p->head - p->tail == PIPE_BLOCKS && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop)
			break;
		i = p->head % PIPE_BLOCKS;
		pthread_mutex_unlock(&p->lock);
		len = pipe_fill(p, p->blk[i], &end);
		pthread_mutex_lock(&p->lock);
		if (len) {
			p->len[i] = len;
			p->head++;
		}
		pthread_cond_broadcast(&p->cond);
	}
	p->done = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static la_ssize_t pipe_read_cb(struct archive *a, void *data, const void **out)
{
	struct inflate_pipe *p = ((struct extract_source *)data)->pipe;
	la_ssize_t n = 0;

	pthread_mutex_lock(&p->lock);
	if (p->held) {
		p->tail++;
		p->held = false;
		pthread_cond_broadcast(&p->cond);
	}
	while (p->head == p->tail && !p->done)
		pthread_cond_wait(&p->cond, &p->lock);
	if (p->head != p->tail) {
		p->held = true;
		*out = p->blk[p->tail % PIPE_BLOCKS];
		n = (la_ssize_t)p->len[p->tail % PIPE_BLOCKS];
	} else if (p->error) {
		archive_set_error(a, EIO, "%s", p->error);
		n = -1;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* Stop the decoder and wait for it: afterwards the stream's state is the
 * calling thread's alone. */
static void pipe_stop(struct extract_source *src)
{
	struct inflate_pipe *p = src->pipe;

	if (!p || !p->started)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	p->started = false;
}

static void pipe_free(struct extract_source *src)
{
	struct inflate_pipe *p = src->pipe;

	if (!p)
		return;
	pipe_stop(src);
	if (p->d)
		archive_read_free(p->d);
	gunzip_free(p->gz);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	for (size_t i = 0; i < PIPE_BLOCKS; i++)
		free(p->blk[i]);
	free(p->error);
	free(p);
	src->pipe = NULL;
}

static struct inflate_pipe *pipe_new(struct extract_source *src)
{
	struct inflate_pipe *p = xcalloc(1, sizeof(*p));

	src->pipe = p;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (size_t i = 0; i < PIPE_BLOCKS; i++)
		p->blk[i] = xmalloc(PIPE_BLOCK);
	return p;
}

/* Start the decoding thread; a then reads plain tar from the pipe. */
static int pipe_start(struct inflate_pipe *p, struct archive *a, struct kiln_error *err)
{
	int r;

	if ((r = pthread_create(&p->thread, NULL, pipe_thread, p)) != 0)
		return kiln_err(err, KILN_EIO, r, "start the layer decompressor");
	p->started = true;
	if (archive_read_support_filter_none(a) != ARCHIVE_OK)
		return kiln_err(err, KILN_EIO, 0, "layer reader unavailable: %s",
				archive_error_string(a));
	return 0;
}

/* gzip: ISA-L's inflate; a bad header shows when the thread reads it. */
static int pipe_open_gzip(struct extract_source *src, struct archive *a, struct kiln_error *err)
{
	struct inflate_pipe *p = pipe_new(src);

	p->gz = gunzip_new(gunzip_input, src);
	return pipe_start(p, a, err);
}

/*
 * zstd: libarchive's decoder, opened on the layer stream here, so a bad
 * header is reported before the thread starts.
 */
static int pipe_open_zstd(struct extract_source *src, struct archive *a, struct kiln_error *err)
{
	struct inflate_pipe *p = pipe_new(src);

	p->d = archive_read_new();
	if (!p->d) {
		fprintf(stderr, "kiln: fatal: out of memory for a layer reader\n");
		exit(1);
	}
	/* ARCHIVE_WARN: libarchive would run an external program */
	if (archive_read_support_filter_zstd(p->d) != ARCHIVE_OK ||
	    archive_read_support_format_raw(p->d) != ARCHIVE_OK ||
	    archive_read_support_format_empty(p->d) != ARCHIVE_OK)
		return kiln_err(err, KILN_EIO, 0, "layer decompressor unavailable: %s",
				archive_error_string(p->d));
	if (archive_read_open2(p->d, src, NULL, source_read_cb, NULL, NULL) != ARCHIVE_OK) {
		if (!extract_source_failed(src, err))
			kiln_err(err, KILN_EINVAL, 0, "not a tar layer: %s",
				 archive_error_string(p->d));
		return err->code;
	}
	return pipe_start(p, a, err);
}

/* Read until the first bytes can be told apart (or the stream ends). */
static int source_peek(struct extract_source *src)
{
	while (!src->eof && src->pending < 6) {
		ssize_t n = src->read(src->arg, src->buf + src->pending,
				      SOURCE_CHUNK - src->pending, &src->err);

		if (n < 0)
			return src->err.code ? src->err.code : KILN_EIO;
		if (n == 0)
			src->eof = true;
		kiln_sha256_update(&src->sha, src->buf + src->pending, (size_t)n);
		src->bytes += (uint64_t)n;
		src->pending += (size_t)n;
	}
	return 0;
}

static bool has_magic(const struct extract_source *src, const char *magic, size_t n)
{
	return src->pending >= n && !memcmp(src->buf, magic, n);
}

/* Enable exactly the decoder the magic bytes name: libarchive's own
 * bidding would also accept formats no layer uses (xz, rpm, ...). A
 * compressed layer gets its own decoding thread (pipe_start). */
static int source_pick_filter(struct extract_source *src, struct archive *a, struct kiln_error *err)
{
	if (has_magic(src, "\x1f\x8b", 2))
		return pipe_open_gzip(src, a, err);
	if (has_magic(src, "\x28\xb5\x2f\xfd", 4))
		return pipe_open_zstd(src, a, err);
	if (has_magic(src,
		      "\xfd"
		      "7zXZ",
		      5) ||
	    has_magic(src, "BZh", 3))
		return kiln_err(err, KILN_EINVAL, 0,
				"layer compression is neither gzip nor zstd (xz or bzip2?)");
	if (archive_read_support_filter_none(a) != ARCHIVE_OK)
		return kiln_err(err, KILN_EIO, 0, "layer decompressor unavailable: %s",
				archive_error_string(a));
	return 0;
}

int extract_source_open(struct extract_source **out, struct archive *a, extract_read_fn *read,
			void *arg, struct kiln_error *err)
{
	struct extract_source *src = xcalloc(1, sizeof(*src));
	int ret;

	src->read = read;
	src->arg = arg;
	src->buf = xmalloc(SOURCE_CHUNK);
	kiln_sha256_init(&src->sha);
	if ((ret = source_peek(src)) < 0) {
		kiln_err(err, ret, src->err.sys_errno, "%s", kiln_error_msg(&src->err));
		goto fail;
	}
	if ((ret = source_pick_filter(src, a, err)) < 0)
		goto fail;
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open2(a, src, NULL, src->pipe ? pipe_read_cb : source_read_cb, NULL,
			       NULL) != ARCHIVE_OK) {
		if (!extract_source_failed(src, err))
			kiln_err(err, KILN_EINVAL, 0, "not a tar layer: %s",
				 archive_error_string(a));
		ret = err->code;
		goto fail;
	}
	*out = src;
	return 0;
fail:
	extract_source_free(src);
	return ret;
}

int extract_source_finish(struct kiln_digest *digest, uint64_t *bytes, struct extract_source *src,
			  struct kiln_error *err)
{
	pipe_stop(src);
	if (extract_source_failed(src, err))
		return err->code;
	src->pending = 0;
	while (!src->eof) {
		if (source_fill(src, SOURCE_CHUNK) < 0) {
			extract_source_failed(src, err);
			return err->code;
		}
	}
	kiln_sha256_final(&src->sha, digest);
	*bytes = src->bytes;
	return 0;
}

bool extract_source_failed(struct extract_source *src, struct kiln_error *err)
{
	pipe_stop(src);
	if (!src->err.code)
		return false;
	kiln_err(err, src->err.code, 0, "%s", kiln_error_msg(&src->err));
	return true;
}

void extract_source_free(struct extract_source *src)
{
	if (!src)
		return;
	pipe_free(src);
	kiln_sha256_release(&src->sha);
	kiln_error_release(&src->err);
	free(src->buf);
	free(src);
}
