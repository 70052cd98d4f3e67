/* limits.c: receive.max_connections and max_connections_per_ip for the
 * whole server, across worker processes. One anonymous MAP_SHARED mapping,
 * made by the parent before it forks, holds a process-shared robust mutex
 * and one region per worker slot: that worker's session count and an
 * open-addressing table of its sessions per client address. A worker
 * writes only its own region; an admission sums every region under the
 * lock, so the check and the increment are one step for the whole server.
 * When a worker dies (even kill -9) the parent zeroes its region before
 * starting a replacement, so its sessions are not counted forever.
 * Knows nothing of SMTP: the session asks, the answer is a number. */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "smtpd/smtpd.h"

/* one client address: IPv6, or IPv4 mapped into ::ffff:0:0/96 */
struct limits_key {
	uint8_t	 a[16];
};

struct limits_slot {
	struct limits_key	 key;
	uint32_t		 count;		/* 0: empty */
};

struct limits_region {
	uint32_t		 total;		/* this worker's counted sessions */
	uint32_t		 pad;
};

struct smtpd_limits {
	pthread_mutex_t		 lock;
	unsigned		 nworkers;
	size_t			 cap;		/* table slots per worker, a power of two */
	size_t			 map_len;
	/* then nworkers regions, then nworkers tables of cap slots */
};

static struct limits_region *
region(struct smtpd_limits *l, unsigned w)
{
	return (struct limits_region *)(void *)((char *)l + sizeof(*l)) + w;
}

static struct limits_slot *
table(struct smtpd_limits *l, unsigned w)
{
	char *base = (char *)region(l, l->nworkers);

	return (struct limits_slot *)(void *)base + (size_t)w * l->cap;
}

/* the client address of a connection as a table key */
static void
limits_key_of(const struct sockaddr_storage *ss, struct limits_key *k)
{
	memset(k, 0, sizeof(*k));
	if (ss->ss_family == AF_INET6) {
		memcpy(k->a, &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		k->a[10] = k->a[11] = 0xff;
		memcpy(k->a + 12, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, 4);
	}
}

static size_t
limits_hash(const struct limits_key *k, size_t cap)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (size_t i = 0; i < sizeof(k->a); i++) {
		h ^= k->a[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h & (cap - 1));
}

/* the slot holding k in worker w's table, or NULL */
static struct limits_slot *
limits_find(struct smtpd_limits *l, unsigned w, const struct limits_key *k)
{
	struct limits_slot *t = table(l, w);
	size_t i = limits_hash(k, l->cap);

	/* bounded by cap: a region half-written by a worker that died
	 * cannot make this loop forever */
	for (size_t n = 0; n < l->cap; n++, i = (i + 1) & (l->cap - 1)) {
		if (t[i].count == 0)
			return NULL;
		if (memcmp(&t[i].key, k, sizeof(*k)) == 0)
			return &t[i];
	}
	return NULL;
}

/* remove slot i from a linear-probing table without tombstones: move
 * later entries of the same run back into the hole (Knuth 6.4, R) */
static void
limits_delete(struct smtpd_limits *l, struct limits_slot *t, size_t i)
{
	size_t mask = l->cap - 1, j = i;

	t[i].count = 0;
	for (size_t n = 0; n < l->cap; n++) {
		size_t h;

		j = (j + 1) & mask;
		if (t[j].count == 0)
			return;
		h = limits_hash(&t[j].key, l->cap);
		/* t[j] stays if its home h lies cyclically in (i, j] */
		if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
			continue;
		t[i] = t[j];
		t[j].count = 0;
		i = j;
	}
}

static void
limits_lock(struct smtpd_limits *l)
{
	int rc = pthread_mutex_lock(&l->lock);

	/* a worker died holding the lock: its region is zeroed by the
	 * parent before a replacement starts, the rest is whole */
	if (rc == EOWNERDEAD)
		(void)pthread_mutex_consistent(&l->lock);
}

struct smtpd_limits *
smtpd_limits_new(unsigned nworkers, unsigned max_connections, struct dsmtp_err *err)
{
	pthread_mutexattr_t ma;
	struct smtpd_limits *l;
	size_t cap = 16, len;
	void *p;

	/* one worker holds at most max_connections counted sessions;
	 * twice that keeps the probe runs short */
	while (cap < 2 * (size_t)max_connections)
		cap <<= 1;
	len = sizeof(*l) + nworkers * sizeof(struct limits_region) +
	    (size_t)nworkers * cap * sizeof(struct limits_slot);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		dsmtp_err_set(err, "shared connection table (%zu bytes): %s", len, strerror(errno));
		return NULL;
	}
	l = p;		/* zero-filled by mmap */
	l->nworkers = nworkers;
	l->cap = cap;
	l->map_len = len;
	if (pthread_mutexattr_init(&ma) != 0 ||
	    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&l->lock, &ma) != 0) {
		dsmtp_err_set(err, "shared connection table: cannot make its lock");
		(void)munmap(p, len);
		return NULL;
	}
	(void)pthread_mutexattr_destroy(&ma);
	return l;
}

void
smtpd_limits_free(struct smtpd_limits *l)
{
	if (l == NULL)
		return;
	(void)pthread_mutex_destroy(&l->lock);
	(void)munmap(l, l->map_len);
}

enum smtpd_limit
smtpd_limits_acquire(struct smtpd_limits *l, unsigned w, const struct sockaddr_storage *peer,
    unsigned max_total, unsigned max_per_ip)
{
	struct limits_key k;
	struct limits_slot *s, *t;
	unsigned long total = 0, from_ip = 0;
	enum smtpd_limit r = SMTPD_LIMIT_OK;

	limits_key_of(peer, &k);
	limits_lock(l);
	for (unsigned i = 0; i < l->nworkers; i++) {
		total += region(l, i)->total;
		if ((s = limits_find(l, i, &k)) != NULL)
			from_ip += s->count;
	}
	if (total >= max_total)
		r = SMTPD_LIMIT_TOTAL;
	else if (from_ip >= max_per_ip)
		r = SMTPD_LIMIT_PER_IP;
	else if ((s = limits_find(l, w, &k)) != NULL)
		s->count++;
	else {
		size_t i = limits_hash(&k, l->cap);

		t = table(l, w);
		/* a free slot exists: this worker counts fewer than
		 * max_total <= cap / 2 sessions */
		while (t[i].count != 0)
			i = (i + 1) & (l->cap - 1);
		t[i].key = k;
		t[i].count = 1;
	}
	if (r == SMTPD_LIMIT_OK)
		region(l, w)->total++;
	(void)pthread_mutex_unlock(&l->lock);
	return r;
}

void
smtpd_limits_release(struct smtpd_limits *l, unsigned w, const struct sockaddr_storage *peer)
{
	struct limits_key k;
	struct limits_slot *s;

	limits_key_of(peer, &k);
	limits_lock(l);
	if ((s = limits_find(l, w, &k)) != NULL) {
		if (--s->count == 0)
			limits_delete(l, table(l, w), (size_t)(s - table(l, w)));
	}
	if (region(l, w)->total > 0)
		region(l, w)->total--;
	(void)pthread_mutex_unlock(&l->lock);
}

void
smtpd_limits_forget_worker(struct smtpd_limits *l, unsigned w)
{
	limits_lock(l);
	region(l, w)->total = 0;
	memset(table(l, w), 0, l->cap * sizeof(struct limits_slot));
	(void)pthread_mutex_unlock(&l->lock);
}

unsigned
smtpd_limits_total(struct smtpd_limits *l)
{
	unsigned long total = 0;

	limits_lock(l);
	for (unsigned i = 0; i < l->nworkers; i++)
		total += region(l, i)->total;
	(void)pthread_mutex_unlock(&l->lock);
	return (unsigned)total;
}
