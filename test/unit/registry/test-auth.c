/* The registry module's internal helpers that decide where credentials go
 * and how challenges and upload Locations are read (registry-int.h). */
#include "compat.h"
#include "registry-int.h"
#include "buf.h"
#include "error.h"
#include "kiln-test.h"

static void test_base64_round_trip(void **state)
{
	static const char *const cases[][2] = {
		{ "", "" },	   { "f", "Zg==" },	   { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" }, { "user:p:ss", "dXNlcjpwOnNz" },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_buf enc = KILN_BUF_INIT, dec = KILN_BUF_INIT;

		reg_base64_encode(&enc, cases[i][0], strlen(cases[i][0]));
		assert_string_equal(enc.buf, cases[i][1]);
		assert_int_equal(reg_base64_decode(&dec, enc.buf), 0);
		assert_string_equal(dec.buf, cases[i][0]);
		kiln_buf_release(&enc);
		kiln_buf_release(&dec);
	}
	{
		struct kiln_buf dec = KILN_BUF_INIT;

		assert_int_equal(reg_base64_decode(&dec, "a b"), KILN_EINVAL);
		kiln_buf_release(&dec);
	}
}

static void test_parse_challenge(void **state)
{
	static const struct {
		const char *in;
		int ret;
		enum reg_auth_kind kind;
		const char *realm, *service;
	} cases[] = {
		{ "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\"", 0,
		  REG_AUTH_BEARER, "https://auth.docker.io/token", "registry.docker.io" },
		{ "bearer service=\"s\", realm=\"https://a/t\", scope=\"repository:x:pull\"", 0,
		  REG_AUTH_BEARER, "https://a/t", "s" },
		{ "Bearer realm=https://a/t,service=s", 0, REG_AUTH_BEARER, "https://a/t", "s" },
		{ "Bearer realm=\"https://a/t?x=\\\"q\\\"\"", 0, REG_AUTH_BEARER,
		  "https://a/t?x=\"q\"", NULL },
		{ "Bearer service=\"s\"", KILN_EINVAL, REG_AUTH_BEARER, NULL, "s" },
		{ "Basic realm=\"kiln-test\"", 0, REG_AUTH_BASIC, NULL, NULL },
		{ "Basic", 0, REG_AUTH_BASIC, NULL, NULL },
		{ "Negotiate abc", KILN_EINVAL, REG_AUTH_UNKNOWN, NULL, NULL },
		{ "Basically", KILN_EINVAL, REG_AUTH_UNKNOWN, NULL, NULL },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		enum reg_auth_kind kind;
		char *realm = NULL, *service = NULL;

		assert_int_equal(reg_parse_challenge(&kind, &realm, &service, cases[i].in),
				 cases[i].ret);
		assert_int_equal(kind, cases[i].kind);
		if (cases[i].realm)
			assert_string_equal(realm, cases[i].realm);
		else
			assert_null(realm);
		if (cases[i].service)
			assert_string_equal(service, cases[i].service);
		else
			assert_null(service);
		free(realm);
		free(service);
	}
}

static void test_url_resolve(void **state)
{
	static const char base[] = "http://127.0.0.1:5000/v2/r/blobs/uploads/";
	static const char *const cases[][2] = {
		{ "/v2/r/blobs/uploads/abc?_state=x",
		  "http://127.0.0.1:5000/v2/r/blobs/uploads/abc?_state=x" },
		{ "abc", "http://127.0.0.1:5000/v2/r/blobs/uploads/abc" },
		{ "https://storage.example.com/u/1?sig=2",
		  "https://storage.example.com/u/1?sig=2" },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_error err = KILN_ERROR_INIT;
		struct kiln_buf out = KILN_BUF_INIT;

		assert_int_equal(reg_url_resolve(&out, base, cases[i][0], &err), 0);
		assert_string_equal(out.buf, cases[i][1]);
		kiln_buf_release(&out);
	}
}

/* Credentials go to scheme://host:port of the registry, nowhere else. */
static void test_same_origin(void **state)
{
	struct reg_host h = { .base = (char *)"https://reg.example.com:5000" };
	static const struct {
		const char *url;
		bool same;
	} cases[] = {
		{ "https://reg.example.com:5000/v2/", true },
		{ "https://reg.example.com:5000", true },
		{ "https://reg.example.com:5000?x", true },
		{ "https://reg.example.com:50001/v2/", false },
		{ "https://reg.example.com:5000.evil.com/v2/", false },
		{ "https://reg.example.com:5000@evil.com/v2/", false },
		{ "http://reg.example.com:5000/v2/", false },
		{ "https://storage.example.com/blob", false },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		if (reg_same_origin(&h, cases[i].url) != cases[i].same)
			fail_msg("'%s': want %d", cases[i].url, cases[i].same);
	}
	assert_false(reg_same_origin(NULL, "https://reg.example.com:5000/v2/"));
}

/* One test per line: test/CMakeLists.txt discovers them line by line. */
/* clang-format off */
static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_base64_round_trip),
	cmocka_unit_test(test_parse_challenge),
	cmocka_unit_test(test_url_resolve),
	cmocka_unit_test(test_same_origin),
};
/* clang-format on */

KILN_TEST_MAIN(tests)
