/* sched.c: dsmtpc's schedule of the messages it knows (used by queue.c):
 * when each is due, whether it is in flight, whether a busy lease makes it
 * wait, and (for `dsmtpc once`) whether it was tried in this run. Owns the
 * two structures that keep the scheduler's cost per event at O(log n)
 * whatever the size of the spool: a hash table by message id, and a binary
 * min-heap of the entries that may be started, ordered by the time they
 * become ready (the later of due and not_before; arrival order on ties).
 * It also counts, for `once`, the entries still waiting for their one
 * try, so "is the run over" is O(1), and wakes an entry whose busy lease
 * was let go (smtpc_sched_lease_freed). It knows nothing of the spool, SMTP
 * or the loop: times are plain doubles given by the caller. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc/smtpc.h"

#define SCHED_NOWHERE	SIZE_MAX	/* hpos of an entry not in the heap */
#define SCHED_BUCKETS0	256

/* FNV-1a: ids are hex and unique; any decent spread will do */
static size_t
id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (; *id; id++) {
		h ^= (unsigned char)*id;
		h *= 1099511628211ull;
	}
	return (size_t)(h ^ (h >> 32));
}

int
smtpc_sched_init(struct smtpc_sched *sc, bool once, double start)
{
	memset(sc, 0, sizeof(*sc));
	sc->once = once;
	sc->start = start;
	if ((sc->buckets = calloc(SCHED_BUCKETS0, sizeof(*sc->buckets))) == NULL)
		return -1;
	sc->nbuckets = SCHED_BUCKETS0;
	return 0;
}

void
smtpc_sched_free(struct smtpc_sched *sc)
{
	for (size_t b = 0; b < sc->nbuckets; b++) {
		struct smtpc_sched_ent *e, *next;

		for (e = sc->buckets[b]; e; e = next) {
			next = e->hnext;
			free(e);
		}
	}
	free(sc->buckets);
	free(sc->heap);
	memset(sc, 0, sizeof(*sc));
}

double
smtpc_sched_ready_at(const struct smtpc_sched_ent *e)
{
	return e->due > e->not_before ? e->due : e->not_before;
}

/* a goes before b in the heap */
static bool
before(const struct smtpc_sched_ent *a, const struct smtpc_sched_ent *b)
{
	double ra = smtpc_sched_ready_at(a), rb = smtpc_sched_ready_at(b);

	if (ra != rb)
		return ra < rb;
	return strcmp(a->id, b->id) < 0;
}

static void
heap_set(struct smtpc_sched *sc, size_t i, struct smtpc_sched_ent *e)
{
	sc->heap[i] = e;
	e->hpos = i;
}

static void
heap_up(struct smtpc_sched *sc, size_t i)
{
	struct smtpc_sched_ent *e = sc->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!before(e, sc->heap[p]))
			break;
		heap_set(sc, i, sc->heap[p]);
		i = p;
	}
	heap_set(sc, i, e);
}

static void
heap_down(struct smtpc_sched *sc, size_t i)
{
	struct smtpc_sched_ent *e = sc->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= sc->nheap)
			break;
		if (c + 1 < sc->nheap && before(sc->heap[c + 1], sc->heap[c]))
			c++;
		if (!before(sc->heap[c], e))
			break;
		heap_set(sc, i, sc->heap[c]);
		i = c;
	}
	heap_set(sc, i, e);
}

static int
heap_insert(struct smtpc_sched *sc, struct smtpc_sched_ent *e)
{
	if (sc->nheap == sc->capheap) {
		size_t cap = sc->capheap ? sc->capheap * 2 : 256;
		struct smtpc_sched_ent **h = realloc(sc->heap, cap * sizeof(*h));

		if (h == NULL)
			return -1;
		sc->heap = h;
		sc->capheap = cap;
	}
	heap_set(sc, sc->nheap++, e);
	heap_up(sc, e->hpos);
	return 0;
}

static void
heap_remove(struct smtpc_sched *sc, struct smtpc_sched_ent *e)
{
	size_t i = e->hpos;
	struct smtpc_sched_ent *last = sc->heap[--sc->nheap];

	e->hpos = SCHED_NOWHERE;
	if (last == e)
		return;
	heap_set(sc, i, last);
	heap_up(sc, i);
	heap_down(sc, last->hpos);
}

/* may the entry be started (now or later)? */
static bool
eligible(const struct smtpc_sched *sc, const struct smtpc_sched_ent *e)
{
	if (e->inflight)
		return false;
	return !sc->once || (!e->tried && e->due <= sc->start);
}

/* once: still owed its one try in this run (bounces queued during the
 * run are due at 0, so they count too) */
static bool
owed(const struct smtpc_sched *sc, const struct smtpc_sched_ent *e)
{
	return sc->once && !e->tried && e->due <= sc->start;
}

int
smtpc_sched_fix(struct smtpc_sched *sc, struct smtpc_sched_ent *e)
{
	bool want = eligible(sc, e), count = owed(sc, e);
	int rc = 0;

	if (count != e->counted) {
		if (count)
			sc->npending++;
		else
			sc->npending--;
		e->counted = count;
	}
	if (!want && e->hpos != SCHED_NOWHERE)
		heap_remove(sc, e);
	else if (want && e->hpos == SCHED_NOWHERE)
		rc = heap_insert(sc, e);
	else if (want) {
		heap_up(sc, e->hpos);
		heap_down(sc, e->hpos);
	}
	return rc;
}

struct smtpc_sched_ent *
smtpc_sched_find(const struct smtpc_sched *sc, const char *id)
{
	struct smtpc_sched_ent *e;

	for (e = sc->buckets[id_hash(id) & (sc->nbuckets - 1)]; e; e = e->hnext)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

/* twice the buckets when the chains get long; a failure only slows us */
static void
grow(struct smtpc_sched *sc)
{
	size_t nb = sc->nbuckets * 2;
	struct smtpc_sched_ent **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return;
	for (size_t i = 0; i < sc->nbuckets; i++) {
		struct smtpc_sched_ent *e, *next;

		for (e = sc->buckets[i]; e; e = next) {
			size_t k = id_hash(e->id) & (nb - 1);

			next = e->hnext;
			e->hnext = b[k];
			b[k] = e;
		}
	}
	free(sc->buckets);
	sc->buckets = b;
	sc->nbuckets = nb;
}

struct smtpc_sched_ent *
smtpc_sched_put(struct smtpc_sched *sc, const char *id, double due)
{
	struct smtpc_sched_ent *e = smtpc_sched_find(sc, id);
	size_t k;

	if (e) {
		e->due = due;
		if (smtpc_sched_fix(sc, e) < 0) {
			smtpc_sched_drop(sc, e);
			return NULL;
		}
		return e;
	}
	if (strlen(id) >= sizeof(e->id) || (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	memcpy(e->id, id, strlen(id) + 1);
	e->due = due;
	e->hpos = SCHED_NOWHERE;
	k = id_hash(id) & (sc->nbuckets - 1);
	e->hnext = sc->buckets[k];
	sc->buckets[k] = e;
	sc->n++;
	if (smtpc_sched_fix(sc, e) < 0) {
		smtpc_sched_drop(sc, e);
		return NULL;
	}
	if (sc->n > sc->nbuckets)
		grow(sc);
	return e;
}

void
smtpc_sched_drop(struct smtpc_sched *sc, struct smtpc_sched_ent *e)
{
	struct smtpc_sched_ent **pp;

	if (e == NULL)
		return;
	if (e->hpos != SCHED_NOWHERE)
		heap_remove(sc, e);
	if (e->counted)
		sc->npending--;
	for (pp = &sc->buckets[id_hash(e->id) & (sc->nbuckets - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			sc->n--;
			break;
		}
	free(e);
}

struct smtpc_sched_ent *
smtpc_sched_top(const struct smtpc_sched *sc)
{
	return sc->nheap ? sc->heap[0] : NULL;
}

size_t
smtpc_sched_pending(const struct smtpc_sched *sc)
{
	return sc->npending;
}

size_t
smtpc_sched_count(const struct smtpc_sched *sc)
{
	return sc->n;
}

/* the process that held a lease let go of it (inotify: NAME, "ID.d",
 * closed after writing): the entry waiting on it may start now, not at
 * its next look. True when one was waiting. */
bool
smtpc_sched_lease_freed(struct smtpc_sched *sc, const char *name)
{
	char id[SPOOL_ID_SIZE];
	struct smtpc_sched_ent *e;

	memcpy(id, name, SPOOL_ID_LEN);
	id[SPOOL_ID_LEN] = '\0';
	if ((e = smtpc_sched_find(sc, id)) == NULL || e->inflight || e->busy == 0 ||
	    e->not_before == 0)
		return false;
	e->not_before = 0;
	return smtpc_sched_fix(sc, e) == 0;
}
