/*
 * Parallel gzip: one valid member whatever the input size, bytes that do
 * not depend on the thread count or on how writes are split, a fixed
 * header, a correct trailer, and the cgroup CPU limit it sizes itself by.
 */
#include "compat.h"
#include "alloc.h"
#include "buf.h"
#include "cpus.h"
#include "error.h"
#include "fileio.h"
#include "pgzip.h"
#include "stream.h"

#include <sys/stat.h>
#include <zlib.h>

#include "kiln-test.h"

#define OUT_CAP (64u << 20)

/* Text-like data (compressible, with repeats far apart) from a fixed LCG. */
static unsigned char *make_input(size_t len, uint32_t seed)
{
	static const char *const words[] = { "layer ",	"kiln ",  "gzip\n", "tar ", "block ",
					     "sha256 ", "image ", "root/",  "x",    "0123 " };
	unsigned char *p = xmalloc(len + 1);
	uint32_t s = seed;

	for (size_t i = 0; i < len;) {
		const char *w;

		s = s * 1103515245u + 12345u;
		w = words[(s >> 16) % KILN_ARRAY_SIZE(words)];
		for (size_t k = 0; w[k] && i < len; k++)
			p[i++] = (s >> 28) == 7 ? (unsigned char)(s >> 8) : (unsigned char)w[k];
	}
	return p;
}

/* gzip data in pieces of `chunk` bytes (0: all at once). */
static void gzip_buf(struct kiln_buf *out, const void *data, size_t len, unsigned threads,
		     int level, size_t chunk)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct pgzip_options o = { .level = level, .threads = threads };
	struct kiln_writer *sink = kiln_buf_writer_new(out, OUT_CAP, "test output");
	struct kiln_writer *gz = NULL;
	const unsigned char *p = data;

	assert_int_equal(pgzip_writer_new(&gz, sink, &o, &err), 0);
	while (len) {
		size_t n = chunk && chunk < len ? chunk : len;

		assert_int_equal(kiln_writer_write(gz, p, n, &err), 0);
		p += n;
		len -= n;
	}
	assert_int_equal(kiln_writer_close(gz, &err), 0);
	assert_int_equal(gz->state, KILN_WRITER_CLOSED);
	assert_int_equal(sink->state, KILN_WRITER_CLOSED);
	assert_int_equal(sink->bytes, out->len);
	kiln_writer_free(gz);
	kiln_writer_free(sink);
}

/* Inflate a gzip member and require that nothing follows it. */
static void gunzip_buf(struct kiln_buf *out, const struct kiln_buf *in)
{
	z_stream s = { 0 };
	unsigned char chunk[65536];
	int ret;

	assert_int_equal(inflateInit2(&s, 15 + 16), Z_OK);
	s.next_in = (unsigned char *)in->buf;
	s.avail_in = (uInt)in->len;
	do {
		s.next_out = chunk;
		s.avail_out = sizeof(chunk);
		ret = inflate(&s, Z_NO_FLUSH);
		assert_true(ret == Z_OK || ret == Z_STREAM_END);
		kiln_buf_add(out, chunk, sizeof(chunk) - s.avail_out);
	} while (ret != Z_STREAM_END);
	assert_int_equal(s.avail_in, 0); /* a single member, no trailing bytes */
	inflateEnd(&s);
}

static void check_roundtrip(size_t len, unsigned threads)
{
	unsigned char *in = make_input(len, (uint32_t)len);
	struct kiln_buf gz = KILN_BUF_INIT, back = KILN_BUF_INIT;

	gzip_buf(&gz, in, len, threads, -1, 0);
	gunzip_buf(&back, &gz);
	assert_int_equal(back.len, len);
	assert_memory_equal(back.buf, in, len);
	kiln_buf_release(&gz);
	kiln_buf_release(&back);
	free(in);
}

static void test_pgzip_roundtrip_sizes(void **state)
{
	static const size_t sizes[] = { 0,
					1,
					PGZIP_DICT_SIZE - 1,
					PGZIP_BLOCK_SIZE - 1,
					PGZIP_BLOCK_SIZE,
					PGZIP_BLOCK_SIZE + 1,
					3 * PGZIP_BLOCK_SIZE,
					3 * PGZIP_BLOCK_SIZE + 17,
					(1u << 20) + 12345 };
	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(sizes); i++) {
		check_roundtrip(sizes[i], 1);
		check_roundtrip(sizes[i], 3);
	}
}

/* The property cache sharing and --reproducible rest on. */
static void test_pgzip_same_bytes_any_threads_any_chunks(void **state)
{
	size_t len = 5 * PGZIP_BLOCK_SIZE + 999;
	unsigned char *in = make_input(len, 7);
	struct kiln_buf ref = KILN_BUF_INIT;
	static const unsigned threads[] = { 1, 2, 3, 4, 8 };
	static const size_t chunks[] = { 0, 1000, 4096, PGZIP_BLOCK_SIZE + 1 };

	(void)state;
	gzip_buf(&ref, in, len, 1, -1, 0);
	for (size_t t = 0; t < KILN_ARRAY_SIZE(threads); t++) {
		for (size_t c = 0; c < KILN_ARRAY_SIZE(chunks); c++) {
			struct kiln_buf got = KILN_BUF_INIT;

			gzip_buf(&got, in, len, threads[t], -1, chunks[c]);
			assert_int_equal(got.len, ref.len);
			assert_memory_equal(got.buf, ref.buf, ref.len);
			kiln_buf_release(&got);
		}
	}
	kiln_buf_release(&ref);
	free(in);
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void test_pgzip_header_and_trailer(void **state)
{
	size_t len = 2 * PGZIP_BLOCK_SIZE + 5;
	unsigned char *in = make_input(len, 3);
	static const unsigned char want[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255 };
	struct kiln_buf gz = KILN_BUF_INIT;
	const unsigned char *p;

	(void)state;
	gzip_buf(&gz, in, len, 2, 6, 0);
	p = (const unsigned char *)gz.buf;
	assert_memory_equal(p, want, sizeof(want));
	assert_int_equal(get_le32(p + gz.len - 8), (uint32_t)crc32(0, in, (uInt)len));
	assert_int_equal(get_le32(p + gz.len - 4), (uint32_t)len);
	kiln_buf_release(&gz);
	gzip_buf(&gz, in, 10, 1, 9, 0);
	assert_int_equal((unsigned char)gz.buf[8], 2); /* XFL: slowest level */
	kiln_buf_release(&gz);
	gzip_buf(&gz, in, 10, 1, 1, 0);
	assert_int_equal((unsigned char)gz.buf[8], 4); /* XFL: fastest level */
	kiln_buf_release(&gz);
	free(in);
}

/* Priming each block with the previous window keeps the ratio within a
 * hair of a serial zlib stream at the same level. */
static void test_pgzip_ratio_close_to_serial_zlib(void **state)
{
	size_t len = 16 * PGZIP_BLOCK_SIZE;
	unsigned char *in = make_input(len, 11);
	uLongf serial_len = compressBound((uLong)len);
	unsigned char *serial = xmalloc(serial_len);
	struct kiln_buf gz = KILN_BUF_INIT;

	(void)state;
	assert_int_equal(compress2(serial, &serial_len, in, (uLong)len, 6), Z_OK);
	gzip_buf(&gz, in, len, 2, 6, 0);
	assert_true(gz.len < serial_len + serial_len / 100 + 32);
	kiln_buf_release(&gz);
	free(serial);
	free(in);
}

/* Bytes that look random: the high byte of an LCG. */
static unsigned char *make_random(size_t len, uint32_t seed)
{
	unsigned char *p = xmalloc(len + 1);
	uint32_t s = seed;

	for (size_t i = 0; i < len; i++) {
		s = s * 1103515245u + 12345u;
		p[i] = (unsigned char)(s >> 24);
	}
	return p;
}

static size_t gzip_size(const unsigned char *in, size_t len, unsigned threads)
{
	struct kiln_buf gz = KILN_BUF_INIT, back = KILN_BUF_INIT;
	size_t n;

	gzip_buf(&gz, in, len, threads, 6, 0);
	gunzip_buf(&back, &gz);
	assert_int_equal(back.len, len);
	assert_memory_equal(back.buf, in, len);
	n = gz.len;
	kiln_buf_release(&gz);
	kiln_buf_release(&back);
	return n;
}

/* Random bytes are stored, not deflated: stored blocks of the largest
 * size right after the header, a few bytes of framing per 64 KiB, the
 * same bytes whatever the thread count, and the data intact. */
static void test_pgzip_incompressible_stored(void **state)
{
	size_t len = 6 * PGZIP_BLOCK_SIZE + 4321;
	unsigned char *in = make_random(len, 1);
	struct kiln_buf one = KILN_BUF_INIT, three = KILN_BUF_INIT;
	const unsigned char *p;

	(void)state;
	assert_true(gzip_size(in, len, 1) <= len + len / 10000 + 64);
	gzip_buf(&one, in, len, 1, 9, 4096);
	gzip_buf(&three, in, len, 3, 9, 0);
	assert_int_equal(one.len, three.len);
	assert_memory_equal(one.buf, three.buf, one.len);
	p = (const unsigned char *)one.buf + 10;
	assert_int_equal(p[0], 0); /* not final, stored */
	assert_int_equal(p[1] | p[2] << 8, 65535);
	assert_int_equal(p[3] | p[4] << 8, 0);
	assert_memory_equal(p + 5, in, 65535);
	kiln_buf_release(&one);
	kiln_buf_release(&three);
	free(in);
}

/* What the test must not mistake for random: bytes that look random one
 * by one but repeat (LZ77 matches), and bytes with a skewed histogram
 * (Huffman coding), each alone and after random blocks. */
static void test_pgzip_compressible_not_stored(void **state)
{
	size_t len = 8 * PGZIP_BLOCK_SIZE, unit = 8 * 1024;
	unsigned char *repeats = make_random(len, 2), *hex = make_random(len, 3);
	unsigned char *noise = make_random(len, 4), *mixed = xmalloc(2 * len);

	(void)state;
	for (size_t i = unit; i < len; i++)
		repeats[i] = repeats[i % unit];
	for (size_t i = 0; i < len; i++)
		hex[i] = (unsigned char)"0123456789abcdef"[hex[i] & 15];
	assert_true(gzip_size(repeats, len, 2) < len / 10);
	assert_true(gzip_size(hex, len, 2) < len * 6 / 10);
	/* random blocks, then the repeats: each block is judged alone */
	memcpy(mixed, noise, len);
	memcpy(mixed + len, repeats, len);
	assert_true(gzip_size(mixed, 2 * len, 3) < len + len / 8);
	free(noise);
	free(repeats);
	free(hex);
	free(mixed);
}

static void test_pgzip_bad_level(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct pgzip_options o = { .level = 10, .threads = 1 };
	struct kiln_writer *gz = NULL;

	(void)state;
	assert_int_equal(pgzip_writer_new(&gz, NULL, &o, &err), KILN_EINVAL);
	assert_null(gz);
	assert_non_null(strstr(kiln_error_msg(&err), "compression level 10"));
	kiln_error_release(&err);
}

/* A failing sink fails the writer and leaves it safe to free. */
static void test_pgzip_sink_failure(void **state)
{
	size_t len = 8 * PGZIP_BLOCK_SIZE;
	unsigned char *in = make_input(len, 5);
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf out = KILN_BUF_INIT;
	struct pgzip_options o = { .threads = 3 };
	struct kiln_writer *sink = kiln_buf_writer_new(&out, 1000, "small sink");
	struct kiln_writer *gz = NULL;
	int ret;

	(void)state;
	assert_int_equal(pgzip_writer_new(&gz, sink, &o, &err), 0);
	ret = kiln_writer_write(gz, in, len, &err);
	if (ret == 0)
		ret = kiln_writer_close(gz, &err);
	assert_int_equal(ret, KILN_EINVAL);
	assert_int_equal(gz->state, KILN_WRITER_FAILED);
	assert_non_null(strstr(kiln_error_msg(&err), "small sink"));
	kiln_writer_free(gz);
	kiln_writer_free(sink);
	kiln_buf_release(&out);
	kiln_error_release(&err);
	free(in);
}

static void put_file(const char *dir, const char *name, const char *text)
{
	struct kiln_error err = KILN_ERROR_INIT;
	char *path = xasprintf("%s/%s", dir, name);
	char *cmd = xasprintf("mkdir -p '%s'", dir);

	assert_int_equal(system(cmd), 0);
	assert_int_equal(kiln_file_write_atomic(path, text, strlen(text), 0644, &err), 0);
	free(cmd);
	free(path);
}

static void test_cpus_cgroup_limits(void **state)
{
	char tmpl[] = "/tmp/kiln-cgroup.XXXXXX";
	char *root = mkdtemp(tmpl), *d, *cmd;

	(void)state;
	assert_non_null(root);
	/* v2: the tightest of the cgroup and its ancestors, rounded up */
	d = xasprintf("%s/a", root);
	put_file(d, "cpu.max", "150000 100000\n");
	free(d);
	d = xasprintf("%s/a/b", root);
	put_file(d, "cpu.max", "max 100000\n");
	free(d);
	assert_int_equal(kiln_cgroup_cpu_limit(root, "0::/a/b\n"), 2);
	assert_int_equal(kiln_cgroup_cpu_limit(root, "0::/elsewhere\n"), 0);
	/* v1, cpu and cpuacct co-mounted; a host path absent from the
	 * container's mount falls back to the mount root */
	d = xasprintf("%s/cpu,cpuacct", root);
	put_file(d, "cpu.cfs_quota_us", "300000\n");
	put_file(d, "cpu.cfs_period_us", "100000\n");
	free(d);
	assert_int_equal(kiln_cgroup_cpu_limit(root, "4:memory:/x\n3:cpu,cpuacct:/kubepods/p1\n"),
			 3);
	d = xasprintf("%s/cpu,cpuacct", root);
	put_file(d, "cpu.cfs_quota_us", "-1\n");
	free(d);
	assert_int_equal(kiln_cgroup_cpu_limit(root, "3:cpu,cpuacct:/\n"), 0);
	assert_int_equal(kiln_cgroup_cpu_limit(root, "garbage\n\n1:cpuset:/\n"), 0);
	assert_true(kiln_cpus_available() >= 1);
	cmd = xasprintf("rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_pgzip_roundtrip_sizes),
	cmocka_unit_test(test_pgzip_same_bytes_any_threads_any_chunks),
	cmocka_unit_test(test_pgzip_header_and_trailer),
	cmocka_unit_test(test_pgzip_ratio_close_to_serial_zlib),
	cmocka_unit_test(test_pgzip_incompressible_stored),
	cmocka_unit_test(test_pgzip_compressible_not_stored),
	cmocka_unit_test(test_pgzip_bad_level),
	cmocka_unit_test(test_pgzip_sink_failure),
	cmocka_unit_test(test_cpus_cgroup_limits),
};

KILN_TEST_MAIN(tests)
