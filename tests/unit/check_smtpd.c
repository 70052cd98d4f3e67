/* check_smtpd.c: unit tests of dsmtpd's pure parts: the command parser
 * (verbs, paths, parameters, relay tricks) and the DATA terminator state
 * machine, fed at every split point and one byte at a time. */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "smtpd/cmd.h"
#include "smtpd/data.h"
#include "smtpd/reqtls.h"
#include "tests/unit/unit.h"

/* ---- verbs ---- */

START_TEST(test_verb)
{
	char verb[16];
	const char *args = NULL;

	ck_assert_uint_eq(smtp_cmd_verb("mail FROM:<a@b>", verb, sizeof(verb), &args), 4);
	ck_assert_str_eq(verb, "MAIL");
	ck_assert_str_eq(args, "FROM:<a@b>");
	ck_assert_uint_eq(smtp_cmd_verb("QUIT", verb, sizeof(verb), &args), 4);
	ck_assert_str_eq(args, "");
	ck_assert_uint_eq(smtp_cmd_verb("EHLO   x.org", verb, sizeof(verb), &args), 4);
	ck_assert_str_eq(args, "x.org");
	ck_assert_uint_eq(smtp_cmd_verb("MAIL:x", verb, sizeof(verb), &args), 0);
	ck_assert_uint_eq(smtp_cmd_verb("", verb, sizeof(verb), &args), 0);
	ck_assert_uint_eq(smtp_cmd_verb("\x16\x03\x01", verb, sizeof(verb), &args), 0);
	ck_assert_uint_eq(smtp_cmd_verb("VERYLONGVERBINDEEDXX", verb, sizeof(verb), &args), 0);
}
END_TEST

/* ---- paths ---- */

static const struct {
	const char *args, *want;	/* want: FROM/TO */
	int rc;
	const char *addr;		/* or the reply prefix when rc = -1 */
	int trick, route, literal, null, utf8;
} paths[] = {
	{ "FROM:<a@example.com>", "FROM", 0, "a@example.com", 0, 0, 0, 0, 0 },
	{ "from:<A.B@Example.COM.>", "FROM", 0, "A.B@example.com", 0, 0, 0, 0, 0 },
	{ "FROM: <a@example.com>", "FROM", 0, "a@example.com", 0, 0, 0, 0, 0 },
	{ "FROM:<>", "FROM", 0, "", 0, 0, 0, 1, 0 },
	{ "FROM:<> SIZE=10", "FROM", 0, "", 0, 0, 0, 1, 0 },
	{ "TO:<\"john doe\"@example.com>", "TO", 0, "\"john doe\"@example.com", 0, 0, 0, 0, 0 },
	{ "TO:<\"a@b\"@example.com>", "TO", 0, "\"a@b\"@example.com", 1, 0, 0, 0, 0 },
	{ "TO:<\"a\\@b\"@example.com>", "TO", 0, "\"a\\@b\"@example.com", 1, 0, 0, 0, 0 },
	{ "TO:<u%evil.com@example.com>", "TO", 0, "u%evil.com@example.com", 1, 0, 0, 0, 0 },
	{ "TO:<evil.com!u@example.com>", "TO", 0, "evil.com!u@example.com", 1, 0, 0, 0, 0 },
	{ "TO:<@a.org,@b.org:u@c.org>", "TO", 0, "u@c.org", 0, 1, 0, 0, 0 },
	{ "TO:<u@[192.0.2.1]>", "TO", 0, "u@[192.0.2.1]", 0, 0, 1, 0, 0 },
	{ "TO:<u@[IPv6:2001:db8::1]>", "TO", 0, "u@[ipv6:2001:db8::1]", 0, 0, 1, 0, 0 },
	{ "TO:<postmaster>", "TO", 0, "postmaster", 0, 0, 0, 0, 0 },
	{ "TO:<Postmaster>", "TO", 0, "postmaster", 0, 0, 0, 0, 0 },
	{ "TO:<j\xc3\xb6rg@example.com>", "TO", 0, "j\xc3\xb6rg@example.com", 0, 0, 0, 0, 1 },
	{ "TO:<u@b\xc3\xbc.de>", "TO", 0, "u@b\xc3\xbc.de", 0, 0, 0, 0, 1 },
	/* found by fuzzing: an 8-bit domain is held to a domain's shape */
	{ "TO:<u@\xc3\xa9xample\x01\x1b[2J.org>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u@\xc3\xa9@evil.example>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u@\xc3\xa9xample\r.org>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u@\xc2\x9bxample.org>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u@\xff.org>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u@B\xc3\xbc.DE>", "TO", 0, "u@b\xc3\xbc.de", 0, 0, 0, 0, 1 },
	{ "TO:<u@[300.1.1.1]>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u@[IPv6:zz]>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:u@example.com", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u@example.com", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<@a.org:u>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<.u@example.com>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u.@example.com>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u..v@example.com>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u v@example.com>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u@exa mple.com>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u@example..com>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u@>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<\"unterminated@example.com>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<\"a\rb\"@example.com>", "TO", -1, "501 5.1.3", 0, 0, 0, 0, 0 },
	{ "TO:<u@example.com>x", "TO", -1, "501 5.5.4", 0, 0, 0, 0, 0 },
	{ "FROM:<u@example.com>", "TO", -1, "501 5.5.4", 0, 0, 0, 0, 0 },
	{ "TO <u@example.com>", "TO", -1, "501 5.5.4", 0, 0, 0, 0, 0 },
	{ "TO:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com>",
	  "TO", -1, "501 5.1.3 Local part longer", 0, 0, 0, 0, 0 },
};

START_TEST(test_path)
{
	struct smtp_path p;
	const char *params = NULL;
	char reply[256] = "";
	int rc = smtp_cmd_path(paths[_i].args, paths[_i].want, &p, &params, reply, sizeof(reply));

	ck_assert_msg(rc == paths[_i].rc, "case %d (%s): rc %d, reply %s", _i, paths[_i].args, rc, reply);
	if (rc < 0) {
		ck_assert_msg(strncmp(reply, paths[_i].addr, strlen(paths[_i].addr)) == 0,
		    "case %d: reply \"%s\"", _i, reply);
		return;
	}
	ck_assert_str_eq(p.null ? "" : p.addr, paths[_i].addr);
	ck_assert_int_eq(p.trick, paths[_i].trick);
	ck_assert_int_eq(p.had_route, paths[_i].route);
	ck_assert_int_eq(p.domain_literal, paths[_i].literal);
	ck_assert_int_eq(p.null, paths[_i].null);
	ck_assert_int_eq(p.utf8, paths[_i].utf8);
}
END_TEST

START_TEST(test_long_path)
{
	char args[600], reply[256];
	struct smtp_path p;
	const char *params;
	size_t n;

	/* 64-octet local part and a 250-octet domain: path over 256 */
	n = (size_t)snprintf(args, sizeof(args), "TO:<%.64s@", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	for (int i = 0; i < 4; i++)
		n += (size_t)snprintf(args + n, sizeof(args) - n, "%.60s.", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	snprintf(args + n, sizeof(args) - n, "com>");
	ck_assert_int_eq(smtp_cmd_path(args, "TO", &p, &params, reply, sizeof(reply)), -1);
	ck_assert_ptr_nonnull(strstr(reply, "256"));
}
END_TEST

START_TEST(test_mail_params)
{
	struct smtp_mail_params mp;
	char reply[256];

	ck_assert_int_eq(smtp_cmd_mail_params("SIZE=1000 BODY=8BITMIME SMTPUTF8", &mp, reply, sizeof(reply)), 0);
	ck_assert(mp.has_size);
	ck_assert_uint_eq(mp.size, 1000);
	ck_assert(mp.body_8bit);
	ck_assert(mp.smtputf8);
	ck_assert_int_eq(smtp_cmd_mail_params("", &mp, reply, sizeof(reply)), 0);
	ck_assert(!mp.has_size);
	ck_assert_int_eq(smtp_cmd_mail_params("body=7bit", &mp, reply, sizeof(reply)), 0);
	ck_assert_int_eq(smtp_cmd_mail_params("SIZE=12x", &mp, reply, sizeof(reply)), -1);
	ck_assert_str_eq(reply, "501 5.5.4 Bad SIZE value");
	ck_assert_int_eq(smtp_cmd_mail_params("SIZE=99999999999999999999", &mp, reply, sizeof(reply)), -1);
	ck_assert_int_eq(smtp_cmd_mail_params("BODY=BINARYMIME", &mp, reply, sizeof(reply)), -1);
	ck_assert_int_eq(smtp_cmd_mail_params("AUTH=<>", &mp, reply, sizeof(reply)), -1);
	ck_assert_ptr_nonnull(strstr(reply, "555 5.5.4"));
	/* found by fuzzing: a keyword must be a keyword, SMTPUTF8 takes no value */
	ck_assert_int_eq(smtp_cmd_mail_params("=x SIZE=junk", &mp, reply, sizeof(reply)), -1);
	ck_assert_str_eq(reply, "501 5.5.4 Bad MAIL parameter syntax");
	ck_assert_int_eq(smtp_cmd_mail_params("X\x1b]2;owned\x07\rY", &mp, reply, sizeof(reply)), -1);
	ck_assert_str_eq(reply, "501 5.5.4 Bad MAIL parameter syntax");
	ck_assert_int_eq(smtp_cmd_mail_params("SMTPUTF8=", &mp, reply, sizeof(reply)), -1);
	ck_assert_int_eq(smtp_cmd_mail_params("SIZE=1  ", &mp, reply, sizeof(reply)), 0);
	ck_assert_int_eq(smtp_cmd_rcpt_params("", reply, sizeof(reply)), 0);
	ck_assert_int_eq(smtp_cmd_rcpt_params("NOTIFY=NEVER", reply, sizeof(reply)), -1);
	/* RFC 8689: REQUIRETLS takes no value and comes once */
	ck_assert_int_eq(smtp_cmd_mail_params("SIZE=1 requiretls", &mp, reply, sizeof(reply)), 0);
	ck_assert(mp.requiretls);
	ck_assert_int_eq(smtp_cmd_mail_params("SIZE=1", &mp, reply, sizeof(reply)), 0);
	ck_assert(!mp.requiretls);
	ck_assert_int_eq(smtp_cmd_mail_params("REQUIRETLS=yes", &mp, reply, sizeof(reply)), -1);
	ck_assert_int_eq(smtp_cmd_mail_params("REQUIRETLS REQUIRETLS", &mp, reply, sizeof(reply)), -1);
}
END_TEST

START_TEST(test_reqtls_rules)
{
	char reply[256];

	ck_assert(!smtpd_reqtls_offer(true, false));
	ck_assert(smtpd_reqtls_offer(true, true));
	ck_assert(!smtpd_reqtls_offer(false, true));
	ck_assert_int_eq(smtpd_reqtls_mail(true, true, reply, sizeof(reply)), 0);
	ck_assert_int_eq(smtpd_reqtls_mail(true, false, reply, sizeof(reply)), -1);
	ck_assert_ptr_nonnull(strstr(reply, "530 5.7.10 "));
	ck_assert_int_eq(smtpd_reqtls_mail(false, true, reply, sizeof(reply)), -1);
	ck_assert_ptr_nonnull(strstr(reply, "555 5.5.4 "));
}
END_TEST

/* "TLS-Required: No" in the header, fed in pieces of every size */
static const struct {
	const char	*msg;
	bool		 found;
} hdrs[] = {
	{ "Subject: x\r\nTLS-Required: No\r\n\r\nbody\r\n", true },
	{ "tls-required:no\r\n\r\n", true },
	{ "TLS-Required : \t NO \r\nX: y\r\n\r\n", true },
	{ "TLS-Required:\r\n No\r\n\r\n", true },		/* folded */
	{ "Subject: x\r\n\r\nTLS-Required: No\r\n", false },	/* in the body */
	{ "TLS-Required: Yes\r\n\r\n", false },
	{ "TLS-Required: Nope\r\n\r\n", false },
	{ "X-TLS-Required: No\r\n\r\n", false },
	{ "TLS-RequiredX: No\r\n\r\n", false },
	{ "Subject: TLS-Required: No\r\n\r\n", false },
	{ "Subject: a\r\n TLS-Required: No\r\n\r\n", false },	/* a continuation */
	{ "TLS-Required: No", true },				/* header only, no CRLF */
	{ "TLS-Requ\rired: No\r\n\r\n", false },		/* found by fuzzing: a bare CR stays */
	{ "TLS-Required: No\r", false },
	{ "", false },
};

START_TEST(test_hdrscan)
{
	const char *m = hdrs[_i].msg;
	size_t len = strlen(m);

	for (size_t step = 1; step <= len + 1; step++) {
		struct smtpd_hdrscan h;

		smtpd_hdrscan_init(&h);
		for (size_t off = 0; off < len; off += step)
			smtpd_hdrscan_feed(&h, m + off, off + step > len ? len - off : step);
		smtpd_hdrscan_end(&h);
		ck_assert_msg(h.tls_optional == hdrs[_i].found, "case %d step %zu", _i, step);
	}
	/* a field longer than the buffer is not it, and does not overflow */
	{
		struct smtpd_hdrscan h;
		char big[600];

		memset(big, 'a', sizeof(big));
		memcpy(big, "TLS-Required: No", 16);
		smtpd_hdrscan_init(&h);
		smtpd_hdrscan_feed(&h, big, sizeof(big));
		smtpd_hdrscan_feed(&h, "\r\n\r\n", 4);
		ck_assert(!h.tls_optional);
	}
}
END_TEST

/* ---- DATA ---- */

static int
store(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n);
}

static const struct {
	const char *in;		/* everything the client sends after 354 */
	const char *body;	/* what is stored */
	size_t consumed;	/* bytes up to and including the end; 0 = no end */
	bool bare;
} datas[] = {
	{ "Subject: x\r\n\r\nhello\r\n.\r\n", "Subject: x\r\n\r\nhello\r\n", 0, false },
	{ ".\r\n", "", 0, false },
	{ "a\r\n..b\r\n.\r\n", "a\r\n.b\r\n", 0, false },
	{ "a\r\n...\r\n.\r\nQUIT\r\n", "a\r\n..\r\n", 11, false },
	{ "a\r\n.\r\nMAIL FROM:<x@y>\r\n", "a\r\n", 6, false },
	/* smuggling: none of these ends the data */
	{ "a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", 0, true },
	{ "a\r\n.\nb\r\n.\r\n", "a\r\n\nb\r\n", 0, true },
	{ "a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", 0, true },
	{ "a\r.\rb\r\n.\r\n", "a\r.\rb\r\n", 0, true },
	{ "a\r\n.\rb\r\n.\r\n", "a\r\n.\rb\r\n", 0, true },
	{ "a\r.\r\nb\r\n.\r\n", "a\r.\r\nb\r\n", 0, true },
	{ "a\r\n\x00.\r\n.\r\n", "a\r\n\x00.\r\n", 0, false },
};

static size_t
data_len(int i)
{
	/* the NUL case: its length counted by hand */
	return i == 11 ? 10 : strlen(datas[i].in);
}

static size_t
body_len(int i)
{
	return i == 11 ? 7 : strlen(datas[i].body);
}

/* the same answer whatever the split: at every point, and byte by byte */
START_TEST(test_data_splits)
{
	size_t len = data_len(_i), want = datas[_i].consumed ? datas[_i].consumed : len;

	for (size_t split = 0; split <= len + 1; split++) {
		struct smtpd_data d;
		struct buf out = { 0 };
		bool failed = false;
		size_t used = 0;

		smtpd_data_init(&d, 1 << 20);
		if (split <= len) {
			used = smtpd_data_feed(&d, datas[_i].in, split, store, &out, &failed);
			if (d.st != DATA_DONE)
				used += smtpd_data_feed(&d, datas[_i].in + used, len - used, store, &out, &failed);
		} else {
			for (size_t k = 0; k < len && d.st != DATA_DONE; k++)
				used += smtpd_data_feed(&d, datas[_i].in + k, 1, store, &out, &failed);
		}
		ck_assert_msg(d.st == DATA_DONE, "case %d split %zu: no end", _i, split);
		ck_assert_msg(used == want, "case %d split %zu: consumed %zu, want %zu", _i, split, used, want);
		ck_assert_uint_eq(buf_avail(&out), body_len(_i));
		/* (an empty body leaves the buffer unallocated: no memcmp on NULL) */
		ck_assert_msg(body_len(_i) == 0 || memcmp(buf_head(&out), datas[_i].body, body_len(_i)) == 0,
		    "case %d split %zu: body differs", _i, split);
		ck_assert_int_eq(d.bare, datas[_i].bare);
		ck_assert(!failed);
		buf_free(&out);
	}
}
END_TEST

START_TEST(test_data_limits)
{
	struct smtpd_data d;
	struct buf out = { 0 };
	bool failed = false;
	char line[1100];

	memset(line, 'x', sizeof(line));
	memcpy(line + 999, "\r\n", 2);	/* 999 octets of text + CRLF: over 1000 */
	smtpd_data_init(&d, 1 << 20);
	smtpd_data_feed(&d, line, 1001, store, &out, &failed);
	smtpd_data_feed(&d, ".\r\n", 3, store, &out, &failed);
	ck_assert(d.st == DATA_DONE);
	ck_assert(d.too_long);
	buf_free(&out);

	smtpd_data_init(&d, 1 << 20);
	memcpy(line + 998, "\r\n", 2);	/* exactly 1000 with CRLF: fine */
	smtpd_data_feed(&d, line, 1000, store, &out, &failed);
	smtpd_data_feed(&d, ".\r\n", 3, store, &out, &failed);
	ck_assert(!d.too_long);
	buf_free(&out);

	smtpd_data_init(&d, 10);
	smtpd_data_feed(&d, "0123456789abc\r\n.\r\n", 18, store, &out, &failed);
	ck_assert(d.st == DATA_DONE);
	ck_assert(d.too_big);
	ck_assert_uint_le(buf_avail(&out), 10);
	buf_free(&out);
}
END_TEST

static int
store_fail(void *arg, const char *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return -1;
}

START_TEST(test_data_store_failure)
{
	struct smtpd_data d;
	bool failed = false;

	/* a failed store (disk full) stops storing but not parsing: the
	 * session still finds the end and answers 452, in step */
	smtpd_data_init(&d, 1 << 20);
	ck_assert_uint_eq(smtpd_data_feed(&d, "a\r\n.\r\nNOOP\r\n", 12, store_fail, NULL, &failed), 6);
	ck_assert(failed);
	ck_assert(d.st == DATA_DONE);
}
END_TEST

START_TEST(test_bdat_raw)
{
	struct smtpd_data d;
	struct buf out = { 0 };
	bool failed = false;

	smtpd_data_init(&d, 1 << 20);
	smtpd_data_feed_raw(&d, "a\r", 2, store, &out, &failed);
	smtpd_data_feed_raw(&d, "\nb\r\n", 4, store, &out, &failed);
	ck_assert(!d.bare);
	ck_assert_uint_eq(buf_avail(&out), 6);
	smtpd_data_feed_raw(&d, "c\nd", 3, store, &out, &failed);
	ck_assert(d.bare);
	buf_free(&out);
}
END_TEST

static Suite *
smtpd_suite(void)
{
	Suite *s = suite_create("smtpd");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_verb);
	tcase_add_loop_test(tc, test_path, 0, (int)(sizeof(paths) / sizeof(paths[0])));
	tcase_add_test(tc, test_long_path);
	tcase_add_test(tc, test_mail_params);
	tcase_add_test(tc, test_reqtls_rules);
	tcase_add_loop_test(tc, test_hdrscan, 0, (int)(sizeof(hdrs) / sizeof(hdrs[0])));
	tcase_add_loop_test(tc, test_data_splits, 0, (int)(sizeof(datas) / sizeof(datas[0])));
	tcase_add_test(tc, test_data_limits);
	tcase_add_test(tc, test_data_store_failure);
	tcase_add_test(tc, test_bdat_raw);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(smtpd_suite());
}
