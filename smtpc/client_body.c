/* client_body.c: a message body onto the wire (RFC 5321 4.5.2): dot-
 * stuffed, every line ending in CRLF (a bare LF becomes CRLF), the last
 * line terminated, then the final dot. Produced as the connection drains,
 * never more than SMTPC_BODY_OUT_HIGH bytes of output queued: the part of
 * the message in memory (job->data) first, then the rest read from the
 * spool file SMTPC_BODY_CHUNK bytes at a time on the I/O thread (the read
 * of the next chunk starts as soon as the last byte of the current one is
 * queued, so it overlaps the draining). The CRC-32C of the bytes read and
 * sent is checked before the final dot: a mismatch, a short file or a
 * read error ends the connection inside DATA, so the server discards
 * what it got, and the job says why (damaged: the owner quarantines).
 * Memory per message in flight: one chunk and the output's high-water
 * mark, whatever the message's size. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conn.h"
#include "common/spool.h"
#include "logs/plog.h"
#include "smtpc/client_int.h"
#include "smtpc/iothread.h"
#include "smtpc/smtpc.h"

/* output queued before we wait for it to drain, and how far it drains
 * before more is produced */
#define SMTPC_BODY_OUT_HIGH	(128 * 1024)
#define SMTPC_BODY_OUT_LOW	(32 * 1024)
/* RFC 5321 4.5.3.2.5: a data block may take three minutes to go */
#define T_DATA_BLOCK		180.0

struct smtpc_body {
	struct smtpc_io_job	 io;		/* the read in flight */
	struct smtpc_session	*s;		/* NULL: the session went during a read */
	int			 fd;		/* our own dup of job->body_fd, or -1 */
	uint64_t		 base;		/* where the message starts in fd */
	size_t			 len;		/* the whole message */
	const char		*cur;		/* the piece being stuffed: job->data or buf */
	size_t			 curlen, pos;
	size_t			 consumed;	/* message bytes stuffed before cur */
	size_t			 next;		/* message offset of the next read */
	uint32_t		 crc;		/* of every byte read so far */
	bool			 bol;		/* at the start of a line */
	bool			 cr;		/* the last byte stuffed was a CR */
	bool			 reading;
	ssize_t			 got;		/* the read's result: bytes, or -1 */
	int			 eno;
	char			*buf;		/* SMTPC_BODY_CHUNK bytes, when streamed */
};

static void
body_free(struct smtpc_body *b)
{
	if (b->fd >= 0)
		close(b->fd);
	free(b->buf);
	free(b);
}

/* the session lets go of its body: at once, or, with a read in flight,
 * when the read comes back (its buffer is the read's until then) */
void
smtpc_body_release(struct smtpc_session *s)
{
	struct smtpc_body *b = s->body;

	if (b == NULL)
		return;
	s->body = NULL;
	if (b->reading)
		b->s = NULL;
	else
		body_free(b);
}

/* n bytes of the message, stuffed: a "." that starts a line doubled, a
 * bare LF made CRLF; bol and cr carry the state across pieces */
static void
stuff(struct smtpc_session *s, struct smtpc_body *b, const char *p, size_t n)
{
	const char *end = p + n, *run = p;

	for (; p < end; p++) {
		if (b->bol && *p == '.') {
			smtpc_sess_put(s, run, (size_t)(p - run));
			smtpc_sess_put(s, ".", 1);
			run = p;
		}
		b->bol = false;
		if (*p == '\n') {
			if (!b->cr) {
				smtpc_sess_put(s, run, (size_t)(p - run));
				smtpc_sess_put(s, "\r", 1);
				run = p;
			}
			b->bol = true;
		}
		b->cr = *p == '\r';
	}
	smtpc_sess_put(s, run, (size_t)(p - run));
}

/* the message could not be sent whole: no final dot; the connection is
 * closed inside DATA (the server throws away what it got), the job
 * deferred with the reason, the session ended. Always -1 (s is gone) */
static int
body_abort(struct smtpc_session *s, const char *why)
{
	struct smtpc_job *j = s->job;
	char text[512];

	snprintf(text, sizeof(text), "message not sent to %s: %s", s->peer, why);
	diag_warnx("%016llx %s: %s; the connection is closed without the final dot",
	    (unsigned long long)s->id, s->peer, why);
	if (s->logging)
		plog_info(s->ctx->plog, &s->log, "", "%s; closing without the final dot", why);
	smtpc_job_fail(j, SMTPC_TEMP, "4.3.0", text, s->peer);
	smtpc_sess_job_finish(s);
	smtpc_sess_free(s, why);
	return -1;
}

/* on the I/O thread: the next chunk */
static void
read_run(struct smtpc_io_job *io)
{
	struct smtpc_body *b = (struct smtpc_body *)((char *)io - offsetof(struct smtpc_body, io));
	size_t want = b->len - b->next < SMTPC_BODY_CHUNK ? b->len - b->next : SMTPC_BODY_CHUNK;

	/* short: the file was cut */
	b->got = spool_data_read(b->fd, b->buf, want, b->base + b->next);
	b->eno = b->got < 0 ? errno : 0;
}

static int body_pump(struct smtpc_session *s);

/* on the loop: the chunk is here (or not) */
static void
read_done(struct smtpc_io_job *io)
{
	struct smtpc_body *b = (struct smtpc_body *)((char *)io - offsetof(struct smtpc_body, io));
	struct smtpc_session *s = b->s;
	size_t want = b->len - b->next < SMTPC_BODY_CHUNK ? b->len - b->next : SMTPC_BODY_CHUNK;
	char why[200];

	b->reading = false;
	if (s == NULL) {
		body_free(b);	/* the session went meanwhile */
		return;
	}
	if (b->got < 0) {
		s->job->read_error = true;
		snprintf(why, sizeof(why), "spool read at %zu: %s", b->next, strerror(b->eno));
		(void)body_abort(s, why);
		return;
	}
	if ((size_t)b->got < want) {
		s->job->damaged = true;
		snprintf(why, sizeof(why), "message data damaged in the spool: %zu bytes, "
		    "the envelope says %zu", b->next + (size_t)b->got, b->len);
		(void)body_abort(s, why);
		return;
	}
	b->crc = spool_data_crc(b->crc, b->buf, want);
	b->cur = b->buf;
	b->curlen = want;
	b->pos = 0;
	b->next += want;
	(void)body_pump(s);
}

/* the piece is all queued: read the next one, if any */
static void
next_piece(struct smtpc_session *s, struct smtpc_body *b)
{
	b->consumed += b->curlen;
	b->cur = NULL;
	b->curlen = b->pos = 0;
	if (b->consumed < b->len) {
		b->reading = true;
		b->io.run = read_run;
		b->io.done = read_done;
		smtpc_io_submit(s->ctx->io, &b->io);
	}
}

/* every byte is queued: the CRC, the last CRLF, the final dot */
static int
body_end(struct smtpc_session *s, struct smtpc_body *b)
{
	struct smtpc_job *j = s->job;

	if (b->fd >= 0 && b->crc != j->body_crc) {
		char why[200];

		j->damaged = true;
		snprintf(why, sizeof(why), "message data damaged in the spool: CRC-32C %08x, "
		    "the envelope says %08x", (unsigned)b->crc, (unsigned)j->body_crc);
		return body_abort(s, why);
	}
	if (!b->bol)
		smtpc_sess_put(s, "\r\n", 2);
	smtpc_body_release(s);
	/* never the terminator after a body that did not fit: a cut message
	 * must not be delivered as if whole */
	if (s->broken)
		return body_abort(s, "out of memory");
	smtpc_sess_put(s, ".\r\n", 3);
	if (s->broken)
		return body_abort(s, "out of memory");
	if (s->logging)
		plog_info(s->ctx->plog, &s->log, "", "message sent: %zu octets", j->len);
	smtpc_sess_set_state(s, SC_BODY, T_DATA_END);
	return 0;
}

/* queue output up to the high-water mark; -1 when the session is gone */
static int
body_pump(struct smtpc_session *s)
{
	struct smtpc_body *b = s->body;

	while (!s->broken) {
		size_t out = conn_out_pending(s->conn), take;

		if (b->pos < b->curlen) {
			if (out >= SMTPC_BODY_OUT_HIGH) {
				conn_want_drain(s->conn, SMTPC_BODY_OUT_LOW);
				return 0;
			}
			take = b->curlen - b->pos;
			if (take > SMTPC_BODY_OUT_HIGH - out)
				take = SMTPC_BODY_OUT_HIGH - out;
			stuff(s, b, b->cur + b->pos, take);
			b->pos += take;
			if (b->pos == b->curlen)
				next_piece(s, b);
			continue;
		}
		if (b->reading)
			return 0;	/* read_done pumps again */
		return body_end(s, b);
	}
	if (s->broken)
		return body_abort(s, "out of memory");
	return 0;
}

/* DATA said 354: start sending the body (SC_SENDING until the dot) */
int
smtpc_body_start(struct smtpc_session *s)
{
	struct smtpc_job *j = s->job;
	struct smtpc_body *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return body_abort(s, "out of memory");
	b->s = s;
	b->fd = -1;
	b->len = j->len;
	b->cur = j->data;
	b->curlen = j->dlen;
	b->next = j->dlen;
	b->crc = j->data_crc;
	b->bol = true;
	s->body = b;
	if (j->dlen < j->len) {
		/* our own descriptor: the owner may close its own while a read
		 * of an abandoned session is still in flight */
		if (j->body_fd < 0 || s->ctx->io == NULL ||
		    (b->fd = fcntl(j->body_fd, F_DUPFD_CLOEXEC, 0)) < 0 ||
		    (b->buf = malloc(SMTPC_BODY_CHUNK)) == NULL) {
			j->read_error = true;
			return body_abort(s, j->body_fd < 0 || s->ctx->io == NULL ?
			    "no way to read the rest of the message" : "out of memory or descriptors");
		}
		b->base = j->body_off;
	}
	smtpc_sess_set_state(s, SC_SENDING, T_DATA_BLOCK);
	if (b->curlen == 0)
		next_piece(s, b);
	return body_pump(s);
}

/* the output drained (conn.c's CONN_DRAINED): more of the body */
int
smtpc_body_drained(struct smtpc_session *s)
{
	if (s->body == NULL || s->state != SC_SENDING)
		return 0;
	return body_pump(s);
}
