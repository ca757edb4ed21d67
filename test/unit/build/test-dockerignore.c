#include "compat.h"
#include <sys/stat.h>
#include "dockerignore.h"
#include "alloc.h"
#include "error.h"
#include "fileio.h"
#include "kiln-test.h"

static struct kiln_dockerignore *must_parse(const char *text)
{
	struct kiln_dockerignore *di = NULL;
	struct kiln_error err = KILN_ERROR_INIT;

	if (kiln_dockerignore_parse(&di, text, strlen(text), ".dockerignore", &err))
		fail_msg("parse '%s': %s", text, kiln_error_msg(&err));
	kiln_error_release(&err);
	return di;
}

/* The path alone against one pattern, without its parents. */
static bool match_alone(const struct kiln_dockerignore *di, const char *path)
{
	unsigned char parent[8] = { 0 }, state[8];

	return kiln_dockerignore_match_entry(di, path, parent, state);
}

enum outcome { NO, ALONE, VIA_PARENT };

/* moby's TestMatches table, on one pattern each: ALONE matches the path
 * itself, VIA_PARENT only through a parent directory. */
static void test_dockerignore_single_patterns(void **state)
{
	static const struct {
		const char *pattern, *path;
		enum outcome want;
	} cases[] = {
		{ "**", "file", ALONE },
		{ "**", "file/", ALONE },
		{ "**/", "file", ALONE },
		{ "**", "/", ALONE },
		{ "**", "dir/file", ALONE },
		{ "**/**", "dir/file", ALONE },
		{ "dir/**", "dir/file", ALONE },
		{ "dir/**", "dir/dir2/file", ALONE },
		{ "**/dir", "dir", ALONE },
		{ "**/dir", "dir/file", VIA_PARENT },
		{ "**/dir2/*", "dir/dir2/file", ALONE },
		{ "**/dir2/**", "dir/dir2/dir3/file", ALONE },
		{ "**file", "file", ALONE },
		{ "**file", "dir/file", ALONE },
		{ "**file", "dir/dir/file", ALONE },
		{ "**/file*", "dir/dir/file.txt", ALONE },
		{ "**/file*txt", "dir/dir/file.txt", ALONE },
		{ "**/file*.txt*", "dir/dir/file.txt", ALONE },
		{ "**/**/*.txt", "dir/dir/file.txt", ALONE },
		{ "**/**/*.txt2", "dir/dir/file.txt", NO },
		{ "**/*.txt", "file.txt", ALONE },
		{ "**/**/*.txt", "file.txt", ALONE },
		{ "a**/*.txt", "a/dir/dir/file.txt", ALONE },
		{ "a/*.txt", "a/dir/file.txt", NO },
		{ "a/*.txt", "a/file.txt", ALONE },
		{ "a/*.txt**", "a/file.txt", ALONE },
		{ "a[b-d]e", "ae", NO },
		{ "a[b-d]e", "ace", ALONE },
		{ "a[^b-d]e", "aze", ALONE },
		{ ".*", ".foo", ALONE },
		{ ".*", "foo", NO },
		{ "abc.def", "abcdef", NO },
		{ "abc.def", "abc.def", ALONE },
		{ "abc?def", "abcZdef", ALONE },
		{ "abc?def", "abcdef", NO },
		{ "**/foo/bar", "dir/dir2/foo/bar", ALONE },
		{ "abc/**", "abc", NO },
		{ "abc/**", "abc/def/ghi", ALONE },
		{ "**/.foo", ".foo", ALONE },
		{ "**/.foo", "bar.foo", NO },
		{ "a(b)c/def", "a(b)c/def", ALONE },
		{ "a.|)$(}+{bc", "a.|)$(}+{bc", ALONE },
		{ "dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", ALONE },
		{ "a\\\\", "a\\", ALONE },
		{ "a\\*b", "a*b", ALONE },
		/* Go's filepath.Match tests, as moby runs them */
		{ "*c", "abc", ALONE },
		{ "a*", "ab/c", VIA_PARENT },
		{ "a*/b", "a/c/b", NO },
		{ "a*b*c*d*e*/f", "axbxcxdxexxx/f", ALONE },
		{ "a*b*c*d*e*/f", "axbxcxdxe/xxx/f", NO },
		{ "a*b?c*x", "abxbbxdbxebxczzx", ALONE },
		{ "a*b?c*x", "abxbbxdbxebxczzy", NO },
		{ "ab[^c]", "abc", NO },
		{ "ab[^e-g]", "abc", ALONE },
		{ "a?b", "a☺b", ALONE },
		{ "a[^a]b", "a☺b", ALONE },
		{ "a???b", "a☺b", NO },
		{ "[a-ζ]*", "α", ALONE },
		{ "*[a-ζ]", "A", NO },
		{ "a?b", "a/b", NO },
		{ "a*b", "a/b", NO },
		{ "[\\]a]", "]", ALONE },
		{ "[x\\-]", "-", ALONE },
		{ "[\\-x]", "a", NO },
		{ "*x", "xxx", ALONE },
		/* corners that follow from moby's regexp translation */
		{ "**foo", "barfoo", ALONE }, /* a suffix test, not a regexp */
		{ "**.go", "a/b.go", ALONE },
		{ "a[^x]b", "a/b", ALONE }, /* a class may match '/' */
		{ "[*]", "]", ALONE },	    /* "[[^/]*]": class, star, ']' */
		{ "[*]", "*", NO },
		{ "^foo", "^foo", ALONE },  /* no wildcard: a plain string */
		{ "^foo*", "foox", ALONE }, /* a regexp: '^' is an anchor */
		{ "^foo*", "^foox", NO },
		{ "a^b*", "a^bc", NO },
		{ "[[:digit:]]x", "7x", ALONE },
		{ "[[:^digit:]]x", "7x", NO },
		{ "\\d", "5", ALONE }, /* Go's \d */
		{ "\\d", "d", NO },
		{ "\\x41", "A", ALONE },
		{ "a\\.b", "a.b", ALONE },
		{ "**/x", "a\nb/x", ALONE }, /* a suffix test again */
		{ "**/*x", "a\nb/x", NO },   /* '.' never matches a newline */
		{ "*", "a\nb", ALONE },	     /* but [^/] does */
		{ "./a", "a", ALONE },
		{ "/a/b/../c", "a/c", ALONE },
		{ "a/", "a", ALONE },
		{ "é*", "été", ALONE },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_dockerignore *di = must_parse(cases[i].pattern);
		bool alone = match_alone(di, cases[i].path);
		bool any = kiln_dockerignore_match(di, cases[i].path);

		if (alone != (cases[i].want == ALONE) || any != (cases[i].want != NO))
			fail_msg("'%s' vs '%s': alone %d, with parents %d, want %d",
				 cases[i].pattern, cases[i].path, alone, any, cases[i].want);
		kiln_dockerignore_free(di);
	}
}

/* Several patterns: the last match wins; exceptions re-include. */
static void test_dockerignore_last_match_wins(void **state)
{
	static const struct {
		const char *text, *path;
		bool want;
	} cases[] = {
		{ "*.go\n", "fileutils.go", true },
		{ "!fileutils.go\n*.go\n", "fileutils.go", true },
		{ "*.go\n!fileutils.go\n", "fileutils.go", false },
		{ "docs\n!docs/README.md\n", "docs/README.md", false },
		{ "docs/\n!docs/README.md\n", "docs/README.md", false },
		{ "docs/*\n!docs/README.md\n", "docs/README.md", false },
		{ "docs\n!docs/README.md\n", "docs/other.md", true },
		{ "**\n!util/docker/web\n", "util/docker/web/foo", false },
		{ "**\n!util/docker/web\nutil/docker/web/foo\n", "util/docker/web/foo", true },
		{ "**\n!dist/*.whl\n", "dist/p-1.0+g08-py3-none-any.whl", false },
		{ "*.md\n!README*.md\nREADME-secret.md\n", "README-secret.md", true },
		{ "*.md\n!README*.md\nREADME-secret.md\n", "README.md", false },
		{ "*.md\nREADME-secret.md\n!README*.md\n", "README-secret.md", false },
		{ "*\n!src\n", "src/main.c", false },
		{ "*\n!src\n", "docs/x", true },
		/* the walker reuses the parent's results: "a" was not excluded,
		 * so "!a" is never tried against it and cannot save "a/x" */
		{ "a/*\n!a\n", "a/x", true },
		/* an excluded directory with no exception below is not walked */
		{ "node_modules\n!**/*.md\n", "node_modules/x/README.md", false },
		{ "node_modules\n!*.md\n", "node_modules/x/README.md", true },
		{ "node_modules\n!README.md\n", "node_modules/README.md", true },
		{ "node_modules\n!node_modules/keep\n", "node_modules/keep", false },
		{ "node_modules\n!node_modules/keep\n", "node_modules/other", true },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_dockerignore *di = must_parse(cases[i].text);

		if (kiln_dockerignore_match(di, cases[i].path) != cases[i].want)
			fail_msg("'%s' on '%s': want %d", cases[i].text, cases[i].path,
				 cases[i].want);
		kiln_dockerignore_free(di);
	}
}

/* ignorefile.ReadAll: comments only in column one, trimming, a BOM,
 * CRLF, leading "/" and "./", spaces after '!'. */
static void test_dockerignore_reading(void **state)
{
	static const char text[] = "\xEF\xBB\xBF# comment\r\n"
				   "\n"
				   "   \t\n"
				   "/abs\r\n"
				   "./rel/../dot\n"
				   "  # not a comment\n"
				   "!  abs/keep  \n"
				   "trailing/  \n"
				   "last-without-newline";
	struct kiln_dockerignore *di = must_parse(text);

	(void)state;
	assert_int_equal(kiln_dockerignore_nr_patterns(di), 6);
	assert_false(kiln_dockerignore_match(di, "# comment"));
	assert_true(kiln_dockerignore_match(di, "abs"));
	assert_true(kiln_dockerignore_match(di, "abs/x"));
	assert_false(kiln_dockerignore_match(di, "abs/keep"));
	assert_true(kiln_dockerignore_match(di, "dot"));
	assert_true(kiln_dockerignore_match(di, "# not a comment"));
	assert_true(kiln_dockerignore_match(di, "trailing/x"));
	assert_true(kiln_dockerignore_match(di, "last-without-newline"));
	assert_false(kiln_dockerignore_match(di, "."));
	assert_false(kiln_dockerignore_match(di, ""));
	kiln_dockerignore_free(di);

	di = must_parse("");
	assert_int_equal(kiln_dockerignore_nr_patterns(di), 0);
	assert_false(kiln_dockerignore_match(di, "x"));
	kiln_dockerignore_free(di);
}

static void test_dockerignore_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "ok\n!\n", ".dockerignore:2: illegal exclusion pattern: \"!\"" },
		{ "!/\n", ".dockerignore:1: illegal exclusion pattern: \"!\"" },
		{ "a\n\n[\n", ".dockerignore:3: '[': syntax error in pattern" },
		{ "a\\\n", ".dockerignore:1: 'a\\': syntax error in pattern" },
		{ "[]a]\n", ".dockerignore:1: '[]a]': syntax error in pattern" },
		{ "[a-b-c]\n", ".dockerignore:1: '[a-b-c]': syntax error in pattern" },
		{ "[x-]\n", ".dockerignore:1: '[x-]': syntax error in pattern" },
		{ "*.[\n", ".dockerignore:1: '*.[': syntax error in pattern" },
		{ "\\e\n", ".dockerignore:1: '\\e': invalid escape" },
		{ "[[:nope:]]\n", ".dockerignore:1: '[[:nope:]]': invalid character class range" },
		{ "[z-a]\n", ".dockerignore:1: '[z-a]': invalid character class range" },
		{ "\\1\n", ".dockerignore:1: '\\1': invalid escape (backreferences are not "
			   "supported)" },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_dockerignore *di = NULL;
		struct kiln_error err = KILN_ERROR_INIT;
		int ret = kiln_dockerignore_parse(&di, cases[i].text, strlen(cases[i].text),
						  ".dockerignore", &err);

		assert_int_equal(ret, KILN_EINVAL);
		assert_null(di);
		if (strcmp(kiln_error_msg(&err), cases[i].msg))
			fail_msg("'%s':\n got  %s\n want %s", cases[i].text, kiln_error_msg(&err),
				 cases[i].msg);
		kiln_error_release(&err);
	}
}

/* fsutil skips an excluded directory unless an exception could apply. */
static void test_dockerignore_dir_has_exceptions(void **state)
{
	static const struct {
		const char *text, *dir;
		bool want;
	} cases[] = {
		{ "node_modules\n", "node_modules", false },
		{ "node_modules\n!node_modules/keep\n", "node_modules", true },
		{ "node_modules\n!node_modules/keep\n", "node", false },
		{ "*\n!src/**\n", "src", true },
		{ "*\n!src/**\n", "docs", false },
		{ "*\n!src/*\n", "src", true },
		{ "*\n!src\n", "src", true },
		{ "*\n!src/a/b\n", "src/a", true },
		{ "*\n!**/*.go\n", "docs", true }, /* a wildcard exception: walk all */
		{ "*\n!a?c\n", "x", true },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_dockerignore *di = must_parse(cases[i].text);

		if (kiln_dockerignore_dir_has_exceptions(di, cases[i].dir) != cases[i].want)
			fail_msg("'%s' dir '%s': want %d", cases[i].text, cases[i].dir,
				 cases[i].want);
		kiln_dockerignore_free(di);
	}
}

/* A walker keeps each directory's state and passes it to its entries. */
static void test_dockerignore_walker_steps(void **state)
{
	struct kiln_dockerignore *di = must_parse("build\n!build/keep.txt\n**/*.o\n");
	size_t nr = kiln_dockerignore_nr_patterns(di);
	unsigned char dir[3], entry[3];

	(void)state;
	assert_int_equal(nr, 3);
	assert_true(kiln_dockerignore_match_entry(di, "build", NULL, dir));
	assert_true(kiln_dockerignore_dir_has_exceptions(di, "build"));
	assert_false(kiln_dockerignore_match_entry(di, "build/keep.txt", dir, entry));
	assert_true(kiln_dockerignore_match_entry(di, "build/other", dir, entry));
	assert_false(kiln_dockerignore_match_entry(di, "src", NULL, dir));
	assert_true(kiln_dockerignore_match_entry(di, "src/a.o", dir, entry));
	kiln_dockerignore_free(di);
}

/* COPY --exclude style: patterns already split. */
static void test_dockerignore_from_list(void **state)
{
	const char *patterns[] = { "  *.txt ", "!keep.txt", "" };
	struct kiln_dockerignore *di = NULL;

	(void)state;
	assert_int_equal(kiln_dockerignore_new(&di, patterns, 3, NULL), 0);
	assert_int_equal(kiln_dockerignore_nr_patterns(di), 2);
	assert_true(kiln_dockerignore_match(di, "a.txt"));
	assert_false(kiln_dockerignore_match(di, "keep.txt"));
	kiln_dockerignore_free(di);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);

	assert_int_equal(kiln_file_write_atomic(path, text, strlen(text), 0644, NULL), 0);
	free(path);
}

/* <Dockerfile>.dockerignore beats the context's .dockerignore. */
static void test_dockerignore_pick_and_load(void **state)
{
	char tmpl[] = "/tmp/kiln-di-XXXXXX";
	char *dir = mkdtemp(tmpl), *path = NULL, *df, *want;
	struct kiln_dockerignore *di = NULL;

	(void)state;
	assert_non_null(dir);
	df = xasprintf("%s/app.Dockerfile", dir);
	assert_int_equal(kiln_dockerignore_pick(&path, dir, df, NULL), 0);
	assert_null(path);
	assert_int_equal(kiln_dockerignore_load(&di, dir, df, NULL), 0);
	assert_false(kiln_dockerignore_match(di, "anything"));
	kiln_dockerignore_free(di);

	write_file(dir, ".dockerignore", "from-context\n");
	assert_int_equal(kiln_dockerignore_pick(&path, dir, df, NULL), 0);
	want = xasprintf("%s/.dockerignore", dir);
	assert_string_equal(path, want);
	free(path);
	free(want);

	write_file(dir, "app.Dockerfile.dockerignore", "from-dockerfile\n");
	assert_int_equal(kiln_dockerignore_pick(&path, dir, df, NULL), 0);
	want = xasprintf("%s.dockerignore", df);
	assert_string_equal(path, want);
	assert_int_equal(kiln_dockerignore_load(&di, dir, df, NULL), 0);
	assert_true(kiln_dockerignore_match(di, "from-dockerfile"));
	assert_false(kiln_dockerignore_match(di, "from-context"));
	kiln_dockerignore_free(di);
	free(path);
	free(want);

	unlink(df);
	free(df);
	df = xasprintf("%s/app.Dockerfile.dockerignore", dir);
	unlink(df);
	free(df);
	df = xasprintf("%s/.dockerignore", dir);
	unlink(df);
	free(df);
	rmdir(dir);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_dockerignore_single_patterns),
	cmocka_unit_test(test_dockerignore_last_match_wins),
	cmocka_unit_test(test_dockerignore_reading),
	cmocka_unit_test(test_dockerignore_errors),
	cmocka_unit_test(test_dockerignore_dir_has_exceptions),
	cmocka_unit_test(test_dockerignore_walker_steps),
	cmocka_unit_test(test_dockerignore_from_list),
	cmocka_unit_test(test_dockerignore_pick_and_load),
};

KILN_TEST_MAIN(tests)
