/* fuzz_sts_txt.c: libFuzzer target for the _mta-sts TXT record (RFC 8461
 * 3.1, policy/sts_parse.c). Input: 1 control byte, then bit 0 clear: TXT
 * texts separated by LF, through policy_sts_txt_parse one by one and
 * policy_sts_txt_select over all; bit 0 set: one TXT RR's rdata (wire
 * character-strings) through policy_sts_txt_join, then the joined text
 * through the parser. Checks: an id is 1..32 alphanumerics found in the
 * text; a record is an STS record only when it starts "v=STSv1" followed by
 * ';', a blank or its end; select says 1 exactly when one text is an STS
 * record and none is a broken one, with that record's id, else no id; a
 * joined text is the rdata's strings back to back, NUL-free, never longer
 * than the rdata. */
#include "autoconfig.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/fuzz/fuzz.h"

#define MAX_TEXTS	16

static void
check_id(const char *id, const char *txt, size_t len)
{
	size_t n = strlen(id);

	FUZZ_CHECK(n >= 1 && n <= POLICY_STS_ID_MAX, "id of %zu characters", n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(isalnum((unsigned char)id[i]), "id byte 0x%02x", (unsigned char)id[i]);
	FUZZ_CHECK(n <= len && memmem(txt, len, id, n) != NULL, "id \"%s\" not in the text", id);
}

static int
one(const char *txt, size_t len, char id[POLICY_STS_ID_MAX + 1])
{
	char why[200];
	bool sts_start;
	int r;

	memset(why, 'X', sizeof(why));
	why[sizeof(why) - 1] = '\0';
	r = policy_sts_txt_parse(txt, len, id, why, sizeof(why));
	sts_start = len >= 7 && memcmp(txt, "v=STSv1", 7) == 0 && (len == 7 || txt[7] == ';' ||
	    txt[7] == ' ' || txt[7] == '\t');
	FUZZ_CHECK(r >= -1 && r <= 1, "parse returned %d", r);
	FUZZ_CHECK((r != 0) == sts_start, "parse %d for a text that %s with v=STSv1", r,
	    sts_start ? "starts" : "does not start");
	if (r == 1)
		check_id(id, txt, len);
	else
		FUZZ_CHECK(id[0] == '\0', "an id with result %d", r);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t ctl = fuzz_byte(&in);
	char id[POLICY_STS_ID_MAX + 1], why[200];

	if (ctl & 1) {
		char *out = malloc(in.n + 1);
		size_t outlen = (ctl >> 1) ? (size_t)(ctl >> 1) : in.n + 1;
		int r;

		FUZZ_CHECK(out != NULL, "malloc");
		if (outlen > in.n + 1)
			outlen = in.n + 1;
		r = policy_sts_txt_join(in.p, in.n, out, outlen);
		if (r == 0) {
			size_t n = strlen(out), i = 0, k = 0;

			FUZZ_CHECK(n < outlen && n <= in.n, "joined %zu of %zu", n, in.n);
			/* the strings back to back */
			while (i < in.n) {
				size_t l = in.p[i++];

				FUZZ_CHECK(l <= in.n - i && k + l <= n &&
				    memcmp(out + k, in.p + i, l) == 0, "string at %zu", i);
				k += l;
				i += l;
			}
			FUZZ_CHECK(k == n, "joined %zu, strings %zu", n, k);
			(void)one(out, n, id);
		}
		free(out);
		return 0;
	}
	{
		const char *t[MAX_TEXTS];
		size_t l[MAX_TEXTS], nt = 0, off = 0, nsts = 0, nbad = 0;
		char ids[MAX_TEXTS][POLICY_STS_ID_MAX + 1];
		int r;

		while (off <= in.n && nt < MAX_TEXTS) {
			const uint8_t *nl = memchr(in.p + off, '\n', in.n - off);
			size_t e = nl ? (size_t)(nl - in.p) : in.n;

			t[nt] = (const char *)in.p + off;
			l[nt] = e - off;
			r = one(t[nt], l[nt], ids[nt]);
			nsts += r == 1;
			nbad += r == -1;
			nt++;
			if (nl == NULL)
				break;
			off = e + 1;
		}
		r = policy_sts_txt_select(t, l, nt, id, why, sizeof(why));
		FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL, "why not terminated");
		if (nbad == 0 && nsts == 1) {
			FUZZ_CHECK(r == 1, "one STS record, select %d", r);
			for (size_t i = 0; i < nt; i++)
				if (ids[i][0])
					FUZZ_CHECK(strcmp(ids[i], id) == 0, "select took another id");
		} else {
			FUZZ_CHECK(r == (nbad || nsts > 1 ? -1 : 0) || (nsts > 1 && r == -1) ||
			    (nbad && r == -1), "select %d with %zu STS, %zu broken", r, nsts, nbad);
			FUZZ_CHECK(id[0] == '\0', "an id without a single record");
		}
	}
	return 0;
}
