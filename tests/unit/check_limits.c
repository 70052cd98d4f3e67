/* check_limits.c: unit tests of smtpd/limits.c, the connection table
 * shared by dsmtpd's workers: the total and per-address limits across
 * workers, places given back, a dead worker forgotten, and the hash
 * table (deletion without tombstones) against a simple model under many
 * random admissions and releases, in one process and across a fork. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smtpd/smtpd.h"
#include "tests/unit/unit.h"

static struct sockaddr_storage
v4(unsigned a, unsigned b)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl((10u << 24) | (a << 8) | b);
	return ss;
}

static struct sockaddr_storage
v6(const char *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, s, &sin6->sin6_addr), 1);
	return ss;
}

START_TEST(test_limits_across_workers)
{
	struct dsmtp_err err = { "" };
	struct smtpd_limits *l = smtpd_limits_new(3, 5, &err);
	struct sockaddr_storage a = v4(0, 1), b = v4(0, 2), c = v6("2001:db8::1");

	ck_assert_msg(l != NULL, "%s", err.msg);
	/* three from one address, one per worker: the third is the limit */
	ck_assert_int_eq(smtpd_limits_acquire(l, 0, &a, 5, 3), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limits_acquire(l, 1, &a, 5, 3), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limits_acquire(l, 2, &a, 5, 3), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limits_acquire(l, 0, &a, 5, 3), SMTPD_LIMIT_PER_IP);
	ck_assert_int_eq(smtpd_limits_acquire(l, 1, &b, 5, 3), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limits_acquire(l, 2, &c, 5, 3), SMTPD_LIMIT_OK);
	ck_assert_uint_eq(smtpd_limits_total(l), 5);
	ck_assert_int_eq(smtpd_limits_acquire(l, 0, &b, 5, 3), SMTPD_LIMIT_TOTAL);
	/* a place given back is taken again, by any worker */
	smtpd_limits_release(l, 1, &a);
	ck_assert_int_eq(smtpd_limits_acquire(l, 2, &a, 5, 3), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limits_acquire(l, 2, &a, 5, 3), SMTPD_LIMIT_TOTAL);
	/* worker 2 dies holding three: forgotten, the others keep theirs */
	smtpd_limits_forget_worker(l, 2);
	ck_assert_uint_eq(smtpd_limits_total(l), 2);
	ck_assert_int_eq(smtpd_limits_acquire(l, 2, &a, 5, 3), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limits_acquire(l, 2, &a, 5, 3), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limits_acquire(l, 2, &a, 5, 3), SMTPD_LIMIT_PER_IP);
	smtpd_limits_free(l);
}
END_TEST

#define NADDR	97
#define NOPS	20000

static const struct {
	unsigned	 max_total, max_ip;
} models[] = {
	{ 150, 4 },
	{ 8, 2 },	/* a 16-slot table: long runs, many deletions inside them */
	{ 12, 3 },
};

/* random admissions and releases against a model of the counts */
START_TEST(test_limits_model)
{
	struct dsmtp_err err = { "" };
	unsigned max_total = models[_i].max_total, max_ip = models[_i].max_ip, nw = 2;
	struct smtpd_limits *l = smtpd_limits_new(nw, max_total, &err);
	unsigned held[2][NADDR] = { { 0 } }, total = 0;
	unsigned seed = unit_seed("limits model", 12345);

	ck_assert_msg(l != NULL, "%s", err.msg);
	for (int op = 0; op < NOPS; op++) {
		unsigned w, i, ipn;
		struct sockaddr_storage ss;
		enum smtpd_limit want, got;

		seed = seed * 1103515245u + 12345u;
		w = (seed >> 16) % nw;
		seed = seed * 1103515245u + 12345u;
		i = (seed >> 16) % NADDR;
		/* close neighbours collide in a small table */
		ss = (i % 3) ? v4(i / 7, i) : v4(0, i);
		ipn = held[0][i] + held[1][i];
		seed = seed * 1103515245u + 12345u;
		if (((seed >> 16) & 1) && held[w][i] > 0) {
			smtpd_limits_release(l, w, &ss);
			held[w][i]--;
			total--;
			continue;
		}
		want = total >= max_total ? SMTPD_LIMIT_TOTAL :
		    ipn >= max_ip ? SMTPD_LIMIT_PER_IP : SMTPD_LIMIT_OK;
		got = smtpd_limits_acquire(l, w, &ss, max_total, max_ip);
		ck_assert_msg(got == want, "op %d: worker %u address %u: got %d, want %d", op, w, i,
		    got, want);
		if (got == SMTPD_LIMIT_OK) {
			held[w][i]++;
			total++;
		}
	}
	ck_assert_uint_eq(smtpd_limits_total(l), total);
	smtpd_limits_free(l);
}
END_TEST

/* the table is shared with a forked worker, as dsmtpd's are */
START_TEST(test_limits_fork)
{
	struct dsmtp_err err = { "" };
	struct smtpd_limits *l = smtpd_limits_new(2, 10, &err);
	struct sockaddr_storage a = v4(1, 1);
	int status;
	pid_t p;

	ck_assert_msg(l != NULL, "%s", err.msg);
	p = fork();
	ck_assert_int_ge(p, 0);
	if (p == 0)
		_exit(smtpd_limits_acquire(l, 1, &a, 10, 2) == SMTPD_LIMIT_OK &&
		    smtpd_limits_acquire(l, 1, &a, 10, 2) == SMTPD_LIMIT_OK ? 0 : 1);
	ck_assert_int_eq(waitpid(p, &status, 0), p);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(smtpd_limits_acquire(l, 0, &a, 10, 2), SMTPD_LIMIT_PER_IP);
	smtpd_limits_forget_worker(l, 1);	/* as the parent does when it reaps */
	ck_assert_int_eq(smtpd_limits_acquire(l, 0, &a, 10, 2), SMTPD_LIMIT_OK);
	smtpd_limits_free(l);
}
END_TEST

static Suite *
limits_suite(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("shared");

	tcase_add_test(tc, test_limits_across_workers);
	tcase_add_loop_test(tc, test_limits_model, 0, (int)(sizeof(models) / sizeof(models[0])));
	tcase_add_test(tc, test_limits_fork);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(limits_suite());
}
