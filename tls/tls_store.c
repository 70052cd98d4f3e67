/* tls_store.c: the certificate store in state_dir/certs/ (layout in
 * tls_int.h and dsmtp-cert(1)): reading it, adding, enabling and removing
 * certificates, pending keys from `request`. Every file is written whole
 * (temp file, fsync, rename, directory fsync); private keys are mode 0600
 * and their writer's (root's when root writes them), never the store's owner's. */
#include "autoconfig.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/owner.h"
#include "tls/tls_int.h"

#define ENABLED_FILE	"enabled"
#define PENDING_DIR	"pending"

/* snprintf into a path buffer; -1 when it does not fit */
static int DIAG_PRINTF(3, 4)
path_fmt(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* fsync a directory so a rename or unlink in it survives a crash */
static int
fsync_dir(const char *dir, struct dsmtp_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0) {
		dsmtp_err_set(err, "%s: cannot sync the directory: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* write a file atomically and durably */
static int	write_file(const char *dir, const char *name, const void *data, size_t len,
    mode_t mode, bool follow_owner, struct dsmtp_err *err);

int
tls_store_write_file(const char *dir, const char *name, const void *data, size_t len,
    mode_t mode, struct dsmtp_err *err)
{
	return write_file(dir, name, data, len, mode, false, err);
}

/* follow_owner: the new file takes dir's owner (owner.h) while still
 * only ours, before the rename */
static int
write_file(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
    bool follow_owner, struct dsmtp_err *err)
{
	static unsigned seq;
	char tmp[TLS_PATH_MAX], path[TLS_PATH_MAX];
	const unsigned char *p = data;
	size_t off = 0;
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    (n = snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.%u.tmp", dir, name, (long)getpid(), seq++)) < 0 ||
	    (size_t)n >= sizeof(tmp)) {
		dsmtp_err_set(err, "%s/%s: path too long", dir, name);
		return -1;
	}
	/* O_EXCL with the final mode: the key is never readable by others,
	 * not even for an instant */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0) {
		dsmtp_err_set(err, "%s: cannot create: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) < 0)	/* the umask may have taken bits we asked for */
		goto fail;
	if (follow_owner && owner_follow_dir_fd(dir, fd) < 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		off += (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	return fsync_dir(dir, err);
fail:
	dsmtp_err_set(err, "%s: cannot write: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

/* a file of the store: written as above, then owned like the store (root
 * running dsmtp-cert on a store the service user owns leaves files the
 * service can read: common/owner.h) */
static int
store_write(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
    struct dsmtp_err *err)
{
	return write_file(dir, name, data, len, mode, true, err);
}

/* load every certificate of a file */
int
tls_chain_load(const char *path, gnutls_x509_crt_t **chain, unsigned *n, struct dsmtp_err *err)
{
	gnutls_datum_t d;
	int rc;

	if (tls_read_file(path, &d, err) < 0)
		return -1;
	rc = tls_crt_list_load(&d, path, chain, n, err);
	gnutls_free(d.data);
	return rc;
}

/* are the first len characters hex digits? */
static bool
is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* read the enabled file into the certificates' flags (a missing file: none) */
static int
enabled_read(struct tls_store *st, struct dsmtp_err *err)
{
	char path[TLS_PATH_MAX + 16], line[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", st->dir, ENABLED_FILE);
	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		dsmtp_err_set(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		for (size_t i = 0; i < st->ncerts; i++)
			if (strcasecmp(st->certs[i].sha1, line) == 0)
				st->certs[i].enabled = true;
	}
	fclose(fp);
	return 0;
}

/* rewrite the enabled file from the certificates' flags */
static int
enabled_write(const struct tls_store *st, struct dsmtp_err *err)
{
	char *buf = malloc(st->ncerts * 41 + 1);
	size_t len = 0;
	int rc;

	if (buf == NULL) {
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < st->ncerts; i++)
		if (st->certs[i].enabled) {
			memcpy(buf + len, st->certs[i].sha1, 40);
			buf[len + 40] = '\n';
			len += 41;
		}
	rc = store_write(st->dir, ENABLED_FILE, buf, len, 0644, err);
	free(buf);
	return rc;
}

/* load one <sha1>.pem into a new entry */
static int
cert_load(struct tls_store *st, const char *name, struct dsmtp_err *err)
{
	struct tls_store_cert *c, *v;
	gnutls_x509_crt_t *chain;
	unsigned n;
	struct stat sb;
	int ret;

	if ((v = realloc(st->certs, (st->ncerts + 1) * sizeof(*v))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	st->certs = v;
	c = &v[st->ncerts];
	memset(c, 0, sizeof(*c));
	if (path_fmt(c->cert_path, sizeof(c->cert_path), "%s/%s", st->dir, name) < 0 ||
	    path_fmt(c->key_path, sizeof(c->key_path), "%s/%.40s.key", st->dir, name) < 0) {
		dsmtp_err_set(err, "%s: path too long", st->dir);
		return -1;
	}
	if (tls_chain_load(c->cert_path, &chain, &n, err) < 0)
		return -1;
	ret = tls_cert_facts_from_crt(chain[0], &c->facts, err);
	tls_crt_list_free(chain, n);
	if (ret < 0) {
		struct dsmtp_err sub = *err;

		dsmtp_err_set(err, "%s: %s", c->cert_path, sub.msg);
		return -1;
	}
	c->chain_len = n;
	memcpy(c->sha1, c->facts.sha1, sizeof(c->sha1));
	if (strncmp(c->sha1, name, 40) != 0) {
		dsmtp_err_set(err, "%s: holds certificate %s, not the one its name says",
		    c->cert_path, c->sha1);
		tls_cert_facts_free(&c->facts);
		return -1;
	}
	c->has_key = stat(c->key_path, &sb) == 0;
	st->ncerts++;
	return 0;
}

/* load one pending/<id>.key (and its .csr's subject) */
static int
pending_load(struct tls_store *st, const char *pdir, const char *name, struct dsmtp_err *err)
{
	struct tls_store_pending *p, *v;
	gnutls_x509_privkey_t key;
	gnutls_datum_t d;
	struct stat sb;
	size_t idlen = strlen(name) - 4;
	int ret;

	if ((v = realloc(st->pending, (st->npending + 1) * sizeof(*v))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	st->pending = v;
	p = &v[st->npending];
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%.*s", (int)idlen, name);
	if (path_fmt(p->key_path, sizeof(p->key_path), "%s/%s", pdir, name) < 0 ||
	    path_fmt(p->csr_path, sizeof(p->csr_path), "%s/%s.csr", pdir, p->id) < 0) {
		dsmtp_err_set(err, "%s: path too long", pdir);
		return -1;
	}
	if (tls_key_load(p->key_path, &key, err) < 0)
		return -1;
	ret = tls_spki_pin_of_privkey(key, p->spki, err);
	gnutls_x509_privkey_deinit(key);
	if (ret < 0)
		return -1;
	p->created = stat(p->key_path, &sb) == 0 ? sb.st_mtime : 0;
	snprintf(p->subject, sizeof(p->subject), "(request file missing)");
	if (tls_read_file(p->csr_path, &d, err) == 0) {
		gnutls_x509_crq_t crq;
		gnutls_datum_t dn = { NULL, 0 };

		if (gnutls_x509_crq_init(&crq) >= 0) {
			if (gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_PEM) >= 0 &&
			    gnutls_x509_crq_get_dn3(crq, &dn, 0) >= 0)
				snprintf(p->subject, sizeof(p->subject), "%.*s", (int)dn.size,
				    (const char *)dn.data);
			gnutls_free(dn.data);
			gnutls_x509_crq_deinit(crq);
		}
		gnutls_free(d.data);
	}
	st->npending++;
	return 0;
}

static int reload(struct tls_store *, struct dsmtp_err *);

/* remember a file that could not be read: one damaged file must not take
 * the whole store (and dsmtpd) down, nor hide from `dsmtp-cert list` */
static int
bad_add(struct tls_store *st, const char *why, struct dsmtp_err *err)
{
	char **v = realloc(st->bad, (st->nbad + 1) * sizeof(*v));

	if (v == NULL || (v[st->nbad] = strdup(why)) == NULL) {
		if (v != NULL)
			st->bad = v;
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	st->bad = v;
	st->nbad++;
	return 0;
}

/* newest first, then by thumbprint: a stable order for `list` */
static int
cert_cmp(const void *a, const void *b)
{
	const struct tls_store_cert *x = a, *y = b;

	if (x->facts.not_before != y->facts.not_before)
		return x->facts.not_before > y->facts.not_before ? -1 : 1;
	return strcmp(x->sha1, y->sha1);
}

/* oldest request first */
static int
pending_cmp(const void *a, const void *b)
{
	const struct tls_store_pending *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* remove temporary files a crashed writer left (older than an hour, so a
 * concurrent writer's file is never touched) */
static void
stale_tmp_remove(const char *dir)
{
	struct dirent *de;
	struct stat sb;
	char path[TLS_PATH_MAX + 300];
	time_t now = time(NULL);
	DIR *d;
	int dfd;

	if ((d = opendir(dir)) == NULL)
		return;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] != '.' || len < 5 || strcmp(de->d_name + len - 4, ".tmp") != 0)
			continue;
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
		    sb.st_mtime < now - 3600 &&
		    path_fmt(path, sizeof(path), "%s/%s", dir, de->d_name) == 0)
			(void)unlink(path);	/* best effort: a leftover is harmless */
	}
	closedir(d);
}

/* read the store in dir (created if missing) */
int
tls_store_open_dir(const char *dir, struct tls_store *st, struct dsmtp_err *err)
{
	char pdir[TLS_PATH_MAX + 16];
	struct dirent *de;
	DIR *d;

	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	if (strlen(dir) >= sizeof(st->dir) - 64) {
		dsmtp_err_set(err, "%s: path too long", dir);
		return -1;
	}
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	snprintf(pdir, sizeof(pdir), "%s/%s", dir, PENDING_DIR);
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || (mkdir(pdir, 0700) < 0 && errno != EEXIST) ||
	    owner_follow_dir(dir, PENDING_DIR) < 0) {
		dsmtp_err_set(err, "%s: cannot create: %s", pdir, strerror(errno));
		return -1;
	}
	stale_tmp_remove(dir);
	stale_tmp_remove(pdir);
	if ((d = opendir(dir)) == NULL) {
		dsmtp_err_set(err, "%s: cannot open: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len != 44 || strcmp(de->d_name + 40, ".pem") != 0 || !is_hex(de->d_name, 40))
			continue;
		if (cert_load(st, de->d_name, err) < 0 && bad_add(st, err->msg, err) < 0) {
			closedir(d);
			tls_store_close(st);
			return -1;
		}
	}
	closedir(d);
	/* with a key process (DESIGN.md 13.4) neither the supervisor nor a
	 * worker parses the pending requests' keys: none is served, a worker
	 * may not read them, and what the supervisor parsed every worker
	 * forked later would inherit */
	if (tls_keyproc_active())
		goto pending_done;
	if ((d = opendir(pdir)) == NULL) {
		dsmtp_err_set(err, "%s: cannot open: %s", pdir, strerror(errno));
		tls_store_close(st);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 5 || len > 20 || strcmp(de->d_name + len - 4, ".key") != 0 ||
		    !is_hex(de->d_name, len - 4))
			continue;
		if (pending_load(st, pdir, de->d_name, err) < 0 && bad_add(st, err->msg, err) < 0) {
			closedir(d);
			tls_store_close(st);
			return -1;
		}
	}
	closedir(d);
pending_done:
	if (st->ncerts > 1)
		qsort(st->certs, st->ncerts, sizeof(*st->certs), cert_cmp);
	if (st->npending > 1)
		qsort(st->pending, st->npending, sizeof(*st->pending), pending_cmp);
	if (enabled_read(st, err) < 0) {
		tls_store_close(st);
		return -1;
	}
	return 0;
}

/* read the store of cfg's state_dir */
int
tls_store_open(const struct dsmtp_config *cfg, struct tls_store *st, struct dsmtp_err *err)
{
	char dir[TLS_PATH_MAX];

	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	if (config_state_path(cfg, "certs", dir, sizeof(dir), err) < 0)
		return -1;
	return tls_store_open_dir(dir, st, err);
}

/* free what tls_store_open read */
void
tls_store_close(struct tls_store *st)
{
	for (size_t i = 0; i < st->ncerts; i++)
		tls_cert_facts_free(&st->certs[i].facts);
	free(st->certs);
	free(st->pending);
	for (size_t i = 0; i < st->nbad; i++)
		free(st->bad[i]);
	free(st->bad);
	st->certs = NULL;
	st->pending = NULL;
	st->bad = NULL;
	st->ncerts = st->npending = st->nbad = 0;
	if (st->lock_fd >= 0)
		close(st->lock_fd);	/* releases the flock */
	st->lock_fd = -1;
}

/* take the store's exclusive lock, waiting for another dsmtp-cert */
int
tls_store_lock(struct tls_store *st, struct dsmtp_err *err)
{
	char path[TLS_PATH_MAX + 16];
	int fd;

	if (st->lock_fd >= 0)
		return 0;
	if (path_fmt(path, sizeof(path), "%s/.lock", st->dir) < 0) {
		dsmtp_err_set(err, "%s: path too long", st->dir);
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 ||
	    owner_follow_dir_fd(st->dir, fd) < 0) {
		dsmtp_err_set(err, "%s: cannot open: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		dsmtp_err_set(err, "%s: cannot lock: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	st->lock_fd = fd;
	/* what was read before the lock may have changed while waiting */
	return reload(st, err);
}

/* close and read the store again after a change */
static int
reload(struct tls_store *st, struct dsmtp_err *err)
{
	char dir[TLS_PATH_MAX];

	int lock_fd = st->lock_fd;
	int rc;

	/* keep the lock across the reload: it guards the read as well */
	snprintf(dir, sizeof(dir), "%s", st->dir);
	st->lock_fd = -1;
	tls_store_close(st);
	rc = tls_store_open_dir(dir, st, err);
	if (rc < 0) {
		if (lock_fd >= 0)
			close(lock_fd);
		return -1;
	}
	st->lock_fd = lock_fd;
	return 0;
}

/* find the certificate a thumbprint argument names */
int
tls_store_lookup(const struct tls_store *st, const char *arg, struct dsmtp_err *err)
{
	char want[64];
	size_t len = 0;
	int found = -1, nfound = 0;

	for (const char *p = arg; *p != '\0'; p++) {
		if (*p == ':')
			continue;
		if (!isxdigit((unsigned char)*p) || len >= 40) {
			dsmtp_err_set(err, "\"%s\": not a thumbprint (40 hex digits of SHA-1, "
			    "or a unique prefix of at least 8)", arg);
			return -1;
		}
		want[len++] = (char)tolower((unsigned char)*p);
	}
	want[len] = '\0';
	if (len < 8) {
		dsmtp_err_set(err, "\"%s\": a thumbprint prefix needs at least 8 hex digits", arg);
		return -1;
	}
	for (size_t i = 0; i < st->ncerts; i++)
		if (strncmp(st->certs[i].sha1, want, len) == 0) {
			found = (int)i;
			nfound++;
		}
	if (nfound == 0) {
		dsmtp_err_set(err, "no certificate %s in %s (see dsmtp-cert list)", want, st->dir);
		return -1;
	}
	if (nfound > 1) {
		dsmtp_err_set(err, "\"%s\" matches %d certificates in %s; give more digits", arg,
		    nfound, st->dir);
		return -1;
	}
	return found;
}

/* how many certificates are enabled */
int
tls_store_enabled_count(const struct tls_store *st)
{
	int n = 0;

	for (size_t i = 0; i < st->ncerts; i++)
		n += st->certs[i].enabled;
	return n;
}

/* index of the certificate with this SHA-1, or -1 */
static int
find_sha1(const struct tls_store *st, const char *sha1)
{
	for (size_t i = 0; i < st->ncerts; i++)
		if (strcmp(st->certs[i].sha1, sha1) == 0)
			return (int)i;
	return -1;
}

/* the chain as concatenated PEM */
static int
chain_pem(gnutls_x509_crt_t *chain, unsigned n, char **out, size_t *outlen, struct dsmtp_err *err)
{
	char *buf = NULL;
	size_t len = 0;

	for (unsigned i = 0; i < n; i++) {
		gnutls_datum_t pem = { NULL, 0 };
		char *nb;
		int rc;

		if ((rc = gnutls_x509_crt_export2(chain[i], GNUTLS_X509_FMT_PEM, &pem)) < 0) {
			dsmtp_err_set(err, "cannot encode certificate %u: %s", i + 1,
			    gnutls_strerror(rc));
			free(buf);
			return -1;
		}
		if ((nb = realloc(buf, len + pem.size + 1)) == NULL) {
			gnutls_free(pem.data);
			free(buf);
			dsmtp_err_set(err, "out of memory");
			return -1;
		}
		buf = nb;
		memcpy(buf + len, pem.data, pem.size);
		len += pem.size;
		gnutls_free(pem.data);
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* write key as PKCS#8 PEM, mode 0600, into dir/name. Unlike the store's
 * other files it keeps its writer's owner: written by root (dsmtp-cert as
 * root, or the daemons before they drop to their user), it is root's 0600,
 * which the root parent reads and hands to the key process, and which the
 * workers, running as the store's owner, cannot open (DESIGN.md 13.4). */
static int
key_write(const char *dir, const char *name, gnutls_x509_privkey_t key, struct dsmtp_err *err)
{
	gnutls_datum_t pem = { NULL, 0 };
	int rc;

	if ((rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
	    GNUTLS_PKCS_PLAIN, &pem)) < 0) {
		dsmtp_err_set(err, "cannot encode the private key: %s", gnutls_strerror(rc));
		return -1;
	}
	rc = write_file(dir, name, pem.data, pem.size, 0600, false, err);
	gnutls_memset(pem.data, 0, pem.size);
	gnutls_free(pem.data);
	return rc;
}

/* add a certificate (and its key) to the store */
int
tls_store_add(struct tls_store *st, gnutls_x509_crt_t *chain, unsigned n,
    gnutls_x509_privkey_t key, bool enable, size_t *idx, struct dsmtp_err *err)
{
	struct tls_cert_facts f;
	char name[64], kpin[52];
	char *pem = NULL;
	size_t pemlen;
	int i = -1;

	if (tls_cert_facts_from_crt(chain[0], &f, err) < 0)
		return -1;
	if (find_sha1(st, f.sha1) >= 0) {
		dsmtp_err_set(err, "certificate %s (%s) is already in the store", f.sha1, f.subject);
		goto fail;
	}
	if (key != NULL) {
		if (tls_spki_pin_of_privkey(key, kpin, err) < 0)
			goto fail;
		if (strcmp(kpin, f.spki) != 0) {
			dsmtp_err_set(err, "certificate %s (%s) does not belong to this private key",
			    f.sha1, f.subject);
			goto fail;
		}
		snprintf(name, sizeof(name), "%s.key", f.sha1);
		/* the key first: a certificate file never appears without it */
		if (key_write(st->dir, name, key, err) < 0)
			goto fail;
	}
	if (chain_pem(chain, n, &pem, &pemlen, err) < 0)
		goto fail;
	snprintf(name, sizeof(name), "%s.pem", f.sha1);
	if (store_write(st->dir, name, pem, pemlen, 0644, err) < 0)
		goto fail;
	free(pem);
	pem = NULL;
	if (reload(st, err) < 0)
		goto fail;
	if ((i = find_sha1(st, f.sha1)) < 0) {
		dsmtp_err_set(err, "certificate %s vanished from %s", f.sha1, st->dir);
		goto fail;
	}
	/* the first certificate with a key is the one to use until told otherwise */
	if ((enable || tls_store_enabled_count(st) == 0) && st->certs[i].has_key &&
	    tls_store_set_enabled(st, (size_t)i, true, err) < 0)
		goto fail;
	*idx = (size_t)i;
	tls_cert_facts_free(&f);
	return 0;
fail:
	free(pem);
	tls_cert_facts_free(&f);
	return -1;
}

/* enable or disable one certificate */
int
tls_store_set_enabled(struct tls_store *st, size_t idx, bool on, struct dsmtp_err *err)
{
	bool was = st->certs[idx].enabled;

	if (on && !st->certs[idx].has_key) {
		dsmtp_err_set(err, "certificate %s has no private key in the store; it cannot serve",
		    st->certs[idx].sha1);
		return -1;
	}
	st->certs[idx].enabled = on;
	if (enabled_write(st, err) < 0) {
		st->certs[idx].enabled = was;
		return -1;
	}
	return 0;
}

/* unlink dir/name; a missing file is fine */
static int
unlink_in(const char *path, struct dsmtp_err *err)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		dsmtp_err_set(err, "%s: cannot remove: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* delete a certificate and its key */
int
tls_store_remove(struct tls_store *st, size_t idx, struct dsmtp_err *err)
{
	char sha1[41];

	memcpy(sha1, st->certs[idx].sha1, sizeof(sha1));
	if (st->certs[idx].enabled) {
		st->certs[idx].enabled = false;
		if (enabled_write(st, err) < 0)
			return -1;
	}
	/* the certificate first, then its key: never a certificate without a key */
	if (unlink_in(st->certs[idx].cert_path, err) < 0 ||
	    unlink_in(st->certs[idx].key_path, err) < 0 || fsync_dir(st->dir, err) < 0)
		return -1;
	return reload(st, err);
}

/* keep a requested key and its request as pending */
int
tls_store_add_pending(struct tls_store *st, gnutls_x509_privkey_t key, gnutls_x509_crq_t crq,
    size_t *idx, struct dsmtp_err *err)
{
	unsigned char id[64];
	size_t idlen = sizeof(id);
	char hex[129], name[160], pdir[TLS_PATH_MAX + 16];
	gnutls_datum_t pem = { NULL, 0 };
	int rc;

	if ((rc = gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, id, &idlen)) < 0) {
		dsmtp_err_set(err, "key id: %s", gnutls_strerror(rc));
		return -1;
	}
	tls_hex(id, idlen < 8 ? idlen : 8, hex);
	snprintf(pdir, sizeof(pdir), "%s/%s", st->dir, PENDING_DIR);
	snprintf(name, sizeof(name), "%s.csr", hex);
	if ((rc = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &pem)) < 0) {
		dsmtp_err_set(err, "cannot encode the request: %s", gnutls_strerror(rc));
		return -1;
	}
	rc = store_write(pdir, name, pem.data, pem.size, 0644, err);
	gnutls_free(pem.data);
	if (rc < 0)
		return -1;
	snprintf(name, sizeof(name), "%s.key", hex);
	if (key_write(pdir, name, key, err) < 0 || reload(st, err) < 0)
		return -1;
	for (size_t i = 0; i < st->npending; i++)
		if (strcmp(st->pending[i].id, hex) == 0) {
			*idx = i;
			return 0;
		}
	dsmtp_err_set(err, "pending key %s vanished from %s", hex, pdir);
	return -1;
}

/* the pending key with this SPKI pin */
int
tls_store_pending_find(const struct tls_store *st, const char *spki)
{
	for (size_t i = 0; i < st->npending; i++)
		if (strcmp(st->pending[i].spki, spki) == 0)
			return (int)i;
	return -1;
}

/* delete a pending key and its request */
int
tls_store_pending_remove(struct tls_store *st, size_t idx, struct dsmtp_err *err)
{
	char pdir[TLS_PATH_MAX + 16];

	snprintf(pdir, sizeof(pdir), "%s/%s", st->dir, PENDING_DIR);
	if (unlink_in(st->pending[idx].csr_path, err) < 0 ||
	    unlink_in(st->pending[idx].key_path, err) < 0 || fsync_dir(pdir, err) < 0)
		return -1;
	return reload(st, err);
}

/* "CN=<value>" with the RFC 4514 specials escaped */
static int
dn_of_cn(const char *cn, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen < 4)
		return -1;
	memcpy(out, "CN=", 3);
	o = 3;
	for (const char *p = cn; *p != '\0'; p++) {
		if (strchr(",+\"\\<>;=", *p) != NULL || (p == cn && (*p == '#' || *p == ' '))) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '\\';
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = *p;
	}
	out[o] = '\0';
	return 0;
}

/* make and store a new self-signed certificate */
int
tls_store_new_selfsigned(struct tls_store *st, enum tls_keyalg alg, const char *cn,
    char *const *san, size_t nsan, unsigned days, bool enable, size_t *idx, struct dsmtp_err *err)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	char dn[600];
	int rc = -1;

	if (cn == NULL || cn[0] == '\0' || dn_of_cn(cn, dn, sizeof(dn)) < 0) {
		dsmtp_err_set(err, "--cn: an empty or too long name");
		return -1;
	}
	if (tls_key_generate(alg, &key, err) < 0)
		return -1;
	if (tls_selfsigned_make(key, dn, san, nsan, days, &crt, err) < 0)
		goto out;
	rc = tls_store_add(st, &crt, 1, key, enable, idx, err);
out:
	if (crt)
		gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return rc;
}
