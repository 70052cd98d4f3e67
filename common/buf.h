/* buf.h: a growable byte buffer with a read offset, for connection input
 * and output. Bounded by the caller's limit; never grows silently past it. */
#ifndef DSMTP_BUF_H
#define DSMTP_BUF_H

#include <stddef.h>

struct buf {
	char	*data;
	size_t	 off;	/* first unread byte */
	size_t	 len;	/* end of data */
	size_t	 cap;
};

static inline size_t buf_avail(const struct buf *b) { return b->len - b->off; }
static inline const char *buf_head(const struct buf *b) { return b->data + b->off; }

int buf_reserve(struct buf *b, size_t more);	/* room for more bytes at the end */
int buf_append(struct buf *b, const void *p, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);			/* drop everything, keep memory */
void buf_free(struct buf *b);
/* the tail room after buf_reserve: write into it, then buf_commit */
static inline char *buf_tail(struct buf *b) { return b->data + b->len; }
static inline void buf_commit(struct buf *b, size_t n) { b->len += n; }

#endif
