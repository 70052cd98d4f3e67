/* check_smtpc_states.c: dsmtpc's client session state table
 * (smtpc/client_states.c) held to a contract written out here
 * independently: each state's name, whether it reads a reply (and the
 * session's reply dispatch agrees), the states it may go to, and which
 * states are inside a transaction. Then the real session (smtpc/client.c)
 * is driven through the two states that used to be side booleans, by a
 * scripted server on 127.0.0.1 in the same libev loop: a DATA accepted
 * although no recipient was (SC_IGNORE_FINAL: the final reply is read
 * and ignored), and a refused greeting (SC_QUIT_NEXT: QUIT, then the next
 * address). No network beyond the loopback, no DNS (an address literal). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "common/config.h"
#include "smtpc/client_int.h"
#include "smtpc/smtpc.h"
#include "tests/unit/unit.h"

#define S(x)		(1u << (x))
#define NONE		0u

/* the contract: RFC 5321 order (greeting, EHLO or HELO, STARTTLS and the
 * handshake, MAIL/RCPT/DATA, the final dot, QUIT), RFC 3207 (EHLO again
 * after TLS), RFC 2920 (pipelined replies read in one state) */
static const struct {
	enum smtpc_state	 st;
	const char		*name;
	bool			 reads;		/* a reply is read here */
	unsigned		 next;
} contract[] = {
	{ SC_RESOLVE, "resolve", false, S(SC_CONNECT) },
	{ SC_CONNECT, "connect", false, S(SC_BANNER) | S(SC_CONNECT) },
	{ SC_BANNER, "banner", true, S(SC_EHLO) | S(SC_QUIT_NEXT) | S(SC_CONNECT) },
	{ SC_EHLO, "ehlo", true, S(SC_HELO) | S(SC_STARTTLS) | S(SC_XFER) | S(SC_IDLE) |
	    S(SC_QUIT) | S(SC_QUIT_NEXT) | S(SC_CONNECT) },
	{ SC_HELO, "helo", true, S(SC_STARTTLS) | S(SC_XFER) | S(SC_IDLE) | S(SC_QUIT) |
	    S(SC_QUIT_NEXT) | S(SC_CONNECT) },
	{ SC_STARTTLS, "starttls", true, S(SC_TLS) | S(SC_XFER) | S(SC_IDLE) | S(SC_QUIT) |
	    S(SC_QUIT_NEXT) | S(SC_CONNECT) },
	{ SC_TLS, "tls", false, S(SC_EHLO) | S(SC_QUIT_NEXT) | S(SC_CONNECT) },
	{ SC_RSET, "rset", true, S(SC_RSET) | S(SC_XFER) | S(SC_IDLE) | S(SC_QUIT) |
	    S(SC_QUIT_NEXT) },
	{ SC_XFER, "xfer", true, S(SC_XFER) | S(SC_SENDING) | S(SC_IGNORE_FINAL) | S(SC_RSET) |
	    S(SC_IDLE) | S(SC_QUIT) },
	/* no reply before the final dot; nothing but the dot's reply after */
	{ SC_SENDING, "sending", false, S(SC_BODY) },
	{ SC_BODY, "body", true, S(SC_RSET) | S(SC_IDLE) | S(SC_QUIT) },
	{ SC_IGNORE_FINAL, "ignore-final", true, S(SC_RSET) | S(SC_IDLE) | S(SC_QUIT) },
	{ SC_QUIT, "quit", true, NONE },
	{ SC_QUIT_NEXT, "quit-next", true, S(SC_CONNECT) },
	{ SC_IDLE, "idle", true, S(SC_RSET) | S(SC_XFER) | S(SC_QUIT) |
	    S(SC_QUIT_NEXT) },
};

#define NCONTRACT	(sizeof(contract) / sizeof(contract[0]))

START_TEST(test_every_state_in_contract)
{
	ck_assert_uint_eq(NCONTRACT, SC_NSTATES);
	for (size_t i = 0; i < NCONTRACT; i++)
		ck_assert_int_eq(contract[i].st, (int)i);
}
END_TEST

/* one loop iteration per state: name, reply, every possible next state */
START_TEST(test_state_row)
{
	enum smtpc_state from = contract[_i].st;

	ck_assert_str_eq(smtpc_state_name(from), contract[_i].name);
	ck_assert_msg(smtpc_sess_reads_reply(from) == contract[_i].reads,
	    "state %s: the reply dispatch %s a reply", contract[_i].name,
	    contract[_i].reads ? "does not read" : "reads");
	ck_assert_msg((smtpc_state_expects(from) != NULL) == contract[_i].reads,
	    "state %s: the table's expected reply disagrees", contract[_i].name);
	for (unsigned to = 0; to < SC_NSTATES; to++)
		ck_assert_msg(smtpc_state_next_ok(from, (enum smtpc_state)to) ==
		    ((contract[_i].next & S(to)) != 0), "%s -> %s: table says %s, contract %s",
		    contract[_i].name, smtpc_state_name((enum smtpc_state)to),
		    smtpc_state_next_ok(from, (enum smtpc_state)to) ? "allowed" : "refused",
		    (contract[_i].next & S(to)) ? "allowed" : "refused");
}
END_TEST

/* the transitions that matter most, spelled out */
START_TEST(test_key_transitions)
{
	ck_assert(smtpc_state_next_ok(SC_BANNER, SC_EHLO));
	ck_assert(!smtpc_state_next_ok(SC_BANNER, SC_XFER));	/* no MAIL before EHLO */
	ck_assert(!smtpc_state_next_ok(SC_STARTTLS, SC_EHLO));	/* 220, then the handshake */
	ck_assert(smtpc_state_next_ok(SC_TLS, SC_EHLO));	/* RFC 3207 4.2 */
	ck_assert(!smtpc_state_next_ok(SC_TLS, SC_XFER));	/* never MAIL without EHLO again */
	ck_assert(smtpc_state_next_ok(SC_XFER, SC_IGNORE_FINAL));
	ck_assert(!smtpc_state_next_ok(SC_IGNORE_FINAL, SC_BODY));
	ck_assert(!smtpc_state_next_ok(SC_XFER, SC_BODY));	/* the body goes first */
	ck_assert(!smtpc_state_next_ok(SC_SENDING, SC_RSET));	/* never without the dot's reply */
	ck_assert(!smtpc_state_next_ok(SC_QUIT, SC_CONNECT));	/* QUIT ends the session */
	ck_assert(smtpc_state_next_ok(SC_QUIT_NEXT, SC_CONNECT));
	ck_assert(!smtpc_state_next_ok(SC_QUIT_NEXT, SC_EHLO));
	ck_assert(!smtpc_state_next_ok(SC_RESOLVE, SC_BANNER));
	ck_assert(!smtpc_state_next_ok(SC_NSTATES, SC_CONNECT));
	ck_assert_str_eq(smtpc_state_name(SC_NSTATES), "?");
}
END_TEST

START_TEST(test_in_tx)
{
	for (unsigned st = 0; st < SC_NSTATES; st++)
		ck_assert_msg(smtpc_state_in_tx((enum smtpc_state)st) == (st == SC_XFER ||
		    st == SC_SENDING || st == SC_BODY || st == SC_IGNORE_FINAL), "state %s",
		    smtpc_state_name((enum smtpc_state)st));
}
END_TEST

/* ---- the real session against a scripted server ---- */

static char tmpdir[64];
static struct dsmtp_config cfg;
static struct ev_loop *loop;
static struct smtpc ctx;
static int lfd = -1;
static unsigned short lport;
static int jobs_done;

static void
client_up(void)
{
	struct config_errors errs;
	struct dsmtp_err err;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char yaml[512];
	int n;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_smtpc_states.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	n = snprintf(yaml, sizeof(yaml), "hostname: client.test.example\nstate_dir: %s/state\n"
	    "logs: { level: none }\n", tmpdir);
	memset(&cfg, 0, sizeof(cfg));
	memset(&errs, 0, sizeof(errs));
	if (config_load_buffer("test.yaml", yaml, (size_t)n, &cfg, &errs) < 0) {
		config_errors_print(&errs);
		ck_abort_msg("config");
	}
	config_errors_free(&errs);
	ck_assert_ptr_nonnull(loop = ev_loop_new(EVFLAG_AUTO));
	ck_assert_msg(smtpc_ctx_init(&ctx, loop, &cfg, false, &err) == 0, "%s", err.msg);
	ctx.timeout_cap = 5;
	jobs_done = 0;

	ck_assert_int_ge(lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	lport = ntohs(sin.sin_port);
}

static void
client_down(void)
{
	char cmd[128];

	smtpc_ctx_free(&ctx);
	ev_loop_destroy(loop);
	config_free(&cfg);
	close(lfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
job_done(struct smtpc_job *j)
{
	(void)j;
	jobs_done++;
}

/* run the loop until cond holds (checked every millisecond), 5 s at most */
#define PUMP_UNTIL(cond) do {						\
	int i_;								\
	for (i_ = 0; i_ < 5000 && !(cond); i_++) {			\
		ev_run(loop, EVRUN_NOWAIT);				\
		usleep(1000);						\
	}								\
	ck_assert_msg((cond), "timed out waiting for " #cond);		\
} while (0)

/* the server side: accept the session's connection */
static int
server_accept(void)
{
	int fd = -1;

	for (int i = 0; i < 5000 && fd < 0; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
			usleep(1000);
		}
	}
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* the server reads until its input ends with want (a command line) */
static void
server_expect(int fd, const char *want)
{
	char in[4096];
	size_t len = 0, wl = strlen(want);

	for (int i = 0; i < 5000; i++) {
		ssize_t r;

		ev_run(loop, EVRUN_NOWAIT);
		r = read(fd, in + len, sizeof(in) - 1 - len);
		if (r > 0) {
			len += (size_t)r;
			in[len] = '\0';
			if (len >= wl && memcmp(in + len - wl, want, wl) == 0)
				return;
		} else
			ck_assert(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		usleep(1000);
	}
	in[len] = '\0';
	ck_abort_msg("the server wanted \"%s\"; got \"%s\"", want, in);
}

static void
server_say(int fd, const char *s)
{
	ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* a job of one message to one recipient through 127.0.0.1:lport */
static void
submit(struct smtpc_job *j, struct smtpc_result *res, char **rcpts)
{
	static char rcpt[] = "b@example.org";
	struct addr_hop hop;
	struct smtpc_dest *d;

	memset(&hop, 0, sizeof(hop));
	hop.kind = HOP_HOSTPORT;
	snprintf(hop.host, sizeof(hop.host), "127.0.0.1");
	hop.port = lport;
	ck_assert_ptr_nonnull(d = smtpc_dest_get(&ctx, &hop, LEVEL_NONE, NULL, NULL, 0));
	memset(j, 0, sizeof(*j));
	memset(res, 0, sizeof(*res));
	rcpts[0] = rcpt;
	j->sender = "a@example.net";
	j->rcpts = rcpts;
	j->nrcpts = 1;
	j->data = "Subject: t\r\n\r\nhello\r\n";
	j->dlen = j->len = strlen(j->data);
	j->body_fd = -1;
	j->res = res;
	j->done = job_done;
	smtpc_dest_submit(d, j);
	ck_assert_ptr_nonnull(ctx.sessions);
}

/* RFC 2920 3.1: the pipelined RCPT refused, DATA accepted all the same:
 * an empty message ends it, its final reply is read in SC_IGNORE_FINAL
 * and changes no outcome, then QUIT */
START_TEST(test_session_ignore_final)
{
	struct smtpc_job j;
	struct smtpc_result res;
	char *rcpts[1];
	int fd;

	client_up();
	submit(&j, &res, rcpts);
	fd = server_accept();
	PUMP_UNTIL(ctx.sessions->state == SC_BANNER);
	server_say(fd, "220 mx.test ESMTP\r\n");
	server_expect(fd, "EHLO client.test.example\r\n");
	ck_assert_int_eq(ctx.sessions->state, SC_EHLO);
	server_say(fd, "250-mx.test\r\n250 PIPELINING\r\n");
	server_expect(fd, "DATA\r\n");
	ck_assert_int_eq(ctx.sessions->state, SC_XFER);
	server_say(fd, "250 2.1.0 ok\r\n550 5.1.1 no such user\r\n354 go ahead\r\n");
	server_expect(fd, ".\r\n");	/* the empty message: the dot alone */
	ck_assert_int_eq(ctx.sessions->state, SC_IGNORE_FINAL);
	ck_assert(res.done);		/* the RCPT refusal is the outcome */
	ck_assert_int_eq(res.st, SMTPC_PERM);
	ck_assert_int_eq(jobs_done, 0);
	server_say(fd, "250 2.0.0 queued as nothing\r\n");
	server_expect(fd, "QUIT\r\n");
	ck_assert_int_eq(ctx.sessions->state, SC_QUIT);
	ck_assert_int_eq(jobs_done, 1);
	ck_assert_int_eq(res.st, SMTPC_PERM);	/* the 250 changed nothing */
	ck_assert_str_eq(res.status, "5.1.1");
	server_say(fd, "221 2.0.0 bye\r\n");
	PUMP_UNTIL(ctx.sessions == NULL);
	close(fd);
	client_down();
}
END_TEST

/* a refused greeting: QUIT in SC_QUIT_NEXT, and its reply takes the
 * session to the next address (none here: the job fails with the
 * greeting's refusal) */
START_TEST(test_session_quit_next)
{
	struct smtpc_job j;
	struct smtpc_result res;
	char *rcpts[1];
	int fd;

	client_up();
	submit(&j, &res, rcpts);
	fd = server_accept();
	PUMP_UNTIL(ctx.sessions->state == SC_BANNER);
	server_say(fd, "554 5.7.1 not here\r\n");
	server_expect(fd, "QUIT\r\n");
	ck_assert_int_eq(ctx.sessions->state, SC_QUIT_NEXT);
	ck_assert_int_eq(jobs_done, 0);
	server_say(fd, "221 2.0.0 bye\r\n");
	PUMP_UNTIL(ctx.sessions == NULL);
	ck_assert_int_eq(jobs_done, 1);
	ck_assert(res.done);
	ck_assert_int_eq(res.st, SMTPC_PERM);
	ck_assert_msg(strstr(res.text, "refused to talk to me") != NULL, "%s", res.text);
	close(fd);
	client_down();
}
END_TEST

static Suite *
states_suite(void)
{
	Suite *s = suite_create("smtpc_states");
	TCase *tc = tcase_create("table");
	TCase *live = tcase_create("session");

	tcase_add_test(tc, test_every_state_in_contract);
	tcase_add_loop_test(tc, test_state_row, 0, (int)NCONTRACT);
	tcase_add_test(tc, test_key_transitions);
	tcase_add_test(tc, test_in_tx);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	tcase_add_test(live, test_session_ignore_final);
	tcase_add_test(live, test_session_quit_next);
	tcase_set_timeout(live, UNIT_TIMEOUT);
	suite_add_tcase(s, live);
	return s;
}

int
main(void)
{
	return unit_run(states_suite());
}
