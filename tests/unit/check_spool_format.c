/* check_spool_format.c: unit tests of spool format version 2 (one file,
 * one inode per accepted message: data, envelope, trailer; ID.e a second
 * link until the first update) and of the upgrade from version 1 (ID.d
 * and ID.e two files, as every older dsmtpd wrote them): both are listed,
 * leased, read, updated and removed alike; and the bounded data access
 * (spool_data_get) that never reads past the message bytes. */
#include "autoconfig.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/spool.h"
#include "common/spool_int.h"	/* SPOOL_TRAILER_LEN, spool_crc32c */
#include "tests/unit/unit.h"

static char qdir[256];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
setup(void)
{
	const char *t = getenv("TMPDIR");
	char base[200];

	snprintf(base, sizeof(base), "%s/check_spool_format.XXXXXX", t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(qdir, sizeof(qdir), "%s", base);
}

static void
teardown(void)
{
	nftw(qdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
path_of(char *out, size_t len, const char *id, const char *ext)
{
	snprintf(out, len, "%s/%s%s", qdir, id, ext);
}

/* files in queue/ itself, tmp/ and quarantine/ not counted */
static int
nfiles(void)
{
	char path[512];
	int n = 0;
	FILE *p;

	snprintf(path, sizeof(path), "ls -1A '%s'", qdir);
	ck_assert_ptr_nonnull(p = popen(path, "r"));
	while (fgets(path, sizeof(path), p) != NULL)
		if (strcmp(path, "tmp\n") != 0 && strcmp(path, "quarantine\n") != 0)
			n++;
	pclose(p);
	return n;
}

static void
small_env(struct spool_envelope *env, struct spool_rcpt *r)
{
	memset(env, 0, sizeof(*env));
	memset(r, 0, sizeof(r[0]) * 2);
	r[0].addr = (char *)(uintptr_t)"bob@example.net";
	r[1].addr = (char *)(uintptr_t)"carol@example.net";
	env->sender = (char *)(uintptr_t)"alice@example.org";
	env->client = (char *)(uintptr_t)"192.0.2.1:25";
	env->rcpts = r;
	env->nrcpts = 2;
}

struct result {
	int	calls, rc;
	char	id[SPOOL_ID_SIZE];
};

static void
done_cb(void *arg, int rc, const char *id, const char *why)
{
	struct result *r = arg;

	(void)why;
	r->calls++;
	r->rc = rc;
	snprintf(r->id, sizeof(r->id), "%s", id);
}

static void
put(struct spool *sp, const char *data, size_t len, char id[SPOOL_ID_SIZE])
{
	struct spool_envelope env;
	struct spool_rcpt r[2];
	struct result res = { 0 };
	struct dsmtp_err err;
	struct spool_msg *m;

	small_env(&env, r);
	ck_assert_ptr_nonnull(m = spool_msg_new(sp, &err));
	ck_assert_int_eq(spool_msg_write(m, data, len), 0);
	ck_assert_int_eq(spool_msg_commit(m, &env, done_cb, &res), 0);
	ck_assert_int_eq(res.calls, 1);
	ck_assert_int_eq(res.rc, 0);
	snprintf(id, SPOOL_ID_SIZE, "%s", res.id);
}

/* read exactly n bytes at the fd's position; then the caller knows no
 * more of the message is there */
static void
expect_data(int fd, const char *want, size_t n)
{
	char *buf = malloc(n + 1);
	size_t got = 0;

	ck_assert_ptr_nonnull(buf);
	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);

		ck_assert_int_gt(k, 0);
		got += (size_t)k;
	}
	ck_assert(memcmp(buf, want, n) == 0);
	free(buf);
}

/* the first line of a file */
static void
first_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(out, (int)len, f));
	fclose(f);
}

static const char body[] = "Subject: one file\r\n\r\nhello\r\n";

/* a new message is one inode: ID.d and ID.e its two names; the data
 * first, at offset 0, the trailer last */
START_TEST(test_one_inode)
{
	char id[SPOOL_ID_SIZE], dpath[512], epath[512], t[SPOOL_TRAILER_LEN + 1];
	struct spool_envelope got;
	struct dsmtp_err err;
	struct spool *sp;
	struct stat d, e;
	int fd;

	ck_assert_ptr_nonnull(sp = spool_open(qdir, NULL, &err));
	put(sp, body, sizeof(body) - 1, id);
	path_of(dpath, sizeof(dpath), id, ".d");
	path_of(epath, sizeof(epath), id, ".e");
	ck_assert_int_eq(stat(dpath, &d), 0);
	ck_assert_int_eq(stat(epath, &e), 0);
	ck_assert_uint_eq(d.st_ino, e.st_ino);
	ck_assert_uint_eq(d.st_nlink, 2);
	ck_assert_int_eq(nfiles(), 2);
	ck_assert_int_ge(fd = open(dpath, O_RDONLY), 0);
	expect_data(fd, body, sizeof(body) - 1);
	ck_assert_int_eq(pread(fd, t, SPOOL_TRAILER_LEN, d.st_size - SPOOL_TRAILER_LEN),
	    SPOOL_TRAILER_LEN);
	t[SPOOL_TRAILER_LEN] = '\0';
	ck_assert_msg(strncmp(t, "dsmtp-spool 2 ", 14) == 0, "%s", t);
	close(fd);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), 0);
	ck_assert_uint_eq(got.size, sizeof(body) - 1);
	ck_assert_str_eq(got.client, "192.0.2.1:25");
	spool_envelope_free(&got);
	spool_close(sp);
}
END_TEST

/* updates: the first replaces the link by a small file of its own; ID.d
 * (data and first envelope) is never touched; removal leaves nothing */
START_TEST(test_update_v2)
{
	char id[SPOOL_ID_SIZE], dpath[512], epath[512], line[64];
	struct spool_envelope got;
	struct spool_data dd;
	struct dsmtp_err err;
	struct spool *sp;
	struct stat d1, d2, e;

	ck_assert_ptr_nonnull(sp = spool_open(qdir, NULL, &err));
	put(sp, body, sizeof(body) - 1, id);
	path_of(dpath, sizeof(dpath), id, ".d");
	path_of(epath, sizeof(epath), id, ".e");
	ck_assert_int_eq(stat(dpath, &d1), 0);
	for (unsigned k = 1; k <= 3; k++) {
		ck_assert_int_eq(spool_load(sp, id, &got, &err), 0);
		ck_assert_uint_eq(got.rcpts[0].attempts, k - 1);
		got.rcpts[0].attempts = k;
		got.rcpts[1].state = SPOOL_RCPT_DELIVERED;
		ck_assert_msg(spool_update(sp, id, &got, &err) == 0, "%s", err.msg);
		spool_envelope_free(&got);
		ck_assert_int_eq(stat(epath, &e), 0);
		ck_assert_int_eq(stat(dpath, &d2), 0);
		ck_assert_uint_ne(e.st_ino, d2.st_ino);
		ck_assert_uint_eq(d2.st_ino, d1.st_ino);
		ck_assert_uint_eq(d2.st_nlink, 1);
		ck_assert_int_eq(d2.st_size, d1.st_size);
		ck_assert_int_eq(d2.st_mtime, d1.st_mtime);
		first_line(epath, line, sizeof(line));
		ck_assert_str_eq(line, "dsmtp-envelope 2\n");
		ck_assert_int_eq(nfiles(), 2);
	}
	ck_assert_int_eq(spool_load(sp, id, &got, &err), 0);
	ck_assert_uint_eq(got.rcpts[0].attempts, 3);
	ck_assert_int_eq(got.rcpts[1].state, SPOOL_RCPT_DELIVERED);
	ck_assert_uint_eq(got.size, sizeof(body) - 1);
	/* still readable, bounded, checked */
	ck_assert_int_eq(spool_data_get(sp, id, true, &dd, &err), 0);
	ck_assert_uint_eq(dd.off, 0);
	ck_assert_uint_eq(dd.len, sizeof(body) - 1);
	ck_assert_uint_eq(dd.crc, spool_crc32c(0, body, sizeof(body) - 1));
	expect_data(dd.fd, body, sizeof(body) - 1);
	close(dd.fd);
	got.rcpts[0].state = SPOOL_RCPT_DELIVERED;
	ck_assert_int_eq(spool_update(sp, id, &got, &err), 0);
	spool_envelope_free(&got);
	ck_assert_int_eq(spool_remove(sp, id, &err), 0);
	ck_assert_int_eq(nfiles(), 0);
	spool_close(sp);
}
END_TEST

/* a spool left by an older dsmtpd (version 1) beside new messages: the
 * whole life of an old message works, and it stays version 1 */
START_TEST(test_upgrade_v1)
{
	char id1[SPOOL_ID_SIZE], id2[SPOOL_ID_SIZE], dpath[512], epath[512], line[64];
	static const char old[] = "Subject: from before\r\n\r\nold\r\n";
	struct spool_envelope env, got, *all;
	struct spool_rcpt r[2];
	struct dsmtp_err err;
	struct spool *sp;
	struct stat d1, d2, e;
	size_t n;
	int fd;

	ck_assert_ptr_nonnull(sp = spool_open(qdir, NULL, &err));
	small_env(&env, r);
	ck_assert_int_eq(spool_test_write_v1(sp, old, sizeof(old) - 1, &env, id1, &err), 0);
	put(sp, body, sizeof(body) - 1, id2);
	path_of(dpath, sizeof(dpath), id1, ".d");
	path_of(epath, sizeof(epath), id1, ".e");
	ck_assert_int_eq(stat(dpath, &d1), 0);
	ck_assert_int_eq(stat(epath, &e), 0);
	ck_assert_uint_ne(d1.st_ino, e.st_ino);
	ck_assert_int_eq(d1.st_size, (off_t)sizeof(old) - 1);	/* the data alone */
	spool_close(sp);

	/* a new process opens the mixed spool: nothing lost, nothing removed */
	ck_assert_ptr_nonnull(sp = spool_open(qdir, NULL, &err));
	ck_assert_int_eq(spool_list(sp, &all, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	spool_list_free(all, n);
	ck_assert_int_eq(spool_lease(sp, id1, &err), 0);
	ck_assert_int_eq(spool_load(sp, id1, &got, &err), 0);
	ck_assert_uint_eq(got.size, sizeof(old) - 1);
	ck_assert_str_eq(got.rcpts[1].addr, "carol@example.net");
	/* the old contract holds for an old message: read to the end */
	ck_assert_int_ge(fd = spool_data_open(sp, id1, &err), 0);
	expect_data(fd, old, sizeof(old) - 1);
	ck_assert_int_eq(read(fd, line, 1), 0);
	close(fd);
	/* an update keeps it version 1 */
	got.rcpts[0].state = SPOOL_RCPT_DELIVERED;
	got.rcpts[1].attempts = 4;
	ck_assert_msg(spool_update(sp, id1, &got, &err) == 0, "%s", err.msg);
	spool_envelope_free(&got);
	first_line(epath, line, sizeof(line));
	ck_assert_str_eq(line, "dsmtp-envelope 1\n");
	ck_assert_int_eq(stat(dpath, &d2), 0);
	ck_assert_uint_eq(d2.st_ino, d1.st_ino);
	ck_assert_int_eq(spool_load(sp, id1, &got, &err), 0);
	ck_assert_uint_eq(got.rcpts[1].attempts, 4);
	ck_assert_int_eq(spool_remove(sp, id1, &err), -1);	/* carol still pending */
	ck_assert_int_eq(errno, EBUSY);
	got.rcpts[1].state = SPOOL_RCPT_DELIVERED;
	ck_assert_int_eq(spool_update(sp, id1, &got, &err), 0);
	spool_envelope_free(&got);
	ck_assert_int_eq(spool_remove(sp, id1, &err), 0);
	spool_release(sp, id1);
	ck_assert(access(dpath, F_OK) < 0 && access(epath, F_OK) < 0);
	ck_assert_int_eq(nfiles(), 2);		/* the new message, two names */
	spool_close(sp);
}
END_TEST

/* spool_data_get without the read-through: the caller checks the CRC as
 * it reads, and hands damage to spool_data_damaged */
START_TEST(test_data_get_unverified)
{
	char id[SPOOL_ID_SIZE], dpath[512];
	struct spool_envelope got;
	struct spool_data dd;
	struct dsmtp_err err;
	struct spool *sp;
	char buf[256];
	int fd;

	ck_assert_ptr_nonnull(sp = spool_open(qdir, NULL, &err));
	put(sp, body, sizeof(body) - 1, id);
	path_of(dpath, sizeof(dpath), id, ".d");
	ck_assert_int_ge(fd = open(dpath, O_WRONLY), 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, 2), 1);
	close(fd);
	/* unverified: opened, and the bytes read do not match the crc */
	ck_assert_int_eq(spool_data_get(sp, id, false, &dd, &err), 0);
	ck_assert_uint_eq(dd.len, sizeof(body) - 1);
	ck_assert_int_eq(read(dd.fd, buf, (size_t)dd.len), (ssize_t)dd.len);
	ck_assert_uint_ne(spool_crc32c(0, buf, (size_t)dd.len), dd.crc);
	close(dd.fd);
	spool_data_damaged(sp, id, "checksum mismatch while sending");
	ck_assert_int_eq(nfiles(), 0);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* verified: the damage is found before a byte is handed out */
	put(sp, body, sizeof(body) - 1, id);
	path_of(dpath, sizeof(dpath), id, ".d");
	ck_assert_int_ge(fd = open(dpath, O_WRONLY), 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, 2), 1);
	close(fd);
	ck_assert_int_eq(spool_data_get(sp, id, true, &dd, &err), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(dd.fd, -1);
	spool_close(sp);
}
END_TEST

/* a version 2 file whose trailer lies, or whose embedded envelope says
 * version 1, or a version 1 envelope beside a version 2 file: damage */
START_TEST(test_layout_damage)
{
	char id[SPOOL_ID_SIZE], dpath[512], t[SPOOL_TRAILER_LEN + 1];
	struct spool_envelope got;
	struct dsmtp_err err;
	struct spool *sp;
	struct stat st;
	int fd;

	ck_assert_ptr_nonnull(sp = spool_open(qdir, NULL, &err));
	/* trailer claims one byte more of data */
	put(sp, body, sizeof(body) - 1, id);
	path_of(dpath, sizeof(dpath), id, ".d");
	ck_assert_int_eq(stat(dpath, &st), 0);
	ck_assert_int_ge(fd = open(dpath, O_RDWR), 0);
	ck_assert_int_eq(pread(fd, t, SPOOL_TRAILER_LEN, st.st_size - SPOOL_TRAILER_LEN),
	    SPOOL_TRAILER_LEN);
	t[29] = t[29] == '9' ? 'a' : (char)(t[29] + 1);	/* last hex digit of the data length */
	ck_assert_int_eq(pwrite(fd, t, SPOOL_TRAILER_LEN, st.st_size - SPOOL_TRAILER_LEN),
	    SPOOL_TRAILER_LEN);
	close(fd);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), -1);
	ck_assert_int_eq(errno, EBADMSG);
	/* a file appended to after commit */
	put(sp, body, sizeof(body) - 1, id);
	path_of(dpath, sizeof(dpath), id, ".d");
	ck_assert_int_ge(fd = open(dpath, O_WRONLY | O_APPEND), 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
	ck_assert_int_eq(spool_load(sp, id, &got, &err), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(nfiles(), 0);
	spool_close(sp);
}
END_TEST

/* the trailer codec: exact, strict */
START_TEST(test_trailer)
{
	char t[SPOOL_TRAILER_LEN + 1];
	uint64_t a, b;

	spool_trailer_format(t, 123456789, 4242);
	ck_assert_uint_eq(strlen(t), SPOOL_TRAILER_LEN);
	ck_assert_int_eq(spool_trailer_parse(t, &a, &b), 0);
	ck_assert_uint_eq(a, 123456789);
	ck_assert_uint_eq(b, 4242);
	for (size_t i = 0; i < SPOOL_TRAILER_LEN; i++) {
		char u[SPOOL_TRAILER_LEN + 1];

		memcpy(u, t, sizeof(u));
		u[i] ^= 0x20;
		ck_assert_msg(spool_trailer_parse(u, &a, &b) < 0, "flip at %zu accepted", i);
	}
}
END_TEST

static Suite *
spool_format_suite(void)
{
	Suite *s = suite_create("spool_format");
	TCase *tc = tcase_create("spool_format");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	tcase_add_test(tc, test_one_inode);
	tcase_add_test(tc, test_update_v2);
	tcase_add_test(tc, test_upgrade_v1);
	tcase_add_test(tc, test_data_get_unverified);
	tcase_add_test(tc, test_layout_damage);
	tcase_add_test(tc, test_trailer);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(spool_format_suite());
}
