#include "compat.h"
#include "registry.h"
#include "buf.h"
#include "error.h"
#include "kiln-test.h"

#define D64 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* Input, then the normalised pieces (NULL: absent). */
static const struct good_case {
	const char *in, *domain, *path, *tag, *digest, *api_host;
} good[] = {
	{ "alpine", "docker.io", "library/alpine", "latest", NULL, "registry-1.docker.io" },
	{ "alpine:3.19", "docker.io", "library/alpine", "3.19", NULL, "registry-1.docker.io" },
	{ "library/alpine", "docker.io", "library/alpine", "latest", NULL, NULL },
	{ "docker.io/alpine", "docker.io", "library/alpine", "latest", NULL, NULL },
	{ "index.docker.io/alpine", "docker.io", "library/alpine", "latest", NULL, NULL },
	{ "index.docker.io/foo/bar:v1", "docker.io", "foo/bar", "v1", NULL, NULL },
	{ "foo/bar", "docker.io", "foo/bar", "latest", NULL, NULL },
	{ "localhost/foo", "localhost", "foo", "latest", NULL, "localhost" },
	{ "localhost:5000/foo/bar:t", "localhost:5000", "foo/bar", "t", NULL, NULL },
	{ "127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "latest", NULL, NULL },
	{ "[::1]:5000/foo", "[::1]:5000", "foo", "latest", NULL, NULL },
	{ "ghcr.io/o/r@" D64, "ghcr.io", "o/r", NULL, D64, "ghcr.io" },
	{ "ghcr.io/o/r:1.0@" D64, "ghcr.io", "o/r", "1.0", D64, NULL },
	{ "Host/foo", "Host", "foo", "latest", NULL, NULL }, /* uppercase: a domain */
	{ "my-reg.example.com/a.b_c__d---e", "my-reg.example.com", "a.b_c__d---e", "latest", NULL,
	  NULL },
	{ "alpine:_x", "docker.io", "library/alpine", "_x", NULL, NULL },
};

static void test_ref_parse_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(good); i++) {
		const struct good_case *c = &good[i];
		struct kiln_error err = KILN_ERROR_INIT;
		struct registry_ref r = REGISTRY_REF_INIT;

		if (registry_ref_parse(&r, c->in, &err) < 0)
			fail_msg("'%s': %s", c->in, kiln_error_msg(&err));
		assert_string_equal(r.domain, c->domain);
		assert_string_equal(r.path, c->path);
		if (c->tag)
			assert_string_equal(r.tag, c->tag);
		else
			assert_null(r.tag);
		if (c->digest)
			assert_string_equal(r.digest, c->digest);
		else
			assert_null(r.digest);
		if (c->api_host)
			assert_string_equal(registry_ref_api_host(&r), c->api_host);
		registry_ref_release(&r);
	}
}

/* Input, and a word the error must contain. */
static const struct bad_case {
	const char *in, *want;
} bad[] = {
	{ "", "empty" },
	{ "Alpine", "lowercase" },
	{ "docker.io/Foo/bar", "lowercase" },
	{ "foo//bar", "component" },
	{ "foo/-bar", "component" },
	{ "foo/bar-", "component" },
	{ "foo/a...b", "component" },
	{ "foo/a___b", "component" },
	{ "foo bar", "component" },
	{ "alpine:", "bad tag" },
	{ "alpine:.x", "bad tag" },
	{ "alpine:-x", "bad tag" },
	{ "alpine:a/b", "bad registry" },
	{ "alpine:t@sha256:abc", "bad digest" },
	{ "alpine@sha512:abcd", "bad digest" },
	{ "alpine@" D64 "x", "bad digest" },
	{ "a:b:c", "component" },
	{ "-host.com/foo", "bad registry" },
	{ "host..com/foo", "bad registry" },
	{ "host.com:port/foo", "bad registry" },
	{ "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "image ID" },
	{ "@" D64, "no repository" },
	{ ":tag", "no repository" },
};

static void test_ref_parse_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		struct kiln_error err = KILN_ERROR_INIT;
		struct registry_ref r = REGISTRY_REF_INIT;

		if (registry_ref_parse(&r, bad[i].in, &err) == 0)
			fail_msg("'%s' was accepted", bad[i].in);
		assert_int_equal(err.code, KILN_EINVAL);
		if (!strstr(kiln_error_msg(&err), bad[i].want))
			fail_msg("'%s': error '%s' lacks '%s'", bad[i].in, kiln_error_msg(&err),
				 bad[i].want);
		assert_null(r.domain);
		kiln_error_release(&err);
	}
}

static void test_ref_tag_length(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct registry_ref r = REGISTRY_REF_INIT;
	struct kiln_buf s = KILN_BUF_INIT;

	(void)state;
	kiln_buf_addstr(&s, "alpine:");
	for (int i = 0; i < REGISTRY_TAG_MAX; i++)
		kiln_buf_addch(&s, 'a');
	assert_int_equal(registry_ref_parse(&r, s.buf, &err), 0);
	assert_int_equal(strlen(r.tag), REGISTRY_TAG_MAX);
	registry_ref_release(&r);
	kiln_buf_addch(&s, 'a');
	assert_int_equal(registry_ref_parse(&r, s.buf, &err), KILN_EINVAL);
	assert_non_null(strstr(kiln_error_msg(&err), "bad tag"));
	kiln_buf_release(&s);
	kiln_error_release(&err);
}

static void test_ref_name_length(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct registry_ref r = REGISTRY_REF_INIT;
	struct kiln_buf s = KILN_BUF_INIT;

	(void)state;
	kiln_buf_addstr(&s, "example.com/");
	while (s.len < REGISTRY_NAME_MAX)
		kiln_buf_addch(&s, 'a');
	assert_int_equal(registry_ref_parse(&r, s.buf, &err), 0);
	registry_ref_release(&r);
	kiln_buf_addch(&s, 'a');
	assert_int_equal(registry_ref_parse(&r, s.buf, &err), KILN_EINVAL);
	assert_non_null(strstr(kiln_error_msg(&err), "longer than"));
	kiln_buf_release(&s);
	kiln_error_release(&err);
}

static void test_ref_format_round_trip(void **state)
{
	static const char *const cases[][2] = {
		{ "alpine", "docker.io/library/alpine:latest" },
		{ "localhost:5000/x:y", "localhost:5000/x:y" },
		{ "ghcr.io/o/r@" D64, "ghcr.io/o/r@" D64 },
		{ "ghcr.io/o/r:t@" D64, "ghcr.io/o/r:t@" D64 },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_error err = KILN_ERROR_INIT;
		struct registry_ref r = REGISTRY_REF_INIT, r2 = REGISTRY_REF_INIT, copy;
		struct kiln_buf s = KILN_BUF_INIT, s2 = KILN_BUF_INIT;

		assert_int_equal(registry_ref_parse(&r, cases[i][0], &err), 0);
		registry_ref_format(&s, &r);
		assert_string_equal(s.buf, cases[i][1]);
		/* The normalised form parses to the same reference. */
		assert_int_equal(registry_ref_parse(&r2, s.buf, &err), 0);
		registry_ref_copy(&copy, &r2);
		registry_ref_format(&s2, &copy);
		assert_string_equal(s2.buf, s.buf);
		registry_ref_release(&r);
		registry_ref_release(&r2);
		registry_ref_release(&copy);
		kiln_buf_release(&s);
		kiln_buf_release(&s2);
	}
}

static void test_ref_loopback(void **state)
{
	static const struct {
		const char *domain;
		bool loopback;
	} cases[] = {
		{ "localhost", true },
		{ "localhost:5000", true },
		{ "LOCALHOST", true },
		{ "127.0.0.1:41234", true },
		{ "127.1.2.3", true },
		{ "[::1]:5000", true },
		{ "[::1]", true },
		{ "128.0.0.1", false },
		{ "127.0.0.256", false },
		{ "localhost.evil.com", false },
		{ "127.0.0.1.evil.com", false },
		{ "docker.io", false },
		{ "[::2]:5000", false },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		if (registry_host_is_loopback(cases[i].domain) != cases[i].loopback)
			fail_msg("'%s': want %d", cases[i].domain, cases[i].loopback);
	}
}

/* One test per line: test/CMakeLists.txt discovers them line by line. */
/* clang-format off */
static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_ref_parse_good),
	cmocka_unit_test(test_ref_parse_bad),
	cmocka_unit_test(test_ref_tag_length),
	cmocka_unit_test(test_ref_name_length),
	cmocka_unit_test(test_ref_format_round_trip),
	cmocka_unit_test(test_ref_loopback),
};
/* clang-format on */

KILN_TEST_MAIN(tests)
