/* check_sts.c: unit tests of the MTA-STS texts (policy/sts_parse.c: the
 * _mta-sts TXT record, the policy file, the mx: pattern match, the cache
 * record) and the STS verdict (policy/sts.c, through policy_judge_send and
 * policy_judge_starttls), with literal facts. */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/unit.h"

static int
txt(const char *s, char id[POLICY_STS_ID_MAX + 1])
{
	char why[200];

	return policy_sts_txt_parse(s, strlen(s), id, why, sizeof(why));
}

START_TEST(test_txt)
{
	char id[POLICY_STS_ID_MAX + 1];

	ck_assert_int_eq(txt("v=STSv1; id=20160831085700Z;", id), 1);
	ck_assert_str_eq(id, "20160831085700Z");
	ck_assert_int_eq(txt("v=STSv1;id=abc", id), 1);
	ck_assert_str_eq(id, "abc");
	ck_assert_int_eq(txt("v=STSv1 ;  id=abc  ; ext=x-y", id), 1);
	ck_assert_str_eq(id, "abc");
	/* unknown fields before the id are ignored, the first id counts */
	ck_assert_int_eq(txt("v=STSv1; foo=bar; id=one; id=two", id), 1);
	ck_assert_str_eq(id, "one");
	/* 32 characters is the most */
	ck_assert_int_eq(txt("v=STSv1; id=01234567890123456789012345678901", id), 1);
	ck_assert_int_eq(txt("v=STSv1; id=012345678901234567890123456789012", id), -1);
	/* not ours: ignored */
	ck_assert_int_eq(txt("v=spf1 -all", id), 0);
	ck_assert_int_eq(txt("v=STSv2; id=abc", id), 0);
	ck_assert_int_eq(txt("id=abc; v=STSv1", id), 0);
	ck_assert_int_eq(txt("v=STSv10; id=abc", id), 0);
	ck_assert_int_eq(txt("", id), 0);
	/* ours, broken */
	ck_assert_int_eq(txt("v=STSv1", id), -1);
	ck_assert_int_eq(txt("v=STSv1;", id), -1);
	ck_assert_int_eq(txt("v=STSv1; id=a-b", id), -1);
	ck_assert_int_eq(txt("v=STSv1; id=", id), -1);
	ck_assert_int_eq(txt("v=STSv1; id", id), -1);
	ck_assert_int_eq(txt("v=STSv1; =x; id=a", id), -1);
	ck_assert_int_eq(txt("v=STSv1; id=a\001b", id), -1);
}
END_TEST

START_TEST(test_txt_select)
{
	const char *t[3];
	size_t l[3];
	char id[POLICY_STS_ID_MAX + 1], why[200];

	t[0] = "v=spf1 -all";
	t[1] = "v=STSv1; id=x1";
	t[2] = "something else";
	for (int i = 0; i < 3; i++)
		l[i] = strlen(t[i]);
	ck_assert_int_eq(policy_sts_txt_select(t, l, 3, id, why, sizeof(why)), 1);
	ck_assert_str_eq(id, "x1");
	ck_assert_int_eq(policy_sts_txt_select(t, l, 1, id, why, sizeof(why)), 0);
	ck_assert_int_eq(policy_sts_txt_select(t, l, 0, id, why, sizeof(why)), 0);
	/* RFC 8461 3.1: two STS records are no policy */
	t[2] = "v=STSv1; id=x2";
	l[2] = strlen(t[2]);
	ck_assert_int_eq(policy_sts_txt_select(t, l, 3, id, why, sizeof(why)), -1);
	ck_assert_str_eq(id, "");
	ck_assert_ptr_nonnull(strstr(why, "no policy"));
}
END_TEST

START_TEST(test_txt_join)
{
	const unsigned char two[] = { 7, 'v', '=', 'S', 'T', 'S', 'v', '1', 5, ';', 'i', 'd', '=', 'a' };
	const unsigned char bad[] = { 9, 'v', '=' };
	const unsigned char nul[] = { 2, 'a', 0 };
	char out[64];

	ck_assert_int_eq(policy_sts_txt_join(two, sizeof(two), out, sizeof(out)), 0);
	ck_assert_str_eq(out, "v=STSv1;id=a");
	ck_assert_int_eq(policy_sts_txt_join(two, sizeof(two), out, 10), -1);
	ck_assert_int_eq(policy_sts_txt_join(bad, sizeof(bad), out, sizeof(out)), -1);
	ck_assert_int_eq(policy_sts_txt_join(nul, sizeof(nul), out, sizeof(out)), -1);
	ck_assert_int_eq(policy_sts_txt_join(two, 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

static int
parse(const char *s, struct policy_sts *p)
{
	char why[200];

	memset(p, 0, sizeof(*p));
	return policy_sts_parse(s, strlen(s), p, why, sizeof(why));
}

START_TEST(test_policy)
{
	struct policy_sts *p = calloc(1, sizeof(*p));
	char big[40 * 40];

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
	    "mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n", p), 0);
	ck_assert_int_eq(p->mode, POLICY_STS_ENFORCE);
	ck_assert_uint_eq(p->max_age, 604800);
	ck_assert_uint_eq(p->nmx, 3);
	ck_assert_str_eq(p->mx[1], "*.example.net");
	ck_assert_str_eq(p->text, "version: STSv1\nmode: enforce\nmx: mail.example.com\n"
	    "mx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800");
	/* LF only, no final newline, unknown keys, spaces, case of mx */
	ck_assert_int_eq(parse("version:STSv1\nfoo: bar\nmode:   testing  \nmx: MX.Example.COM.\n"
	    "max_age: 0", p), 0);
	ck_assert_int_eq(p->mode, POLICY_STS_TESTING);
	ck_assert_str_eq(p->mx[0], "mx.example.com");
	ck_assert_uint_eq(p->max_age, 0);
	/* the first of a repeated field counts (3.2) */
	ck_assert_int_eq(parse("version: STSv1\nmode: testing\nmode: enforce\nmx: a.b\n"
	    "max_age: 5\nmax_age: 9\n", p), 0);
	ck_assert_int_eq(p->mode, POLICY_STS_TESTING);
	ck_assert_uint_eq(p->max_age, 5);
	/* mode none needs no mx */
	ck_assert_int_eq(parse("version: STSv1\nmode: none\nmax_age: 86400\n", p), 0);
	ck_assert_int_eq(p->mode, POLICY_STS_NONE);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 31557600\n", p), 0);
	/* broken */
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 31557601\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 99999999999\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: \n", p), -1);
	ck_assert_int_eq(parse("version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n", p), -1);
	ck_assert_int_eq(parse("mode: enforce\nmx: a.b\nmax_age: 1\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmx: a.b\nmax_age: 1\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmax_age: 1\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforcing\nmx: a.b\nmax_age: 1\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a b\nmax_age: 1\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode enforce\nmx: a.b\nmax_age: 1\n", p), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\x01\nmx: a.b\nmax_age: 1\n", p), -1);
	ck_assert_int_eq(parse("<html>404</html>", p), -1);
	ck_assert_int_eq(parse("", p), -1);
	/* too many patterns */
	big[0] = '\0';
	strcat(big, "version: STSv1\nmode: enforce\nmax_age: 1\n");
	for (int i = 0; i <= POLICY_STS_MX_MAX; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "mx: m%d.a.b\n", i);
	ck_assert_int_eq(parse(big, p), -1);
	free(p);
}
END_TEST

START_TEST(test_mx_match)
{
	ck_assert(policy_sts_mx_matches("mail.example.com", "mail.example.com"));
	ck_assert(policy_sts_mx_matches("mail.example.com", "MAIL.example.com."));
	ck_assert(policy_sts_mx_matches("mail.example.com.", "mail.example.com"));
	ck_assert(!policy_sts_mx_matches("mail.example.com", "mail.example.co"));
	ck_assert(!policy_sts_mx_matches("mail.example.com", "xmail.example.com"));
	/* "*." is exactly one left-most label (RFC 8461 4.1) */
	ck_assert(policy_sts_mx_matches("*.example.com", "mx1.example.com"));
	ck_assert(!policy_sts_mx_matches("*.example.com", "example.com"));
	ck_assert(!policy_sts_mx_matches("*.example.com", "a.mx1.example.com"));
	ck_assert(!policy_sts_mx_matches("*.example.com", ".example.com"));
	ck_assert(!policy_sts_mx_matches("*.example.com", "mx1.example.co"));
	ck_assert(!policy_sts_mx_matches("*.example.com", "mx1xexample.com"));
	ck_assert(!policy_sts_mx_matches("", "a"));
	ck_assert(!policy_sts_mx_matches("a", ""));
}
END_TEST

START_TEST(test_cache)
{
	struct policy_sts *p = calloc(1, sizeof(*p)), *q = calloc(1, sizeof(*q));
	char buf[16384], dom[256], why[200];
	int n;

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: *.example.com\nmx: a.example.net\n"
	    "max_age: 86400\n", p), 0);
	snprintf(p->id, sizeof(p->id), "id20260101");
	p->fetched = 1780000000;
	n = policy_sts_cache_format(p, "example.com", buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(policy_sts_cache_parse(buf, (size_t)n, q, dom, sizeof(dom), why,
	    sizeof(why)), 0);
	ck_assert_str_eq(dom, "example.com");
	ck_assert_str_eq(q->id, "id20260101");
	ck_assert_int_eq(q->fetched, 1780000000);
	ck_assert_int_eq(q->mode, POLICY_STS_ENFORCE);
	ck_assert_uint_eq(q->nmx, 2);
	ck_assert_str_eq(q->text, p->text);
	ck_assert(!policy_sts_expired(q, 1780000000 + 86399));
	ck_assert(policy_sts_expired(q, 1780000000 + 86400));
	/* too small a buffer */
	ck_assert_int_eq(policy_sts_cache_format(p, "example.com", buf, 40), -1);
	/* damage: truncated, other magic, bad fields */
	ck_assert_int_eq(policy_sts_cache_parse(buf, 30, q, dom, sizeof(dom), why, sizeof(why)), -1);
	ck_assert_int_eq(policy_sts_cache_parse("dsmtp-sts-cache 2\n", 18, q, dom, sizeof(dom), why,
	    sizeof(why)), -1);
	{
		const char *bad[] = {
			"dsmtp-sts-cache 1\ndomain: a/b\nid: x\nfetched: 1\n\nversion: STSv1\nmode: none\nmax_age: 1\n",
			"dsmtp-sts-cache 1\ndomain: a\nid: x-y\nfetched: 1\n\nversion: STSv1\nmode: none\nmax_age: 1\n",
			"dsmtp-sts-cache 1\ndomain: a\nid: x\nfetched: -1\n\nversion: STSv1\nmode: none\nmax_age: 1\n",
			"dsmtp-sts-cache 1\ndomain: a\nid: x\n\nversion: STSv1\nmode: none\nmax_age: 1\n",
			"dsmtp-sts-cache 1\ndomain: a\nid: x\nfetched: 1\nextra: 1\n\nversion: STSv1\nmode: none\nmax_age: 1\n",
			"dsmtp-sts-cache 1\ndomain: a\nid: x\nfetched: 1\n\nversion: STSv1\nmode: enforce\nmax_age: 1\n",
			"dsmtp-sts-cache 1\ndomain: a\nid: x\nfetched: 99999999999999999\n\nversion: STSv1\nmode: none\nmax_age: 1\n",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ck_assert_msg(policy_sts_cache_parse(bad[i], strlen(bad[i]), q, dom, sizeof(dom),
			    why, sizeof(why)) == -1, "bad[%zu] accepted", i);
	}
	free(p);
	free(q);
}
END_TEST

/* the STS verdict over literal facts */
START_TEST(test_verdict)
{
	struct policy_sts *sts = calloc(1, sizeof(*sts));
	struct tls_session_facts f;
	struct policy_dest d;
	struct policy_verdict v;
	char name[] = "mx.example.com";
	char *san[] = { name };

	ck_assert_ptr_nonnull(sts);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 9\n",
	    sts), 0);
	memset(&d, 0, sizeof(d));
	memset(&f, 0, sizeof(f));
	d.level = LEVEL_OPPORTUNISTIC;
	d.domain = "example.com";
	d.hostname = "mx.example.com";
	d.sts = sts;
	f.peer.present = true;
	f.peer.chain = TLS_CHAIN_OK;
	f.peer.leaf.san = san;
	f.peer.leaf.nsan = 1;
	ck_assert(policy_dest_requires_tls(&d));
	/* enforce: a good chain and name pass */
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert_msg(v.pass, "%s", v.reason);
	ck_assert_ptr_null(v.sts_result);
	/* the wrong name: deferred, certificate-host-mismatch */
	d.hostname = "other.example.com";
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert(!v.pass && v.defer && !v.plaintext);
	ck_assert_str_eq(v.sts_result, "certificate-host-mismatch");
	ck_assert_ptr_nonnull(strstr(v.reason, "sts: "));
	d.hostname = "mx.example.com";
	/* untrusted, expired */
	f.peer.chain = TLS_CHAIN_UNKNOWN_ISSUER;
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert(!v.pass && v.defer);
	ck_assert_str_eq(v.sts_result, "certificate-not-trusted");
	f.peer.chain = TLS_CHAIN_EXPIRED;
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert_str_eq(v.sts_result, "certificate-expired");
	/* no STARTTLS, failed handshake: deferred, never plaintext */
	policy_judge_starttls(&d, false, &v);
	ck_assert(!v.pass && v.defer && !v.plaintext);
	ck_assert_str_eq(v.sts_result, "starttls-not-supported");
	policy_judge_send(NULL, &d, false, NULL, &v);
	ck_assert(!v.pass && v.defer && !v.plaintext);
	/* testing: the same failures pass, recorded */
	sts->mode = POLICY_STS_TESTING;
	ck_assert(!policy_dest_requires_tls(&d));
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert(v.pass);
	ck_assert_str_eq(v.sts_result, "certificate-expired");
	policy_judge_starttls(&d, false, &v);
	ck_assert(v.pass && v.plaintext);
	ck_assert_str_eq(v.sts_result, "starttls-not-supported");
	/* none: nothing */
	sts->mode = POLICY_STS_NONE;
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert(v.pass);
	ck_assert_ptr_null(v.sts_result);
	/* enforce at level dane: usable TLSA records win */
	sts->mode = POLICY_STS_ENFORCE;
	d.level = LEVEL_DANE;
	d.dane = POLICY_DANE_USABLE;
	ck_assert(!policy_dest_sts(&d));
	d.dane = POLICY_DANE_INSECURE;
	ck_assert(policy_dest_sts(&d));
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert(!v.pass && v.defer);
	ck_assert_str_eq(v.sts_result, "certificate-expired");
	/* levels above opportunistic keep their own rules */
	d.level = LEVEL_VERIFY;
	ck_assert(!policy_dest_sts(&d));
	free(sts);
}
END_TEST

static Suite *
sts_suite(void)
{
	Suite *s = suite_create("sts");
	TCase *tc = tcase_create("sts");

	tcase_add_test(tc, test_txt);
	tcase_add_test(tc, test_txt_select);
	tcase_add_test(tc, test_txt_join);
	tcase_add_test(tc, test_policy);
	tcase_add_test(tc, test_mx_match);
	tcase_add_test(tc, test_cache);
	tcase_add_test(tc, test_verdict);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(sts_suite());
}
