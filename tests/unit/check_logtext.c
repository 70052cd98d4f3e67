/* check_logtext.c: dsmtp-log's readable and HTML forms of log values
 * (logs/log_text.c) and the report's peer-day arithmetic
 * (logs/log_report.c): escapes of printable characters undone, control
 * bytes and non-UTF-8 left escaped, HTML special characters escaped. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logs/log_report.h"
#include "tests/unit/unit.h"

static const struct {
	const char *in, *readable, *html;
} cases[] = {
	{ "plain", "plain", "plain" },
	{ "why=hostname vm\\x3b valid", "why=hostname vm; valid", "why=hostname vm; valid" },
	{ "back\\\\slash", "back\\slash", "back\\slash" },
	/* a peer that sent the text \x3b: written \\x3b, shown \x3b */
	{ "lit\\\\x3b", "lit\\x3b", "lit\\x3b" },
	{ "cr\\r lf\\n tab\\t", "cr\\r lf\\n tab\\t", "cr\\r lf\\n tab\\t" },
	{ "esc\\x1b[31m del\\x7f bad\\xff", "esc\\x1b[31m del\\x7f bad\\xff",
	  "esc\\x1b[31m del\\x7f bad\\xff" },
	{ "<script>alert(1)</script>", "<script>alert(1)</script>",
	  "&lt;script&gt;alert(1)&lt;/script&gt;" },
	{ "a\"b'c&d", "a\"b'c&d", "a&quot;b&#39;c&amp;d" },
	/* an escaped quote or angle bracket is escaped for HTML too */
	{ "\\x22\\x3c", "\"<", "&quot;&lt;" },
	{ "caf\xc3\xa9", "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "trailing\\", "trailing\\", "trailing\\" },
	{ "short\\x4", "short\\x4", "short\\x4" },
};

static char *
capture(void (*fn)(FILE *, const char *), const char *in)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *ms = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(ms);
	fn(ms, in);
	ck_assert_int_eq(fclose(ms), 0);
	return buf;
}

START_TEST(test_forms)
{
	char buf[256], *got;

	log_readable(cases[_i].in, buf, sizeof(buf));
	ck_assert_str_eq(buf, cases[_i].readable);
	got = capture(log_fput_readable, cases[_i].in);
	ck_assert_str_eq(got, cases[_i].readable);
	free(got);
	got = capture(log_fput_html, cases[_i].in);
	ck_assert_str_eq(got, cases[_i].html);
	free(got);
}
END_TEST

START_TEST(test_readable_truncates_whole)
{
	char buf[8];

	/* cut on a character, never inside an escape's meaning or UTF-8 */
	log_readable("abcdef\xc3\xa9z", buf, sizeof(buf));
	ck_assert_str_eq(buf, "abcdef");
	log_readable("ab\\x3bcdefgh", buf, sizeof(buf));
	ck_assert_str_eq(buf, "ab;cdef");
	log_readable("abcde\\x1bq", buf, sizeof(buf));
	ck_assert_str_eq(buf, "abcde");
}
END_TEST

START_TEST(test_days_left)
{
	struct report rp;
	long d;

	memset(&rp, 0, sizeof(rp));
	rp.now = 1767225600;	/* 2026-01-01T00:00:00Z */
	ck_assert(rpt_days_left(&rp, "2026-01-31T00:00:00Z", &d));
	ck_assert_int_eq(d, 30);
	ck_assert(rpt_days_left(&rp, "2026-01-01T23:59:59Z", &d));
	ck_assert_int_eq(d, 0);
	ck_assert(rpt_days_left(&rp, "2025-12-31T23:00:00Z", &d));
	ck_assert_int_eq(d, -1);
	ck_assert(!rpt_days_left(&rp, "", &d));
	ck_assert(!rpt_days_left(&rp, "soon", &d));
}
END_TEST

static Suite *
logtext_suite(void)
{
	Suite *s = suite_create("logtext");
	TCase *t = tcase_create("forms");

	tcase_add_loop_test(t, test_forms, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(t, test_readable_truncates_whole);
	tcase_add_test(t, test_days_left);
	tcase_set_timeout(t, UNIT_TIMEOUT);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return unit_run(logtext_suite());
}
