/* check_plog.c: unit tests of logs/: the writer's CSV quoting and JSON
 * escaping of hostile SMTP bytes, level filtering, rotation by size and by
 * day (injected clock), pruning, AUTH masking, write failures; the reader's
 * parser at every split point and on malformed input. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "logs/plog.h"
#include "tls/tls_facts.h"
#include "tests/unit/unit.h"

/* ---- fixtures ---- */

static time_t	clk_sec;
static long	clk_ms, clk_step;

/* the injected clock: clk_step ms later on every call */
static void
test_clock(struct timespec *ts)
{
	ts->tv_sec = clk_sec + clk_ms / 1000;
	ts->tv_nsec = clk_ms % 1000 * 1000000L;
	clk_ms += clk_step;
}

static void
clock_at(time_t sec, long step)
{
	clk_sec = sec;
	clk_ms = 0;
	clk_step = step;
	plog_set_clock(test_clock);
}

#define T_20261124	1795478400	/* 2026-11-24T00:00:00Z */

/* a config whose state_dir is a fresh temporary directory */
static void
mkcfg(struct dsmtp_config *cfg, enum log_level level, enum log_format format)
{
	char tmpl[] = "/tmp/check_plog.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	config_defaults(cfg);
	free(cfg->state_dir);
	cfg->state_dir = strdup(tmpl);
	cfg->logs.level = level;
	cfg->logs.format = format;
	clock_at(T_20261124 + 11 * 3600, 1);
}

static void
rmcfg(struct dsmtp_config *cfg)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cfg->state_dir);
	ck_assert_int_eq(system(cmd), 0);
	config_free(cfg);
	plog_set_clock(NULL);
}

static void
dirpath(const struct dsmtp_config *cfg, const char *sub, char *out, size_t len)
{
	snprintf(out, len, "%s/logs/%s", cfg->state_dir, sub);
}

static char *
slurp(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (lenp)
		*lenp = (size_t)n;
	return buf;
}

static void
session(struct plog_session *s, uint64_t id)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	snprintf(s->connector, sizeof(s->connector), "dsmtpd 127.0.0.1:2525");
	snprintf(s->local, sizeof(s->local), "127.0.0.1:2525");
	snprintf(s->remote, sizeof(s->remote), "[::1]:4567");
}

/* records read back, as "event|data|context" lines */
struct got {
	char		 text[65536];
	unsigned	 n, errors;
	char		 seqs[4096];
};

static int
collect(const struct plog_record *r, void *arg)
{
	struct got *g = arg;
	size_t len = strlen(g->text);

	snprintf(g->text + len, sizeof(g->text) - len, "%s|%s|%s\n", r->f[PLOG_F_EVENT],
	    r->f[PLOG_F_DATA], r->f[PLOG_F_CONTEXT]);
	len = strlen(g->seqs);
	snprintf(g->seqs + len, sizeof(g->seqs) - len, "%s,", r->f[PLOG_F_SEQ]);
	g->n++;
	return 0;
}

static void
count_error(const char *file, unsigned long line, const char *why, void *arg)
{
	struct got *g = arg;

	g->errors++;
}

static void
read_back(const char *path, struct got *g)
{
	struct plog_reader *r = plog_reader_new(collect, count_error, g);
	struct dsmtp_err err;

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(plog_read_file(r, path, &err), 0);
	plog_reader_free(r);
}

static unsigned
count_lines(const char *buf)
{
	unsigned n = 0;

	for (; *buf; buf++)
		n += *buf == '\n';
	return n;
}

/* the hostile line every format test writes */
static const char hostile[] = "EHLO a,b \"q\" c\r\nd\0e\xff\xc3(\tf\\g \xc3\xa9";
#define HOSTILE_ESCAPED "EHLO a,b \"q\" c\\r\\nd\\x00e\\xff\\xc3(\\tf\\\\g \xc3\xa9"

/* ---- writer: formats ---- */

START_TEST(test_csv_quoting)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct plog_session s;
	struct plog *pl;
	struct got g;
	char *buf;

	mkcfg(&cfg, LOG_LEVEL_VERBOSE, LOG_FORMAT_CSV);
	pl = plog_open(&cfg, PLOG_RECEIVE, &err);
	ck_assert_msg(pl != NULL, "%s", err.msg);
	session(&s, 0x0123456789abcdefULL);
	plog_connect(pl, &s);
	plog_received(pl, &s, hostile, sizeof(hostile) - 1);
	plog_info(pl, &s, "Note, \"quoted\"", "x=%d", 5);
	plog_disconnect(pl, &s, "bye");
	plog_flush(pl);
	buf = slurp(plog_current_file(pl), NULL);
	ck_assert_ptr_nonnull(strstr(buf, "#Software: dsmtp "));
	ck_assert_ptr_nonnull(strstr(buf, "\n#Log-type: SMTP Receive Protocol Log\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\n#Fields: date-time,connector-id,session-id,"
	    "sequence-number,local-endpoint,remote-endpoint,event,data,context\n"));
	/* RFC 4180: quoted, quotes doubled; CR/LF/NUL/bad bytes escaped */
	ck_assert_ptr_nonnull(strstr(buf, ",0123456789abcdef,1,127.0.0.1:2525,[::1]:4567,<,"
	    "\"EHLO a,b \"\"q\"\" c\\r\\nd\\x00e\\xff\\xc3(\\tf\\\\g \xc3\xa9\",\n"));
	ck_assert_ptr_nonnull(strstr(buf, ",*,x=5,\"Note, \"\"quoted\"\"\"\n"));
	ck_assert_ptr_nonnull(strstr(buf, "2026-11-24T11:00:00."));
	/* 4 header lines and 4 records, one per physical line */
	ck_assert_uint_eq(count_lines(buf), 8);
	memset(&g, 0, sizeof(g));
	read_back(plog_current_file(pl), &g);
	ck_assert_uint_eq(g.errors, 0);
	ck_assert_str_eq(g.text, "+||\n<|" HOSTILE_ESCAPED "|\n*|x=5|Note, \"quoted\"\n-|bye|\n");
	ck_assert_str_eq(g.seqs, "0,1,2,3,");
	free(buf);
	plog_close(pl);
	rmcfg(&cfg);
}
END_TEST

START_TEST(test_json_escaping)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct plog_session s;
	struct plog *pl;
	struct got g;
	char *buf;

	mkcfg(&cfg, LOG_LEVEL_VERBOSE, LOG_FORMAT_JSON);
	pl = plog_open(&cfg, PLOG_SEND, &err);
	ck_assert_msg(pl != NULL, "%s", err.msg);
	ck_assert_ptr_nonnull(strstr(plog_current_file(pl), "/logs/send/SEND20261124-1.LOG"));
	session(&s, 42);
	plog_connect(pl, &s);
	plog_received(pl, &s, hostile, sizeof(hostile) - 1);
	plog_close(pl);
	{
		char p[PATH_MAX];

		dirpath(&cfg, "send/SEND20261124-1.LOG", p, sizeof(p));
		buf = slurp(p, NULL);
		memset(&g, 0, sizeof(g));
		read_back(p, &g);
	}
	ck_assert(strncmp(buf, "{\"#Software\":\"dsmtp ", 20) == 0);
	ck_assert_ptr_nonnull(strstr(buf, "\"#Log-type\":\"SMTP Send Protocol Log\""));
	ck_assert_ptr_nonnull(strstr(buf, "{\"date-time\":\"2026-11-24T11:00:00."));
	ck_assert_ptr_nonnull(strstr(buf, "\"session-id\":\"000000000000002a\",\"sequence-number\":1,"));
	/* the visible escape, then JSON's: a backslash doubles, a quote gets one */
	ck_assert_ptr_nonnull(strstr(buf, "\"data\":\"EHLO a,b \\\"q\\\" c\\\\r\\\\nd\\\\x00e\\\\xff"
	    "\\\\xc3(\\\\tf\\\\\\\\g \xc3\xa9\",\"context\":\"\"}\n"));
	ck_assert_uint_eq(count_lines(buf), 3);
	ck_assert_uint_eq(g.errors, 0);
	ck_assert_str_eq(g.text, "+||\n<|" HOSTILE_ESCAPED "|\n");
	free(buf);
	rmcfg(&cfg);
}
END_TEST

/* every kind of record, written at one level; returns what was read back */
static void
write_everything(enum log_level level, struct got *g, struct dsmtp_config *cfg)
{
	static char san0[] = "mx.contoso.com";
	char *san[] = { san0 };
	struct tls_session_facts f;
	struct tls_cert_facts lc;
	struct dsmtp_err err;
	struct plog_session s;
	struct plog *pl;
	char p[PATH_MAX];

	mkcfg(cfg, level, LOG_FORMAT_CSV);
	pl = plog_open(cfg, PLOG_RECEIVE, &err);
	ck_assert_msg(pl != NULL, "%s", err.msg);
	session(&s, 7);
	memset(&lc, 0, sizeof(lc));
	snprintf(lc.subject, sizeof(lc.subject), "CN=us");
	memset(&f, 0, sizeof(f));
	snprintf(f.version, sizeof(f.version), "TLSv1.3");
	snprintf(f.cipher, sizeof(f.cipher), "TLS_AES_128_GCM_SHA256");
	snprintf(f.kx, sizeof(f.kx), "X25519");
	f.peer.present = true;
	f.peer.chain_len = 1;
	snprintf(f.peer.leaf.subject, sizeof(f.peer.leaf.subject), "CN=mx.contoso.com");
	f.peer.leaf.san = san;
	f.peer.leaf.nsan = 1;
	snprintf(f.peer.leaf.sha256, sizeof(f.peer.leaf.sha256), "ab");

	plog_connect(pl, &s);
	plog_sent(pl, &s, "220 hi", 6);
	plog_received(pl, &s, "EHLO c.example", 14);
	plog_sent(pl, &s, "250-hi", 6);
	plog_sent(pl, &s, "250 STARTTLS", 12);
	plog_received(pl, &s, "STARTTLS", 8);
	plog_sent(pl, &s, "220 go", 6);
	plog_local_cert(pl, &s, &lc, "only one");
	plog_tls(pl, &s, &f);
	plog_verification(pl, &s, "ok", "mx.contoso.com", NULL);
	plog_received(pl, &s, "NOOP", 4);
	plog_sent(pl, &s, "250 ok", 6);
	plog_received(pl, &s, "MAIL FROM:<a@contoso.com>", 25);
	plog_policy(pl, &s, "domain-secure", "contoso.com", true, "names match");
	plog_received(pl, &s, "RCPT TO:<b@example.org>", 23);
	plog_received(pl, &s, "DATA", 4);
	plog_sent(pl, &s, "250 sender ok", 13);
	plog_sent(pl, &s, "250 rcpt ok", 11);
	plog_sent(pl, &s, "354 go", 6);
	plog_sent(pl, &s, "250 queued", 10);
	plog_info(pl, &s, "Note", "free text");
	plog_tls_error(pl, &s, "none really");
	plog_received(pl, &s, "QUIT", 4);
	plog_sent(pl, &s, "221 bye", 7);
	plog_disconnect(pl, &s, "quit");
	/* a second session without a certificate */
	session(&s, 8);
	f.peer.present = false;
	plog_connect(pl, &s);
	plog_tls(pl, &s, &f);
	plog_disconnect(pl, &s, "quit");
	plog_close(pl);
	memset(g, 0, sizeof(*g));
	dirpath(cfg, "receive/RECV20261124-1.LOG", p, sizeof(p));
	if (level != LOG_LEVEL_NONE)
		read_back(p, g);
}

START_TEST(test_level_basic)
{
	struct dsmtp_config cfg;
	struct got g;

	write_everything(LOG_LEVEL_BASIC, &g, &cfg);
	ck_assert_uint_eq(g.errors, 0);
	/* connect, disconnect, the envelope (and the client's name) with
	 * their replies, TLS negotiated, Remote certificate, Policy */
	ck_assert_str_eq(g.text,
	    "+||\n"
	    "<|EHLO c.example|\n"
	    ">|250-hi|\n"
	    ">|250 STARTTLS|\n"
	    "*|version=TLSv1.3; cipher=TLS_AES_128_GCM_SHA256; kx=X25519; resumed=no|TLS negotiated\n"
	    "*|subject=CN=mx.contoso.com; issuer=; serial=; not_before=1970-01-01T00:00:00Z; "
	    "not_after=1970-01-01T00:00:00Z; san=mx.contoso.com; sha1=; sha256=ab; spki=; "
	    "chain_len=1|Remote certificate\n"
	    "<|MAIL FROM:<a@contoso.com>|\n"
	    "*|level=domain-secure; domain=contoso.com; result=pass; reason=names match|Policy\n"
	    "<|RCPT TO:<b@example.org>|\n"
	    "<|DATA|\n"
	    ">|250 sender ok|\n"
	    ">|250 rcpt ok|\n"
	    ">|354 go|\n"
	    ">|250 queued|\n"
	    "-|quit|\n"
	    "+||\n"
	    "*|version=TLSv1.3; cipher=TLS_AES_128_GCM_SHA256; kx=X25519; resumed=no|TLS negotiated\n"
	    "-|quit|\n");
	rmcfg(&cfg);
}
END_TEST

START_TEST(test_level_verbose)
{
	struct dsmtp_config cfg;
	struct got g;

	write_everything(LOG_LEVEL_VERBOSE, &g, &cfg);
	ck_assert_uint_eq(g.errors, 0);
	ck_assert_uint_eq(g.n, 30);
	ck_assert_ptr_nonnull(strstr(g.text, "*|subject=CN=us; sha1=; sha256=; san=; why=only one|"
	    "Local certificate\n"));
	ck_assert_ptr_nonnull(strstr(g.text, "*|chain=ok; names=mx.contoso.com; pin=none|"
	    "TLS verification\n"));
	ck_assert_ptr_nonnull(strstr(g.text, "*|reason=none really|TLS error\n"));
	ck_assert_ptr_nonnull(strstr(g.text, "*||Remote certificate absent\n"));
	ck_assert_ptr_nonnull(strstr(g.text, "<|STARTTLS|\n>|220 go|\n"));
	rmcfg(&cfg);
}
END_TEST

START_TEST(test_level_none)
{
	struct dsmtp_config cfg;
	struct got g;
	char p[PATH_MAX];
	struct stat st;

	write_everything(LOG_LEVEL_NONE, &g, &cfg);
	snprintf(p, sizeof(p), "%s/logs", cfg.state_dir);
	ck_assert_int_ne(stat(p, &st), 0);
	/* NULL is as good as none */
	plog_connect(NULL, NULL);
	plog_info(NULL, NULL, "x", "y");
	plog_close(NULL);
	rmcfg(&cfg);
}
END_TEST

/* ---- writer: masking and forging ---- */

START_TEST(test_auth_masking)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct plog_session s;
	struct plog *rp, *sp;
	char p[PATH_MAX], *buf;
	struct got g;

	mkcfg(&cfg, LOG_LEVEL_VERBOSE, LOG_FORMAT_CSV);
	rp = plog_open(&cfg, PLOG_RECEIVE, &err);
	sp = plog_open(&cfg, PLOG_SEND, &err);
	ck_assert_ptr_nonnull(rp);
	ck_assert_ptr_nonnull(sp);
	session(&s, 1);
	plog_connect(rp, &s);
	plog_received(rp, &s, "AUTH PLAIN AHVzZXIAU2VjcmV0MQ==", 31);
	plog_sent(rp, &s, "235 ok", 6);
	plog_received(rp, &s, "auth login", 10);
	plog_sent(rp, &s, "334 VXNlcm5hbWU6", 16);
	plog_received(rp, &s, "U2VjcmV0Mg==", 12);
	plog_sent(rp, &s, "334 UGFzc3dvcmQ6", 16);
	plog_received(rp, &s, "U2VjcmV0Mw==", 12);
	plog_sent(rp, &s, "535 5.7.8 no", 12);
	plog_received(rp, &s, "MAIL FROM:<a@b>", 15);
	plog_received(rp, &s, "AUTH  LOGIN   U2VjcmV0NA==", 26);
	plog_sent(rp, &s, "235 ok", 6);
	plog_disconnect(rp, &s, "x");
	/* our own client's AUTH, in the send log */
	session(&s, 2);
	plog_connect(sp, &s);
	plog_sent(sp, &s, "AUTH PLAIN U2VjcmV0NQ==", 23);
	plog_received(sp, &s, "334 ", 4);
	plog_sent(sp, &s, "U2VjcmV0Ng==", 12);
	plog_received(sp, &s, "235 ok", 6);
	plog_sent(sp, &s, "QUIT", 4);
	plog_close(rp);
	plog_close(sp);

	dirpath(&cfg, "receive/RECV20261124-1.LOG", p, sizeof(p));
	buf = slurp(p, NULL);
	ck_assert_ptr_null(strstr(buf, "U2VjcmV0"));
	ck_assert_ptr_null(strstr(buf, "AHVzZXIA"));
	free(buf);
	memset(&g, 0, sizeof(g));
	read_back(p, &g);
	ck_assert_str_eq(g.text, "+||\n<|AUTH PLAIN ****|\n>|235 ok|\n<|auth login|\n"
	    ">|334 VXNlcm5hbWU6|\n<|****|\n>|334 UGFzc3dvcmQ6|\n<|****|\n>|535 5.7.8 no|\n"
	    "<|MAIL FROM:<a@b>|\n<|AUTH  LOGIN ****|\n>|235 ok|\n-|x|\n");
	dirpath(&cfg, "send/SEND20261124-1.LOG", p, sizeof(p));
	buf = slurp(p, NULL);
	ck_assert_ptr_null(strstr(buf, "U2VjcmV0"));
	free(buf);
	memset(&g, 0, sizeof(g));
	read_back(p, &g);
	ck_assert_str_eq(g.text, "+||\n>|AUTH PLAIN ****|\n<|334 |\n>|****|\n<|235 ok|\n>|QUIT|\n");
	rmcfg(&cfg);
}
END_TEST

START_TEST(test_kv_forgery)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct plog_session s;
	struct plog *pl;
	struct got g;
	char p[PATH_MAX], v[64];
	const char *data;

	mkcfg(&cfg, LOG_LEVEL_VERBOSE, LOG_FORMAT_CSV);
	pl = plog_open(&cfg, PLOG_RECEIVE, &err);
	ck_assert_ptr_nonnull(pl);
	session(&s, 3);
	plog_policy(pl, &s, "verify", "evil.example; result=pass", false, "x; result=pass");
	plog_close(pl);
	dirpath(&cfg, "receive/RECV20261124-1.LOG", p, sizeof(p));
	memset(&g, 0, sizeof(g));
	read_back(p, &g);
	ck_assert_str_eq(g.text, "*|level=verify; domain=evil.example\\x3b result=pass; result=fail; "
	    "reason=x\\x3b result=pass|Policy\n");
	data = strchr(g.text, '|') + 1;
	ck_assert(plog_kv_get(data, "result", v, sizeof(v)));
	ck_assert_str_eq(v, "fail");
	ck_assert(plog_kv_get(data, "domain", v, sizeof(v)));
	ck_assert_str_eq(v, "evil.example\\x3b result=pass");
	ck_assert(!plog_kv_get(data, "nope", v, sizeof(v)));
	ck_assert(plog_kv_get("a=1; bb=2", "bb", v, 2));
	ck_assert_str_eq(v, "2");
	rmcfg(&cfg);
}
END_TEST

START_TEST(test_session_id)
{
	uint64_t a = plog_new_session_id(), b = plog_new_session_id();

	ck_assert(a != 0);
	ck_assert(b != 0);
	ck_assert(a != b);
}
END_TEST

/* ---- writer: files ---- */

/* names of files in dir, sorted, space-separated */
static void
list_dir(const char *dir, char *out, size_t len)
{
	struct dirent **nl;
	int n, i;

	out[0] = '\0';
	n = scandir(dir, &nl, NULL, alphasort);
	ck_assert_int_ge(n, 0);
	for (i = 0; i < n; i++) {
		if (nl[i]->d_name[0] != '.') {
			strncat(out, nl[i]->d_name, len - strlen(out) - 2);
			strncat(out, " ", len - strlen(out) - 1);
		}
		free(nl[i]);
	}
	free(nl);
}

START_TEST(test_rotation_size)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct plog_session s;
	struct plog *pl;
	struct got g;
	char d[PATH_MAX], names[4096], p[PATH_MAX + 64], want[64], *buf;
	size_t len, total = 0;
	unsigned i, nfiles = 0;

	mkcfg(&cfg, LOG_LEVEL_VERBOSE, LOG_FORMAT_CSV);
	cfg.logs.max_file_size = 1000;
	pl = plog_open(&cfg, PLOG_RECEIVE, &err);
	ck_assert_ptr_nonnull(pl);
	session(&s, 9);
	plog_connect(pl, &s);
	for (i = 0; i < 40; i++)
		plog_received(pl, &s, "NOOP with some padding text", 27);
	plog_close(pl);
	dirpath(&cfg, "receive", d, sizeof(d));
	list_dir(d, names, sizeof(names));
	ck_assert_msg(strncmp(names, "RECV20261124-1.LOG RECV20261124-2.LOG ", 38) == 0, "%s", names);
	memset(&g, 0, sizeof(g));
	for (i = 1; ; i++) {
		snprintf(p, sizeof(p), "%s/RECV20261124-%u.LOG", d, i);
		if (access(p, F_OK) != 0)
			break;
		nfiles++;
		buf = slurp(p, &len);
		ck_assert_msg(len <= 1000, "%s is %zu bytes", p, len);
		ck_assert(strncmp(buf, "#Software: ", 11) == 0);
		total += len;
		free(buf);
		read_back(p, &g);
	}
	ck_assert_uint_ge(nfiles, 5);
	ck_assert_uint_eq(g.n, 41);
	ck_assert_uint_eq(g.errors, 0);
	/* the sequence runs on across files */
	snprintf(want, sizeof(want), "0,1,2,3,");
	ck_assert(strncmp(g.seqs, want, strlen(want)) == 0);
	ck_assert_ptr_nonnull(strstr(g.seqs, ",39,40,"));

	/* a restart appends to the last file that has room, or starts N+1 */
	pl = plog_open(&cfg, PLOG_RECEIVE, &err);
	ck_assert_ptr_nonnull(pl);
	snprintf(p, sizeof(p), "%s/RECV20261124-%u.LOG", d, nfiles);
	buf = slurp(p, &len);
	free(buf);
	if (len < 1000)
		ck_assert_str_eq(plog_current_file(pl), p);
	plog_close(pl);
	rmcfg(&cfg);
}
END_TEST

START_TEST(test_rotation_day)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct plog_session s;
	struct plog *pl;
	struct got g1, g2;
	char d[PATH_MAX], names[4096], p[PATH_MAX + 64];
	unsigned i;

	mkcfg(&cfg, LOG_LEVEL_VERBOSE, LOG_FORMAT_CSV);
	clock_at(T_20261124 + 86400 - 1, 100);	/* 23:59:59.000, 100 ms a call */
	pl = plog_open(&cfg, PLOG_RECEIVE, &err);
	ck_assert_ptr_nonnull(pl);
	session(&s, 10);
	plog_connect(pl, &s);
	for (i = 0; i < 20; i++)
		plog_received(pl, &s, "NOOP", 4);
	plog_disconnect(pl, &s, "end");
	plog_close(pl);
	dirpath(&cfg, "receive", d, sizeof(d));
	list_dir(d, names, sizeof(names));
	ck_assert_str_eq(names, "RECV20261124-1.LOG RECV20261125-1.LOG ");
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	snprintf(p, sizeof(p), "%s/RECV20261124-1.LOG", d);
	read_back(p, &g1);
	snprintf(p, sizeof(p), "%s/RECV20261125-1.LOG", d);
	read_back(p, &g2);
	ck_assert_uint_eq(g1.n + g2.n, 22);
	ck_assert_uint_ge(g1.n, 5);
	ck_assert_uint_ge(g2.n, 5);
	rmcfg(&cfg);
}
END_TEST

static void
touch(const char *dir, const char *name)
{
	char p[PATH_MAX + 64];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(p, "w"));
	fputs("#Software: old\n", f);
	fclose(f);
}

START_TEST(test_prune)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct plog_session s;
	struct plog *pl;
	char d[PATH_MAX], names[4096];
	unsigned i;

	mkcfg(&cfg, LOG_LEVEL_VERBOSE, LOG_FORMAT_CSV);
	cfg.logs.max_age_days = 3;
	dirpath(&cfg, "receive", d, sizeof(d));
	ck_assert_int_eq(config_state_path(&cfg, "logs/receive", d, sizeof(d), &err), 0);
	touch(d, "RECV20261001-1.LOG");
	touch(d, "RECV20261120-7.LOG");
	touch(d, "RECV20261121-1.LOG");
	touch(d, "SEND20261001-1.LOG");
	touch(d, "notes.txt");
	clock_at(T_20261124 + 86400 - 1, 100);
	pl = plog_open(&cfg, PLOG_RECEIVE, &err);
	ck_assert_ptr_nonnull(pl);
	list_dir(d, names, sizeof(names));
	/* opened on 11-24: 11-21 is 3 days old and stays */
	ck_assert_str_eq(names, "RECV20261121-1.LOG RECV20261124-1.LOG SEND20261001-1.LOG notes.txt ");
	session(&s, 11);
	plog_connect(pl, &s);
	for (i = 0; i < 20; i++)
		plog_received(pl, &s, "NOOP", 4);
	/* crossing into 11-25 pruned it */
	list_dir(d, names, sizeof(names));
	ck_assert_str_eq(names, "RECV20261124-1.LOG RECV20261125-1.LOG SEND20261001-1.LOG notes.txt ");
	/* idle until 11-29: the 1-second flush prunes, and creates nothing */
	clk_ms += 4 * 86400 * 1000L;
	plog_flush(pl);
	list_dir(d, names, sizeof(names));
	ck_assert_str_eq(names, "SEND20261001-1.LOG notes.txt ");
	plog_received(pl, &s, "NOOP", 4);
	plog_flush(pl);
	list_dir(d, names, sizeof(names));
	ck_assert_str_eq(names, "RECV20261129-1.LOG SEND20261001-1.LOG notes.txt ");
	plog_close(pl);
	rmcfg(&cfg);
}
END_TEST

START_TEST(test_write_failure)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct plog_session s;
	struct plog *pl;
	struct rlimit old, low;
	struct got g;
	char ep[PATH_MAX + 16], *buf, *p;
	int fd, saved, lowered, restored;
	void (*oldxfsz)(int);
	uint64_t lost;
	unsigned i;
	size_t len;

	mkcfg(&cfg, LOG_LEVEL_VERBOSE, LOG_FORMAT_CSV);
	pl = plog_open(&cfg, PLOG_RECEIVE, &err);
	ck_assert_ptr_nonnull(pl);
	session(&s, 12);
	plog_connect(pl, &s);
	plog_flush(pl);
	/* the disk is "full" 50 bytes further on: EFBIG, not a signal */
	oldxfsz = signal(SIGXFSZ, SIG_IGN);
	ck_assert(oldxfsz != SIG_ERR);
	buf = slurp(plog_current_file(pl), &len);
	free(buf);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)len + 50;
	snprintf(ep, sizeof(ep), "%s/stderr", cfg.state_dir);
	fd = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	saved = dup(2);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	/* no ck_assert while the limit is low: Check's own message file is
	 * subject to it too (an in-tree build's longer messages hit EFBIG,
	 * "check_pack.c: Bad message type arg"); results are asserted once
	 * the limit is back */
	lowered = setrlimit(RLIMIT_FSIZE, &low);
	for (i = 0; i < 5; i++) {
		plog_received(pl, &s, "NOOP lost while the disk is full", 32);
		plog_flush(pl);
	}
	lost = plog_lost(pl);
	restored = setrlimit(RLIMIT_FSIZE, &old);
	ck_assert_int_eq(lowered, 0);
	ck_assert_int_eq(restored, 0);
	ck_assert_uint_eq(lost, 5);
	plog_received(pl, &s, "NOOP after", 10);
	plog_flush(pl);
	ck_assert_uint_eq(plog_lost(pl), 5);
	fflush(stderr);
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
	close(fd);
	buf = slurp(ep, NULL);
	/* reported once, and once more when it works again */
	p = strstr(buf, "cannot write");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(strstr(p + 1, "cannot write"));
	ck_assert_ptr_nonnull(strstr(buf, "writing again; 5 records were lost"));
	free(buf);
	memset(&g, 0, sizeof(g));
	read_back(plog_current_file(pl), &g);
	/* no torn record was left behind */
	ck_assert_uint_eq(g.errors, 0);
	ck_assert_str_eq(g.text, "+||\n<|NOOP after|\n");
	plog_close(pl);
	rmcfg(&cfg);
	ck_assert(signal(SIGXFSZ, oldxfsz) != SIG_ERR);
}
END_TEST

START_TEST(test_several_processes)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct plog_session s;
	struct plog *pl;
	struct got g;
	struct dirent **nl;
	char d[PATH_MAX], p[PATH_MAX + 300], *buf;
	unsigned k, i, nfiles = 0, total = 0;
	pid_t pid[4];
	int st, n;

	mkcfg(&cfg, LOG_LEVEL_VERBOSE, LOG_FORMAT_CSV);
	cfg.logs.max_file_size = 8000;
	plog_set_clock(NULL);
	/* receive.workers: several processes write one log at once */
	for (k = 0; k < 4; k++) {
		ck_assert_int_ge(pid[k] = fork(), 0);
		if (pid[k] > 0)
			continue;
		if ((pl = plog_open(&cfg, PLOG_RECEIVE, &err)) == NULL)
			_exit(1);
		session(&s, k + 1);
		for (i = 0; i < 300; i++) {
			plog_received(pl, &s, "NOOP from one of several workers", 32);
			if (i % 7 == 0)
				plog_flush(pl);
		}
		plog_close(pl);
		_exit(0);
	}
	for (k = 0; k < 4; k++) {
		ck_assert_int_eq(waitpid(pid[k], &st, 0), pid[k]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	dirpath(&cfg, "receive", d, sizeof(d));
	n = scandir(d, &nl, NULL, alphasort);
	ck_assert_int_gt(n, 2);
	memset(&g, 0, sizeof(g));
	for (k = 0; k < (unsigned)n; k++) {
		if (nl[k]->d_name[0] != '.') {
			snprintf(p, sizeof(p), "%s/%s", d, nl[k]->d_name);
			ck_assert_msg(strstr(p, ".LOG") != NULL && strstr(p, ".tmp") == NULL, "%s", p);
			buf = slurp(p, NULL);
			/* one header, first */
			ck_assert(strncmp(buf, "#Software: ", 11) == 0);
			ck_assert_ptr_null(strstr(buf + 1, "#Software: "));
			free(buf);
			g.text[0] = g.seqs[0] = '\0';
			read_back(p, &g);
			nfiles++;
		}
		free(nl[k]);
	}
	free(nl);
	total = g.n;
	ck_assert_uint_eq(g.errors, 0);
	ck_assert_uint_eq(total, 4 * 300);
	ck_assert_uint_ge(nfiles, 4);
	rmcfg(&cfg);
}
END_TEST

/* ---- reader ---- */

static const char sample[] =
    "#Software: dsmtp 0.1.0\r\n"
    "#Log-type: SMTP Send Protocol Log\r\n"
    "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,"
    "remote-endpoint,event,data,context\r\n"
    "2026-11-24T11:44:46.123Z,c,00000000000000aa,0,l,r,+,,\n"
    "2026-11-24T11:44:46.124Z,c,00000000000000aa,1,l,r,<,\"220 a, \"\"b\"\"\",\n"
    "\n"
    "2026-11-24T11:44:46.125Z,c,00000000000000aa,2,l,r,*,\"k=v; s=CN=x,O=y\",TLS negotiated\n"
    "{\"date-time\":\"2026-11-24T11:44:46.126Z\",\"session-id\":\"00000000000000aa\","
    "\"sequence-number\":3,\"event\":\">\",\"data\":\"\\u00e9\\\"\\\\ \\ud83d\\ude00\"}\n"
    "#Fields: event,session-id,data,extra\n"
    "-,00000000000000aa,bye,ignored";

static const char sample_want[] =
    "+||\n<|220 a, \"b\"|\n*|k=v; s=CN=x,O=y|TLS negotiated\n"
    ">|\xc3\xa9\"\\ \xf0\x9f\x98\x80|\n-|bye|\n";

static void
feed_split(struct got *g, const char *buf, size_t len, size_t cut, bool bytewise)
{
	struct plog_reader *r = plog_reader_new(collect, count_error, g);
	size_t i;

	ck_assert_ptr_nonnull(r);
	plog_reader_begin(r, "sample", PLOG_RECEIVE);
	if (bytewise)
		for (i = 0; i < len; i++)
			ck_assert_int_eq(plog_reader_feed(r, buf + i, 1), 0);
	else {
		ck_assert_int_eq(plog_reader_feed(r, buf, cut), 0);
		ck_assert_int_eq(plog_reader_feed(r, buf + cut, len - cut), 0);
	}
	ck_assert_int_eq(plog_reader_end(r), 0);
	plog_reader_free(r);
}

START_TEST(test_reader_every_split)
{
	size_t len = sizeof(sample) - 1, cut;
	static struct got g;

	for (cut = 0; cut <= len; cut++) {
		memset(&g, 0, sizeof(g));
		feed_split(&g, sample, len, cut, false);
		ck_assert_msg(strcmp(g.text, sample_want) == 0, "cut %zu: %s", cut, g.text);
		ck_assert_uint_eq(g.errors, 0);
	}
	memset(&g, 0, sizeof(g));
	feed_split(&g, sample, len, 0, true);
	ck_assert_str_eq(g.text, sample_want);
	ck_assert_str_eq(g.seqs, "0,1,2,3,,");
}
END_TEST

/* a record direction comes from #Log-type */
static int
want_send(const struct plog_record *r, void *arg)
{
	ck_assert_int_eq(r->dir, PLOG_SEND);
	(*(int *)arg)++;
	return 0;
}

START_TEST(test_reader_direction)
{
	struct plog_reader *r;
	int n = 0;

	r = plog_reader_new(want_send, NULL, &n);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(plog_reader_feed(r, sample, sizeof(sample) - 1), 0);
	ck_assert_int_eq(plog_reader_end(r), 0);
	ck_assert_int_eq(n, 5);
	plog_reader_free(r);
}
END_TEST

static const struct {
	const char *line;
	unsigned records;	/* good records around it that must survive */
} malformed[] = {
	{ "2026,c,01,0,l,r,<,\"unterminated,\n", 0 },
	{ "2026,c,01,0,l,r,<,data\n", 0 },			/* 8 fields */
	{ "2026,c,01,0,l,r,<,data,ctx,extra\n", 0 },		/* 10 fields */
	{ "2026,c,01,0,l,r,<,da\"ta,ctx\n", 0 },
	{ "2026,c,01,0,l,r,<,\"data\"x,ctx\n", 0 },
	{ "{\"session-id\":\"01\",\"event\":\n", 0 },
	{ "{\"session-id\":\"01\",\"event\":\"<\"} trailing\n", 0 },
	{ "{\"data\":\"no id\"}\n", 0 },
	{ "{\"session-id\":\"01\",\"event\":\"<\",\"data\":\"\\q\"}\n", 0 },
	{ "{\"session-id\":\"01\",\"event\":\"<\",\"data\":{\"nested\":1}}\n", 0 },
	{ "\x01\x02\xff\xfe binary,,,\n", 0 },
	{ "2026,c,01,0,l,r,<,\"\x1b[31mred\x07\",ctx\n", 1 },	/* controls: escaped, kept */
};

START_TEST(test_reader_malformed)
{
	static const char good[] = "2026,c,02,0,l,r,+,,\n";
	struct plog_reader *r;
	struct got g;

	memset(&g, 0, sizeof(g));
	r = plog_reader_new(collect, count_error, &g);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(plog_reader_feed(r, good, strlen(good)), 0);
	ck_assert_int_eq(plog_reader_feed(r, malformed[_i].line, strlen(malformed[_i].line)), 0);
	ck_assert_int_eq(plog_reader_feed(r, good, strlen(good)), 0);
	ck_assert_int_eq(plog_reader_end(r), 0);
	ck_assert_uint_eq(g.n, 2 + malformed[_i].records);
	ck_assert_uint_eq(g.errors, 1 - malformed[_i].records);
	ck_assert_uint_eq(plog_reader_errors(r), 1 - malformed[_i].records);
	if (malformed[_i].records)
		ck_assert_ptr_nonnull(strstr(g.text, "<|\\x1b[31mred\\x07|ctx\n"));
	plog_reader_free(r);
}
END_TEST

START_TEST(test_reader_long_line)
{
	static const char good[] = "2026,c,02,0,l,r,+,,\n";
	struct plog_reader *r;
	struct got g;
	char *big;
	size_t n = 3 * 1024 * 1024;

	big = malloc(n);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', n);
	memset(&g, 0, sizeof(g));
	r = plog_reader_new(collect, count_error, &g);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(plog_reader_feed(r, good, strlen(good)), 0);
	/* in pieces, so it goes through the line buffer */
	for (size_t i = 0; i < n; i += 65536)
		ck_assert_int_eq(plog_reader_feed(r, big + i, n - i < 65536 ? n - i : 65536), 0);
	ck_assert_int_eq(plog_reader_feed(r, "\n", 1), 0);
	ck_assert_int_eq(plog_reader_feed(r, good, strlen(good)), 0);
	ck_assert_int_eq(plog_reader_end(r), 0);
	ck_assert_uint_eq(g.n, 2);
	ck_assert_uint_eq(g.errors, 1);
	plog_reader_free(r);
	free(big);
}
END_TEST

START_TEST(test_files_order)
{
	struct dsmtp_config cfg;
	struct plog_files fl;
	struct dsmtp_err err;
	char d[PATH_MAX], top[PATH_MAX], *paths[1];
	const char *b;

	mkcfg(&cfg, LOG_LEVEL_VERBOSE, LOG_FORMAT_CSV);
	ck_assert_int_eq(config_state_path(&cfg, "logs/receive", d, sizeof(d), &err), 0);
	touch(d, "RECV20261124-10.LOG");
	touch(d, "RECV20261124-2.LOG");
	touch(d, "RECV20261123-1.LOG");
	touch(d, "notes.txt");
	ck_assert_int_eq(config_state_path(&cfg, "logs/send", d, sizeof(d), &err), 0);
	touch(d, "SEND20261124-1.LOG");
	snprintf(top, sizeof(top), "%s/logs", cfg.state_dir);
	paths[0] = top;
	ck_assert_int_eq(plog_files_collect(paths, 1, &fl, &err), 0);
	ck_assert_uint_eq(fl.n, 4);
	b = strrchr(fl.v[0], '/') + 1;
	ck_assert_str_eq(b, "RECV20261123-1.LOG");
	ck_assert_str_eq(strrchr(fl.v[1], '/') + 1, "RECV20261124-2.LOG");
	ck_assert_str_eq(strrchr(fl.v[2], '/') + 1, "RECV20261124-10.LOG");
	ck_assert_str_eq(strrchr(fl.v[3], '/') + 1, "SEND20261124-1.LOG");
	ck_assert_uint_eq(plog_file_day(fl.v[3]), 20261124);
	ck_assert_uint_eq(plog_file_day("x/notes.txt"), 0);
	plog_files_free(&fl);
	rmcfg(&cfg);
}
END_TEST

/* a symbolic link planted at the log's path is refused, not followed:
 * the file it names is neither written nor created */
START_TEST(test_symlink_refused)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err = { "" };
	struct plog *pl;
	char file[PATH_MAX], victim[PATH_MAX + 16], fresh[PATH_MAX + 16];
	struct stat st;
	FILE *f;

	mkcfg(&cfg, LOG_LEVEL_VERBOSE, LOG_FORMAT_CSV);
	pl = plog_open(&cfg, PLOG_RECEIVE, &err);
	ck_assert_msg(pl != NULL, "%s", err.msg);
	snprintf(file, sizeof(file), "%s", plog_current_file(pl));
	plog_close(pl);
	/* the link points at an existing file of someone else's ... */
	snprintf(victim, sizeof(victim), "%s/victim", cfg.state_dir);
	ck_assert_ptr_nonnull(f = fopen(victim, "w"));
	fputs("precious\n", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(symlink(victim, file), 0);
	pl = plog_open(&cfg, PLOG_RECEIVE, &err);
	ck_assert_ptr_null(pl);
	ck_assert_msg(strstr(err.msg, "symbolic link") != NULL, "%s", err.msg);
	ck_assert_int_eq(stat(victim, &st), 0);
	ck_assert_int_eq(st.st_size, 9);
	/* ... or at a name that does not exist yet: not created */
	snprintf(fresh, sizeof(fresh), "%s/fresh", cfg.state_dir);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(symlink(fresh, file), 0);
	pl = plog_open(&cfg, PLOG_RECEIVE, &err);
	ck_assert_ptr_null(pl);
	ck_assert_int_eq(stat(fresh, &st), -1);
	rmcfg(&cfg);
}
END_TEST

/* logs.peers: the first entry matching the address or any name wins; a
 * domain matches itself and its subdomains, not a name that merely ends
 * with it; send.metrics / receive.metrics parse, a bare port on loopback */
START_TEST(test_peer_levels)
{
	static const char yaml[] =
	    "receive:\n  metrics: 9125\n"
	    "send:\n  metrics: \"[::1]:9126\"\n"
	    "logs:\n  level: none\n  peers:\n"
	    "    - { match: 192.0.2.0/24, level: basic }\n"
	    "    - { match: Partner.Example., level: verbose }\n"
	    "    - { match: \"2001:db8::7\", level: none }\n"
	    "    - { match: example, level: basic }\n";
	struct dsmtp_config cfg;
	struct config_errors errs = { NULL, 0 };
	struct plog_session ps;
	struct sockaddr_in in4 = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	const char *n1[] = { "mx.partner.example" }, *n2[] = { "notpartner.example.net" },
	    *n3[] = { "", NULL, "PARTNER.EXAMPLE" };
	char ep[80];

	ck_assert_int_eq(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ck_assert(cfg.receive.metrics_set && cfg.send.metrics_set);
	addr_endpoint_format(&cfg.receive.metrics, ep, sizeof(ep));
	ck_assert_str_eq(ep, "127.0.0.1:9125");
	addr_endpoint_format(&cfg.send.metrics, ep, sizeof(ep));
	ck_assert_str_eq(ep, "[::1]:9126");
	ck_assert_uint_eq(cfg.logs.npeers, 4);
	ck_assert_str_eq(cfg.logs.peers[1].match, "partner.example");

	memset(&ps, 0, sizeof(ps));
	inet_pton(AF_INET, "192.0.2.9", &in4.sin_addr);
	plog_peer_decide(&cfg, &ps, (struct sockaddr *)&in4, n1, 1);
	ck_assert(ps.has_level && ps.level == LOG_LEVEL_BASIC);	/* first entry wins */
	inet_pton(AF_INET, "198.51.100.1", &in4.sin_addr);
	plog_peer_decide(&cfg, &ps, (struct sockaddr *)&in4, n1, 1);
	ck_assert(ps.has_level && ps.level == LOG_LEVEL_VERBOSE);
	plog_peer_decide(&cfg, &ps, (struct sockaddr *)&in4, n3, 3);
	ck_assert(ps.has_level && ps.level == LOG_LEVEL_VERBOSE);
	plog_peer_decide(&cfg, &ps, (struct sockaddr *)&in4, n2, 1);
	ck_assert(!ps.has_level);		/* logs.level again */
	inet_pton(AF_INET6, "2001:db8::7", &in6.sin6_addr);
	plog_peer_decide(&cfg, &ps, (struct sockaddr *)&in6, NULL, 0);
	ck_assert(ps.has_level && ps.level == LOG_LEVEL_NONE);
	plog_peer_decide(&cfg, &ps, NULL, (const char *[]){ "a.example" }, 1);
	ck_assert(ps.has_level && ps.level == LOG_LEVEL_BASIC);
	config_free(&cfg);

	/* the same through --print-config's YAML */
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f;
		struct dsmtp_config again;

		ck_assert_int_eq(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
		ck_assert_ptr_nonnull(f = open_memstream(&buf, &len));
		config_dump(&cfg, f);
		fclose(f);
		ck_assert_int_eq(config_load_buffer("dump", buf, len, &again, &errs), 0);
		ck_assert_uint_eq(again.logs.npeers, 4);
		ck_assert_str_eq(again.logs.peers[0].match, "192.0.2.0/24");
		ck_assert(again.logs.peers[2].is_net && again.logs.peers[2].level == LOG_LEVEL_NONE);
		ck_assert(again.send.metrics_set && again.send.metrics.port == 9126);
		config_free(&again);
		config_free(&cfg);
		free(buf);
	}
}
END_TEST

static Suite *
plog_suite(void)
{
	Suite *s = suite_create("plog");
	TCase *w = tcase_create("writer"), *r = tcase_create("reader");

	tcase_add_test(w, test_csv_quoting);
	tcase_add_test(w, test_json_escaping);
	tcase_add_test(w, test_level_basic);
	tcase_add_test(w, test_level_verbose);
	tcase_add_test(w, test_level_none);
	tcase_add_test(w, test_auth_masking);
	tcase_add_test(w, test_kv_forgery);
	tcase_add_test(w, test_session_id);
	tcase_add_test(w, test_rotation_size);
	tcase_add_test(w, test_rotation_day);
	tcase_add_test(w, test_prune);
	tcase_add_test(w, test_write_failure);
	tcase_add_test(w, test_several_processes);
	tcase_set_timeout(w, UNIT_TIMEOUT);
	tcase_add_test(w, test_symlink_refused);
	tcase_add_test(w, test_peer_levels);
	suite_add_tcase(s, w);
	tcase_add_test(r, test_reader_every_split);
	tcase_add_test(r, test_reader_direction);
	tcase_add_loop_test(r, test_reader_malformed, 0,
	    (int)(sizeof(malformed) / sizeof(malformed[0])));
	tcase_add_test(r, test_reader_long_line);
	tcase_add_test(r, test_files_order);
	tcase_set_timeout(r, UNIT_TIMEOUT);
	suite_add_tcase(s, r);
	return s;
}

int
main(void)
{
	return unit_run(plog_suite());
}
