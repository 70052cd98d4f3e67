/* plog_gen.c: a test-only program that drives the real protocol-log
 * writer (logs/libplog.a) through scripted sessions, with certificate
 * facts, hostile peer bytes, AUTH, failures and a peer whose certificate
 * changes, so the integration tests can run dsmtp-log over real output.
 * Not installed. Prints "NAME SESSION-ID" for each scripted session.
 *
 * Usage: plog_gen -c CONFIG [--repeat N] [--start EPOCH] [--quiet] */
#include "autoconfig.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/diag.h"
#include "logs/plog.h"
#include "tls/tls_facts.h"

static time_t	gen_sec;
static long	gen_msec;
static bool	quiet;

/* the injected clock: every call is one millisecond later */
static void
gen_clock(struct timespec *ts)
{
	ts->tv_sec = gen_sec + gen_msec / 1000;
	ts->tv_nsec = gen_msec % 1000 * 1000000L;
	gen_msec++;
}

static void
facts(struct tls_cert_facts *c, const char *cn, char fill, char keyfill, char **san, size_t nsan)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->subject, sizeof(c->subject), "CN=%s,O=Test", cn);
	snprintf(c->issuer, sizeof(c->issuer), "CN=Test CA,O=Test");
	snprintf(c->serial, sizeof(c->serial), "%c%c0102", fill, fill);
	snprintf(c->cn, sizeof(c->cn), "%s", cn);
	c->not_before = 1767225600;	/* 2026-01-01 */
	c->not_after = 1798761600;	/* 2027-01-01 */
	c->san = san;
	c->nsan = nsan;
	memset(c->sha1, fill, 40);
	memset(c->sha256, fill, 64);
	snprintf(c->spki, sizeof(c->spki), "sha256/%c%c%c%c=", keyfill, keyfill, keyfill, keyfill);
	snprintf(c->key_type, sizeof(c->key_type), "ECDSA-P256");
	c->key_bits = 256;
}

static void
line_in(struct plog *pl, struct plog_session *s, const char *l)
{
	plog_received(pl, s, l, strlen(l));
}

static void
line_out(struct plog *pl, struct plog_session *s, const char *l)
{
	plog_sent(pl, s, l, strlen(l));
}

static void
begin(struct plog_session *s, const char *name, const char *conn, const char *local,
    const char *remote)
{
	memset(s, 0, sizeof(*s));
	s->id = plog_new_session_id();
	snprintf(s->connector, sizeof(s->connector), "%s", conn);
	snprintf(s->local, sizeof(s->local), "%s", local);
	snprintf(s->remote, sizeof(s->remote), "%s", remote);
	if (!quiet)
		printf("%s %016" PRIx64 "\n", name, s->id);
}

/* a receive session with STARTTLS, a client certificate and n messages */
static void
recv_tls_session(struct plog *pl, const char *name, const char *remote, const char *ehlo,
    const struct tls_cert_facts *cert, const char *domain, bool pass, int nmsg)
{
	struct tls_session_facts f;
	struct plog_session s;
	char buf[256];
	int i;

	begin(&s, name, "dsmtpd 127.0.0.1:2525", "127.0.0.1:2525", remote);
	plog_connect(pl, &s);
	line_out(pl, &s, "220 test.example.org ESMTP dsmtp");
	snprintf(buf, sizeof(buf), "EHLO %s", ehlo);
	line_in(pl, &s, buf);
	line_out(pl, &s, "250-test.example.org");
	line_out(pl, &s, "250-PIPELINING");
	line_out(pl, &s, "250 STARTTLS");
	line_in(pl, &s, "STARTTLS");
	line_out(pl, &s, "220 2.0.0 Ready to start TLS");
	memset(&f, 0, sizeof(f));
	snprintf(f.version, sizeof(f.version), "TLSv1.3");
	snprintf(f.cipher, sizeof(f.cipher), "TLS_AES_256_GCM_SHA384");
	snprintf(f.kx, sizeof(f.kx), "ECDHE-X25519");
	f.cipher_bits = 256;
	if (cert != NULL) {
		f.peer.present = true;
		f.peer.leaf = *cert;
		f.peer.chain_len = 2;
	}
	plog_tls(pl, &s, &f);
	plog_verification(pl, &s, cert ? "ok" : "no certificate", cert ? domain : "", NULL);
	line_in(pl, &s, buf);
	line_out(pl, &s, "250-test.example.org");
	line_out(pl, &s, "250 PIPELINING");
	for (i = 0; i < nmsg; i++) {
		snprintf(buf, sizeof(buf), "MAIL FROM:<sender%d@%s>", i, domain);
		line_in(pl, &s, buf);
		if (i == 0)
			plog_policy(pl, &s, "domain-secure", domain, pass,
			    pass ? "certificate names the domain" : "no client certificate");
		if (!pass) {
			line_out(pl, &s, "450 4.7.1 domain-secure sender needs a client certificate");
			break;
		}
		line_in(pl, &s, "RCPT TO:<postmaster@example.org>");
		line_in(pl, &s, "DATA");
		line_out(pl, &s, "250 2.1.0 Ok");
		line_out(pl, &s, "250 2.1.5 Ok");
		line_out(pl, &s, "354 End data with <CR><LF>.<CR><LF>");
		line_out(pl, &s, "250 2.0.0 Ok: queued");
	}
	line_in(pl, &s, "QUIT");
	line_out(pl, &s, "221 2.0.0 Bye");
	plog_disconnect(pl, &s, "quit");
	plog_flush(pl);
}

/* a plaintext session full of hostile bytes and an AUTH exchange */
static void
recv_hostile_session(struct plog *pl)
{
	static const char ehlo[] = "EHLO evil,\"host\"\r\n\0x\xff\xfe\tback\\slash;k=v";
	struct plog_session s;

	begin(&s, "hostile", "dsmtpd 127.0.0.1:2525", "127.0.0.1:2525", "203.0.113.66:5555");
	plog_connect(pl, &s);
	line_out(pl, &s, "220 test.example.org ESMTP dsmtp");
	plog_received(pl, &s, ehlo, sizeof(ehlo) - 1);
	line_out(pl, &s, "250 AUTH PLAIN LOGIN");
	line_in(pl, &s, "AUTH PLAIN AHVzZXIAc2VjcmV0cGFzcw==");
	line_out(pl, &s, "235 2.7.0 Authentication successful");
	line_in(pl, &s, "AUTH LOGIN");
	line_out(pl, &s, "334 VXNlcm5hbWU6");
	line_in(pl, &s, "dXNlcg==");
	line_out(pl, &s, "334 UGFzc3dvcmQ6");
	line_in(pl, &s, "c2VjcmV0cGFzcw==");
	line_out(pl, &s, "535 5.7.8 Authentication credentials invalid");
	plog_info(pl, &s, "Note", "unicode \xc3\xa9t\xc3\xa9 and %d%%", 100);
	line_in(pl, &s, "MAIL FROM:<x@fabrikam.com>");
	line_out(pl, &s, "530 5.7.0 Must issue a STARTTLS command first");
	plog_disconnect(pl, &s, "peer closed");
	plog_flush(pl);
}

/* a send session whose server certificate does not verify */
static void
send_fail_session(struct plog *pl, const struct tls_cert_facts *cert)
{
	struct tls_session_facts f;
	struct plog_session s;

	begin(&s, "sendfail", "dsmtpc route contoso.com", "[2001:db8::1]:41000",
	    "[2001:db8::25]:25");
	plog_connect(pl, &s);
	line_in(pl, &s, "220 mx.contoso.com ESMTP");
	line_out(pl, &s, "EHLO test.example.org");
	line_in(pl, &s, "250-mx.contoso.com");
	line_in(pl, &s, "250 STARTTLS");
	line_out(pl, &s, "STARTTLS");
	line_in(pl, &s, "220 go ahead");
	memset(&f, 0, sizeof(f));
	snprintf(f.version, sizeof(f.version), "TLSv1.2");
	snprintf(f.cipher, sizeof(f.cipher), "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
	snprintf(f.kx, sizeof(f.kx), "ECDHE-SECP256R1");
	f.peer.present = true;
	f.peer.leaf = *cert;
	f.peer.chain_len = 1;
	plog_local_cert(pl, &s, cert, "SAN covers hostname");
	plog_tls(pl, &s, &f);
	plog_verification(pl, &s, "unknown issuer", "mx.contoso.com not in SAN", NULL);
	plog_policy(pl, &s, "verify", "contoso.com", false, "untrusted issuer CN=Test CA");
	line_out(pl, &s, "QUIT");
	line_in(pl, &s, "221 bye");
	plog_disconnect(pl, &s, "policy failure");
	plog_flush(pl);
}

/* a send session that delivers two pipelined messages over pinned TLS */
static void
send_ok_session(struct plog *pl, const struct tls_cert_facts *cert)
{
	struct tls_session_facts f;
	struct plog_session s;

	begin(&s, "sendok", "dsmtpc route *", "127.0.0.1:41001", "127.0.0.1:2526");
	plog_connect(pl, &s);
	line_in(pl, &s, "220 hub ESMTP");
	line_out(pl, &s, "EHLO edge.example.org");
	line_in(pl, &s, "250 STARTTLS");
	line_out(pl, &s, "STARTTLS");
	line_in(pl, &s, "220 go ahead");
	memset(&f, 0, sizeof(f));
	snprintf(f.version, sizeof(f.version), "TLSv1.3");
	snprintf(f.cipher, sizeof(f.cipher), "TLS_AES_128_GCM_SHA256");
	snprintf(f.kx, sizeof(f.kx), "ECDHE-X25519");
	f.resumed = true;
	f.peer.present = true;
	f.peer.leaf = *cert;
	f.peer.chain_len = 1;
	plog_tls(pl, &s, &f);
	plog_verification(pl, &s, "ok", "", "hub");
	plog_policy(pl, &s, "pinned", "example.org", true, "pin hub matched");
	line_out(pl, &s, "EHLO edge.example.org");
	line_in(pl, &s, "250 PIPELINING");
	line_out(pl, &s, "MAIL FROM:<a@example.org>");
	line_out(pl, &s, "RCPT TO:<b@hub.example.org>");
	line_out(pl, &s, "DATA");
	line_in(pl, &s, "250 ok");
	line_in(pl, &s, "250 ok");
	line_in(pl, &s, "354 go");
	line_in(pl, &s, "250 2.0.0 queued as 1");
	line_out(pl, &s, "MAIL FROM:<c@example.org>");
	line_out(pl, &s, "RCPT TO:<d@hub.example.org>");
	line_out(pl, &s, "DATA");
	line_in(pl, &s, "250 ok");
	line_in(pl, &s, "250 ok");
	line_in(pl, &s, "354 go");
	line_in(pl, &s, "250 2.0.0 queued as 2");
	line_out(pl, &s, "QUIT");
	line_in(pl, &s, "221 bye");
	plog_disconnect(pl, &s, "quit");
	plog_flush(pl);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "start", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	static char mx[] = "mx.contoso.com", dom[] = "contoso.com", hub[] = "hub.example.org";
	char *san_a[] = { mx, dom }, *san_b[] = { mx, dom }, *san_h[] = { hub };
	struct tls_cert_facts ca, cb, ch;
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct plog *rp, *sp;
	const char *config = NULL;
	long repeat = 1, i;
	int c;

	diag_init(argv[0]);
	gen_sec = 1795522800;	/* 2026-11-24T12:20:00Z */
	while ((c = getopt_long(argc, argv, "c:r:s:q", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'r':
			repeat = strtol(optarg, NULL, 10);
			break;
		case 's':
			gen_sec = (time_t)strtoll(optarg, NULL, 10);
			break;
		case 'q':
			quiet = true;
			break;
		default:
			fprintf(stderr, "usage: plog_gen -c CONFIG [--repeat N] [--start EPOCH] [--quiet]\n");
			return 64;
		}
	}
	config_load_or_exit(config, &cfg);
	plog_set_clock(gen_clock);
	if ((rp = plog_open(&cfg, PLOG_RECEIVE, &err)) == NULL ||
	    (sp = plog_open(&cfg, PLOG_SEND, &err)) == NULL)
		diag_fatalx(EX_DSMTP_CANTCREAT, "%s", err.msg);
	facts(&ca, "mx.contoso.com", 'a', 'A', san_a, 2);
	facts(&cb, "mx.contoso.com", 'b', 'B', san_b, 2);
	facts(&ch, "hub.example.org", 'c', 'C', san_h, 1);
	for (i = 0; i < repeat; i++) {
		recv_tls_session(rp, "contoso1", "192.0.2.10:40001", "mx.contoso.com", &ca,
		    "contoso.com", true, 1);
		recv_tls_session(rp, "contoso2", "192.0.2.10:40002", "mx.contoso.com", &ca,
		    "contoso.com", true, 2);
		/* the same peer now shows another certificate */
		recv_tls_session(rp, "contoso3", "192.0.2.10:40003", "mx.contoso.com", &cb,
		    "contoso.com", true, 1);
		recv_tls_session(rp, "nocert", "198.51.100.7:1234", "mail.fabrikam.com", NULL,
		    "fabrikam.com", false, 1);
		recv_hostile_session(rp);
		send_fail_session(sp, &cb);
		send_ok_session(sp, &ch);
		quiet = true;
	}
	plog_close(rp);
	plog_close(sp);
	config_free(&cfg);
	return 0;
}
