/* fuzz_log_report.c: libFuzzer target for what dsmtp-log makes of hostile
 * log text (peer bytes reach the log through EHLO names, certificate
 * subjects, reasons): logs/log_agg.c's sessions, logs/log_report.c's
 * tables, logs/log_html.c's page and logs/log_text.c's readable form.
 * Input: 1 control byte (direction, reading "now"), then the log file.
 * Checks:
 *  - the readable form of every record (show, follow) is one line of
 *    valid UTF-8 with no control character and no DEL;
 *  - the HTML page holds only the page's own markup: every '<' opens or
 *    closes a tag of a fixed list, every attribute is one of a fixed list
 *    with a quoted value holding no '<', '>' or '"', so no peer text can
 *    add an element, an attribute or an event handler;
 *  - no crash, leak or undefined behaviour (ASan, UBSan). */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logs/log_report.h"
#include "logs/plog.h"
#include "tests/fuzz/fuzz.h"

static const char *const tags[] = {
	"!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "span",
	"table", "tr", "th", "td", "svg", "line", "text", "g", "rect", "circle", "details",
	"summary", "code", "b", "div", "br", NULL
};
static const char *const attrs[] = {
	"html", "lang", "charset", "http-equiv", "content", "name", "class", "id", "style",
	"data-dir", "data-peer", "data-k", "data-day", "width", "height", "viewBox", "role",
	"aria-label", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "fill", "stroke",
	"stroke-width", "stroke-dasharray", "text-anchor", "colspan", NULL
};

static bool
listed(const char *const *list, const char *s, size_t n)
{
	for (; *list != NULL; list++)
		if (strlen(*list) == n && memcmp(*list, s, n) == 0)
			return true;
	return false;
}

static size_t
word(const char *s, size_t i, size_t n)
{
	size_t j = i;

	while (j < n && (s[j] == '!' || s[j] == '-' || (s[j] >= 'a' && s[j] <= 'z') ||
	    (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9')))
		j++;
	return j - i;
}

/* the page's markup is only ours */
static void
check_html(const char *h, size_t n)
{
	size_t i = 0, w;
	bool in_style = false;

	while (i < n) {
		if (h[i] != '<') {
			i++;
			continue;
		}
		i++;
		if (i < n && h[i] == '/')
			i++;
		w = word(h, i, n);
		FUZZ_CHECK(w > 0 && listed(tags, h + i, w), "a tag not of the page at %zu: %.40s",
		    i, h + i);
		if (w == 5 && memcmp(h + i, "style", 5) == 0)
			in_style = h[i - 1] != '/';
		i += w;
		for (;;) {
			while (i < n && h[i] == ' ')
				i++;
			FUZZ_CHECK(i < n, "a tag not closed");
			if (h[i] == '>')
				break;
			if (h[i] == '/' && i + 1 < n && h[i + 1] == '>') {
				i++;
				break;
			}
			w = word(h, i, n);
			FUZZ_CHECK(w > 0 && listed(attrs, h + i, w), "an attribute not of the page "
			    "at %zu: %.40s", i, h + i);
			i += w;
			if (i < n && h[i] == '=') {
				FUZZ_CHECK(i + 1 < n && h[i + 1] == '"', "an unquoted value at %zu", i);
				i += 2;
				while (i < n && h[i] != '"') {
					FUZZ_CHECK(h[i] != '<' && h[i] != '>', "markup in a value at %zu",
					    i);
					i++;
				}
				FUZZ_CHECK(i < n, "a value not closed");
				i++;
				FUZZ_CHECK(i < n && (h[i] == ' ' || h[i] == '>' || h[i] == '/'),
				    "a value running into more at %zu: %.40s", i, h + i);
			}
		}
		i++;
		/* the style sheet is ours and has no '<' */
		(void)in_style;
	}
}

static void
check_readable(const char *s, size_t n)
{
	size_t i = 0, k;

	FUZZ_CHECK(n > 0 && s[n - 1] == '\n', "not one line");
	n--;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		FUZZ_CHECK(c >= 0x20 && c != 0x7f, "control byte 0x%02x at %zu", c, i);
		if (c < 0x80) {
			i++;
			continue;
		}
		k = plog_utf8_len((const unsigned char *)s + i, n - i);
		FUZZ_CHECK(k > 0, "not UTF-8 at %zu", i);
		i += k;
	}
}

struct ctx {
	struct log_agg	*agg;
};

static int
on_record(const struct plog_record *r, void *arg)
{
	struct ctx *c = arg;
	char *text = NULL;
	size_t len = 0;
	FILE *ms = open_memstream(&text, &len);

	if (ms == NULL)
		abort();
	log_print_record(ms, r, false);
	if (fclose(ms) != 0)
		abort();
	check_readable(text, len);
	free(text);
	return log_agg_record(r, c->agg);
}

static void
on_error(const char *file, unsigned long line, const char *why, void *arg)
{
	(void)file;
	(void)line;
	(void)why;
	(void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct report rp;
	struct plog_reader *r;
	struct ctx c;
	char *html = NULL;
	size_t hlen = 0;
	FILE *ms;

	if (n < 1)
		return 0;
	memset(&rp, 0, sizeof(rp));
	rp.now = (d[0] & 2) ? 1796000000 : 1700000000;
	if ((rp.days = calloc(RPT_MAX_DAYS, sizeof(*rp.days))) == NULL ||
	    (c.agg = log_agg_new(&rp.f, rpt_on_session, &rp)) == NULL ||
	    (r = plog_reader_new(on_record, on_error, &c)) == NULL)
		abort();
	plog_reader_begin(r, "fuzz", (d[0] & 1) ? PLOG_SEND : PLOG_RECEIVE);
	(void)plog_reader_feed(r, (const char *)d + 1, n - 1);
	(void)plog_reader_end(r);
	log_agg_finish(c.agg);
	if ((ms = open_memstream(&html, &hlen)) == NULL)
		abort();
	FUZZ_CHECK(rpt_write_html(&rp, ms) == 0, "the page was not written");
	if (fclose(ms) != 0)
		abort();
	check_html(html, hlen);
	free(html);
	plog_reader_free(r);
	log_agg_free(c.agg);
	rpt_free(&rp);
	return 0;
}
