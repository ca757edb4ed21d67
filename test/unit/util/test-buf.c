#include "compat.h"
#include "buf.h"
#include "error.h"
#include "kiln-test.h"

static void test_buf_empty_is_a_string(void **state)
{
	struct kiln_buf b = KILN_BUF_INIT;
	char *s;
	size_t len = 99;

	(void)state;
	assert_non_null(b.buf);
	assert_string_equal(b.buf, "");
	kiln_buf_reset(&b);
	s = kiln_buf_detach(&b, &len);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	kiln_buf_release(&b);
}

static void test_buf_appends(void **state)
{
	struct kiln_buf b = KILN_BUF_INIT;

	(void)state;
	kiln_buf_addstr(&b, "FROM ");
	kiln_buf_addf(&b, "%s:%d", "busybox", 1);
	kiln_buf_addch(&b, '\n');
	kiln_buf_add(&b, "x\0y", 3);
	assert_int_equal(b.len, 18);
	assert_memory_equal(b.buf, "FROM busybox:1\nx\0y", 19);
	assert_int_equal(b.buf[b.len], '\0');
	kiln_buf_setlen(&b, 14);
	kiln_buf_rtrim(&b);
	assert_string_equal(b.buf, "FROM busybox:1");
	kiln_buf_strip_suffix_ch(&b, '1');
	assert_string_equal(b.buf, "FROM busybox:");
	assert_true(kiln_buf_starts_with(&b, "FROM"));
	assert_false(kiln_buf_starts_with(&b, "FROM busybox:1"));
	kiln_buf_release(&b);
}

static void test_buf_grows_past_many_sizes(void **state)
{
	struct kiln_buf b = KILN_BUF_INIT;

	(void)state;
	for (int i = 0; i < 10000; i++)
		kiln_buf_addf(&b, "%d,", i % 10);
	assert_int_equal(b.len, 20000);
	assert_true(b.alloc > b.len);
	assert_int_equal(b.buf[19999], ',');
	kiln_buf_release(&b);
	assert_int_equal(b.len, 0);
}

static void test_buf_cap_refuses_oversize(void **state)
{
	struct kiln_buf b = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	assert_int_equal(kiln_buf_add_capped(&b, "12345678", 8, 10, "manifest", &err), 0);
	assert_int_equal(kiln_buf_add_capped(&b, "123", 3, 10, "manifest", &err), KILN_EINVAL);
	assert_int_equal(b.len, 8);
	assert_string_equal(kiln_error_msg(&err), "manifest is larger than the limit of 10 bytes");
	kiln_error_release(&err);
	kiln_buf_release(&b);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_buf_empty_is_a_string),
	cmocka_unit_test(test_buf_appends),
	cmocka_unit_test(test_buf_grows_past_many_sizes),
	cmocka_unit_test(test_buf_cap_refuses_oversize),
};

KILN_TEST_MAIN(tests)
