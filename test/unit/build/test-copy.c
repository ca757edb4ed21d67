/*
 * COPY and ADD through copy.h: a temporary context and ROOT per test, with
 * an "outside" directory beside them that no test may change. Runs as
 * root (owners are checked). ADD of a URL is left to the integration
 * tests, which have an HTTP server.
 */
#include "compat.h"
#include "copy.h"
#include "dockerignore.h"
#include "error.h"
#include "kiln-test.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>

struct fx {
	char dir[64];
	char ctx[96], root[96], outside[96];
	int ctx_fd, root_fd;
	struct kiln_error err;
};

static struct fx *F;

static void pathf(char *out, const char *base, const char *rel)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", base, rel);

	assert_true(n > 0 && n < PATH_MAX);
}

static void put(const char *base, const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	int fd;

	pathf(p, base, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void mkd(const char *base, const char *rel, mode_t mode)
{
	char p[PATH_MAX];

	pathf(p, base, rel);
	assert_int_equal(mkdir(p, mode), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void lnk(const char *base, const char *rel, const char *target)
{
	char p[PATH_MAX];

	pathf(p, base, rel);
	assert_int_equal(symlink(target, p), 0);
}

/* The file's content, or "" when missing. */
static char *slurp(const char *base, const char *rel)
{
	static char buf[4096];
	char p[PATH_MAX];
	int fd;
	ssize_t n;

	pathf(p, base, rel);
	buf[0] = '\0';
	fd = open(p, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

static bool exists(const char *base, const char *rel, struct stat *st)
{
	char p[PATH_MAX];
	struct stat tmp;

	pathf(p, base, rel);
	return lstat(p, st ? st : &tmp) == 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/kiln-test-copy.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ctx, sizeof(f->ctx), "%s/ctx", f->dir);
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->dir);
	assert_int_equal(mkdir(f->ctx, 0755), 0);
	assert_int_equal(mkdir(f->root, 0755), 0);
	assert_int_equal(mkdir(f->outside, 0755), 0);
	put(f->outside, "secret", "precious", 0600);
	f->ctx_fd = open(f->ctx, O_PATH | O_DIRECTORY | O_CLOEXEC);
	f->root_fd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->ctx_fd >= 0 && f->root_fd >= 0);
	umask(022);
	F = f;
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

/* The outside directory holds exactly what setup put there. */
static void outside_untouched(void)
{
	DIR *d = opendir(F->outside);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	assert_int_equal(n, 1);
	assert_string_equal(slurp(F->outside, "secret"), "precious");
}

static int teardown(void **state)
{
	struct fx *f = *state;

	outside_untouched();
	close(f->ctx_fd);
	close(f->root_fd);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	kiln_error_release(&f->err);
	free(f);
	return 0;
}

static struct copy_spec spec(const char *const *srcs, size_t n, const char *dest)
{
	struct copy_spec s = {
		.src_fd = F->ctx_fd,
		.src_what = "build context",
		.srcs = srcs,
		.nr_srcs = n,
		.dest = dest,
		.root_fd = F->root_fd,
	};
	return s;
}

static int run(const struct copy_spec *s)
{
	kiln_error_release(&F->err);
	return copy_run(s, &F->err);
}

static void expect_error(const struct copy_spec *s, const char *part)
{
	assert_true(run(s) < 0);
	if (!strstr(kiln_error_msg(&F->err), part))
		fail_msg("error '%s' lacks '%s'", kiln_error_msg(&F->err), part);
}

#define SRCS(...)	((const char *const[]){ __VA_ARGS__ })
#define NSRCS(...)	(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))
#define SPEC(dest, ...) spec(SRCS(__VA_ARGS__), NSRCS(__VA_ARGS__), dest)

/* ------------------------------------------------------------ files */

static void single_file(void **state)
{
	struct copy_spec s = SPEC("/a.txt", "a.txt");
	struct timespec t[2] = { { 1000000, 0 }, { 1234567, 0 } };
	char p[PATH_MAX];
	struct stat st;

	(void)state;
	put(F->ctx, "a.txt", "hello", 0640);
	pathf(p, F->ctx, "a.txt");
	assert_int_equal(chown(p, 1000, 1000), 0);
	assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "a.txt"), "hello");
	assert_true(exists(F->root, "a.txt", &st));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(st.st_mtim.tv_sec, 1234567);
}

/* A directory of many files (written by the copy pool's threads): every
 * file arrives with its mode, and the directory keeps its own mode and
 * time, set only once nothing more is created in it. */
static void many_files_in_dirs(void **state)
{
	struct copy_spec s = SPEC("/out/", "tree");
	struct timespec t[2] = { { 1000000, 0 }, { 1234567, 0 } };
	char rel[64], p[PATH_MAX];
	struct stat st;

	(void)state;
	mkd(F->ctx, "tree", 0755);
	mkd(F->ctx, "tree/sub", 0750);
	for (int i = 0; i < 300; i++) {
		snprintf(rel, sizeof(rel), "tree/sub/f%d", i);
		put(F->ctx, rel, rel, i % 2 ? 0600 : 0644);
	}
	pathf(p, F->ctx, "tree/sub");
	assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
	assert_int_equal(run(&s), 0);
	for (int i = 0; i < 300; i++) {
		char want[64];

		snprintf(rel, sizeof(rel), "out/sub/f%d", i);
		snprintf(want, sizeof(want), "tree/sub/f%d", i);
		assert_true(exists(F->root, rel, &st));
		assert_int_equal(st.st_mode & 07777, i % 2 ? 0600 : 0644);
		assert_string_equal(slurp(F->root, rel), want);
	}
	assert_true(exists(F->root, "out/sub", &st));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_mtim.tv_sec, 1234567);
}

static void file_to_dir(void **state)
{
	struct copy_spec s = SPEC("/d/", "/a.txt");
	struct stat st;

	(void)state;
	put(F->ctx, "a.txt", "hello", 0644);
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "d/a.txt"), "hello");
	assert_true(exists(F->root, "d", &st) && S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
}

static void file_renamed(void **state)
{
	struct copy_spec s = SPEC("/x/b.txt", "./sub/../a.txt");

	(void)state;
	put(F->ctx, "a.txt", "hello", 0644);
	mkd(F->ctx, "sub", 0755);
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "x/b.txt"), "hello");
}

static void file_replaces_file_and_symlink(void **state)
{
	struct copy_spec s = SPEC("/etc/conf", "a.txt");

	(void)state;
	put(F->ctx, "a.txt", "new", 0644);
	mkd(F->root, "etc", 0755);
	lnk(F->root, "etc/conf", "/../../outside/secret");
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "etc/conf"), "new");
	put(F->ctx, "a.txt", "newer", 0644);
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "etc/conf"), "newer");
}

static void dir_contents(void **state)
{
	struct copy_spec s = SPEC("/app", "src");
	struct stat st;

	(void)state;
	mkd(F->ctx, "src", 0750);
	mkd(F->ctx, "src/sub", 0700);
	put(F->ctx, "src/f", "f", 0644);
	put(F->ctx, "src/sub/g", "g", 0755);
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "app/f"), "f");
	assert_string_equal(slurp(F->root, "app/sub/g"), "g");
	assert_false(exists(F->root, "app/src", NULL));
	/* the destination made for the contents is 0755; below it, the
	 * source's modes */
	assert_true(exists(F->root, "app", &st));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_true(exists(F->root, "app/sub", &st));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_true(exists(F->root, "app/sub/g", &st));
	assert_int_equal(st.st_mode & 07777, 0755);
}

static void whole_context(void **state)
{
	struct copy_spec s = SPEC("/ctx/", ".");

	(void)state;
	put(F->ctx, "a", "a", 0644);
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "ctx/a"), "a");
}

/* ------------------------------------------------------------ wildcards */

static void wildcard(void **state)
{
	struct copy_spec s = SPEC("/w/", "*.txt", "d?r/[a-b]*");

	(void)state;
	put(F->ctx, "a.txt", "a", 0644);
	put(F->ctx, "b.txt", "b", 0644);
	put(F->ctx, "c.md", "c", 0644);
	mkd(F->ctx, "dir", 0755);
	put(F->ctx, "dir/alpha", "alpha", 0644);
	put(F->ctx, "dir/zeta", "zeta", 0644);
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "w/a.txt"), "a");
	assert_string_equal(slurp(F->root, "w/b.txt"), "b");
	assert_string_equal(slurp(F->root, "w/alpha"), "alpha");
	assert_false(exists(F->root, "w/c.md", NULL));
	assert_false(exists(F->root, "w/zeta", NULL));
}

static void wildcard_one_match_to_file(void **state)
{
	struct copy_spec s = SPEC("/app.jar", "*.jar");

	(void)state;
	put(F->ctx, "x-1.0.jar", "jar", 0644);
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "app.jar"), "jar");
}

static void wildcard_no_match(void **state)
{
	struct copy_spec s = SPEC("/w/", "*.nothing");

	(void)state;
	put(F->ctx, "a.txt", "a", 0644);
	expect_error(&s, "no source files were specified");
}

static void missing_source(void **state)
{
	struct copy_spec s = SPEC("/w/", "nope.txt");

	(void)state;
	expect_error(&s, "'nope.txt': no such file or directory in the build context");
}

static void several_to_file(void **state)
{
	struct copy_spec s = SPEC("/dest", "a.txt", "b.txt");

	(void)state;
	put(F->ctx, "a.txt", "a", 0644);
	put(F->ctx, "b.txt", "b", 0644);
	expect_error(&s, "must be a directory");
	assert_false(exists(F->root, "dest", NULL));
}

static void several_to_existing_dir(void **state)
{
	struct copy_spec s = SPEC("/dest", "a.txt", "b.txt");

	(void)state;
	put(F->ctx, "a.txt", "a", 0644);
	put(F->ctx, "b.txt", "b", 0644);
	mkd(F->root, "dest", 0755);
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "dest/b.txt"), "b");
}

/* ------------------------------------------------------------ confinement */

static void escape_refused(void **state)
{
	struct copy_spec s = SPEC("/x", "../outside/secret");

	(void)state;
	expect_error(&s, "source is outside the build context");
	assert_false(exists(F->root, "x", NULL));
}

static void symlink_source_confined(void **state)
{
	char target[PATH_MAX];
	struct copy_spec abs = SPEC("/x", "abs");
	struct copy_spec relative = SPEC("/y", "rel");
	struct copy_spec inside = SPEC("/z", "good");

	(void)state;
	/* both point outside; resolved inside the context they name
	 * nothing, so nothing of the host is read */
	pathf(target, F->outside, "secret");
	lnk(F->ctx, "abs", target);
	lnk(F->ctx, "rel", "../../outside/secret");
	expect_error(&abs, "no such file");
	expect_error(&relative, "no such file");
	assert_false(exists(F->root, "x", NULL));
	assert_false(exists(F->root, "y", NULL));
	/* a source that is a symlink inside the context is followed */
	put(F->ctx, "real", "real", 0644);
	lnk(F->ctx, "good", "/real");
	assert_int_equal(run(&inside), 0);
	assert_string_equal(slurp(F->root, "z"), "real");
}

static void symlink_copied_as_symlink(void **state)
{
	struct copy_spec s = SPEC("/d/", "dir");
	char buf[PATH_MAX], p[PATH_MAX];
	ssize_t n;

	(void)state;
	mkd(F->ctx, "dir", 0755);
	lnk(F->ctx, "dir/link", "../somewhere/else");
	assert_int_equal(run(&s), 0);
	pathf(p, F->root, "d/link");
	n = readlink(p, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "../somewhere/else");
}

static void root_symlink_followed_inside(void **state)
{
	struct copy_spec s = SPEC("/evil/", "a.txt");
	struct copy_spec out = SPEC("/out/", "a.txt");
	char name[64], p[PATH_MAX];

	(void)state;
	snprintf(name, sizeof(name), "kiln-copy-test-%d.txt", (int)getpid());
	put(F->ctx, name, "x", 0644);
	s.srcs = out.srcs = (const char *const[]){ name };
	mkd(F->root, "etc", 0755);
	lnk(F->root, "evil", "/etc");
	assert_int_equal(run(&s), 0);
	snprintf(p, sizeof(p), "etc/%s", name);
	assert_string_equal(slurp(F->root, p), "x");
	snprintf(p, sizeof(p), "/etc/%s", name);
	assert_int_equal(access(p, F_OK), -1);
	/* a link to a host directory: followed inside ROOT, never out */
	lnk(F->root, "out", F->outside);
	run(&out);
	outside_untouched();
}

/* ------------------------------------------------------------ metadata */

static void hardlinks_kept(void **state)
{
	struct copy_spec s = SPEC("/h", "d");
	char a[PATH_MAX], b[PATH_MAX];
	struct stat s1, s2;

	(void)state;
	mkd(F->ctx, "d", 0755);
	put(F->ctx, "d/one", "same", 0644);
	pathf(a, F->ctx, "d/one");
	pathf(b, F->ctx, "d/two");
	assert_int_equal(link(a, b), 0);
	assert_int_equal(run(&s), 0);
	assert_true(exists(F->root, "h/one", &s1));
	assert_true(exists(F->root, "h/two", &s2));
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(s1.st_nlink, 2);
}

static void chown_numeric(void **state)
{
	struct copy_spec s = SPEC("/new/parent/", "d");
	struct stat st;

	(void)state;
	mkd(F->ctx, "d", 0755);
	put(F->ctx, "d/f", "f", 0644);
	s.has_chown = true;
	s.uid = 1234;
	s.gid = 5678;
	assert_int_equal(run(&s), 0);
	assert_true(exists(F->root, "new/parent/f", &st));
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	/* parents made for the copy belong to the --chown user (BuildKit) */
	assert_true(exists(F->root, "new", &st));
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_mode & 07777, 0755);
}

static void chmod_octal_and_symbolic(void **state)
{
	struct copy_spec s = SPEC("/o/", "d");
	struct stat st;

	(void)state;
	mkd(F->ctx, "d", 0755);
	put(F->ctx, "d/f", "f", 0644);
	mkd(F->ctx, "d/sub", 0700);
	s.chmod = "0600";
	assert_int_equal(run(&s), 0);
	assert_true(exists(F->root, "o/f", &st));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(exists(F->root, "o/sub", &st));
	assert_int_equal(st.st_mode & 07777, 0600);
	s.dest = "/sym/";
	s.chmod = "u=rwX,go=rX";
	assert_int_equal(run(&s), 0);
	assert_true(exists(F->root, "sym/f", &st));
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_true(exists(F->root, "sym/sub", &st));
	assert_int_equal(st.st_mode & 07777, 0755);
	s.chmod = "u=banana";
	expect_error(&s, "invalid --chmod 'u=banana'");
}

static void existing_dest_keeps_metadata(void **state)
{
	struct copy_spec s = SPEC("/keep", "d");
	char p[PATH_MAX];
	struct stat st;

	(void)state;
	mkd(F->ctx, "d", 0777);
	put(F->ctx, "d/f", "f", 0644);
	mkd(F->root, "keep", 0700);
	pathf(p, F->root, "keep");
	assert_int_equal(chown(p, 42, 43), 0);
	assert_int_equal(run(&s), 0);
	assert_true(exists(F->root, "keep", &st));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, 42);
	assert_int_equal(st.st_gid, 43);
	assert_string_equal(slurp(F->root, "keep/f"), "f");
}

static void missing_parents_0755(void **state)
{
	struct copy_spec s = SPEC("/p/q/r/f.txt", "a");
	struct stat st;

	(void)state;
	umask(077);
	put(F->ctx, "a", "a", 0644);
	assert_int_equal(run(&s), 0);
	assert_true(exists(F->root, "p", &st));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_uid, 0);
	assert_true(exists(F->root, "p/q/r", &st));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_string_equal(slurp(F->root, "p/q/r/f.txt"), "a");
	umask(022);
}

static void dockerignore_excludes(void **state)
{
	struct copy_spec all = SPEC("/all/", ".");
	struct copy_spec named = SPEC("/n/", "x.log");
	struct copy_spec wild = SPEC("/w/", "*");
	struct kiln_dockerignore *di = NULL;
	const char *text = "*.log\nsecrets\n!secrets/ok\n";

	(void)state;
	assert_int_equal(kiln_dockerignore_parse(&di, text, strlen(text), ".dockerignore", NULL),
			 0);
	put(F->ctx, "x.log", "log", 0644);
	put(F->ctx, "keep", "keep", 0644);
	mkd(F->ctx, "secrets", 0755);
	put(F->ctx, "secrets/key", "key", 0600);
	put(F->ctx, "secrets/ok", "ok", 0644);
	all.ignore = named.ignore = wild.ignore = di;
	assert_int_equal(run(&all), 0);
	assert_string_equal(slurp(F->root, "all/keep"), "keep");
	assert_false(exists(F->root, "all/x.log", NULL));
	assert_false(exists(F->root, "all/secrets/key", NULL));
	assert_string_equal(slurp(F->root, "all/secrets/ok"), "ok");
	expect_error(&named, "excluded by .dockerignore");
	assert_int_equal(run(&wild), 0);
	assert_false(exists(F->root, "w/x.log", NULL));
	assert_string_equal(slurp(F->root, "w/keep"), "keep");
	kiln_dockerignore_free(di);
}

static void exclude_patterns(void **state)
{
	struct copy_spec s = SPEC("/e/", "d", "*.md");

	(void)state;
	mkd(F->ctx, "d", 0755);
	put(F->ctx, "d/a.txt", "a", 0644);
	put(F->ctx, "d/b.md", "b", 0644);
	put(F->ctx, "top.md", "t", 0644);
	put(F->ctx, "top2.md", "t", 0644);
	s.excludes = (const char *const[]){ "*.md", "!top2.md" };
	s.nr_excludes = 2;
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "e/a.txt"), "a");
	assert_false(exists(F->root, "e/b.md", NULL));
	assert_false(exists(F->root, "e/top.md", NULL));
	assert_string_equal(slurp(F->root, "e/top2.md"), "t");
}

static void parents_kept(void **state)
{
	struct copy_spec s = SPEC("/p/", "x/a.txt", "y/./z/b.txt");

	(void)state;
	mkd(F->ctx, "x", 0755);
	mkd(F->ctx, "y", 0755);
	mkd(F->ctx, "y/z", 0755);
	put(F->ctx, "x/a.txt", "a", 0644);
	put(F->ctx, "y/z/b.txt", "b", 0644);
	s.parents = true;
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "p/x/a.txt"), "a");
	assert_string_equal(slurp(F->root, "p/z/b.txt"), "b");
}

/* ------------------------------------------------------------ ADD */

static void make_tar(const char *rel, int filter, const char *evil_name)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	char p[PATH_MAX];

	pathf(p, F->ctx, rel);
	archive_write_set_format_pax_restricted(a);
	if (filter == 'g')
		archive_write_add_filter_gzip(a);
	else if (filter == 'x')
		archive_write_add_filter_xz(a);
	assert_int_equal(archive_write_open_filename(a, p), ARCHIVE_OK);
	archive_entry_set_pathname(e, "pkg/");
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0750);
	archive_entry_set_uid(e, 1000);
	archive_entry_set_gid(e, 1000);
	archive_write_header(a, e);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, evil_name ? evil_name : "pkg/bin");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_uid(e, 1000);
	archive_entry_set_gid(e, 1001);
	archive_entry_set_size(e, 4);
	archive_entry_set_mtime(e, 777, 0);
	archive_write_header(a, e);
	archive_write_data(a, "tool", 4);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "pkg/link");
	archive_entry_set_filetype(e, AE_IFLNK);
	archive_entry_set_symlink(e, "bin");
	archive_write_header(a, e);
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void add_tar_extracted(void **state)
{
	struct copy_spec s = SPEC("/opt/", "a.tar.gz", "b.tar.xz");
	struct stat st;

	(void)state;
	make_tar("a.tar.gz", 'g', NULL);
	make_tar("b.tar.xz", 'x', "pkg/xz-bin");
	s.add = true;
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "opt/pkg/bin"), "tool");
	assert_string_equal(slurp(F->root, "opt/pkg/xz-bin"), "tool");
	assert_true(exists(F->root, "opt/pkg/bin", &st));
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1001);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_mtim.tv_sec, 777);
	assert_true(exists(F->root, "opt/pkg", &st));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_true(exists(F->root, "opt/pkg/link", &st) && S_ISLNK(st.st_mode));
	assert_false(exists(F->root, "opt/a.tar.gz", NULL));
}

static void copy_does_not_extract(void **state)
{
	struct copy_spec s = SPEC("/opt/", "a.tar.gz");

	(void)state;
	make_tar("a.tar.gz", 'g', NULL);
	assert_int_equal(run(&s), 0);
	assert_true(exists(F->root, "opt/a.tar.gz", NULL));
	assert_false(exists(F->root, "opt/pkg", NULL));
}

static void add_plain_file_copied(void **state)
{
	struct copy_spec s = SPEC("/opt/", "notes.txt");

	(void)state;
	put(F->ctx, "notes.txt", "just text", 0644);
	s.add = true;
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "opt/notes.txt"), "just text");
}

static void add_tar_escape_refused(void **state)
{
	struct copy_spec s = SPEC("/opt/", "evil.tar");

	(void)state;
	make_tar("evil.tar", 0, "../../outside/pwned");
	s.add = true;
	expect_error(&s, "climbs above the root");
	assert_false(exists(F->root, "outside", NULL));
}

static void add_git_refused(void **state)
{
	struct copy_spec s = SPEC("/src/", "https://github.com/x/y.git#main");
	struct copy_spec k = SPEC("/src/", "a");

	(void)state;
	s.add = true;
	expect_error(&s, "not supported yet");
	k.keep_git_dir = true;
	expect_error(&k, "not supported");
}

static void copy_url_refused(void **state)
{
	struct copy_spec s = SPEC("/src/", "https://example.com/f");

	(void)state;
	expect_error(&s, "use ADD");
}

/* ------------------------------------------------------------ heredocs */

static void heredoc_inline(void **state)
{
	struct copy_inline in = { .name = "run.sh", .data = "echo hi\n", .len = 8 };
	struct copy_spec s = spec(NULL, 0, "/usr/local/bin/");
	struct stat st;

	(void)state;
	s.inlines = &in;
	s.nr_inlines = 1;
	s.src_fd = -1;
	assert_int_equal(run(&s), 0);
	assert_string_equal(slurp(F->root, "usr/local/bin/run.sh"), "echo hi\n");
	assert_true(exists(F->root, "usr/local/bin/run.sh", &st));
	assert_int_equal(st.st_mode & 07777, 0644);
	s.dest = "/script";
	s.chmod = "755";
	assert_int_equal(run(&s), 0);
	assert_true(exists(F->root, "script", &st) && S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
}

/* ------------------------------------------------------------ --chmod */

static void chmod_apply_cases(void **state)
{
	static const struct {
		const char *spec;
		mode_t in, out;
	} cases[] = {
		{ "755", S_IFREG | 0600, 0755 },   { "0644", S_IFDIR | 0777, 0644 },
		{ "4755", S_IFREG | 0644, 04755 }, { "+x", S_IFREG | 0644, 0755 },
		{ "a-w", S_IFREG | 0666, 0444 },   { "u=rwx,go=rx", S_IFREG | 0600, 0755 },
		{ "go=", S_IFREG | 0755, 0700 },   { "u+s,g+s", S_IFREG | 0755, 06755 },
		{ "+t", S_IFDIR | 0777, 01777 },   { "a+X", S_IFREG | 0644, 0644 },
		{ "a+X", S_IFREG | 0744, 0755 },   { "a+X", S_IFDIR | 0600, 0711 },
		{ "g=u", S_IFREG | 0640, 0660 },   { "u=rw,o-r+w", S_IFREG | 0004, 0602 },
	};
	static const char *bad[] = { "", "8", "77777", "u", "u=rwq", "x+r", "u=rw,", "+x,,g+w" };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mode_t m = 0;

		if (copy_chmod_apply(&m, cases[i].spec, cases[i].in, NULL) < 0 || m != cases[i].out)
			fail_msg("'%s' on %o: got %o, want %o", cases[i].spec,
				 (unsigned)cases[i].in, (unsigned)m, (unsigned)cases[i].out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (copy_chmod_parse(bad[i], NULL) == 0)
			fail_msg("'%s' accepted", bad[i]);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(single_file, setup, teardown),
	cmocka_unit_test_setup_teardown(file_to_dir, setup, teardown),
	cmocka_unit_test_setup_teardown(many_files_in_dirs, setup, teardown),
	cmocka_unit_test_setup_teardown(file_renamed, setup, teardown),
	cmocka_unit_test_setup_teardown(file_replaces_file_and_symlink, setup, teardown),
	cmocka_unit_test_setup_teardown(dir_contents, setup, teardown),
	cmocka_unit_test_setup_teardown(whole_context, setup, teardown),
	cmocka_unit_test_setup_teardown(wildcard, setup, teardown),
	cmocka_unit_test_setup_teardown(wildcard_one_match_to_file, setup, teardown),
	cmocka_unit_test_setup_teardown(wildcard_no_match, setup, teardown),
	cmocka_unit_test_setup_teardown(missing_source, setup, teardown),
	cmocka_unit_test_setup_teardown(several_to_file, setup, teardown),
	cmocka_unit_test_setup_teardown(several_to_existing_dir, setup, teardown),
	cmocka_unit_test_setup_teardown(escape_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(symlink_source_confined, setup, teardown),
	cmocka_unit_test_setup_teardown(symlink_copied_as_symlink, setup, teardown),
	cmocka_unit_test_setup_teardown(root_symlink_followed_inside, setup, teardown),
	cmocka_unit_test_setup_teardown(hardlinks_kept, setup, teardown),
	cmocka_unit_test_setup_teardown(chown_numeric, setup, teardown),
	cmocka_unit_test_setup_teardown(chmod_octal_and_symbolic, setup, teardown),
	cmocka_unit_test_setup_teardown(existing_dest_keeps_metadata, setup, teardown),
	cmocka_unit_test_setup_teardown(missing_parents_0755, setup, teardown),
	cmocka_unit_test_setup_teardown(dockerignore_excludes, setup, teardown),
	cmocka_unit_test_setup_teardown(exclude_patterns, setup, teardown),
	cmocka_unit_test_setup_teardown(parents_kept, setup, teardown),
	cmocka_unit_test_setup_teardown(add_tar_extracted, setup, teardown),
	cmocka_unit_test_setup_teardown(copy_does_not_extract, setup, teardown),
	cmocka_unit_test_setup_teardown(add_plain_file_copied, setup, teardown),
	cmocka_unit_test_setup_teardown(add_tar_escape_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(add_git_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(copy_url_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(heredoc_inline, setup, teardown),
	cmocka_unit_test(chmod_apply_cases),
};

KILN_TEST_MAIN(tests)
