/* check_smtpd_states.c: dsmtpd's session state table, tested through the
 * real session (smtpd/session.c) over socketpairs in one libev loop, with
 * a real spool in a temporary directory and no network: in each command
 * state (helo, ready, rcpt) every verb is either refused by the table
 * with "503 5.5.1 Error: bad sequence of commands" or handed to its
 * handler, exactly as the expected table below says; and in the states
 * that read no commands (data, closing) a command line is not one. */
#include "autoconfig.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "common/config.h"
#include "common/spool.h"
#include "smtpd/smtpd.h"
#include "tests/unit/unit.h"

#define BAD_SEQUENCE	"503 5.5.1 Error: bad sequence of commands"
#define S(x)		(1u << (x))
#define CMD_STATES	(S(SMTPD_HELO) | S(SMTPD_READY) | S(SMTPD_RCPT))

/* what each state accepts: the contract, written out independently of
 * session.c's table (RFC 5321 4.1.4 and 3.3) */
static const struct {
	const char	*line;
	unsigned	 states;
} expected[] = {
	{ "EHLO client.example", CMD_STATES },
	{ "HELO client.example", CMD_STATES },
	{ "MAIL FROM:<a@example.net>", S(SMTPD_READY) | S(SMTPD_RCPT) },
	{ "RCPT TO:<b@example.org>", S(SMTPD_READY) | S(SMTPD_RCPT) },
	{ "DATA", S(SMTPD_READY) | S(SMTPD_RCPT) },
	{ "BDAT 0 LAST", S(SMTPD_READY) | S(SMTPD_RCPT) },
	{ "RSET", CMD_STATES },
	{ "NOOP", CMD_STATES },
	{ "HELP", CMD_STATES },
	{ "VRFY b", CMD_STATES },
	{ "EXPN b", CMD_STATES },
	{ "STARTTLS", CMD_STATES },
	{ "AUTH PLAIN", CMD_STATES },
	{ "QUIT", CMD_STATES },
};

static const enum smtpd_state cmd_states[] = { SMTPD_HELO, SMTPD_READY, SMTPD_RCPT };

static struct smtpd_server srv;
static char tmpdir[64];

static void
server_up(void)
{
	struct config_errors errs;
	struct dsmtp_err err;
	char yaml[512], qdir[256];
	int n;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_smtpd_states.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	n = snprintf(yaml, sizeof(yaml), "hostname: mx.test.example\nstate_dir: %s/state\n"
	    "receive:\n  accepted_domains: [ example.org ]\n  relay: { networks: [] }\n", tmpdir);
	memset(&srv, 0, sizeof(srv));
	memset(&errs, 0, sizeof(errs));
	if (config_load_buffer("test.yaml", yaml, (size_t)n, &srv.cfg, &errs) < 0) {
		config_errors_print(&errs);
		ck_abort_msg("config");
	}
	config_errors_free(&errs);
	ck_assert_int_eq(config_state_path(&srv.cfg, "queue", qdir, sizeof(qdir), &err), 0);
	ck_assert_ptr_nonnull(srv.loop = ev_loop_new(EVFLAG_AUTO));
	ck_assert_msg((srv.spool = spool_open(qdir, srv.loop, &err)) != NULL, "%s", err.msg);
	ck_assert_msg((srv.limits = smtpd_limits_new(1, srv.cfg.receive.max_connections, &err)) !=
	    NULL, "%s", err.msg);
}

static void
server_down(void)
{
	char cmd[128];

	while (srv.sessions != NULL)
		smtpd_session_free(srv.sessions, "test over");
	spool_close(srv.spool);
	smtpd_limits_free(srv.limits);
	ev_loop_destroy(srv.loop);
	config_free(&srv.cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

struct peer {
	int			 fd;
	struct smtpd_session	*s;
	char			 in[8192];
	size_t			 len;
	bool			 eof;
};

/* run the loop and read the peer side for up to secs; stops early once a
 * final reply line ("NNN text") is there when want_reply */
static void
pump(struct peer *p, double secs, bool want_reply)
{
	for (int i = 0; i < (int)(secs * 1000); i++) {
		ssize_t r;

		ev_run(srv.loop, EVRUN_NOWAIT);
		r = read(p->fd, p->in + p->len, sizeof(p->in) - 1 - p->len);
		if (r > 0) {
			p->len += (size_t)r;
			p->in[p->len] = '\0';
		} else if (r == 0)
			p->eof = true;
		else
			ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
		if (want_reply) {
			/* the last complete line is a final one */
			char *end = p->len >= 2 && strcmp(p->in + p->len - 2, "\r\n") == 0 ?
			    p->in + p->len - 2 : NULL, *start;

			if (end != NULL) {
				for (start = end; start > p->in && start[-1] != '\n'; start--)
					;
				if (end - start >= 4 && start[3] == ' ')
					return;
			}
		}
		if (p->eof)
			return;
		usleep(1000);
	}
	if (want_reply)
		ck_abort_msg("no reply within %.1f s; got \"%s\"", secs, p->in);
}

/* the final reply line to line (the whole reply stays in p->in) */
static const char *
say(struct peer *p, const char *line)
{
	char out[600];
	char *last;
	int n = snprintf(out, sizeof(out), "%s\r\n", line);

	p->len = 0;
	p->in[0] = '\0';
	ck_assert_int_eq(write(p->fd, out, (size_t)n), n);
	pump(p, 10, true);
	p->in[p->len - 2] = '\0';
	last = strrchr(p->in, '\n');
	return last != NULL ? last + 1 : p->in;
}

/* a new session, greeted */
static void
connect_peer(struct peer *p)
{
	int sv[2];

	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK), 0);
	smtpd_session_accept(&srv, sv[0]);
	ck_assert_ptr_nonnull(p->s = srv.sessions);
	p->fd = sv[1];
	pump(p, 10, true);
	ck_assert_msg(strncmp(p->in, "220 mx.test.example ", 20) == 0, "%s", p->in);
	ck_assert_int_eq(p->s->state, SMTPD_HELO);
}

static void
drive_to(struct peer *p, enum smtpd_state st)
{
	if (st == SMTPD_HELO)
		return;
	ck_assert_str_eq(say(p, "EHLO client.example"), "250 SMTPUTF8");
	ck_assert_int_eq(p->s->state, SMTPD_READY);
	if (st == SMTPD_READY)
		return;
	ck_assert_str_eq(say(p, "MAIL FROM:<a@example.net>"), "250 2.1.0 Ok");
	ck_assert_int_eq(p->s->state, SMTPD_RCPT);
}

static void
disconnect_peer(struct peer *p)
{
	close(p->fd);
	while (srv.sessions != NULL)
		smtpd_session_free(srv.sessions, "test over");
}

START_TEST(test_state_table)
{
	enum smtpd_state st = cmd_states[_i / (int)(sizeof(expected) / sizeof(expected[0]))];
	size_t k = (size_t)_i % (sizeof(expected) / sizeof(expected[0]));
	bool legal = (expected[k].states & S(st)) != 0;
	struct peer p;
	const char *reply;

	server_up();
	connect_peer(&p);
	drive_to(&p, st);
	reply = say(&p, expected[k].line);
	ck_assert_msg(strncmp(reply, "500 ", 4) != 0, "\"%s\": not even parsed: %s",
	    expected[k].line, reply);
	if (legal)
		ck_assert_msg(strcmp(reply, BAD_SEQUENCE) != 0,
		    "state %d: \"%s\" should reach its handler, got %s", st, expected[k].line, reply);
	else {
		ck_assert_msg(strcmp(reply, BAD_SEQUENCE) == 0,
		    "state %d: \"%s\" should be refused by the table, got %s", st,
		    expected[k].line, reply);
		ck_assert_int_eq(p.s->state, st);	/* and nothing changed */
	}
	disconnect_peer(&p);
	server_down();
}
END_TEST

START_TEST(test_data_state_reads_no_commands)
{
	struct peer p;
	struct spool_envelope *envs;
	struct dsmtp_err err;
	size_t n;
	int fd;
	char body[4096];
	ssize_t got;

	server_up();
	connect_peer(&p);
	drive_to(&p, SMTPD_RCPT);
	ck_assert_str_eq(say(&p, "RCPT TO:<b@example.org>"), "250 2.1.5 Ok");
	ck_assert_str_eq(say(&p, "DATA"), "354 2.0.0 End data with <CR><LF>.<CR><LF>");
	ck_assert_int_eq(p.s->state, SMTPD_DATA);
	/* a command in the body is body: no reply, the state stays */
	p.len = 0;
	ck_assert_int_eq(write(p.fd, "Subject: t\r\n\r\nRSET\r\nQUIT\r\n", 26), 26);
	pump(&p, 0.3, false);
	ck_assert_uint_eq(p.len, 0);
	ck_assert_int_eq(p.s->state, SMTPD_DATA);
	/* the end of data: committed, then ready for the next MAIL */
	ck_assert_msg(strncmp(say(&p, "."), "250 2.0.0 Ok: queued as ", 24) == 0, "%s", p.in);
	ck_assert_int_eq(p.s->state, SMTPD_READY);
	ck_assert_int_eq(spool_list(srv.spool, &envs, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(envs[0].rcpts[0].addr, "b@example.org");
	ck_assert_int_ge(fd = spool_data_open(srv.spool, envs[0].id, &err), 0);
	ck_assert_uint_lt(envs[0].size, sizeof(body));
	got = read(fd, body, (size_t)envs[0].size);	/* the file goes on after the message */
	ck_assert_int_gt(got, 0);
	body[got] = '\0';
	ck_assert_ptr_nonnull(strstr(body, "\r\n\r\nRSET\r\nQUIT\r\n"));
	close(fd);
	spool_list_free(envs, n);
	disconnect_peer(&p);
	server_down();
}
END_TEST

START_TEST(test_closing_state_reads_no_commands)
{
	struct peer p;

	server_up();
	connect_peer(&p);
	drive_to(&p, SMTPD_READY);
	/* QUIT and a NOOP pipelined behind it: the NOOP is never answered */
	p.len = 0;
	ck_assert_int_eq(write(p.fd, "QUIT\r\nNOOP\r\n", 12), 12);
	pump(&p, 10, false);	/* until our half-close reaches the peer */
	ck_assert(p.eof);
	ck_assert_str_eq(p.in, "221 2.0.0 Bye\r\n");
	ck_assert_int_eq(p.s->state, SMTPD_CLOSING);
	disconnect_peer(&p);
	server_down();
}
END_TEST

static Suite *
states_suite(void)
{
	Suite *s = suite_create("smtpd_states");
	TCase *tc = tcase_create("states");

	tcase_add_loop_test(tc, test_state_table, 0,
	    (int)(sizeof(cmd_states) / sizeof(cmd_states[0]) * sizeof(expected) /
	    sizeof(expected[0])));
	tcase_add_test(tc, test_data_state_reads_no_commands);
	tcase_add_test(tc, test_closing_state_reads_no_commands);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(states_suite());
}
