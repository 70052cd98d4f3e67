/* check_privdrop.c: unit tests of common/privdrop.c (DESIGN.md 13.4): the
 * user lookup and its message, the drop with no way back (in a forked
 * child: every id the user's, root refused, no new privileges, root's
 * files closed), and the state directory handed over with certs/ kept
 * root's. Run as root (as the suite is on a prepared machine) the drop is
 * real; run as another user, the same calls must fail cleanly instead. */
#include "autoconfig.h"

#include <check.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "common/privdrop.h"
#include "tests/unit/unit.h"

START_TEST(test_lookup)
{
	struct privdrop_user u;
	struct dsmtp_err err = { "" };

	ck_assert_int_eq(privdrop_lookup("no-such-dsmtp-user-x", &u, &err), -1);
	ck_assert_msg(strstr(err.msg, "user \"no-such-dsmtp-user-x\" does not exist") != NULL,
	    "%s", err.msg);
	ck_assert_int_eq(privdrop_lookup("", &u, &err), -1);
	ck_assert_int_eq(privdrop_lookup("root", &u, &err), 0);
	ck_assert_int_eq(u.uid, 0);
	ck_assert_str_eq(u.name, "root");
	ck_assert_int_eq(privdrop_lookup("nobody", &u, &err), 0);
	ck_assert_int_ne(u.uid, 0);
}
END_TEST

/* in a child: 0 when every promise of privdrop_to held */
static int
drop_child(const struct privdrop_user *u)
{
	struct dsmtp_err err = { "" };
	uid_t r, e, s;

	if (privdrop_to(u, &err) < 0) {
		fprintf(stderr, "privdrop_to: %s\n", err.msg);
		return geteuid() == 0 ? 1 : 0;	/* not root: failing is right */
	}
	if (getresuid(&r, &e, &s) < 0 || r != u->uid || e != u->uid || s != u->uid)
		return 3;
	if (setuid(0) == 0 || seteuid(0) == 0 || setresuid(0, 0, 0) == 0)
		return 4;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 5;
	if (open("/etc/shadow", O_RDONLY) >= 0)
		return 6;
	return 0;
}

START_TEST(test_drop_no_way_back)
{
	struct privdrop_user u;
	struct dsmtp_err err = { "" };
	int status;
	pid_t p;

	ck_assert_int_eq(privdrop_lookup("nobody", &u, &err), 0);
	if ((p = fork()) == 0)
		_exit(drop_child(&u));
	ck_assert_int_eq(waitpid(p, &status, 0), p);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}
END_TEST

START_TEST(test_prepare_state)
{
	char dir[] = "/tmp/check_privdrop.XXXXXX", path[256];
	struct dsmtp_config cfg;
	struct privdrop_user u;
	struct dsmtp_err err = { "" };
	struct stat sb;
	int fd, rc;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	config_defaults(&cfg);
	free(cfg.state_dir);
	cfg.state_dir = strdup(dir);
	ck_assert_int_eq(privdrop_lookup("nobody", &u, &err), 0);
	snprintf(path, sizeof(path), "%s/queue", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/queue/m.e", dir);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0600), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/certs", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/certs/a.key", dir);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0644), 0);
	close(fd);
	rc = privdrop_prepare_state(&cfg, &u, &err);
	if (geteuid() != 0) {
		/* another user cannot give files away: an error, said */
		ck_assert_int_eq(rc, -1);
		ck_assert(err.msg[0] != '\0');
	} else {
		ck_assert_msg(rc == 0, "%s", err.msg);
		ck_assert_int_eq(stat(dir, &sb), 0);
		ck_assert_int_eq(sb.st_uid, u.uid);
		snprintf(path, sizeof(path), "%s/queue/m.e", dir);
		ck_assert_int_eq(stat(path, &sb), 0);
		ck_assert_int_eq(sb.st_uid, u.uid);
		snprintf(path, sizeof(path), "%s/certs", dir);
		ck_assert_int_eq(stat(path, &sb), 0);
		ck_assert_int_eq(sb.st_uid, 0);
		ck_assert_int_eq(sb.st_gid, u.gid);
		ck_assert_int_eq(sb.st_mode & 07777, 0750);
		snprintf(path, sizeof(path), "%s/certs/a.key", dir);
		ck_assert_int_eq(stat(path, &sb), 0);
		ck_assert_int_eq(sb.st_uid, 0);
		ck_assert_int_eq(sb.st_mode & 07777, 0600);
	}
	config_free(&cfg);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

static Suite *
privdrop_suite(void)
{
	Suite *s = suite_create("privdrop");
	TCase *tc = tcase_create("privdrop");

	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_drop_no_way_back);
	tcase_add_test(tc, test_prepare_state);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(privdrop_suite());
}
