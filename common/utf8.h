/* utf8.h: UTF-8 well-formedness for text that came from a peer: one
 * character at a time, so callers can escape what does not pass. */
#ifndef DSMTP_UTF8_H
#define DSMTP_UTF8_H

#include <stddef.h>

/* the length (2..4) of the well-formed UTF-8 character of a non-ASCII
 * lead byte at s (n bytes available): no overlong forms, no surrogates,
 * nothing above U+10FFFF, and no C1 control (U+0080..U+009F); 0 if not */
size_t utf8_char_len(const unsigned char *s, size_t n);

#endif
