/* maildir.c: local delivery for next_hop "maildir:/path" (DESIGN.md
 * section 5): the message is written to tmp/ under a unique name,
 * fsync'd, renamed into new/ and new/ is fsync'd, so a reader never sees
 * half a message and a crash loses none that we reported delivered
 * (the maildir protocol, as qmail defined it). It runs on dsmtpc's I/O
 * thread (iothread.h): the part of a big message not in memory is copied
 * from the spool file a chunk at a time, and its CRC checked before the
 * file is renamed into new/. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/spool.h"
#include "smtpc/smtpc.h"

/* the Q part of the name: two I/O threads may deliver at once */
static atomic_uint maildir_seq;

/* mkdir unless it exists */
static int
ensure_dir(const char *path, struct dsmtp_err *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		dsmtp_err_set(err, "%s: mkdir: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* header text without CR, LF or other controls */
static void
clean(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in && o + 1 < outlen; in++)
		out[o++] = ((unsigned char)*in < 0x20 || *in == 0x7f) ? '?' : *in;
	out[o] = '\0';
}

/* the part of the message not in memory, from the spool file, a chunk
 * at a time, its CRC-32C checked against the envelope's before the file
 * may count: -1 with err (and *damaged when the bytes are not the
 * message's) */
static int
copy_rest(int out, const char *tmp, const struct smtpc_job *b, bool *damaged,
    struct dsmtp_err *err)
{
	char *buf = malloc(SMTPC_BODY_CHUNK);
	uint32_t crc = b->data_crc;
	size_t at = b->dlen;
	int rc = -1;

	if (buf == NULL) {
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	while (at < b->len) {
		size_t want = b->len - at < SMTPC_BODY_CHUNK ? b->len - at : SMTPC_BODY_CHUNK;
		ssize_t n = spool_data_read(b->body_fd, buf, want, b->body_off + at);

		if (n < 0) {
			dsmtp_err_set(err, "spool read at %zu: %s", at, strerror(errno));
			goto out;
		}
		if (n == 0) {
			*damaged = true;
			dsmtp_err_set(err, "message data damaged in the spool: %zu bytes, the "
			    "envelope says %zu", at, b->len);
			goto out;
		}
		crc = spool_data_crc(crc, buf, (size_t)n);
		if (write_all(out, buf, (size_t)n) < 0) {
			dsmtp_err_set(err, "%s: write: %s", tmp, strerror(errno));
			goto out;
		}
		at += (size_t)n;
	}
	if (crc != b->body_crc) {
		*damaged = true;
		dsmtp_err_set(err, "message data damaged in the spool: CRC-32C %08x, the envelope "
		    "says %08x", (unsigned)crc, (unsigned)b->body_crc);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

int
smtpc_maildir_deliver(const char *path, const char *hostname, const char *sender,
    const char *rcpt, const struct smtpc_job *body, bool *damaged, struct dsmtp_err *err)
{
	char tmp[1200], nw[1200], name[300], dir[1100], hdr[1200], s[520], r[520], host[256];
	struct timeval tv;
	int fd = -1, dfd = -1, n;

	snprintf(dir, sizeof(dir), "%s/tmp", path);
	if (ensure_dir(path, err) < 0 || ensure_dir(dir, err) < 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/cur", path);
	if (ensure_dir(dir, err) < 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/new", path);
	if (ensure_dir(dir, err) < 0)
		return -1;
	/* a host name with '/' or ':' would break the name's syntax */
	clean(hostname, host, sizeof(host));
	for (char *p = host; *p; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	gettimeofday(&tv, NULL);
	snprintf(name, sizeof(name), "%lld.M%06ldP%ldQ%u.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(), atomic_fetch_add(&maildir_seq, 1) + 1, host);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", path, name);
	snprintf(nw, sizeof(nw), "%s/new/%s", path, name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		dsmtp_err_set(err, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	clean(sender, s, sizeof(s));
	clean(rcpt, r, sizeof(r));
	n = snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\r\nDelivered-To: %s\r\n", s, r);
	if (n < 0 || (size_t)n >= sizeof(hdr) || write_all(fd, hdr, (size_t)n) < 0 ||
	    write_all(fd, body->data, body->dlen) < 0) {
		dsmtp_err_set(err, "%s: write: %s", tmp, strerror(errno));
		goto fail;
	}
	if (body->dlen < body->len && copy_rest(fd, tmp, body, damaged, err) < 0)
		goto fail;
	if (fsync(fd) < 0) {
		dsmtp_err_set(err, "%s: fsync: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		dsmtp_err_set(err, "%s: close: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, nw) < 0) {
		dsmtp_err_set(err, "%s: rename into new/: %s", tmp, strerror(errno));
		goto fail;
	}
	/* the rename is durable only once new/ is on disk */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) < 0) {
		dsmtp_err_set(err, "%s: fsync: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}
