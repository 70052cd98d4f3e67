/* diag.c: stderr diagnostics with the program name as prefix; the errno
 * ("warn") and errno-less ("warnx") variants, the debug lines that
 * DSMTP_DEBUG turns on, and the reason buffer. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"

static const char *diag_prog = "dsmtp";

void
diag_init(const char *progname)
{
	const char *slash = strrchr(progname, '/');

	diag_prog = slash ? slash + 1 : progname;
}

const char *
diag_progname(void)
{
	return diag_prog;
}

static void
diag_vprint(const char *level, int errnum, const char *fmt, va_list ap)
{
	char line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (errnum)
		fprintf(stderr, "%s: %s%s: %s\n", diag_prog, level, line, strerror(errnum));
	else
		fprintf(stderr, "%s: %s%s\n", diag_prog, level, line);
}

void
diag_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vprint("", 0, fmt, ap);
	va_end(ap);
}

void
diag_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	diag_vprint("warning: ", saved, fmt, ap);
	va_end(ap);
}

void
diag_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vprint("warning: ", 0, fmt, ap);
	va_end(ap);
}

int
diag_debug_enabled(void)
{
	static int on = -1;

	if (on < 0) {
		const char *e = getenv("DSMTP_DEBUG");

		on = e != NULL && e[0] != '\0' && strcmp(e, "0") != 0;
	}
	return on;
}

void
diag_debug(const char *fmt, ...)
{
	va_list ap;

	if (!diag_debug_enabled())
		return;
	va_start(ap, fmt);
	diag_vprint("debug: ", 0, fmt, ap);
	va_end(ap);
}

void
diag_fatal(int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	diag_vprint("fatal: ", saved, fmt, ap);
	va_end(ap);
	exit(code);
}

void
diag_fatalx(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vprint("fatal: ", 0, fmt, ap);
	va_end(ap);
	exit(code);
}

/* one character of s for a message, as written: a whole UTF-8 sequence is
 * copied, a control or stray byte is escaped \xNN (never a bare '?') */
void
diag_char_shown(const char *s, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 1;

	if (p[0] >= 0xc2 && p[0] <= 0xf4) {
		size_t want = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;

		for (n = 1; n < want && (p[n] & 0xc0) == 0x80; n++)
			;
		if (n == want && n < outlen) {
			memcpy(out, s, n);
			out[n] = '\0';
			return;
		}
	}
	if (p[0] < 0x20 || p[0] >= 0x7f)
		snprintf(out, outlen, "\\x%02x", p[0]);
	else
		snprintf(out, outlen, "%c", p[0]);
}

void
dsmtp_err_set(struct dsmtp_err *e, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

void
diag_print_version(void)
{
	printf("%s (dsmtp) %s\n", diag_prog, PACKAGE_VERSION);
}
