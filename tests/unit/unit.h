/* unit.h: what every Check unit test shares: the runner (TAP on stdout,
 * so the automake TAP driver reports each test case), one generous
 * per-test timeout, and seeds for randomised tests that are printed and
 * taken back from DSMTP_TEST_SEED. */
#ifndef DSMTP_TESTS_UNIT_H
#define DSMTP_TESTS_UNIT_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* seconds a test may take. Check's default (4 s) fails sound tests on a
 * loaded machine; this still ends a test stuck in a loop.
 * CK_TIMEOUT_MULTIPLIER scales it further when needed. */
#define UNIT_TIMEOUT	300

/* the seed for a randomised test: DSMTP_TEST_SEED when set (to repeat a
 * run), else dflt; printed as a TAP comment either way */
static inline unsigned
unit_seed(const char *what, unsigned dflt)
{
	const char *env = getenv("DSMTP_TEST_SEED");
	unsigned seed = dflt;
	char *end;

	if (env != NULL && *env != '\0') {
		unsigned long v;

		errno = 0;
		v = strtoul(env, &end, 10);
		if (errno != 0 || *end != '\0' || v > 0xffffffffUL) {
			fprintf(stderr, "DSMTP_TEST_SEED=%s: not a 32-bit number\n", env);
			exit(EXIT_FAILURE);
		}
		seed = (unsigned)v;
	}
	printf("# %s: seed %u (DSMTP_TEST_SEED=%u repeats it)\n", what, seed, seed);
	fflush(stdout);
	return seed;
}

/* run the suite with TAP on stdout (the Check summary too); exit status
 * for main: EXIT_FAILURE when any test failed */
static inline int
unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
