/* json.h: the one JSON string writer of the tree (RFC 8259 section 7),
 * used by every --json output (dsmtp-cert, dsmtpc queue, dsmtp-log), so
 * each is valid JSON whatever bytes a peer, a certificate or a file put
 * into a string. Writing only; nothing here parses JSON. */
#ifndef DSMTP_JSON_H
#define DSMTP_JSON_H

#include <stddef.h>
#include <stdio.h>

/* s as a quoted JSON string: '"' and '\' get a backslash; C0 controls
 * and DEL become \u00XX; well-formed UTF-8 passes through as it is,
 * except the C1 controls (U+0080..U+009F), written as \u0080..\u009f; a
 * byte that is not part of well-formed UTF-8 becomes the code point of
 * the same value, \u0080..\u00ff (as Latin-1 would read it). NULL is "". */
void json_put_string(FILE *out, const char *s);

/* the strings v[0..n) as a JSON array, ", " between them */
void json_put_strings(FILE *out, char *const *v, size_t n);

#endif
