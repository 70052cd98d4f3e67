/* fuzz_sts_cache.c: libFuzzer target for dsmtpc's MTA-STS cache record
 * (policy/sts_parse.c: policy_sts_cache_parse, _format), which dsmtpc reads
 * back from state_dir/sts/ at start: a file a crash may have cut or a
 * person edited. Input: the file. Checks on success: the domain is
 * NUL-terminated, non-empty and holds no '/'; the id is 1..32
 * alphanumerics; fetched is not negative; the policy is as the policy
 * parser promises (mode, max_age, mx count); formatting it again gives a
 * record that parses to the same policy, id, time and domain. */
#include "autoconfig.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct policy_sts p, q;
	static char buf[sizeof(p.text) + 1024];
	char dom[256], dom2[256], why[200];
	size_t n;
	int r;

	r = policy_sts_cache_parse((const char *)data, size, &p, dom, sizeof(dom), why,
	    sizeof(why));
	FUZZ_CHECK(r == 0 || r == -1, "parse returned %d", r);
	if (r < 0)
		return 0;
	n = strnlen(dom, sizeof(dom));
	FUZZ_CHECK(n > 0 && n < sizeof(dom) && !memchr(dom, '/', n), "domain \"%s\"", dom);
	n = strnlen(p.id, sizeof(p.id));
	FUZZ_CHECK(n >= 1 && n <= POLICY_STS_ID_MAX, "id of %zu", n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(isalnum((unsigned char)p.id[i]), "id byte 0x%02x", (unsigned char)p.id[i]);
	FUZZ_CHECK(p.fetched >= 0, "fetched %lld", p.fetched);
	FUZZ_CHECK(p.max_age <= POLICY_STS_MAX_AGE_MAX && p.nmx <= POLICY_STS_MX_MAX &&
	    (p.mode == POLICY_STS_NONE || p.nmx > 0), "policy");
	r = policy_sts_cache_format(&p, dom, buf, sizeof(buf));
	FUZZ_CHECK(r > 0, "format failed");
	r = policy_sts_cache_parse(buf, (size_t)r, &q, dom2, sizeof(dom2), why, sizeof(why));
	FUZZ_CHECK(r == 0, "the record written does not read back: %s", why);
	FUZZ_CHECK(strcmp(dom, dom2) == 0 && strcmp(p.id, q.id) == 0 && p.fetched == q.fetched &&
	    strcmp(p.text, q.text) == 0, "no round trip");
	return 0;
}
