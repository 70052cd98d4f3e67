/* buf.c: the growable byte buffer. Compacts before it grows, so a
 * connection that keeps up never reallocates. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

int
buf_reserve(struct buf *b, size_t more)
{
	size_t need, ncap;
	char *n;

	if (b->cap - b->len >= more)
		return 0;
	if (b->off > 0) {	/* compact first: consumed bytes are free room */
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= more)
			return 0;
	}
	need = b->len + more;
	if (need < b->len)
		return -1;
	ncap = b->cap ? b->cap : 512;
	while (ncap < need) {
		if (ncap > (size_t)-1 / 2)
			return -1;
		ncap *= 2;
	}
	if ((n = realloc(b->data, ncap)) == NULL)
		return -1;
	b->data = n;
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void
buf_reset(struct buf *b)
{
	b->off = b->len = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
