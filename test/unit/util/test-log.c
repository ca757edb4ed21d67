#include "compat.h"
#include "buf.h"
#include "error.h"
#include "log.h"
#include "kiln-test.h"

#include <sys/mman.h>

struct redact_case {
	const char *in, *want;
};

static void test_log_redact_table(void **state)
{
	static const struct redact_case cases[] = {
		{ "login password=hunter2 ok", "login password=*** ok" },
		{ "CI_REGISTRY_PASSWORD=s3cr3t", "CI_REGISTRY_PASSWORD=***" },
		{ "--build-arg NPM_TOKEN=abc123def", "--build-arg NPM_TOKEN=***" },
		{ "{\"auths\":{\"r\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
		  "{\"auths\":{\"r\":{\"auth\":\"***\"}}}" },
		{ "{\"identitytoken\": \"eyJhbGciOi\"}", "{\"identitytoken\": \"***\"}" },
		{ "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.x.y", "Authorization: Bearer ***" },
		{ "Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***" },
		{ "GET https://bob:pa55w0rd@reg.example/v2/",
		  "GET https://bob:***@reg.example/v2/" },
		{ "secret='a b c' next", "secret='***' next" },
		/* not secrets: must survive untouched */
		{ "author=Jane maintainer", "author=Jane maintainer" },
		{ "invalid token: the registry refused it",
		  "invalid token: the registry refused it" },
		{ "RUN echo hello && ls /tmp", "RUN echo hello && ls /tmp" },
		{ "https://reg.example:5000/v2/", "https://reg.example:5000/v2/" },
		{ "token=", "token=" },
	};
	struct kiln_buf out = KILN_BUF_INIT;

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		kiln_buf_reset(&out);
		kiln_redact(&out, cases[i].in);
		if (strcmp(out.buf, cases[i].want))
			fail_msg("redact('%s') = '%s', want '%s'", cases[i].in, out.buf,
				 cases[i].want);
	}
	kiln_buf_release(&out);
}

static void test_log_redact_registered_secret(void **state)
{
	struct kiln_buf out = KILN_BUF_INIT;

	(void)state;
	kiln_log_add_secret("correct-horse");
	kiln_log_add_secret("ab"); /* too short to be scrubbed everywhere */
	kiln_redact(&out, "using correct-horse for about 2 tabs");
	assert_string_equal(out.buf, "using *** for about 2 tabs");
	kiln_log_clear_secrets();
	kiln_buf_reset(&out);
	kiln_redact(&out, "correct-horse");
	assert_string_equal(out.buf, "correct-horse");
	kiln_buf_release(&out);
}

static void test_log_secret_names(void **state)
{
	(void)state;
	assert_true(kiln_secret_name("GITHUB_TOKEN", 12));
	assert_true(kiln_secret_name("db_password", 11));
	assert_true(kiln_secret_name("AWS_SECRET", 10));
	assert_false(kiln_secret_name("VERSION", 7));
	assert_false(kiln_secret_name("authors", 7));
}

/* Run emit() with the logger writing into a memory file; return the output. */
static void capture(struct kiln_buf *out, const struct kiln_log_options *base, void (*emit)(void))
{
	struct kiln_log_options o = *base;
	int fd = memfd_create("log", 0);

	assert_true(fd >= 0);
	o.fd = fd;
	kiln_log_configure(&o);
	emit();
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(kiln_buf_read_fd(out, fd, 1 << 20, "log", NULL), 0);
	close(fd);
}

static void emit_some(void)
{
	kiln_debug("hidden at info");
	kiln_info("Retrieving image manifest %s", "busybox");
	kiln_warn("login with password=%s", "hunter2");
}

static void test_log_text_format_and_level(void **state)
{
	struct kiln_buf out = KILN_BUF_INIT;
	struct kiln_log_options o = { .level = KILN_LOG_INFO, .format = KILN_LOG_FORMAT_TEXT };

	(void)state;
	capture(&out, &o, emit_some);
	assert_null(strstr(out.buf, "hidden"));
	assert_non_null(strstr(out.buf, "INFO[0000] Retrieving image manifest busybox\n"));
	assert_non_null(strstr(out.buf, "WARN[0000] login with password=***\n"));
	assert_null(strstr(out.buf, "hunter2"));
	assert_null(strstr(out.buf, "\033["));
	kiln_buf_release(&out);
}

static void test_log_color_format(void **state)
{
	struct kiln_buf out = KILN_BUF_INIT;
	struct kiln_log_options o = { .level = KILN_LOG_DEBUG, .format = KILN_LOG_FORMAT_COLOR };

	(void)state;
	capture(&out, &o, emit_some);
	assert_non_null(strstr(out.buf, "\033[37mDEBU\033[0m[0000] hidden at info\n"));
	assert_non_null(strstr(out.buf, "\033[36mINFO\033[0m[0000] Retrieving"));
	kiln_buf_release(&out);
}

static void emit_json(void)
{
	kiln_info("quote \" and\ttab, token=abcdef");
}

static void test_log_json_format(void **state)
{
	struct kiln_buf out = KILN_BUF_INIT;
	struct kiln_log_options o = { .level = KILN_LOG_INFO, .format = KILN_LOG_FORMAT_JSON };

	(void)state;
	capture(&out, &o, emit_json);
	assert_true(kiln_buf_starts_with(
		&out,
		"{\"level\":\"info\",\"msg\":\"quote \\\" and\\ttab, token=***\",\"time\":\""));
	assert_null(strstr(out.buf, "abcdef"));
	assert_int_equal(out.buf[out.len - 1], '\n');
	assert_int_equal(out.buf[out.len - 2], '}');
	kiln_buf_release(&out);
}

static void emit_trace(void)
{
	kiln_trace("snapshot", "walked %d dirs", 3);
	kiln_trace("registry", "GET %s", "/v2/");
}

static void test_log_trace_components(void **state)
{
	struct kiln_buf out = KILN_BUF_INIT;
	struct kiln_log_options o = { .level = KILN_LOG_INFO,
				      .format = KILN_LOG_FORMAT_TEXT,
				      .timestamps = true };

	(void)state;
	setenv("KILN_TRACE", "snapshot", 1);
	capture(&out, &o, emit_trace);
	unsetenv("KILN_TRACE");
	assert_non_null(strstr(out.buf, "] snapshot: walked 3 dirs\n"));
	assert_null(strstr(out.buf, "registry"));
	/* full timestamps: TRAC[2026-11-23T16:32:39Z] */
	assert_true(kiln_buf_starts_with(&out, "TRAC[2"));
	assert_non_null(strstr(out.buf, "Z] snapshot"));
	kiln_buf_release(&out);
}

static void test_log_parse_names(void **state)
{
	enum kiln_log_level level;
	enum kiln_log_format format;

	(void)state;
	assert_int_equal(kiln_log_level_parse(&level, "warn", NULL), 0);
	assert_int_equal(level, KILN_LOG_WARN);
	assert_int_equal(kiln_log_level_parse(&level, "TRACE", NULL), 0);
	assert_int_equal(level, KILN_LOG_TRACE);
	assert_int_equal(kiln_log_level_parse(&level, "loud", NULL), KILN_EINVAL);
	assert_int_equal(kiln_log_format_parse(&format, "json", NULL), 0);
	assert_int_equal(format, KILN_LOG_FORMAT_JSON);
	assert_int_equal(kiln_log_format_parse(&format, "xml", NULL), KILN_EINVAL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_log_redact_table),
	cmocka_unit_test(test_log_redact_registered_secret),
	cmocka_unit_test(test_log_secret_names),
	cmocka_unit_test(test_log_text_format_and_level),
	cmocka_unit_test(test_log_color_format),
	cmocka_unit_test(test_log_json_format),
	cmocka_unit_test(test_log_trace_components),
	cmocka_unit_test(test_log_parse_names),
};

KILN_TEST_MAIN(tests)
