/* session.c: one SMTP server session: the state machine, the command
 * table, replies, limits and timeouts (RFC 5321, 3207, 2920, 1870, 3030,
 * 2034, 6531). Transport events come from common/conn.c; the spool side of
 * a message is tx.c; TLS judgement lives in tls/ and policy/. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/spool.h"
#include "smtpd/smtpd.h"
#include "smtpd/hooks.h"

#define SMTPD_MAX_ERRORS	20	/* bad commands before we hang up */
#define SMTPD_OUT_HIGH		(64 * 1024)	/* unsent replies: stop reading commands ... */
#define SMTPD_OUT_LOW		(16 * 1024)	/* ... until they drain to this */
#define SMTPD_CLOSE_DEADLINE	60.0	/* for the last reply, or the spool's fsync */
#define SMTPD_STUCK_DEADLINE	5.0	/* a 421 behind replies the client never reads */

/* command flags */
#define CMD_PRE_TLS	0x01	/* allowed before STARTTLS when TLS is required */
#define CMD_LAST	0x02	/* ends a PIPELINING group (RFC 2920 3.1) */

/* state masks */
#define ST(x)		(1u << (x))
#define ST_ANY		(ST(SMTPD_HELO) | ST(SMTPD_READY) | ST(SMTPD_RCPT))

struct smtpd_cmd {
	const char	*name;
	unsigned	 states;	/* where it is legal; elsewhere 503 */
	unsigned	 flags;
	void		(*proceed)(struct smtpd_session *, const char *args);
};

static int session_event(struct conn *c, enum conn_event ev, void *arg);
static void session_input(struct smtpd_session *s);
static void session_set_state(struct smtpd_session *s, enum smtpd_state st);
static void cmd_ehlo(struct smtpd_session *, const char *);
static void cmd_helo(struct smtpd_session *, const char *);
static void cmd_mail(struct smtpd_session *, const char *);
static void cmd_rcpt(struct smtpd_session *, const char *);
static void cmd_data(struct smtpd_session *, const char *);
static void cmd_bdat(struct smtpd_session *, const char *);
static void cmd_rset(struct smtpd_session *, const char *);
static void cmd_noop(struct smtpd_session *, const char *);
static void cmd_quit(struct smtpd_session *, const char *);
static void cmd_help(struct smtpd_session *, const char *);
static void cmd_vrfy(struct smtpd_session *, const char *);
static void cmd_expn(struct smtpd_session *, const char *);
static void cmd_starttls(struct smtpd_session *, const char *);
static void cmd_auth(struct smtpd_session *, const char *);

static const struct smtpd_cmd smtpd_cmds[] = {
	{ "EHLO", ST_ANY, CMD_PRE_TLS | CMD_LAST, cmd_ehlo },
	{ "HELO", ST_ANY, CMD_PRE_TLS | CMD_LAST, cmd_helo },
	{ "MAIL", ST(SMTPD_READY) | ST(SMTPD_RCPT), 0, cmd_mail },
	{ "RCPT", ST(SMTPD_READY) | ST(SMTPD_RCPT), 0, cmd_rcpt },
	{ "DATA", ST(SMTPD_READY) | ST(SMTPD_RCPT), CMD_LAST, cmd_data },
	{ "BDAT", ST(SMTPD_READY) | ST(SMTPD_RCPT), 0, cmd_bdat },
	{ "RSET", ST_ANY, CMD_PRE_TLS, cmd_rset },
	{ "NOOP", ST_ANY, CMD_PRE_TLS | CMD_LAST, cmd_noop },
	{ "QUIT", ST_ANY, CMD_PRE_TLS | CMD_LAST, cmd_quit },
	{ "HELP", ST_ANY, CMD_PRE_TLS, cmd_help },
	{ "VRFY", ST_ANY, CMD_LAST, cmd_vrfy },
	{ "EXPN", ST_ANY, CMD_LAST, cmd_expn },
	{ "STARTTLS", ST_ANY, CMD_PRE_TLS | CMD_LAST, cmd_starttls },
	{ "AUTH", ST_ANY, 0, cmd_auth },
	{ NULL, 0, 0, NULL }
};

static const char *const state_names[] = {
	"helo", "ready", "rcpt", "data", "bdat", "commit", "tls", "closing"
};

static const char *
session_state_name(enum smtpd_state st)
{
	return state_names[st];
}

/* ---- replies ---- */

void
smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = conn_vformat_line(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* a reply may quote the peer: no control byte goes back on the wire */
	for (int i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	smtpd_hook_sent(s, line, (size_t)n);
	(void)conn_write_line(s->conn, line, (size_t)n);
}

/* a reply that ends the session: 421 and close after it is sent */
static void
session_close_with(struct smtpd_session *s, const char *code, const char *what)
{
	smtpd_reply(s, "%s %s Error: %s", code, s->srv->cfg.hostname, what);
	session_set_state(s, SMTPD_CLOSING);
	conn_close_after_flush(s->conn);
}

static void
session_error(struct smtpd_session *s)
{
	if (++s->errors >= SMTPD_MAX_ERRORS)
		session_close_with(s, "421 4.7.0", "too many errors, closing");
}

/* Every state runs against a deadline, not an idle timer that each byte
 * re-arms (a peer trickling one byte a second would hold the session for
 * ever): a whole command line within timeouts.command, the handshake within
 * timeouts.tls_handshake; DATA and BDAT start with timeouts.data and then
 * must keep receive.timeouts.min_data_rate (session_data_progress). */
static void
session_set_state(struct smtpd_session *s, enum smtpd_state st)
{
	const struct dsmtp_config *cfg = &s->srv->cfg;

	if (s->state != st)
		smtpd_hook_state(s, session_state_name(s->state), session_state_name(st));
	s->state = st;
	switch (st) {
	case SMTPD_DATA:
	case SMTPD_BDAT:
		if (cfg->receive.min_data_rate == 0)	/* off: idle, as before */
			conn_set_timeout(s->conn, cfg->receive.timeout_data);
		else
			conn_set_deadline(s->conn, cfg->receive.timeout_data);
		break;
	case SMTPD_TLS:
		conn_set_deadline(s->conn, cfg->receive.timeout_tls_handshake);
		break;
	case SMTPD_COMMIT:
	case SMTPD_CLOSING:
		conn_set_deadline(s->conn, SMTPD_CLOSE_DEADLINE);
		break;
	default:
		conn_set_deadline(s->conn, cfg->receive.timeout_command);
		break;
	}
}

/* Postfix's smtpd_min_data_rate: n octets of message data buy n / rate
 * seconds, the deadline never more than timeouts.data ahead. A client
 * below the rate falls behind until the deadline passes (at 1 octet/s and
 * 1024 required, about timeouts.data after its last full-speed moment). */
static void
session_data_progress(struct smtpd_session *s, size_t n)
{
	const struct dsmtp_config *cfg = &s->srv->cfg;

	if (cfg->receive.min_data_rate > 0 && n > 0)
		conn_extend_deadline(s->conn, (double)n / cfg->receive.min_data_rate,
		    cfg->receive.timeout_data);
}

/* ---- accept and free ---- */

static void
peer_ip(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	snprintf(buf, len, "unknown");
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)len);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, (socklen_t)len);
}

void
smtpd_session_accept(struct smtpd_server *srv, int fd)
{
	const struct dsmtp_config *cfg = &srv->cfg;
	struct smtpd_session *s = calloc(1, sizeof(*s));
	const char *refuse = NULL;

	if (s == NULL) {
		close(fd);
		return;
	}
	s->srv = srv;
	s->conn = conn_new(srv->loop, fd, session_event, s);
	if (s->conn == NULL) {
		free(s);
		close(fd);
		return;
	}
	/* a client that pipelines commands and never reads the replies must
	 * not grow our output buffer without bound (issue 14) */
	conn_set_out_limits(s->conn, SMTPD_OUT_HIGH, SMTPD_OUT_LOW);
	s->id = smtpd_hook_new_id();
	peer_ip(&s->conn->peer, s->peer_ip, sizeof(s->peer_ip));
	conn_format_addr(&s->conn->peer, s->peer, sizeof(s->peer));
	conn_format_addr(&s->conn->local, s->local, sizeof(s->local));
	if (srv->stopping)
		refuse = "shutting down";
	else {
		/* the limits hold for the whole server, not this worker */
		switch (smtpd_limits_acquire(srv->limits, srv->worker, &s->conn->peer,
		    cfg->receive.max_connections, cfg->receive.max_connections_per_ip)) {
		case SMTPD_LIMIT_OK:
			s->counted = true;
			break;
		case SMTPD_LIMIT_TOTAL:
			refuse = "too many connections, try again later";
			break;
		case SMTPD_LIMIT_PER_IP:
			refuse = "too many connections from your address, try again later";
			break;
		}
	}
	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	smtpd_hook_connect(s);
	s->state = SMTPD_HELO;
	if (refuse) {
		session_close_with(s, "421 4.7.0", refuse);
		return;
	}
	session_set_state(s, SMTPD_HELO);
	smtpd_reply(s, "220 %s ESMTP dsmtpd", cfg->hostname);
}

void
smtpd_session_free(struct smtpd_session *s, const char *reason)
{
	struct smtpd_server *srv = s->srv;

	smtpd_hook_disconnect(s, reason);
	smtpd_tx_orphan(s);
	smtpd_tx_free(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	srv->nsessions--;
	if (s->counted)
		smtpd_limits_release(srv->limits, srv->worker, &s->conn->peer);
	conn_free(s->conn);
	if (s->has_tls_facts)
		tls_cert_facts_free(&s->tls.peer.leaf);
	tls_creds_free(s->creds);	/* the last user of replaced credentials frees them */
	free(s);
	if (srv->listen_paused && !srv->stopping) {
		srv->listen_paused = false;
		smtpd_listen_start(srv);
	}
	if (srv->stopping && srv->nsessions == 0)
		ev_break(srv->loop, EVBREAK_ALL);
}

void
smtpd_session_drain(struct smtpd_server *srv)
{
	struct smtpd_session *s = srv->sessions;

	while (s) {
		struct smtpd_session *next = s->next;

		/* a session between messages can go now; one inside a
		 * transaction finishes it and is closed after its reply */
		if (s->tx == NULL && s->state != SMTPD_CLOSING && s->state != SMTPD_TLS)
			session_close_with(s, "421 4.3.2", "shutting down");
		s = next;
	}
}

/* ---- events ---- */

static int
session_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct smtpd_session *s = arg;

	(void)c;
	switch (ev) {
	case CONN_IN:
		session_input(s);
		return 0;
	case CONN_TLS_READY:
		smtpd_hook_tls_ready(s);
		s->flags |= SESS_TLS;
		session_set_state(s, SMTPD_HELO);
		/* RFC 3207 4.2: forget everything; the client must EHLO again */
		s->flags &= ~(SESS_EHLO | SESS_GREETED);
		s->helo[0] = '\0';
		if (buf_avail(&s->conn->in) > 0)
			session_input(s);
		return 0;
	case CONN_CLOSED:
		smtpd_session_free(s, s->srv->stopping ? "shutdown" : "closed");
		return -1;
	case CONN_TIMEOUT:
		if (s->state == SMTPD_CLOSING || s->state == SMTPD_TLS || s->state == SMTPD_COMMIT) {
			smtpd_session_free(s, conn_out_full(s->conn) ? "timeout (replies not read)" :
			    s->state == SMTPD_TLS ? "timeout (TLS handshake)" : "timeout");
			return -1;
		}
		session_close_with(s, "421 4.4.2", "timeout exceeded");
		/* behind replies it does not read, the client may never see the
		 * 421: a short wait for it, then we close */
		if (conn_out_full(s->conn))
			conn_set_deadline(s->conn, SMTPD_STUCK_DEADLINE);
		return 0;
	case CONN_EOF:
		smtpd_session_free(s, "client closed the connection");
		return -1;
	case CONN_ERROR:
		smtpd_session_free(s, s->conn->err[0] ? s->conn->err : "I/O error");
		return -1;
	case CONN_DRAINED:	/* never asked for: replies are small */
		return 0;
	}
	return 0;
}

/* ---- input: lines, DATA, BDAT ---- */

static void session_end_of_data(struct smtpd_session *s);
static void session_command(struct smtpd_session *s, char *line, size_t len, bool more);

/* the next complete line in c->in, CRLF (or a bare LF) stripped; NUL
 * terminated in place. 0 = none yet. */
static size_t
take_line(struct conn *c, char **line, size_t *linelen)
{
	char *p = c->in.data + c->in.off;
	char *lf = memchr(p, '\n', buf_avail(&c->in));
	size_t n;

	if (lf == NULL)
		return 0;
	n = (size_t)(lf - p);
	*lf = '\0';
	if (n > 0 && p[n - 1] == '\r')
		p[--n] = '\0';
	*line = p;
	*linelen = n;
	return (size_t)(lf - p) + 1;
}

static void
session_input(struct smtpd_session *s)
{
	struct conn *c = s->conn;

	for (;;) {
		size_t avail = buf_avail(&c->in), used;
		char *line;
		size_t len;

		if (avail == 0)
			return;
		switch (s->state) {
		case SMTPD_DATA:
			used = smtpd_data_feed(&s->tx->data, buf_head(&c->in), avail,
			    smtpd_tx_store, s, &s->tx->store_failed);
			buf_consume(&c->in, used);
			session_data_progress(s, used);
			if (s->tx->data.st == DATA_DONE)
				session_end_of_data(s);
			continue;
		case SMTPD_BDAT:
			used = avail < s->tx->bdat_left ? avail : (size_t)s->tx->bdat_left;
			if (!s->tx->bdat_discard)
				smtpd_data_feed_raw(&s->tx->data, buf_head(&c->in), used,
				    smtpd_tx_store, s, &s->tx->store_failed);
			buf_consume(&c->in, used);
			session_data_progress(s, used);
			s->tx->bdat_left -= used;
			if (s->tx->bdat_left == 0)
				session_end_of_data(s);
			continue;
		case SMTPD_COMMIT:
		case SMTPD_TLS:
		case SMTPD_CLOSING:
			return;		/* read later (or never) */
		default:
			break;
		}
		/* back-pressure: no more commands while their replies pile up
		 * unread; conn.c hands the rest over once the output drains */
		if (conn_out_full(c))
			return;
		used = take_line(c, &line, &len);
		if (used == 0) {
			if (avail >= SMTP_LINE_MAX) {
				/* keep memory bounded: drop the line, answer at its end */
				s->flags |= SESS_BADLINE;
				buf_consume(&c->in, avail);
			}
			return;
		}
		if (s->flags & SESS_BADLINE || len > SMTP_LINE_MAX - 2) {
			s->flags &= ~SESS_BADLINE;
			buf_consume(&c->in, used);
			smtpd_reply(s, "500 5.5.2 Error: line too long (RFC 5321 4.5.3.1.4: 512 octets)");
			session_error(s);
			continue;
		}
		session_command(s, line, len, avail > used);
		buf_consume(&c->in, used);
		if (s->state == SMTPD_CLOSING)
			return;
		/* the next command line has its own deadline from now */
		if (s->state == SMTPD_HELO || s->state == SMTPD_READY || s->state == SMTPD_RCPT)
			conn_set_deadline(c, s->srv->cfg.receive.timeout_command);
	}
}

/* more: input follows this command line in what we have read */
static void
session_command(struct smtpd_session *s, char *line, size_t len, bool more)
{
	const struct dsmtp_config *cfg = &s->srv->cfg;
	const struct smtpd_cmd *cmd;
	const char *args;
	char verb[16];

	smtpd_hook_received(s, line, len);
	if (memchr(line, '\0', len) != NULL) {
		smtpd_reply(s, "500 5.5.2 Error: NUL byte in command");
		session_error(s);
		return;
	}
	if (smtp_cmd_verb(line, verb, sizeof(verb), &args) == 0) {
		smtpd_reply(s, "500 5.5.2 Error: command not recognized");
		session_error(s);
		return;
	}
	for (cmd = smtpd_cmds; cmd->name; cmd++)
		if (strcmp(cmd->name, verb) == 0)
			break;
	if (cmd->name == NULL) {
		smtpd_reply(s, "500 5.5.2 Error: command not recognized");
		session_error(s);
		return;
	}
	/* RFC 2920 3.1: EHLO, DATA, VRFY, EXPN, QUIT and NOOP (and HELO, and
	 * STARTTLS by RFC 3207) end a pipelined group: the client must see
	 * their reply before it says more. Input already behind one is
	 * refused and the session closed, as Postfix (3.9's
	 * smtpd_forbid_unauth_pipelining) and Exim do: a message body sent
	 * with a DATA that fails would otherwise run as commands. QUIT ends
	 * the session anyway; after STARTTLS conn.c discards the input
	 * (DESIGN.md 11). Only what we have read counts, not the socket. */
	if ((cmd->flags & CMD_LAST) && more && strcmp(cmd->name, "QUIT") != 0 &&
	    strcmp(cmd->name, "STARTTLS") != 0) {
		smtpd_hook_info(s, "improper command pipelining after %s", cmd->name);
		smtpd_reply(s, "554 5.5.0 Error: SMTP protocol synchronization (%s must end a "
		    "pipelined group, RFC 2920)", cmd->name);
		session_set_state(s, SMTPD_CLOSING);
		conn_close_after_flush(s->conn);
		return;
	}
	if (cfg->receive.tls == RECV_TLS_REQUIRED && !(s->flags & SESS_TLS) &&
	    !(cmd->flags & CMD_PRE_TLS) && s->srv->creds) {
		smtpd_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		session_error(s);
		return;
	}
	if (!(cmd->states & ST(s->state))) {
		smtpd_reply(s, "503 5.5.1 Error: bad sequence of commands");
		session_error(s);
		return;
	}
	cmd->proceed(s, args);
}

/* ---- the commands ---- */

static void
tx_reset(struct smtpd_session *s)
{
	smtpd_tx_free(s);
	if (s->flags & SESS_GREETED)
		session_set_state(s, SMTPD_READY);
}

/* EHLO/HELO argument: a domain or an address literal, kept printable */
static int
helo_arg(struct smtpd_session *s, const char *args, const char *verb)
{
	size_t n = strcspn(args, " ");

	if (n == 0) {
		smtpd_reply(s, "501 5.5.4 Syntax: %s hostname", verb);
		session_error(s);
		return -1;
	}
	if (n >= sizeof(s->helo))
		n = sizeof(s->helo) - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)args[i];
		s->helo[i] = (c > 32 && c < 127) ? (char)c : '?';
	}
	s->helo[n] = '\0';
	return 0;
}

static void
cmd_ehlo(struct smtpd_session *s, const char *args)
{
	const struct dsmtp_config *cfg = &s->srv->cfg;
	bool starttls;

	if (helo_arg(s, args, "EHLO") < 0)
		return;
	smtpd_tx_free(s);
	s->flags |= SESS_EHLO | SESS_GREETED;
	session_set_state(s, SMTPD_READY);
	starttls = cfg->receive.tls != RECV_TLS_NONE && s->srv->creds && !(s->flags & SESS_TLS);
	smtpd_reply(s, "250-%s", cfg->hostname);
	smtpd_reply(s, "250-PIPELINING");
	smtpd_reply(s, "250-SIZE %llu", (unsigned long long)cfg->receive.max_message_size);
	if (starttls)
		smtpd_reply(s, "250-STARTTLS");
	smtpd_reply(s, "250-ENHANCEDSTATUSCODES");
	smtpd_reply(s, "250-8BITMIME");
	smtpd_reply(s, "250-CHUNKING");
	if (smtpd_reqtls_offer(cfg->receive.requiretls, (s->flags & SESS_TLS) != 0))
		smtpd_reply(s, "250-REQUIRETLS");
	smtpd_reply(s, "250 SMTPUTF8");
}

static void
cmd_helo(struct smtpd_session *s, const char *args)
{
	if (helo_arg(s, args, "HELO") < 0)
		return;
	smtpd_tx_free(s);
	s->flags &= ~SESS_EHLO;
	s->flags |= SESS_GREETED;
	session_set_state(s, SMTPD_READY);
	smtpd_reply(s, "250 %s", s->srv->cfg.hostname);
}

static void
cmd_mail(struct smtpd_session *s, const char *args)
{
	const struct dsmtp_config *cfg = &s->srv->cfg;
	struct smtp_path from;
	struct smtp_mail_params mp;
	const char *params;
	char reply[256];
	int ds;

	if (s->tx != NULL) {
		smtpd_reply(s, "503 5.5.1 Error: nested MAIL command");
		session_error(s);
		return;
	}
	if (smtp_cmd_path(args, "FROM", &from, &params, reply, sizeof(reply)) < 0 ||
	    smtp_cmd_mail_params(params, &mp, reply, sizeof(reply)) < 0) {
		smtpd_reply(s, "%s", reply);
		session_error(s);
		return;
	}
	if (from.postmaster) {
		smtpd_reply(s, "501 5.1.7 Bad sender address syntax");
		session_error(s);
		return;
	}
	if (mp.requiretls && smtpd_reqtls_mail(cfg->receive.requiretls,
	    (s->flags & SESS_TLS) != 0, reply, sizeof(reply)) < 0) {
		smtpd_reply(s, "%s", reply);
		return;
	}
	if ((from.utf8) && !mp.smtputf8) {
		smtpd_reply(s, "553 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter");
		return;
	}
	if (mp.has_size && mp.size > cfg->receive.max_message_size) {
		smtpd_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return;
	}
	if (!smtpd_tx_space_ok(s, mp.has_size ? mp.size : 0)) {
		/* RFC 1870 6.1: not now, try later */
		smtpd_reply(s, "452 4.3.1 Insufficient system storage");
		return;
	}
	if ((ds = smtpd_hook_sender_policy(s, &from, reply, sizeof(reply))) < 0) {
		smtpd_reply(s, "%s", reply);
		return;
	}
	if ((s->tx = calloc(1, sizeof(*s->tx))) == NULL) {
		smtpd_reply(s, "451 4.3.0 Error: out of memory");
		return;
	}
	s->tx->n = ++s->ntx;
	s->tx->from = from;
	s->tx->params = mp;
	if (ds > 0) {
		s->tx->domain_secured = true;
		snprintf(s->tx->ds_domain, sizeof(s->tx->ds_domain), "%s", from.domain);
	}
	session_set_state(s, SMTPD_RCPT);
	smtpd_reply(s, "250 2.1.0 Ok");
}

static void
cmd_rcpt(struct smtpd_session *s, const char *args)
{
	const struct dsmtp_config *cfg = &s->srv->cfg;
	struct smtp_path to;
	struct smtpd_rcpt *v;
	const char *params;
	char reply[300];

	if (s->tx == NULL) {
		smtpd_reply(s, "503 5.5.1 Error: need MAIL command");
		session_error(s);
		return;
	}
	if (smtp_cmd_path(args, "TO", &to, &params, reply, sizeof(reply)) < 0 ||
	    smtp_cmd_rcpt_params(params, reply, sizeof(reply)) < 0) {
		smtpd_reply(s, "%s", reply);
		session_error(s);
		return;
	}
	if (to.null) {
		smtpd_reply(s, "501 5.1.3 Bad recipient address syntax");
		session_error(s);
		return;
	}
	if (to.utf8 && !s->tx->params.smtputf8) {
		smtpd_reply(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8 on MAIL");
		return;
	}
	if (s->tx->nrcpt >= cfg->receive.max_recipients) {
		smtpd_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (smtpd_hook_relay(s, &to, reply, sizeof(reply)) < 0) {
		smtpd_reply(s, "%s", reply);
		session_error(s);
		return;
	}
	if ((v = realloc(s->tx->rcpt, (s->tx->nrcpt + 1) * sizeof(*v))) == NULL) {
		smtpd_reply(s, "451 4.3.0 Error: out of memory");
		return;
	}
	s->tx->rcpt = v;
	snprintf(v[s->tx->nrcpt++].addr, sizeof(v->addr), "%s", to.addr);
	smtpd_reply(s, "250 2.1.5 Ok");
}

/* the spool file opens at the first DATA/BDAT, after the envelope is whole */
static int
tx_open(struct smtpd_session *s)
{
	char reply[256];

	if (s->tx->msg != NULL)
		return 0;
	if (smtpd_tx_begin(s, reply, sizeof(reply)) < 0) {
		smtpd_reply(s, "%s", reply);
		return -1;
	}
	smtpd_data_init(&s->tx->data, s->srv->cfg.receive.max_message_size);
	return 0;
}

static void
cmd_data(struct smtpd_session *s, const char *args)
{
	if (*args) {
		smtpd_reply(s, "501 5.5.4 Syntax: DATA");
		session_error(s);
		return;
	}
	if (s->tx == NULL) {
		smtpd_reply(s, "503 5.5.1 Error: need MAIL command");
		session_error(s);
		return;
	}
	if (s->tx->nrcpt == 0) {
		smtpd_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	if (s->tx->bdat) {
		smtpd_reply(s, "503 5.5.1 Error: DATA after BDAT");
		session_error(s);
		return;
	}
	if (tx_open(s) < 0)
		return;
	session_set_state(s, SMTPD_DATA);
	smtpd_reply(s, "354 2.0.0 End data with <CR><LF>.<CR><LF>");
}

static void
cmd_bdat(struct smtpd_session *s, const char *args)
{
	uint64_t size = 0;
	const char *p = args;
	bool last = false;
	size_t digits = 0;

	while (isdigit((unsigned char)*p) && digits < 19) {
		size = size * 10 + (uint64_t)(*p++ - '0');
		digits++;
	}
	if (digits == 0 || (*p != '\0' && *p != ' ')) {
		/* without a size we cannot know where the chunk ends: hang up */
		session_close_with(s, "421 4.5.4", "bad BDAT syntax, closing");
		return;
	}
	while (*p == ' ')
		p++;
	if (strcasecmp(p, "LAST") == 0)
		last = true;
	else if (*p != '\0') {
		session_close_with(s, "421 4.5.4", "bad BDAT syntax, closing");
		return;
	}
	if (s->tx == NULL || s->tx->nrcpt == 0) {
		/* RFC 3030 4.2: the chunk is read even when refused */
		if (s->tx == NULL && (s->tx = calloc(1, sizeof(*s->tx))) == NULL) {
			session_close_with(s, "421 4.3.0", "out of memory");
			return;
		}
		s->tx->bdat_discard = true;
		s->tx->bdat_refuse = 1;
	} else if (!s->tx->bdat_discard && tx_open(s) < 0) {
		s->tx->bdat_discard = true;
		s->tx->bdat_refuse = 2;
	}
	s->tx->bdat = true;
	s->tx->bdat_left = size;
	s->tx->bdat_last = last;
	session_set_state(s, SMTPD_BDAT);
	if (size == 0)
		session_end_of_data(s);
}

static void
cmd_rset(struct smtpd_session *s, const char *args)
{
	(void)args;
	tx_reset(s);
	smtpd_reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct smtpd_session *s, const char *args)
{
	(void)args;
	smtpd_reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct smtpd_session *s, const char *args)
{
	(void)args;
	smtpd_tx_free(s);
	smtpd_reply(s, "221 2.0.0 Bye");
	session_set_state(s, SMTPD_CLOSING);
	conn_close_after_flush(s->conn);
}

static void
cmd_help(struct smtpd_session *s, const char *args)
{
	(void)args;
	smtpd_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS");
}

static void
cmd_vrfy(struct smtpd_session *s, const char *args)
{
	(void)args;
	smtpd_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void
cmd_expn(struct smtpd_session *s, const char *args)
{
	(void)args;
	smtpd_reply(s, "502 5.5.1 Error: EXPN not available");
}

static void
cmd_auth(struct smtpd_session *s, const char *args)
{
	(void)args;
	smtpd_reply(s, "503 5.5.1 Error: authentication not enabled");
	session_error(s);
}

static void
cmd_starttls(struct smtpd_session *s, const char *args)
{
	char why[256];

	if (*args) {
		smtpd_reply(s, "501 5.5.4 Syntax: STARTTLS");
		session_error(s);
		return;
	}
	if (s->flags & SESS_TLS) {
		smtpd_reply(s, "554 5.5.1 Error: TLS already active");
		session_error(s);
		return;
	}
	if (s->srv->cfg.receive.tls == RECV_TLS_NONE || s->srv->creds == NULL) {
		smtpd_reply(s, "502 5.5.1 Error: STARTTLS not available here");
		session_error(s);
		return;
	}
	smtpd_tx_free(s);
	if (smtpd_hook_starttls(s, why, sizeof(why)) < 0) {
		smtpd_reply(s, "454 4.7.0 TLS not available due to local problem");
		return;
	}
	smtpd_reply(s, "220 2.0.0 Ready to start TLS");
	/* conn.c discards every byte that arrived with or after STARTTLS */
	session_set_state(s, SMTPD_TLS);
}

/* ---- end of data ---- */

static void
session_end_of_data(struct smtpd_session *s)
{
	struct smtpd_tx *tx = s->tx;

	if (tx->bdat && !tx->bdat_last) {
		session_set_state(s, SMTPD_RCPT);
		if (tx->bdat_refuse == 1) {
			smtpd_reply(s, "503 5.5.1 Error: need MAIL and RCPT before BDAT");
			if (!tx->from.addr[0] && !tx->from.null)
				tx_reset(s);	/* there was no MAIL: nothing to keep */
			else	/* MAIL stands; nothing was stored, so BDAT may start over */
				tx->bdat = tx->bdat_discard = false, tx->bdat_refuse = 0;
		} else if (tx->bdat_refuse == 2)
			smtpd_reply(s, "452 4.3.1 Insufficient system storage");
		else
			smtpd_reply(s, "250 2.0.0 %llu octets received",
			    (unsigned long long)tx->data.size);
		return;
	}
	session_set_state(s, SMTPD_RCPT);
	s->message_end = true;		/* the reply below, or the commit's, ends it */
	if (tx->bdat_refuse) {
		smtpd_reply(s, tx->bdat_refuse == 1 ? "503 5.5.1 Error: need MAIL and RCPT before BDAT" :
		    "452 4.3.1 Insufficient system storage");
		tx_reset(s);
		return;
	}
	if (tx->data.bare) {
		smtpd_reply(s, "554 5.6.0 Message contains a bare CR or LF (RFC 5321 2.3.8); not accepted");
		tx_reset(s);
		return;
	}
	if (tx->data.too_big) {
		smtpd_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		tx_reset(s);
		return;
	}
	if (tx->data.too_long) {
		smtpd_reply(s, "554 5.6.0 Message has a line over 1000 octets (RFC 5321 4.5.3.1.6); not accepted");
		tx_reset(s);
		return;
	}
	if (tx->store_failed) {
		smtpd_reply(s, "452 4.3.1 Insufficient system storage");
		tx_reset(s);
		return;
	}
	/* the 250 waits for the fsync: read nothing more until then */
	session_set_state(s, SMTPD_COMMIT);
	conn_pause(s->conn);
	smtpd_tx_commit(s);
}

/* called by tx.c on the loop thread when the spool has answered */
void
smtpd_session_committed(struct smtpd_session *s, int rc, const char *id, const char *why)
{
	if (rc == 0)
		smtpd_reply(s, "250 2.0.0 Ok: queued as %s", id);
	else {
		smtpd_hook_info(s, "spool commit failed: %s", why);
		/* a full disk is the client's cue to try later, with the RFC 3463
		 * code; the spool tells it by errno (ENOSPC, EDQUOT) */
		if (rc == SPOOL_RC_NOSPACE)
			smtpd_reply(s, "452 4.3.1 Insufficient system storage");
		else
			smtpd_reply(s, "451 4.3.0 Error: queue file write error");
	}
	tx_reset(s);
	if (s->srv->stopping) {
		session_close_with(s, "421 4.3.2", "shutting down");
		return;
	}
	conn_resume(s->conn);
}
