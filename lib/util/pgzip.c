#include "compat.h"
#include "pgzip.h"
#include "alloc.h"
#include "cpus.h"
#include "error.h"
#include "stream.h"

#include <pthread.h>
#include <zlib.h>

/* More threads than this only add memory: deflate of 128 KiB blocks does
 * not scale past what the caller's thread can feed. */
#define PGZIP_MAX_THREADS 64

enum job_state { JOB_FILLING, JOB_QUEUED, JOB_DONE };

/* One block: its input, the dictionary it is primed with, its output. */
struct pgzip_job {
	unsigned char *in; /* PGZIP_BLOCK_SIZE bytes */
	size_t in_len;
	unsigned char *dict; /* the previous block's last PGZIP_DICT_SIZE bytes */
	size_t dict_len;
	bool last;
	unsigned char *out;
	size_t out_len, out_alloc;
	uint32_t crc; /* CRC-32 of in */
	enum job_state state;
};

/*
 * Blocks live in a ring indexed by sequence number. The caller fills block
 * `submitted`, workers take blocks `taken` < `submitted` in order, and the
 * caller writes blocks `emitted` < `submitted` out in order once done. The
 * ring bounds memory: filling waits for the oldest block to be written.
 */
struct pgzip {
	struct kiln_writer w;
	int level;
	unsigned nr_threads; /* workers running; 0: compress in the caller */
	pthread_t *threads;
	z_stream inline_strm; /* for nr_threads == 0 */
	bool inline_ready;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	bool stop;
	struct pgzip_job *ring;
	size_t ring_size;
	uint64_t submitted, taken, emitted;
	unsigned char tail[PGZIP_DICT_SIZE]; /* dictionary for the next block */
	size_t tail_len;
	uint32_t crc;
	uint64_t isize;
};

static KILN_NORETURN void zlib_bug(const char *what, int ret)
{
	/* deflate fails only on bad arguments (a kiln bug) or OOM */
	fprintf(stderr, "kiln: %s: zlib %s failed (%d)\n", ret == Z_MEM_ERROR ? "fatal" : "bug",
		what, ret);
	exit(1);
}

static void deflate_start(z_stream *s, int level)
{
	int ret;

	memset(s, 0, sizeof(*s));
	/* raw deflate (-15): the gzip wrapper is ours, written once */
	ret = deflateInit2(s, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK)
		zlib_bug("deflateInit2", ret);
}

static void out_reserve(struct pgzip_job *j, size_t need)
{
	if (j->out_alloc - j->out_len >= need)
		return;
	j->out_alloc = st_add(j->out_len, need);
	j->out = xrealloc(j->out, j->out_alloc);
}

/*
 * Deflate one block on its own. Everything the output depends on is in the
 * job (input, dictionary, last flag) plus the level, which is what makes
 * the stream the same whatever thread runs it. A sync flush ends each
 * block on a byte boundary so the pieces concatenate into one stream.
 */
static void compress_job(z_stream *s, struct pgzip_job *j)
{
	int flush = j->last ? Z_FINISH : Z_SYNC_FLUSH, ret;

	if ((ret = deflateReset(s)) != Z_OK)
		zlib_bug("deflateReset", ret);
	if (j->dict_len && (ret = deflateSetDictionary(s, j->dict, (uInt)j->dict_len)) != Z_OK)
		zlib_bug("deflateSetDictionary", ret);
	j->crc = (uint32_t)crc32(0, j->in, (uInt)j->in_len);
	s->next_in = j->in;
	s->avail_in = (uInt)j->in_len;
	j->out_len = 0;
	/* the bound plus room for the flush marker: one call does it all */
	out_reserve(j, deflateBound(s, (uLong)j->in_len) + 64);
	do {
		out_reserve(j, 4096);
		s->next_out = j->out + j->out_len;
		s->avail_out = (uInt)(j->out_alloc - j->out_len);
		ret = deflate(s, flush);
		if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
			zlib_bug("deflate", ret);
		j->out_len = j->out_alloc - s->avail_out;
	} while (j->last ? ret != Z_STREAM_END : s->avail_out == 0);
}

static void *worker_main(void *arg)
{
	struct pgzip *z = arg;
	z_stream s;

	deflate_start(&s, z->level);
	pthread_mutex_lock(&z->lock);
	for (;;) {
		struct pgzip_job *j;

		while (!z->stop && z->taken == z->submitted)
			pthread_cond_wait(&z->work, &z->lock);
		if (z->stop)
			break;
		j = &z->ring[z->taken++ % z->ring_size];
		pthread_mutex_unlock(&z->lock);
		compress_job(&s, j);
		pthread_mutex_lock(&z->lock);
		j->state = JOB_DONE;
		pthread_cond_broadcast(&z->done);
	}
	pthread_mutex_unlock(&z->lock);
	deflateEnd(&s);
	return NULL;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* The fixed header: no name, no mtime, OS 255 ("unknown", as Go writes it)
 * so the bytes do not depend on the machine or the time. */
static int write_header(struct pgzip *z, struct kiln_error *err)
{
	unsigned char h[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255 };

	/* XFL as zlib and Go set it: 2 for the slowest level, 4 the fastest */
	h[8] = z->level == 9 ? 2 : z->level == 1 ? 4 : 0;
	return kiln_writer_write(z->w.next, h, sizeof(h), err);
}

/* Wait for the oldest block and write it out. */
static int emit_oldest(struct pgzip *z, struct kiln_error *err)
{
	struct pgzip_job *j = &z->ring[z->emitted % z->ring_size];
	int ret = 0;

	if (z->nr_threads) {
		pthread_mutex_lock(&z->lock);
		while (j->state != JOB_DONE)
			pthread_cond_wait(&z->done, &z->lock);
		pthread_mutex_unlock(&z->lock);
	}
	if (z->emitted == 0)
		ret = write_header(z, err);
	if (ret == 0)
		ret = kiln_writer_write(z->w.next, j->out, j->out_len, err);
	z->crc = (uint32_t)crc32_combine(z->crc, j->crc, (z_off_t)j->in_len);
	z->isize += j->in_len;
	j->state = JOB_FILLING;
	j->in_len = 0;
	z->emitted++;
	return ret;
}

/* Hand the block being filled to the workers (or compress it here) and,
 * unless it is the last, start the next one primed with its tail. */
static int submit(struct pgzip *z, bool last, struct kiln_error *err)
{
	struct pgzip_job *j = &z->ring[z->submitted % z->ring_size];
	int ret;

	j->last = last;
	memcpy(j->dict, z->tail, z->tail_len);
	j->dict_len = z->tail_len;
	/* a non-last block is full, so its tail is a whole window */
	z->tail_len = j->in_len < PGZIP_DICT_SIZE ? j->in_len : PGZIP_DICT_SIZE;
	memcpy(z->tail, j->in + j->in_len - z->tail_len, z->tail_len);
	if (!z->nr_threads) {
		compress_job(&z->inline_strm, j);
		j->state = JOB_DONE;
		z->submitted++;
	} else {
		pthread_mutex_lock(&z->lock);
		j->state = JOB_QUEUED;
		z->submitted++;
		pthread_cond_signal(&z->work);
		pthread_mutex_unlock(&z->lock);
	}
	while (!last && z->submitted - z->emitted >= z->ring_size)
		if ((ret = emit_oldest(z, err)) < 0)
			return ret;
	return 0;
}

static int pgzip_write(struct kiln_writer *w, const void *data, size_t len, struct kiln_error *err)
{
	struct pgzip *z = (struct pgzip *)w;
	const unsigned char *p = data;
	int ret;

	while (len) {
		struct pgzip_job *j = &z->ring[z->submitted % z->ring_size];
		size_t n;

		/* a full block is submitted only once more input arrives, so
		 * the last block is known to be last when close comes */
		if (j->in_len == PGZIP_BLOCK_SIZE) {
			if ((ret = submit(z, false, err)) < 0)
				return ret;
			continue;
		}
		n = PGZIP_BLOCK_SIZE - j->in_len;
		n = n < len ? n : len;
		memcpy(j->in + j->in_len, p, n);
		j->in_len += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int pgzip_close(struct kiln_writer *w, struct kiln_error *err)
{
	struct pgzip *z = (struct pgzip *)w;
	unsigned char trailer[8];
	int ret = submit(z, true, err);

	while (ret == 0 && z->emitted < z->submitted)
		ret = emit_oldest(z, err);
	if (ret < 0)
		return ret;
	put_le32(trailer, z->crc);
	put_le32(trailer + 4, (uint32_t)z->isize); /* ISIZE is the size mod 2^32 */
	return kiln_writer_write(w->next, trailer, sizeof(trailer), err);
}

static void stop_workers(struct pgzip *z)
{
	pthread_mutex_lock(&z->lock);
	z->stop = true;
	pthread_cond_broadcast(&z->work);
	pthread_mutex_unlock(&z->lock);
	for (unsigned i = 0; i < z->nr_threads; i++)
		pthread_join(z->threads[i], NULL);
	z->nr_threads = 0;
}

static void pgzip_free(struct kiln_writer *w)
{
	struct pgzip *z = (struct pgzip *)w;

	stop_workers(z);
	if (z->inline_ready)
		deflateEnd(&z->inline_strm);
	for (size_t i = 0; i < z->ring_size; i++) {
		free(z->ring[i].in);
		free(z->ring[i].dict);
		free(z->ring[i].out);
	}
	free(z->ring);
	free(z->threads);
	pthread_mutex_destroy(&z->lock);
	pthread_cond_destroy(&z->work);
	pthread_cond_destroy(&z->done);
	free(z);
}

static const struct kiln_writer_ops pgzip_ops = {
	.name = "gzip",
	.write = pgzip_write,
	.close = pgzip_close,
	.free = pgzip_free,
};

static unsigned thread_count(const struct pgzip_options *opts)
{
	unsigned n = opts->threads ? opts->threads : kiln_cpus_available();

	return n > PGZIP_MAX_THREADS ? PGZIP_MAX_THREADS : n;
}

/* Start the workers; fewer than asked (a pids limit) only costs speed. */
static void start_workers(struct pgzip *z, unsigned want)
{
	z->threads = xcalloc(want, sizeof(*z->threads));
	while (z->nr_threads < want &&
	       pthread_create(&z->threads[z->nr_threads], NULL, worker_main, z) == 0)
		z->nr_threads++;
	if (!z->nr_threads) {
		deflate_start(&z->inline_strm, z->level);
		z->inline_ready = true;
	}
}

int pgzip_writer_new(struct kiln_writer **out, struct kiln_writer *next,
		     const struct pgzip_options *opts, struct kiln_error *err)
{
	struct pgzip *z;
	unsigned threads = thread_count(opts);

	if (opts->level < -1 || opts->level > 9)
		return kiln_err(err, KILN_EINVAL, 0, "compression level %d is out of range",
				opts->level);
	z = xcalloc(1, sizeof(*z));
	kiln_writer_init(&z->w, &pgzip_ops, next);
	z->level = opts->level > 0 ? opts->level : PGZIP_DEFAULT_LEVEL;
	pthread_mutex_init(&z->lock, NULL);
	pthread_cond_init(&z->work, NULL);
	pthread_cond_init(&z->done, NULL);
	/* two blocks per worker keep every worker busy while the caller
	 * writes out the oldest; one block when compressing inline */
	z->ring_size = threads > 1 ? 2 * (size_t)threads + 2 : 1;
	z->ring = xcalloc(z->ring_size, sizeof(*z->ring));
	for (size_t i = 0; i < z->ring_size; i++) {
		z->ring[i].in = xmalloc(PGZIP_BLOCK_SIZE);
		z->ring[i].dict = xmalloc(PGZIP_DICT_SIZE);
	}
	start_workers(z, threads > 1 ? threads : 0);
	*out = &z->w;
	return 0;
}
