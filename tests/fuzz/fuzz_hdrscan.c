/* fuzz_hdrscan.c: libFuzzer target for the "TLS-Required: No" header
 * scanner (smtpd/reqtls.c), which reads every message a client sends.
 * Checks that the answer does not depend on how the bytes arrive (whole,
 * split at a point the first byte picks, one byte at a time) and that a
 * "found" is never made up: the input's header must name the field. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "smtpd/reqtls.h"
#include "tests/fuzz/fuzz.h"

static bool
scan(const uint8_t *d, size_t n, size_t step)
{
	struct smtpd_hdrscan h;

	smtpd_hdrscan_init(&h);
	for (size_t off = 0; off < n; off += step)
		smtpd_hdrscan_feed(&h, (const char *)d + off, off + step > n ? n - off : step);
	smtpd_hdrscan_end(&h);
	FUZZ_CHECK(h.len <= SMTPD_HDRSCAN_MAX, "field length %zu", h.len);
	return h.tls_optional;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	bool whole, found = false;
	size_t split;

	if (n == 0)
		return 0;
	split = 1 + d[0] % 64;
	d++;
	n--;
	whole = scan(d, n, n ? n : 1);
	FUZZ_CHECK(scan(d, n, split) == whole, "split %zu changed the answer", split);
	FUZZ_CHECK(scan(d, n, 1) == whole, "byte at a time changed the answer");
	if (whole) {
		/* the field name is somewhere in the input, case-insensitively */
		for (size_t i = 0; i + 12 <= n && !found; i++)
			found = strncasecmp((const char *)d + i, "tls-required", 12) == 0;
		FUZZ_CHECK(found, "found without the field name in the input");
	}
	return 0;
}
