#include "compat.h"
#include "duration.h"
#include "error.h"
#include "kiln-test.h"

static void test_duration_valid(void **state)
{
	static const struct {
		const char *in;
		int64_t want;
	} cases[] = {
		{ "0", 0 },	   { "336h", 336 * 3600 },
		{ "1h30m", 5400 }, { "90s", 90 },
		{ "1.5h", 5400 },  { "500ms", 0 },
		{ "2m30s", 150 },  { "1h1m1s", 3661 },
		{ "1500ms", 1 },   { "3600000000000ns", 3600 },
		{ ".5m", 30 },
	};
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		int64_t got = -1;

		if (kiln_duration_parse(&got, cases[i].in, &err) < 0)
			fail_msg("'%s': %s", cases[i].in, kiln_error_msg(&err));
		if (got != cases[i].want)
			fail_msg("'%s' = %lld, want %lld", cases[i].in, (long long)got,
				 (long long)cases[i].want);
	}
	kiln_error_release(&err);
}

static void test_duration_invalid(void **state)
{
	static const char *const bad[] = { "",	  "10",	  "2d",
					   "h",	  "-1h",  "1h-",
					   "1 h", "1e3h", "99999999999999999h" };
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		int64_t got = 0;

		if (kiln_duration_parse(&got, bad[i], &err) == 0)
			fail_msg("'%s' parsed as %lld", bad[i], (long long)got);
		assert_non_null(strstr(kiln_error_msg(&err), "invalid duration"));
	}
	kiln_error_release(&err);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_duration_valid),
	cmocka_unit_test(test_duration_invalid),
};

KILN_TEST_MAIN(tests)
