/* check_json.c: unit tests of common/json.c, the one JSON string writer:
 * exact output for quotes, backslashes, every control, UTF-8 that passes
 * through and bytes that are not UTF-8; that on well-formed UTF-8 without
 * C1 controls it writes exactly what the log reader's own escaper wrote
 * before it was replaced (dsmtp-log --json output depends on it); and
 * that whatever the bytes, the output is one valid JSON string. */
#include "autoconfig.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/utf8.h"
#include "tests/unit/unit.h"

/* what json_put_string(s) wrote; free it */
static char *
put(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	json_put_string(f, s);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

static void
expect(const char *in, const char *want)
{
	char *got = put(in);

	ck_assert_msg(strcmp(got, want) == 0, "json of \"%s\": got %s, want %s", in, got, want);
	free(got);
}

/* the log reader's escaper as it was (logs/plog_read.c, plog_json_string,
 * before common/json.c): the reference for the equivalence test */
static char *
put_reader_before(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(out);
	putc('"', out);
	for (; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			putc('\\', out);
			putc(*p, out);
		} else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			putc(*p, out);
	}
	putc('"', out);
	ck_assert_int_eq(fclose(out), 0);
	return buf;
}

START_TEST(test_quotes_and_backslash)
{
	expect("", "\"\"");
	expect(NULL, "\"\"");
	expect("plain text 123", "\"plain text 123\"");
	expect("a\"b", "\"a\\\"b\"");
	expect("a\\b", "\"a\\\\b\"");
	expect("\\\"\\", "\"\\\\\\\"\\\\\"");
	expect("C:\\x00 \"q\"", "\"C:\\\\x00 \\\"q\\\"\"");
	/* '/' may be escaped in JSON but need not be: it is not */
	expect("a/b", "\"a/b\"");
}
END_TEST

START_TEST(test_controls)
{
	char in[2] = { 0, 0 }, want[16];

	/* every C0 control and DEL, as \u00XX (newline too, as the log
	 * reader always wrote it) */
	for (unsigned c = 1; c < 0x20; c++) {
		in[0] = (char)c;
		snprintf(want, sizeof(want), "\"\\u%04x\"", c);
		expect(in, want);
	}
	expect("\x7f", "\"\\u007f\"");
	expect("550 5.1.1 no\nsuch user\x1b[31m", "\"550 5.1.1 no\\u000asuch user\\u001b[31m\"");
	expect("a\r\nb\tc", "\"a\\u000d\\u000ab\\u0009c\"");
	/* the printable ASCII range around them passes */
	expect(" ~", "\" ~\"");
}
END_TEST

START_TEST(test_utf8_passthrough)
{
	expect("caf\xc3\xa9", "\"caf\xc3\xa9\"");			/* U+00E9 */
	expect("\xc2\xa0", "\"\xc2\xa0\"");				/* U+00A0, first after C1 */
	expect("\xdf\xbf", "\"\xdf\xbf\"");				/* U+07FF */
	expect("\xe2\x82\xac", "\"\xe2\x82\xac\"");			/* U+20AC */
	expect("\xef\xbf\xbf", "\"\xef\xbf\xbf\"");			/* U+FFFF */
	expect("\xf0\x9d\x84\x9e", "\"\xf0\x9d\x84\x9e\"");		/* U+1D11E */
	expect("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");		/* U+10FFFF */
	expect("\xe6\x97\xa5\xe6\x9c\xac \"x\"", "\"\xe6\x97\xa5\xe6\x9c\xac \\\"x\\\"\"");
}
END_TEST

START_TEST(test_c1_controls)
{
	/* well-formed UTF-8, but controls: as their code points, never raw
	 * (a raw U+009B is a terminal's CSI) */
	expect("\xc2\x80", "\"\\u0080\"");
	expect("\xc2\x9b[31m", "\"\\u009b[31m\"");
	expect("\xc2\x9f", "\"\\u009f\"");
}
END_TEST

START_TEST(test_invalid_utf8)
{
	/* each byte outside well-formed UTF-8: the code point of its value */
	expect("caf\xe9@example.org", "\"caf\\u00e9@example.org\"");	/* Latin-1 */
	expect("\xff\xfe", "\"\\u00ff\\u00fe\"");
	expect("\x80", "\"\\u0080\"");					/* lone continuation */
	expect("\xe2\x82", "\"\\u00e2\\u0082\"");			/* truncated at the end */
	expect("\xe2\x82x", "\"\\u00e2\\u0082x\"");			/* truncated mid-string */
	expect("\xc0\xaf", "\"\\u00c0\\u00af\"");			/* overlong '/' */
	expect("\xe0\x80\xaf", "\"\\u00e0\\u0080\\u00af\"");		/* overlong, 3 bytes */
	expect("\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\"");		/* a surrogate */
	expect("\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\"");	/* above U+10FFFF */
	expect("\xf5\x80\x80\x80", "\"\\u00f5\\u0080\\u0080\\u0080\"");
	/* a good character right after a bad byte is kept whole */
	expect("\xe9\xc3\xa9", "\"\\u00e9\xc3\xa9\"");
}
END_TEST

START_TEST(test_array)
{
	char a[] = "a", b[] = "b\"c", d[] = "d\\";
	char *v[] = { a, b, d };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	json_put_strings(f, v, 3);
	json_put_strings(f, v, 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_str_eq(buf, "[\"a\", \"b\\\"c\", \"d\\\\\"][]");
	free(buf);
}
END_TEST

/* a random code point that is neither a surrogate nor a C1 control, as
 * UTF-8 at w; returns its length */
static size_t
random_char(unsigned char *w, unsigned *seed)
{
	unsigned r = (unsigned)rand_r(seed), cp;

	switch (r % 6) {
	case 0: case 1: cp = 1 + (unsigned)rand_r(seed) % 0x7f; break;	/* ASCII, controls too */
	case 2: cp = "\"\\/"[rand_r(seed) % 3]; break;
	case 3: cp = 0xa0 + (unsigned)rand_r(seed) % (0x800 - 0xa0); break;
	case 4:
		cp = 0x800 + (unsigned)rand_r(seed) % (0x10000 - 0x800 - 0x800);
		if (cp >= 0xd800)
			cp += 0x800;	/* past the surrogates */
		break;
	default: cp = 0x10000 + (unsigned)rand_r(seed) % 0x100000; break;
	}
	if (cp < 0x80) {
		w[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		w[0] = (unsigned char)(0xc0 | cp >> 6);
		w[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		w[0] = (unsigned char)(0xe0 | cp >> 12);
		w[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		w[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	w[0] = (unsigned char)(0xf0 | cp >> 18);
	w[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	w[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	w[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

START_TEST(test_same_as_the_log_reader)
{
	unsigned seed = unit_seed("json vs the log reader's escaper", 21);
	unsigned char s[256];

	/* well-formed UTF-8 without C1 controls (everything dsmtp-log hands
	 * it, and more: C0 controls and DEL too): byte for byte the same */
	for (int i = 0; i < 20000; i++) {
		size_t n = 0, want = (size_t)rand_r(&seed) % 40;
		char *a, *b;

		while (n < want)
			n += random_char(s + n, &seed);
		s[n] = '\0';
		a = put((const char *)s);
		b = put_reader_before((const char *)s);
		ck_assert_msg(strcmp(a, b) == 0, "case %d: got %s, the reader wrote %s", i, a, b);
		free(a);
		free(b);
	}
}
END_TEST

/* is s exactly one JSON string (RFC 8259 section 7)? Raw bytes must be
 * well-formed UTF-8 and no control; we also want no raw C1 control */
static bool
valid_json_string(const unsigned char *s)
{
	size_t n;

	if (*s++ != '"')
		return false;
	while (*s != '"') {
		if (*s == '\0' || *s < 0x20 || *s == 0x7f)
			return false;
		if (*s == '\\') {
			s++;
			if (*s == '"' || *s == '\\') {
				s++;
				continue;
			}
			if (*s++ != 'u')
				return false;
			for (int k = 0; k < 4; k++, s++)
				if (strchr("0123456789abcdef", *s) == NULL || *s == '\0')
					return false;
			continue;
		}
		if (*s < 0x80) {
			s++;
			continue;
		}
		if ((n = utf8_char_len(s, strnlen((const char *)s, 4))) == 0)
			return false;
		s += n;
	}
	return s[1] == '\0';
}

START_TEST(test_any_bytes_valid_json)
{
	unsigned seed = unit_seed("json of random bytes", 8259);
	char s[64];

	for (int i = 0; i < 50000; i++) {
		size_t n = (size_t)rand_r(&seed) % (sizeof(s) - 1);
		char *out;

		for (size_t k = 0; k < n; k++) {
			/* mostly high bytes: the lead and continuation mixes */
			unsigned r = (unsigned)rand_r(&seed);

			s[k] = (char)(r % 4 ? 0x80 + (r >> 8) % 0x80 : 1 + (r >> 8) % 0xff);
		}
		s[n] = '\0';
		out = put(s);
		ck_assert_msg(valid_json_string((const unsigned char *)out), "case %d: %s", i, out);
		free(out);
	}
}
END_TEST

static Suite *
json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("string");

	tcase_add_test(tc, test_quotes_and_backslash);
	tcase_add_test(tc, test_controls);
	tcase_add_test(tc, test_utf8_passthrough);
	tcase_add_test(tc, test_c1_controls);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_array);
	tcase_add_test(tc, test_same_as_the_log_reader);
	tcase_add_test(tc, test_any_bytes_valid_json);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(json_suite());
}
