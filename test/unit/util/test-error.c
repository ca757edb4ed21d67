#include "compat.h"
#include "error.h"
#include "kiln-test.h"

static int open_config(const char *path, struct kiln_error *err)
{
	return kiln_err(err, KILN_ENOENT, ENOENT, "open '%s'", path);
}

static void test_error_format_with_errno(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	assert_int_equal(open_config("/kiln/.docker/config.json", &err), KILN_ENOENT);
	assert_int_equal(err.code, KILN_ENOENT);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_string_equal(kiln_error_msg(&err),
			    "open '/kiln/.docker/config.json': No such file or directory");
	kiln_error_release(&err);
	assert_int_equal(err.code, 0);
	assert_string_equal(kiln_error_msg(&err), "unknown error");
}

static void test_error_prefix_and_hint(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	kiln_err(&err, KILN_EINVAL, 0, "unknown instruction '%s'", "RUNN");
	assert_int_equal(kiln_err_prefix(&err, "Dockerfile:%d", 3), KILN_EINVAL);
	assert_int_equal(kiln_err_hint(&err, "did you mean '%s'?", "RUN"), KILN_EINVAL);
	assert_string_equal(kiln_error_msg(&err),
			    "Dockerfile:3: unknown instruction 'RUNN'; did you mean 'RUN'?");
	kiln_error_release(&err);
}

static void test_error_replaces_previous_message(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	kiln_err(&err, KILN_ENET, 0, "first");
	kiln_err(&err, KILN_EAUTH, 0, "push to '%s' refused", "reg/app");
	assert_int_equal(err.code, KILN_EAUTH);
	assert_string_equal(kiln_error_msg(&err), "push to 'reg/app' refused");
	assert_string_equal(kiln_code_name(err.code), "authentication failed");
	kiln_error_release(&err);
}

static void test_error_null_is_allowed(void **state)
{
	(void)state;
	assert_int_equal(kiln_err(NULL, KILN_EIO, EIO, "ignored"), KILN_EIO);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_error_format_with_errno),
	cmocka_unit_test(test_error_prefix_and_hint),
	cmocka_unit_test(test_error_replaces_previous_message),
	cmocka_unit_test(test_error_null_is_allowed),
};

KILN_TEST_MAIN(tests)
