#include "compat.h"
#include "pgzip.h"
#include "alloc.h"
#include "cpus.h"
#include "error.h"
#include "stream.h"

#include <endian.h>
#include <pthread.h>
#include <zlib.h>

/* More threads than this only add memory: deflate of 128 KiB blocks does
 * not scale past what the caller's thread can feed. */
#define PGZIP_MAX_THREADS 64

/*
 * Incompressible blocks (random bytes, files that are compressed already)
 * are written as deflate's stored blocks without asking zlib: it would
 * spend as long searching for matches as on text, then store them anyway.
 * The test (looks_incompressible) needs a block of at least STORE_MIN
 * bytes to judge, and stores only when neither a Huffman code nor matches
 * could save more than about 1.5%.
 */
#define STORE_MIN	  (16 * 1024)
#define STORED_MAX	  65535 /* bytes per stored block (a 16-bit length) */
#define MATCH_MIN	  8	/* shortest repeat that counts as a match */
#define MATCH_HASH_BITS	  15
#define MATCH_COVER_SHIFT 6 /* matches may cover at most 1/64 of the block */

enum job_state { JOB_FILLING, JOB_QUEUED, JOB_DONE };

/* One block: its input, the dictionary it is primed with, its output. */
struct pgzip_job {
	/* PGZIP_DICT_SIZE + PGZIP_BLOCK_SIZE bytes: the dictionary sits just
	 * before the input, so the window a match may reach is contiguous */
	unsigned char *buf;
	unsigned char *in; /* buf + PGZIP_DICT_SIZE */
	size_t in_len;
	unsigned char *dict; /* in - dict_len: the previous block's last bytes */
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
	struct deflater *inline_d; /* for nr_threads == 0 */
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

/* A match finder's slot: the last position + 1 whose 8 bytes hashed here
 * (0: none) and their first 4 bytes, which rule out almost every false
 * candidate without a load from the window. */
struct match_slot {
	uint32_t pos, head;
};

/* What one compressing thread keeps between blocks. */
struct deflater {
	z_stream s;
	struct match_slot *table; /* 1 << MATCH_HASH_BITS (looks_incompressible) */
};

static struct deflater *deflater_new(int level)
{
	struct deflater *d = xcalloc(1, sizeof(*d));
	int ret;

	/* raw deflate (-15): the gzip wrapper is ours, written once */
	ret = deflateInit2(&d->s, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK)
		zlib_bug("deflateInit2", ret);
	d->table = xmalloc(sizeof(*d->table) << MATCH_HASH_BITS);
	return d;
}

static void deflater_free(struct deflater *d)
{
	if (!d)
		return;
	deflateEnd(&d->s);
	free(d->table);
	free(d);
}

/* Little-endian whatever the machine, so the hash (and what it finds)
 * is the same everywhere. */
static uint64_t load_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/*
 * Could deflate make this block smaller? Two cheap, exact-integer checks,
 * so the answer (and thus the output) depends on the bytes alone:
 * - the byte histogram: for a near-uniform one a Huffman code cannot save
 *   anything worth having. chi2 = sum (c - n/256)^2 / (n/256) measures the
 *   distance from uniform; the entropy falls short of 8 bits by about
 *   chi2 / (2 ln 2 n) bits per byte, so chi2 <= 0.07 n bounds the gain
 *   from Huffman coding to 0.05 bit per byte (0.6%);
 * - repeats: how many bytes are covered by copies of MATCH_MIN or more
 *   bytes found within the window (the dictionary included), through a
 *   table of the last position of each hashed 8-byte string, the way a
 *   fast LZ77 match finder looks. A block whose repeats cover more than
 *   1/64 of it goes to zlib.
 * Random data passes both at a few percent of the cost of deflating it.
 */
static bool looks_incompressible(const struct pgzip_job *j, struct match_slot *table)
{
	uint32_t hist[256] = { 0 };
	uint64_t n = j->in_len, dev = 0, covered = 0;
	const unsigned char *win = j->dict;
	size_t len = j->dict_len + j->in_len, pos;

	if (n < STORE_MIN)
		return false;
	for (size_t i = 0; i < n; i++)
		hist[j->in[i]]++;
	for (size_t c = 0; c < 256; c++) {
		int64_t d = 256 * (int64_t)hist[c] - (int64_t)n;

		dev += (uint64_t)(d * d);
	}
	/* sum (256 c - n)^2 <= 0.07 * 256 * n^2, i.e. chi2 <= 0.07 n */
	if (dev > 18 * n * n)
		return false;
	memset(table, 0, sizeof(*table) << MATCH_HASH_BITS);
	for (pos = 0; pos + MATCH_MIN <= len;) {
		uint64_t v = load_le64(win + pos);
		struct match_slot *slot =
			&table[(v * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - MATCH_HASH_BITS)];
		struct match_slot prev = *slot;

		*slot = (struct match_slot){ (uint32_t)pos + 1, (uint32_t)v };
		/* rarely true for random bytes: one predictable branch */
		if (prev.pos && prev.head == (uint32_t)v && pos >= j->dict_len &&
		    pos + 1 - prev.pos <= PGZIP_DICT_SIZE && load_le64(win + prev.pos - 1) == v) {
			size_t m = MATCH_MIN, from = prev.pos - 1;

			while (pos + m < len && win[from + m] == win[pos + m])
				m++;
			covered += m;
			pos += m;
			continue;
		}
		pos++;
	}
	return covered <= n >> MATCH_COVER_SHIFT;
}

static void out_reserve(struct pgzip_job *j, size_t need)
{
	if (j->out_alloc - j->out_len >= need)
		return;
	j->out_alloc = st_add(j->out_len, need);
	j->out = xrealloc(j->out, j->out_alloc);
}

/*
 * The block as deflate's stored blocks (RFC 1951, 3.2.4): a header byte
 * (BFINAL in bit 0, type 00, padding to the byte boundary), LEN and its
 * complement NLEN, the bytes. The piece before ends on a byte boundary
 * (a sync flush, or stored blocks), and so does this one.
 */
static void store_job(struct pgzip_job *j)
{
	size_t left = j->in_len;
	const unsigned char *p = j->in;

	j->out_len = 0;
	out_reserve(j, j->in_len + 5 * (j->in_len / STORED_MAX + 1));
	while (left) {
		size_t n = left < STORED_MAX ? left : STORED_MAX;
		unsigned char *o = j->out + j->out_len;

		left -= n;
		o[0] = j->last && !left;
		o[1] = (unsigned char)n;
		o[2] = (unsigned char)(n >> 8);
		o[3] = (unsigned char)~n;
		o[4] = (unsigned char)(~n >> 8);
		memcpy(o + 5, p, n);
		p += n;
		j->out_len += n + 5;
	}
}

/*
 * Deflate one block on its own. Everything the output depends on is in the
 * job (input, dictionary, last flag) plus the level, which is what makes
 * the stream the same whatever thread runs it. A sync flush ends each
 * block on a byte boundary so the pieces concatenate into one stream.
 */
static void compress_job(struct deflater *d, struct pgzip_job *j)
{
	int flush = j->last ? Z_FINISH : Z_SYNC_FLUSH, ret;
	z_stream *s = &d->s;

	j->crc = (uint32_t)crc32(0, j->in, (uInt)j->in_len);
	if (looks_incompressible(j, d->table)) {
		store_job(j);
		return;
	}
	if ((ret = deflateReset(s)) != Z_OK)
		zlib_bug("deflateReset", ret);
	if (j->dict_len && (ret = deflateSetDictionary(s, j->dict, (uInt)j->dict_len)) != Z_OK)
		zlib_bug("deflateSetDictionary", ret);
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
	struct deflater *d = deflater_new(z->level);

	pthread_mutex_lock(&z->lock);
	for (;;) {
		struct pgzip_job *j;

		while (!z->stop && z->taken == z->submitted)
			pthread_cond_wait(&z->work, &z->lock);
		if (z->stop)
			break;
		j = &z->ring[z->taken++ % z->ring_size];
		pthread_mutex_unlock(&z->lock);
		compress_job(d, j);
		pthread_mutex_lock(&z->lock);
		j->state = JOB_DONE;
		pthread_cond_broadcast(&z->done);
	}
	pthread_mutex_unlock(&z->lock);
	deflater_free(d);
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
	j->dict = j->in - z->tail_len;
	memcpy(j->dict, z->tail, z->tail_len);
	j->dict_len = z->tail_len;
	/* a non-last block is full, so its tail is a whole window */
	z->tail_len = j->in_len < PGZIP_DICT_SIZE ? j->in_len : PGZIP_DICT_SIZE;
	memcpy(z->tail, j->in + j->in_len - z->tail_len, z->tail_len);
	if (!z->nr_threads) {
		compress_job(z->inline_d, j);
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
	deflater_free(z->inline_d);
	for (size_t i = 0; i < z->ring_size; i++) {
		free(z->ring[i].buf);
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
	if (!z->nr_threads)
		z->inline_d = deflater_new(z->level);
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
		z->ring[i].buf = xmalloc(PGZIP_DICT_SIZE + PGZIP_BLOCK_SIZE);
		z->ring[i].in = z->ring[i].buf + PGZIP_DICT_SIZE;
	}
	start_workers(z, threads > 1 ? threads : 0);
	*out = &z->w;
	return 0;
}
