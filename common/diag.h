/* diag.h: diagnostics to stderr (journald/syslog pick them up): info, warn,
 * fatal, with and without errno. Owns the program name used as prefix and
 * the sysexits codes. Knows nothing of protocol logs (logs/ owns those). */
#ifndef DSMTP_DIAG_H
#define DSMTP_DIAG_H

#include <stdarg.h>
#include <stddef.h>

/* sysexits.h values, spelled out so every program uses the same names */
enum {
	EX_DSMTP_OK = 0,
	EX_DSMTP_USAGE = 64,
	EX_DSMTP_DATAERR = 65,
	EX_DSMTP_NOINPUT = 66,
	EX_DSMTP_UNAVAILABLE = 69,
	EX_DSMTP_SOFTWARE = 70,
	EX_DSMTP_OSERR = 71,
	EX_DSMTP_CANTCREAT = 73,
	EX_DSMTP_IOERR = 74,
	EX_DSMTP_TEMPFAIL = 75,
	EX_DSMTP_NOPERM = 77,
	EX_DSMTP_CONFIG = 78,
};

#define DIAG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* a caller-owned reason buffer: functions return -1 and fill msg */
struct dsmtp_err {
	char msg[512];
};

void diag_init(const char *progname);
const char *diag_progname(void);
void diag_info(const char *fmt, ...) DIAG_PRINTF(1, 2);
void diag_warn(const char *fmt, ...) DIAG_PRINTF(1, 2);   /* appends strerror(errno) */
void diag_warnx(const char *fmt, ...) DIAG_PRINTF(1, 2);
/* debug lines ("debug: ..."), written only when the environment has
 * DSMTP_DEBUG set to a non-empty value other than "0" (read once): state
 * traces of the SMTP sessions. Test diag_debug_enabled() before building
 * costly arguments. */
int diag_debug_enabled(void);
void diag_debug(const char *fmt, ...) DIAG_PRINTF(1, 2);
_Noreturn void diag_fatal(int code, const char *fmt, ...) DIAG_PRINTF(2, 3);
_Noreturn void diag_fatalx(int code, const char *fmt, ...) DIAG_PRINTF(2, 3);
/* the character at s for a message, as written: a whole UTF-8 sequence
 * is copied, a control or stray byte escaped as \xNN (never a bare '?');
 * out holds at least 5 bytes */
void diag_char_shown(const char *s, char *out, size_t outlen);
void dsmtp_err_set(struct dsmtp_err *e, const char *fmt, ...) DIAG_PRINTF(2, 3);

/* the standard --version text */
void diag_print_version(void);

#endif
