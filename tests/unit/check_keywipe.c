/* check_keywipe.c: no private key text is left in a process that loaded a
 * key (issue 15). For each key type and PEM flavour, a child made only for
 * this loads the key the way dsmtp does (tls_key_load, tls_cred_add_pair,
 * a store with a pending key, a PKCS#12 password file) and then reads its
 * whole writable memory (every rw mapping of /proc/self/maps, through
 * /proc/self/mem: heap, freed chunks, stack, libraries' data) looking for
 * the key file's base64 lines. Controls that leave the text behind on
 * purpose (read and not wiped, live or freed) must be found, so a scanner
 * that sees nothing cannot pass. Key files are made by another child, so
 * the scanning child's memory never saw them being written. */
#include "autoconfig.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "tls/tls_int.h"
#include "tests/unit/unit.h"

/* the needles and the read buffer live here, and this area is not scanned */
#define AREA_SIZE	(4u << 20)
#define NEEDLE_SPACE	65536
#define NEEDLES_MAX	128
#define NEEDLE_MIN	24	/* shorter base64 tails could match by chance */
/* mappings larger than this are reserved address space (ASan's shadow) */
#define MAPPING_MAX	((size_t)1 << 30)

enum fmt { FMT_PKCS8, FMT_TRADITIONAL, FMT_PASSWORD };
enum how {
	HOW_KEY_LOAD,		/* tls_key_load, then deinit */
	HOW_CRED_PAIR,		/* tls_cred_add_pair; the credentials stay (a worker's state) */
	HOW_STORE_PENDING,	/* tls_store_open_dir over a pending key; the store stays open */
	HOW_PASSWORD_FILE,	/* tls_password_file, then the caller wipes its copy */
	HOW_CONTROL_LIVE,	/* read the file and keep it: must be found */
	HOW_CONTROL_FREED,	/* read the file, free without wiping: must be found */
};

static const struct wipe_case {
	const char	*name;
	enum tls_keyalg	 alg;
	enum fmt	 fmt;
	enum how	 how;
	bool		 expect_found;
} cases[] = {
	{ "control: live copy", TLS_KEY_ECDSA_P256, FMT_PKCS8, HOW_CONTROL_LIVE, true },
	{ "control: freed unwiped copy", TLS_KEY_ECDSA_P256, FMT_PKCS8, HOW_CONTROL_FREED, true },
	{ "control: freed unwiped RSA", TLS_KEY_RSA_2048, FMT_TRADITIONAL, HOW_CONTROL_FREED, true },
	{ "control: freed unwiped password", TLS_KEY_ECDSA_P256, FMT_PASSWORD, HOW_CONTROL_FREED,
	    true },
	{ "key_load ecdsa-p256 pkcs8", TLS_KEY_ECDSA_P256, FMT_PKCS8, HOW_KEY_LOAD, false },
	{ "key_load ecdsa-p256 sec1", TLS_KEY_ECDSA_P256, FMT_TRADITIONAL, HOW_KEY_LOAD, false },
	{ "key_load ecdsa-p384 pkcs8", TLS_KEY_ECDSA_P384, FMT_PKCS8, HOW_KEY_LOAD, false },
	{ "key_load rsa-2048 pkcs8", TLS_KEY_RSA_2048, FMT_PKCS8, HOW_KEY_LOAD, false },
	{ "key_load rsa-2048 pkcs1", TLS_KEY_RSA_2048, FMT_TRADITIONAL, HOW_KEY_LOAD, false },
	{ "key_load ed25519 pkcs8", TLS_KEY_ED25519, FMT_PKCS8, HOW_KEY_LOAD, false },
	{ "cred_pair ecdsa-p256", TLS_KEY_ECDSA_P256, FMT_PKCS8, HOW_CRED_PAIR, false },
	{ "cred_pair rsa-2048 pkcs1", TLS_KEY_RSA_2048, FMT_TRADITIONAL, HOW_CRED_PAIR, false },
	{ "cred_pair ed25519", TLS_KEY_ED25519, FMT_PKCS8, HOW_CRED_PAIR, false },
	{ "store pending rsa-2048", TLS_KEY_RSA_2048, FMT_PKCS8, HOW_STORE_PENDING, false },
	{ "store pending ecdsa-p256", TLS_KEY_ECDSA_P256, FMT_PKCS8, HOW_STORE_PENDING, false },
	{ "password file", TLS_KEY_ECDSA_P256, FMT_PASSWORD, HOW_PASSWORD_FILE, false },
};

static char tmpdir[256];
static unsigned char *area;

/* write data to path, mode 0600 */
static void
put_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0)
		_exit(2);
}

/* in a child of its own: the key (or password) file and a certificate */
static void
make_files(const struct wipe_case *c)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem = { NULL, 0 };
	static char san0[] = "mx.example.org";
	char path[512], *san[] = { san0 };
	unsigned char rnd[48];
	char pw[128];
	struct dsmtp_err err;
	pid_t pid;
	int st;

	fflush(stdout);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid > 0) {
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "making the files failed");
		return;
	}
	if (c->fmt == FMT_PASSWORD) {
		if (gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd)) < 0)
			_exit(2);
		tls_hex(rnd, sizeof(rnd), pw);
		strcat(pw, "\n");
		snprintf(path, sizeof(path), "%s/password", tmpdir);
		put_file(path, pw, strlen(pw));
		_exit(0);
	}
	if (tls_key_generate(c->alg, &key, &err) < 0 ||
	    tls_selfsigned_make(key, "CN=mx.example.org", san, 1, 30, &crt, &err) < 0)
		_exit(3);
	if ((c->fmt == FMT_PKCS8 ? gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM,
	    NULL, GNUTLS_PKCS_PLAIN, &pem) : gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM,
	    &pem)) < 0)
		_exit(4);
	snprintf(path, sizeof(path), "%s/key.pem", tmpdir);
	put_file(path, pem.data, pem.size);
	if (c->how == HOW_STORE_PENDING) {
		snprintf(path, sizeof(path), "%s/store", tmpdir);
		if (mkdir(path, 0700) < 0)
			_exit(5);
		snprintf(path, sizeof(path), "%s/store/pending", tmpdir);
		if (mkdir(path, 0700) < 0)
			_exit(5);
		snprintf(path, sizeof(path), "%s/store/pending/0123456789abcdef.key", tmpdir);
		put_file(path, pem.data, pem.size);
	}
	gnutls_free(pem.data);
	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem) < 0)
		_exit(6);
	snprintf(path, sizeof(path), "%s/cert.pem", tmpdir);
	put_file(path, pem.data, pem.size);
	_exit(0);
}

/* base64 text (no white space) into out; the byte count. Local, so no
 * library keeps a copy of what it decodes. */
static size_t
b64_bytes(const char *in, size_t len, unsigned char *out)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned acc = 0, bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < len && in[i] != '='; i++) {
		const char *v = memchr(abc, in[i], 64);

		if (v == NULL)
			continue;
		acc = (acc << 6) | (unsigned)(v - abc);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return o;
}

/* the needles: the base64 lines of the key file's PEM block (those that
 * hold some private byte), or the password; kept in area (not scanned).
 * Their count. */
static size_t
needles_read(const char *path, const char *cert_path, bool password, const char **needle,
    size_t *len)
{
	char *buf = (char *)area;
	unsigned char *cert_der = NULL, line_der[64];
	size_t n = 0, got = 0, der_len = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0)
		return 0;
	while ((r = read(fd, buf + got, NEEDLE_SPACE / 2 - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	buf[got] = '\0';
	if (password) {
		/* past the first 32 bytes, which malloc reuses in a freed chunk
		 * (the controls free one and must still find it) */
		if (strcspn(buf, "\n") < 32 + NEEDLE_MIN)
			return 0;
		needle[0] = buf + 32;
		len[0] = strcspn(buf + 32, "\n");
		return 1;
	}
	/* a line whose bytes all sit in the public certificate (the public
	 * key, which a key file repeats) is no secret: it is not a needle */
	if ((fd = open(cert_path, O_RDONLY)) >= 0) {
		char *text = buf + NEEDLE_SPACE / 2, *w = text;
		size_t tgot = 0;

		while ((r = read(fd, text + tgot, NEEDLE_SPACE / 4 - tgot)) > 0)
			tgot += (size_t)r;
		close(fd);
		for (char *p = text; p < text + tgot;) {
			size_t l = strcspn(p, "\n");

			if (p[0] != '-') {
				memmove(w, p, l);
				w += l;
			}
			p += l + 1;
		}
		cert_der = (unsigned char *)buf + NEEDLE_SPACE / 2 + NEEDLE_SPACE / 4;
		der_len = b64_bytes(text, (size_t)(w - text), cert_der);
	}
	for (char *p = buf; *p != '\0' && n < NEEDLES_MAX;) {
		size_t l = strcspn(p, "\n"), dl;

		if (l >= NEEDLE_MIN && l <= 80 && p[0] != '-') {
			dl = b64_bytes(p, l, line_der);
			if (cert_der == NULL || memmem(cert_der, der_len, line_der, dl) == NULL) {
				needle[n] = p;
				len[n++] = l;
			}
		}
		p += l + (p[l] == '\n');
	}
	gnutls_memset(line_der, 0, sizeof(line_der));
	return n;
}

/* how many times any needle occurs in this process's writable memory
 * outside area; *scanned = bytes read */
static int
memory_count(const char **needle, const size_t *len, size_t n, size_t *scanned)
{
	unsigned char *chunk = area + NEEDLE_SPACE;
	const size_t chunk_max = AREA_SIZE - NEEDLE_SPACE;
	char *maps = (char *)chunk;	/* first the map list, copied out below */
	static char lines[2048][96];
	size_t nlines = 0, got = 0;
	ssize_t r;
	int fd, mem, hits = 0;

	*scanned = 0;
	/* the map list first, whole, before any reading can change it */
	ck_assert_int_ge(fd = open("/proc/self/maps", O_RDONLY), 0);
	while ((r = read(fd, maps + got, chunk_max - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	maps[got] = '\0';
	for (char *p = maps; *p != '\0' && nlines < 2048;) {
		size_t l = strcspn(p, "\n");

		snprintf(lines[nlines++], sizeof(lines[0]), "%.*s", (int)(l < 95 ? l : 95), p);
		p += l + (p[l] == '\n');
	}
	ck_assert_int_ge(mem = open("/proc/self/mem", O_RDONLY), 0);
	for (size_t i = 0; i < nlines; i++) {
		unsigned long a, b;
		char perm[8];

		if (sscanf(lines[i], "%lx-%lx %7s", &a, &b, perm) != 3 || perm[0] != 'r' ||
		    perm[1] != 'w' || a == (unsigned long)area || b - a > MAPPING_MAX)
			continue;
		for (unsigned long o = a; o < b;) {
			size_t want = b - o < chunk_max ? b - o : chunk_max;

			if (pread(mem, chunk, want, (off_t)o) != (ssize_t)want)
				break;	/* a guard page: nothing to read there */
			*scanned += want;
			for (size_t k = 0; k < n; k++)
				for (const unsigned char *q = chunk;
				    (q = memmem(q, want - (size_t)(q - chunk), needle[k], len[k])) != NULL;
				    q++) {
					if (hits++ >= 3)
						continue;
					printf("# needle %zu at %#lx (%s)\n", k,
					    o + (unsigned long)(q - chunk), lines[i]);
				}
			o += want;
			if (o < b)
				o -= 128;	/* a needle across two chunks */
		}
	}
	close(mem);
	return hits;
}

/* in the child: load as the case says, then count the needles */
static int
load_and_count(const struct wipe_case *c, size_t *nneedles, size_t *scanned)
{
	const char *needle[NEEDLES_MAX];
	size_t len[NEEDLES_MAX];
	char key[512], cert[512], path[512], pw[128];
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_x509_privkey_t k;
	gnutls_datum_t d = { NULL, 0 };
	struct tls_store st;
	struct dsmtp_err err;
	size_t n;
	int hits;

	snprintf(key, sizeof(key), "%s/%s", tmpdir, c->fmt == FMT_PASSWORD ? "password" : "key.pem");
	snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
	switch (c->how) {
	case HOW_KEY_LOAD:
		ck_assert_int_eq(tls_key_load(key, &k, &err), 0);
		gnutls_x509_privkey_deinit(k);
		break;
	case HOW_CRED_PAIR:
		ck_assert_int_ge(gnutls_certificate_allocate_credentials(&cred), 0);
		ck_assert_msg(tls_cred_add_pair(cred, cert, key, &err) == 0, "%s", err.msg);
		break;
	case HOW_STORE_PENDING:
		snprintf(path, sizeof(path), "%s/store", tmpdir);
		ck_assert_msg(tls_store_open_dir(path, &st, &err) == 0, "%s", err.msg);
		ck_assert_uint_eq(st.npending, 1);
		ck_assert_uint_eq(st.nbad, 0);
		break;
	case HOW_PASSWORD_FILE:
		ck_assert_int_eq(tls_password_file(key, pw, sizeof(pw), &err), 0);
		ck_assert_uint_eq(strlen(pw), 96);
		gnutls_memset(pw, 0, sizeof(pw));
		break;
	case HOW_CONTROL_LIVE:
	case HOW_CONTROL_FREED:
		ck_assert_int_eq(tls_read_file(key, &d, &err), 0);
		if (c->how == HOW_CONTROL_FREED) {
			gnutls_free(d.data);
			d.data = NULL;
		}
		break;
	}
	/* the needles come from the file only now: nothing above saw them */
	n = needles_read(key, cert, c->fmt == FMT_PASSWORD, needle, len);
	*nneedles = n;
	hits = memory_count(needle, len, n, scanned);
	gnutls_free(d.data);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	if (c->how == HOW_STORE_PENDING)
		tls_store_close(&st);
	return hits;
}

START_TEST(test_no_key_text_left)
{
	const struct wipe_case *c = &cases[_i];
	struct { int hits; size_t needles, scanned; } res;
	char cmd[600];
	int pfd[2], st;
	pid_t pid;

	printf("# %s\n", c->name);
	snprintf(tmpdir, sizeof(tmpdir), "%s/check_keywipe.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	make_files(c);
	ck_assert_int_eq(pipe(pfd), 0);
	fflush(stdout);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		close(pfd[0]);
		area = mmap(NULL, AREA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
		if (area == MAP_FAILED)
			_exit(2);
		res.hits = load_and_count(c, &res.needles, &res.scanned);
		fflush(stdout);
		if (write(pfd[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(read(pfd[0], &res, sizeof(res)), (ssize_t)sizeof(res));
	close(pfd[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	printf("# %zu needles, %zu KiB scanned, %d found\n", res.needles, res.scanned / 1024,
	    res.hits);
	/* an RSA key file has 20+ lines, a password one, EC/Ed25519 at least 2 */
	ck_assert_uint_ge(res.needles, 1);
	ck_assert_uint_ge(res.scanned, 64 * 1024);
	if (c->expect_found)
		ck_assert_msg(res.hits > 0, "%s: the scanner found nothing it was shown", c->name);
	else
		ck_assert_msg(res.hits == 0, "%s: %d copies of the key text left in memory", c->name,
		    res.hits);
}
END_TEST

static Suite *
keywipe_suite(void)
{
	Suite *s = suite_create("keywipe");
	TCase *tc = tcase_create("keywipe");

	tcase_set_timeout(tc, UNIT_TIMEOUT);
	tcase_add_loop_test(tc, test_no_key_text_left, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(keywipe_suite());
}
