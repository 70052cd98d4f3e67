/* utf8.c: the one UTF-8 validator (RFC 3629 table 3-7 ranges), shared by
 * the SMTP parser, the protocol logs and the queue listing. */
#include "autoconfig.h"

#include "common/utf8.h"

size_t
utf8_char_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	/* C1 controls (U+0080..U+009F) are controls, not text */
	if (c == 0xc2 && s[1] < 0xa0)
		return 0;
	return len;
}
