#include "compat.h"
#include "digest.h"
#include "error.h"
#include "kiln-test.h"

/* sha256("abc"), from FIPS 180-2. */
#define ABC_DIGEST "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void test_digest_of_known_vector(void **state)
{
	struct kiln_digest d;
	char s[KILN_DIGEST_STR_SIZE];

	(void)state;
	kiln_digest_of(&d, "abc", 3);
	kiln_digest_format(s, &d);
	assert_string_equal(s, ABC_DIGEST);
}

static void test_digest_streaming_matches_oneshot(void **state)
{
	struct kiln_sha256 h;
	struct kiln_digest a, b;

	(void)state;
	kiln_sha256_init(&h);
	kiln_sha256_update(&h, "a", 1);
	kiln_sha256_update(&h, "", 0);
	kiln_sha256_update(&h, "bc", 2);
	kiln_sha256_final(&h, &a);
	kiln_digest_of(&b, "abc", 3);
	assert_true(kiln_digest_eq(&a, &b));
}

static void test_digest_parse_round_trip(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_digest d, abc;
	char s[KILN_DIGEST_STR_SIZE];

	(void)state;
	assert_int_equal(kiln_digest_parse(&d, ABC_DIGEST, &err), 0);
	kiln_digest_of(&abc, "abc", 3);
	assert_true(kiln_digest_eq(&d, &abc));
	kiln_digest_format(s, &d);
	assert_string_equal(s, ABC_DIGEST);
	kiln_error_release(&err);
}

struct bad_case {
	const char *in, *why;
};

static void test_digest_parse_rejects_bad(void **state)
{
	static const struct bad_case cases[] = {
		{ "", "expected 'sha256:'" },
		{ "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		  "expected 'sha256:'" },
		{ "sha256:", "64 hex digits, not 0" },
		{ "sha256:ba7816bf", "64 hex digits, not 8" },
		{ "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
		  "lowercase hex" },
		{ "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015az",
		  "lowercase hex" },
		{ "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
		  "64 hex digits, not 65" },
		{ "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		  "only sha256" },
		{ "SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		  "only sha256" },
		{ "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2001 ad",
		  "lowercase hex" },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_error err = KILN_ERROR_INIT;
		struct kiln_digest d;

		if (kiln_digest_parse(&d, cases[i].in, &err) != KILN_EINVAL)
			fail_msg("'%s' was accepted", cases[i].in);
		if (!strstr(kiln_error_msg(&err), cases[i].why))
			fail_msg("'%s': message '%s' lacks '%s'", cases[i].in, kiln_error_msg(&err),
				 cases[i].why);
		kiln_error_release(&err);
	}
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_digest_of_known_vector),
	cmocka_unit_test(test_digest_streaming_matches_oneshot),
	cmocka_unit_test(test_digest_parse_round_trip),
	cmocka_unit_test(test_digest_parse_rejects_bad),
};

KILN_TEST_MAIN(tests)
