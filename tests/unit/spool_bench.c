/* spool_bench.c: commit rate of the spool (DESIGN.md section 12), printed,
 * never asserted. For 1, 10 and 50 messages of 10 KB in flight at once,
 * through a real ev_loop, with group commit and with one fsync group per
 * message (spool_test_group_max(sp, 1)); then the removal of delivered
 * messages as dsmtpc does it, synchronous (spool_remove) against grouped
 * on the worker (spool_remove_async, 50 in flight). Not installed; run:
 *	tests/unit/spool_bench DIR [MESSAGES_PER_RUN [ROUNDS]]
 * DIR should be on the file system the spool will live on. */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <ev.h>

#include "common/spool.h"

struct run {
	struct ev_loop		*loop;
	struct spool		*sp;
	struct spool_envelope	 env;
	unsigned		 total, started, finished, failed;
};

static char data[10240];

static void	start_one(struct run *r);

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
done(void *arg, int rc, const char *id, const char *why)
{
	struct run *r = arg;

	r->finished++;
	if (rc != 0) {
		r->failed++;
		fprintf(stderr, "spool_bench: commit failed: %s\n", why);
	}
	/* keep the same number in flight until the run is done */
	if (r->started < r->total)
		start_one(r);
}

static void
start_one(struct run *r)
{
	struct dsmtp_err err;
	struct spool_msg *m = spool_msg_new(r->sp, &err);

	r->started++;
	if (m == NULL) {
		fprintf(stderr, "spool_bench: %s\n", err.msg);
		r->finished++;
		r->failed++;
		return;
	}
	if (spool_msg_write(m, data, sizeof(data)) < 0)
		fprintf(stderr, "spool_bench: write: %s\n", strerror(errno));
	spool_msg_commit(m, &r->env, done, r);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* one run: total commits with conc in flight; commits/s */
static double
run_once(const char *base, bool grouped, unsigned conc, unsigned total, double *per_group)
{
	struct spool_rcpt rcpt = { .addr = (char *)(uintptr_t)"bob@example.net" };
	struct run r = { .total = total };
	struct dsmtp_err err;
	uint64_t groups, commits;
	char dir[4096];
	double t0, t1;

	snprintf(dir, sizeof(dir), "%s/bench-%s-%u", base, grouped ? "group" : "single", conc);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		perror(dir);
		exit(73);
	}
	r.env.sender = (char *)(uintptr_t)"alice@example.org";
	r.env.rcpts = &rcpt;
	r.env.nrcpts = 1;
	if ((r.loop = ev_loop_new(EVFLAG_AUTO)) == NULL ||
	    (r.sp = spool_open(dir, r.loop, &err)) == NULL) {
		fprintf(stderr, "spool_bench: %s\n", r.loop ? err.msg : "ev_loop_new");
		exit(71);
	}
	if (!grouped)
		spool_test_group_max(r.sp, 1);
	t0 = now_s();
	for (unsigned i = 0; i < conc && r.started < r.total; i++)
		start_one(&r);
	ev_run(r.loop, 0);
	t1 = now_s();
	spool_test_stats(r.sp, &groups, &commits);
	spool_close(r.sp);
	ev_loop_destroy(r.loop);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (r.failed)
		fprintf(stderr, "spool_bench: %u commits failed\n", r.failed);
	*per_group = groups ? (double)commits / (double)groups : 0.0;
	return r.finished / (t1 - t0);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct rm_run {
	struct spool	*sp;
	char		**ids;
	size_t		 n, next, finished, failed;
};

static void	rm_next(struct rm_run *r);

static void
rm_done(void *arg, int rc, const char *id, const char *why)
{
	struct rm_run *r = arg;

	r->finished++;
	if (rc != 0)
		r->failed++;
	spool_release(r->sp, id);
	rm_next(r);
}

static void
rm_next(struct rm_run *r)
{
	struct dsmtp_err err;
	const char *id;

	if (r->next == r->n)
		return;
	id = r->ids[r->next++];
	if (spool_lease(r->sp, id, &err) != 0 || spool_remove_async(r->sp, id, rm_done, r) < 0) {
		r->finished++;
		r->failed++;
		rm_next(r);
	}
}

static void
rm_put_done(void *arg, int rc, const char *id, const char *why)
{
	if (rc != 0)
		(*(unsigned *)arg)++;
}

/* total delivered messages removed, synchronously or grouped; removals/s */
static double
remove_once(const char *base, bool async, unsigned total)
{
	struct spool_rcpt rcpt = { .addr = (char *)(uintptr_t)"bob@example.net",
	    .state = SPOOL_RCPT_DELIVERED };
	struct spool_envelope env = { .rcpts = &rcpt, .nrcpts = 1 };
	struct rm_run r = { 0 };
	struct ev_loop *loop = NULL;
	struct dsmtp_err err;
	unsigned bad = 0;
	char dir[4096];
	double t0, t1;

	snprintf(dir, sizeof(dir), "%s/bench-remove-%s", base, async ? "async" : "sync");
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    (r.sp = spool_open(dir, NULL, &err)) == NULL) {
		perror(dir);
		exit(73);
	}
	for (unsigned i = 0; i < total; i++) {
		struct spool_msg *m = spool_msg_new(r.sp, &err);

		if (m == NULL || spool_msg_write(m, data, sizeof(data)) < 0)
			exit(74);
		spool_msg_commit(m, &env, rm_put_done, &bad);
	}
	spool_close(r.sp);
	if (async && (loop = ev_loop_new(EVFLAG_AUTO)) == NULL)
		exit(71);
	if ((r.sp = spool_open(dir, loop, &err)) == NULL ||
	    spool_list_ids(r.sp, &r.ids, &r.n, &err) < 0)
		exit(74);
	t0 = now_s();
	if (async) {
		for (int i = 0; i < 50; i++)
			rm_next(&r);
		ev_run(loop, 0);
	} else {
		for (size_t i = 0; i < r.n; i++) {
			if (spool_remove(r.sp, r.ids[i], &err) < 0)
				r.failed++;
			r.finished++;
		}
	}
	t1 = now_s();
	if (r.failed || bad)
		fprintf(stderr, "spool_bench: %zu removals, %u commits failed\n", r.failed, bad);
	spool_ids_free(r.ids, r.n);
	spool_close(r.sp);
	if (loop != NULL)
		ev_loop_destroy(loop);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return (double)r.finished / (t1 - t0);
}

#define ROUNDS_MAX	15

int
main(int argc, char **argv)
{
	static const unsigned concs[] = { 1, 10, 50 };
	unsigned total = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 300;
	unsigned rounds = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 5;

	if (argc < 2 || total == 0 || rounds == 0 || rounds > ROUNDS_MAX) {
		fprintf(stderr, "usage: spool_bench DIR [MESSAGES_PER_RUN [ROUNDS]]\n");
		return 64;
	}
	memset(data, 'x', sizeof(data));
	printf("%u messages of %zu bytes per run, %u rounds, group and single runs "
	    "alternated; median (min..max) commits/s\n", total, sizeof(data), rounds);
	for (size_t c = 0; c < sizeof(concs) / sizeof(concs[0]); c++) {
		double rate[2][ROUNDS_MAX], pg[2] = { 0, 0 };

		for (unsigned k = 0; k < rounds; k++)
			for (int g = 1; g >= 0; g--)
				rate[g][k] = run_once(argv[1], g, concs[c], total, &pg[g]);
		for (int g = 1; g >= 0; g--) {
			qsort(rate[g], rounds, sizeof(double), cmp_double);
			printf("%2u in flight, %-26s %7.0f (%5.0f..%5.0f) commits/s, %4.1f per group\n",
			    concs[c], g ? "group commit:" : "one fsync group per msg:",
			    rate[g][rounds / 2], rate[g][0], rate[g][rounds - 1], pg[g]);
		}
		printf("%2u in flight, group commit speed-up (medians): %.1fx\n", concs[c],
		    rate[1][rounds / 2] / rate[0][rounds / 2]);
		fflush(stdout);
	}
	{
		double rm[2][ROUNDS_MAX];

		for (unsigned k = 0; k < rounds; k++)
			for (int a = 1; a >= 0; a--)
				rm[a][k] = remove_once(argv[1], a, total);
		for (int a = 1; a >= 0; a--) {
			qsort(rm[a], rounds, sizeof(double), cmp_double);
			printf("removal of delivered messages, %-38s %7.0f (%5.0f..%5.0f) /s\n",
			    a ? "spool_remove_async (50 in flight):" : "spool_remove (one by one):",
			    rm[a][rounds / 2], rm[a][0], rm[a][rounds - 1]);
		}
	}
	return 0;
}
