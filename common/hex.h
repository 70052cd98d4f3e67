/* hex.h: the value of one hexadecimal digit, for the decoders of %XX,
 * \xHH and \uHHHH escapes (common/tlsrpt_txt.c, logs/plog_read.c,
 * logs/log_text.c). */
#ifndef DSMTP_COMMON_HEX_H
#define DSMTP_COMMON_HEX_H

/* 0..15, or -1 when c is not a hexadecimal digit */
static inline int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
