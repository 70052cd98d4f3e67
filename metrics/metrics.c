/* metrics.c: the shared counters and their text exposition. One anonymous
 * MAP_SHARED mapping, made before the fork, holds fixed arrays of atomic
 * counters indexed by fixed label lists; workers add with one relaxed
 * atomic add, the metrics process loads and prints them. Two small
 * tables live beside them: our certificates (a sequence lock, written at
 * start and reload) and the last certificate seen per peer (hash slots
 * claimed by compare-and-swap, replaced when full: bounded, lossy). */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/hex.h"
#include "common/spool.h"
#include "metrics/metrics.h"
#include "tls/tls.h"

#define MX_TLS_N	4	/* none, TLSv1.2, TLSv1.3, other */
#define MX_CERT_N	(TLS_CHAIN_OTHER + 2)	/* the chain results, then pinned */
#define MX_LEVEL_N	(LEVEL_DANE_ONLY + 1)
#define MX_OUTCOME_N	3
#define MX_PEERS	512	/* peers whose last certificate is remembered */
#define MX_PEER_PROBE	8
#define MX_CERTS	16	/* our certificates shown */

static const char *const tls_names[MX_TLS_N] = { "none", "TLSv1.2", "TLSv1.3", "other" };
static const int codes[] = { 250, 421, 450, 451, 452, 454, 500, 501, 503, 530, 550, 552, 553,
    554, 4, 5 };	/* 4 and 5: another 4xx or 5xx */
#define MX_CODE_N	(sizeof(codes) / sizeof(codes[0]))
static const char *const outcome_names[MX_OUTCOME_N] = { "delivered", "deferred", "bounced" };

/* RFC 8460 4.3 result types where one fits the verdict's reason word,
 * our own words (no RFC type says it) after them */
static const struct {
	const char	*word;		/* reason prefix, up to ':' */
	const char	*type;
} reason_types[] = {
	{ "no-tls", "starttls-not-supported" },
	{ "hostname-mismatch", "certificate-host-mismatch" },
	{ "san-mismatch", "certificate-host-mismatch" },
	{ "dane-ta-name", "certificate-host-mismatch" },
	{ "tlsa-mismatch", "tlsa-invalid" },
	{ "dnssec-invalid", "dnssec-invalid" },
	{ "dane-insecure", "dane-required" },
	{ "handshake-failed", "validation-failure" },
	{ "wrong-purpose", "validation-failure" },
	{ "pin-mismatch", "pin-mismatch" },
	{ "no-client-cert", "no-peer-certificate" },
	{ "no-peer-cert", "no-peer-certificate" },
};
static const char *const result_types[] = { "starttls-not-supported",
    "certificate-host-mismatch", "certificate-expired", "certificate-not-trusted",
    "validation-failure", "tlsa-invalid", "dnssec-invalid", "dane-required", "pin-mismatch",
    "no-peer-certificate", "mta-sts", "security-memory", "requiretls", "other" };
#define MX_RESULT_N	(sizeof(result_types) / sizeof(result_types[0]))

struct mx_peer {
	_Atomic uint64_t	 key;		/* hash of the peer's name, 0 = free */
	_Atomic uint64_t	 cert;		/* first 64 bits of its certificate's SHA-256 */
};

struct mx_cert {
	char		 subject[160];
	char		 sha256[17];
	int64_t		 not_after;
};

struct mx_shared {
	enum metrics_prog	 prog;
	_Atomic uint64_t	 sessions[MX_TLS_N][MX_CERT_N];
	_Atomic uint64_t	 messages[MX_CODE_N];
	_Atomic uint64_t	 connections[MX_TLS_N];
	_Atomic uint64_t	 deliveries[MX_LEVEL_N][MX_OUTCOME_N];
	_Atomic uint64_t	 policy[MX_RESULT_N];
	_Atomic uint64_t	 cert_changes;
	struct mx_peer		 peers[MX_PEERS];
	/* our certificates: odd seq = being written; a writer that finds
	 * another at work leaves it (both write the same reload) */
	_Atomic unsigned	 cert_seq;
	_Atomic bool		 cert_writing;
	size_t			 ncerts;
	struct mx_cert		 certs[MX_CERTS];
};

static struct mx_shared *mx;

int
metrics_init(enum metrics_prog prog, struct dsmtp_err *err)
{
	void *p;

	if (mx != NULL)
		return 0;
	p = mmap(NULL, sizeof(*mx), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		dsmtp_err_set(err, "metrics: shared counters (%zu bytes): %s", sizeof(*mx),
		    strerror(errno));
		return -1;
	}
	mx = p;		/* zero-filled: every counter 0, every slot free */
	mx->prog = prog;
	return 0;
}

void
metrics_fini(void)
{
	if (mx != NULL)
		(void)munmap(mx, sizeof(*mx));
	mx = NULL;
}

const char *
metrics_process_name(void)
{
	return mx != NULL && mx->prog == METRICS_SEND ? "dsmtpc-metrics" : "dsmtpd-metrics";
}

bool
metrics_enabled(void)
{
	return mx != NULL;
}

static void
add(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static size_t
tls_index(const char *v)
{
	if (v == NULL || *v == '\0')
		return 0;
	if (strcmp(v, "TLSv1.2") == 0 || strcmp(v, "TLS1.2") == 0)
		return 1;
	if (strcmp(v, "TLSv1.3") == 0 || strcmp(v, "TLS1.3") == 0)
		return 2;
	return 3;
}

void
metrics_session(const char *tls_version, int cert_result)
{
	size_t c;

	if (mx == NULL)
		return;
	if (cert_result == METRICS_CERT_PINNED)
		c = MX_CERT_N - 1;
	else if (cert_result < 0 || cert_result > TLS_CHAIN_OTHER)
		c = TLS_CHAIN_OTHER;
	else
		c = (size_t)cert_result;
	add(&mx->sessions[tls_index(tls_version)][c]);
}

void
metrics_message(int code)
{
	size_t i;

	if (mx == NULL)
		return;
	for (i = 0; i < MX_CODE_N - 2; i++)
		if (codes[i] == code)
			break;
	if (i == MX_CODE_N - 2)
		i = code >= 500 ? MX_CODE_N - 1 : MX_CODE_N - 2;
	add(&mx->messages[i]);
}

void
metrics_connection(const char *tls_version)
{
	if (mx != NULL)
		add(&mx->connections[tls_index(tls_version)]);
}

void
metrics_delivery(enum dsmtp_level level, enum metrics_outcome o)
{
	if (mx == NULL || (unsigned)level >= MX_LEVEL_N || (unsigned)o >= MX_OUTCOME_N)
		return;
	add(&mx->deliveries[level][o]);
}

const char *
metrics_result_type(const char *level, const char *reason)
{
	size_t n;

	if (level != NULL && strcmp(level, "memory") == 0)
		return "security-memory";
	if (level != NULL && strcmp(level, "requiretls") == 0)
		return "requiretls";
	if (reason == NULL)
		return "other";
	n = strcspn(reason, ":");
	if (n == 5 && strncmp(reason, "chain", 5) == 0)
		return strstr(reason, "expired") ? "certificate-expired" : "certificate-not-trusted";
	for (size_t i = 0; i < sizeof(reason_types) / sizeof(reason_types[0]); i++)
		if (strlen(reason_types[i].word) == n && strncmp(reason, reason_types[i].word, n) == 0)
			return reason_types[i].type;
	if (n == 3 && strncmp(reason, "sts", 3) == 0)
		return "mta-sts";
	return "other";
}

void
metrics_policy_failure(const char *level, const char *reason)
{
	const char *t;

	if (mx == NULL)
		return;
	t = metrics_result_type(level, reason);
	for (size_t i = 0; i < MX_RESULT_N; i++)
		if (strcmp(result_types[i], t) == 0) {
			add(&mx->policy[i]);
			return;
		}
}

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

/* the first 16 hex digits of a SHA-256 as a number, 0 if it is not hex */
static uint64_t
hex64(const char *s)
{
	uint64_t v = 0;

	for (int i = 0; i < 16; i++) {
		int d = hex_value(s[i]);

		if (d < 0)
			return 0;
		v = v << 4 | (uint64_t)d;
	}
	return v ? v : 1;
}

void
metrics_peer_cert(const char *peer, const char *sha256)
{
	uint64_t key, cert, old;
	size_t home, i;

	if (mx == NULL || peer == NULL || sha256 == NULL || (cert = hex64(sha256)) == 0)
		return;
	key = fnv1a(peer);
	home = (size_t)(key % MX_PEERS);
	for (size_t n = 0; n < MX_PEER_PROBE; n++) {
		uint64_t expect = 0;

		i = (home + n) % MX_PEERS;
		if (atomic_load_explicit(&mx->peers[i].key, memory_order_relaxed) == key ||
		    atomic_compare_exchange_strong_explicit(&mx->peers[i].key, &expect, key,
		    memory_order_relaxed, memory_order_relaxed)) {
			old = atomic_exchange_explicit(&mx->peers[i].cert, cert,
			    memory_order_relaxed);
			if (old != 0 && old != cert)
				add(&mx->cert_changes);
			return;
		}
	}
	/* full around home: this peer takes the home slot, forgetting its owner */
	atomic_store_explicit(&mx->peers[home].key, key, memory_order_relaxed);
	atomic_store_explicit(&mx->peers[home].cert, cert, memory_order_relaxed);
}

void
metrics_certs_set(const struct tls_cert_facts *const *f, size_t n)
{
	bool busy = false;

	if (mx == NULL)
		return;
	if (!atomic_compare_exchange_strong(&mx->cert_writing, &busy, true))
		return;
	atomic_fetch_add(&mx->cert_seq, 1);	/* odd: readers retry */
	mx->ncerts = 0;
	for (size_t i = 0; i < n && mx->ncerts < MX_CERTS; i++) {
		struct mx_cert *c = &mx->certs[mx->ncerts];
		bool dup = false;

		if (f[i] == NULL)
			continue;
		for (size_t k = 0; k < mx->ncerts; k++)
			if (strncmp(mx->certs[k].sha256, f[i]->sha256, 16) == 0)
				dup = true;
		if (dup)
			continue;
		snprintf(c->subject, sizeof(c->subject), "%.159s", f[i]->subject);
		snprintf(c->sha256, sizeof(c->sha256), "%.16s", f[i]->sha256);
		c->not_after = (int64_t)f[i]->not_after;
		mx->ncerts++;
	}
	atomic_fetch_add(&mx->cert_seq, 1);
	atomic_store(&mx->cert_writing, false);
}

/* ---- the text exposition format ---- */

struct out {
	char	*p;
	size_t	 len, cap;
	bool	 bad;
};

static void
out_add(struct out *o, const char *s, size_t n)
{
	if (o->bad)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 8192;
		char *p;

		while (cap < o->len + n + 1)
			cap *= 2;
		if ((p = realloc(o->p, cap)) == NULL) {
			o->bad = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		out_add(o, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* a label value: '\', '"' and newline escaped (the exposition format) */
static void
out_label(struct out *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			out_add(o, "\\\\", 2);
		else if (*s == '"')
			out_add(o, "\\\"", 2);
		else if (*s == '\n')
			out_add(o, "\\n", 2);
		else
			out_add(o, s, 1);
	}
}

static void
family(struct out *o, const char *prefix, const char *name, const char *type, const char *help)
{
	out_printf(o, "# HELP %s_%s %s\n# TYPE %s_%s %s\n", prefix, name, help, prefix, name, type);
}

static uint64_t
get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void
render_certs(struct out *o, const char *prefix)
{
	struct mx_cert copy[MX_CERTS];
	size_t n = 0;

	/* a copy made while no write was under way, else nothing (a reload
	 * is rare and short: the next scrape shows it) */
	for (int tries = 0; tries < 100; tries++) {
		unsigned s1 = atomic_load(&mx->cert_seq), s2;

		if (s1 & 1)
			continue;
		n = mx->ncerts < MX_CERTS ? mx->ncerts : MX_CERTS;
		memcpy(copy, mx->certs, sizeof(copy));
		s2 = atomic_load(&mx->cert_seq);
		if (s1 == s2)
			break;
		n = 0;
	}
	family(o, prefix, "certificate_expiry_timestamp_seconds", "gauge",
	    "When each of our certificates expires (Unix time).");
	for (size_t i = 0; i < n; i++) {
		copy[i].subject[sizeof(copy[i].subject) - 1] = '\0';
		copy[i].sha256[sizeof(copy[i].sha256) - 1] = '\0';
		out_printf(o, "%s_certificate_expiry_timestamp_seconds{subject=\"", prefix);
		out_label(o, copy[i].subject);
		out_add(o, "\",sha256=\"", 10);
		out_label(o, copy[i].sha256);
		out_printf(o, "\"} %lld\n", (long long)copy[i].not_after);
	}
}

/* the spool's size and the age of its oldest message, from the names of
 * its envelopes (ID.e, the ID's first 14 hex digits the arrival in
 * microseconds): a read-only directory listing, no file opened, no spool
 * code run (its recovery is for the programs that own the spool) */
static void
render_queue(struct out *o, const char *queue_dir)
{
	long long oldest = 0, now = (long long)time(NULL);
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if ((d = opendir(queue_dir)) == NULL)
		return;		/* not shown rather than shown wrong */
	while ((de = readdir(d)) != NULL) {
		char head[15];
		long long at;

		if (strlen(de->d_name) != SPOOL_ID_LEN + 2 ||
		    strcmp(de->d_name + SPOOL_ID_LEN, ".e") != 0 ||
		    strspn(de->d_name, "0123456789abcdef") != SPOOL_ID_LEN)
			continue;
		memcpy(head, de->d_name, 14);
		head[14] = '\0';
		at = (long long)(strtoull(head, NULL, 16) / 1000000);
		if (n++ == 0 || at < oldest)
			oldest = at;
	}
	closedir(d);
	family(o, "dsmtpc", "queue_messages", "gauge", "Messages in the spool.");
	out_printf(o, "dsmtpc_queue_messages %zu\n", n);
	family(o, "dsmtpc", "queue_oldest_message_age_seconds", "gauge",
	    "Age of the oldest message in the spool (0 when empty).");
	out_printf(o, "dsmtpc_queue_oldest_message_age_seconds %lld\n",
	    n && now > oldest ? now - oldest : 0);
}

static void
render_policy(struct out *o, const char *prefix)
{
	family(o, prefix, "policy_failures_total", "counter",
	    "Failed policy verdicts by result type (RFC 8460 names where one fits).");
	for (size_t i = 0; i < MX_RESULT_N; i++)
		out_printf(o, "%s_policy_failures_total{result_type=\"%s\"} %llu\n", prefix,
		    result_types[i], (unsigned long long)get(&mx->policy[i]));
	family(o, prefix, "peer_certificate_changes_total", "counter",
	    "Peers seen with a certificate other than the one they showed before.");
	out_printf(o, "%s_peer_certificate_changes_total %llu\n", prefix,
	    (unsigned long long)get(&mx->cert_changes));
}

char *
metrics_render(const char *queue_dir, size_t *len)
{
	struct out o = { NULL, 0, 0, false };

	*len = 0;
	if (mx == NULL)
		return NULL;
	if (mx->prog == METRICS_RECEIVE) {
		family(&o, "dsmtpd", "sessions_total", "counter",
		    "Finished SMTP sessions by TLS version and client-certificate result.");
		for (size_t t = 0; t < MX_TLS_N; t++)
			for (size_t c = 0; c < MX_CERT_N; c++)
				out_printf(&o, "dsmtpd_sessions_total{tls=\"%s\",client_cert=\"%s\"} "
				    "%llu\n", tls_names[t], c == MX_CERT_N - 1 ? "pinned" :
				    tls_chain_status_name((enum tls_chain_status)c),
				    (unsigned long long)get(&mx->sessions[t][c]));
		family(&o, "dsmtpd", "messages_total", "counter",
		    "Messages by the reply to their end of data (2xx accepted, else refused).");
		for (size_t i = 0; i < MX_CODE_N; i++) {
			char code[16];

			if (codes[i] < 10)
				snprintf(code, sizeof(code), "%dxx", codes[i]);
			else
				snprintf(code, sizeof(code), "%d", codes[i]);
			out_printf(&o, "dsmtpd_messages_total{result=\"%s\",code=\"%s\"} %llu\n",
			    codes[i] / 100 == 2 ? "accepted" : "refused", code,
			    (unsigned long long)get(&mx->messages[i]));
		}
		render_policy(&o, "dsmtpd");
		render_certs(&o, "dsmtpd");
	} else {
		family(&o, "dsmtpc", "connections_total", "counter",
		    "Finished connections to next hops by TLS version.");
		for (size_t t = 0; t < MX_TLS_N; t++)
			out_printf(&o, "dsmtpc_connections_total{tls=\"%s\"} %llu\n", tls_names[t],
			    (unsigned long long)get(&mx->connections[t]));
		family(&o, "dsmtpc", "deliveries_total", "counter",
		    "Recipient delivery attempts by send level and outcome.");
		for (size_t l = 0; l < MX_LEVEL_N; l++)
			for (size_t k = 0; k < MX_OUTCOME_N; k++)
				out_printf(&o, "dsmtpc_deliveries_total{level=\"%s\",outcome=\"%s\"} "
				    "%llu\n", config_level_name((enum dsmtp_level)l),
				    outcome_names[k], (unsigned long long)get(&mx->deliveries[l][k]));
		render_policy(&o, "dsmtpc");
		render_certs(&o, "dsmtpc");
		if (queue_dir != NULL)
			render_queue(&o, queue_dir);
	}
	if (o.bad) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}
