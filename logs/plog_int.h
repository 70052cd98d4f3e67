/* plog_int.h: inside logs/ only, what the protocol-log writer's two
 * halves share: the writer's state (struct plog), the growable buffer, and
 * the calls between plog_write.c (records: formatting, the visible escape,
 * level filtering, AUTH masking, the clock) and plog_file.c (files: naming,
 * opening with the header, writing out, size and day rotation, pruning). */
#ifndef DSMTP_PLOG_INT_H
#define DSMTP_PLOG_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "logs/plog.h"

/* a growable byte buffer; bad latches an allocation failure */
struct sbuf {
	char	*p;
	size_t	 len, cap;
	bool	 bad;
};

struct plog {
	enum plog_dir	 dir;
	enum log_level	 level;		/* logs.level: a session's unless logs.peers says */
	bool		 enabled;	/* level or a logs.peers entry above none */
	enum log_format	 format;
	uint64_t	 max_size;
	unsigned	 max_age;	/* days; 0 = keep forever */
	char		 path[PATH_MAX];	/* the directory */
	char		 file[PATH_MAX + 64];	/* current file, "" before the first */
	int		 fd;		/* -1: not open (or the open failed) */
	long		 day;		/* yyyymmdd of the current file, 0 = none */
	long		 pruned_day;	/* the day of the last pruning */
	unsigned	 n;		/* the N in ...-N.LOG */
	uint64_t	 size;		/* bytes in the file plus bytes buffered */
	unsigned long	 nrec_file;	/* records in the current file (>0: may rotate) */
	struct sbuf	 out;		/* records waiting for write(2) */
	unsigned long	 nbuffered;	/* records in out */
	struct sbuf	 data;		/* the data field being built */
	struct sbuf	 esc;		/* scratch for other fields */
	struct sbuf	 rec;		/* one formatted record */
	bool		 failing;	/* the loss has been reported */
	uint64_t	 lost, lost_now;
	time_t		 stamp_sec;	/* the second stamp_text formats */
	long		 stamp_day;
	char		 stamp_text[40];	/* "2026-11-24T11:44:46.000Z" */
};

/* ---- the buffer: static inline, the record path stays inlined ---- */

/* room for need more bytes, doubling; -1 (latched) when out of memory */
static inline int
sb_grow(struct sbuf *b, size_t need)
{
	size_t cap;
	char *p;

	if (b->bad)
		return -1;
	if (b->len + need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + need)
		cap *= 2;
	if ((p = realloc(b->p, cap)) == NULL) {
		b->bad = true;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static inline void
sb_add(struct sbuf *b, const void *p, size_t n)
{
	if (n == 0 || sb_grow(b, n) < 0)
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static inline void
sb_addc(struct sbuf *b, char c)
{
	sb_add(b, &c, 1);
}

static inline void
sb_adds(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static inline void
sb_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* plog_write.c */
/* the time of a record: the injected clock (plog_set_clock), else
 * CLOCK_REALTIME */
void	plog_now(struct timespec *ts);
/* "2026-11-24T11:44:46.123Z" into out (>= 32 bytes); *day = 20261124 */
void	plog_fmt_time(const struct timespec *ts, char *out, size_t outlen, long *day);

/* plog_file.c */
/* report the first failure of an outage once; errno is the cause */
void	plog_fail(struct plog *pl, const char *what);
/* move to the file for day: the next N (next) or the highest N of that day
 * that still has room; prunes when the day changes */
void	plog_switch(struct plog *pl, long day, bool next);
/* write the buffer; on failure drop it (counted), truncate a torn record */
void	plog_write_out(struct plog *pl);
/* take the record formatted in pl->rec (of day) into the buffer */
void	plog_buffer(struct plog *pl, long day);

#endif
