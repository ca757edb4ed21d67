#include "compat.h"
#include "buf.h"
#include "path.h"
#include "kiln-test.h"

struct clean_case {
	const char *in, *want;
};

static void test_path_clean_table(void **state)
{
	static const struct clean_case cases[] = {
		{ "", "." },
		{ ".", "." },
		{ "/", "/" },
		{ "//", "/" },
		{ "///a//b/", "/a/b" },
		{ "a/b/c", "a/b/c" },
		{ "a/./b/.", "a/b" },
		{ "/a/b/../c", "/a/c" },
		{ "/..", "/" },
		{ "/../../etc/passwd", "/etc/passwd" },
		{ "..", ".." },
		{ "../..", "../.." },
		{ "a/../..", ".." },
		{ "a/../../b", "../b" },
		{ "../a/../../b", "../../b" },
		{ "a/b/../../..", ".." },
		{ "a/..", "." },
		{ "./", "." },
		{ "/a/./b/./../c//d/", "/a/c/d" },
		{ "abc/def/..ghi", "abc/def/..ghi" },
		{ ".../x", ".../x" },
	};
	struct kiln_buf out = KILN_BUF_INIT;

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		kiln_path_clean(&out, cases[i].in);
		if (strcmp(out.buf, cases[i].want))
			fail_msg("clean('%s') = '%s', want '%s'", cases[i].in, out.buf,
				 cases[i].want);
	}
	kiln_buf_release(&out);
}

static void test_path_join(void **state)
{
	struct kiln_buf out = KILN_BUF_INIT;

	(void)state;
	kiln_path_join(&out, "/work", "src//main.c");
	assert_string_equal(out.buf, "/work/src/main.c");
	kiln_path_join(&out, "/work", "/etc/passwd");
	assert_string_equal(out.buf, "/work/etc/passwd");
	kiln_path_join(&out, "/work", "../../etc");
	assert_string_equal(out.buf, "/etc");
	kiln_path_join(&out, "", "a/b");
	assert_string_equal(out.buf, "a/b");
	kiln_path_join(&out, "a", "");
	assert_string_equal(out.buf, "a");
	kiln_buf_release(&out);
}

static void test_path_split(void **state)
{
	struct kiln_buf dir = KILN_BUF_INIT, base = KILN_BUF_INIT;

	(void)state;
	kiln_path_split(&dir, &base, "/a/b");
	assert_string_equal(dir.buf, "/a");
	assert_string_equal(base.buf, "b");
	kiln_path_split(&dir, &base, "/a");
	assert_string_equal(dir.buf, "/");
	assert_string_equal(base.buf, "a");
	kiln_path_split(&dir, &base, "b");
	assert_string_equal(dir.buf, ".");
	assert_string_equal(base.buf, "b");
	kiln_path_split(&dir, &base, "/");
	assert_string_equal(dir.buf, "/");
	assert_string_equal(base.buf, "");
	kiln_path_split(&dir, &base, "x/y/z/");
	assert_string_equal(dir.buf, "x/y");
	assert_string_equal(base.buf, "z");
	kiln_path_split(NULL, &base, "/a/b/../c");
	assert_string_equal(base.buf, "c");
	kiln_buf_release(&dir);
	kiln_buf_release(&base);
}

static void test_path_is_beneath(void **state)
{
	(void)state;
	assert_true(kiln_path_is_beneath("/", "/etc/passwd"));
	assert_true(kiln_path_is_beneath("/root", "/root"));
	assert_true(kiln_path_is_beneath("/root", "/root/a/b"));
	assert_true(kiln_path_is_beneath("/root/", "/root//a"));
	assert_false(kiln_path_is_beneath("/root", "/rootfs/a"));
	assert_false(kiln_path_is_beneath("/root", "/root/../etc"));
	assert_false(kiln_path_is_beneath("/root", "/"));
	assert_false(kiln_path_is_beneath("/root", "root/a"));
	assert_true(kiln_path_is_beneath(".", "a/b"));
	assert_false(kiln_path_is_beneath(".", "../a"));
	assert_false(kiln_path_is_beneath("a", "a/../../b"));
	assert_true(kiln_path_escapes("a/../../b"));
	assert_true(kiln_path_escapes(".."));
	assert_false(kiln_path_escapes("..a/b"));
	assert_false(kiln_path_escapes("a/.."));
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_path_clean_table),
	cmocka_unit_test(test_path_join),
	cmocka_unit_test(test_path_split),
	cmocka_unit_test(test_path_is_beneath),
};

KILN_TEST_MAIN(tests)
