/* check_sched.c: unit tests of dsmtpc's schedule (smtpc/sched.c): the
 * index by id, the order in which messages come up (ready time, then
 * id), busy leases (and one freed early), in-flight entries, `once`
 * mode and its count of untried messages, and a long random run checked
 * against a plain array scanned the slow way (what queue.c did before). */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc/smtpc.h"
#include "tests/unit/unit.h"

static void
mkid(char id[SPOOL_ID_SIZE], unsigned n)
{
	snprintf(id, SPOOL_ID_SIZE, "%014x%06x%04x", n * 7919u, 4242u, n & 0xffffu);
}

START_TEST(test_sched_index)
{
	struct smtpc_sched sc;
	char id[SPOOL_ID_SIZE];
	const unsigned n = 20000;

	ck_assert_int_eq(smtpc_sched_init(&sc, false, 100), 0);
	for (unsigned i = 0; i < n; i++) {
		mkid(id, i);
		ck_assert_ptr_nonnull(smtpc_sched_put(&sc, id, (double)(i % 97)));
	}
	ck_assert_uint_eq(smtpc_sched_count(&sc), n);
	/* put again: the same entry, a new due time */
	mkid(id, 5);
	ck_assert_ptr_eq(smtpc_sched_put(&sc, id, 3), smtpc_sched_find(&sc, id));
	ck_assert_uint_eq(smtpc_sched_count(&sc), n);
	for (unsigned i = 0; i < n; i += 2) {
		mkid(id, i);
		smtpc_sched_drop(&sc, smtpc_sched_find(&sc, id));
	}
	ck_assert_uint_eq(smtpc_sched_count(&sc), n / 2);
	for (unsigned i = 0; i < n; i++) {
		mkid(id, i);
		if (i % 2)
			ck_assert_str_eq(smtpc_sched_find(&sc, id)->id, id);
		else
			ck_assert_ptr_null(smtpc_sched_find(&sc, id));
	}
	ck_assert_ptr_null(smtpc_sched_find(&sc, "nosuchid"));
	smtpc_sched_free(&sc);
}
END_TEST

/* entries come up by ready time, ties by id (arrival order) */
START_TEST(test_sched_order)
{
	struct smtpc_sched sc;
	struct smtpc_sched_ent *e;
	const char *order[] = { "b", "a2", "c", "a1" };
	double due[] = { 5, 1, 1, 9 };
	const char *want[] = { "a2", "c", "b", "a1" };

	ck_assert_int_eq(smtpc_sched_init(&sc, false, 0), 0);
	ck_assert_ptr_null(smtpc_sched_top(&sc));
	for (size_t i = 0; i < 4; i++)
		ck_assert_ptr_nonnull(smtpc_sched_put(&sc, order[i], due[i]));
	for (size_t i = 0; i < 4; i++) {
		e = smtpc_sched_top(&sc);
		ck_assert_ptr_nonnull(e);
		ck_assert_str_eq(e->id, want[i]);
		e->inflight = true;
		ck_assert_int_eq(smtpc_sched_fix(&sc, e), 0);
	}
	ck_assert_ptr_null(smtpc_sched_top(&sc));
	/* back from flight with a later due time */
	e = smtpc_sched_find(&sc, "a2");
	e->inflight = false;
	e->due = 50;
	ck_assert_int_eq(smtpc_sched_fix(&sc, e), 0);
	ck_assert_str_eq(smtpc_sched_top(&sc)->id, "a2");
	ck_assert(smtpc_sched_ready_at(smtpc_sched_top(&sc)) == 50);
	/* a busy lease: ready at not_before when that is later */
	e = smtpc_sched_find(&sc, "c");
	e->inflight = false;
	e->not_before = 60;
	ck_assert_int_eq(smtpc_sched_fix(&sc, e), 0);
	ck_assert_str_eq(smtpc_sched_top(&sc)->id, "a2");
	ck_assert(smtpc_sched_ready_at(e) == 60);
	smtpc_sched_drop(&sc, smtpc_sched_find(&sc, "a2"));
	ck_assert_str_eq(smtpc_sched_top(&sc)->id, "c");
	smtpc_sched_free(&sc);
}
END_TEST

/* once: only what was due at start, each once; bounces (due 0) too */
START_TEST(test_sched_once)
{
	struct smtpc_sched sc;
	struct smtpc_sched_ent *e;

	ck_assert_int_eq(smtpc_sched_init(&sc, true, 100), 0);
	ck_assert_ptr_nonnull(smtpc_sched_put(&sc, "due", 50));
	ck_assert_ptr_nonnull(smtpc_sched_put(&sc, "later", 150));
	ck_assert_ptr_nonnull(smtpc_sched_put(&sc, "never", 1e300));
	ck_assert_uint_eq(smtpc_sched_pending(&sc), 1);
	e = smtpc_sched_top(&sc);
	ck_assert_str_eq(e->id, "due");
	e->tried = e->inflight = true;
	ck_assert_int_eq(smtpc_sched_fix(&sc, e), 0);
	ck_assert_uint_eq(smtpc_sched_pending(&sc), 0);
	ck_assert_ptr_null(smtpc_sched_top(&sc));
	/* a bounce queued during the run */
	ck_assert_ptr_nonnull(smtpc_sched_put(&sc, "bounce", 0));
	ck_assert_uint_eq(smtpc_sched_pending(&sc), 1);
	ck_assert_str_eq(smtpc_sched_top(&sc)->id, "bounce");
	/* deferred after its try: not again in this run */
	e->inflight = false;
	e->due = 40;
	ck_assert_int_eq(smtpc_sched_fix(&sc, e), 0);
	ck_assert_str_eq(smtpc_sched_top(&sc)->id, "bounce");
	ck_assert_uint_eq(smtpc_sched_pending(&sc), 1);
	/* a message that became due later than start is not owed */
	e = smtpc_sched_find(&sc, "bounce");
	smtpc_sched_drop(&sc, e);
	ck_assert_uint_eq(smtpc_sched_pending(&sc), 0);
	ck_assert_ptr_null(smtpc_sched_top(&sc));
	e = smtpc_sched_put(&sc, "later", 10);
	ck_assert_uint_eq(smtpc_sched_pending(&sc), 1);
	ck_assert_ptr_eq(smtpc_sched_top(&sc), e);
	smtpc_sched_free(&sc);
}
END_TEST

/* the slow reference: what the first scheduler computed by scanning */
struct ref {
	char	 id[SPOOL_ID_SIZE];
	double	 due, nb;
	bool	 inflight, tried, live;
};

static bool
ref_eligible(const struct ref *r, bool once, double start)
{
	return r->live && !r->inflight && (!once || (!r->tried && r->due <= start));
}

static double
ref_ready(const struct ref *r)
{
	return r->due > r->nb ? r->due : r->nb;
}

START_TEST(test_sched_random)
{
	enum { N = 300, STEPS = 30000 };
	static struct ref refs[N];
	struct smtpc_sched sc;
	bool once = _i == 1;
	const double start = 500;

	srand(unit_seed("random schedule", 12345) + (unsigned)_i);
	memset(refs, 0, sizeof(refs));
	for (unsigned i = 0; i < N; i++)
		mkid(refs[i].id, i);
	ck_assert_int_eq(smtpc_sched_init(&sc, once, start), 0);
	for (unsigned step = 0; step < STEPS; step++) {
		struct ref *r = &refs[rand() % N];
		struct smtpc_sched_ent *e = smtpc_sched_find(&sc, r->id);
		const struct ref *best = NULL;
		size_t pending = 0, live = 0;
		int op = rand() % 6;

		ck_assert(r->live == (e != NULL));
		if (op == 0 || !r->live) {
			r->due = (double)(rand() % 1000);
			if (!r->live) {
				r->nb = 0;
				r->inflight = r->tried = false;
			}
			r->live = true;
			e = smtpc_sched_put(&sc, r->id, r->due);
			ck_assert_ptr_nonnull(e);
		} else if (op == 1) {
			smtpc_sched_drop(&sc, e);
			r->live = false;
		} else {
			if (op == 2)
				e->inflight = r->inflight = !r->inflight;
			else if (op == 3)
				e->tried = r->tried = true;
			else if (op == 4)
				e->not_before = r->nb = (double)(rand() % 1000);
			else
				e->due = r->due = (double)(rand() % 1000);
			ck_assert_int_eq(smtpc_sched_fix(&sc, e), 0);
		}
		for (unsigned i = 0; i < N; i++) {
			const struct ref *x = &refs[i];

			live += x->live;
			pending += x->live && once && !x->tried && x->due <= start;
			if (!ref_eligible(x, once, start))
				continue;
			if (best == NULL || ref_ready(x) < ref_ready(best) ||
			    (ref_ready(x) == ref_ready(best) && strcmp(x->id, best->id) < 0))
				best = x;
		}
		ck_assert_uint_eq(smtpc_sched_count(&sc), live);
		ck_assert_uint_eq(smtpc_sched_pending(&sc), pending);
		if (best == NULL)
			ck_assert_ptr_null(smtpc_sched_top(&sc));
		else
			ck_assert_str_eq(smtpc_sched_top(&sc)->id, best->id);
	}
	smtpc_sched_free(&sc);
}
END_TEST

/* inotify saw NAME.d closed after writing: an entry waiting on its busy
 * lease is ready at once; one not waiting (never busy, in flight, or not
 * known) is left as it is */
START_TEST(test_sched_lease_freed)
{
	struct smtpc_sched sc;
	struct smtpc_sched_ent *e, *other;
	char id[SPOOL_ID_SIZE], name[SPOOL_ID_SIZE + 2];

	ck_assert_int_eq(smtpc_sched_init(&sc, false, 0), 0);
	mkid(id, 1);
	ck_assert_ptr_nonnull(other = smtpc_sched_put(&sc, id, 20));
	mkid(id, 2);
	ck_assert_ptr_nonnull(e = smtpc_sched_put(&sc, id, 10));
	snprintf(name, sizeof(name), "%s.d", id);
	/* not busy: nothing to do */
	ck_assert(!smtpc_sched_lease_freed(&sc, name));
	/* busy: waits until 40, behind the other (20) */
	e->busy = 1;
	e->not_before = 40;
	ck_assert_int_eq(smtpc_sched_fix(&sc, e), 0);
	ck_assert_ptr_eq(smtpc_sched_top(&sc), other);
	ck_assert(smtpc_sched_lease_freed(&sc, name));
	ck_assert(e->not_before == 0);
	ck_assert(smtpc_sched_ready_at(e) == 10);
	ck_assert_ptr_eq(smtpc_sched_top(&sc), e);
	/* once more: no longer waiting */
	ck_assert(!smtpc_sched_lease_freed(&sc, name));
	/* in flight (our own lease): untouched */
	e->inflight = true;
	e->not_before = 70;
	ck_assert_int_eq(smtpc_sched_fix(&sc, e), 0);
	ck_assert(!smtpc_sched_lease_freed(&sc, name));
	ck_assert(e->not_before == 70);
	/* unknown */
	mkid(id, 3);
	snprintf(name, sizeof(name), "%s.d", id);
	ck_assert(!smtpc_sched_lease_freed(&sc, name));
	smtpc_sched_free(&sc);
}
END_TEST

static Suite *
sched_suite(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = tcase_create("sched");

	tcase_set_timeout(tc, UNIT_TIMEOUT);
	tcase_add_test(tc, test_sched_index);
	tcase_add_test(tc, test_sched_order);
	tcase_add_test(tc, test_sched_once);
	tcase_add_test(tc, test_sched_lease_freed);
	tcase_add_loop_test(tc, test_sched_random, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(sched_suite());
}
