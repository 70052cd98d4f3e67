/* check_spool.c: unit tests of the durable spool: round trips of every
 * envelope field (hostile strings too), group commit through a real
 * ev_loop, every fault-injection point leaving nothing half-accepted,
 * damaged files quarantined, crash leftovers cleaned at open, atomic
 * updates, removal, leases between handles and processes, flush. */
#include "autoconfig.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "common/spool.h"
#include "common/spool_int.h"	/* spool_crc32c, for its own test */
#include "tests/unit/unit.h"

static char qdir[256];

/* --- helpers --- */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
setup(void)
{
	const char *t = getenv("TMPDIR");
	char base[200];

	snprintf(base, sizeof(base), "%s/check_spool.XXXXXX", t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(qdir, sizeof(qdir), "%s", base);
}

static void
teardown(void)
{
	nftw(qdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* how many entries (not . or ..) in qdir/sub whose name ends in suffix */
static int
count(const char *sub, const char *suffix)
{
	char cmd[512], path[400];
	int n = 0;
	FILE *p;

	snprintf(path, sizeof(path), "%s%s%s", qdir, sub[0] ? "/" : "", sub);
	snprintf(cmd, sizeof(cmd), "ls -1A '%s'", path);
	ck_assert_ptr_nonnull(p = popen(cmd, "r"));
	while (fgets(cmd, sizeof(cmd), p) != NULL) {
		size_t l = strlen(cmd), sl = strlen(suffix);

		if (l > 0 && cmd[l - 1] == '\n')
			cmd[--l] = '\0';
		if (strcmp(cmd, "tmp") == 0 || strcmp(cmd, "quarantine") == 0)
			continue;
		if (l >= sl && strcmp(cmd + l - sl, suffix) == 0)
			n++;
	}
	pclose(p);
	return n;
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	ck_assert_ptr_nonnull(d);
	return d;
}

/* a long string of printable and hostile bytes (no NUL) */
static char *
hostile(size_t len, unsigned seed)
{
	char *s = malloc(len + 1);

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < len; i++) {
		unsigned v = (unsigned)(i * 2654435761u + seed);

		s[i] = (char)(1 + v % 255);	/* 1..255: every byte but NUL */
	}
	s[len] = '\0';
	return s;
}

struct envcase {
	const char	*name;
	const char	*sender;
	const char	*text;		/* used for client/ehlo/tls strings */
	size_t		 longlen;	/* >0: hostile binary of this length instead */
	size_t		 nrcpts;
};

static const struct envcase envcases[] = {
	{ "plain", "alice@example.org", "client.example.org", 0, 1 },
	{ "null sender", "", "x", 0, 2 },
	{ "newlines", "a\nb@example.org", "line1\nline2\r\nend 8\n00000000\n", 0, 3 },
	{ "record lookalike", "end 8\n", "rcpt 3\nabc\n", 0, 1 },
	{ "binary", NULL, NULL, 300, 4 },
	{ "very long", NULL, NULL, 200000, 2 },
	{ "many recipients", "bulk@example.org", "", 0, 150 },
	{ "empty strings", "", "", 0, 1 },
};

/* fill env from a case; free with spool_envelope_free */
static void
make_env(struct spool_envelope *env, const struct envcase *c)
{
	memset(env, 0, sizeof(*env));
#define S(n)	(c->longlen ? hostile(c->longlen, (n)) : xstrdup(c->text))
	env->arrival = 1764000000;
	env->client = S(1);
	env->ehlo = S(2);
	env->tls.version = S(3);
	env->tls.cipher = S(4);
	env->tls.peer_subject = S(5);
	env->tls.peer_sha256 = S(6);
	env->tls.verify = S(7);
	env->tls.domain_secured = c->nrcpts % 2 == 0;
	env->tls.domain = S(8);
	env->session_id = 0xfedcba9876543210ull;
	env->sender = c->sender ? xstrdup(c->sender) : hostile(c->longlen, 9);
	env->nrcpts = c->nrcpts;
	ck_assert_ptr_nonnull(env->rcpts = calloc(c->nrcpts, sizeof(*env->rcpts)));
	for (size_t i = 0; i < c->nrcpts; i++) {
		char a[64];

		snprintf(a, sizeof(a), "rcpt%zu@example.net", i);
		env->rcpts[i].addr = i == 1 && c->longlen ? hostile(c->longlen, 10) : xstrdup(a);
		env->rcpts[i].state = (enum spool_rcpt_state)(i % 4);
		env->rcpts[i].attempts = (unsigned)i * 3;
		env->rcpts[i].next_attempt = 1764000000 + (int64_t)i * 60;
		env->rcpts[i].last_error = i % 2 ? S(11 + (unsigned)i) : xstrdup("");
	}
#undef S
}

static void
assert_env_eq(const struct spool_envelope *a, const struct spool_envelope *b)
{
	ck_assert_int_eq(a->arrival, b->arrival);
	ck_assert_str_eq(a->client, b->client);
	ck_assert_str_eq(a->ehlo, b->ehlo);
	ck_assert_str_eq(a->tls.version, b->tls.version);
	ck_assert_str_eq(a->tls.cipher, b->tls.cipher);
	ck_assert_str_eq(a->tls.peer_subject, b->tls.peer_subject);
	ck_assert_str_eq(a->tls.peer_sha256, b->tls.peer_sha256);
	ck_assert_str_eq(a->tls.verify, b->tls.verify);
	ck_assert_int_eq(a->tls.domain_secured, b->tls.domain_secured);
	ck_assert_str_eq(a->tls.domain, b->tls.domain);
	ck_assert_uint_eq(a->session_id, b->session_id);
	ck_assert_str_eq(a->sender, b->sender);
	ck_assert_uint_eq(a->nrcpts, b->nrcpts);
	for (size_t i = 0; i < a->nrcpts; i++) {
		ck_assert_str_eq(a->rcpts[i].addr, b->rcpts[i].addr);
		ck_assert_int_eq(a->rcpts[i].state, b->rcpts[i].state);
		ck_assert_uint_eq(a->rcpts[i].attempts, b->rcpts[i].attempts);
		ck_assert_int_eq(a->rcpts[i].next_attempt, b->rcpts[i].next_attempt);
		ck_assert_str_eq(a->rcpts[i].last_error, b->rcpts[i].last_error);
	}
}

struct result {
	int	calls;
	int	rc;
	char	id[SPOOL_ID_SIZE];
	char	why[256];
	pthread_t thread;
};

static void
done_cb(void *arg, int rc, const char *id, const char *why)
{
	struct result *r = arg;

	r->calls++;
	r->rc = rc;
	r->thread = pthread_self();
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
}

/* a minimal one-recipient envelope */
static void
small_env(struct spool_envelope *env, struct spool_rcpt *r, int64_t next)
{
	memset(env, 0, sizeof(*env));
	memset(r, 0, sizeof(*r));
	r->addr = (char *)(uintptr_t)"bob@example.net";
	r->next_attempt = next;
	env->sender = (char *)(uintptr_t)"alice@example.org";
	env->rcpts = r;
	env->nrcpts = 1;
}

/* commit len bytes of data synchronously on sp; id out */
static int
put(struct spool *sp, const void *data, size_t len, const struct spool_envelope *env,
    char id[SPOOL_ID_SIZE])
{
	struct result r = { 0 };
	struct dsmtp_err err;
	struct spool_msg *m = spool_msg_new(sp, &err);

	ck_assert_msg(m != NULL, "%s", err.msg);
	if (spool_msg_write(m, data, len) < 0) {
		spool_msg_abort(m);
		return -1;
	}
	ck_assert_int_eq(spool_msg_commit(m, env, done_cb, &r), 0);
	ck_assert_int_eq(r.calls, 1);
	if (id)
		snprintf(id, SPOOL_ID_SIZE, "%s", r.id);
	return r.rc;
}

static int
put_small(struct spool *sp, int64_t next, char id[SPOOL_ID_SIZE])
{
	struct spool_envelope env;
	struct spool_rcpt r;

	small_env(&env, &r, next);
	return put(sp, "Subject: x\r\n\r\nhello\r\n", 21, &env, id);
}

/* the message bytes from a spool_data_open fd: at most max of them (the
 * file goes on after the message: spool format 2) */
static void
read_all(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	ck_assert_ptr_nonnull(buf);
	while (n < max) {
		ssize_t k;

		if (n == cap) {
			cap *= 2;
			ck_assert_ptr_nonnull(buf = realloc(buf, cap));
		}
		k = read(fd, buf + n, (cap - n < max - n) ? cap - n : max - n);
		ck_assert_int_ge(k, 0);
		if (k == 0)
			break;
		n += (size_t)k;
	}
	*out = buf;
	*len = n;
}

static void
path_of(char *out, size_t len, const char *sub, const char *id, const char *ext)
{
	snprintf(out, len, "%s/%s%s%s%s", qdir, sub, sub[0] ? "/" : "", id, ext);
}

/* --- tests --- */

START_TEST(test_roundtrip)
{
	const struct envcase *c = &envcases[_i];
	struct spool_envelope env, got;
	struct dsmtp_err err;
	char id[SPOOL_ID_SIZE], *data, *back;
	size_t dlen = 100000 + (size_t)_i, blen;
	struct spool *sp;
	int fd;

	ck_assert_msg((sp = spool_open(qdir, NULL, &err)) != NULL, "%s", err.msg);
	make_env(&env, c);
	data = hostile(dlen, 77);
	data[5] = '\0';		/* message bytes may hold NUL */
	ck_assert_int_eq(put(sp, data, dlen, &env, id), 0);
	ck_assert_msg(spool_load(sp, id, &got, &err) == 0, "%s: %s", c->name, err.msg);
	ck_assert_str_eq(got.id, id);
	assert_env_eq(&env, &got);
	ck_assert_uint_eq(got.size, dlen);
	ck_assert_int_ge(fd = spool_data_open(sp, id, &err), 0);
	read_all(fd, got.size, &back, &blen);
	spool_envelope_free(&got);
	close(fd);
	ck_assert_uint_eq(blen, dlen);
	ck_assert(memcmp(back, data, dlen) == 0);
	free(back);
	free(data);
	spool_envelope_free(&env);
	ck_assert_int_eq(count("tmp", ""), 0);
	spool_close(sp);
}
END_TEST

START_TEST(test_defaults_and_ids)
{
	struct spool_envelope env, got;
	struct spool_rcpt r;
	struct dsmtp_err err;
	char id[SPOOL_ID_SIZE], prev[SPOOL_ID_SIZE] = "";
	struct spool *sp = spool_open(qdir, NULL, &err);
	time_t before = time(NULL);

	ck_assert_ptr_nonnull(sp);
	/* arrival 0 = now; next attempt 0 = arrival; NULL strings are "" */
	small_env(&env, &r, 0);
	env.sender = NULL;
	ck_assert_int_eq(put(sp, "", 0, &env, id), 0);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), 0);
	ck_assert_int_ge(got.arrival, before);
	ck_assert_int_le(got.arrival, time(NULL));
	ck_assert_int_eq(got.rcpts[0].next_attempt, got.arrival);
	ck_assert_int_eq(got.next_attempt, got.arrival);
	ck_assert_str_eq(got.sender, "");
	ck_assert_str_eq(got.client, "");
	ck_assert_uint_eq(got.size, 0);
	spool_envelope_free(&got);
	/* ids: 24 hex, unique, and increasing within a process */
	for (int i = 0; i < 300; i++) {
		struct spool_msg *m = spool_msg_new(sp, &err);

		ck_assert_ptr_nonnull(m);
		ck_assert_uint_eq(strlen(spool_msg_id(m)), SPOOL_ID_LEN);
		ck_assert_msg(strcmp(prev, spool_msg_id(m)) < 0, "%s !< %s", prev, spool_msg_id(m));
		snprintf(prev, sizeof(prev), "%s", spool_msg_id(m));
		spool_msg_abort(m);
	}
	ck_assert_int_eq(count("tmp", ""), 0);
	spool_close(sp);
}
END_TEST

START_TEST(test_invalid_envelope)
{
	struct spool_envelope env;
	struct spool_rcpt r;
	struct dsmtp_err err;
	struct spool *sp = spool_open(qdir, NULL, &err);

	ck_assert_ptr_nonnull(sp);
	small_env(&env, &r, 0);
	env.nrcpts = 0;
	ck_assert_int_eq(put(sp, "x", 1, &env, NULL), -1);
	small_env(&env, &r, 0);
	r.addr = (char *)(uintptr_t)"";
	ck_assert_int_eq(put(sp, "x", 1, &env, NULL), -1);
	ck_assert_int_eq(count("", ".e") + count("", ".d") + count("tmp", ""), 0);
	spool_close(sp);
}
END_TEST

struct group_ctx {
	int		 done, failed;
	pthread_t	 loop_thread;
	bool		 wrong_thread;
};

static void
group_done(void *arg, int rc, const char *id, const char *why)
{
	struct group_ctx *g = arg;

	g->done++;
	if (rc != 0)
		g->failed++;
	if (!pthread_equal(pthread_self(), g->loop_thread))
		g->wrong_thread = true;
}

START_TEST(test_group_commit_loop)
{
	enum { N = 300 };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct group_ctx g = { .loop_thread = pthread_self() };
	struct spool_envelope env;
	struct spool_rcpt r;
	struct dsmtp_err err;
	struct spool *sp;
	uint64_t groups, commits;
	char **ids, data[10240];
	size_t nids;

	ck_assert_ptr_nonnull(loop);
	ck_assert_msg((sp = spool_open(qdir, loop, &err)) != NULL, "%s", err.msg);
	memset(data, 'x', sizeof(data));
	small_env(&env, &r, 0);
	for (int i = 0; i < N; i++) {
		struct spool_msg *m = spool_msg_new(sp, &err);

		ck_assert_ptr_nonnull(m);
		ck_assert_int_eq(spool_msg_write(m, data, sizeof(data)), 0);
		ck_assert_int_eq(spool_msg_commit(m, &env, group_done, &g), 0);
	}
	/* nothing said before the loop runs: done() only ever on the loop */
	ck_assert_int_eq(g.done, 0);
	ev_run(loop, 0);	/* returns once every commit has answered */
	ck_assert_int_eq(g.done, N);
	ck_assert_int_eq(g.failed, 0);
	ck_assert(!g.wrong_thread);
	spool_test_stats(sp, &groups, &commits);
	ck_assert_uint_eq(commits, N);
	ck_assert_uint_lt(groups, N);	/* some were grouped */
	fprintf(stderr, "group commit: %d messages in %" PRIu64 " groups\n", N, groups);
	ck_assert_int_eq(spool_list_ids(sp, &ids, &nids, &err), 0);
	ck_assert_uint_eq(nids, N);
	spool_ids_free(ids, nids);
	ck_assert_int_eq(count("tmp", ""), 0);
	/* close with commits in flight: their done() runs inside close */
	g.done = 0;
	for (int i = 0; i < 5; i++) {
		struct spool_msg *m = spool_msg_new(sp, &err);

		ck_assert_ptr_nonnull(m);
		ck_assert_int_eq(spool_msg_commit(m, &env, group_done, &g), 0);
	}
	spool_close(sp);
	ck_assert_int_eq(g.done, 5);
	ck_assert_int_eq(g.failed, 0);
	ev_loop_destroy(loop);
}
END_TEST

struct faultcase {
	const char		*name;
	enum spool_fault	 point;
	unsigned		 nth;
	bool			 async;
	bool			 write_fails;	/* spool_msg_write itself reports it */
};

/* the order of operations in a commit (spool format 2, one file): data
 * write (at commit, buffered), envelope and trailer write (appended to
 * the same file), link of tmp/ID.e, file fsync, data rename, envelope
 * rename, directory fsync */
static const struct faultcase faultcases[] = {
	{ "data write", SPOOL_FAULT_WRITE, 1, false, false },
	{ "envelope write", SPOOL_FAULT_WRITE, 2, false, false },
	{ "big data write", SPOOL_FAULT_WRITE, 1, false, true },
	{ "envelope link", SPOOL_FAULT_LINK, 1, false, false },
	{ "file fsync", SPOOL_FAULT_FSYNC, 1, false, false },
	{ "data rename", SPOOL_FAULT_RENAME, 1, false, false },
	{ "envelope rename", SPOOL_FAULT_RENAME, 2, false, false },
	{ "dir fsync", SPOOL_FAULT_DIRFSYNC, 1, false, false },
	{ "async data write", SPOOL_FAULT_WRITE, 1, true, false },
	{ "async envelope write", SPOOL_FAULT_WRITE, 2, true, false },
	{ "async envelope link", SPOOL_FAULT_LINK, 1, true, false },
	{ "async file fsync", SPOOL_FAULT_FSYNC, 1, true, false },
	{ "async data rename", SPOOL_FAULT_RENAME, 1, true, false },
	{ "async envelope rename", SPOOL_FAULT_RENAME, 2, true, false },
	{ "async dir fsync", SPOOL_FAULT_DIRFSYNC, 1, true, false },
};

START_TEST(test_fault)
{
	const struct faultcase *fc = &faultcases[_i];
	struct ev_loop *loop = fc->async ? ev_loop_new(EVFLAG_AUTO) : NULL;
	struct spool_envelope env;
	struct spool_rcpt r;
	struct result res = { 0 };
	struct dsmtp_err err;
	struct spool_msg *m;
	struct spool *sp;
	static char big[200000];
	char **ids;
	size_t nids;

	ck_assert_ptr_nonnull(sp = spool_open(qdir, loop, &err));
	small_env(&env, &r, 0);
	ck_assert_ptr_nonnull(m = spool_msg_new(sp, &err));
	spool_test_fail_at(fc->point, fc->nth);
	if (fc->write_fails) {
		/* larger than the buffer: the write happens, and fails, now */
		ck_assert_int_eq(spool_msg_write(m, big, sizeof(big)), -1);
		ck_assert_int_eq(errno, ENOSPC);
		ck_assert_int_eq(spool_msg_write(m, "x", 1), -1);	/* it sticks */
	} else
		ck_assert_int_eq(spool_msg_write(m, "hello\r\n", 7), 0);
	ck_assert_int_eq(spool_msg_commit(m, &env, done_cb, &res), 0);
	if (loop)
		ev_run(loop, 0);
	spool_test_fail_at(fc->point, 0);
	ck_assert_int_eq(res.calls, 1);
	/* a full disk (the write faults are ENOSPC) is told by errno, so
	 * dsmtpd can answer 452 without reading the reason's text */
	ck_assert_int_eq(res.rc, fc->point == SPOOL_FAULT_WRITE ? SPOOL_RC_NOSPACE : -1);
	ck_assert_msg(res.why[0] != '\0', "no reason given");
	fprintf(stderr, "fault %s: %s\n", fc->name, res.why);
	/* nothing half-accepted: no envelope, no data, no temporary file */
	ck_assert_int_eq(count("", ".e"), 0);
	ck_assert_int_eq(count("", ".d"), 0);
	ck_assert_int_eq(count("tmp", ""), 0);
	ck_assert_int_eq(spool_list_ids(sp, &ids, &nids, &err), 0);
	ck_assert_uint_eq(nids, 0);
	spool_ids_free(ids, nids);
	/* and the spool still works */
	memset(&res, 0, sizeof(res));
	ck_assert_ptr_nonnull(m = spool_msg_new(sp, &err));
	ck_assert_int_eq(spool_msg_write(m, "hello\r\n", 7), 0);
	ck_assert_int_eq(spool_msg_commit(m, &env, done_cb, &res), 0);
	if (loop)
		ev_run(loop, 0);
	ck_assert_int_eq(res.rc, 0);
	ck_assert_int_eq(count("", ".e"), 1);
	spool_close(sp);
	if (loop)
		ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_fault_in_group)
{
	/* one message's failure does not take its group down, except for
	 * the directory fsync, which every renamed member shares */
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct spool_envelope env;
	struct spool_rcpt r;
	struct result res[4] = { { 0 } };
	struct dsmtp_err err;
	struct spool *sp;

	ck_assert_ptr_nonnull(sp = spool_open(qdir, loop, &err));
	small_env(&env, &r, 0);
	spool_test_fail_at(SPOOL_FAULT_FSYNC, 3);	/* 3rd message's file fsync */
	for (int i = 0; i < 4; i++) {
		struct spool_msg *m = spool_msg_new(sp, &err);

		ck_assert_ptr_nonnull(m);
		ck_assert_int_eq(spool_msg_write(m, "x", 1), 0);
		ck_assert_int_eq(spool_msg_commit(m, &env, done_cb, &res[i]), 0);
	}
	ev_run(loop, 0);
	spool_test_fail_at(SPOOL_FAULT_FSYNC, 0);
	/* the worker may have taken the first alone; count outcomes */
	{
		int ok = 0;

		for (int i = 0; i < 4; i++)
			ok += res[i].rc == 0;
		ck_assert_int_eq(ok, 3);
		ck_assert_int_eq(count("", ".e"), 3);
		ck_assert_int_eq(count("", ".d"), 3);
		ck_assert_int_eq(count("tmp", ""), 0);
	}
	spool_close(sp);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_abort)
{
	struct dsmtp_err err;
	struct spool *sp = spool_open(qdir, NULL, &err);
	struct spool_msg *m;

	ck_assert_ptr_nonnull(sp);
	ck_assert_ptr_nonnull(m = spool_msg_new(sp, &err));
	ck_assert_int_eq(spool_msg_write(m, "abc", 3), 0);
	ck_assert_int_eq(count("tmp", ""), 1);
	spool_msg_abort(m);
	ck_assert_int_eq(count("tmp", ""), 0);
	ck_assert_int_eq(count("", ".d"), 0);
	spool_close(sp);
}
END_TEST

/* the envelope cut short at byte _i * step: always detected */
START_TEST(test_truncated_envelope)
{
	struct spool_envelope env, got;
	struct dsmtp_err err;
	char id[SPOOL_ID_SIZE], path[512];
	struct spool *sp = spool_open(qdir, NULL, &err);
	struct stat st;
	char **ids;
	size_t nids;
	off_t cut;

	ck_assert_ptr_nonnull(sp);
	make_env(&env, &envcases[2]);
	ck_assert_int_eq(put(sp, "data\r\n", 6, &env, id), 0);
	spool_envelope_free(&env);
	path_of(path, sizeof(path), "", id, ".e");
	ck_assert_int_eq(stat(path, &st), 0);
	cut = st.st_size * _i / 40;	/* 0 .. 39/40 of the file */
	ck_assert_int_eq(truncate(path, cut), 0);
	errno = 0;
	ck_assert_int_eq(spool_load(sp, id, &got, &err), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_ptr_nonnull(strstr(err.msg, "damaged"));
	/* moved aside, with its reason, and never seen again */
	ck_assert_int_eq(count("", ".e"), 0);
	ck_assert_int_eq(count("", ".d"), 0);
	ck_assert_int_eq(count("quarantine", ".e"), 1);
	ck_assert_int_eq(count("quarantine", ".d"), 1);
	ck_assert_int_eq(count("quarantine", ".why"), 1);
	ck_assert_int_eq(spool_list_ids(sp, &ids, &nids, &err), 0);
	ck_assert_uint_eq(nids, 0);
	spool_ids_free(ids, nids);
	spool_close(sp);
}
END_TEST

/* a single flipped byte anywhere in the envelope: detected */
START_TEST(test_flipped_envelope)
{
	struct spool_envelope env, got, *all;
	struct dsmtp_err err;
	char id[SPOOL_ID_SIZE], path[512];
	struct spool *sp = spool_open(qdir, NULL, &err);
	struct stat st;
	size_t n;
	off_t at;
	int fd;
	unsigned char c;

	ck_assert_ptr_nonnull(sp);
	make_env(&env, &envcases[0]);
	ck_assert_int_eq(put(sp, "data\r\n", 6, &env, id), 0);
	ck_assert_int_eq(put(sp, "data\r\n", 6, &env, NULL), 0);	/* a good neighbour */
	spool_envelope_free(&env);
	path_of(path, sizeof(path), "", id, ".e");
	ck_assert_int_eq(stat(path, &st), 0);
	/* ID.e is ID.d (spool format 2): its envelope and trailer follow
	 * the 6 bytes of data */
	at = 6 + (st.st_size - 6) * _i / 30;
	ck_assert_int_ge(fd = open(path, O_RDWR), 0);
	ck_assert_int_eq(pread(fd, &c, 1, at), 1);
	c ^= 0x20;
	ck_assert_int_eq(pwrite(fd, &c, 1, at), 1);
	close(fd);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(count("quarantine", ".e"), 1);
	ck_assert_int_eq(spool_list(sp, &all, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	spool_list_free(all, n);
	spool_close(sp);
}
END_TEST

START_TEST(test_corrupt_data)
{
	struct spool_envelope got;
	struct dsmtp_err err;
	char id[SPOOL_ID_SIZE], id2[SPOOL_ID_SIZE], path[512];
	struct spool *sp = spool_open(qdir, NULL, &err);
	int fd;

	ck_assert_ptr_nonnull(sp);
	ck_assert_int_eq(put_small(sp, 0, id), 0);
	ck_assert_int_eq(put_small(sp, 0, id2), 0);
	/* same length, one byte changed: only the CRC can tell */
	path_of(path, sizeof(path), "", id, ".d");
	ck_assert_int_ge(fd = open(path, O_WRONLY), 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, 3), 1);
	close(fd);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), 0);	/* size still right */
	spool_envelope_free(&got);
	ck_assert_int_eq(spool_data_open(sp, id, &err), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_ptr_nonnull(strstr(err.msg, "checksum"));
	ck_assert_int_eq(count("quarantine", ".d"), 1);
	ck_assert_int_eq(count("quarantine", ".e"), 1);
	/* shortened data: the size check in load finds it */
	path_of(path, sizeof(path), "", id2, ".d");
	ck_assert_int_eq(truncate(path, 4), 0);
	ck_assert_int_eq(spool_load(sp, id2, &got, &err), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(count("quarantine", ".e"), 2);
	ck_assert_int_eq(count("", ".e") + count("", ".d"), 0);
	spool_close(sp);
}
END_TEST

/* a FIFO or a directory under a message's name: damage, never a hang */
START_TEST(test_not_regular)
{
	struct spool_envelope got, *all;
	struct dsmtp_err err;
	char id[SPOOL_ID_SIZE], id2[SPOOL_ID_SIZE], path[512];
	struct spool *sp = spool_open(qdir, NULL, &err);
	size_t n;

	ck_assert_ptr_nonnull(sp);
	ck_assert_int_eq(put_small(sp, 0, id), 0);
	ck_assert_int_eq(put_small(sp, 0, id2), 0);
	path_of(path, sizeof(path), "", id, ".e");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	path_of(path, sizeof(path), "", id2, ".d");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(spool_list(sp, &all, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	spool_list_free(all, n);
	ck_assert_int_eq(count("quarantine", ".e"), 2);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), -1);
	ck_assert_int_eq(errno, ENOENT);
	spool_close(sp);
}
END_TEST

START_TEST(test_missing_data)
{
	struct spool_envelope got;
	struct dsmtp_err err;
	char id[SPOOL_ID_SIZE], path[512];
	struct spool *sp = spool_open(qdir, NULL, &err);

	ck_assert_ptr_nonnull(sp);
	ck_assert_int_eq(put_small(sp, 0, id), 0);
	path_of(path, sizeof(path), "", id, ".d");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_ptr_nonnull(strstr(err.msg, "data file missing"));
	ck_assert_int_eq(count("quarantine", ".e"), 1);
	spool_close(sp);
}
END_TEST

START_TEST(test_recovery_at_open)
{
	struct spool_envelope env;
	struct spool_rcpt r;
	struct dsmtp_err err;
	char id[SPOOL_ID_SIZE], path[512];
	struct spool *sp, *other;
	struct spool_msg *live;
	int fd, held;

	ck_assert_ptr_nonnull(sp = spool_open(qdir, NULL, &err));
	ck_assert_int_eq(put_small(sp, 0, id), 0);
	/* a live writer in another handle: its temp file must survive */
	ck_assert_ptr_nonnull(live = spool_msg_new(sp, &err));
	ck_assert_int_eq(spool_msg_write(live, "partial", 7), 0);
	/* what a crash leaves: temp files nobody holds, and an ID.d whose
	 * envelope never got renamed */
	path_of(path, sizeof(path), "tmp", "0123456789abcdef01234567", ".d");
	ck_assert_int_ge(fd = open(path, O_CREAT | O_WRONLY, 0600), 0);
	close(fd);
	path_of(path, sizeof(path), "tmp", "0123456789abcdef01234567", ".e");
	ck_assert_int_ge(fd = open(path, O_CREAT | O_WRONLY, 0600), 0);
	close(fd);
	path_of(path, sizeof(path), "", "0123456789abcdef01234568", ".d");
	ck_assert_int_ge(fd = open(path, O_CREAT | O_WRONLY, 0600), 0);
	close(fd);
	/* an ID.d whose committer still holds it (between its two renames)
	 * must survive too */
	path_of(path, sizeof(path), "", "0123456789abcdef01234569", ".d");
	ck_assert_int_ge(held = open(path, O_CREAT | O_WRONLY, 0600), 0);
	ck_assert_int_eq(flock(held, LOCK_EX), 0);
	ck_assert_int_eq(count("tmp", ""), 3);
	ck_assert_ptr_nonnull(other = spool_open(qdir, NULL, &err));
	ck_assert_int_eq(count("tmp", ""), 1);		/* only the live one */
	ck_assert_int_eq(count("", ".d"), 2);		/* the orphan went, the held one not */
	ck_assert_int_eq(count("", ".e"), 1);		/* the message stayed */
	close(held);
	spool_close(other);
	ck_assert_ptr_nonnull(other = spool_open(qdir, NULL, &err));
	ck_assert_int_eq(count("", ".d"), 1);		/* let go: now it is an orphan */
	/* the live writer finishes fine */
	small_env(&env, &r, 0);
	{
		struct result res = { 0 };

		ck_assert_int_eq(spool_msg_commit(live, &env, done_cb, &res), 0);
		ck_assert_int_eq(res.rc, 0);
	}
	ck_assert_int_eq(count("", ".e"), 2);
	spool_close(other);
	spool_close(sp);
}
END_TEST

START_TEST(test_update)
{
	struct spool_envelope env, got;
	struct dsmtp_err err;
	char id[SPOOL_ID_SIZE], path[512];
	struct spool *sp = spool_open(qdir, NULL, &err);
	struct stat d1, d2;
	static const enum spool_fault points[] = {
		SPOOL_FAULT_WRITE, SPOOL_FAULT_FSYNC, SPOOL_FAULT_RENAME
	};

	ck_assert_ptr_nonnull(sp);
	make_env(&env, &envcases[2]);
	ck_assert_int_eq(put(sp, "data\r\n", 6, &env, id), 0);
	path_of(path, sizeof(path), "", id, ".d");
	ck_assert_int_eq(stat(path, &d1), 0);
	/* failed updates leave the old envelope whole, and no temp file */
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		ck_assert_int_eq(spool_load(sp, id, &got, &err), 0);
		got.rcpts[0].attempts = 99;
		spool_test_fail_at(points[i], 1);
		ck_assert_int_eq(spool_update(sp, id, &got, &err), -1);
		spool_test_fail_at(points[i], 0);
		spool_envelope_free(&got);
		ck_assert_int_eq(spool_load(sp, id, &got, &err), 0);
		assert_env_eq(&env, &got);
		spool_envelope_free(&got);
		ck_assert_int_eq(count("tmp", ""), 0);
	}
	/* a good update: the new state, everything else kept; data untouched */
	ck_assert_int_eq(spool_load(sp, id, &got, &err), 0);
	got.rcpts[0].state = SPOOL_RCPT_DELIVERED;
	got.rcpts[1].attempts = 7;
	got.rcpts[1].next_attempt = 2000000000;
	free(got.rcpts[1].last_error);
	got.rcpts[1].last_error = xstrdup("451 4.4.1 connection\nrefused");
	got.size = 12345;	/* ignored: the data's length stays */
	ck_assert_int_eq(spool_update(sp, id, &got, &err), 0);
	free(env.rcpts[1].last_error);
	env.rcpts[1].last_error = xstrdup("451 4.4.1 connection\nrefused");
	env.rcpts[0].state = SPOOL_RCPT_DELIVERED;
	env.rcpts[1].attempts = 7;
	env.rcpts[1].next_attempt = 2000000000;
	spool_envelope_free(&got);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), 0);
	assert_env_eq(&env, &got);
	ck_assert_uint_eq(got.size, 6);
	spool_envelope_free(&got);
	ck_assert_int_eq(stat(path, &d2), 0);
	ck_assert_uint_eq(d1.st_ino, d2.st_ino);
	ck_assert_int_ge(spool_data_open(sp, id, &err), 0);
	spool_envelope_free(&env);
	spool_close(sp);
}
END_TEST

START_TEST(test_remove)
{
	struct spool_envelope got;
	struct dsmtp_err err;
	char id[SPOOL_ID_SIZE];
	struct spool *sp = spool_open(qdir, NULL, &err);

	ck_assert_ptr_nonnull(sp);
	ck_assert_int_eq(put_small(sp, 0, id), 0);
	/* pending, then failed (bounce not queued yet): refused */
	ck_assert_int_eq(spool_remove(sp, id, &err), -1);
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), 0);
	got.rcpts[0].state = SPOOL_RCPT_FAILED;
	ck_assert_int_eq(spool_update(sp, id, &got, &err), 0);
	ck_assert_int_eq(spool_remove(sp, id, &err), -1);
	ck_assert_int_eq(errno, EBUSY);
	got.rcpts[0].state = SPOOL_RCPT_BOUNCED;
	ck_assert_int_eq(spool_update(sp, id, &got, &err), 0);
	spool_envelope_free(&got);
	ck_assert_int_eq(spool_remove(sp, id, &err), 0);
	ck_assert_int_eq(count("", ".e") + count("", ".d") + count("tmp", ""), 0);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(spool_remove(sp, id, &err), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(spool_lease(sp, "not-an-id", &err), -1);
	spool_close(sp);
}
END_TEST

START_TEST(test_lease)
{
	struct spool_envelope got;
	struct dsmtp_err err;
	char id[SPOOL_ID_SIZE];
	struct spool *a, *b;
	size_t flushed, busy;
	pid_t pid;
	int st;

	ck_assert_ptr_nonnull(a = spool_open(qdir, NULL, &err));
	ck_assert_ptr_nonnull(b = spool_open(qdir, NULL, &err));
	ck_assert_int_eq(put_small(a, time(NULL) + 3600, id), 0);
	ck_assert_int_eq(spool_lease(a, id, &err), 0);
	ck_assert_int_eq(spool_lease(a, id, &err), 0);		/* again: still ours */
	ck_assert_int_eq(spool_lease(b, id, &err), 1);		/* another handle: busy */
	/* another process: busy too, and its update/remove/flush keep off */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct spool *c = spool_open(qdir, NULL, &err);
		int bad = 0;

		bad |= c == NULL;
		bad |= spool_lease(c, id, &err) != 1;
		bad |= spool_load(c, id, &got, &err) != 0;	/* reading needs no lease */
		bad |= spool_update(c, id, &got, &err) != -1 || errno != EWOULDBLOCK;
		spool_envelope_free(&got);
		bad |= spool_flush_all(c, &flushed, &busy, &err) != 0 || busy != 1 || flushed != 0;
		spool_close(c);
		/* our copies only: the parent's fds keep its locks */
		spool_close(a);
		spool_close(b);
		_exit(bad);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_eq(spool_load(b, id, &got, &err), 0);
	ck_assert_int_eq(spool_update(b, id, &got, &err), -1);
	ck_assert_int_eq(errno, EWOULDBLOCK);
	/* the holder may update under its lease */
	got.rcpts[0].attempts = 1;
	ck_assert_int_eq(spool_update(a, id, &got, &err), 0);
	spool_envelope_free(&got);
	spool_release(a, id);
	ck_assert_int_eq(spool_lease(b, id, &err), 0);
	ck_assert_int_eq(spool_lease(a, id, &err), 1);
	spool_close(b);		/* closing releases */
	ck_assert_int_eq(spool_lease(a, id, &err), 0);
	spool_close(a);
}
END_TEST

START_TEST(test_list_and_flush)
{
	struct spool_envelope *all;
	struct dsmtp_err err;
	char id1[SPOOL_ID_SIZE], id2[SPOOL_ID_SIZE], id3[SPOOL_ID_SIZE];
	struct spool *sp = spool_open(qdir, NULL, &err);
	int64_t now = time(NULL);
	size_t n, flushed, busy;

	ck_assert_ptr_nonnull(sp);
	ck_assert_int_eq(put_small(sp, now + 7200, id1), 0);
	ck_assert_int_eq(put_small(sp, now - 10, id2), 0);
	ck_assert_int_eq(put_small(sp, now + 60, id3), 0);
	ck_assert_int_eq(spool_list(sp, &all, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(all[0].id, id2);
	ck_assert_str_eq(all[1].id, id3);
	ck_assert_str_eq(all[2].id, id1);
	spool_list_free(all, n);
	ck_assert_int_eq(spool_flush_all(sp, &flushed, &busy, &err), 0);
	ck_assert_uint_eq(flushed, 2);
	ck_assert_uint_eq(busy, 0);
	ck_assert_int_eq(spool_list(sp, &all, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_le(all[i].next_attempt, time(NULL));
	ck_assert_str_eq(all[0].id, id2);	/* still the earliest */
	spool_list_free(all, n);
	ck_assert_int_eq(spool_flush_all(sp, &flushed, &busy, &err), 0);
	ck_assert_uint_eq(flushed, 0);
	/* many: grouped, 256 envelopes per directory fsync */
	{
		uint64_t g0, g1, j0, j1;

		for (int i = 0; i < 300; i++)
			ck_assert_int_eq(put_small(sp, now + 3600 + i, NULL), 0);
		spool_test_stats(sp, &g0, &j0);
		ck_assert_int_eq(spool_flush_all(sp, &flushed, &busy, &err), 0);
		spool_test_stats(sp, &g1, &j1);
		ck_assert_uint_eq(flushed, 300);
		ck_assert_uint_eq(j1 - j0, 300);
		ck_assert_uint_eq(g1 - g0, 2);
		ck_assert_int_eq(spool_list(sp, &all, &n, &err), 0);
		ck_assert_uint_eq(n, 303);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_le(all[i].next_attempt, time(NULL));
		spool_list_free(all, n);
		ck_assert_int_eq(count("tmp", ""), 0);
		/* a failing directory fsync is an error, and no lease is kept */
		ck_assert_int_eq(put_small(sp, now + 3600, id1), 0);
		spool_test_fail_at(SPOOL_FAULT_DIRFSYNC, 1);
		ck_assert_int_eq(spool_flush_all(sp, &flushed, &busy, &err), -1);
		spool_test_fail_at(SPOOL_FAULT_DIRFSYNC, 0);
		ck_assert_ptr_nonnull(strstr(err.msg, "fsync"));
		{
			struct spool *other = spool_open(qdir, NULL, &err);

			ck_assert_ptr_nonnull(other);
			ck_assert_int_eq(spool_lease(other, id1, &err), 0);
			spool_close(other);
		}
	}
	spool_close(sp);
}
END_TEST

/* is there an IN_MOVED_TO for name on fd within ms? */
static bool
moved_to(int fd, const char *name, int ms)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (poll(&pfd, 1, ms) == 1) {
		ssize_t n = read(fd, buf, sizeof(buf));

		for (char *p = buf; n > 0 && p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)(void *)p;

			if ((ev->mask & IN_MOVED_TO) && ev->len && strcmp(ev->name, name) == 0)
				return true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return false;
}

/* dsmtpc's contract: a new or updated envelope lands in queue/ by rename */
START_TEST(test_inotify)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct spool_envelope env, got;
	struct spool_rcpt r;
	struct result res = { 0 };
	struct dsmtp_err err;
	struct spool_msg *m;
	struct spool *sp;
	size_t flushed, busy;
	char name[SPOOL_ID_SIZE + 2];
	int in;

	ck_assert_ptr_nonnull(sp = spool_open(qdir, loop, &err));
	ck_assert_int_ge(in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), 0);
	ck_assert_int_ge(inotify_add_watch(in, qdir, IN_MOVED_TO), 0);
	small_env(&env, &r, time(NULL) + 3600);
	ck_assert_ptr_nonnull(m = spool_msg_new(sp, &err));
	ck_assert_int_eq(spool_msg_write(m, "x", 1), 0);
	ck_assert_int_eq(spool_msg_commit(m, &env, done_cb, &res), 0);
	ev_run(loop, 0);
	ck_assert_int_eq(res.rc, 0);
	snprintf(name, sizeof(name), "%s.e", res.id);
	ck_assert(moved_to(in, name, 100));
	/* flush rewrites it: a running dsmtpc sees that too */
	ck_assert_int_eq(spool_flush_all(sp, &flushed, &busy, &err), 0);
	ck_assert_uint_eq(flushed, 1);
	ck_assert(moved_to(in, name, 100));
	ck_assert_int_eq(spool_load(sp, res.id, &got, &err), 0);
	ck_assert_int_le(got.next_attempt, time(NULL));
	spool_envelope_free(&got);
	close(in);
	spool_close(sp);
	ev_loop_destroy(loop);
}
END_TEST

/* dsmtpc's side through the worker: updates and removals grouped */
START_TEST(test_async_update_remove)
{
	enum { N = 40 };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct group_ctx g = { .loop_thread = pthread_self() };
	struct spool_envelope got, got2;
	struct result res = { 0 };
	struct dsmtp_err err;
	char ids[N][SPOOL_ID_SIZE], path[512];
	struct spool *sp, *plain;
	uint64_t groups0, groups, jobs0, jobs;

	ck_assert_ptr_nonnull(plain = spool_open(qdir, NULL, &err));
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(put_small(plain, time(NULL) + 600, ids[i]), 0);
	spool_close(plain);
	ck_assert_ptr_nonnull(sp = spool_open(qdir, loop, &err));
	/* without the lease: refused through done(), nothing changed */
	ck_assert_int_eq(spool_load(sp, ids[0], &got, &err), 0);
	ck_assert_int_eq(spool_update_async(sp, ids[0], &got, done_cb, &res), 0);
	ev_run(loop, 0);
	ck_assert_int_eq(res.calls, 1);
	ck_assert_int_eq(res.rc, -1);
	ck_assert_ptr_nonnull(strstr(res.why, "not leased"));
	spool_envelope_free(&got);
	/* a removal with a pending recipient: refused the same way */
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(spool_lease(sp, ids[0], &err), 0);
	ck_assert_int_eq(spool_remove_async(sp, ids[0], done_cb, &res), 0);
	ev_run(loop, 0);
	ck_assert_int_eq(res.rc, -1);
	ck_assert_ptr_nonnull(strstr(res.why, "still pending"));
	/* the same with the caller's envelope: it is what is checked, not
	 * the one on disk */
	ck_assert_int_eq(spool_load(sp, ids[0], &got, &err), 0);
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(spool_remove_finished_async(sp, ids[0], &got, done_cb, &res), 0);
	ev_run(loop, 0);
	ck_assert_int_eq(res.rc, -1);
	ck_assert_ptr_nonnull(strstr(res.why, "still pending"));
	ck_assert_int_eq(spool_load(sp, ids[0], &got2, &err), 0);	/* still there */
	spool_envelope_free(&got2);
	/* another message's envelope: refused */
	ck_assert_int_eq(spool_lease(sp, ids[N - 1], &err), 0);
	got.rcpts[0].state = SPOOL_RCPT_DELIVERED;
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(spool_remove_finished_async(sp, ids[N - 1], &got, done_cb, &res), 0);
	ev_run(loop, 0);
	ck_assert_int_eq(res.rc, -1);
	spool_envelope_free(&got);
	/* delivered in the caller's envelope, pending on disk: removed */
	ck_assert_int_eq(spool_load(sp, ids[N - 1], &got, &err), 0);
	ck_assert_int_eq(got.rcpts[0].state, SPOOL_RCPT_PENDING);
	got.rcpts[0].state = SPOOL_RCPT_DELIVERED;
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(spool_remove_finished_async(sp, ids[N - 1], &got, done_cb, &res), 0);
	ev_run(loop, 0);
	ck_assert_int_eq(res.rc, 0);
	ck_assert_int_eq(spool_load(sp, ids[N - 1], &got2, &err), -1);
	ck_assert_int_eq(errno, ENOENT);
	spool_release(sp, ids[N - 1]);
	ck_assert_ptr_nonnull(plain = spool_open(qdir, NULL, &err));
	ck_assert_int_eq(put_small(plain, time(NULL) + 600, ids[N - 1]), 0);
	spool_close(plain);
	spool_envelope_free(&got);
	spool_test_stats(sp, &groups0, &jobs0);
	/* N updates in flight at once */
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_lease(sp, ids[i], &err), 0);
		ck_assert_int_eq(spool_load(sp, ids[i], &got, &err), 0);
		got.rcpts[0].attempts = 1;
		got.rcpts[0].state = SPOOL_RCPT_DELIVERED;
		free(got.rcpts[0].last_error);
		got.rcpts[0].last_error = xstrdup("250 2.0.0 ok");
		ck_assert_int_eq(spool_update_async(sp, ids[i], &got, group_done, &g), 0);
		spool_envelope_free(&got);
	}
	ck_assert_int_eq(g.done, 0);
	ev_run(loop, 0);
	ck_assert_int_eq(g.done, N);
	ck_assert_int_eq(g.failed, 0);
	ck_assert(!g.wrong_thread);
	ck_assert_int_eq(count("tmp", ""), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spool_load(sp, ids[i], &got, &err), 0);
		ck_assert_int_eq(got.rcpts[0].state, SPOOL_RCPT_DELIVERED);
		ck_assert_str_eq(got.rcpts[0].last_error, "250 2.0.0 ok");
		ck_assert_uint_eq(got.size, 21);
		spool_envelope_free(&got);
	}
	/* then N removals, the last half with the caller's envelope (as
	 * dsmtpc removes a finished message without writing it first) */
	g.done = g.failed = 0;
	for (int i = 0; i < N / 2; i++)
		ck_assert_int_eq(spool_remove_async(sp, ids[i], group_done, &g), 0);
	for (int i = N / 2; i < N; i++) {
		ck_assert_int_eq(spool_load(sp, ids[i], &got, &err), 0);
		ck_assert_int_eq(spool_remove_finished_async(sp, ids[i], &got, group_done, &g), 0);
		spool_envelope_free(&got);
	}
	ev_run(loop, 0);
	ck_assert_int_eq(g.done, N);
	ck_assert_int_eq(g.failed, 0);
	spool_test_stats(sp, &groups, &jobs);
	ck_assert_uint_eq(jobs - jobs0, 2 * N);
	ck_assert_uint_lt(groups - groups0, 2 * N);	/* grouped */
	ck_assert_int_eq(count("", ".e") + count("", ".d") + count("tmp", ""), 0);
	for (int i = 0; i < N; i++)
		spool_release(sp, ids[i]);
	/* faults: an update whose fsync fails leaves the old envelope */
	ck_assert_ptr_nonnull(plain = spool_open(qdir, NULL, &err));
	ck_assert_int_eq(put_small(plain, 0, ids[0]), 0);
	spool_close(plain);
	ck_assert_int_eq(spool_lease(sp, ids[0], &err), 0);
	ck_assert_int_eq(spool_load(sp, ids[0], &got, &err), 0);
	got.rcpts[0].attempts = 5;
	memset(&res, 0, sizeof(res));
	spool_test_fail_at(SPOOL_FAULT_FSYNC, 1);
	ck_assert_int_eq(spool_update_async(sp, ids[0], &got, done_cb, &res), 0);
	ev_run(loop, 0);
	ck_assert_int_eq(res.rc, -1);
	spool_envelope_free(&got);
	ck_assert_int_eq(spool_load(sp, ids[0], &got, &err), 0);
	ck_assert_uint_eq(got.rcpts[0].attempts, 0);
	ck_assert_int_eq(count("tmp", ""), 0);
	/* a removal whose directory fsync fails is reported */
	got.rcpts[0].state = SPOOL_RCPT_BOUNCED;
	ck_assert_int_eq(spool_update(sp, ids[0], &got, &err), 0);
	spool_envelope_free(&got);
	memset(&res, 0, sizeof(res));
	spool_test_fail_at(SPOOL_FAULT_DIRFSYNC, 1);
	ck_assert_int_eq(spool_remove_async(sp, ids[0], done_cb, &res), 0);
	ev_run(loop, 0);
	ck_assert_int_eq(res.rc, -1);
	ck_assert_ptr_nonnull(strstr(res.why, "may not be durable"));
	path_of(path, sizeof(path), "", ids[0], ".e");
	ck_assert_int_ne(access(path, F_OK), 0);
	spool_close(sp);
	ev_loop_destroy(loop);
}
END_TEST

struct crash_ctx {
	struct spool	*sp;
	int		 out;		/* acknowledged ids go here */
	unsigned	 seq;
};

static void	crash_start(struct crash_ctx *c);

static void
crash_done(void *arg, int rc, const char *id, const char *why)
{
	struct crash_ctx *c = arg;
	char line[SPOOL_ID_SIZE + 1];

	if (rc == 0) {
		/* one write(2) < PIPE_BUF: the parent never sees half an id */
		snprintf(line, sizeof(line), "%s\n", id);
		if (write(c->out, line, strlen(line)) < 0)
			_exit(3);
	}
	crash_start(c);
}

static void
crash_start(struct crash_ctx *c)
{
	struct spool_envelope env;
	struct spool_rcpt r;
	struct dsmtp_err err;
	struct spool_msg *m = spool_msg_new(c->sp, &err);
	char body[3000];

	if (m == NULL)
		_exit(4);
	memset(body, 'a' + (int)(c->seq++ % 26), sizeof(body));
	small_env(&env, &r, 0);
	if (spool_msg_write(m, body, sizeof(body) - (c->seq % 1000)) < 0)
		_exit(5);
	spool_msg_commit(m, &env, crash_done, c);
}

/* kill -9 a writer with 20 commits in flight, at a random instant, again
 * and again: every message it was told was accepted is there and whole,
 * nothing is damaged, and recovery leaves no temporary file */
START_TEST(test_kill9_writer)
{
	/* the instants: random each run unless DSMTP_TEST_SEED is given */
	srandom(unit_seed("kill -9 instants", (unsigned)getpid()));
	for (int round = 0; round < 12; round++) {
		struct spool_envelope *all;
		struct dsmtp_err err;
		struct spool *sp;
		char buf[65536], *p, *nl;
		size_t got = 0, n, acked = 0;
		int pfd[2], st;
		pid_t pid;

		ck_assert_int_eq(pipe(pfd), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
			struct crash_ctx c = { .out = pfd[1] };

			close(pfd[0]);
			if (loop == NULL || (c.sp = spool_open(qdir, loop, &err)) == NULL)
				_exit(2);
			for (int i = 0; i < 20; i++)
				crash_start(&c);
			ev_run(loop, 0);
			_exit(6);
		}
		close(pfd[1]);
		usleep(20000 + (useconds_t)(random() % 150000));
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFSIGNALED(st), "the writer died by itself: %d", st);
		for (ssize_t k; (k = read(pfd[0], buf + got, sizeof(buf) - 1 - got)) > 0;)
			got += (size_t)k;
		close(pfd[0]);
		buf[got] = '\0';
		ck_assert_ptr_nonnull(sp = spool_open(qdir, NULL, &err));
		ck_assert_int_eq(count("tmp", ""), 0);
		for (p = buf; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			struct spool_envelope e;
			int fd;

			*nl = '\0';
			acked++;
			ck_assert_msg(spool_load(sp, p, &e, &err) == 0, "acked %s lost: %s", p, err.msg);
			spool_envelope_free(&e);
			ck_assert_int_ge(fd = spool_data_open(sp, p, &err), 0);
			close(fd);
		}
		ck_assert_int_eq(spool_list(sp, &all, &n, &err), 0);
		ck_assert_uint_ge(n, acked);
		ck_assert_int_eq(count("", ".e"), (int)n);
		ck_assert_int_eq(count("", ".d"), (int)n);	/* orphans recovered */
		for (size_t i = 0; i < n; i++) {
			int fd = spool_data_open(sp, all[i].id, &err);

			ck_assert_msg(fd >= 0, "%s", err.msg);
			close(fd);
		}
		spool_list_free(all, n);
		ck_assert_int_eq(count("quarantine", ""), 0);
		spool_close(sp);
	}
}
END_TEST

/* a plain bitwise CRC-32C to hold the fast one against */
static uint32_t
crc_ref(const unsigned char *p, size_t len)
{
	uint32_t c = 0xffffffffu;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return ~c;
}

/* the optional "flags" record (DESIGN.md 13.3): written only when there
 * are flags, so a message without any encodes exactly as before and an
 * old envelope reads; strict like every other record */
static char *
reseal(const char *body)
{
	/* body + a valid END record */
	size_t n = strlen(body);
	char *out = malloc(n + 32);

	ck_assert_ptr_nonnull(out);
	memcpy(out, body, n);
	snprintf(out + n, 32, "end 8\n%08" PRIx32 "\n", spool_crc32c(0, body, n));
	return out;
}

START_TEST(test_flags_record)
{
	static const char id[] = "0123456789abcdef01234567";
	struct spool_envelope env, got;
	struct spool_rcpt r;
	char why[200], *buf, *p, *bad;
	size_t len;
	uint32_t crc;

	small_env(&env, &r, 0);
	/* none: no record at all, the pre-flags format */
	ck_assert_int_eq(spool_env_encode(&env, id, 5, 7, &buf, &len, why, sizeof(why)), 0);
	ck_assert_ptr_null(memmem(buf, len, "\nflags ", 8));
	ck_assert_int_eq(spool_env_decode(buf, len, id, &got, &crc, why, sizeof(why)), 0);
	ck_assert_uint_eq(got.flags, 0);
	spool_envelope_free(&got);
	free(buf);
	/* every flag round-trips */
	env.flags = SPOOL_F_REQUIRETLS | SPOOL_F_TLS_OPTIONAL | SPOOL_F_REQUIRETLS_DSN;
	ck_assert_int_eq(spool_env_encode(&env, id, 5, 7, &buf, &len, why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(memmem(buf, len, "\nflags 38\nrequiretls tls-optional requiretls-dsn\n", 49));
	ck_assert_msg(spool_env_decode(buf, len, id, &got, &crc, why, sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(got.flags, env.flags);
	spool_envelope_free(&got);
	/* an unknown word, a repeated one, an empty value, a record after
	 * the recipients: damage */
	p = (char *)memmem(buf, len, "flags 38\n", 9);
	ck_assert_ptr_nonnull(p);
	{
		static const char *const bads[] = { "flags 4\nnope\n", "flags 21\nrequiretls requiretls\n",
		    "flags 0\n\n", "flags 11\nrequiretls \n" };

		for (size_t k = 0; k < sizeof(bads) / sizeof(bads[0]); k++) {
			char body[1024];
			size_t head = (size_t)(p - buf);
			const char *rest = strstr(p, "rcpt ");

			ck_assert_ptr_nonnull(rest);
			snprintf(body, sizeof(body), "%.*s%s%.*s", (int)head, buf, bads[k],
			    (int)(strstr(rest, "end 8\n") - rest), rest);
			bad = reseal(body);
			ck_assert_int_eq(spool_env_decode(bad, strlen(bad), id, &got, &crc, why,
			    sizeof(why)), -1);
			ck_assert_msg(strstr(why, "flags") != NULL, "%s", why);
			free(bad);
		}
	}
	free(buf);
	/* flags bits nobody knows are refused at encoding */
	env.flags = 0x80;
	ck_assert_int_eq(spool_env_encode(&env, id, 5, 7, &buf, &len, why, sizeof(why)), -1);
	spool_flags_format(SPOOL_F_TLS_OPTIONAL, why, sizeof(why));
	ck_assert_str_eq(why, "tls-optional");
}
END_TEST

START_TEST(test_crc32c)
{
	static unsigned char buf[4096 + 16];
	uint32_t c;

	/* the published check value of CRC-32C (RFC 3720 B.4 family) */
	ck_assert_uint_eq(spool_crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(spool_crc32c(0, "", 0), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	/* every alignment and many lengths, in one piece and split anywhere */
	for (size_t off = 0; off < 16; off++) {
		for (size_t len = 0; len < 300; len += 1 + len / 16) {
			ck_assert_uint_eq(spool_crc32c(0, buf + off, len), crc_ref(buf + off, len));
			/* the tables, where the CPU's instruction is used */
			ck_assert_uint_eq(spool_test_crc32c_soft(0, buf + off, len),
			    crc_ref(buf + off, len));
			for (size_t cut = 0; cut <= len; cut += 1 + len / 5) {
				c = spool_crc32c(0, buf + off, cut);
				c = spool_crc32c(c, buf + off + cut, len - cut);
				ck_assert_uint_eq(c, crc_ref(buf + off, len));
			}
		}
	}
	ck_assert_uint_eq(spool_crc32c(0, buf, 4096), crc_ref(buf, 4096));
	ck_assert_uint_eq(spool_test_crc32c_soft(0, "123456789", 9), 0xe3069283u);
}
END_TEST

static Suite *
spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("spool");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	tcase_add_loop_test(tc, test_roundtrip, 0, (int)(sizeof(envcases) / sizeof(envcases[0])));
	tcase_add_test(tc, test_defaults_and_ids);
	tcase_add_test(tc, test_invalid_envelope);
	tcase_add_test(tc, test_group_commit_loop);
	tcase_add_loop_test(tc, test_fault, 0, (int)(sizeof(faultcases) / sizeof(faultcases[0])));
	tcase_add_test(tc, test_fault_in_group);
	tcase_add_test(tc, test_abort);
	tcase_add_loop_test(tc, test_truncated_envelope, 0, 40);
	tcase_add_loop_test(tc, test_flipped_envelope, 0, 30);
	tcase_add_test(tc, test_corrupt_data);
	tcase_add_test(tc, test_missing_data);
	tcase_add_test(tc, test_not_regular);
	tcase_add_test(tc, test_recovery_at_open);
	tcase_add_test(tc, test_update);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_lease);
	tcase_add_test(tc, test_list_and_flush);
	tcase_add_test(tc, test_inotify);
	tcase_add_test(tc, test_async_update_remove);
	tcase_add_test(tc, test_kill9_writer);
	tcase_add_test(tc, test_crc32c);
	tcase_add_test(tc, test_flags_record);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(spool_suite());
}
