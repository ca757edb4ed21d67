/*
 * The extractor and its confined path resolution, through their public
 * headers. Layers are built in memory with libarchive's writer; ROOT is a
 * fresh directory per test with a sentinel directory beside it that no
 * test may change. Nothing here needs root.
 */
#include "compat.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "extract.h"
#include "rootfs-path.h"
#include "snapshot.h"
#include "kiln-test.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <zlib.h>

/* ------------------------------------------------------------ fixture */

struct fx {
	char dir[64];	   /* the test's temp dir */
	char root[96];	   /* dir/root */
	char sentinel[96]; /* dir/sentinel */
	int root_fd;
};

static void put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[160];

	snprintf(f->dir, sizeof(f->dir), "/tmp/kiln-test-extract.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	snprintf(f->sentinel, sizeof(f->sentinel), "%s/sentinel", f->dir);
	assert_int_equal(mkdir(f->root, 0755), 0);
	assert_int_equal(mkdir(f->sentinel, 0755), 0);
	snprintf(path, sizeof(path), "%s/file", f->sentinel);
	put_file(path, "precious");
	f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->root_fd >= 0);
	*state = f;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	close(f->root_fd);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* The sentinel holds exactly its one file, unchanged. */
static void sentinel_intact(const struct fx *f)
{
	char path[160], text[32] = { 0 };
	int fd;

	snprintf(path, sizeof(path), "%s/file", f->sentinel);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, text, sizeof(text) - 1), 8);
	close(fd);
	assert_string_equal(text, "precious");
}

/* lstat of a name inside ROOT; -1 when missing. */
static int root_lstat(const struct fx *f, const char *rel, struct stat *st)
{
	return fstatat(f->root_fd, rel, st, AT_SYMLINK_NOFOLLOW);
}

static void root_mkdirs(const struct fx *f, const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "mkdir -p '%s/%s'", f->root, rel);
	assert_int_equal(system(path), 0);
}

/* ----------------------------------------------------- layer building */

/* One tar member: type 'f' file (data), 'd' dir, 'l' symlink (data is
 * the target), 'h' hardlink (data is the target), 'p' FIFO. */
struct member {
	char type;
	const char *name;
	const char *data;
	unsigned mode;
	time_t mtime;
};

#define E(n)                             \
	{                                \
		.type = 'f', .name = (n) \
	}
#define F(n, d)                                       \
	{                                             \
		.type = 'f', .name = (n), .data = (d) \
	}
#define FM(n, d, m, t)                                                           \
	{                                                                        \
		.type = 'f', .name = (n), .data = (d), .mode = (m), .mtime = (t) \
	}
#define D(n)                             \
	{                                \
		.type = 'd', .name = (n) \
	}
#define DM(n, m, t)                                                 \
	{                                                           \
		.type = 'd', .name = (n), .mode = (m), .mtime = (t) \
	}
#define L(n, target)                                       \
	{                                                  \
		.type = 'l', .name = (n), .data = (target) \
	}
#define H(n, target)                                       \
	{                                                  \
		.type = 'h', .name = (n), .data = (target) \
	}
#define PM(n, m, t)                                                 \
	{                                                           \
		.type = 'p', .name = (n), .mode = (m), .mtime = (t) \
	}

struct layer {
	char *buf;
	size_t len;
};

static void add_member(struct archive *a, const struct member *m)
{
	struct archive_entry *e = archive_entry_new();
	size_t n = m->type == 'f' && m->data ? strlen(m->data) : 0;

	archive_entry_set_pathname(e, m->name);
	archive_entry_set_mtime(e, m->mtime ? m->mtime : 1700000000, 0);
	archive_entry_set_perm(e, m->mode ? m->mode : (m->type == 'd' ? 0755 : 0644));
	switch (m->type) {
	case 'd':
		archive_entry_set_filetype(e, AE_IFDIR);
		break;
	case 'l':
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_symlink(e, m->data);
		break;
	case 'h':
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_hardlink(e, m->data);
		break;
	case 'p':
		archive_entry_set_filetype(e, AE_IFIFO);
		break;
	default:
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, (la_int64_t)n);
	}
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (n)
		assert_int_equal(archive_write_data(a, m->data, n), (la_ssize_t)n);
	archive_entry_free(e);
}

/* filter: 0 none, 'g' gzip, 'z' zstd */
static struct layer build_layer(const struct member *m, size_t nr, int filter)
{
	struct layer l = { .buf = malloc(1 << 20) };
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	if (filter == 'g')
		archive_write_add_filter_gzip(a);
	else if (filter == 'z')
		archive_write_add_filter_zstd(a);
	assert_int_equal(archive_write_open_memory(a, l.buf, 1 << 20, &l.len), ARCHIVE_OK);
	for (size_t i = 0; i < nr; i++)
		add_member(a, &m[i]);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return l;
}

struct mem_reader {
	const struct layer *l;
	size_t off;
};

/* Hands out odd-sized pieces, so no code can rely on whole reads. */
static ssize_t mem_read(void *arg, void *buf, size_t len, struct kiln_error *err)
{
	struct mem_reader *r = arg;
	size_t n = r->l->len - r->off;

	(void)err;
	if (n > len)
		n = len;
	if (n > 777)
		n = 777;
	memcpy(buf, r->l->buf + r->off, n);
	r->off += n;
	return (ssize_t)n;
}

/* Apply layers[0..nr) in order; returns the first failure's code and
 * leaves its message in err. */
static int apply_with(struct fx *f, const struct extract_options *o, const struct layer *layers,
		      size_t nr, struct kiln_error *err)
{
	struct extract *x = NULL;
	int ret = extract_new(&x, f->root_fd, o, err);

	for (size_t i = 0; ret == 0 && i < nr; i++) {
		struct mem_reader r = { &layers[i], 0 };

		ret = extract_layer_read(NULL, x, mem_read, &r, NULL, err);
	}
	extract_free(x);
	return ret;
}

static int apply(struct fx *f, const struct layer *layers, size_t nr, struct kiln_error *err)
{
	struct extract_options o = { .no_chown = true };

	return apply_with(f, &o, layers, nr, err);
}

#define LAYER(...)                                          \
	build_layer((const struct member[]){ __VA_ARGS__ }, \
		    sizeof((const struct member[]){ __VA_ARGS__ }) / sizeof(struct member), 0)

static void layers_free(struct layer *l, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		free(l[i].buf);
}

/* ------------------------------------------------------- name rules */

struct clean_case {
	const char *in, *want; /* want NULL: refused */
};

static void test_name_clean_table(void **state)
{
	static const struct clean_case cases[] = {
		{ "a/b", "a/b" },
		{ "/a/b", "a/b" },
		{ "./a/./b/", "a/b" },
		{ "//a//b", "a/b" },
		{ "", "" },
		{ ".", "" },
		{ "./", "" },
		{ "/", "" },
		{ "a/..", "" },
		{ "a/../b", "b" },
		{ "...", "..." },
		{ "..a/b", "..a/b" },
		{ "a/b../c", "a/b../c" },
		{ "../x", NULL },
		{ "..", NULL },
		{ "/../x", NULL },
		{ "./../x", NULL },
		{ "a/../../x", NULL },
		{ "a/b/../../../x", NULL },
	};
	struct kiln_buf out = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		int ret = rootfs_name_clean(&out, cases[i].in, &err);

		if (!cases[i].want) {
			if (ret != KILN_EINVAL)
				fail_msg("'%s' was not refused", cases[i].in);
			assert_non_null(strstr(kiln_error_msg(&err), "climbs above the root"));
		} else if (ret != 0 || strcmp(out.buf, cases[i].want)) {
			fail_msg("'%s': wanted '%s', got '%s'", cases[i].in, cases[i].want,
				 out.buf);
		}
		kiln_error_release(&err);
	}
	kiln_buf_release(&out);
}

static void test_name_clean_too_long(void **state)
{
	char *name = malloc(PATH_MAX + 10);
	struct kiln_buf out = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	memset(name, 'a', PATH_MAX + 9);
	name[PATH_MAX + 9] = '\0';
	assert_int_equal(rootfs_name_clean(&out, name, &err), KILN_EINVAL);
	kiln_error_release(&err);
	kiln_buf_release(&out);
	free(name);
}

/* ------------------------------------------------ confined resolution */

/*
 * ROOT/usr/lib        a directory
 * ROOT/lib -> /usr/lib  absolute: stays inside ROOT
 * ROOT/rel -> usr       relative
 * ROOT/up -> ../../../..  climbs: stops at ROOT
 * ROOT/slash -> /       ROOT itself
 * ROOT/out -> SENTINEL  the sentinel's absolute path: inside ROOT, missing
 * ROOT/loop1 <-> loop2, ROOT/file (not a dir), ROOT/chain -> up/rel
 */
static void make_tree(const struct fx *f)
{
	char path[160];

	root_mkdirs(f, "usr/lib");
	assert_int_equal(symlinkat("/usr/lib", f->root_fd, "lib"), 0);
	assert_int_equal(symlinkat("usr", f->root_fd, "rel"), 0);
	assert_int_equal(symlinkat("../../../..", f->root_fd, "up"), 0);
	assert_int_equal(symlinkat("/", f->root_fd, "slash"), 0);
	assert_int_equal(symlinkat(f->sentinel, f->root_fd, "out"), 0);
	assert_int_equal(symlinkat("loop2", f->root_fd, "loop1"), 0);
	assert_int_equal(symlinkat("loop1", f->root_fd, "loop2"), 0);
	assert_int_equal(symlinkat("up/rel", f->root_fd, "chain"), 0);
	snprintf(path, sizeof(path), "%s/file", f->root);
	put_file(path, "f");
}

struct resolve_case {
	const char *rel;
	const char *want; /* the directory reached, from ROOT; NULL: refused */
	int code;	  /* the refusal's code */
};

static const struct resolve_case resolve_cases[] = {
	{ "", "", 0 },
	{ "usr/lib", "usr/lib", 0 },
	{ "lib", "usr/lib", 0 },
	{ "rel/lib", "usr/lib", 0 },
	{ "up", "", 0 },
	{ "up/usr", "usr", 0 },
	{ "slash/usr/lib", "usr/lib", 0 },
	{ "chain", "usr", 0 },
	{ "chain/lib", "usr/lib", 0 },
	{ "usr/../../..", "", 0 },
	{ "lib/../../../lib", "usr/lib", 0 },
	{ "out", NULL, KILN_ENOENT },
	{ "missing", NULL, KILN_ENOENT },
	{ "file", NULL, KILN_EINVAL },
	{ "loop1", NULL, KILN_EINVAL },
};

static void check_resolve(struct fx *f, bool walk)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct rootfs_dir r;

	make_tree(f);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(resolve_cases); i++) {
		const struct resolve_case *c = &resolve_cases[i];
		struct stat got, want;
		int fd;

		rootfs_dir_init(&r, f->root_fd);
		r.walk_fallback = walk;
		fd = rootfs_open_dir(&r, c->rel, false, &err);
		if (!c->want) {
			if (fd != c->code)
				fail_msg("'%s' (walk %d): wanted code %d, got %d", c->rel, walk,
					 c->code, fd);
			kiln_error_release(&err);
			continue;
		}
		if (fd < 0)
			fail_msg("'%s' (walk %d): %s", c->rel, walk, kiln_error_msg(&err));
		assert_int_equal(fstat(fd, &got), 0);
		assert_int_equal(fstatat(f->root_fd, *c->want ? c->want : ".", &want, 0), 0);
		if (got.st_ino != want.st_ino || got.st_dev != want.st_dev)
			fail_msg("'%s' (walk %d): not at '%s'", c->rel, walk, c->want);
		close(fd);
	}
	sentinel_intact(f);
}

static void test_resolve_openat2(void **state)
{
	check_resolve(*state, false);
}

static void test_resolve_walk(void **state)
{
	check_resolve(*state, true);
}

static void check_create(struct fx *f, bool walk)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct rootfs_dir r;
	struct stat st;
	const char *base;
	int fd;

	make_tree(f);
	rootfs_dir_init(&r, f->root_fd);
	r.walk_fallback = walk;
	/* through links, missing parents are made inside ROOT */
	fd = rootfs_open_parent(&base, &r, "lib/new/deeper/x", true, &err);
	assert_true(fd >= 0);
	assert_string_equal(base, "x");
	close(fd);
	assert_int_equal(root_lstat(f, "usr/lib/new/deeper", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	fd = rootfs_open_parent(&base, &r, "up/made/x", true, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(root_lstat(f, "made", &st), 0);
	/* a link to the sentinel's absolute path makes it inside ROOT */
	fd = rootfs_open_parent(&base, &r, "out/x", true, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(root_lstat(f, f->sentinel + 1, &st), 0);
	/* a file in the way is refused */
	assert_int_equal(rootfs_open_parent(&base, &r, "file/x", true, &err), KILN_EINVAL);
	kiln_error_release(&err);
	sentinel_intact(f);
}

static void test_create_openat2(void **state)
{
	check_create(*state, false);
}

static void test_create_walk(void **state)
{
	check_create(*state, true);
}

/* ----------------------------------------------------- the extractor */

static void test_escape_refused(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	struct layer l = LAYER(F("ok", "fine"), F("../evil", "x"));

	assert_int_equal(apply(f, &l, 1, &err), KILN_EINVAL);
	assert_string_equal(kiln_error_msg(&err),
			    "entry '../evil': name climbs above the root with '..'");
	kiln_error_release(&err);
	sentinel_intact(f);
	layers_free(&l, 1);
}

static void test_symlinks_confined(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	char through[160];
	struct stat st;
	struct layer l[2];

	snprintf(through, sizeof(through), "abs%s", f->sentinel);
	l[0] = LAYER(L("slash", "/"), L("abs", "/"), L("s", f->sentinel), L("f", "/dev/null"),
		     F("slash/evil", "e"));
	l[1] = LAYER(F("s/file", "overwritten?"), F("f", "replaced"), H("h", "s"));
	assert_int_equal(apply(f, l, 2, &err), 0);
	assert_int_equal(root_lstat(f, "evil", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* s/file landed inside ROOT, at the sentinel's path */
	assert_int_equal(root_lstat(f, through + 4, &st), 0);
	assert_int_equal(root_lstat(f, "f", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* a hardlink to a symlink links the symlink, never its target */
	assert_int_equal(root_lstat(f, "h", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	sentinel_intact(f);
	layers_free(l, 2);
}

static void test_hardlinks(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	struct stat a, b;
	struct layer l = LAYER(F("a", "shared"), H("b", "/a"), H("c", "./a"));
	struct layer bad = LAYER(H("x", "/etc/passwd"));

	assert_int_equal(apply(f, &l, 1, &err), 0);
	assert_int_equal(root_lstat(f, "a", &a), 0);
	assert_int_equal(root_lstat(f, "b", &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_nlink, 3);
	assert_int_equal(apply(f, &bad, 1, &err), KILN_EINVAL);
	assert_string_equal(kiln_error_msg(&err),
			    "entry 'x': hardlink target '/etc/passwd' not found in the root");
	kiln_error_release(&err);
	layers_free(&l, 1);
	layers_free(&bad, 1);
}

static void test_whiteouts_two_layers(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	struct stat st;
	struct layer l[2];

	l[0] = LAYER(D("a"), F("a/x", "x"), F("a/y", "y"), D("b"), F("b/z", "z"), D("o"),
		     F("o/old", "o"), D("o/sub"), F("o/sub/old", "o"));
	l[1] = LAYER(E("a/.wh.x"), E(".wh.b"), F("o/keep", "k"), D("o/sub"), E("o/.wh..wh..opq"),
		     F("o/new", "n"), F("n", "same layer"), E(".wh.n"), E(".wh.missing"));
	assert_int_equal(apply(f, l, 2, &err), 0);
	assert_int_equal(root_lstat(f, "a/x", &st), -1);
	assert_int_equal(root_lstat(f, "a/y", &st), 0);
	assert_int_equal(root_lstat(f, "b", &st), -1);
	assert_int_equal(root_lstat(f, "o/old", &st), -1);
	assert_int_equal(root_lstat(f, "o/sub/old", &st), -1); /* under a dir of this layer */
	assert_int_equal(root_lstat(f, "o/sub", &st), 0);
	assert_int_equal(root_lstat(f, "o/keep", &st), 0); /* same layer, before the marker */
	assert_int_equal(root_lstat(f, "o/new", &st), 0);
	assert_int_equal(root_lstat(f, "n", &st), 0); /* whiteouts spare their own layer */
	assert_int_equal(root_lstat(f, "a/.wh.x", &st), -1);
	assert_int_equal(root_lstat(f, "o/.wh..wh..opq", &st), -1);
	layers_free(l, 2);
}

static void test_replace_types(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	struct stat st;
	struct layer l[2];

	l[0] = LAYER(F("f", "file"), D("d"), D("d/in"), F("d/in/x", "x"), D("m"), F("m/lower", "l"),
		     L("ln", "/usr"));
	l[1] = LAYER(D("f"), F("f/under", "u"), F("d", "now a file"), DM("m", 0700, 0),
		     F("m/upper", "u"), D("ln"));
	assert_int_equal(apply(f, l, 2, &err), 0);
	assert_int_equal(root_lstat(f, "f", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(root_lstat(f, "d", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* a directory over a directory merges and takes the new mode */
	assert_int_equal(root_lstat(f, "m/lower", &st), 0);
	assert_int_equal(root_lstat(f, "m", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(root_lstat(f, "ln", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	layers_free(l, 2);
}

static void test_modes_and_times(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	struct stat st;
	struct layer l =
		LAYER(DM("d", 01777, 1600000000), FM("d/s", "suid", 04755, 1600000001),
		      FM("d/g", "sgid", 02711, 1600000002), PM("d/fifo", 0600, 1600000003));

	assert_int_equal(apply(f, &l, 1, &err), 0);
	assert_int_equal(root_lstat(f, "d", &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	assert_int_equal(st.st_mtime, 1600000000); /* set after its contents */
	assert_int_equal(root_lstat(f, "d/s", &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(st.st_mtime, 1600000001);
	assert_int_equal(root_lstat(f, "d/g", &st), 0);
	assert_int_equal(st.st_mode & 07777, 02711);
	assert_int_equal(root_lstat(f, "d/fifo", &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mtime, 1600000003);
	layers_free(&l, 1);
}

static void check_filter(struct fx *f, int filter)
{
	struct kiln_error err = KILN_ERROR_INIT;
	const struct member m[] = { D("d"), F("d/x", "compressed") };
	struct layer l = build_layer(m, 2, filter);
	struct stat st;

	assert_int_equal(apply(f, &l, 1, &err), 0);
	assert_int_equal(root_lstat(f, "d/x", &st), 0);
	assert_int_equal(st.st_size, 10);
	layers_free(&l, 1);
}

static void test_gzip(void **state)
{
	check_filter(*state, 'g');
}

static void test_zstd(void **state)
{
	check_filter(*state, 'z');
}

/* in as one gzip member appended to out (zlib, gzip wrapper). */
static void gzip_append(struct layer *out, const char *in, size_t len)
{
	z_stream z = { 0 };

	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = (unsigned char *)out->buf + out->len;
	z.avail_out = (uInt)((1 << 20) - out->len);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	out->len = (size_t)((char *)z.next_out - out->buf);
	deflateEnd(&z);
}

/* Two gzip members (what `cat a.gz b.gz` makes) and zero padding after
 * them: one tar stream, as gzip -d reads it. */
static void test_gzip_members(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	const struct member m[] = { D("d"), F("d/x", "first"), F("d/y", "second") };
	struct layer tar = build_layer(m, 3, 0);
	struct layer gz = { .buf = calloc(1, 1 << 20) };
	struct stat st;

	gzip_append(&gz, tar.buf, tar.len / 2);
	gzip_append(&gz, tar.buf + tar.len / 2, tar.len - tar.len / 2);
	gz.len += 16; /* calloc'd zeros */
	assert_int_equal(apply(f, &gz, 1, &err), 0);
	assert_int_equal(root_lstat(f, "d/x", &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(root_lstat(f, "d/y", &st), 0);
	assert_int_equal(st.st_size, 6);
	layers_free(&tar, 1);
	layers_free(&gz, 1);
}

/* A wrong CRC-32 in the trailer and a stream cut short both fail the
 * layer, each with its own reason. */
static void test_gzip_damaged(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	const struct member m[] = { F("x", "some content to compress") };
	struct layer l = build_layer(m, 1, 'g');

	l.buf[l.len - 8] ^= 0x55;
	assert_int_equal(apply(f, &l, 1, &err), KILN_EINVAL);
	assert_non_null(strstr(kiln_error_msg(&err), "CRC-32"));
	kiln_error_release(&err);
	l.buf[l.len - 8] ^= 0x55;
	l.len -= 12;
	assert_int_equal(apply(f, &l, 1, &err), KILN_EINVAL);
	assert_non_null(strstr(kiln_error_msg(&err), "truncated"));
	kiln_error_release(&err);
	layers_free(&l, 1);
}

static void test_not_a_layer(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	struct layer l = { .buf = strdup("\xfd"
					 "7zXZ and more") };

	l.len = strlen(l.buf);
	assert_int_equal(apply(f, &l, 1, &err), KILN_EINVAL);
	assert_non_null(strstr(kiln_error_msg(&err), "neither gzip nor zstd"));
	kiln_error_release(&err);
	layers_free(&l, 1);
}

static void test_digest_checked(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	struct layer l = LAYER(F("x", "content"));
	struct extract_options o = { .no_chown = true };
	struct extract_stats st;
	struct kiln_digest good, bad;
	struct extract *x;
	struct mem_reader r = { &l, 0 };

	kiln_digest_of(&good, l.buf, l.len);
	bad = good;
	bad.sha256[0] ^= 1;
	assert_int_equal(extract_new(&x, f->root_fd, &o, &err), 0);
	assert_int_equal(extract_layer_read(&st, x, mem_read, &r, &good, &err), 0);
	assert_int_equal(st.bytes_in, l.len);
	assert_true(kiln_digest_eq(&st.digest, &good));
	r.off = 0;
	assert_int_equal(extract_layer_read(&st, x, mem_read, &r, &bad, &err), KILN_EDIGEST);
	kiln_error_release(&err);
	extract_free(x);
	layers_free(&l, 1);
}

static void test_ignore_list(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	static const char *const ignore[] = { "/kiln", "/var/run" };
	struct extract_options o = { .ignore = ignore, .nr_ignore = 2, .no_chown = true };
	struct stat st;
	struct layer l[2];

	root_mkdirs(f, "kiln/keep");
	root_mkdirs(f, "var/run/keep");
	root_mkdirs(f, "var/lib");
	l[0] = LAYER(F("kiln/evil", "x"), F("var/run/pid", "1"), L("k", "/kiln"),
		     F("k/through", "x"));
	l[1] = LAYER(E(".wh.kiln"), E(".wh.var"));
	assert_int_equal(apply_with(f, &o, l, 2, &err), 0);
	assert_int_equal(root_lstat(f, "kiln/evil", &st), -1);
	assert_int_equal(root_lstat(f, "kiln/through", &st), -1);
	assert_int_equal(root_lstat(f, "var/run/pid", &st), -1);
	assert_int_equal(root_lstat(f, "kiln/keep", &st), 0);
	/* the whiteout of /var spares the ignored /var/run */
	assert_int_equal(root_lstat(f, "var/run/keep", &st), 0);
	assert_int_equal(root_lstat(f, "var/lib", &st), -1);
	layers_free(l, 2);
}

static void test_seeded_snapshot_is_clean(void **state)
{
	struct fx *f = *state;
	struct kiln_error err = KILN_ERROR_INIT;
	struct snapshot_options so = { .mode = SNAPSHOT_FULL };
	struct snapshot_changes c = { 0 };
	struct snapshot *s;
	struct layer l[2];

	l[0] = LAYER(D("etc"), F("etc/a", "a"), F("etc/b", "b"), D("o"), F("o/x", "x"),
		     H("etc/c", "etc/a"), L("etc/l", "a"), F("top", "t"), D("gone"),
		     F("gone/x", "x"));
	l[1] = LAYER(E("etc/.wh.b"), E(".wh.gone"), F("etc/new", "n"),
		     F("implicit/parents/file", "i"), D("o"), E("o/.wh..wh..opq"));
	assert_int_equal(snapshot_new(&s, f->root_fd, &so, &err), 0);
	{
		struct extract_options o = { .seed = s, .no_chown = true };

		assert_int_equal(apply_with(f, &o, l, 2, &err), 0);
	}
	assert_int_equal(snapshot_take(&c, s, &err), 0);
	for (size_t i = 0; i < c.nr; i++)
		fprintf(stderr, "unexpected change: %c %s\n", c.v[i].kind, c.v[i].path);
	assert_int_equal(c.nr, 0);
	snapshot_changes_release(&c);
	snapshot_free(s);
	layers_free(l, 2);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_name_clean_table),
	cmocka_unit_test(test_name_clean_too_long),
	cmocka_unit_test_setup_teardown(test_resolve_openat2, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_resolve_walk, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_create_openat2, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_create_walk, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_escape_refused, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_symlinks_confined, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_hardlinks, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_whiteouts_two_layers, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_replace_types, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_modes_and_times, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gzip, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_zstd, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gzip_members, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_gzip_damaged, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_not_a_layer, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_digest_checked, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_ignore_list, fx_setup, fx_teardown),
	cmocka_unit_test_setup_teardown(test_seeded_snapshot_is_clean, fx_setup, fx_teardown),
};

KILN_TEST_MAIN(tests)
