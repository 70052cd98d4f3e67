/* check_metrics.c: unit tests of metrics/metrics.c: counts made by forked
 * processes (as dsmtpd's workers) add up in the shared mapping; verdict
 * reasons map to RFC 8460 result types; a peer's certificate change is
 * counted once and the table stays bounded; label values from our
 * certificates are escaped; nothing is counted before metrics_init. */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "tls/tls.h"
#include "tests/unit/unit.h"

/* the value of one series in the exposition, -1 if absent */
static long long
value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atoll(p + n + 1);
	return -1;
}

static char *
render(void)
{
	size_t len;
	char *t = metrics_render(NULL, &len);

	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(strlen(t), len);
	return t;
}

START_TEST(test_off_until_init)
{
	size_t len;

	metrics_session("TLSv1.3", TLS_CHAIN_OK);	/* no mapping: nothing, no crash */
	ck_assert(!metrics_enabled());
	ck_assert_ptr_null(metrics_render(NULL, &len));
}
END_TEST

START_TEST(test_workers_add_up)
{
	struct dsmtp_err err;
	enum { NPROC = 4, EACH = 5000 };
	pid_t pids[NPROC];
	char *t;

	ck_assert_int_eq(metrics_init(METRICS_RECEIVE, &err), 0);
	for (int i = 0; i < NPROC; i++) {
		ck_assert_int_ge(pids[i] = fork(), 0);
		if (pids[i] == 0) {
			for (int k = 0; k < EACH; k++) {
				metrics_session(k % 2 ? "TLSv1.3" : NULL, k % 2 ? TLS_CHAIN_OK :
				    TLS_CHAIN_NO_CERT);
				metrics_message(k % 10 ? 250 : 554);
			}
			metrics_session("TLSv1.2", METRICS_CERT_PINNED);
			metrics_message(421);
			metrics_message(599);
			_exit(0);
		}
	}
	for (int i = 0; i < NPROC; i++) {
		int st;

		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	t = render();
	ck_assert_int_eq(value(t, "dsmtpd_sessions_total{tls=\"TLSv1.3\",client_cert=\"ok\"}"),
	    NPROC * EACH / 2);
	ck_assert_int_eq(value(t, "dsmtpd_sessions_total{tls=\"none\",client_cert=\"no-certificate\"}"),
	    NPROC * EACH / 2);
	ck_assert_int_eq(value(t, "dsmtpd_sessions_total{tls=\"TLSv1.2\",client_cert=\"pinned\"}"),
	    NPROC);
	ck_assert_int_eq(value(t, "dsmtpd_messages_total{result=\"accepted\",code=\"250\"}"),
	    NPROC * EACH * 9 / 10);
	ck_assert_int_eq(value(t, "dsmtpd_messages_total{result=\"refused\",code=\"554\"}"),
	    NPROC * EACH / 10);
	ck_assert_int_eq(value(t, "dsmtpd_messages_total{result=\"refused\",code=\"421\"}"), NPROC);
	ck_assert_int_eq(value(t, "dsmtpd_messages_total{result=\"refused\",code=\"5xx\"}"), NPROC);
	/* the send families are not in dsmtpd's exposition */
	ck_assert_ptr_null(strstr(t, "dsmtpc_"));
	free(t);
	metrics_fini();
}
END_TEST

START_TEST(test_result_types)
{
	static const struct {
		const char *reason, *type;
	} cases[] = {
		{ "no-tls: STARTTLS not offered", "starttls-not-supported" },
		{ "chain: the certificate expired on ...", "certificate-expired" },
		{ "chain: unknown issuer", "certificate-not-trusted" },
		{ "san-mismatch: mx.example not in [a.example]", "certificate-host-mismatch" },
		{ "hostname-mismatch: x", "certificate-host-mismatch" },
		{ "tlsa-mismatch: none of 2", "tlsa-invalid" },
		{ "dnssec-invalid: bogus", "dnssec-invalid" },
		{ "dane-insecure: no TLSA", "dane-required" },
		{ "pin-mismatch: hub", "pin-mismatch" },
		{ "no-peer-cert", "no-peer-certificate" },
		{ "sts: MTA-STS policy of a.example (mode enforce): no TLS", "mta-sts" },
		{ "stsx: not a word we know", "other" },
		{ "chainsaw: not a word we know", "other" },
		{ "", "other" },
	};
	struct dsmtp_err err;
	char *t;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_str_eq(metrics_result_type("verify", cases[i].reason), cases[i].type);
	ck_assert_str_eq(metrics_result_type(NULL, NULL), "other");
	ck_assert_str_eq(metrics_result_type("memory", "security memory: a.example showed ..."),
	    "security-memory");
	ck_assert_str_eq(metrics_result_type("requiretls", "no TLS"), "requiretls");
	ck_assert_int_eq(metrics_init(METRICS_SEND, &err), 0);
	metrics_policy_failure("verify", "pin-mismatch: hub");
	metrics_policy_failure("verify", "pin-mismatch: hub");
	metrics_policy_failure("verify", "whatever a peer says");
	metrics_delivery(LEVEL_VERIFY, METRICS_DELIVERED);
	metrics_delivery((enum dsmtp_level)99, METRICS_DELIVERED);	/* out of range: ignored */
	metrics_connection("TLSv1.3");
	metrics_connection("SSL3.0");
	t = render();
	ck_assert_int_eq(value(t, "dsmtpc_policy_failures_total{result_type=\"pin-mismatch\"}"), 2);
	ck_assert_int_eq(value(t, "dsmtpc_policy_failures_total{result_type=\"other\"}"), 1);
	ck_assert_int_eq(value(t, "dsmtpc_deliveries_total{level=\"verify\",outcome=\"delivered\"}"), 1);
	ck_assert_int_eq(value(t, "dsmtpc_connections_total{tls=\"TLSv1.3\"}"), 1);
	ck_assert_int_eq(value(t, "dsmtpc_connections_total{tls=\"other\"}"), 1);
	ck_assert_ptr_null(strstr(t, "dsmtpd_"));
	free(t);
	metrics_fini();
}
END_TEST

START_TEST(test_peer_cert_changes)
{
	static const char a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	struct dsmtp_err err;
	char peer[64], *t;

	ck_assert_int_eq(metrics_init(METRICS_RECEIVE, &err), 0);
	metrics_peer_cert("mx.partner.example", a);
	metrics_peer_cert("mx.partner.example", a);	/* the same: no change */
	metrics_peer_cert("mx.partner.example", b);	/* changed */
	metrics_peer_cert("other.example", b);		/* another peer: first seen */
	metrics_peer_cert("mx.partner.example", "not hex");	/* ignored */
	/* many more peers than the table holds: bounded, no false change */
	for (int i = 0; i < 5000; i++) {
		snprintf(peer, sizeof(peer), "peer%d.example", i);
		metrics_peer_cert(peer, a);
	}
	t = render();
	ck_assert_int_eq(value(t, "dsmtpd_peer_certificate_changes_total"), 1);
	free(t);
	metrics_fini();
}
END_TEST

START_TEST(test_cert_labels_escaped)
{
	struct tls_cert_facts f1, f2;
	const struct tls_cert_facts *v[3] = { &f1, &f2, &f1 };
	struct dsmtp_err err;
	char *t;

	memset(&f1, 0, sizeof(f1));
	memset(&f2, 0, sizeof(f2));
	snprintf(f1.subject, sizeof(f1.subject), "CN=a\"b\\c\nd,O=x");
	snprintf(f1.sha256, sizeof(f1.sha256), "%s", "0123456789abcdef0123456789abcdef");
	f1.not_after = 1900000000;
	snprintf(f2.subject, sizeof(f2.subject), "CN=mail.example.com");
	snprintf(f2.sha256, sizeof(f2.sha256), "%s", "fedcba9876543210fedcba9876543210");
	f2.not_after = 1800000000;
	ck_assert_int_eq(metrics_init(METRICS_RECEIVE, &err), 0);
	metrics_certs_set(v, 3);	/* the repeated one shown once */
	t = render();
	ck_assert_int_eq(value(t, "dsmtpd_certificate_expiry_timestamp_seconds{subject="
	    "\"CN=a\\\"b\\\\c\\nd,O=x\",sha256=\"0123456789abcdef\"}"), 1900000000);
	ck_assert_int_eq(value(t, "dsmtpd_certificate_expiry_timestamp_seconds{subject="
	    "\"CN=mail.example.com\",sha256=\"fedcba9876543210\"}"), 1800000000);
	ck_assert_ptr_null(strstr(strstr(t, "fedcba9876543210") + 1, "fedcba9876543210"));
	free(t);
	metrics_fini();
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *c = tcase_create("counters");

	tcase_add_test(c, test_off_until_init);
	tcase_add_test(c, test_workers_add_up);
	tcase_add_test(c, test_result_types);
	tcase_add_test(c, test_peer_cert_changes);
	tcase_add_test(c, test_cert_labels_escaped);
	tcase_set_timeout(c, UNIT_TIMEOUT);
	suite_add_tcase(s, c);
	return s;
}

int
main(void)
{
	return unit_run(metrics_suite());
}
