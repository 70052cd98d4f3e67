/* spool_format.c: the envelope format, the message file's trailer and the
 * checksum. Owns encoding and strict decoding; does no I/O and knows
 * nothing of paths, locks or threads.
 *
 * An envelope is the line "dsmtp-envelope V\n" (V the spool format: 1,
 * the message bytes are the whole of ID.d; 2, ID.d holds the message
 * bytes, then its first envelope, then the trailer below), then records
 *	KEY SP LENGTH LF VALUE LF
 * (KEY: [a-z0-9_]+, LENGTH: decimal bytes of VALUE, which may hold any byte
 * but NUL), in this fixed order:
 *	id arrival session client ehlo tls_version tls_cipher tls_peer_subject
 *	tls_peer_sha256 tls_verify tls_domain_secured tls_domain sender
 *	data_size data_crc
 *	then, only when the message has flags, "flags" (space-separated words:
 *	requiretls tls-optional requiretls-dsn; an unknown word is damage --
 *	a version 1 reader without flags support never sees this record for a
 *	message without flags, and older spools have none)
 *	then per recipient: rcpt rstate rattempts rnext rerror
 * and last "end 8\n" + the CRC-32C (8 hex) of every byte before "end",
 * then end of file. A file that stops early, has a byte too many, a record
 * out of order or a wrong checksum is damage, never a guess. */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/spool_int.h"

#define ENV_MAGIC1	"dsmtp-envelope 1\n"
#define ENV_MAGIC2	"dsmtp-envelope 2\n"
#define ENV_MAGIC_LEN	17
#define TRAILER_FMT	"dsmtp-spool 2 %016" PRIx64 " %016" PRIx64 "\n"
#define KEY_MAX		20

struct sbuf {
	char	*p;
	size_t	 len, cap;
	bool	 oom;
};

struct reader {
	const char	*buf;
	size_t		 len, pos;
	char		 key[KEY_MAX + 1];
	const char	*val;
	size_t		 vlen;
	char		*why;
	size_t		 whylen;
};

static const char *const state_names[] = {
	[SPOOL_RCPT_PENDING] = "pending",
	[SPOOL_RCPT_DELIVERED] = "delivered",
	[SPOOL_RCPT_FAILED] = "failed",
	[SPOOL_RCPT_BOUNCED] = "bounced",
};

static const struct {
	unsigned	 bit;
	const char	*word;
} flag_words[] = {
	{ SPOOL_F_REQUIRETLS, "requiretls" },
	{ SPOOL_F_TLS_OPTIONAL, "tls-optional" },
	{ SPOOL_F_REQUIRETLS_DSN, "requiretls-dsn" },
};

void
spool_flags_format(unsigned flags, char *out, size_t outlen)
{
	size_t n = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(flag_words) / sizeof(flag_words[0]); i++) {
		int r;

		if (!(flags & flag_words[i].bit))
			continue;
		r = snprintf(out + n, outlen - n, "%s%s", n ? " " : "", flag_words[i].word);
		if (r < 0 || (size_t)r >= outlen - n)
			return;
		n += (size_t)r;
	}
}

/* crc_table[0] is the classic byte table; crc_table[k][b] is the CRC of
 * byte b followed by k zero bytes, so 8 bytes go in one step */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

const char *
spool_rcpt_state_name(enum spool_rcpt_state s)
{
	if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
		return "invalid";
	return state_names[s];
}

/* CRC-32C (Castagnoli, reflected 0x82F63B78): the tables, once per process */
static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (int k = 1; k < 8; k++)
		for (uint32_t i = 0; i < 256; i++)
			crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^
			    crc_table[0][crc_table[k - 1][i] & 0xff];
}

/* slicing-by-8: a byte at a time cost ~9 instructions per byte
 * (tests/bench/RESULTS.md) */
static uint32_t
crc32c_soft(uint32_t crc, const unsigned char *p, size_t len)
{
	while (len >= 8) {
		/* little-endian by construction, whatever the host */
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
		    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
		    (uint32_t)p[7] << 24;

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* SSE 4.2's CRC32 instruction computes exactly this CRC (Castagnoli,
 * reflected): 8 bytes per instruction, about four times the tables'
 * speed. Chosen at run time: a CPU without it gets the tables. */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);	/* x86 is little-endian, as the CRC wants */
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#endif

static uint32_t (*crc_impl)(uint32_t, const unsigned char *, size_t) = crc32c_soft;

static void
crc_pick(void)
{
	crc_init();
#if defined(__x86_64__) && defined(__GNUC__)
	if (getenv("DSMTP_CRC_SOFT") == NULL && __builtin_cpu_supports("sse4.2"))
		crc_impl = crc32c_hw;
#endif
}

/* continue a CRC-32C over buf; start with crc 0. Every message byte
 * passes through here on dsmtpd's loop */
uint32_t
spool_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_pick);
	return ~crc_impl(~crc, buf, len);
}

/* the tables' version, whatever the CPU: for the unit test */
uint32_t
spool_test_crc32c_soft(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_pick);
	return ~crc32c_soft(~crc, buf, len);
}

/* 24 lower-case hex digits, nothing else: safe as a file name */
bool
spool_id_valid(const char *s)
{
	size_t i;

	for (i = 0; i < SPOOL_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

void
spool_envelope_free(struct spool_envelope *env)
{
	if (env == NULL)
		return;
	free(env->client);
	free(env->ehlo);
	free(env->tls.version);
	free(env->tls.cipher);
	free(env->tls.peer_subject);
	free(env->tls.peer_sha256);
	free(env->tls.verify);
	free(env->tls.domain);
	free(env->sender);
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].last_error);
	}
	free(env->rcpts);
	memset(env, 0, sizeof(*env));
}

/* --- encoding --- */

static void
sb_add(struct sbuf *b, const void *d, size_t n)
{
	if (b->oom)
		return;
	if (n > b->cap - b->len) {
		size_t ncap = b->cap ? b->cap : 1024;
		char *np;

		while (ncap - b->len < n) {
			if (ncap > SIZE_MAX / 2) {
				b->oom = true;
				return;
			}
			ncap *= 2;
		}
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

/* one record: "key len\nvalue\n" */
static void
sb_rec(struct sbuf *b, const char *key, const char *val, size_t vlen)
{
	char head[KEY_MAX + 32];
	int n = snprintf(head, sizeof(head), "%s %zu\n", key, vlen);

	sb_add(b, head, (size_t)n);
	sb_add(b, val, vlen);
	sb_add(b, "\n", 1);
}

static void
sb_str(struct sbuf *b, const char *key, const char *s)
{
	if (s == NULL)
		s = "";
	sb_rec(b, key, s, strlen(s));
}

static void DIAG_PRINTF(3, 4)
sb_fmt(struct sbuf *b, const char *key, const char *fmt, ...)
{
	char v[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	sb_rec(b, key, v, (size_t)n);
}

static bool
str_ok(const char *s)
{
	return s == NULL || strlen(s) <= SPOOL_MAX_STRING;
}

/* is env something we can store and read back? */
static int
env_check(const struct spool_envelope *env, char *why, size_t whylen)
{
	const char *bad = NULL;

	if (env->nrcpts == 0 || env->rcpts == NULL)
		bad = "no recipient";
	else if (!str_ok(env->client) || !str_ok(env->ehlo) || !str_ok(env->sender) ||
	    !str_ok(env->tls.version) || !str_ok(env->tls.cipher) ||
	    !str_ok(env->tls.peer_subject) || !str_ok(env->tls.peer_sha256) ||
	    !str_ok(env->tls.verify) || !str_ok(env->tls.domain))
		bad = "a field is longer than SPOOL_MAX_STRING";
	else if (env->flags & ~(unsigned)SPOOL_F_ALL)
		bad = "unknown message flags";
	for (size_t i = 0; bad == NULL && i < env->nrcpts; i++) {
		const struct spool_rcpt *r = &env->rcpts[i];

		if (r->addr == NULL || r->addr[0] == '\0')
			bad = "an empty recipient address";
		else if (!str_ok(r->addr) || !str_ok(r->last_error))
			bad = "a recipient field is longer than SPOOL_MAX_STRING";
		else if ((unsigned)r->state > SPOOL_RCPT_BOUNCED)
			bad = "a recipient state out of range";
	}
	if (bad != NULL) {
		snprintf(why, whylen, "invalid envelope: %s", bad);
		return -1;
	}
	return 0;
}

/* version 1, as every spool before the one-file format wrote it */
int
spool_env_encode(const struct spool_envelope *env, const char *id, uint64_t size,
    uint32_t crc, char **out, size_t *outlen, char *why, size_t whylen)
{
	return spool_env_encode_v(1, env, id, size, crc, out, outlen, why, whylen);
}

/* serialize env for message id; the data's length and CRC go with it */
int
spool_env_encode_v(unsigned version, const struct spool_envelope *env, const char *id,
    uint64_t size, uint32_t crc, char **out, size_t *outlen, char *why, size_t whylen)
{
	struct sbuf b = { 0 };
	char tail[32];
	int n;

	if (env_check(env, why, whylen) < 0)
		return -1;
	if (version != 1 && version != 2) {
		snprintf(why, whylen, "no spool format version %u", version);
		return -1;
	}
	sb_add(&b, version == 1 ? ENV_MAGIC1 : ENV_MAGIC2, ENV_MAGIC_LEN);
	sb_str(&b, "id", id);
	sb_fmt(&b, "arrival", "%" PRId64, env->arrival);
	sb_fmt(&b, "session", "%016" PRIx64, env->session_id);
	sb_str(&b, "client", env->client);
	sb_str(&b, "ehlo", env->ehlo);
	sb_str(&b, "tls_version", env->tls.version);
	sb_str(&b, "tls_cipher", env->tls.cipher);
	sb_str(&b, "tls_peer_subject", env->tls.peer_subject);
	sb_str(&b, "tls_peer_sha256", env->tls.peer_sha256);
	sb_str(&b, "tls_verify", env->tls.verify);
	sb_str(&b, "tls_domain_secured", env->tls.domain_secured ? "yes" : "no");
	sb_str(&b, "tls_domain", env->tls.domain);
	sb_str(&b, "sender", env->sender);
	sb_fmt(&b, "data_size", "%" PRIu64, size);
	sb_fmt(&b, "data_crc", "%08" PRIx32, crc);
	if (env->flags) {
		char words[128];

		spool_flags_format(env->flags, words, sizeof(words));
		sb_str(&b, "flags", words);
	}
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct spool_rcpt *r = &env->rcpts[i];

		sb_str(&b, "rcpt", r->addr);
		sb_str(&b, "rstate", spool_rcpt_state_name(r->state));
		sb_fmt(&b, "rattempts", "%u", r->attempts);
		sb_fmt(&b, "rnext", "%" PRId64, r->next_attempt);
		sb_str(&b, "rerror", r->last_error);
	}
	if (b.oom) {
		free(b.p);
		snprintf(why, whylen, "out of memory encoding the envelope");
		return -1;
	}
	/* the checksum covers everything before the END record */
	n = snprintf(tail, sizeof(tail), "end 8\n%08" PRIx32 "\n", spool_crc32c(0, b.p, b.len));
	sb_add(&b, tail, (size_t)n);
	if (b.oom) {
		free(b.p);
		snprintf(why, whylen, "out of memory encoding the envelope");
		return -1;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}

/* --- decoding --- */

static int DIAG_PRINTF(2, 3)
bad(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, r->whylen, fmt, ap);
	va_end(ap);
	return -1;
}

/* the next record into r->key/val; "end" is checked here (checksum, and
 * nothing after it). 1 = a record, 0 = a good end, -1 = damage */
static int
next_rec(struct reader *r)
{
	size_t start = r->pos, klen = 0, vlen = 0, ndig = 0;
	const char *p = r->buf + r->pos, *lim = r->buf + r->len;

	if (p == lim)
		return bad(r, "no END record (truncated at byte %zu)", r->len);
	while (p < lim && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
		if (klen == KEY_MAX)
			return bad(r, "record key too long at byte %zu", start);
		r->key[klen++] = *p++;
	}
	r->key[klen] = '\0';
	if (p == lim)
		return bad(r, "truncated record header at byte %zu", start);
	if (klen == 0 || *p != ' ')
		return bad(r, "malformed record header at byte %zu", start);
	p++;
	while (p < lim && *p >= '0' && *p <= '9') {
		/* a leading zero or more digits than a sane length: damage */
		if ((ndig == 1 && vlen == 0) || ndig == 10)
			return bad(r, "bad record length at byte %zu", start);
		vlen = vlen * 10 + (size_t)(*p++ - '0');
		ndig++;
	}
	if (p == lim)
		return bad(r, "truncated record header at byte %zu", start);
	if (ndig == 0 || *p != '\n' || vlen > SPOOL_MAX_STRING)
		return bad(r, "bad record length at byte %zu", start);
	p++;
	if ((size_t)(lim - p) < vlen + 1)
		return bad(r, "record \"%s\" truncated at byte %zu", r->key, r->len);
	if (p[vlen] != '\n')
		return bad(r, "record \"%s\" does not end where its length says", r->key);
	r->val = p;
	r->vlen = vlen;
	r->pos = (size_t)(p - r->buf) + vlen + 1;
	if (strcmp(r->key, "end") == 0) {
		char want[9];

		snprintf(want, sizeof(want), "%08" PRIx32, spool_crc32c(0, r->buf, start));
		if (vlen != 8 || memcmp(p, want, 8) != 0)
			return bad(r, "checksum mismatch");
		if (r->pos != r->len)
			return bad(r, "%zu bytes after the END record", r->len - r->pos);
		return 0;
	}
	return 1;
}

/* the next record must be key */
static int
expect(struct reader *r, const char *key)
{
	int rc = next_rec(r);

	if (rc < 0)
		return -1;
	if (rc == 0 || strcmp(r->key, key) != 0)
		return bad(r, "expected record \"%s\", found \"%s\"", key, rc ? r->key : "end");
	if (memchr(r->val, '\0', r->vlen) != NULL)
		return bad(r, "NUL byte in record \"%s\"", key);
	return 0;
}

static int
take_str(struct reader *r, const char *key, char **out)
{
	if (expect(r, key) < 0)
		return -1;
	if ((*out = malloc(r->vlen + 1)) == NULL)
		return bad(r, "out of memory");
	memcpy(*out, r->val, r->vlen);
	(*out)[r->vlen] = '\0';
	return 0;
}

/* a decimal integer in [min, max] (the value is NUL-free, copied to parse) */
static int
take_num(struct reader *r, const char *key, int64_t min, uint64_t max, bool neg_ok,
    uint64_t *u, int64_t *s)
{
	char tmp[24], *end;

	if (expect(r, key) < 0)
		return -1;
	if (r->vlen == 0 || r->vlen >= sizeof(tmp))
		return bad(r, "bad number in record \"%s\"", key);
	memcpy(tmp, r->val, r->vlen);
	tmp[r->vlen] = '\0';
	errno = 0;
	if (neg_ok) {
		long long v = strtoll(tmp, &end, 10);

		if (errno || *end || !(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')) ||
		    v < min)
			return bad(r, "bad number in record \"%s\"", key);
		*s = v;
	} else {
		unsigned long long v = strtoull(tmp, &end, 10);

		if (errno || *end || tmp[0] < '0' || tmp[0] > '9' || v > max)
			return bad(r, "bad number in record \"%s\"", key);
		*u = v;
	}
	return 0;
}

/* exactly ndig hex digits */
static int
take_hex(struct reader *r, const char *key, size_t ndig, uint64_t *out)
{
	uint64_t v = 0;

	if (expect(r, key) < 0)
		return -1;
	if (r->vlen != ndig)
		return bad(r, "bad hex value in record \"%s\"", key);
	for (size_t i = 0; i < ndig; i++) {
		char c = r->val[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return bad(r, "bad hex value in record \"%s\"", key);
		v = (v << 4) | d;
	}
	*out = v;
	return 0;
}

static int
decode_rcpt(struct reader *r, struct spool_rcpt *rc)
{
	char *state = NULL;
	uint64_t att;
	int64_t next;
	size_t i;

	/* the "rcpt" record itself was read by the caller */
	if ((rc->addr = malloc(r->vlen + 1)) == NULL)
		return bad(r, "out of memory");
	memcpy(rc->addr, r->val, r->vlen);
	rc->addr[r->vlen] = '\0';
	if (r->vlen == 0 || memchr(r->val, '\0', r->vlen) != NULL)
		return bad(r, "bad recipient address");
	if (take_str(r, "rstate", &state) < 0)
		return -1;
	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcmp(state, state_names[i]) == 0)
			break;
	free(state);
	if (i == sizeof(state_names) / sizeof(state_names[0]))
		return bad(r, "unknown recipient state");
	rc->state = (enum spool_rcpt_state)i;
	if (take_num(r, "rattempts", 0, UINT_MAX, false, &att, NULL) < 0 ||
	    take_num(r, "rnext", INT64_MIN, 0, true, NULL, &next) < 0 ||
	    take_str(r, "rerror", &rc->last_error) < 0)
		return -1;
	rc->attempts = (unsigned)att;
	rc->next_attempt = next;
	return 0;
}

/* the value of a "flags" record: known words, each once, single spaces */
static int
decode_flags(struct reader *r, unsigned *flags)
{
	const char *p = r->val, *end = r->val + r->vlen;

	*flags = 0;
	if (r->vlen == 0)
		return bad(r, "empty record \"flags\"");
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		size_t wl = sp ? (size_t)(sp - p) : (size_t)(end - p);
		size_t i;

		for (i = 0; i < sizeof(flag_words) / sizeof(flag_words[0]); i++)
			if (strlen(flag_words[i].word) == wl &&
			    memcmp(flag_words[i].word, p, wl) == 0)
				break;
		if (i == sizeof(flag_words) / sizeof(flag_words[0]) ||
		    (*flags & flag_words[i].bit))
			return bad(r, "unknown or repeated word in record \"flags\"");
		*flags |= flag_words[i].bit;
		if (sp == NULL)
			break;
		p = sp + 1;
		if (p == end)
			return bad(r, "trailing space in record \"flags\"");
	}
	return 0;
}

int
spool_env_decode(const char *buf, size_t len, const char *id, struct spool_envelope *env,
    uint32_t *crc, char *why, size_t whylen)
{
	unsigned version;

	return spool_env_decode_v(buf, len, id, env, crc, &version, why, whylen);
}

/* parse a whole envelope of either version; every damage is named in why */
int
spool_env_decode_v(const char *buf, size_t len, const char *id, struct spool_envelope *env,
    uint32_t *crc, unsigned *version, char *why, size_t whylen)
{
	struct reader r = { .buf = buf, .len = len, .why = why, .whylen = whylen };
	char *fid = NULL, *yn = NULL;
	bool seen_flags = false;
	uint64_t u;
	int rc;

	memset(env, 0, sizeof(*env));
	if (len >= ENV_MAGIC_LEN && memcmp(buf, ENV_MAGIC1, ENV_MAGIC_LEN) == 0)
		*version = 1;
	else if (len >= ENV_MAGIC_LEN && memcmp(buf, ENV_MAGIC2, ENV_MAGIC_LEN) == 0)
		*version = 2;
	else {
		snprintf(why, whylen, "not a version 1 or 2 envelope (bad first line)");
		return -1;
	}
	r.pos = ENV_MAGIC_LEN;
	if (take_str(&r, "id", &fid) < 0)
		goto fail;
	if (strcmp(fid, id) != 0) {
		bad(&r, "envelope names another message");
		goto fail;
	}
	snprintf(env->id, sizeof(env->id), "%s", id);
	if (take_num(&r, "arrival", INT64_MIN, 0, true, NULL, &env->arrival) < 0 ||
	    take_hex(&r, "session", 16, &env->session_id) < 0 ||
	    take_str(&r, "client", &env->client) < 0 ||
	    take_str(&r, "ehlo", &env->ehlo) < 0 ||
	    take_str(&r, "tls_version", &env->tls.version) < 0 ||
	    take_str(&r, "tls_cipher", &env->tls.cipher) < 0 ||
	    take_str(&r, "tls_peer_subject", &env->tls.peer_subject) < 0 ||
	    take_str(&r, "tls_peer_sha256", &env->tls.peer_sha256) < 0 ||
	    take_str(&r, "tls_verify", &env->tls.verify) < 0 ||
	    take_str(&r, "tls_domain_secured", &yn) < 0)
		goto fail;
	if (strcmp(yn, "yes") != 0 && strcmp(yn, "no") != 0) {
		bad(&r, "tls_domain_secured is neither yes nor no");
		goto fail;
	}
	env->tls.domain_secured = yn[0] == 'y';
	if (take_str(&r, "tls_domain", &env->tls.domain) < 0 ||
	    take_str(&r, "sender", &env->sender) < 0 ||
	    take_num(&r, "data_size", 0, UINT64_MAX, false, &env->size, NULL) < 0 ||
	    take_hex(&r, "data_crc", 8, &u) < 0)
		goto fail;
	*crc = (uint32_t)u;
	env->next_attempt = INT64_MAX;
	while ((rc = next_rec(&r)) == 1) {
		struct spool_rcpt *nr;

		if (strcmp(r.key, "flags") == 0 && env->nrcpts == 0 && !seen_flags) {
			seen_flags = true;
			if (decode_flags(&r, &env->flags) < 0)
				goto fail;
			continue;
		}
		if (strcmp(r.key, "rcpt") != 0) {
			bad(&r, "expected record \"rcpt\" or \"end\", found \"%s\"", r.key);
			goto fail;
		}
		if (env->nrcpts == SIZE_MAX / sizeof(*nr) - 1 ||
		    (nr = realloc(env->rcpts, (env->nrcpts + 1) * sizeof(*nr))) == NULL) {
			bad(&r, "out of memory");
			goto fail;
		}
		env->rcpts = nr;
		memset(&nr[env->nrcpts], 0, sizeof(*nr));
		env->nrcpts++;
		if (decode_rcpt(&r, &nr[env->nrcpts - 1]) < 0)
			goto fail;
		if (nr[env->nrcpts - 1].state == SPOOL_RCPT_PENDING &&
		    nr[env->nrcpts - 1].next_attempt < env->next_attempt)
			env->next_attempt = nr[env->nrcpts - 1].next_attempt;
	}
	if (rc < 0)
		goto fail;
	if (env->nrcpts == 0) {
		bad(&r, "no recipient");
		goto fail;
	}
	free(fid);
	free(yn);
	return 0;
fail:
	free(fid);
	free(yn);
	spool_envelope_free(env);
	return -1;
}

/* --- the trailer of a version 2 message file --- */

void
spool_trailer_format(char out[SPOOL_TRAILER_LEN + 1], uint64_t data_len, uint64_t env_len)
{
	snprintf(out, SPOOL_TRAILER_LEN + 1, TRAILER_FMT, data_len, env_len);
}

/* strict: exactly the format above, lower-case hex, nothing else */
int
spool_trailer_parse(const char *buf, uint64_t *data_len, uint64_t *env_len)
{
	static const char magic[] = "dsmtp-spool 2 ";
	uint64_t v[2] = { 0, 0 };
	const char *p = buf + sizeof(magic) - 1;

	if (memcmp(buf, magic, sizeof(magic) - 1) != 0)
		return -1;
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 16; i++, p++) {
			if (*p >= '0' && *p <= '9')
				v[k] = v[k] << 4 | (uint64_t)(*p - '0');
			else if (*p >= 'a' && *p <= 'f')
				v[k] = v[k] << 4 | (uint64_t)(*p - 'a' + 10);
			else
				return -1;
		}
		if (*p++ != (k == 0 ? ' ' : '\n'))
			return -1;
	}
	*data_len = v[0];
	*env_len = v[1];
	return 0;
}
