/* data.c: the DATA terminator and dot-unstuffing state machine. Only
 * CRLF "." CRLF ends a message: a bare LF or CR never does, so "\n.\n",
 * "\r.\r", "\n.\r\n" and friends cannot smuggle a second message past us
 * (SMTP smuggling, 2023). A message with a bare CR or LF is refused whole
 * at the end (dsmtpd answers 554 5.6.0), never passed on. */
#include "autoconfig.h"

#include <string.h>

#include "smtpd/data.h"

void
smtpd_data_init(struct smtpd_data *d, uint64_t max)
{
	memset(d, 0, sizeof(*d));
	d->st = DATA_BOL;	/* the DATA command's CRLF starts the first line */
	d->max = max;
}

static void
emit(struct smtpd_data *d, const char *p, size_t n, smtpd_data_store store, void *arg,
    bool *failed)
{
	if (n == 0)
		return;
	if (d->size + n > d->max) {
		d->too_big = true;
		return;
	}
	d->size += n;
	if (!*failed && store(arg, p, n) < 0)
		*failed = true;
}

static void
count_line(struct smtpd_data *d, size_t n)
{
	d->linelen += n;
	if (d->linelen > SMTP_TEXT_LINE_MAX - 2)
		d->too_long = true;
}

/* a run of ordinary text bytes starting at p: up to the next CR or LF */
static size_t
text_run(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
}

size_t
smtpd_data_feed(struct smtpd_data *d, const char *p, size_t len, smtpd_data_store store,
    void *arg, bool *failed)
{
	size_t i = 0;

	while (i < len && d->st != DATA_DONE) {
		char c = p[i];

		switch (d->st) {
		case DATA_BOL:
			if (c == '.') {
				d->st = DATA_DOT;
				i++;
				break;
			}
			d->st = DATA_TEXT;
			/* FALLTHROUGH */
		case DATA_TEXT:
			if (c == '\r') {
				d->st = DATA_CR;
				i++;
			} else if (c == '\n') {
				/* a bare LF: flagged, and it does not start a line */
				d->bare = true;
				emit(d, "\n", 1, store, arg, failed);
				i++;
			} else {
				size_t n = text_run(p + i, len - i);

				count_line(d, n);
				emit(d, p + i, n, store, arg, failed);
				i += n;
			}
			break;
		case DATA_CR:
			if (c == '\n') {
				emit(d, "\r\n", 2, store, arg, failed);
				d->linelen = 0;
				d->st = DATA_BOL;
				i++;
			} else {
				/* a bare CR: flagged; the byte after it is text */
				d->bare = true;
				emit(d, "\r", 1, store, arg, failed);
				count_line(d, 1);
				d->st = DATA_TEXT;
			}
			break;
		case DATA_DOT:
			if (c == '\r') {
				d->st = DATA_DOT_CR;
				i++;
			} else {
				/* a stuffed dot (RFC 5321 4.5.2): drop it; ".\n" is
				 * text with a bare LF, not an end of data */
				d->st = DATA_TEXT;
			}
			break;
		case DATA_DOT_CR:
			if (c == '\n') {
				d->st = DATA_DONE;
				i++;
			} else {
				/* ".\r" and no LF: the dot was text after all */
				d->bare = true;
				emit(d, ".\r", 2, store, arg, failed);
				count_line(d, 2);
				d->st = DATA_TEXT;
			}
			break;
		case DATA_DONE:
			break;
		}
	}
	return i;
}

void
smtpd_data_feed_raw(struct smtpd_data *d, const char *p, size_t len, smtpd_data_store store,
    void *arg, bool *failed)
{
	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (d->st == DATA_CR) {
			if (c != '\n')
				d->bare = true;
			d->st = DATA_TEXT;
			if (c == '\n') {
				d->linelen = 0;
				continue;
			}
		}
		if (c == '\r')
			d->st = DATA_CR;
		else if (c == '\n')
			d->bare = true;
		else
			count_line(d, 1);
	}
	emit(d, p, len, store, arg, failed);
}
