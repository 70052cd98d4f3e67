/* check_tlsrpt.c: unit tests of TLS reporting's pure parts: the
 * _smtp._tls TXT record parser and RRset selection (common/tlsrpt_txt.c,
 * RFC 8460 section 3), the gzip and the report message
 * (smtpc/tlsrpt_mail.c, RFC 8460 5.3), and the record value encoding
 * (smtpc/tlsrpt.c). */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/tlsrpt_txt.h"
#include "smtpc/tlsrpt.h"
#include "tests/unit/unit.h"

static int
parse(const char *s, struct tlsrpt_txt *t, char *why)
{
	return tlsrpt_txt_parse(s, strlen(s), t, why, 160);
}

START_TEST(test_txt_good)
{
	struct tlsrpt_txt t;
	char why[160];

	ck_assert_int_eq(parse("v=TLSRPTv1; rua=mailto:reports@example.com", &t, why), 0);
	ck_assert_uint_eq(t.n, 1);
	ck_assert_int_eq(t.rua[0].kind, TLSRPT_RUA_MAILTO);
	ck_assert_str_eq(t.rua[0].addr, "reports@example.com");
	ck_assert_int_eq(parse("v=TLSRPTv1;rua=mailto:a@x.example , https://r.example/tlsrpt ;", &t,
	    why), 0);
	ck_assert_uint_eq(t.n, 2);
	ck_assert_str_eq(t.rua[0].addr, "a@x.example");
	ck_assert_int_eq(t.rua[1].kind, TLSRPT_RUA_HTTPS);
	ck_assert_str_eq(t.rua[1].uri, "https://r.example/tlsrpt");
	/* an extension is skipped; an unknown scheme is ignored, not fatal */
	ck_assert_int_eq(parse("v=TLSRPTv1; ext_1=yes; rua=ftp://x.example/,mailto:b%40c@d.example",
	    &t, why), -1);	/* two '@' once decoded: not one address */
	ck_assert_int_eq(parse("v=TLSRPTv1; ext_1=yes; rua=ftp://x.example/,mailto:b@d.example",
	    &t, why), 0);
	ck_assert_uint_eq(t.n, 1);
	ck_assert_uint_eq(t.ignored, 1);
	ck_assert_str_eq(t.rua[0].addr, "b@d.example");
	ck_assert_int_eq(parse("v=TLSRPTv1; rua=mailto:tls%2Brpt@d.example", &t, why), 0);
	ck_assert_str_eq(t.rua[0].addr, "tls+rpt@d.example");
}
END_TEST

START_TEST(test_txt_bad)
{
	static const char *const bad[] = {
		"", "v=TLSRPTv2; rua=mailto:a@b.example", "v=tlsrptv1; rua=mailto:a@b.example",
		"v=TLSRPTv1", "v=TLSRPTv1;", "v=TLSRPTv1; rua=", "v=TLSRPTv1 rua=mailto:a@b.example",
		"v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example",
		"v=TLSRPTv1; rua=mailto:nobody", "v=TLSRPTv1; rua=mailto:a@b.example?subject=x",
		"v=TLSRPTv1; rua=http://r.example/", "v=TLSRPTv1; rua=https:///x",
		"v=TLSRPTv1; =x; rua=mailto:a@b.example", "v=TLSRPTv1; x=; rua=mailto:a@b.example",
		"v=TLSRPTv1; rua=mailto:a@b.example\r\nX: y", "v=TLSRPTv1; rua=mailto:%zz@b.example",
		"v=TLSRPTv1; rua=mailto:a@b.example%",
	};
	struct tlsrpt_txt t;
	char why[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(parse(bad[i], &t, why) == -1, "accepted: %s", bad[i]);
		ck_assert_msg(why[0] != '\0', "no reason for: %s", bad[i]);
	}
}
END_TEST

/* rdata: length-prefixed character-strings */
static int
rd(unsigned char *out, const char *const *strs, size_t n)
{
	int len = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(strs[i]);

		out[len++] = (unsigned char)l;
		memcpy(out + len, strs[i], l);
		len += (int)l;
	}
	return len;
}

START_TEST(test_txt_select)
{
	static const char *const a[] = { "v=TLSRPTv1;", "rua=mailto:r@x.example" };
	static const char *const spf[] = { "v=spf1 -all" };
	static const char *const b[] = { "v=TLSRPTv1; rua=https://y.example/" };
	unsigned char r1[300], r2[300], r3[300];
	const unsigned char *rr[3] = { r1, r2, r3 };
	int len[3];
	struct tlsrpt_txt t;
	char why[160];

	len[0] = rd(r1, a, 2);
	len[1] = rd(r2, spf, 1);
	len[2] = rd(r3, b, 1);
	/* strings joined; other records discarded */
	ck_assert_int_eq(tlsrpt_txt_select(rr, len, 2, &t, why, sizeof(why)), 0);
	ck_assert_str_eq(t.rua[0].addr, "r@x.example");
	/* two TLSRPT records: the domain does not do TLS reporting */
	ck_assert_int_eq(tlsrpt_txt_select(rr, len, 3, &t, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "more than one"));
	ck_assert_int_eq(tlsrpt_txt_select(rr + 1, len + 1, 1, &t, why, sizeof(why)), -1);
	/* a string length past the end of the rdata */
	r1[0] = 200;
	ck_assert_int_eq(tlsrpt_txt_select(rr, len, 1, &t, why, sizeof(why)), -1);
}
END_TEST

START_TEST(test_list_encoding)
{
	char out[40] = "";

	ck_assert(tlsrpt_list_add(out, sizeof(out), "3 1 1 ab"));
	ck_assert(tlsrpt_list_add(out, sizeof(out), "a|b;c=d%\\"));
	ck_assert_str_eq(out, "3%201%201%20ab|a%7Cb%3Bc%3Dd%25%5C");
	/* too long: refused, the list unchanged */
	ck_assert(!tlsrpt_list_add(out, sizeof(out), "xxxxx"));
	ck_assert_str_eq(out, "3%201%201%20ab|a%7Cb%3Bc%3Dd%25%5C");
}
END_TEST

START_TEST(test_gzip_mail)
{
	static const char json[] = "{\"organization-name\":\"x\",\"policies\":[]}";
	const char *to[2] = { "a@r.example", "b@r.example" };
	unsigned char *gz, back[200];
	size_t gzlen, mlen;
	struct tlsrpt_mail m;
	z_stream zs;
	char *msg;

	ck_assert_int_eq(tlsrpt_gzip(json, strlen(json), &gz, &gzlen), 0);
	ck_assert_uint_ge(gzlen, 18);
	ck_assert_int_eq(gz[0], 0x1f);
	ck_assert_int_eq(gz[1], 0x8b);
	memset(&zs, 0, sizeof(zs));
	ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = gz;
	zs.avail_in = (uInt)gzlen;
	zs.next_out = back;
	zs.avail_out = sizeof(back);
	ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
	ck_assert_uint_eq(zs.total_out, strlen(json));
	ck_assert(memcmp(back, json, strlen(json)) == 0);
	inflateEnd(&zs);

	memset(&m, 0, sizeof(m));
	m.from = "postmaster@s.example";
	m.to = to;
	m.nto = 2;
	m.domain = "d.example";
	m.submitter = "s.example";
	m.report_id = "2026-12-06T00:00:00Z_d.example_s.example";
	m.start = 1796515200;
	m.end = m.start + 86399;
	m.now = m.start + 90000;
	m.gz = gz;
	m.gzlen = gzlen;
	ck_assert_int_eq(tlsrpt_mail_build(&m, &msg, &mlen), 0);
	ck_assert_uint_eq(strlen(msg), mlen);
	ck_assert_ptr_nonnull(strstr(msg, "\r\nTLS-Report-Domain: d.example\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nTLS-Report-Submitter: s.example\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nTLS-Required: No\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "To: <a@r.example>,\r\n <b@r.example>\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "Subject: Report Domain: d.example\r\n Submitter: s.example\r\n"
	    " Report-ID: <2026-12-06T00:00:00Z_d.example_s.example>\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "Content-Type: multipart/report; report-type=\"tlsrpt\";"));
	ck_assert_ptr_nonnull(strstr(msg, "Content-Type: application/tlsrpt+gzip\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "filename=\"s.example!d.example!1796515200!1796601599.json.gz\""));
	/* no bare LF, no line over 998 */
	for (const char *p = msg, *e; *p; p = e + 1) {
		ck_assert_ptr_nonnull(e = strchr(p, '\n'));
		ck_assert(e > p && e[-1] == '\r');
		ck_assert_int_le(e - p, 998);
	}
	free(msg);
	free(gz);
	m.nto = 0;
	ck_assert_int_eq(tlsrpt_mail_build(&m, &msg, &mlen), -1);
}
END_TEST

static Suite *
tlsrpt_suite(void)
{
	Suite *s = suite_create("tlsrpt");
	TCase *tc = tcase_create("tlsrpt");

	tcase_set_timeout(tc, UNIT_TIMEOUT);
	tcase_add_test(tc, test_txt_good);
	tcase_add_test(tc, test_txt_bad);
	tcase_add_test(tc, test_txt_select);
	tcase_add_test(tc, test_list_encoding);
	tcase_add_test(tc, test_gzip_mail);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(tlsrpt_suite());
}
