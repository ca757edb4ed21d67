/*
 * kiln-test.h: what every cmocka unit program shares.
 *
 * Each test program is run once per test function by ctest ("prog name"),
 * so a failing test is reported by name; with no argument it runs all.
 */
#ifndef KILN_TEST_H
#define KILN_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

/* With a name, run just that test; a name matching no test is a failure,
 * so a renamed test cannot pass silently by running nothing. */
#define KILN_TEST_MAIN(tests)                                                     \
	int main(int argc, char **argv)                                           \
	{                                                                         \
		if (argc > 1) {                                                   \
			size_t i = 0;                                             \
			while (i < sizeof(tests) / sizeof(tests[0]) &&            \
			       strcmp(tests[i].name, argv[1]))                    \
				i++;                                              \
			if (i == sizeof(tests) / sizeof(tests[0])) {              \
				fprintf(stderr, "no test named '%s'\n", argv[1]); \
				return 1;                                         \
			}                                                         \
			cmocka_set_test_filter(argv[1]);                          \
		}                                                                 \
		return cmocka_run_group_tests(tests, NULL, NULL);                 \
	}

#endif
