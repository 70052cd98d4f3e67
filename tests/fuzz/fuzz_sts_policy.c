/* fuzz_sts_policy.c: libFuzzer target for the MTA-STS policy file (RFC
 * 8461 3.2, policy/sts_parse.c: policy_sts_parse, policy_sts_mx_matches).
 * Input: the body a policy host sent. Checks on success: mode is one of
 * the three; max_age at most 31557600; mode none or at least one mx, never
 * more than POLICY_STS_MX_MAX; each mx pattern is lower-case LDH labels of
 * 1..63 octets, optionally after "*.", no trailing dot; the canonical text
 * is NUL-terminated and parses back to the same policy; a plain pattern
 * matches itself (any case), a "*.D" pattern matches "x.D" and not "D" nor
 * "x.y.D". On failure: a reason. Input longer than 64 KiB always fails. */
#include "autoconfig.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/fuzz/fuzz.h"

static void
check_pattern(const char *p)
{
	size_t n = strlen(p), i = 0, label = 0;
	char host[300];

	FUZZ_CHECK(n >= 1 && n < 256, "pattern of %zu octets", n);
	if (n >= 2 && p[0] == '*' && p[1] == '.')
		i = 2;
	FUZZ_CHECK(i < n && p[n - 1] != '.', "pattern \"%s\"", p);
	for (; i < n; i++) {
		if (p[i] == '.') {
			FUZZ_CHECK(label > 0, "empty label in \"%s\"", p);
			label = 0;
			continue;
		}
		FUZZ_CHECK(islower((unsigned char)p[i]) || isdigit((unsigned char)p[i]) ||
		    p[i] == '-' || p[i] == '_', "byte 0x%02x in \"%s\"", (unsigned char)p[i], p);
		label++;
		FUZZ_CHECK(label <= 63, "label longer than 63 in \"%s\"", p);
	}
	if (p[0] == '*') {
		snprintf(host, sizeof(host), "mx%s", p + 1);
		FUZZ_CHECK(policy_sts_mx_matches(p, host), "%s does not match %s", p, host);
		FUZZ_CHECK(!policy_sts_mx_matches(p, p + 2), "%s matches %s", p, p + 2);
		snprintf(host, sizeof(host), "a.b%s", p + 1);
		FUZZ_CHECK(!policy_sts_mx_matches(p, host), "%s matches %s", p, host);
	} else {
		snprintf(host, sizeof(host), "%s", p);
		for (char *c = host; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		FUZZ_CHECK(policy_sts_mx_matches(p, host), "%s does not match %s", p, host);
		snprintf(host, sizeof(host), "x%s", p);
		FUZZ_CHECK(!policy_sts_mx_matches(p, host), "%s matches %s", p, host);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct policy_sts p, q;
	char why[200];
	int r;

	why[0] = '\0';
	r = policy_sts_parse((const char *)data, size, &p, why, sizeof(why));
	FUZZ_CHECK(r == 0 || r == -1, "parse returned %d", r);
	if (r < 0) {
		FUZZ_CHECK(why[0] != '\0' && memchr(why, '\0', sizeof(why)), "no reason");
		return 0;
	}
	FUZZ_CHECK(size <= POLICY_STS_BODY_MAX, "%zu bytes accepted", size);
	FUZZ_CHECK(p.mode == POLICY_STS_NONE || p.mode == POLICY_STS_TESTING ||
	    p.mode == POLICY_STS_ENFORCE, "mode %d", (int)p.mode);
	FUZZ_CHECK(p.max_age <= POLICY_STS_MAX_AGE_MAX, "max_age %u", p.max_age);
	FUZZ_CHECK(p.nmx <= POLICY_STS_MX_MAX && (p.mode == POLICY_STS_NONE || p.nmx > 0),
	    "%zu mx in mode %d", p.nmx, (int)p.mode);
	for (size_t i = 0; i < p.nmx; i++)
		check_pattern(p.mx[i]);
	FUZZ_CHECK(memchr(p.text, '\0', sizeof(p.text)) != NULL, "text not terminated");
	r = policy_sts_parse(p.text, strlen(p.text), &q, why, sizeof(why));
	FUZZ_CHECK(r == 0, "the canonical text does not parse: %s", why);
	FUZZ_CHECK(q.mode == p.mode && q.max_age == p.max_age && q.nmx == p.nmx &&
	    strcmp(q.text, p.text) == 0, "no round trip");
	for (size_t i = 0; i < p.nmx; i++)
		FUZZ_CHECK(strcmp(p.mx[i], q.mx[i]) == 0, "mx %zu changed", i);
	return 0;
}
