/* check_smtpc.c: unit tests of dsmtpc's pure parts: the reply parser
 * (multi-line, every split point, one byte at a time, oversized and
 * malformed input), the retry schedule and the RFC 3464 DSN builder. */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc/smtpc.h"
#include "tests/unit/unit.h"

struct reply_case {
	const char	*in;
	int		 code;		/* of the first reply, 0: error expected */
	size_t		 nlines;
	const char	*flat;		/* smtpc_reply_flat of it, or NULL */
	const char	*status;	/* smtpc_reply_status, or NULL */
};

static const struct reply_case reply_cases[] = {
	{ "220 mx.example.com ESMTP\r\n", 220, 1, "220 mx.example.com ESMTP", "2.0.0" },
	{ "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 STARTTLS\r\n", 250, 4,
	  "250-mx.example.com / PIPELINING / SIZE 1000 / STARTTLS", NULL },
	{ "550 5.1.1 <x@y>: Recipient address rejected\r\n", 550, 1, NULL, "5.1.1" },
	{ "451 4.7.1 try later\r\n", 451, 1, NULL, "4.7.1" },
	{ "452 4.7.1x wrong\r\n", 452, 1, NULL, "4.0.0" },
	{ "554 2.1.1 class mismatch\r\n", 554, 1, NULL, "5.0.0" },
	{ "250\r\n", 250, 1, "250", "2.0.0" },
	{ "250 bare LF is tolerated\n", 250, 1, "250 bare LF is tolerated", NULL },
	{ "250-a\r\n251 b\r\n", 0, 0, NULL, NULL },	/* the code changed */
	{ "25x oops\r\n", 0, 0, NULL, NULL },
	{ "150 one-hundreds are not SMTP\r\n", 0, 0, NULL, NULL },
	{ "250_bad separator\r\n", 0, 0, NULL, NULL },
	{ "hello\r\n", 0, 0, NULL, NULL },
	{ "\r\n", 0, 0, NULL, NULL },
};

/* feed in two pieces split at k; returns the parser's verdict */
static int
feed_split(struct smtpc_reply_parser *p, const char *in, size_t len, size_t k, size_t *total)
{
	size_t used = 0;
	int rc;

	*total = 0;
	rc = smtpc_reply_feed(p, in, k, &used);
	*total += used;
	if (rc != 0)
		return rc;
	rc = smtpc_reply_feed(p, in + k, len - k, &used);
	*total += used;
	return rc;
}

START_TEST(test_reply_split)
{
	const struct reply_case *c = &reply_cases[_i];
	size_t len = strlen(c->in);

	for (size_t k = 0; k <= len; k++) {
		struct smtpc_reply_parser p;
		size_t total;
		int rc;

		smtpc_reply_init(&p);
		rc = feed_split(&p, c->in, len, k, &total);
		if (c->code == 0) {
			ck_assert_msg(rc == -1, "case %d split %zu: expected an error", _i, k);
			ck_assert(p.err[0] != '\0');
		} else {
			ck_assert_msg(rc == 1, "case %d split %zu: rc %d (%s)", _i, k, rc, p.err);
			ck_assert_int_eq(p.r.code, c->code);
			ck_assert_uint_eq(p.r.nlines, c->nlines);
			ck_assert_uint_eq(total, len);
			if (c->flat) {
				char flat[600];

				smtpc_reply_flat(&p.r, flat, sizeof(flat));
				ck_assert_str_eq(flat, c->flat);
			}
			if (c->status) {
				char st[16];

				smtpc_reply_status(&p.r, st, sizeof(st));
				ck_assert_str_eq(st, c->status);
			}
		}
		smtpc_reply_free(&p);
	}
}
END_TEST

/* one byte at a time, two replies back to back: the second is not lost */
START_TEST(test_reply_bytewise)
{
	const char *in = "250-first\r\n250 second\r\n354 go ahead\r\n";
	struct smtpc_reply_parser p;
	int codes[2], n = 0;

	smtpc_reply_init(&p);
	for (size_t i = 0; in[i]; i++) {
		size_t used = 0;
		int rc = smtpc_reply_feed(&p, in + i, 1, &used);

		ck_assert_int_ne(rc, -1);
		ck_assert_uint_eq(used, 1);
		if (rc == 1) {
			ck_assert_int_lt(n, 2);
			codes[n++] = p.r.code;
			if (n == 1)
				ck_assert_uint_eq(p.r.nlines, 2);
		}
	}
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(codes[0], 250);
	ck_assert_int_eq(codes[1], 354);
	smtpc_reply_free(&p);
}
END_TEST

/* several replies in one buffer come out one by one, with *used right */
START_TEST(test_reply_pipelined)
{
	const char *in = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no\r\n354 End data\r\n";
	const int want[] = { 250, 250, 550, 354 };
	struct smtpc_reply_parser p;
	size_t off = 0, len = strlen(in);

	smtpc_reply_init(&p);
	for (int k = 0; k < 4; k++) {
		size_t used = 0;

		ck_assert_int_eq(smtpc_reply_feed(&p, in + off, len - off, &used), 1);
		ck_assert_int_eq(p.r.code, want[k]);
		off += used;
	}
	ck_assert_uint_eq(off, len);
	smtpc_reply_free(&p);
}
END_TEST

START_TEST(test_reply_limits)
{
	struct smtpc_reply_parser p;
	char *big;
	size_t used, n;

	/* RFC 5321 4.5.3.1.5: 512 octets with CRLF is the longest line */
	big = malloc(2000);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 2000);
	memcpy(big, "250 ", 4);
	memcpy(big + 510, "\r\n", 2);
	smtpc_reply_init(&p);
	ck_assert_int_eq(smtpc_reply_feed(&p, big, 512, &used), 1);
	smtpc_reply_free(&p);
	memset(big, 'x', 2000);
	memcpy(big, "250 ", 4);
	memcpy(big + 511, "\r\n", 2);
	smtpc_reply_init(&p);
	ck_assert_int_eq(smtpc_reply_feed(&p, big, 513, &used), -1);
	ck_assert(strstr(p.err, "longer than 512") != NULL);
	smtpc_reply_free(&p);
	/* an endless line is refused without buffering it all */
	memset(big, 'y', 2000);
	memcpy(big, "250 ", 4);
	smtpc_reply_init(&p);
	ck_assert_int_eq(smtpc_reply_feed(&p, big, 2000, &used), -1);
	ck_assert_uint_lt(used, 2000);
	smtpc_reply_free(&p);
	free(big);

	/* 100 lines pass, 101 do not */
	for (int lines = 100; lines <= 101; lines++) {
		char *r = malloc((size_t)lines * 16 + 1);

		ck_assert_ptr_nonnull(r);
		n = 0;
		for (int i = 0; i < lines; i++)
			n += (size_t)sprintf(r + n, "250%cline %03d\r\n", i == lines - 1 ? ' ' : '-', i);
		smtpc_reply_init(&p);
		ck_assert_int_eq(smtpc_reply_feed(&p, r, n, &used), lines == 100 ? 1 : -1);
		smtpc_reply_free(&p);
		free(r);
	}
}
END_TEST

START_TEST(test_reply_lines)
{
	const char *in = "250-mx.example.com hello\r\n250-SIZE 36700160\r\n250 8BITMIME\r\n";
	struct smtpc_reply_parser p;
	char line[600];
	size_t used, pos = 0;

	smtpc_reply_init(&p);
	ck_assert_int_eq(smtpc_reply_feed(&p, in, strlen(in), &used), 1);
	ck_assert(smtpc_reply_line(&p.r, &pos, line, sizeof(line)));
	ck_assert_str_eq(line, "mx.example.com hello");
	ck_assert(smtpc_reply_line(&p.r, &pos, line, sizeof(line)));
	ck_assert_str_eq(line, "SIZE 36700160");
	ck_assert(smtpc_reply_line(&p.r, &pos, line, sizeof(line)));
	ck_assert_str_eq(line, "8BITMIME");
	ck_assert(!smtpc_reply_line(&p.r, &pos, line, sizeof(line)));
	smtpc_reply_free(&p);
}
END_TEST

/* control bytes from a server never reach a log or a DSN raw */
START_TEST(test_reply_flat_printable)
{
	const char in[] = "550 bad\x1b[31m \x01text\r\n";
	struct smtpc_reply_parser p;
	char flat[100];
	size_t used;

	smtpc_reply_init(&p);
	ck_assert_int_eq(smtpc_reply_feed(&p, in, sizeof(in) - 1, &used), 1);
	smtpc_reply_flat(&p.r, flat, sizeof(flat));
	ck_assert_str_eq(flat, "550 bad?[31m ?text");
	smtpc_reply_free(&p);
}
END_TEST

struct retry_case {
	unsigned first, max, attempts, want;
};

static const struct retry_case retry_cases[] = {
	{ 60, 3600, 0, 0 },
	{ 60, 3600, 1, 60 },
	{ 60, 3600, 2, 120 },
	{ 60, 3600, 3, 240 },
	{ 60, 3600, 6, 1920 },
	{ 60, 3600, 7, 3600 },
	{ 60, 3600, 50, 3600 },
	{ 60, 3600, 4000000000u, 3600 },
	{ 1, 4, 3, 4 },
	{ 300, 100, 1, 100 },
};

START_TEST(test_retry)
{
	const struct retry_case *c = &retry_cases[_i];

	ck_assert_uint_eq(smtpc_retry_delay(c->first, c->max, c->attempts), c->want);
}
END_TEST

START_TEST(test_retry_expired)
{
	ck_assert(!smtpc_retry_expired(1000, 172800, 1000));
	ck_assert(!smtpc_retry_expired(1000, 172800, 1000 + 172799));
	ck_assert(!smtpc_retry_expired(1000, 172800, 1000 + 172800));
	ck_assert(smtpc_retry_expired(1000, 172800, 1000 + 172801));
	ck_assert(!smtpc_retry_expired(1000, 1, 1001));
	ck_assert(smtpc_retry_expired(1000, 1, 1002));
}
END_TEST

START_TEST(test_dsn)
{
	const char orig[] = "Received: from x\r\nSubject: hello\r\nMessage-ID: <m1@a>\r\n\r\n"
	    "secret body\r\n";
	const struct smtpc_dsn_rcpt rc[] = {
		{ "bob@example.com", "5.1.1", "550 5.1.1 <bob@example.com>: unknown\r\nInjected: x",
		  "mx.example.com[192.0.2.1]:25" },
		{ "carol@example.net", "4.4.7", "message expired after 172800 s", NULL },
	};
	struct smtpc_dsn d;
	char *out;
	size_t len;

	memset(&d, 0, sizeof(d));
	d.reporting_mta = "edge.example.org";
	d.sender = "alice@example.org";
	d.queue_id = "0661419621bbf3006d710002";
	d.arrival = 1795784000;
	d.now = 1795784189;
	d.rcpts = rc;
	d.nrcpts = 2;
	d.orig = orig;
	d.origlen = sizeof(orig) - 1;
	d.boundary = "BOUNDARY";
	ck_assert_int_eq(smtpc_dsn_build(&d, &out, &len), 0);
	ck_assert_uint_eq(strlen(out), len);
	ck_assert(strstr(out, "To: <alice@example.org>\r\n") != NULL);
	ck_assert(strstr(out, "Content-Type: multipart/report; report-type=delivery-status;") != NULL);
	ck_assert(strstr(out, "boundary=\"BOUNDARY\"") != NULL);
	ck_assert(strstr(out, "--BOUNDARY\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; edge.example.org\r\n")
	    != NULL);
	ck_assert(strstr(out, "Final-Recipient: rfc822; bob@example.com\r\nOriginal-Recipient: "
	    "rfc822; bob@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n") != NULL);
	ck_assert(strstr(out, "Remote-MTA: dns; mx.example.com[192.0.2.1]:25\r\n") != NULL);
	/* the remote text cannot start a header line of its own */
	ck_assert(strstr(out, "\r\nInjected: x") == NULL);
	ck_assert(strstr(out, "Status: 4.4.7\r\n") != NULL);
	ck_assert(strstr(out, "Content-Type: text/rfc822-headers\r\n\r\nReceived: from x\r\n"
	    "Subject: hello\r\nMessage-ID: <m1@a>\r\n") != NULL);
	/* headers only: the body stays private */
	ck_assert(strstr(out, "secret body") == NULL);
	ck_assert(strstr(out, "\r\n--BOUNDARY--\r\n") != NULL);
	/* every line ends in CRLF */
	for (size_t i = 0; i < len; i++)
		if (out[i] == '\n')
			ck_assert_msg(i > 0 && out[i - 1] == '\r', "bare LF at %zu", i);
	free(out);
}
END_TEST

static Suite *
smtpc_suite(void)
{
	Suite *s = suite_create("smtpc");
	TCase *tc = tcase_create("reply");

	tcase_add_loop_test(tc, test_reply_split, 0,
	    (int)(sizeof(reply_cases) / sizeof(reply_cases[0])));
	tcase_add_test(tc, test_reply_bytewise);
	tcase_add_test(tc, test_reply_pipelined);
	tcase_add_test(tc, test_reply_limits);
	tcase_add_test(tc, test_reply_lines);
	tcase_add_test(tc, test_reply_flat_printable);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	tc = tcase_create("retry");
	tcase_add_loop_test(tc, test_retry, 0, (int)(sizeof(retry_cases) / sizeof(retry_cases[0])));
	tcase_add_test(tc, test_retry_expired);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	tc = tcase_create("dsn");
	tcase_add_test(tc, test_dsn);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(smtpc_suite());
}
