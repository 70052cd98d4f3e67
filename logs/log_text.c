/* log_text.c: how dsmtp-log shows field values to a person. On disk (and
 * in --json) a value keeps plog's visible escape exactly; for reading,
 * the escapes of printable characters are undone ("\x3b" -> ";",
 * "\\" -> "\") while control characters and bytes that are not UTF-8 stay
 * escaped ("\r", "\n", "\t", "\x1b", ...), so a peer's bytes can never
 * drive the reader's terminal. The HTML form escapes the readable text
 * for an HTML element or attribute. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "common/hex.h"
#include "logs/log_agg.h"

/* the escape at s (s[0] == '\\'): its length, and *c the printable
 * character it stands for, or 0 when it must stay escaped */
static size_t
escape_at(const char *s, char *c)
{
	int h, l;

	*c = 0;
	if (s[1] == '\\') {
		*c = '\\';
		return 2;
	}
	if (s[1] == 'x' && (h = hex_value(s[2])) >= 0 && (l = hex_value(s[3])) >= 0) {
		if (h * 16 + l >= 0x20 && h * 16 + l < 0x7f)
			*c = (char)(h * 16 + l);
		return 4;
	}
	return s[1] != '\0' ? 2 : 1;
}

void
log_readable(const char *s, char *out, size_t outlen)
{
	size_t o = 0, n;
	char c;

	if (outlen == 0)
		return;
	while (*s != '\0' && o + 1 < outlen) {
		if (*s != '\\') {
			out[o++] = *s++;
			continue;
		}
		n = escape_at(s, &c);
		if (c != 0) {
			out[o++] = c;
		} else {
			if (o + n >= outlen)
				break;
			memcpy(out + o, s, n);
			o += n;
		}
		s += n;
	}
	/* never end inside a UTF-8 sequence */
	while (o > 0 && *s != '\0' && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
		o--;
	if (o > 0 && *s != '\0' && (unsigned char)out[o - 1] >= 0xc0)
		o--;
	out[o] = '\0';
}

void
log_fput_readable(FILE *out, const char *s)
{
	size_t n;
	char c;

	while (*s != '\0') {
		if (*s != '\\') {
			putc(*s++, out);
			continue;
		}
		n = escape_at(s, &c);
		if (c != 0)
			putc(c, out);
		else
			fwrite(s, 1, n, out);
		s += n;
	}
}

static void
html_char(FILE *out, char c)
{
	switch (c) {
	case '&':
		fputs("&amp;", out);
		break;
	case '<':
		fputs("&lt;", out);
		break;
	case '>':
		fputs("&gt;", out);
		break;
	case '"':
		fputs("&quot;", out);
		break;
	case '\'':
		fputs("&#39;", out);
		break;
	default:
		putc(c, out);
	}
}

void
log_fput_html_text(FILE *out, const char *s)
{
	for (; *s != '\0'; s++)
		html_char(out, *s);
}

void
log_fput_html(FILE *out, const char *s)
{
	size_t n;
	char c;

	while (*s != '\0') {
		if (*s != '\\') {
			html_char(out, *s++);
			continue;
		}
		n = escape_at(s, &c);
		if (c != 0)
			html_char(out, c);
		else
			fwrite(s, 1, n, out);	/* "\", "x", hex digits: safe */
		s += n;
	}
}

void
log_print_record(FILE *out, const struct plog_record *r, bool json)
{
	size_t i;

	if (json) {
		log_json_kv(out, "direction", log_dir_names[r->dir], true);
		for (i = 0; i < PLOG_NFIELDS; i++)
			log_json_kv(out, plog_field_names[i], r->f[i], false);
		fputs("}\n", out);
		return;
	}
	fprintf(out, "%s %s %s %s ", r->f[PLOG_F_TIME], log_dir_names[r->dir],
	    r->f[PLOG_F_SESSION], r->f[PLOG_F_SEQ]);
	log_fput_readable(out, r->f[PLOG_F_REMOTE]);
	fprintf(out, " %s ", r->f[PLOG_F_EVENT]);
	log_fput_readable(out, r->f[PLOG_F_DATA]);
	if (r->f[PLOG_F_CONTEXT][0] != '\0') {
		fputs(" [", out);
		log_fput_readable(out, r->f[PLOG_F_CONTEXT]);
		putc(']', out);
	}
	putc('\n', out);
}
