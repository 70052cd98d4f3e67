/* check_secmem.c: the per-domain security memory's store (common/secmem.c):
 * learning only raises, forget, the deferral reason, damaged records, and
 * many processes learning at once without losing the highest level. */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "common/secmem.h"
#include "tests/unit/unit.h"

static struct dsmtp_config cfg;
static char dir[] = "/tmp/check_secmem.XXXXXX";

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	config_defaults(&cfg);
	free(cfg.state_dir);
	cfg.state_dir = strdup(dir);
}

static void
teardown(void)
{
	char cmd[200];

	config_free(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
}

START_TEST(test_learn_raise_forget)
{
	struct secmem_rec r;
	struct dsmtp_err err;
	char why[400];

	ck_assert_int_eq(secmem_get(&cfg, "example.com", &r, &err), 0);
	ck_assert_int_eq(secmem_below(&cfg, "example.com", SECMEM_PLAINTEXT, why, sizeof(why), &err), 0);
	ck_assert_int_eq(secmem_learn(&cfg, "Example.COM.", SECMEM_TLS, NULL, "mx1", 1000, &err), 1);
	ck_assert_int_eq(secmem_learn(&cfg, "example.com", SECMEM_TLS, NULL, "mx2", 2000, &err), 0);
	ck_assert_int_eq(secmem_learn(&cfg, "example.com", SECMEM_PLAINTEXT, NULL, "mx2", 2000, &err), 0);
	ck_assert_int_eq(secmem_get(&cfg, "example.com", &r, &err), 1);
	ck_assert_int_eq(r.level, SECMEM_TLS);
	ck_assert_str_eq(r.host, "mx1");
	ck_assert_int_eq(secmem_learn(&cfg, "example.com", SECMEM_AUTH, "dane", "mx3", 1765000000, &err), 1);
	ck_assert_int_eq(secmem_get(&cfg, "example.com", &r, &err), 1);
	ck_assert_int_eq(r.level, SECMEM_AUTH);
	ck_assert_str_eq(r.method, "dane");
	ck_assert_int_eq(secmem_below(&cfg, "example.com", SECMEM_AUTH, why, sizeof(why), &err), 0);
	ck_assert_int_eq(secmem_below(&cfg, "example.com", SECMEM_TLS, why, sizeof(why), &err), 1);
	ck_assert_str_eq(why, "security memory: example.com showed authenticated TLS (dane) on "
	    "2025-12-06 (host mx3), this connection offered only unauthenticated TLS");
	secmem_cause(&cfg, "example.com", SECMEM_PLAINTEXT, why, sizeof(why));
	ck_assert_str_eq(why, "authenticated TLS (dane) shown before, only plaintext now");
	ck_assert_int_eq(secmem_forget(&cfg, "example.com", &err), 1);
	ck_assert_int_eq(secmem_forget(&cfg, "example.com", &err), 0);
	ck_assert_int_eq(secmem_get(&cfg, "example.com", &r, &err), 0);
	/* names that are no file names */
	ck_assert_int_eq(secmem_learn(&cfg, "../etc", SECMEM_TLS, NULL, "x", 1, &err), -1);
	ck_assert_int_eq(secmem_learn(&cfg, "a/b", SECMEM_TLS, NULL, "x", 1, &err), -1);
	ck_assert_int_eq(secmem_get(&cfg, ".lock", &r, &err), -1);
	ck_assert(secmem_domain_valid("xn--bcher-kva.example"));
	ck_assert(!secmem_domain_valid("[192.0.2.1]"));
	ck_assert(!secmem_domain_valid(""));
}
END_TEST

START_TEST(test_list_and_damage)
{
	struct secmem_rec *recs, r;
	struct dsmtp_err err;
	char path[300];
	size_t n;
	FILE *f;

	ck_assert_int_eq(secmem_learn(&cfg, "b.example", SECMEM_AUTH, "pkix", "mx", 5, &err), 1);
	ck_assert_int_eq(secmem_learn(&cfg, "a.example", SECMEM_TLS, NULL, "mx", 5, &err), 1);
	ck_assert_int_eq(secmem_list(&cfg, &recs, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(recs[0].domain, "a.example");
	ck_assert_str_eq(recs[1].domain, "b.example");
	free(recs);
	/* a damaged record is an error (the caller defers), not a guess */
	snprintf(path, sizeof(path), "%s/memory/c.example", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("level excellent\n", f);
	fclose(f);
	ck_assert_int_eq(secmem_get(&cfg, "c.example", &r, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "damaged"));
}
END_TEST

/* 8 processes learn levels in different orders: the highest wins, and
 * the file is whole */
START_TEST(test_concurrent_writers)
{
	struct secmem_rec r;
	struct dsmtp_err err;
	pid_t pids[8];

	for (int k = 0; k < 8; k++) {
		if ((pids[k] = fork()) == 0) {
			for (int i = 0; i < 50; i++) {
				enum secmem_level l = (enum secmem_level)((i + k) % 3);

				if (k == 3 && i == 25)
					l = SECMEM_AUTH;
				if (secmem_learn(&cfg, "race.example", l, l == SECMEM_AUTH ? "pin" : NULL,
				    "mx", i, &err) < 0)
					_exit(1);
			}
			_exit(0);
		}
		ck_assert_int_gt(pids[k], 0);
	}
	for (int k = 0; k < 8; k++) {
		int st;

		ck_assert_int_eq(waitpid(pids[k], &st, 0), pids[k]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	ck_assert_int_eq(secmem_get(&cfg, "race.example", &r, &err), 1);
	ck_assert_int_eq(r.level, SECMEM_AUTH);
	ck_assert_str_eq(r.method, "pin");
}
END_TEST

static Suite *
secmem_suite(void)
{
	Suite *s = suite_create("secmem");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_learn_raise_forget);
	tcase_add_test(tc, test_list_and_damage);
	tcase_add_test(tc, test_concurrent_writers);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(secmem_suite());
}
