/* plog_write.c: the protocol-log writer's records (DESIGN.md section 9).
 * Owns record formatting (CSV and JSON, the visible escape), the record
 * clock, level filtering, command/reply tracking and AUTH masking, and the
 * per-event API (plog_connect .. plog_tls_error). Files, rotation, writing
 * out and the writer's open/flush/close are plog_file.c's. Does not own
 * sockets, TLS or the event loop: callers hand it lines and facts, and
 * call plog_flush() from their timer. */
#include "autoconfig.h"

#include <sys/random.h>
#include <sys/types.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/diag.h"
#include "tls/tls_facts.h"
#include "common/utf8.h"
#include "logs/plog_int.h"

#define ESC_KV		0x1		/* also escape ';' (inside key=value data) */

static plog_clock_fn plog_clock;

const char *const plog_field_names[PLOG_NFIELDS] = {
	"date-time", "connector-id", "session-id", "sequence-number", "local-endpoint",
	"remote-endpoint", "event", "data", "context"
};

/* contexts basic keeps (DESIGN.md section 9); everything else is verbose */
static const char *const basic_contexts[] = { "TLS negotiated", "Remote certificate", "Policy",
    "TLS failure", "TLS result" };

/* commands whose lines and replies basic keeps: the envelope and the
 * client's name */
static const char *const envelope_verbs[] = { "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT" };

void
plog_set_clock(plog_clock_fn fn)
{
	plog_clock = fn;
}

void
plog_now(struct timespec *ts)
{
	if (plog_clock != NULL)
		plog_clock(ts);
	else if (clock_gettime(CLOCK_REALTIME, ts) != 0) {
		ts->tv_sec = time(NULL);
		ts->tv_nsec = 0;
	}
}

void
plog_fmt_time(const struct timespec *ts, char *out, size_t outlen, long *day)
{
	struct tm tm;
	time_t t = ts->tv_sec;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	if (snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ts->tv_nsec / 1000000 % 1000) >= (int)outlen)
		out[0] = '\0';
	if (day != NULL)
		*day = (tm.tm_year + 1900L) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* plog_fmt_time for records: the date and time are formatted once a second
 * and only the milliseconds are written per record (the snprintf was
 * 2-4% of dsmtpd's instructions per message) */
static void
plog_stamp(struct plog *pl, const struct timespec *ts, char *out, size_t outlen, long *day)
{
	long ms = ts->tv_nsec / 1000000 % 1000;
	size_t len;

	if (pl->stamp_text[0] == '\0' || ts->tv_sec != pl->stamp_sec) {
		struct timespec whole = { .tv_sec = ts->tv_sec, .tv_nsec = 0 };

		plog_fmt_time(&whole, pl->stamp_text, sizeof(pl->stamp_text), &pl->stamp_day);
		pl->stamp_sec = ts->tv_sec;
	}
	len = strlen(pl->stamp_text);
	if (len < 5 || len >= outlen) {		/* plog_fmt_time failed: as it would */
		plog_fmt_time(ts, out, outlen, day);
		return;
	}
	memcpy(out, pl->stamp_text, len + 1);
	out[len - 4] = (char)('0' + ms / 100);	/* "...SS.mmmZ" */
	out[len - 3] = (char)('0' + ms / 10 % 10);
	out[len - 2] = (char)('0' + ms % 10);
	*day = pl->stamp_day;
}

/* length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, <= U+10FFFF), 0 if invalid */
size_t
plog_utf8_len(const unsigned char *s, size_t n)
{
	return utf8_char_len(s, n);
}

/* the visible escape (see plog.h): peer bytes can never break a line,
 * forge a field or a key, or reach a terminal as controls */
static void
sb_escape(struct sbuf *b, const char *str, size_t n, int flags)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run, ul;
	char x[4];

	while (i < n) {
		for (run = i; run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '\\' &&
		    !(s[run] == ';' && (flags & ESC_KV)); run++)
			;
		sb_add(b, s + i, run - i);
		if ((i = run) >= n)
			break;
		switch (s[i]) {
		case '\\':
			sb_add(b, "\\\\", 2);
			i++;
			continue;
		case '\r':
			sb_add(b, "\\r", 2);
			i++;
			continue;
		case '\n':
			sb_add(b, "\\n", 2);
			i++;
			continue;
		case '\t':
			sb_add(b, "\\t", 2);
			i++;
			continue;
		}
		if (s[i] >= 0x80 && (ul = plog_utf8_len(s + i, n - i)) > 0) {
			sb_add(b, s + i, ul);
			i += ul;
			continue;
		}
		x[0] = '\\';
		x[1] = 'x';
		x[2] = hex[s[i] >> 4];
		x[3] = hex[s[i] & 0xf];
		sb_add(b, x, 4);
		i++;
	}
}

/* ---- records ---- */

/* the session's level: logs.peers' if one decided, else logs.level */
static enum log_level
sess_level(const struct plog *pl, const struct plog_session *s)
{
	return s->has_level ? (enum log_level)s->level : pl->level;
}

static bool
plog_active(const struct plog *pl, const struct plog_session *s)
{
	return pl != NULL && s != NULL && pl->enabled && sess_level(pl, s) != LOG_LEVEL_NONE;
}

/* does the level keep a '*' record of this context? */
static bool
keep_context(const struct plog *pl, const struct plog_session *s, const char *context)
{
	size_t i;

	if (sess_level(pl, s) == LOG_LEVEL_VERBOSE)
		return true;
	if (sess_level(pl, s) == LOG_LEVEL_NONE)
		return false;
	for (i = 0; i < sizeof(basic_contexts) / sizeof(basic_contexts[0]); i++)
		if (strcmp(context, basic_contexts[i]) == 0)
			return true;
	return false;
}

/* append one already-escaped field with the format's quoting */
static void
put_field(struct plog *pl, const char *s, size_t n)
{
	struct sbuf *r = &pl->rec;
	size_t i, start;

	if (pl->format == LOG_FORMAT_JSON) {
		sb_addc(r, '"');
		for (i = start = 0; i < n; i++) {
			if (s[i] != '"' && s[i] != '\\')
				continue;
			sb_add(r, s + start, i - start);
			sb_addc(r, '\\');
			start = i;
		}
		sb_add(r, s + start, n - start);
		sb_addc(r, '"');
		return;
	}
	/* RFC 4180: quote a field holding ',' or '"', doubling the quotes;
	 * CR and LF never get here, the escape removed them */
	if (memchr(s, ',', n) == NULL && memchr(s, '"', n) == NULL) {
		sb_add(r, s, n);
		return;
	}
	sb_addc(r, '"');
	for (i = start = 0; i < n; i++) {
		if (s[i] != '"')
			continue;
		sb_add(r, s + start, i + 1 - start);
		start = i;
	}
	sb_add(r, s + start, n - start);
	sb_addc(r, '"');
}

/* escape raw text into the scratch buffer, then append it as a field */
static void
put_raw(struct plog *pl, const char *s)
{
	pl->esc.len = 0;
	sb_escape(&pl->esc, s, strlen(s), 0);
	put_field(pl, pl->esc.p ? pl->esc.p : "", pl->esc.len);
}

/* the JSON key before field i, or the CSV separator */
static void
put_sep(struct plog *pl, int i)
{
	if (pl->format == LOG_FORMAT_JSON) {
		sb_adds(&pl->rec, i == 0 ? "{\"" : ",\"");
		sb_adds(&pl->rec, plog_field_names[i]);
		sb_adds(&pl->rec, "\":");
	} else if (i > 0)
		sb_addc(&pl->rec, ',');
}

/* format one record (pl->data holds the escaped data) and buffer it */
static void
plog_emit(struct plog *pl, struct plog_session *s, char event, const char *context)
{
	char when[40], num[32];
	struct timespec ts;
	long day;

	plog_now(&ts);
	plog_stamp(pl, &ts, when, sizeof(when), &day);
	if (day != pl->day)
		plog_switch(pl, day, false);

	pl->rec.len = 0;
	pl->rec.bad = false;
	put_sep(pl, PLOG_F_TIME);
	put_field(pl, when, strlen(when));
	put_sep(pl, PLOG_F_CONNECTOR);
	put_raw(pl, s->connector);
	put_sep(pl, PLOG_F_SESSION);
	snprintf(num, sizeof(num), "%016llx", (unsigned long long)s->id);
	put_field(pl, num, strlen(num));
	put_sep(pl, PLOG_F_SEQ);
	snprintf(num, sizeof(num), "%u", s->seq);
	sb_adds(&pl->rec, num);
	put_sep(pl, PLOG_F_LOCAL);
	put_raw(pl, s->local);
	put_sep(pl, PLOG_F_REMOTE);
	put_raw(pl, s->remote);
	put_sep(pl, PLOG_F_EVENT);
	put_field(pl, &event, 1);
	put_sep(pl, PLOG_F_DATA);
	put_field(pl, pl->data.p ? pl->data.p : "", pl->data.len);
	put_sep(pl, PLOG_F_CONTEXT);
	put_raw(pl, context);
	sb_adds(&pl->rec, pl->format == LOG_FORMAT_JSON ? "}\n" : "\n");
	s->seq++;
	if (pl->rec.bad || pl->data.bad || pl->esc.bad) {
		pl->lost++;
		pl->lost_now++;
		errno = ENOMEM;
		plog_fail(pl, "format a record");
		pl->data.bad = pl->esc.bad = pl->rec.bad = false;
		return;
	}
	plog_buffer(pl, day);
}

/* start the data field */
static void
data_reset(struct plog *pl)
{
	pl->data.len = 0;
	pl->data.bad = false;
}

/* append "key=value" to the data field, ';'-separated */
static void
data_kv(struct plog *pl, const char *key, const char *val)
{
	if (pl->data.len > 0)
		sb_add(&pl->data, "; ", 2);
	sb_adds(&pl->data, key);
	sb_addc(&pl->data, '=');
	if (val != NULL)
		sb_escape(&pl->data, val, strlen(val), ESC_KV);
}

static void
data_kv_time(struct plog *pl, const char *key, time_t t)
{
	char buf[40];
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	if (snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec) >= (int)sizeof(buf))
		buf[0] = '\0';
	data_kv(pl, key, buf);
}

/* the SAN list, comma-separated */
static void
data_kv_san(struct plog *pl, char *const *san, size_t nsan)
{
	size_t i;

	data_kv(pl, "san", "");
	for (i = 0; i < nsan; i++) {
		if (i > 0)
			sb_addc(&pl->data, ',');
		sb_escape(&pl->data, san[i], strlen(san[i]), ESC_KV);
	}
}

/* ---- command/reply tracking: basic level and AUTH masking ---- */

/* does line start with verb (case-insensitive), then end or a space? */
static bool
is_verb(const char *line, size_t len, const char *verb)
{
	size_t n = strlen(verb);

	return len >= n && strncasecmp(line, verb, n) == 0 && (len == n || line[n] == ' ');
}

/* queue a command awaiting its reply (RFC 2920 keeps replies in order) */
static void
pend_push(struct plog_session *s, bool envelope)
{
	if (s->npend >= 64)
		return;
	if (envelope)
		s->pend |= (uint64_t)1 << s->npend;
	s->npend++;
}

/* a command line: is it envelope? *show = bytes to log, *mask = add "****" */
static bool
track_command(struct plog_session *s, const char *line, size_t len, size_t *show, bool *mask)
{
	bool env = false;
	size_t i, n;

	*show = len;
	*mask = false;
	if (len == 1 && line[0] == '.')
		return true;	/* an end of data passed by mistake: no reply of its own */
	if (s->auth) {
		/* RFC 4954 4: a SASL response line, credentials */
		*show = 0;
		*mask = true;
	} else if (is_verb(line, len, "AUTH")) {
		/* keep "AUTH MECH", mask the initial response */
		for (i = 4; i < len && line[i] == ' '; i++)
			;
		while (i < len && line[i] != ' ')
			i++;
		*show = i;
		for (; i < len && line[i] == ' '; i++)
			;
		*mask = i < len;
		s->auth = true;
	} else {
		for (n = 0; n < sizeof(envelope_verbs) / sizeof(envelope_verbs[0]); n++)
			if (is_verb(line, len, envelope_verbs[n]) ||
			    (len > 4 && strncasecmp(line, envelope_verbs[n], 4) == 0 && line[4] == ':'))
				env = true;
	}
	pend_push(s, env);
	return env;
}

/* a reply line: does it answer an envelope command? */
static bool
track_reply(struct plog_session *s, const char *line, size_t len)
{
	bool final = len < 4 || line[3] != '-';
	bool env = s->npend > 0 && (s->pend & 1);

	if (!final)
		return env;
	if (s->npend > 0) {
		s->pend >>= 1;
		s->npend--;
	}
	if (s->auth && !(len >= 3 && memcmp(line, "334", 3) == 0))
		s->auth = false;
	/* after 354 the end-of-data reply is still to come: RFC 2920 makes
	 * DATA the last command of a group, so it is the only one pending */
	if (env && len >= 3 && memcmp(line, "354", 3) == 0)
		pend_push(s, true);
	return env;
}

/* one SMTP line: track commands and replies, mask credentials, filter, log */
static void
plog_line(struct plog *pl, struct plog_session *s, char event, const char *line, size_t len)
{
	bool command, keep, mask = false;
	size_t show = len;

	if (!plog_active(pl, s) || (line == NULL && len > 0))
		return;
	if (line == NULL)
		line = "";
	/* the client's lines are commands: '<' on receive, '>' on send */
	command = (pl->dir == PLOG_RECEIVE) == (event == '<');
	if (command)
		keep = track_command(s, line, len, &show, &mask);
	else
		keep = track_reply(s, line, len);
	if (sess_level(pl, s) == LOG_LEVEL_BASIC && !keep)
		return;
	data_reset(pl);
	sb_escape(&pl->data, line, show, 0);
	if (mask)
		sb_adds(&pl->data, show > 0 ? " ****" : "****");
	plog_emit(pl, s, event, "");
}

/* ---- the API ---- */

bool
plog_enabled(const struct plog *pl)
{
	return pl != NULL && pl->enabled;
}

/* a random non-zero session id from getrandom(2) */
uint64_t
plog_new_session_id(void)
{
	static uint64_t fallback;
	struct timespec ts;
	uint64_t v = 0;
	ssize_t r;

	for (;;) {
		r = getrandom(&v, sizeof(v), 0);
		if (r == (ssize_t)sizeof(v) && v != 0)
			return v;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
	}
	/* no getrandom: unique enough for a log key, never secret */
	plog_now(&ts);
	v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
	    ++fallback * 0x9e3779b97f4a7c15ULL;
	return v ? v : 1;
}

void
plog_begin(struct plog_session *s)
{
	if (s == NULL)
		return;
	s->seq = 0;
	s->pend = 0;
	s->npend = 0;
	s->auth = false;
}

void
plog_connect(struct plog *pl, struct plog_session *s)
{
	plog_begin(s);
	if (!plog_active(pl, s))
		return;
	data_reset(pl);
	plog_emit(pl, s, '+', "");
}

void
plog_disconnect(struct plog *pl, struct plog_session *s, const char *reason)
{
	if (!plog_active(pl, s))
		return;
	data_reset(pl);
	if (reason != NULL)
		sb_escape(&pl->data, reason, strlen(reason), 0);
	plog_emit(pl, s, '-', "");
}

void
plog_sent(struct plog *pl, struct plog_session *s, const char *line, size_t len)
{
	plog_line(pl, s, '>', line, len);
}

void
plog_received(struct plog *pl, struct plog_session *s, const char *line, size_t len)
{
	plog_line(pl, s, '<', line, len);
}

/* a free-form '*' record, printf-like, escaped like any peer text */
void
plog_info(struct plog *pl, struct plog_session *s, const char *context, const char *fmt, ...)
{
	char small[1024], *text = small;
	va_list ap;
	int n;

	if (context == NULL)
		context = "";
	if (!plog_active(pl, s) || !keep_context(pl, s, context))
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small) && (text = malloc((size_t)n + 1)) != NULL) {
		va_start(ap, fmt);
		(void)vsnprintf(text, (size_t)n + 1, fmt, ap);
		va_end(ap);
	} else if (text == NULL) {
		text = small;	/* out of memory: the truncated text */
		n = (int)strlen(small);
	}
	data_reset(pl);
	sb_escape(&pl->data, text, (size_t)n, 0);
	if (text != small)
		free(text);
	plog_emit(pl, s, '*', context);
}

void
plog_local_cert(struct plog *pl, struct plog_session *s, const struct tls_cert_facts *f,
    const char *why)
{
	if (!plog_active(pl, s) || !keep_context(pl, s, "Local certificate"))
		return;
	data_reset(pl);
	if (f != NULL) {
		data_kv(pl, "subject", f->subject);
		data_kv(pl, "sha1", f->sha1);
		data_kv(pl, "sha256", f->sha256);
		data_kv_san(pl, f->san, f->nsan);
	} else
		data_kv(pl, "subject", "none");
	data_kv(pl, "why", why != NULL ? why : "");
	plog_emit(pl, s, '*', "Local certificate");
}

/* "TLS negotiated", then "Remote certificate" or "Remote certificate absent" */
void
plog_tls(struct plog *pl, struct plog_session *s, const struct tls_session_facts *f)
{
	const struct tls_cert_facts *c;
	char num[32];

	if (!plog_active(pl, s) || f == NULL)
		return;
	/* STARTTLS forgets everything before it (RFC 3207 4.2) */
	s->pend = 0;
	s->npend = 0;
	s->auth = false;
	data_reset(pl);
	data_kv(pl, "version", f->version);
	data_kv(pl, "cipher", f->cipher);
	data_kv(pl, "kx", f->kx);
	data_kv(pl, "resumed", f->resumed ? "yes" : "no");
	plog_emit(pl, s, '*', "TLS negotiated");
	if (!f->peer.present) {
		if (keep_context(pl, s, "Remote certificate absent")) {
			data_reset(pl);
			plog_emit(pl, s, '*', "Remote certificate absent");
		}
		return;
	}
	c = &f->peer.leaf;
	data_reset(pl);
	data_kv(pl, "subject", c->subject);
	data_kv(pl, "issuer", c->issuer);
	data_kv(pl, "serial", c->serial);
	data_kv_time(pl, "not_before", c->not_before);
	data_kv_time(pl, "not_after", c->not_after);
	data_kv_san(pl, c->san, c->nsan);
	data_kv(pl, "sha1", c->sha1);
	data_kv(pl, "sha256", c->sha256);
	data_kv(pl, "spki", c->spki);
	snprintf(num, sizeof(num), "%zu", f->peer.chain_len);
	data_kv(pl, "chain_len", num);
	plog_emit(pl, s, '*', "Remote certificate");
}

void
plog_verification(struct plog *pl, struct plog_session *s, const char *chain, const char *names,
    const char *pin)
{
	if (!plog_active(pl, s) || !keep_context(pl, s, "TLS verification"))
		return;
	data_reset(pl);
	data_kv(pl, "chain", chain != NULL ? chain : "ok");
	data_kv(pl, "names", names != NULL ? names : "");
	data_kv(pl, "pin", pin != NULL && pin[0] != '\0' ? pin : "none");
	plog_emit(pl, s, '*', "TLS verification");
}

static plog_policy_fn *plog_policy_observer;

void
plog_set_policy_observer(plog_policy_fn *fn)
{
	plog_policy_observer = fn;
}

void
plog_policy(struct plog *pl, struct plog_session *s, const char *level, const char *domain,
    bool pass, const char *reason)
{
	if (plog_policy_observer != NULL)
		plog_policy_observer(level, pass, reason);
	if (!plog_active(pl, s) || !keep_context(pl, s, "Policy"))
		return;
	data_reset(pl);
	data_kv(pl, "level", level != NULL ? level : "");
	data_kv(pl, "domain", domain != NULL ? domain : "");
	data_kv(pl, "result", pass ? "pass" : "fail");
	data_kv(pl, "reason", reason != NULL ? reason : "");
	plog_emit(pl, s, '*', "Policy");
}

void
plog_tls_error(struct plog *pl, struct plog_session *s, const char *reason)
{
	if (!plog_active(pl, s) || !keep_context(pl, s, "TLS error"))
		return;
	data_reset(pl);
	data_kv(pl, "reason", reason != NULL ? reason : "");
	plog_emit(pl, s, '*', "TLS error");
}
