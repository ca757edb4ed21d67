/*
 * bench-layer: gzip throughput of a layer of 1 GiB of changed files, kiln's
 * parallel writer next to single-threaded zlib at the same level, measured
 * in the same run on the same tree (and ISA-L's igzip when built with it).
 * Every variant streams the tar from the tree (page cache warm) through
 * the compressor into a sha256, so the ratio compares the compression
 * stage; the tar-only time shows what reading costs.
 *
 * It also checks what cache sharing relies on: the layer's bytes are the
 * same with 1 thread, the default, 4 threads, twice, and through
 * layer_write_file(). A difference fails the run (exit 1); the speed-up is
 * reported against the target (1.6x on 2 cores), not enforced,
 * since CI machines are noisy.
 *
 * Usage: bench-layer [--quick] [--dir DIR] [--level N]
 *   --quick   a tenth of the size (CI)
 *   --dir     where to build the tree (default $TMPDIR or /tmp)
 */
#include "compat.h"
#include "alloc.h"
#include "buf.h"
#include "cpus.h"
#include "digest.h"
#include "error.h"
#include "fileio.h"
#include "layer.h"
#include "pgzip.h"
#include "snapshot.h"
#include "stream.h"
#include "strvec.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>
#ifdef KILN_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#define FILES_PER_D 256
#define CHUNK	    65536
#define TARGET	    1.6

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds of every thread of the process: what a CPU quota charges. */
static double cpu_s(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static KILN_NORETURN void die(const char *what, const struct kiln_error *err)
{
	fprintf(stderr, "bench-layer: %s: %s\n", what, err ? kiln_error_msg(err) : strerror(errno));
	exit(1);
}

/* ------------------------------------------------------------- the tree */

/*
 * The content: real files, copied from /usr (libraries, binaries, text,
 * already-compressed data) in the order a walk of /usr meets them, until
 * the tree holds the size asked for. Synthetic data would either flatter
 * or punish deflate; a layer is mostly files like these.
 */
static struct kiln_strvec sources; /* nftw's callback takes no context */
static uint64_t sources_bytes, sources_want;

static int add_source(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type != FTW_F || !S_ISREG(st->st_mode) || st->st_size <= 0 ||
	    st->st_size > (64 << 20) || access(path, R_OK) < 0)
		return 0;
	kiln_strvec_push(&sources, path);
	sources_bytes += (uint64_t)st->st_size;
	return sources_bytes >= sources_want; /* non-zero stops the walk */
}

static uint64_t copy_file(const char *dst, const char *src, unsigned char *buf)
{
	struct kiln_error err = KILN_ERROR_INIT;
	int in = open(src, O_RDONLY | O_CLOEXEC), out;
	uint64_t total = 0;
	ssize_t n;

	if (in < 0)
		return 0;
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		die(dst, NULL);
	while ((n = read(in, buf, CHUNK)) > 0) {
		if (kiln_write_all(out, buf, (size_t)n, dst, &err) < 0)
			die("write", &err);
		total += (uint64_t)n;
	}
	close(in);
	close(out);
	return total;
}

static void change_add(struct snapshot_changes *c, const char *path)
{
	c->v = xreallocarray(c->v, c->nr + 1, sizeof(*c->v));
	c->v[c->nr++] = (struct snapshot_change){ .kind = 'A', .path = xstrdup(path) };
}

/* Copies of /usr files totalling at least want bytes, FILES_PER_D to a
 * directory, and the change set that adds them all (sorted, as a
 * snapshot gives it). */
static void make_tree(struct snapshot_changes *c, const char *root, uint64_t want)
{
	unsigned char *buf = xmalloc(CHUNK);
	uint64_t total = 0;
	char path[4096];

	sources_want = want;
	nftw("/usr", add_source, 64, FTW_PHYS);
	if (!sources.nr)
		die("no readable files under /usr", NULL);
	for (size_t i = 0; total < want; i++) {
		if (i % FILES_PER_D == 0) {
			snprintf(path, sizeof(path), "%s/d%04zu", root, i / FILES_PER_D);
			if (mkdir(path, 0755) < 0)
				die(path, NULL);
			change_add(c, path + strlen(root));
		}
		snprintf(path, sizeof(path), "%s/d%04zu/f%06zu", root, i / FILES_PER_D, i);
		total += copy_file(path, sources.v[i % sources.nr], buf);
		change_add(c, path + strlen(root));
	}
	kiln_strvec_clear(&sources);
	free(buf);
}

/* ------------------------------------------------------------- writers */

static int null_write(struct kiln_writer *w, const void *d, size_t n, struct kiln_error *e)
{
	(void)w, (void)d, (void)n, (void)e;
	return 0;
}

static void plain_free(struct kiln_writer *w)
{
	free(w);
}

static const struct kiln_writer_ops null_ops = { .name = "null",
						 .write = null_write,
						 .free = plain_free };

static struct kiln_writer *null_writer_new(void)
{
	struct kiln_writer *w = xcalloc(1, sizeof(*w));

	kiln_writer_init(w, &null_ops, NULL);
	return w;
}

/* Single-threaded zlib, the way a serial gzip writer works. */
struct zlib_writer {
	struct kiln_writer w;
	z_stream s;
	unsigned char out[CHUNK];
};

static int zlib_pump(struct zlib_writer *z, int flush, struct kiln_error *err)
{
	int ret;

	do {
		z->s.next_out = z->out;
		z->s.avail_out = sizeof(z->out);
		ret = deflate(&z->s, flush);
		if (kiln_writer_write(z->w.next, z->out, sizeof(z->out) - z->s.avail_out, err) < 0)
			return -1;
	} while (z->s.avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
	return 0;
}

static int zlib_write(struct kiln_writer *w, const void *d, size_t n, struct kiln_error *err)
{
	struct zlib_writer *z = (struct zlib_writer *)w;

	z->s.next_in = (unsigned char *)d;
	z->s.avail_in = (uInt)n;
	return zlib_pump(z, Z_NO_FLUSH, err);
}

static int zlib_close(struct kiln_writer *w, struct kiln_error *err)
{
	return zlib_pump((struct zlib_writer *)w, Z_FINISH, err);
}

static void zlib_free(struct kiln_writer *w)
{
	deflateEnd(&((struct zlib_writer *)w)->s);
	free(w);
}

static const struct kiln_writer_ops zlib_ops = {
	.name = "zlib", .write = zlib_write, .close = zlib_close, .free = zlib_free
};

static struct kiln_writer *zlib_writer_new(struct kiln_writer *next, int level)
{
	struct zlib_writer *z = xcalloc(1, sizeof(*z));

	kiln_writer_init(&z->w, &zlib_ops, next);
	if (deflateInit2(&z->s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		die("deflateInit2", NULL);
	return &z->w;
}

#ifdef KILN_HAVE_ISAL
struct isal_writer {
	struct kiln_writer w;
	struct isal_zstream s;
	unsigned char *level_buf;
	unsigned char out[CHUNK];
};

static int isal_pump(struct isal_writer *z, bool end, struct kiln_error *err)
{
	z->s.end_of_stream = end;
	do {
		z->s.next_out = z->out;
		z->s.avail_out = sizeof(z->out);
		if (isal_deflate(&z->s) != COMP_OK)
			die("isal_deflate", NULL);
		if (kiln_writer_write(z->w.next, z->out, sizeof(z->out) - z->s.avail_out, err) < 0)
			return -1;
	} while (z->s.avail_out == 0 || (end && z->s.internal_state.state != ZSTATE_END));
	return 0;
}

static int isal_write(struct kiln_writer *w, const void *d, size_t n, struct kiln_error *err)
{
	struct isal_writer *z = (struct isal_writer *)w;

	z->s.next_in = (uint8_t *)d;
	z->s.avail_in = (uint32_t)n;
	return isal_pump(z, false, err);
}

static int isal_close(struct kiln_writer *w, struct kiln_error *err)
{
	return isal_pump((struct isal_writer *)w, true, err);
}

static void isal_free(struct kiln_writer *w)
{
	free(((struct isal_writer *)w)->level_buf);
	free(w);
}

static const struct kiln_writer_ops isal_ops = {
	.name = "igzip", .write = isal_write, .close = isal_close, .free = isal_free
};

static struct kiln_writer *isal_writer_new(struct kiln_writer *next, unsigned level)
{
	struct isal_writer *z = xcalloc(1, sizeof(*z));
	static const uint32_t sizes[] = { ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT,
					  ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT };

	kiln_writer_init(&z->w, &isal_ops, next);
	isal_deflate_init(&z->s);
	z->s.gzip_flag = IGZIP_GZIP;
	z->s.level = level;
	z->s.level_buf_size = sizes[level];
	z->level_buf = xmalloc(sizes[level]);
	z->s.level_buf = z->level_buf;
	return &z->w;
}
#endif

/* ---------------------------------------------------------------- runs */

struct bench {
	int root_fd;
	struct snapshot_changes changes;
	int level;
	uint64_t tar_bytes;
	double zlib_s;
};

enum variant { V_TAR, V_ZLIB, V_PGZIP, V_ISAL1, V_ISAL3 };

struct result {
	double secs, cpu;
	uint64_t out_bytes;
	struct kiln_digest digest;
};

static struct kiln_writer *compressor(enum variant v, struct kiln_writer *next, int level,
				      unsigned threads)
{
	struct pgzip_options o = { .level = level, .threads = threads };
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_writer *w = NULL;

	switch (v) {
	case V_TAR:
		return NULL;
	case V_ZLIB:
		return zlib_writer_new(next, level);
#ifdef KILN_HAVE_ISAL
	case V_ISAL1:
		return isal_writer_new(next, 1);
	case V_ISAL3:
		return isal_writer_new(next, 3);
#endif
	default:
		break;
	}
	if (pgzip_writer_new(&w, next, &o, &err) < 0)
		die("pgzip", &err);
	return w;
}

/* tar -> [compressor] -> sha256 -> null */
static struct result run(struct bench *b, enum variant v, unsigned threads)
{
	struct layer_options lo = { .gzip = { .level = b->level } };
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_writer *sink = null_writer_new(), *sum = kiln_sha256_writer_new(sink);
	struct kiln_writer *comp = compressor(v, sum, b->level, threads);
	struct kiln_writer *head = comp ? comp : sum;
	struct result r;
	double t0 = now_s(), c0 = cpu_s();

	if (layer_write_tar(head, b->root_fd, &b->changes, &lo, &err) < 0 ||
	    kiln_writer_close(head, &err) < 0)
		die("layer", &err);
	r.secs = now_s() - t0;
	r.cpu = cpu_s() - c0;
	r.out_bytes = sum->bytes;
	kiln_sha256_writer_digest(&r.digest, sum);
	if (v == V_TAR)
		b->tar_bytes = head->bytes;
	kiln_writer_free(comp);
	kiln_writer_free(sum);
	kiln_writer_free(sink);
	return r;
}

static void report(const struct bench *b, const char *name, const struct result *r)
{
	double mb = (double)b->tar_bytes / (1 << 20);

	printf("  %-32s %6.2f s (cpu %6.2f s) %7.1f MiB/s  out %6.1f MiB (%.2fx)", name, r->secs,
	       r->cpu, mb / r->secs, (double)r->out_bytes / (1 << 20),
	       (double)b->tar_bytes / (double)r->out_bytes);
	if (b->zlib_s > 0)
		printf("  speed %.2fx zlib", b->zlib_s / r->secs);
	printf("\n");
}

static bool same(const char *what, const struct result *a, const struct result *b)
{
	char x[KILN_DIGEST_STR_SIZE], y[KILN_DIGEST_STR_SIZE];

	if (kiln_digest_eq(&a->digest, &b->digest))
		return true;
	kiln_digest_format(x, &a->digest);
	kiln_digest_format(y, &b->digest);
	fprintf(stderr, "bench-layer: FAIL: %s: %s != %s\n", what, x, y);
	return false;
}

/* layer_write_file end to end: the same digest as the streamed runs. */
static struct result run_file(struct bench *b, const char *dir)
{
	struct layer_options lo = { .gzip = { .level = b->level } };
	struct kiln_error err = KILN_ERROR_INIT;
	struct layer_info info;
	char *path = xasprintf("%s/layer.tar.gz", dir);
	struct result r;
	double t0 = now_s(), c0 = cpu_s();

	if (layer_write_file(&info, b->root_fd, &b->changes, path, &lo, &err) != 1)
		die("layer_write_file", &err);
	r.secs = now_s() - t0;
	r.cpu = cpu_s() - c0;
	r.out_bytes = info.size;
	r.digest = info.digest;
	unlink(path);
	free(path);
	return r;
}

static int measure(struct bench *b, const char *dir)
{
	unsigned cpus = kiln_cpus_available();
	struct result tar, zl, par, one, four, again, file;
	char name[64];
	bool ok = true;

	run(b, V_TAR, 0); /* warm the page cache */
	tar = run(b, V_TAR, 0);
	printf("tar stream %.1f MiB, level %d, %u CPUs available\n",
	       (double)b->tar_bytes / (1 << 20), b->level, cpus);
	report(b, "tar only (read + sha256)", &tar);
	zl = run(b, V_ZLIB, 0);
	report(b, "zlib, single thread", &zl);
	b->zlib_s = zl.secs;
	par = run(b, V_PGZIP, 0);
	snprintf(name, sizeof(name), "kiln pgzip, %u threads", cpus);
	report(b, name, &par);
	one = run(b, V_PGZIP, 1);
	report(b, "kiln pgzip, 1 thread", &one);
	four = run(b, V_PGZIP, 4);
	report(b, "kiln pgzip, 4 threads", &four);
	again = run(b, V_PGZIP, 0);
	file = run_file(b, dir);
	report(b, "layer_write_file (all, to disk)", &file);
#ifdef KILN_HAVE_ISAL
	{
		struct result i1 = run(b, V_ISAL1, 0), i3 = run(b, V_ISAL3, 0);

		report(b, "ISA-L igzip level 1, single", &i1);
		report(b, "ISA-L igzip level 3, single", &i3);
	}
#endif
	ok &= same("1 thread vs default", &one, &par);
	ok &= same("4 threads vs default", &four, &par);
	ok &= same("second run", &again, &par);
	ok &= same("layer_write_file vs stream", &file, &par);
	printf("bytes identical across 1/%u/4 threads, runs, file: %s\n", cpus, ok ? "yes" : "NO");
	printf("speed-up over zlib: %.2fx (target %.1fx on 2 cores: %s)\n", zl.secs / par.secs,
	       TARGET, zl.secs / par.secs >= TARGET ? "met" : "not met");
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct bench b = { .level = PGZIP_DEFAULT_LEVEL };
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	uint64_t size = UINT64_C(1) << 30;
	char *dir, *root, *cmd;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0); /* progress as it comes, under ctest too */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			size /= 10;
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			base = argv[++i];
		else if (!strcmp(argv[i], "--level") && i + 1 < argc)
			b.level = (int)strtol(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: bench-layer [--quick] [--dir DIR] [--level N]\n");
			return 2;
		}
	}
	dir = xasprintf("%s/kiln-bench-layer.XXXXXX", base);
	if (!mkdtemp(dir))
		die(dir, NULL);
	root = xasprintf("%s/root", dir);
	if (mkdir(root, 0755) < 0 || (b.root_fd = open(root, O_RDONLY | O_DIRECTORY)) < 0)
		die(root, NULL);
	make_tree(&b.changes, root, size);
	ret = measure(&b, dir);
	close(b.root_fd);
	snapshot_changes_release(&b.changes);
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		ret = 1;
	free(cmd);
	free(root);
	free(dir);
	return ret;
}
