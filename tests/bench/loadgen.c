/* loadgen.c: the benchmark's SMTP load generator (tests/bench, DESIGN.md
 * section 12). One process, one libev loop, N non-blocking client
 * connections, each doing EHLO, STARTTLS, EHLO, then K transactions
 * (MAIL, RCPT, DATA) of a fixed size and QUIT, one command and one reply at
 * a time (no PIPELINING). Every reply code is checked: an unexpected one is
 * counted under "stage:code" and reported, and the exit status is 1 when
 * any message or connection failed. With --idle N it opens N sessions
 * (STARTTLS, EHLO), holds them, and samples the server's memory instead.
 *
 * It also measures the server from outside: --server-pid names the root
 * processes, and the CPU time and memory of every live descendant (read
 * from /proc) are summed, reaped children included through cutime/cstime.
 * The last line of output is machine-readable: "RESULT key=value ...".
 * Two latencies: from the final dot to its 250 (every message), and from
 * connect() to the 250 of a connection's first message (the whole wait of
 * a client that sends one message per connection; scenario 7 reports it).
 *
 * For the relay scenarios: --rate R starts a session R times a second
 * (open loop: a fixed load, not as fast as the server goes), and --watch
 * DIR follows each accepted message to the next hop's spool with inotify.
 * Every message then carries its own Message-ID (loadgen.PID.SEQ), and
 * its arrival is the moment the file holding it becomes complete in DIR:
 * ID.e renamed into a dsmtpd queue directory (ID.d is already there), any
 * other file renamed in (a Postfix queue file moved into hold/), or a
 * Postfix queue file getting its owner-execute bit (how cleanup marks a
 * finished file in incoming/, just before its fsync). The relay latency
 * is from the 250 after our final dot to that moment, on one clock.
 *
 * Not installed; knows nothing of dsmtp's own code (it also drives
 * Postfix and the ceiling server, tlsceiling.c). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <gnutls/gnutls.h>

#define LG_IN_MAX	8192	/* one reply; EHLO replies are a few hundred octets */
#define LG_CMD_MAX	600	/* RFC 5321 4.5.3.1.4: 512 octets, with room */
#define LG_MAX_PIDS	16
#define LG_MAX_FAILKEYS	64

enum lg_state {
	ST_CONNECT, ST_GREETING, ST_EHLO1, ST_STARTTLS, ST_HANDSHAKE, ST_EHLO2,
	ST_MAIL, ST_RCPT, ST_DATA, ST_DOT, ST_IDLE, ST_QUIT, ST_CLOSED
};

static const char *const state_names[] = {
	"connect", "greeting", "ehlo", "starttls", "handshake", "ehlo2",
	"mail", "rcpt", "data", "dataend", "idle", "quit", "closed"
};

/* one client connection; the ev_io is first so the callback recovers it */
struct lg_conn {
	ev_io			 io;
	int			 fd;
	unsigned		 slot;		/* index in lg.conns; keys the resumption data */
	enum lg_state		 st;
	gnutls_session_t	 tls;		/* NULL before STARTTLS and with --no-tls */
	int			 events;	/* what io is armed for */
	bool			 starttls_offered;
	bool			 in_msg;	/* between MAIL and the reply to the final dot */
	bool			 pending;	/* counted in lg.pending: no transaction yet */
	bool			 failed;	/* a failure was counted; QUIT is a courtesy */
	bool			 shut;		/* --quit-shutdown: our side is closed */
	unsigned		 msgs;		/* transactions begun on this connection */
	double			 last_act;
	double			 t_open;	/* when connect() was called */
	double			 t_dot;		/* when the final dot left */
	char			*body;		/* with --watch: our copy, our Message-ID */
	unsigned long		 seq;		/* with --watch: the message's number */
	const char		*out;		/* pending write: out[outoff..outlen) */
	size_t			 outlen, outoff;
	size_t			 inlen;
	char			 in[LG_IN_MAX];
	char			 cmd[LG_CMD_MAX];
};

struct lg_failkey {
	char		 key[48];
	unsigned long	 n;
};

struct lg_sample {
	double		 cpu;		/* seconds, the whole tree */
	unsigned long	 rss_kb, pss_kb;
	unsigned	 nproc;
};

/* the options, the run's state and its counters */
static struct {
	/* options */
	struct sockaddr_in	 addr;
	const char		*server_name;
	unsigned		 concurrency;
	unsigned long		 total;		/* messages; 0 = until --duration */
	double			 duration;	/* seconds; 0 = until --messages */
	unsigned		 per_conn;
	size_t			 size;
	bool			 tls;
	bool			 tls12;
	bool			 resume;
	const char		*client_cert, *client_key;
	unsigned		 idle;		/* sessions to hold; 0 = message mode */
	double			 hold;
	double			 idle_setup;	/* seconds to bring the sessions up */
	double			 timeout;
	const char		*from, *rcpt, *helo;
	pid_t			 pids[LG_MAX_PIDS];
	unsigned		 npids;
	bool			 quiet;
	bool			 quit_shut;	/* half-close after QUIT, then read the 221 */
	bool			 finish_conns;	/* every connection sends its first message */
	double			 rate;		/* sessions per second; 0 = closed loop */
	const char		*watch_dir;
	double			 watch_wait;	/* seconds to wait for the last arrivals */

	/* run state */
	struct ev_loop			*loop;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t		 prio;
	struct lg_conn			**conns;
	unsigned			 nslots;
	gnutls_datum_t			*resume_data;	/* per slot */
	char				*body;
	size_t				 bodylen;
	size_t				 seq_off;	/* the SEQ digits in the Message-ID */
	ev_timer			 rate_timer;
	unsigned long			 rate_opened, rate_missed;
	int				 ino_fd;
	ev_io				 ino_io;
	double				*t_ack, *t_arr;	/* per seq, 0 = not yet */
	size_t				 nseq, seq_cap;
	unsigned long			 acked, arrived, watch_foreign;
	bool				 watch_waiting;
	ev_timer			 tick;
	ev_timer			 hold_timer;
	double				 t_start, t_end, deadline;
	bool				 stopping;	/* no new messages or connections */
	bool				 holding;
	unsigned			 hold_phase;
	unsigned			 active;	/* open connections */
	unsigned			 pending;	/* open, no transaction begun yet */

	/* counters */
	unsigned long		 conns_opened, conns_ok, conns_failed;
	unsigned long		 handshakes, resumed;
	unsigned long		 msgs_started, msgs_ok, msgs_failed;
	unsigned long		 idle_ready;
	double			*lat;		/* ms, one per accepted message */
	size_t			 nlat, lat_cap;
	double			*clat;		/* ms, connect -> 250 of a connection's first message */
	size_t			 nclat, clat_cap;
	struct lg_failkey	 fails[LG_MAX_FAILKEYS];
	unsigned		 nfails;
	unsigned long		 fails_other;
	struct lg_sample	 base, idle_s1, idle_s2;
} lg;

static void	on_io(struct ev_loop *loop, ev_io *w, int revents);
static void	conn_open(unsigned slot);
static void	conn_close(struct lg_conn *c, bool ok);
static void	conn_fail(struct lg_conn *c, const char *kind);
static void	conn_send(struct lg_conn *c, const char *buf, size_t len);
static void	conn_cmd(struct lg_conn *c, enum lg_state st, const char *head,
		    const char *arg, const char *tail);
static void	do_handshake(struct lg_conn *c);
static void	do_read(struct lg_conn *c);
static void	do_flush(struct lg_conn *c);
static void	on_reply(struct lg_conn *c, int code);
static void	next_message(struct lg_conn *c);
static void	refill(void);

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* count one failure under "stage:kind" (kind: a reply code or a word) */
static void
fail_count(const char *stage, const char *kind)
{
	char key[48];

	snprintf(key, sizeof(key), "%s:%s", stage, kind);
	for (unsigned i = 0; i < lg.nfails; i++)
		if (strcmp(lg.fails[i].key, key) == 0) {
			lg.fails[i].n++;
			return;
		}
	if (lg.nfails == LG_MAX_FAILKEYS) {
		lg.fails_other++;
		return;
	}
	memcpy(lg.fails[lg.nfails].key, key, sizeof(key));
	lg.fails[lg.nfails].n = 1;
	lg.nfails++;
}

/* ---- the server seen from /proc ---- */

/* read /proc/PID/stat: parent, and CPU of the process plus its reaped children */
static int
proc_stat(pid_t pid, pid_t *ppid, double *cpu)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st, cut, cst;
	FILE *f;
	size_t n;
	int pp;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: skip to the last ')' */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime */
	if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
	    &pp, &ut, &st, &cut, &cst) != 5)
		return -1;
	*ppid = pp;
	*cpu = (double)(ut + st + cut + cst) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

/* the value in kB of the first "Name:" line of a /proc file */
static unsigned long
proc_kb(const char *path, const char *name)
{
	char line[256];
	size_t nl = strlen(name);
	unsigned long v = 0;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, nl) == 0) {
			v = strtoul(line + nl, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* CPU and memory of the given processes and all their live descendants:
 * utime+stime+cutime+cstime of each live process counts every process of
 * the tree exactly once (a reaped child lives on in its reaper's cutime) */
static void
sample_server(struct lg_sample *s, bool memory)
{
	struct { pid_t pid, ppid; double cpu; } *ps = NULL;
	size_t n = 0, cap = 0;
	bool *in;
	struct dirent *de;
	DIR *d;

	memset(s, 0, sizeof(*s));
	if (lg.npids == 0)
		return;
	if ((d = opendir("/proc")) == NULL)
		die("opendir /proc: %s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		pid_t pid, ppid;
		double cpu;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = (pid_t)strtol(de->d_name, NULL, 10);
		if (proc_stat(pid, &ppid, &cpu) < 0)
			continue;	/* gone meanwhile */
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((ps = realloc(ps, cap * sizeof(*ps))) == NULL)
				die("out of memory");
		}
		ps[n].pid = pid;
		ps[n].ppid = ppid;
		ps[n].cpu = cpu;
		n++;
	}
	closedir(d);
	if ((in = calloc(n ? n : 1, sizeof(*in))) == NULL)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		for (unsigned j = 0; j < lg.npids; j++)
			if (ps[i].pid == lg.pids[j])
				in[i] = true;
	/* grow the set until no process joins: depth is small (master, child) */
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			for (size_t j = 0; j < n; j++)
				if (in[j] && ps[j].pid == ps[i].ppid) {
					in[i] = grew = true;
					break;
				}
		}
	}
	for (size_t i = 0; i < n; i++) {
		char path[64];

		if (!in[i])
			continue;
		s->nproc++;
		s->cpu += ps[i].cpu;
		if (!memory)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/status", (long)ps[i].pid);
		s->rss_kb += proc_kb(path, "VmRSS:");
		snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)ps[i].pid);
		s->pss_kb += proc_kb(path, "Pss:");
	}
	free(in);
	free(ps);
}

/* ---- connections ---- */

/* this connection has begun its work: it no longer holds back new ones */
static void
unpend(struct lg_conn *c)
{
	if (c->pending) {
		c->pending = false;
		lg.pending--;
	}
}

static void
conn_want(struct lg_conn *c, int events)
{
	if (events == c->events)
		return;
	/* ev.pod: never modify an active watcher; stop, set, start */
	ev_io_stop(lg.loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(lg.loop, &c->io);
	c->events = events;
}

/* whether a new transaction may begin now */
static bool
budget_left(void)
{
	if (lg.stopping)
		return false;
	if (lg.total && lg.msgs_started >= lg.total)
		return false;
	if (lg.deadline > 0 && now_s() >= lg.deadline)
		return false;
	return true;
}

static void
conn_open(unsigned slot)
{
	struct lg_conn *c;
	int fd, one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		die("out of memory");
	c->slot = slot;
	c->fd = -1;
	lg.conns[slot] = c;
	lg.conns_opened++;
	lg.active++;
	lg.pending++;
	c->pending = true;
	c->last_act = c->t_open = now_s();
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		conn_fail(c, "socket");
		return;
	}
	c->fd = fd;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		conn_fail(c, "setsockopt");
		return;
	}
	c->st = ST_CONNECT;
	ev_io_init(&c->io, on_io, fd, EV_WRITE);
	c->events = EV_WRITE;
	ev_io_start(lg.loop, &c->io);
	if (connect(fd, (struct sockaddr *)&lg.addr, sizeof(lg.addr)) < 0 && errno != EINPROGRESS) {
		conn_fail(c, errno == ECONNREFUSED ? "refused" : "connect");
		return;
	}
}

/* the only way a connection ends: counts it, frees it, opens the next */
static void
conn_close(struct lg_conn *c, bool ok)
{
	if (c->st == ST_CLOSED)
		return;
	if (c->in_msg) {
		lg.msgs_failed++;
		c->in_msg = false;
	}
	unpend(c);
	if (ok && !c->failed)
		lg.conns_ok++;
	else
		lg.conns_failed++;
	if (c->tls) {
		/* a courtesy close_notify; a full bye would wait for the peer */
		if (ok && !c->shut)
			(void)gnutls_bye(c->tls, GNUTLS_SHUT_WR);
		if (lg.resume && c->st != ST_HANDSHAKE && (!gnutls_session_is_resumed(c->tls) ||
		    (gnutls_session_get_flags(c->tls) & GNUTLS_SFLAGS_SESSION_TICKET))) {
			gnutls_datum_t d = { NULL, 0 };

			/* TLS 1.3 tickets arrive after the handshake: ask at the
			 * end; a resumed session replaces the entry only when the
			 * server sent a new ticket, or the next one would not resume */
			if (gnutls_session_get_data2(c->tls, &d) == GNUTLS_E_SUCCESS) {
				gnutls_free(lg.resume_data[c->slot].data);
				lg.resume_data[c->slot] = d;
			}
		}
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0) {
		ev_io_stop(lg.loop, &c->io);
		close(c->fd);
	}
	c->st = ST_CLOSED;
	lg.conns[c->slot] = NULL;
	lg.active--;
	free(c->body);
	free(c);
	refill();
}

static void
conn_fail(struct lg_conn *c, const char *kind)
{
	fail_count(state_names[c->st], kind);
	conn_close(c, false);
}

/* open connections into free slots while there is work, or end the loop */
static void
refill(void)
{
	if (lg.idle) {
		if (lg.active == 0 && lg.stopping)
			ev_break(lg.loop, EVBREAK_ALL);
		return;
	}
	if (lg.rate > 0) {	/* the rate timer opens them */
		if (lg.active == 0 && !ev_is_active(&lg.rate_timer))
			ev_break(lg.loop, EVBREAK_ALL);
		return;
	}
	for (unsigned i = 0; i < lg.nslots; i++) {
		if (lg.conns[i] != NULL)
			continue;
		if (!budget_left())
			break;
		/* the connections that have not begun a message yet will take
		 * up to per_conn of the last messages each: open no more than
		 * the messages left need */
		if (lg.total && lg.per_conn &&
		    lg.msgs_started + (unsigned long)lg.pending * lg.per_conn >= lg.total)
			break;
		conn_open(i);
	}
	if (lg.active == 0)
		ev_break(lg.loop, EVBREAK_ALL);
}

static void
conn_send(struct lg_conn *c, const char *buf, size_t len)
{
	c->out = buf;
	c->outlen = len;
	c->outoff = 0;
	c->last_act = now_s();	/* the timeout runs from the command, not the last reply */
	do_flush(c);
}

/* a one-line command: head, then arg and tail when given, then CRLF */
static void
conn_cmd(struct lg_conn *c, enum lg_state st, const char *head, const char *arg,
    const char *tail)
{
	int n = snprintf(c->cmd, sizeof(c->cmd), "%s%s%s\r\n", head, arg ? arg : "",
	    tail ? tail : "");

	if (n < 0 || (size_t)n >= sizeof(c->cmd))
		die("command too long");
	c->st = st;
	conn_send(c, c->cmd, (size_t)n);
}

/* write what is pending; GnuTLS wants the same data again after E_AGAIN */
static void
do_flush(struct lg_conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n;

		if (c->tls) {
			n = gnutls_record_send(c->tls, c->out + c->outoff, c->outlen - c->outoff);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				conn_want(c, EV_READ | EV_WRITE);
				return;
			}
			if (n < 0) {
				conn_fail(c, "tls-send");
				return;
			}
		} else {
			n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				conn_want(c, EV_READ | EV_WRITE);
				return;
			}
			if (n < 0) {
				conn_fail(c, errno == EPIPE || errno == ECONNRESET ? "reset" : "send");
				return;
			}
		}
		c->outoff += (size_t)n;
	}
	if (c->st == ST_DOT)
		c->t_dot = now_s();	/* latency: the final dot has left */
	if (c->st == ST_QUIT && lg.quit_shut && !c->shut) {
		/* as Exim's own client does: our FIN right after QUIT, so a
		 * server that waits for the client to close first (Exim holds
		 * its 221 up to 200 ms for that) need not wait */
		c->shut = true;
		if (shutdown(c->fd, SHUT_WR) < 0) {
			conn_fail(c, "shutdown");
			return;
		}
	}
	c->out = NULL;
	c->outlen = c->outoff = 0;
	conn_want(c, EV_READ);
}

static void
do_handshake(struct lg_conn *c)
{
	int rc = gnutls_handshake(c->tls);

	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED ||
	    (rc < 0 && !gnutls_error_is_fatal(rc))) {
		conn_want(c, gnutls_record_get_direction(c->tls) ? EV_WRITE : EV_READ);
		return;
	}
	if (rc < 0) {
		char kind[24];

		snprintf(kind, sizeof(kind), "tls%d", rc);
		if (!lg.quiet && lg.conns_failed < 3)
			fprintf(stderr, "loadgen: handshake: %s\n", gnutls_strerror(rc));
		conn_fail(c, kind);
		return;
	}
	lg.handshakes++;
	if (gnutls_session_is_resumed(c->tls))
		lg.resumed++;
	conn_cmd(c, ST_EHLO2, "EHLO ", lg.helo, NULL);
}

static void
start_tls(struct lg_conn *c)
{
	gnutls_datum_t *rd = &lg.resume_data[c->slot];
	int rc;

	/* CVE-2011-0411: nothing read before the handshake may count after it */
	c->inlen = 0;
	rc = gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (rc < 0) {
		c->tls = NULL;
		conn_fail(c, "tls-init");
		return;
	}
	if (gnutls_priority_set(c->tls, lg.prio) < 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, lg.cred) < 0) {
		conn_fail(c, "tls-init");
		return;
	}
	if (lg.server_name && gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS,
	    lg.server_name, strlen(lg.server_name)) < 0) {
		conn_fail(c, "tls-init");
		return;
	}
	if (lg.resume && rd->data && gnutls_session_set_data(c->tls, rd->data, rd->size) < 0) {
		conn_fail(c, "tls-init");
		return;
	}
	gnutls_transport_set_int(c->tls, c->fd);
	c->st = ST_HANDSHAKE;
	do_handshake(c);
}

static void
do_read(struct lg_conn *c)
{
	for (;;) {
		ssize_t n;
		char *p, *line, *end;

		if (c->inlen == sizeof(c->in)) {
			conn_fail(c, "reply-too-long");
			return;
		}
		if (c->tls) {
			n = gnutls_record_recv(c->tls, c->in + c->inlen, sizeof(c->in) - c->inlen);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				return;
			if (n < 0 && !gnutls_error_is_fatal((int)n))
				continue;
			if (n < 0) {
				conn_fail(c, "tls-recv");
				return;
			}
		} else {
			n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n < 0) {
				conn_fail(c, errno == ECONNRESET ? "reset" : "read");
				return;
			}
		}
		if (n == 0) {
			if (c->st == ST_QUIT && c->failed) {
				conn_close(c, false);	/* it hung up on a failed session */
				return;
			}
			conn_fail(c, "eof");
			return;
		}
		c->inlen += (size_t)n;
		c->last_act = now_s();

		/* complete replies: lines "ddd-text" until "ddd text" or "ddd" */
		line = c->in;
		while ((end = memchr(line, '\n', c->inlen - (size_t)(line - c->in))) != NULL) {
			size_t ll = (size_t)(end - line);
			int code;

			if (ll < 3 || !isdigit((unsigned char)line[0]) ||
			    !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2])) {
				conn_fail(c, "bad-reply");
				return;
			}
			code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
			if (c->st == ST_EHLO1) {
				for (p = line + 4; p + 8 <= end; p++)
					if (strncasecmp(p, "STARTTLS", 8) == 0)
						c->starttls_offered = true;
			}
			if (ll >= 4 && line[3] == '-') {
				line = end + 1;
				continue;	/* more lines follow */
			}
			line = end + 1;
			/* one reply is complete: keep what follows (nothing, unless
			 * the server pipelines replies we did not ask for) */
			c->inlen -= (size_t)(line - c->in);
			memmove(c->in, line, c->inlen);
			if (c->inlen != 0) {
				conn_fail(c, "unasked-reply");
				return;
			}
			on_reply(c, code);
			return;		/* c may be gone; a reply is followed by our command */
		}
		/* read on until E_AGAIN: decrypted bytes can wait in GnuTLS
		 * while the socket is silent */
	}
}

/* an unexpected reply: count it; the transaction failed; leave politely */
static void
bad_reply(struct lg_conn *c, int code)
{
	char kind[8];

	snprintf(kind, sizeof(kind), "%d", code);
	fail_count(state_names[c->st], kind);
	if (c->in_msg) {
		lg.msgs_failed++;
		c->in_msg = false;
	}
	if (code == 421) {
		conn_close(c, false);
		return;
	}
	c->failed = true;
	conn_cmd(c, ST_QUIT, "QUIT", NULL, NULL);
}

/* append one latency sample (ms) to a growing array */
static void
lat_push(double **a, size_t *n, size_t *cap, double v)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 4096;
		if ((*a = realloc(*a, *cap * sizeof(**a))) == NULL)
			die("out of memory");
	}
	(*a)[(*n)++] = v;
}

static void
on_reply(struct lg_conn *c, int code)
{
	switch (c->st) {
	case ST_GREETING:
		if (code != 220)
			break;
		conn_cmd(c, ST_EHLO1, "EHLO ", lg.helo, NULL);
		return;
	case ST_EHLO1:
		if (code != 250)
			break;
		if (!lg.tls) {
			c->st = ST_EHLO2;
			on_reply(c, 250);
			return;
		}
		if (!c->starttls_offered) {
			fail_count("ehlo", "no-starttls");
			c->failed = true;
			conn_cmd(c, ST_QUIT, "QUIT", NULL, NULL);
			return;
		}
		conn_cmd(c, ST_STARTTLS, "STARTTLS", NULL, NULL);
		return;
	case ST_STARTTLS:
		if (code != 220)
			break;
		start_tls(c);
		return;
	case ST_EHLO2:
		if (code != 250)
			break;
		if (lg.idle) {
			c->st = ST_IDLE;
			unpend(c);
			lg.idle_ready++;
			return;
		}
		next_message(c);
		return;
	case ST_MAIL:
		if (code != 250)
			break;
		conn_cmd(c, ST_RCPT, "RCPT TO:<", lg.rcpt, ">");
		return;
	case ST_RCPT:
		if (code != 250 && code != 251)
			break;
		conn_cmd(c, ST_DATA, "DATA", NULL, NULL);
		return;
	case ST_DATA:
		if (code != 354)
			break;
		c->st = ST_DOT;
		conn_send(c, c->body ? c->body : lg.body, lg.bodylen);
		return;
	case ST_DOT:
		if (code != 250)
			break;
		c->in_msg = false;
		lg.msgs_ok++;
		lat_push(&lg.lat, &lg.nlat, &lg.lat_cap, (now_s() - c->t_dot) * 1000.0);
		if (c->msgs == 1)	/* the whole wait of a client with one message */
			lat_push(&lg.clat, &lg.nclat, &lg.clat_cap, (now_s() - c->t_open) * 1000.0);
		if (c->body) {
			lg.t_ack[c->seq] = now_s();
			lg.acked++;
		}
		next_message(c);
		return;
	case ST_QUIT:
		if (code != 221)
			break;
		conn_close(c, true);
		return;
	case ST_IDLE:
		/* a reply nobody asked for while idle: a 421 timeout, say */
		break;
	case ST_CONNECT:
	case ST_HANDSHAKE:
	case ST_CLOSED:
		break;
	}
	if (c->st == ST_QUIT) {
		/* the QUIT after a failure got something odd: count it, close */
		char kind[8];

		snprintf(kind, sizeof(kind), "%d", code);
		fail_count("quit", kind);
		conn_close(c, false);
		return;
	}
	bad_reply(c, code);
}

/* the next transaction on this connection, or QUIT */
static void
next_message(struct lg_conn *c)
{
	unpend(c);
	/* --finish-conns: a connection opened before the end sends its first
	 * message even after --duration (no handshake goes unused) */
	if (c->msgs >= lg.per_conn ||
	    (!budget_left() && !(lg.finish_conns && c->msgs == 0 && !lg.stopping &&
	    (lg.total == 0 || lg.msgs_started < lg.total)))) {
		conn_cmd(c, ST_QUIT, "QUIT", NULL, NULL);
		return;
	}
	if (lg.watch_dir) {
		char digits[11];

		if (c->body == NULL && (c->body = malloc(lg.bodylen)) == NULL)
			die("out of memory");
		memcpy(c->body, lg.body, lg.bodylen);
		if (lg.nseq == lg.seq_cap) {
			lg.seq_cap = lg.seq_cap ? lg.seq_cap * 2 : 4096;
			if ((lg.t_ack = realloc(lg.t_ack, lg.seq_cap * sizeof(double))) == NULL ||
			    (lg.t_arr = realloc(lg.t_arr, lg.seq_cap * sizeof(double))) == NULL)
				die("out of memory");
		}
		c->seq = lg.nseq++;
		lg.t_ack[c->seq] = lg.t_arr[c->seq] = 0;
		snprintf(digits, sizeof(digits), "%010lu", c->seq);
		memcpy(c->body + lg.seq_off, digits, 10);
	}
	c->msgs++;
	lg.msgs_started++;
	c->in_msg = true;
	conn_cmd(c, ST_MAIL, "MAIL FROM:<", lg.from, ">");
}

static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lg_conn *c = (struct lg_conn *)w;

	(void)loop;
	c->last_act = now_s();
	if (c->st == ST_CONNECT) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
			conn_fail(c, err == ECONNREFUSED ? "refused" : "connect");
			return;
		}
		c->st = ST_GREETING;
		conn_want(c, EV_READ);
		return;
	}
	if (c->st == ST_HANDSHAKE) {
		do_handshake(c);
		return;
	}
	if ((revents & EV_WRITE) && c->outoff < c->outlen) {
		do_flush(c);
		return;		/* do_flush may have closed c */
	}
	if (revents & EV_READ)
		do_read(c);
}

/* once a second: the deadline, and connections that stopped moving */
static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	double now = now_s();

	(void)loop;
	(void)w;
	(void)revents;
	for (unsigned i = 0; i < lg.nslots; i++) {
		struct lg_conn *c = lg.conns[i];

		if (c && c->st != ST_IDLE && now - c->last_act > lg.timeout)
			conn_fail(c, "timeout");
	}
	if (lg.idle && !lg.holding && !lg.stopping) {
		if (now - lg.t_start > lg.idle_setup && lg.pending > 0) {
			/* too slow: hold what is up, give up on the rest */
			lg.conns_opened = lg.idle;	/* the opener stops */
			for (unsigned i = 0; i < lg.nslots; i++) {
				struct lg_conn *c = lg.conns[i];

				if (c && c->st != ST_IDLE)
					conn_fail(c, "setup-too-slow");
			}
		}
		/* all sessions that could be opened are up (or failed): hold */
		if (lg.idle_ready + lg.conns_failed >= lg.idle && lg.pending == 0)
			ev_feed_event(lg.loop, &lg.hold_timer, EV_CUSTOM);
	}
}

/* idle mode, in three steps: every session is up, so hold; halfway, sample
 * the server's memory; at the end, sample again and QUIT every session */
static void
on_hold(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	switch (lg.hold_phase++) {
	case 0:
		lg.holding = true;
		if (!lg.quiet)
			printf("idle: %lu sessions up after %.1f s; holding %.0f s\n",
			    lg.idle_ready, now_s() - lg.t_start, lg.hold);
		fflush(stdout);
		ev_timer_set(w, lg.hold / 2, 0);
		ev_timer_start(lg.loop, w);
		return;
	case 1:
		sample_server(&lg.idle_s1, true);
		ev_timer_set(w, lg.hold / 2, 0);
		ev_timer_start(lg.loop, w);
		return;
	default:
		break;
	}
	sample_server(&lg.idle_s2, true);
	lg.stopping = true;
	lg.t_end = now_s();
	for (unsigned i = 0; i < lg.nslots; i++) {
		struct lg_conn *c = lg.conns[i];

		if (c && c->st == ST_IDLE)
			conn_cmd(c, ST_QUIT, "QUIT", NULL, NULL);
	}
	if (lg.active == 0)
		ev_break(lg.loop, EVBREAK_ALL);
}

/* idle mode: open sessions, at most --concurrency setting up at once */
static void
on_idle_open(struct ev_loop *loop, ev_timer *w, int revents)
{
	unsigned setting_up = lg.active - (unsigned)lg.idle_ready;

	(void)loop;
	(void)revents;
	while (lg.conns_opened < lg.idle && setting_up < lg.concurrency) {
		conn_open((unsigned)lg.conns_opened);
		setting_up++;
	}
	if (lg.conns_opened >= lg.idle)
		ev_timer_stop(lg.loop, w);
}

/* --rate: one new session per tick, into a free slot; a tick that finds
 * none is counted as missed (the server is not keeping up) */
static void
on_rate(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	if (lg.stopping || (lg.deadline > 0 && now_s() >= lg.deadline) ||
	    (lg.total && lg.rate_opened * (lg.per_conn ? lg.per_conn : 1) >= lg.total)) {
		ev_timer_stop(lg.loop, w);
		if (lg.active == 0)
			ev_break(lg.loop, EVBREAK_ALL);
		return;
	}
	for (unsigned i = 0; i < lg.nslots; i++)
		if (lg.conns[i] == NULL) {
			lg.rate_opened++;
			conn_open(i);
			return;
		}
	lg.rate_missed++;
}

/* --watch: the message in a complete file, by its Message-ID: ours, a
 * first arrival, gets the time */
static void
watch_file(const char *name, double t)
{
	static const char tag[] = "Message-ID: <loadgen.";
	char path[PATH_MAX], buf[4096];
	const char *p;
	unsigned long seq;
	long pid;
	ssize_t n;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", lg.watch_dir, name) >= sizeof(path))
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	/* the headers are at the start: of the data file (dsmtpd), or after
	 * the envelope records of a Postfix queue file */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (p = buf; (p = memmem(p, (size_t)(buf + n - p), tag, sizeof(tag) - 1)) != NULL; p++) {
		if (sscanf(p + sizeof(tag) - 1, "%ld.%lu@", &pid, &seq) != 2)
			continue;
		if (pid != (long)getpid() || seq >= lg.nseq) {
			lg.watch_foreign++;
			return;
		}
		if (lg.t_arr[seq] == 0) {
			lg.t_arr[seq] = t;
			lg.arrived++;
		}
		return;
	}
}

static void
on_watch(struct ev_loop *loop, ev_io *w, int revents)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)loop;
	(void)revents;
	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		double t = now_s();	/* before the reading of files below */

		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			size_t nl;

			p += sizeof(*ev) + ev->len;
			if (ev->len == 0)
				continue;
			nl = strlen(ev->name);
			if ((ev->mask & IN_MOVED_TO) && nl > 2 && strcmp(ev->name + nl - 2, ".e") == 0) {
				char d[NAME_MAX + 1];

				/* dsmtpd: ID.e comes last, ID.d holds the message */
				memcpy(d, ev->name, nl + 1);
				d[nl - 1] = 'd';
				watch_file(d, t);
			} else if (ev->mask & IN_MOVED_TO) {
				watch_file(ev->name, t);	/* Postfix: into hold/ */
			} else if (ev->mask & IN_ATTRIB) {
				char path[PATH_MAX];
				struct stat st;

				/* Postfix: cleanup's fchmod(0700) says "complete" */
				if ((size_t)snprintf(path, sizeof(path), "%s/%s", lg.watch_dir,
				    ev->name) < sizeof(path) && stat(path, &st) == 0 &&
				    S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR))
					watch_file(ev->name, t);
			}
		}
	}
	if (lg.watch_waiting && lg.arrived >= lg.acked)
		ev_break(lg.loop, EVBREAK_ALL);
}

static void
watch_start(void)
{
	if ((lg.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		die("inotify_init1: %s", strerror(errno));
	if (inotify_add_watch(lg.ino_fd, lg.watch_dir, IN_MOVED_TO | IN_ATTRIB) < 0)
		die("--watch %s: %s", lg.watch_dir, strerror(errno));
	ev_io_init(&lg.ino_io, on_watch, lg.ino_fd, EV_READ);
	ev_io_start(lg.loop, &lg.ino_io);
}

static void
on_watch_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	ev_break(lg.loop, EVBREAK_ALL);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* the p-th percentile of n sorted samples */
static double
percentile(const double *a, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return a[i < n ? i : n - 1];
}

static double
self_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		die("getrusage: %s", strerror(errno));
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* the message: headers, then 76-octet lines up to the size, then the dot */
static void
make_body(void)
{
	static const char hdr_fmt[] =
	    "From: <%s>\r\nTo: <%s>\r\nSubject: dsmtp benchmark\r\n"
	    "Message-ID: <loadgen.%ld.0000000000@bench.invalid>\r\n\r\n";
	size_t cap = lg.size + 256, len;
	const char *seq;
	int n;

	if ((lg.body = malloc(cap)) == NULL)
		die("out of memory");
	n = snprintf(lg.body, cap, hdr_fmt, lg.from, lg.rcpt, (long)getpid());
	if (n < 0 || (size_t)n >= cap || (seq = strstr(lg.body, "0000000000@bench.invalid>")) == NULL)
		die("headers too long");
	lg.seq_off = (size_t)(seq - lg.body);
	len = (size_t)n;
	while (len + 78 <= lg.size) {
		memset(lg.body + len, 'x', 76);
		memcpy(lg.body + len + 76, "\r\n", 2);
		len += 78;
	}
	if (len < lg.size) {
		size_t rest = lg.size - len;

		memset(lg.body + len, 'y', rest);
		len += rest;
		memcpy(lg.body + len, "\r\n", 2);
		len += 2;
	}
	memcpy(lg.body + len, ".\r\n", 3);
	lg.bodylen = len + 3;
}

static void
parse_server(const char *arg)
{
	char host[256];
	const char *colon = strrchr(arg, ':');
	char *end;
	long port;

	if (colon == NULL || (size_t)(colon - arg) >= sizeof(host))
		die("--server %s: want HOST:PORT", arg);
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		die("--server %s: bad port", arg);
	memset(&lg.addr, 0, sizeof(lg.addr));
	lg.addr.sin_family = AF_INET;
	lg.addr.sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &lg.addr.sin_addr) != 1)
		die("--server %s: want an IPv4 address (this is a loopback benchmark)", arg);
}

static void
parse_pids(const char *arg)
{
	const char *p = arg;

	while (*p) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p || v <= 0 || (*end != ',' && *end != '\0'))
			die("--server-pid %s: want PID[,PID...]", arg);
		if (lg.npids == LG_MAX_PIDS)
			die("--server-pid: at most %d", LG_MAX_PIDS);
		lg.pids[lg.npids++] = (pid_t)v;
		p = *end ? end + 1 : end;
	}
}

static unsigned long
num_arg(const char *opt, const char *arg, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		die("%s %s: want a number from %lu to %lu", opt, arg, min, max);
	return v;
}

static double
sec_arg(const char *opt, const char *arg)
{
	char *end;
	double v = strtod(arg, &end);

	if (*end != '\0' || !(v >= 0) || v > 86400)
		die("%s %s: want seconds", opt, arg);
	return v;
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "Usage: loadgen --server HOST:PORT [options]\n"
	    "SMTP load over STARTTLS; one command, one reply; every reply checked.\n\n"
	    "  -s, --server HOST:PORT   the server (IPv4)\n"
	    "  -c, --concurrency N      connections at once (50)\n"
	    "  -n, --messages N         messages in all (default 1000 unless --duration)\n"
	    "  -d, --duration S         stop starting messages after S seconds\n"
	    "  -k, --per-conn K         messages per connection (1; 0: STARTTLS, EHLO, QUIT\n"
	    "                           only, to count handshakes; needs --duration)\n"
	    "      --size BYTES         message size (10240)\n"
	    "      --tls12              TLS 1.2 only (default TLS 1.3 only)\n"
	    "      --resume             resume TLS sessions (one cache entry per slot)\n"
	    "      --client-cert F --client-key F   present a client certificate\n"
	    "      --no-tls             plaintext, no STARTTLS\n"
	    "      --sni NAME           send this server name\n"
	    "      --idle N             hold N sessions (STARTTLS, EHLO) instead of sending\n"
	    "      --hold S             how long --idle holds them (6)\n"
	    "      --idle-setup S       give up on sessions not up after S seconds (300)\n"
	    "      --server-pid P[,P]   measure these processes and their descendants\n"
	    "      --rate R             open R sessions a second (open loop), not -c at once\n"
	    "                           (-c is then the most open at a time)\n"
	    "      --watch DIR          time each accepted message until it is complete in\n"
	    "                           DIR (a dsmtpd queue/, a Postfix hold/ or incoming/)\n"
	    "      --watch-wait S       wait at most S for the last arrivals (30)\n"
	    "      --timeout S          a connection that stops moving fails (30)\n"
	    "      --quit-shutdown      half-close (FIN) right after QUIT, then read the 221\n"
	    "      --finish-conns       after --duration, connections already open still send\n"
	    "                           their first message (none ends with a bare handshake)\n"
	    "      --from A --rcpt B    envelope (bench@loadgen.invalid, sink@example.com)\n"
	    "  -q, --quiet              only the RESULT line\n"
	    "Exit: 0 all well, 1 some message or connection failed, 2 usage or setup.\n");
}

static void
parse_args(int argc, char **argv)
{
	enum { O_SIZE = 256, O_TLS12, O_RESUME, O_CCERT, O_CKEY, O_NOTLS, O_IDLE, O_HOLD, O_ISETUP,
		O_PID, O_TIMEOUT, O_FROM, O_RCPT, O_SNI, O_RATE, O_WATCH, O_WWAIT, O_QSHUT, O_FINISH };
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "messages", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "per-conn", required_argument, NULL, 'k' },
		{ "size", required_argument, NULL, O_SIZE },
		{ "tls12", no_argument, NULL, O_TLS12 },
		{ "resume", no_argument, NULL, O_RESUME },
		{ "client-cert", required_argument, NULL, O_CCERT },
		{ "client-key", required_argument, NULL, O_CKEY },
		{ "no-tls", no_argument, NULL, O_NOTLS },
		{ "sni", required_argument, NULL, O_SNI },
		{ "idle", required_argument, NULL, O_IDLE },
		{ "hold", required_argument, NULL, O_HOLD },
		{ "idle-setup", required_argument, NULL, O_ISETUP },
		{ "server-pid", required_argument, NULL, O_PID },
		{ "rate", required_argument, NULL, O_RATE },
		{ "watch", required_argument, NULL, O_WATCH },
		{ "watch-wait", required_argument, NULL, O_WWAIT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "quit-shutdown", no_argument, NULL, O_QSHUT },
		{ "finish-conns", no_argument, NULL, O_FINISH },
		{ "from", required_argument, NULL, O_FROM },
		{ "rcpt", required_argument, NULL, O_RCPT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bool have_server = false;
	int ch;

	lg.concurrency = 50;
	lg.per_conn = 1;
	lg.size = 10240;
	lg.tls = true;
	lg.hold = 6;
	lg.idle_setup = 300;
	lg.timeout = 30;
	lg.watch_wait = 30;
	lg.from = "bench@loadgen.invalid";
	lg.rcpt = "sink@example.com";
	lg.helo = "loadgen.invalid";
	while ((ch = getopt_long(argc, argv, "s:c:n:d:k:qh", opts, NULL)) != -1) {
		switch (ch) {
		case 's': parse_server(optarg); have_server = true; break;
		case 'c': lg.concurrency = (unsigned)num_arg("--concurrency", optarg, 1, 100000); break;
		case 'n': lg.total = num_arg("--messages", optarg, 1, ULONG_MAX / 2); break;
		case 'd': lg.duration = sec_arg("--duration", optarg); break;
		case 'k': lg.per_conn = (unsigned)num_arg("--per-conn", optarg, 0, 1000000); break;
		case O_SIZE: lg.size = num_arg("--size", optarg, 0, 100u << 20); break;
		case O_TLS12: lg.tls12 = true; break;
		case O_RESUME: lg.resume = true; break;
		case O_CCERT: lg.client_cert = optarg; break;
		case O_CKEY: lg.client_key = optarg; break;
		case O_NOTLS: lg.tls = false; break;
		case O_SNI: lg.server_name = optarg; break;
		case O_IDLE: lg.idle = (unsigned)num_arg("--idle", optarg, 1, 1000000); break;
		case O_HOLD: lg.hold = sec_arg("--hold", optarg); break;
		case O_ISETUP: lg.idle_setup = sec_arg("--idle-setup", optarg); break;
		case O_PID: parse_pids(optarg); break;
		case O_RATE: lg.rate = sec_arg("--rate", optarg); break;
		case O_WATCH: lg.watch_dir = optarg; break;
		case O_WWAIT: lg.watch_wait = sec_arg("--watch-wait", optarg); break;
		case O_TIMEOUT: lg.timeout = sec_arg("--timeout", optarg); break;
		case O_QSHUT: lg.quit_shut = true; break;
		case O_FINISH: lg.finish_conns = true; break;
		case O_FROM: lg.from = optarg; break;
		case O_RCPT: lg.rcpt = optarg; break;
		case 'q': lg.quiet = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc || !have_server) {
		usage(stderr);
		exit(2);
	}
	if (!lg.client_cert != !lg.client_key)
		die("--client-cert and --client-key go together");
	if (lg.per_conn == 0 && lg.duration == 0)
		die("--per-conn 0 (sessions without mail) needs --duration");
	if (lg.total == 0 && lg.duration == 0)
		lg.total = 1000;
	if (lg.idle && !lg.tls)
		die("--idle holds TLS sessions: not with --no-tls");
	if (lg.idle && (lg.rate > 0 || lg.watch_dir))
		die("--idle: not with --rate or --watch");
	if (lg.per_conn == 0 && lg.watch_dir)
		die("--watch needs messages (--per-conn 1 or more)");
	if (strlen(lg.from) > 400 || strlen(lg.rcpt) > 400)
		die("address too long");
}

static void
tls_setup(void)
{
	const char *prio = lg.tls12 ? "NORMAL:-VERS-ALL:+VERS-TLS1.2" :
	    "NORMAL:-VERS-ALL:+VERS-TLS1.3";
	const char *errpos = NULL;
	int rc;

	if ((rc = gnutls_global_init()) < 0)
		die("gnutls_global_init: %s", gnutls_strerror(rc));
	if ((rc = gnutls_certificate_allocate_credentials(&lg.cred)) < 0)
		die("credentials: %s", gnutls_strerror(rc));
	/* no trust anchors and no verification: the benchmark measures the
	 * server's work; the client still checks the handshake signature */
	if (lg.client_cert && (rc = gnutls_certificate_set_x509_key_file(lg.cred,
	    lg.client_cert, lg.client_key, GNUTLS_X509_FMT_PEM)) < 0)
		die("%s: %s", lg.client_cert, gnutls_strerror(rc));
	if ((rc = gnutls_priority_init(&lg.prio, prio, &errpos)) < 0)
		die("priority %s: %s", prio, gnutls_strerror(rc));
}

static void
report(const struct lg_sample *s0, const struct lg_sample *s1, double cpu_self)
{
	double el = lg.t_end - lg.t_start;
	double srv = s1->cpu - s0->cpu;
	double p50, p99, c50, c99, r50 = 0, r99 = 0, rmax = 0;
	unsigned long early = 0;

	if (el <= 0)
		el = 1e-9;
	if (lg.watch_dir) {
		/* --watch: from our 250 to the arrival, messages with both */
		double *rl = malloc((lg.nseq ? lg.nseq : 1) * sizeof(double));
		size_t nr = 0;

		if (rl == NULL)
			die("out of memory");
		for (size_t i = 0; i < lg.nseq; i++)
			if (lg.t_ack[i] > 0 && lg.t_arr[i] > 0) {
				rl[nr++] = (lg.t_arr[i] - lg.t_ack[i]) * 1000.0;
				if (lg.t_arr[i] < lg.t_ack[i])
					early++;
			}
		qsort(rl, nr, sizeof(*rl), cmp_double);
		if (nr) {
			r50 = rl[(size_t)(0.50 * (double)(nr - 1) + 0.5)];
			r99 = rl[(size_t)(0.99 * (double)(nr - 1) + 0.5)];
			rmax = rl[nr - 1];
		}
		free(rl);
	}
	qsort(lg.lat, lg.nlat, sizeof(*lg.lat), cmp_double);
	p50 = percentile(lg.lat, lg.nlat, 50);
	p99 = percentile(lg.lat, lg.nlat, 99);
	qsort(lg.clat, lg.nclat, sizeof(*lg.clat), cmp_double);
	c50 = percentile(lg.clat, lg.nclat, 50);
	c99 = percentile(lg.clat, lg.nclat, 99);
	if (!lg.quiet) {
		if (lg.idle) {
			printf("idle sessions: %lu of %u up, %lu connection failures\n",
			    lg.idle_ready, lg.idle, lg.conns_failed);
			if (lg.npids)
				printf("server memory: baseline rss %lu kB pss %lu kB (%u processes); "
				    "idle rss %lu kB pss %lu kB (%u processes), later rss %lu kB\n",
				    s0->rss_kb, s0->pss_kb, s0->nproc, lg.idle_s1.rss_kb,
				    lg.idle_s1.pss_kb, lg.idle_s1.nproc, lg.idle_s2.rss_kb);
		} else {
			printf("messages: %lu ok, %lu failed, in %.2f s: %.1f msg/s\n",
			    lg.msgs_ok, lg.msgs_failed, el, (double)lg.msgs_ok / el);
			printf("connections: %lu opened, %lu ok, %lu failed; handshakes %lu (%lu resumed): %.1f/s\n",
			    lg.conns_opened, lg.conns_ok, lg.conns_failed, lg.handshakes, lg.resumed,
			    (double)lg.handshakes / el);
			printf("latency DATA end -> 250: p50 %.2f ms, p99 %.2f ms\n", p50, p99);
			printf("latency connect -> 250 of the connection's first message: p50 %.2f ms, "
			    "p99 %.2f ms\n", c50, c99);
			if (lg.rate > 0)
				printf("rate: %.1f sessions/s asked, %lu not started for want of a free slot\n",
				    lg.rate, lg.rate_missed);
			if (lg.watch_dir)
				printf("relay: %lu acked, %lu arrived in %s; 250 -> arrival p50 %.2f ms, "
				    "p99 %.2f ms, max %.2f ms\n", lg.acked, lg.arrived, lg.watch_dir,
				    r50, r99, rmax);
		}
		printf("cpu: loadgen %.2f s", cpu_self);
		if (lg.npids)
			printf(", server %.2f s (%u processes at the end)", srv, s1->nproc);
		printf("\n");
		for (unsigned i = 0; i < lg.nfails; i++)
			printf("FAIL %s x%lu\n", lg.fails[i].key, lg.fails[i].n);
		if (lg.fails_other)
			printf("FAIL other x%lu\n", lg.fails_other);
	}
	printf("RESULT mode=%s tls=%s conc=%u per_conn=%u size=%zu elapsed=%.3f "
	    "msgs_ok=%lu msgs_failed=%lu conns=%lu conns_failed=%lu handshakes=%lu resumed=%lu "
	    "msgs_per_s=%.1f hs_per_s=%.1f p50_ms=%.3f p99_ms=%.3f conn_p50_ms=%.3f "
	    "conn_p99_ms=%.3f cpu_self=%.2f",
	    lg.idle ? "idle" : "send", !lg.tls ? "none" : lg.tls12 ? "1.2" : "1.3",
	    lg.concurrency, lg.per_conn, lg.size, el, lg.msgs_ok, lg.msgs_failed,
	    lg.conns_opened, lg.conns_failed, lg.handshakes, lg.resumed,
	    (double)lg.msgs_ok / el, (double)lg.handshakes / el, p50, p99, c50, c99, cpu_self);
	if (lg.npids)
		printf(" cpu_server=%.2f server_procs=%u", srv, s1->nproc);
	if (lg.idle && lg.npids) {
		long drss = (long)lg.idle_s1.rss_kb - (long)s0->rss_kb;
		long dpss = (long)lg.idle_s1.pss_kb - (long)s0->pss_kb;

		printf(" idle_ready=%lu rss_base_kb=%lu rss_idle_kb=%lu pss_base_kb=%lu pss_idle_kb=%lu"
		    " rss_per_session_kb=%.1f pss_per_session_kb=%.1f",
		    lg.idle_ready, s0->rss_kb, lg.idle_s1.rss_kb, s0->pss_kb, lg.idle_s1.pss_kb,
		    lg.idle_ready ? (double)drss / (double)lg.idle_ready : 0.0,
		    lg.idle_ready ? (double)dpss / (double)lg.idle_ready : 0.0);
	}
	if (lg.rate > 0)
		printf(" rate=%.1f rate_missed=%lu", lg.rate, lg.rate_missed);
	if (lg.watch_dir)
		printf(" acked=%lu arrived=%lu arrived_early=%lu foreign=%lu relay_p50_ms=%.3f "
		    "relay_p99_ms=%.3f relay_max_ms=%.3f", lg.acked, lg.arrived, early,
		    lg.watch_foreign, r50, r99, rmax);
	printf(" failures=");
	if (lg.nfails == 0 && lg.fails_other == 0)
		printf("none");
	for (unsigned i = 0; i < lg.nfails; i++)
		printf("%s%s=%lu", i ? "," : "", lg.fails[i].key, lg.fails[i].n);
	if (lg.fails_other)
		printf("%sother=%lu", lg.nfails ? "," : "", lg.fails_other);
	printf("\n");
}

int
main(int argc, char **argv)
{
	struct lg_sample s1;
	ev_timer opener;
	double cpu0;
	int rc;

	parse_args(argc, argv);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die("signal: %s", strerror(errno));
	if (lg.tls)
		tls_setup();
	make_body();
	lg.nslots = lg.idle ? lg.idle : lg.concurrency;
	if ((lg.conns = calloc(lg.nslots, sizeof(*lg.conns))) == NULL ||
	    (lg.resume_data = calloc(lg.nslots, sizeof(*lg.resume_data))) == NULL)
		die("out of memory");
	if ((lg.loop = ev_default_loop(EVFLAG_AUTO)) == NULL)
		die("no libev loop");

	sample_server(&lg.base, lg.idle != 0);
	cpu0 = self_cpu();
	lg.t_start = now_s();
	if (lg.duration > 0)
		lg.deadline = lg.t_start + lg.duration;
	ev_timer_init(&lg.tick, on_tick, 1.0, 1.0);
	ev_timer_start(lg.loop, &lg.tick);
	ev_timer_init(&lg.hold_timer, on_hold, 0, 0);
	ev_timer_init(&lg.rate_timer, on_rate, 0, lg.rate > 0 ? 1.0 / lg.rate : 0);
	if (lg.watch_dir)
		watch_start();
	if (lg.rate > 0) {
		ev_timer_start(lg.loop, &lg.rate_timer);
	} else if (lg.idle) {
		ev_timer_init(&opener, on_idle_open, 0, 0.01);
		ev_timer_start(lg.loop, &opener);
	} else {
		refill();
	}
	if (lg.active > 0 || lg.idle || lg.rate > 0)
		ev_run(lg.loop, 0);
	if (!lg.idle || lg.t_end == 0)
		lg.t_end = now_s();
	if (lg.watch_dir && lg.arrived < lg.acked) {
		ev_timer wt;

		/* the last messages may still be on their way to the next hop */
		ev_timer_init(&wt, on_watch_timeout, lg.watch_wait, 0);
		ev_timer_start(lg.loop, &wt);
		ev_timer_stop(lg.loop, &lg.tick);
		lg.watch_waiting = true;
		ev_run(lg.loop, 0);
		ev_timer_stop(lg.loop, &wt);
	}
	sample_server(&s1, false);
	report(&lg.base, &s1, self_cpu() - cpu0);

	rc = lg.msgs_failed || lg.conns_failed || lg.nfails ? 1 : 0;
	if (lg.idle && lg.idle_ready < lg.idle)
		rc = 1;
	for (unsigned i = 0; i < lg.nslots; i++)
		gnutls_free(lg.resume_data[i].data);
	free(lg.resume_data);
	free(lg.conns);
	free(lg.lat);
	free(lg.clat);
	free(lg.body);
	free(lg.t_ack);
	free(lg.t_arr);
	if (lg.watch_dir) {
		ev_io_stop(lg.loop, &lg.ino_io);
		close(lg.ino_fd);
		if (lg.arrived < lg.acked)
			rc = 1;
	}
	if (lg.tls) {
		gnutls_priority_deinit(lg.prio);
		gnutls_certificate_free_credentials(lg.cred);
		gnutls_global_deinit();
	}
	ev_loop_destroy(lg.loop);
	return rc;
}
