/* fuzz_tlsrpt_txt.c: libFuzzer target for the TLS reporting policy record
 * (common/tlsrpt_txt.c, RFC 8460 section 3). Input: 1 control byte, then
 * the bytes. Control bit 0 clear: the bytes are one record's text for
 * tlsrpt_txt_parse; set: a TXT RRset for tlsrpt_txt_select, the bytes cut
 * into rdatas by 2-byte big-endian lengths (a length past the end takes the
 * rest), each rdata in wire form (length-prefixed strings).
 * Checks: a result is 0 or -1, -1 always with a reason; on 0 there is at
 * least one and at most TLSRPT_RUA_MAX rua; each URI is a NUL-terminated
 * prefix-matching "mailto:" or "https://" string of printable ASCII without
 * spaces, shorter than TLSRPT_URI_MAX; a mailto: address has exactly one
 * '@' with text on both sides, and no byte that could break a mail header
 * or an SMTP command (controls, space, <>",;()[]\); parse is deterministic. */
#include "autoconfig.h"

#include <strings.h>

#include "common/tlsrpt_txt.h"
#include "tests/fuzz/fuzz.h"

static void
check(int rc, const struct tlsrpt_txt *t, const char *why)
{
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	if (rc < 0) {
		FUZZ_CHECK(why[0] != '\0', "-1 without a reason");
		return;
	}
	FUZZ_CHECK(t->n >= 1 && t->n <= TLSRPT_RUA_MAX, "n %zu", t->n);
	for (size_t i = 0; i < t->n; i++) {
		const struct tlsrpt_rua *r = &t->rua[i];
		size_t l = strnlen(r->uri, TLSRPT_URI_MAX);
		const char *at;

		FUZZ_CHECK(l < TLSRPT_URI_MAX, "uri not terminated");
		for (size_t k = 0; k < l; k++)
			FUZZ_CHECK(r->uri[k] > ' ' && r->uri[k] < 0x7f, "uri byte 0x%02x",
			    (unsigned char)r->uri[k]);
		if (r->kind == TLSRPT_RUA_MAILTO) {
			FUZZ_CHECK(strncasecmp(r->uri, "mailto:", 7) == 0, "mailto kind: %s", r->uri);
			at = strchr(r->addr, '@');
			FUZZ_CHECK(at != NULL && at != r->addr && at[1] != '\0' &&
			    strchr(at + 1, '@') == NULL, "address %s", r->addr);
			for (const char *p = r->addr; *p; p++)
				FUZZ_CHECK(*p > ' ' && *p < 0x7f && strchr("<>\",;()[]\\", *p) == NULL,
				    "address byte 0x%02x", (unsigned char)*p);
		} else {
			FUZZ_CHECK(r->kind == TLSRPT_RUA_HTTPS, "kind %d", (int)r->kind);
			FUZZ_CHECK(strncasecmp(r->uri, "https://", 8) == 0, "https kind: %s", r->uri);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlsrpt_txt t, t2;
	char why[160], why2[160];
	int rc, rc2;

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		why[0] = why2[0] = '\0';
		rc = tlsrpt_txt_parse((const char *)data + 1, size - 1, &t, why, sizeof(why));
		check(rc, &t, why);
		rc2 = tlsrpt_txt_parse((const char *)data + 1, size - 1, &t2, why2, sizeof(why2));
		FUZZ_CHECK(rc == rc2 && (rc < 0 || (t.n == t2.n &&
		    memcmp(t.rua, t2.rua, t.n * sizeof(t.rua[0])) == 0)), "not deterministic");
		return 0;
	} else {
		const unsigned char *rd[16];
		int len[16];
		size_t n = 0, i = 1;

		while (i < size && n < 16) {
			size_t l = i + 1 < size ? ((size_t)data[i] << 8 | data[i + 1]) : 0;

			i += 2;
			if (i > size)
				i = size;
			if (l > size - i)
				l = size - i;
			rd[n] = data + i;
			len[n++] = (int)l;
			i += l;
		}
		why[0] = '\0';
		rc = tlsrpt_txt_select(rd, len, n, &t, why, sizeof(why));
		check(rc, &t, why);
	}
	return 0;
}
