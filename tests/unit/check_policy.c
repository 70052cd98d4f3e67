/* check_policy.c: unit tests of policy/ with literal structs: RFC 6125 name
 * matching, the domain_secure match modes, pins, every level's verdict (pass
 * and each failure), the receive-side sender check, relay authorisation,
 * route selection and the effective policy, and our certificate's coverage.
 * Table-driven: each table is one loop test. */
#include "autoconfig.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/config.h"
#include "policy/policy.h"
#include "tests/unit/unit.h"

#define UNCONST(s)	((char *)(uintptr_t)(s))
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define PIN_HUB		"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define PIN_E		"sha256/EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE="
#define PIN_Q		"sha256/QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ="
#define PIN_OTHER	"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define HEX_P		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_OTHER	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* the configuration most tests judge against */
static const char edge_yaml[] =
    "hostname: edge.example.com\n"
    "state_dir: /nonexistent/policy-test\n"
    "trust:\n"
    "  pins:\n"
    "    hub: [ \"" PIN_HUB "\" ]\n"
    "    partner: [ \"cert-sha256:" HEX_P "\", \"" PIN_E "\" ]\n"
    "domain_secure:\n"
    "  send: [ contoso.com, pinned.example ]\n"
    "  receive: [ contoso.com, fabrikam.com ]\n"
    "  local: [ example.com, example.net ]\n"
    "  match: exact\n"
    "receive:\n"
    "  accepted_domains: [ example.com, Example.ORG ]\n"
    "  relay:\n"
    "    networks: [ 127.0.0.0/8, \"::1/128\", 10.1.0.0/16, \"2001:db8::/32\" ]\n"
    "    pins: [ hub ]\n"
    "send:\n"
    "  tls: opportunistic\n"
    "  routes:\n"
    "    - domain: contoso.com\n"
    "      next_hop: \"[mx.contoso.com]:25\"\n"
    "      tls: verify\n"
    "      pins: [ partner ]\n"
    "    - domain: \"*.corp.example\"\n"
    "      tls: mandatory\n"
    "    - domain: pinned.example\n"
    "      tls: pinned\n"
    "      pins: [ \"" PIN_Q "\" ]\n"
    "    - domain: maildir.example\n"
    "      next_hop: \"maildir:/tmp/m\"\n"
    "    - domain: hop.example\n"
    "      next_hop: relay.hop.example\n"
    "    - domain: \"*\"\n"
    "      next_hop: \"[hub.example.com]:2525\"\n"
    "      tls: pinned\n"
    "      pins: [ hub ]\n";

/* no catch-all route, default level verify */
static const char plain_yaml[] =
    "hostname: relay.example.com\n"
    "state_dir: /nonexistent/policy-test\n"
    "domain_secure:\n"
    "  send: [ forced.example ]\n"
    "receive:\n"
    "  accepted_domains: [ example.com ]\n"
    "send:\n"
    "  tls: verify\n"
    "  routes:\n"
    "    - domain: pinned.example\n"
    "      tls: pinned\n"
    "      pins: [ \"" PIN_Q "\" ]\n"
    "    - domain: forced.example\n"
    "      tls: none\n"
    "    - domain: \"*.sub.example\"\n"
    "      next_hop: \"[gw.sub.example]:587\"\n";

static void
load(const char *yaml, struct dsmtp_config *cfg)
{
	struct config_errors errs = { 0 };

	if (config_load_buffer("t.yaml", yaml, strlen(yaml), cfg, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		config_errors_free(&errs);
		ck_abort_msg("test configuration does not load");
	}
	config_errors_free(&errs);
}

/* a certificate's facts by hand: up to 6 SANs, a CN, its digests */
struct fake_cert {
	const char	*san[6];
	const char	*cn;
	const char	*spki;
	const char	*sha256;
};

static void
mkfacts(const struct fake_cert *c, struct tls_cert_facts *f, char **sanbuf)
{
	memset(f, 0, sizeof(*f));
	f->nsan = 0;
	for (size_t i = 0; i < 6 && c->san[i] != NULL; i++)
		sanbuf[f->nsan++] = (char *)(uintptr_t)c->san[i];
	f->san = f->nsan ? sanbuf : NULL;
	snprintf(f->cn, sizeof(f->cn), "%s", c->cn ? c->cn : "");
	snprintf(f->subject, sizeof(f->subject), "CN=%s", c->cn ? c->cn : "");
	snprintf(f->spki, sizeof(f->spki), "%s", c->spki ? c->spki : "");
	snprintf(f->sha256, sizeof(f->sha256), "%s", c->sha256 ? c->sha256 : "");
}

/* ---- RFC 6125 name matching ---- */

static const struct {
	const char	*pattern, *name;
	bool		 match;
	const char	*why;	/* prefix of the reason on no match, or NULL */
} names[] = {
	/* exact, case, trailing dots */
	{ "example.com", "example.com", true, NULL },
	{ "EXAMPLE.COM", "example.com", true, NULL },
	{ "example.com", "ExAmPlE.CoM", true, NULL },
	{ "example.com.", "example.com", true, NULL },
	{ "example.com", "example.com.", true, NULL },
	{ "example.com.", "example.com.", true, NULL },
	{ "example.com..", "example.com", false, "malformed" },
	{ "example.com", "example.org", false, "mismatch" },
	{ "example.com", "www.example.com", false, "mismatch" },
	{ "www.example.com", "example.com", false, "mismatch" },
	{ "mx.contoso.com", "mx.contoso.com", true, NULL },
	{ "mx.contoso.com", "mx1.contoso.com", false, "mismatch" },
	{ "example.com", "example.co", false, "mismatch" },
	{ "example.co", "example.com", false, "mismatch" },
	{ "", "example.com", false, "malformed" },
	{ "example.com", "", false, "malformed" },
	{ ".", "example.com", false, "malformed" },
	{ ".example.com", "example.com", false, "malformed" },
	{ "a..example.com", "a..example.com", false, "malformed" },
	{ "exa mple.com", "exa mple.com", false, "malformed" },
	{ "localhost", "localhost", true, NULL },
	/* RFC 6125 6.4.3: one whole left-most wildcard label */
	{ "*.example.com", "foo.example.com", true, NULL },
	{ "*.example.com", "FOO.Example.COM", true, NULL },
	{ "*.EXAMPLE.com", "a.example.com", true, NULL },
	{ "*.example.com", "a.example.com.", true, NULL },
	{ "*.example.com.", "a.example.com", true, NULL },
	{ "*.example.com", "example.com", false, "mismatch" },
	{ "*.example.com", "bar.foo.example.com", false, "wildcard-depth" },
	{ "*.example.com", "a.b.c.example.com", false, "wildcard-depth" },
	{ "*.example.com", "foo.example.org", false, "mismatch" },
	{ "*.example.com", "fooexample.com", false, "mismatch" },
	{ "*.example.com", "xn--bcher-kva.example.com", true, NULL },
	{ "*.example.com", ".example.com", false, "malformed" },
	{ "*.mail.example.com", "mx.mail.example.com", true, NULL },
	{ "*.mail.example.com", "mx.example.com", false, "mismatch" },
	/* a wildcard is not allowed to cover a whole top-level domain */
	{ "*.com", "example.com", false, "wildcard-too-wide" },
	{ "*.local", "host.local", false, "wildcard-too-wide" },
	{ "*", "example", false, "wildcard-too-wide" },
	{ "*.", "example", false, "wildcard-too-wide" },
	/* partial wildcards never match */
	{ "f*.example.com", "foo.example.com", false, "partial-wildcard" },
	{ "*oo.example.com", "foo.example.com", false, "partial-wildcard" },
	{ "f*o.example.com", "foo.example.com", false, "partial-wildcard" },
	{ "b*z.example.com", "baz.example.com", false, "partial-wildcard" },
	{ "xn--*.example.com", "xn--bcher-kva.example.com", false, "partial-wildcard" },
	{ "www.*.example.com", "www.foo.example.com", false, "partial-wildcard" },
	{ "foo.*.com", "foo.example.com", false, "partial-wildcard" },
	{ "*.*.example.com", "a.b.example.com", false, "partial-wildcard" },
	{ "**.example.com", "a.example.com", false, "partial-wildcard" },
	{ "example.*", "example.com", false, "partial-wildcard" },
	/* the reference name is a host name, never a pattern */
	{ "*.example.com", "*.example.com", false, "malformed" },
	{ "a.example.com", "*.example.com", false, "malformed" },
	/* IDNs: A-labels compare as ASCII; a U-label reference name is
	 * compared as its A-label; a U-label certificate name never matches */
	{ "xn--bcher-kva.example", "xn--bcher-kva.example", true, NULL },
	{ "XN--BCHER-KVA.example", "xn--bcher-kva.example", true, NULL },
	{ "xn--bcher-kva.example", "xn--bcher-kvb.example", false, "mismatch" },
	{ "b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example", false, "u-label" },
	{ "xn--bcher-kva.example", "b\xc3\xbc" "cher.example", true, NULL },
	{ "xn--bcher-kva.example", "\xe2\x98\x83.example", false, "u-label" },
	{ "b\xc3\xbc" "cher.example", "xn--bcher-kva.example", false, "u-label" },
	{ "*.b\xc3\xbc" "cher.example", "a.xn--bcher-kva.example", false, "u-label" },
	{ "*.xn--bcher-kva.example", "mx.xn--bcher-kva.example", true, NULL },
	{ "\xe4\xbe\x8b\xe5\xad\x90.\xe6\xb5\x8b\xe8\xaf\x95", "xn--fsqu00a.xn--0zwm56d", false, "u-label" },
	{ "xn--fsqu00a.xn--0zwm56d", "xn--fsqu00a.xn--0zwm56d", true, NULL },
	/* digits, hyphens, underscores are ordinary characters */
	{ "mx-1.example.com", "MX-1.example.com", true, NULL },
	{ "_mta-sts.example.com", "_mta-sts.example.com", true, NULL },
	{ "*.example-1.com", "a.example-1.com", true, NULL },
	{ "192.0.2.1", "192.0.2.1", true, NULL },
	{ "*.0.2.1", "192.0.2.1", true, NULL },	/* DNS-ID syntax only: IP-IDs are iPAddress SANs */
};

START_TEST(test_name)
{
	char why[256] = "";
	bool got = policy_name_matches_why(names[_i].pattern, names[_i].name, why, sizeof(why));

	ck_assert_msg(got == names[_i].match, "case %d: \"%s\" vs \"%s\": got %d (%s)", _i,
	    names[_i].pattern, names[_i].name, got, why);
	ck_assert(policy_name_matches(names[_i].pattern, names[_i].name) == got);
	if (!got && names[_i].why != NULL)
		ck_assert_msg(strncmp(why, names[_i].why, strlen(names[_i].why)) == 0,
		    "case %d: reason \"%s\", wanted \"%s...\"", _i, why, names[_i].why);
	if (!got)
		for (const char *p = why; *p; p++)
			ck_assert_msg((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
			    "case %d: unprintable reason", _i);
}
END_TEST

START_TEST(test_name_null)
{
	ck_assert(!policy_name_matches(NULL, "example.com"));
	ck_assert(!policy_name_matches("example.com", NULL));
	ck_assert(policy_domain_eq("Example.COM.", "example.com"));
	ck_assert(!policy_domain_eq("example.com", "example.co"));
}
END_TEST

/* an independent statement of the rules, label by label, to cross-check
 * policy_name_matches() over generated names */
static size_t
ref_labels(const char *s, char out[][16], size_t max)
{
	size_t n = 0, len = strlen(s), k = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0)
		return 0;
	out[0][0] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (k == 0 || ++n == max)
				return 0;	/* empty label */
			k = 0;
			out[n][0] = '\0';
			continue;
		}
		if (k == 15)
			return 0;
		out[n][k++] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
		out[n][k] = '\0';
	}
	return k == 0 ? 0 : n + 1;
}

static bool
ref_match(const char *pattern, const char *name)
{
	char pl[8][16], nl[8][16];
	size_t np = ref_labels(pattern, pl, 8), nn = ref_labels(name, nl, 8);

	if (np == 0 || nn == 0 || strchr(name, '*') != NULL)
		return false;
	for (size_t i = 1; i < np; i++)
		if (strchr(pl[i], '*') != NULL)
			return false;
	if (strchr(pl[0], '*') != NULL && (strcmp(pl[0], "*") != 0 || np < 3))
		return false;
	if (np != nn)
		return false;
	for (size_t i = 0; i < np; i++)
		if (strcmp(pl[i], nl[i]) != 0 && !(i == 0 && strcmp(pl[0], "*") == 0))
			return false;
	return true;
}

static void
gen_name(unsigned *seed, char *out, size_t outlen, bool wild)
{
	static const char alpha[] = "aAbB-x*.";
	size_t len;

	*seed = *seed * 1103515245u + 12345u;
	len = 1 + (*seed >> 16) % 12;
	if (len >= outlen)
		len = outlen - 1;
	for (size_t i = 0; i < len; i++) {
		*seed = *seed * 1103515245u + 12345u;
		out[i] = alpha[(*seed >> 16) % (wild ? 8 : 7)];
	}
	out[len] = '\0';
}

START_TEST(test_name_crosscheck)
{
	unsigned seed = unit_seed("name cross-check", 6125);
	char p[16], n[16];
	const char *sfx[] = { "", ".b.a", ".a", ".B.a." };
	unsigned matches = 0, wild = 0;

	for (int i = 0; i < 20000; i++) {
		char pp[32], nn[32];

		gen_name(&seed, p, sizeof(p), true);
		/* half the time the name shares the pattern's tail, so matches occur */
		if (i % 3 == 0 && strchr(p, '.') != NULL) {
			snprintf(n, sizeof(n), "q%s", strchr(p, '.'));
		} else if (i % 3 == 1) {
			/* the pattern itself, in other case, stars as letters */
			for (size_t k = 0; k <= strlen(p); k++)
				n[k] = p[k] == '*' ? 'c' : (p[k] >= 'a' && p[k] <= 'z') ?
				    (char)(p[k] - 'a' + 'A') : p[k];
		} else
			gen_name(&seed, n, sizeof(n), false);
		snprintf(pp, sizeof(pp), "%s%s", p, sfx[i % 4]);
		snprintf(nn, sizeof(nn), "%s%s", n, sfx[i % 4]);
		ck_assert_msg(policy_name_matches(pp, nn) == ref_match(pp, nn),
		    "\"%s\" vs \"%s\": %d, reference %d", pp, nn, policy_name_matches(pp, nn),
		    ref_match(pp, nn));
		if (ref_match(pp, nn)) {
			matches++;
			wild += pp[0] == '*';
		}
	}
	/* the generator must reach both kinds of match, or this proves nothing */
	ck_assert_msg(matches > 200 && wild > 20, "%u matches, %u by wildcard", matches, wild);
}
END_TEST

/* ---- domain_secure.match: does a certificate name cover a domain ---- */

static const struct {
	enum ds_match	 mode;
	const char	*pattern, *domain;
	bool		 covered;
} covers[] = {
	{ DS_MATCH_EXACT, "contoso.com", "contoso.com", true },
	{ DS_MATCH_EXACT, "CONTOSO.com.", "contoso.com", true },
	{ DS_MATCH_EXACT, "*.contoso.com", "contoso.com", false },
	{ DS_MATCH_EXACT, "*.contoso.com", "mail.contoso.com", false },
	{ DS_MATCH_EXACT, "mx.contoso.com", "contoso.com", false },
	{ DS_MATCH_EXACT, "contoso.com", "mx.contoso.com", false },
	{ DS_MATCH_WILDCARD, "contoso.com", "contoso.com", true },
	{ DS_MATCH_WILDCARD, "*.contoso.com", "contoso.com", true },
	{ DS_MATCH_WILDCARD, "*.contoso.com", "eu.contoso.com", true },
	{ DS_MATCH_WILDCARD, "*.contoso.com", "a.eu.contoso.com", false },
	{ DS_MATCH_WILDCARD, "*.com", "contoso.com", false },
	{ DS_MATCH_WILDCARD, "*.com", "com", false },
	{ DS_MATCH_WILDCARD, "c*.contoso.com", "contoso.com", false },
	{ DS_MATCH_WILDCARD, "mx.contoso.com", "contoso.com", false },
	{ DS_MATCH_WILDCARD, "*.eu.contoso.com", "contoso.com", false },
	{ DS_MATCH_SUBDOMAINS, "contoso.com", "contoso.com", true },
	{ DS_MATCH_SUBDOMAINS, "mx.contoso.com", "contoso.com", true },
	{ DS_MATCH_SUBDOMAINS, "a.b.contoso.com", "contoso.com", true },
	{ DS_MATCH_SUBDOMAINS, "*.contoso.com", "contoso.com", true },
	{ DS_MATCH_SUBDOMAINS, "*.eu.contoso.com", "contoso.com", true },
	{ DS_MATCH_SUBDOMAINS, "mxcontoso.com", "contoso.com", false },
	{ DS_MATCH_SUBDOMAINS, "contoso.com.evil.example", "contoso.com", false },
	{ DS_MATCH_SUBDOMAINS, "f*.contoso.com", "contoso.com", false },
	{ DS_MATCH_SUBDOMAINS, "contoso.com", "mx.contoso.com", false },
	{ DS_MATCH_SUBDOMAINS, "m\xc3\xbc.contoso.com", "contoso.com", false },
	{ DS_MATCH_SUBDOMAINS, "mx.contoso.com", "*.contoso.com", false },
};

START_TEST(test_covers)
{
	ck_assert_msg(policy_name_covers(covers[_i].mode, covers[_i].pattern, covers[_i].domain) ==
	    covers[_i].covered, "case %d: %s \"%s\" covers \"%s\"", _i,
	    config_match_name(covers[_i].mode), covers[_i].pattern, covers[_i].domain);
}
END_TEST

/* CN only when the certificate has no DNS SAN (RFC 6125 6.4.4) */
static const struct {
	struct fake_cert cert;
	const char	*host;
	bool		 match;
	const char	*names;
} cnfall[] = {
	{ { { NULL }, "mx.contoso.com", NULL, NULL }, "mx.contoso.com", true, "CN=mx.contoso.com" },
	{ { { "other.example" }, "mx.contoso.com", NULL, NULL }, "mx.contoso.com", false,
	  "other.example" },
	{ { { "mx.contoso.com", "contoso.com" }, "ignored", NULL, NULL }, "contoso.com", true,
	  "mx.contoso.com,contoso.com" },
	{ { { NULL }, "", NULL, NULL }, "mx.contoso.com", false, "(none)" },
	{ { { NULL }, "*.contoso.com", NULL, NULL }, "mx.contoso.com", true, "CN=*.contoso.com" },
	{ { { "a\nb.example" }, NULL, NULL, NULL }, "a.example", false, "a?b.example" },
};

START_TEST(test_cn_fallback)
{
	struct tls_cert_facts f;
	char *sb[6], names_buf[256], matched[256] = "";

	mkfacts(&cnfall[_i].cert, &f, sb);
	ck_assert(policy_cert_matches_host(&f, cnfall[_i].host, matched, sizeof(matched)) ==
	    cnfall[_i].match);
	policy_cert_names_format(&f, names_buf, sizeof(names_buf));
	ck_assert_str_eq(names_buf, cnfall[_i].names);
}
END_TEST

START_TEST(test_names_format_cut)
{
	static const struct fake_cert c = { { "aaaaaaaaaaaaaaaaaaaa.example", "bbbbbbbbbbbbbbbbbbbb.example",
	    "cccccccccccccccccccc.example" }, NULL, NULL, NULL };
	struct tls_cert_facts f;
	char *sb[6], out[40];

	mkfacts(&c, &f, sb);
	policy_cert_names_format(&f, out, sizeof(out));
	ck_assert_uint_eq(strlen(out), sizeof(out) - 1);
	ck_assert_str_eq(out + strlen(out) - 3, "...");
	policy_printable("x\x01y\xffz", out, sizeof(out));
	ck_assert_str_eq(out, "x?y?z");
}
END_TEST

/* ---- pins ---- */

static const struct cfg_pinref refs_hub[] = { { UNCONST("hub"), 1, 1 } };
static const struct cfg_pinref refs_partner[] = { { UNCONST("partner"), 1, 1 } };
static const struct cfg_pinref refs_lit_q[] = { { UNCONST(PIN_Q), 1, 1 } };
static const struct cfg_pinref refs_lit_cert[] = { { UNCONST("cert-sha256:" HEX_OTHER), 1, 1 } };
static const struct cfg_pinref refs_unknown[] = { { UNCONST("nosuch"), 1, 1 } };
static const struct cfg_pinref refs_two[] = { { UNCONST("nosuch"), 1, 1 }, { UNCONST("hub"), 1, 1 } };

static const struct {
	const struct cfg_pinref	*refs;
	size_t			 n;
	struct fake_cert	 cert;
	bool			 match;
	const char		*matched;
	size_t			 count;
} pins[] = {
	{ refs_hub, 1, { { "hub" }, NULL, PIN_HUB, HEX_OTHER }, true, "hub", 1 },
	{ refs_hub, 1, { { "hub" }, NULL, PIN_OTHER, HEX_OTHER }, false, "none", 1 },
	{ refs_partner, 1, { { "p" }, NULL, PIN_OTHER, HEX_P }, true, "partner", 2 },
	{ refs_partner, 1, { { "p" }, NULL, PIN_E, HEX_OTHER }, true, "partner", 2 },
	{ refs_partner, 1, { { "p" }, NULL, PIN_OTHER, HEX_OTHER }, false, "none", 2 },
	/* hex is compared case-insensitively, base64 exactly */
	{ refs_partner, 1, { { "p" }, NULL, NULL, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
	  true, "partner", 2 },
	{ refs_partner, 1, { { "p" }, NULL, "sha256/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee=", NULL },
	  false, "none", 2 },
	{ refs_lit_q, 1, { { "p" }, NULL, PIN_Q, NULL }, true, PIN_Q, 1 },
	{ refs_lit_q, 1, { { "p" }, NULL, PIN_HUB, NULL }, false, "none", 1 },
	{ refs_lit_cert, 1, { { "p" }, NULL, NULL, HEX_OTHER }, true, "cert-sha256:" HEX_OTHER, 1 },
	{ refs_lit_cert, 1, { { "p" }, NULL, NULL, HEX_P }, false, "none", 1 },
	{ refs_unknown, 1, { { "p" }, NULL, PIN_HUB, HEX_P }, false, "none", 0 },
	{ refs_two, 2, { { "p" }, NULL, PIN_HUB, NULL }, true, "hub", 1 },
	{ refs_hub, 0, { { "p" }, NULL, PIN_HUB, NULL }, false, "none", 0 },
	/* empty facts never match, even an empty-looking pin */
	{ refs_hub, 1, { { "p" }, NULL, "", "" }, false, "none", 1 },
};

START_TEST(test_pins)
{
	struct dsmtp_config cfg;
	struct tls_cert_facts f;
	char *sb[6], matched[128] = "";

	load(edge_yaml, &cfg);
	mkfacts(&pins[_i].cert, &f, sb);
	ck_assert_msg(policy_pins_match(&cfg, pins[_i].refs, pins[_i].n, &f, matched,
	    sizeof(matched)) == pins[_i].match, "case %d", _i);
	ck_assert_str_eq(matched, pins[_i].matched);
	ck_assert_uint_eq(policy_pins_count(&cfg, pins[_i].refs, pins[_i].n), pins[_i].count);
	config_free(&cfg);
}
END_TEST

START_TEST(test_pin_literal)
{
	struct tls_cert_facts f = { 0 };

	ck_assert(policy_pinref_is_literal(PIN_HUB));
	ck_assert(policy_pinref_is_literal("cert-sha256:" HEX_P));
	ck_assert(!policy_pinref_is_literal("hub"));
	ck_assert(!policy_pinref_is_literal(NULL));
	snprintf(f.sha1, sizeof(f.sha1), "%s", "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	/* SHA-1 is never a pin */
	ck_assert(!policy_pin_matches("sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", &f));
	ck_assert(!policy_pin_matches(NULL, &f));
	ck_assert(!policy_pin_matches(PIN_HUB, NULL));
}
END_TEST

/* ---- the level ladder ---- */

START_TEST(test_levels)
{
	static const struct {
		enum dsmtp_level l;
		bool tls, pkix, names_, pin, pin_req, client;
		const char *name;
	} t[] = {
		{ LEVEL_NONE, false, false, false, false, false, false, "none" },
		{ LEVEL_OPPORTUNISTIC, false, false, false, false, false, false, "opportunistic" },
		{ LEVEL_MANDATORY, true, false, false, false, false, false, "mandatory" },
		{ LEVEL_VERIFY, true, true, true, false, false, false, "verify" },
		{ LEVEL_DOMAIN_SECURE, true, true, true, true, false, true, "domain-secure" },
		{ LEVEL_PINNED, true, false, false, true, true, false, "pinned" },
	};

	for (size_t i = 0; i < NELEM(t); i++) {
		ck_assert(policy_level_requires_tls(t[i].l) == t[i].tls);
		ck_assert(policy_level_pkix(t[i].l) == t[i].pkix);
		ck_assert(policy_level_names(t[i].l) == t[i].names_);
		ck_assert(policy_level_pin(t[i].l) == t[i].pin);
		ck_assert(policy_level_pin_required(t[i].l) == t[i].pin_req);
		ck_assert(policy_level_client_cert(t[i].l) == t[i].client);
		ck_assert_str_eq(policy_level_name(t[i].l), t[i].name);
	}
}
END_TEST

/* ---- before STARTTLS ---- */

static const struct {
	enum dsmtp_level l;
	bool		 offered, pass, defer, plaintext;
	const char	*reason;
} starttls[] = {
	{ LEVEL_NONE, true, true, false, true, "ok: level none" },
	{ LEVEL_NONE, false, true, false, true, "ok: level none" },
	{ LEVEL_OPPORTUNISTIC, true, true, false, false, "ok: STARTTLS offered" },
	{ LEVEL_OPPORTUNISTIC, false, true, false, true, "no-tls: STARTTLS not offered by mx.example" },
	{ LEVEL_MANDATORY, true, true, false, false, "ok:" },
	{ LEVEL_MANDATORY, false, false, true, false, "no-tls: STARTTLS not offered by mx.example (level mandatory" },
	{ LEVEL_VERIFY, false, false, true, false, "no-tls:" },
	{ LEVEL_DOMAIN_SECURE, false, false, true, false, "no-tls:" },
	{ LEVEL_PINNED, false, false, true, false, "no-tls:" },
	{ LEVEL_PINNED, true, true, false, false, "ok:" },
};

START_TEST(test_starttls)
{
	struct policy_dest d = { starttls[_i].l, "example.org", "mx.example", NULL, 0, POLICY_DANE_INSECURE, NULL, NULL, NULL };
	struct policy_verdict v;

	policy_judge_starttls(&d, starttls[_i].offered, &v);
	ck_assert_msg(v.pass == starttls[_i].pass && v.defer == starttls[_i].defer &&
	    v.plaintext == starttls[_i].plaintext, "case %d: %s", _i, v.reason);
	ck_assert_msg(strncmp(v.reason, starttls[_i].reason, strlen(starttls[_i].reason)) == 0,
	    "case %d: \"%s\"", _i, v.reason);
}
END_TEST

/* ---- after the handshake: every level, pass and each failure ---- */

#define C_CONTOSO	{ { "mx.contoso.com", "contoso.com" }, "mx.contoso.com", PIN_OTHER, HEX_OTHER }
#define C_FABRIKAM	{ { "mx.fabrikam.com", "fabrikam.com" }, NULL, PIN_OTHER, HEX_OTHER }
#define C_HUB		{ { "hub.example.com" }, NULL, PIN_HUB, HEX_OTHER }
#define C_PARTNER_PIN	{ { "mx.contoso.com", "contoso.com" }, NULL, PIN_E, HEX_OTHER }
#define C_WILD		{ { "*.contoso.com" }, NULL, PIN_OTHER, HEX_OTHER }

static const struct {
	enum dsmtp_level	 l;
	const char		*domain, *host;
	const struct cfg_pinref	*refs;
	size_t			 nrefs;
	bool			 tls_done, present;
	enum tls_chain_status	 chain;
	const char		*chain_reason;
	struct fake_cert	 cert;
	bool			 local;
	bool			 pass, defer, plaintext;
	const char		*reason, *pin;
} sends[] = {
	/* none */
	{ LEVEL_NONE, "contoso.com", "mx.contoso.com", NULL, 0, false, false, TLS_CHAIN_OK, "",
	  C_CONTOSO, false, true, false, true, "ok: level none", "none" },
	/* opportunistic: anything goes over TLS, a failed handshake retries in plaintext */
	{ LEVEL_OPPORTUNISTIC, "contoso.com", "mx.contoso.com", NULL, 0, true, true,
	  TLS_CHAIN_UNKNOWN_ISSUER, "unknown issuer", C_FABRIKAM, false, true, false, false,
	  "ok: TLS, peer not authenticated (level opportunistic)", "none" },
	{ LEVEL_OPPORTUNISTIC, "contoso.com", "mx.contoso.com", NULL, 0, true, false,
	  TLS_CHAIN_NO_CERT, "", C_CONTOSO, false, true, false, false, "ok:", "none" },
	{ LEVEL_OPPORTUNISTIC, "contoso.com", "mx.contoso.com", NULL, 0, false, false, TLS_CHAIN_OK,
	  "", C_CONTOSO, false, false, false, true,
	  "handshake-failed: TLS handshake failed (opportunistic: retry once in plaintext)", "none" },
	/* mandatory: TLS, no authentication, else defer */
	{ LEVEL_MANDATORY, "contoso.com", "mx.contoso.com", NULL, 0, true, true, TLS_CHAIN_EXPIRED,
	  "expired", C_FABRIKAM, false, true, false, false, "ok: TLS, peer not authenticated", "none" },
	{ LEVEL_MANDATORY, "contoso.com", "mx.contoso.com", NULL, 0, false, false, TLS_CHAIN_OK, "",
	  C_CONTOSO, false, false, true, false, "handshake-failed:", "none" },
	/* verify: chain and next-hop host name */
	{ LEVEL_VERIFY, "contoso.com", "mx.contoso.com", NULL, 0, true, true, TLS_CHAIN_OK, "ok",
	  C_CONTOSO, false, true, false, false,
	  "ok: verified chain and host name mx.contoso.com (matched mx.contoso.com)", "none" },
	{ LEVEL_VERIFY, "contoso.com", "MX.Contoso.COM.", NULL, 0, true, true, TLS_CHAIN_OK, "ok",
	  C_CONTOSO, false, true, false, false, "ok:", "none" },
	{ LEVEL_VERIFY, "contoso.com", "eu.contoso.com", NULL, 0, true, true, TLS_CHAIN_OK, "ok",
	  C_WILD, false, true, false, false, "ok:", "none" },
	{ LEVEL_VERIFY, "contoso.com", "mx.contoso.com", NULL, 0, true, true, TLS_CHAIN_EXPIRED,
	  "certificate expired on 2026-01-01", C_CONTOSO, false, false, true, false,
	  "chain: certificate expired on 2026-01-01", "none" },
	{ LEVEL_VERIFY, "contoso.com", "mx.contoso.com", NULL, 0, true, true,
	  TLS_CHAIN_UNKNOWN_ISSUER, "", C_CONTOSO, false, false, true, false,
	  "chain: unknown issuer", "none" },
	{ LEVEL_VERIFY, "contoso.com", "mx.contoso.com", NULL, 0, true, true, TLS_CHAIN_OK, "ok",
	  C_FABRIKAM, false, false, true, false,
	  "hostname-mismatch: wanted mx.contoso.com, saw mx.fabrikam.com,fabrikam.com", "none" },
	{ LEVEL_VERIFY, "contoso.com", NULL, NULL, 0, true, true, TLS_CHAIN_OK, "ok", C_CONTOSO,
	  false, false, true, false, "hostname-mismatch: no next-hop host name", "none" },
	{ LEVEL_VERIFY, "contoso.com", "mx.contoso.com", NULL, 0, true, false, TLS_CHAIN_NO_CERT, "",
	  C_CONTOSO, false, false, true, false, "no-peer-cert:", "none" },
	{ LEVEL_VERIFY, "contoso.com", "mx.contoso.com", NULL, 0, false, false, TLS_CHAIN_OK, "",
	  C_CONTOSO, false, false, true, false, "handshake-failed:", "none" },
	/* text from DNS or the peer is made printable before it reaches a reason */
	{ LEVEL_VERIFY, "contoso.com", "mx\001.contoso.com", NULL, 0, true, true, TLS_CHAIN_OK,
	  "ok", { { "a\r\nb.example" }, NULL, NULL, NULL }, false, false, true, false,
	  "hostname-mismatch: wanted mx?.contoso.com, saw a??b.example", "none" },
	{ LEVEL_VERIFY, "contoso.com", "mx.contoso.com", NULL, 0, true, true, TLS_CHAIN_OTHER,
	  "bad\033[31m issuer", C_CONTOSO, false, false, true, false, "chain: bad?[31m issuer",
	  "none" },
	{ LEVEL_MANDATORY, "contoso.com", "mx\n.contoso.com", NULL, 0, true, true, TLS_CHAIN_OK,
	  "ok", C_CONTOSO, false, true, false, false, "ok:", "none" },
	/* verify ignores pins: a pinned certificate with a bad chain still fails */
	{ LEVEL_VERIFY, "hub.example.com", "hub.example.com", refs_hub, 1, true, true,
	  TLS_CHAIN_UNKNOWN_ISSUER, "", C_HUB, false, false, true, false, "chain:", "none" },
	/* domain-secure: chain or pin, the domain named, our certificate presented */
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", NULL, 0, true, true, TLS_CHAIN_OK,
	  "ok", C_CONTOSO, true, true, false, false,
	  "ok: domain-secure contoso.com (name contoso.com, trust chain)", "none" },
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", refs_partner, 1, true, true,
	  TLS_CHAIN_UNKNOWN_ISSUER, "", C_PARTNER_PIN, true, true, false, false,
	  "ok: domain-secure contoso.com (name contoso.com, trust pin partner)", "partner" },
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", refs_partner, 1, true, true,
	  TLS_CHAIN_UNKNOWN_ISSUER, "", C_CONTOSO, true, false, true, false,
	  "chain: unknown issuer; no pin matched (saw " PIN_OTHER ", wanted partner)", "none" },
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", NULL, 0, true, true,
	  TLS_CHAIN_REVOKED, "", C_CONTOSO, true, false, true, false, "chain: revoked", "none" },
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", NULL, 0, true, true, TLS_CHAIN_OK,
	  "ok", C_FABRIKAM, true, false, true, false,
	  "san-mismatch: wanted contoso.com (match exact), saw mx.fabrikam.com,fabrikam.com", "none" },
	/* exact mode: a wildcard certificate does not name the domain */
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", NULL, 0, true, true, TLS_CHAIN_OK,
	  "ok", C_WILD, true, false, true, false,
	  "san-mismatch: wanted contoso.com (match exact), saw *.contoso.com", "none" },
	/* a pin does not excuse the name */
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", refs_hub, 1, true, true,
	  TLS_CHAIN_OK, "ok", C_HUB, true, false, true, false, "san-mismatch:", "hub" },
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", NULL, 0, true, true, TLS_CHAIN_OK,
	  "ok", C_CONTOSO, false, false, true, false, "no-client-cert: we presented no client",
	  "none" },
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", NULL, 0, true, false,
	  TLS_CHAIN_NO_CERT, "", C_CONTOSO, true, false, true, false, "no-peer-cert:", "none" },
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", NULL, 0, false, false, TLS_CHAIN_OK,
	  "", C_CONTOSO, true, false, true, false, "handshake-failed:", "none" },
	/* the CN counts only without DNS SANs */
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", NULL, 0, true, true, TLS_CHAIN_OK,
	  "ok", { { NULL }, "contoso.com", NULL, NULL }, true, true, false, false, "ok:", "none" },
	{ LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", NULL, 0, true, true, TLS_CHAIN_OK,
	  "ok", { { "mx.fabrikam.com" }, "contoso.com", NULL, NULL }, true, false, true, false,
	  "san-mismatch:", "none" },
	/* pinned: only the pin counts */
	{ LEVEL_PINNED, "example.org", "hub.example.com", refs_hub, 1, true, true,
	  TLS_CHAIN_UNKNOWN_ISSUER, "", C_HUB, false, true, false, false, "ok: pinned (pin hub)",
	  "hub" },
	{ LEVEL_PINNED, "example.org", "hub.example.com", refs_hub, 1, true, true,
	  TLS_CHAIN_UNKNOWN_ISSUER, "", { { "x.example" }, NULL, PIN_HUB, NULL }, false, true, false,
	  false, "ok: pinned", "hub" },
	{ LEVEL_PINNED, "example.org", "hub.example.com", refs_hub, 1, true, true, TLS_CHAIN_OK,
	  "ok", C_CONTOSO, false, false, true, false,
	  "pin-mismatch: saw " PIN_OTHER ", wanted hub", "none" },
	{ LEVEL_PINNED, "example.org", "hub.example.com", refs_lit_cert, 1, true, true,
	  TLS_CHAIN_OK, "ok", C_CONTOSO, false, true, false, false,
	  "ok: pinned (pin cert-sha256:", "cert-sha256:" },
	{ LEVEL_PINNED, "example.org", "hub.example.com", NULL, 0, true, true, TLS_CHAIN_OK, "ok",
	  C_HUB, false, false, true, false, "pin-mismatch: saw " PIN_HUB ", wanted (none configured)",
	  "none" },
	{ LEVEL_PINNED, "example.org", "hub.example.com", refs_unknown, 1, true, true, TLS_CHAIN_OK,
	  "ok", C_HUB, false, false, true, false, "pin-mismatch: saw " PIN_HUB ", wanted nosuch",
	  "none" },
	{ LEVEL_PINNED, "example.org", "hub.example.com", refs_hub, 1, true, false,
	  TLS_CHAIN_NO_CERT, "", C_HUB, false, false, true, false, "no-peer-cert:", "none" },
	{ LEVEL_PINNED, "example.org", "hub.example.com", refs_hub, 1, false, false, TLS_CHAIN_OK,
	  "", C_HUB, false, false, true, false, "handshake-failed:", "none" },
	/* pinned.example is on domain_secure.send: the pin, and the domain
	 * named, and our client certificate presented */
	{ LEVEL_PINNED, "pinned.example", "mx.pinned.example", refs_lit_q, 1, true, true,
	  TLS_CHAIN_UNKNOWN_ISSUER, "", { { "pinned.example" }, NULL, PIN_Q, NULL }, true, true,
	  false, false, "ok: pinned (pin " PIN_Q ") and domain-secure pinned.example (name "
	  "pinned.example)", PIN_Q },
	{ LEVEL_PINNED, "Pinned.Example.", "mx.pinned.example", refs_lit_q, 1, true, true,
	  TLS_CHAIN_UNKNOWN_ISSUER, "", { { "pinned.example" }, NULL, PIN_Q, NULL }, true, true,
	  false, false, "ok: pinned (pin ", PIN_Q },
	{ LEVEL_PINNED, "pinned.example", "mx.pinned.example", refs_lit_q, 1, true, true,
	  TLS_CHAIN_OK, "ok", { { "mx.pinned.example" }, NULL, PIN_Q, NULL }, true, false, true,
	  false, "san-mismatch: wanted pinned.example (match exact; pinned, and on "
	  "domain_secure.send), saw mx.pinned.example", PIN_Q },
	{ LEVEL_PINNED, "pinned.example", "mx.pinned.example", refs_lit_q, 1, true, true,
	  TLS_CHAIN_OK, "ok", { { "pinned.example" }, NULL, PIN_Q, NULL }, false, false, true,
	  false, "no-client-cert: we presented no client certificate (pinned.example", PIN_Q },
	/* the name does not excuse the pin */
	{ LEVEL_PINNED, "pinned.example", "mx.pinned.example", refs_lit_q, 1, true, true,
	  TLS_CHAIN_OK, "ok", { { "pinned.example" }, NULL, PIN_HUB, NULL }, true, false, true,
	  false, "pin-mismatch: saw " PIN_HUB, "none" },
};

START_TEST(test_send)
{
	struct dsmtp_config cfg;
	struct tls_session_facts f;
	struct tls_cert_facts ours = { 0 };
	struct policy_dest d = { sends[_i].l, sends[_i].domain, sends[_i].host, sends[_i].refs,
	    sends[_i].nrefs, POLICY_DANE_INSECURE, NULL, NULL, NULL };
	struct policy_verdict v;
	char *sb[6];

	load(edge_yaml, &cfg);
	memset(&f, 0, sizeof(f));
	f.peer.present = sends[_i].present;
	f.peer.chain = sends[_i].chain;
	snprintf(f.peer.chain_reason, sizeof(f.peer.chain_reason), "%s", sends[_i].chain_reason);
	mkfacts(&sends[_i].cert, &f.peer.leaf, sb);
	f.local = sends[_i].local ? &ours : NULL;
	policy_judge_send(&cfg, &d, sends[_i].tls_done, &f, &v);
	ck_assert_msg(v.pass == sends[_i].pass && v.defer == sends[_i].defer &&
	    v.plaintext == sends[_i].plaintext, "case %d: pass %d defer %d plaintext %d: %s", _i,
	    v.pass, v.defer, v.plaintext, v.reason);
	ck_assert_msg(strncmp(v.reason, sends[_i].reason, strlen(sends[_i].reason)) == 0,
	    "case %d: \"%s\", wanted \"%s\"", _i, v.reason, sends[_i].reason);
	ck_assert_msg(strncmp(v.pin, sends[_i].pin, strlen(sends[_i].pin)) == 0,
	    "case %d: pin \"%s\"", _i, v.pin);
	for (const char *q = v.reason; *q; q++)
		ck_assert_msg((unsigned char)*q >= 0x20 && (unsigned char)*q < 0x7f,
		    "case %d: unprintable reason", _i);
	for (const char *q = v.names; *q; q++)
		ck_assert((unsigned char)*q >= 0x20 && (unsigned char)*q < 0x7f);
	/* a failure that requires TLS always defers: never plaintext */
	if (!v.pass && policy_level_requires_tls(d.level))
		ck_assert(v.defer && !v.plaintext);
	config_free(&cfg);
}
END_TEST

/* a NULL facts pointer after a failed handshake is fine */
START_TEST(test_send_null_facts)
{
	struct policy_dest d = { LEVEL_DOMAIN_SECURE, "contoso.com", NULL, NULL, 0, POLICY_DANE_INSECURE, NULL, NULL, NULL };
	struct policy_verdict v;

	policy_judge_send(NULL, &d, false, NULL, &v);
	ck_assert(!v.pass && v.defer);
	policy_judge_send(NULL, &d, true, NULL, &v);
	ck_assert(!v.pass && v.defer);
}
END_TEST

/* domain_secure.match: wildcard and subdomains widen what names the domain */
START_TEST(test_send_match_modes)
{
	static const char *modes[] = { "wildcard", "subdomains" };
	struct tls_session_facts f;
	struct tls_cert_facts ours = { 0 };
	struct policy_verdict v;
	struct policy_dest d = { LEVEL_DOMAIN_SECURE, "contoso.com", "mx.contoso.com", NULL, 0, POLICY_DANE_INSECURE, NULL, NULL, NULL };
	static const struct fake_cert wild = C_WILD, mx = { { "mx.contoso.com" }, NULL, NULL, NULL };
	char *sb[6], yaml[256];

	for (size_t m = 0; m < NELEM(modes); m++) {
		struct dsmtp_config cfg;

		snprintf(yaml, sizeof(yaml), "domain_secure:\n  match: %s\n", modes[m]);
		load(yaml, &cfg);
		memset(&f, 0, sizeof(f));
		f.peer.present = true;
		f.peer.chain = TLS_CHAIN_OK;
		f.local = &ours;
		mkfacts(&wild, &f.peer.leaf, sb);
		policy_judge_send(&cfg, &d, true, &f, &v);
		ck_assert_msg(v.pass, "%s: %s", modes[m], v.reason);
		mkfacts(&mx, &f.peer.leaf, sb);
		policy_judge_send(&cfg, &d, true, &f, &v);
		ck_assert_msg(v.pass == (m == 1), "%s: %s", modes[m], v.reason);
		if (m == 0)
			ck_assert_str_eq(v.reason, "san-mismatch: wanted contoso.com (match wildcard), "
			    "saw mx.contoso.com");
		config_free(&cfg);
	}
}
END_TEST

/* probe's table: one connection judged at every level */
START_TEST(test_every_level)
{
	struct dsmtp_config cfg;
	struct tls_session_facts f;
	struct tls_cert_facts ours = { 0 };
	struct policy_verdict v[POLICY_NLEVELS];
	struct policy_dest d = { LEVEL_NONE, "contoso.com", "mx.contoso.com", refs_partner, 1, POLICY_DANE_INSECURE, NULL, NULL, NULL };
	static const struct fake_cert c = C_CONTOSO;
	char *sb[6];

	load(edge_yaml, &cfg);
	memset(&f, 0, sizeof(f));
	f.peer.present = true;
	f.peer.chain = TLS_CHAIN_OK;
	f.local = &ours;
	mkfacts(&c, &f.peer.leaf, sb);
	/* a CA-verified certificate naming mx.contoso.com and contoso.com */
	policy_judge_every_level(&cfg, &d, true, true, &f, v);
	ck_assert(v[LEVEL_NONE].pass && v[LEVEL_NONE].plaintext);
	ck_assert(v[LEVEL_OPPORTUNISTIC].pass && !v[LEVEL_OPPORTUNISTIC].plaintext);
	ck_assert(v[LEVEL_MANDATORY].pass);
	ck_assert_msg(v[LEVEL_VERIFY].pass, "%s", v[LEVEL_VERIFY].reason);
	ck_assert_msg(v[LEVEL_DOMAIN_SECURE].pass, "%s", v[LEVEL_DOMAIN_SECURE].reason);
	ck_assert(!v[LEVEL_PINNED].pass && v[LEVEL_PINNED].defer);
	ck_assert_str_eq(v[LEVEL_PINNED].reason, "pin-mismatch: saw " PIN_OTHER ", wanted partner");
	/* no secure TLSA records: dane is opportunistic, dane-only defers */
	ck_assert_msg(v[LEVEL_DANE].pass, "%s", v[LEVEL_DANE].reason);
	ck_assert(!v[LEVEL_DANE_ONLY].pass && v[LEVEL_DANE_ONLY].defer);
	/* STARTTLS not offered: plaintext up to opportunistic, defer above */
	policy_judge_every_level(&cfg, &d, false, false, NULL, v);
	ck_assert(v[LEVEL_OPPORTUNISTIC].pass && v[LEVEL_OPPORTUNISTIC].plaintext);
	for (int l = LEVEL_MANDATORY; l <= LEVEL_PINNED; l++) {
		ck_assert(!v[l].pass && v[l].defer);
		ck_assert(strncmp(v[l].reason, "no-tls:", 7) == 0);
	}
	/* offered, but the handshake failed */
	policy_judge_every_level(&cfg, &d, true, false, NULL, v);
	ck_assert(!v[LEVEL_OPPORTUNISTIC].pass && v[LEVEL_OPPORTUNISTIC].plaintext);
	ck_assert(!v[LEVEL_VERIFY].pass && strncmp(v[LEVEL_VERIFY].reason, "handshake-failed:",
	    17) == 0);
	config_free(&cfg);
}
END_TEST

/* the key purpose (RFC 5280 4.2.1.12): no extended key usage allows every
 * purpose; one without serverAuth fails verify and domain-secure sends, one
 * without clientAuth fails a domain-secure sender, each with a named reason */
START_TEST(test_key_purpose)
{
	static const struct {
		unsigned	 eku;
		bool		 server, client;
	} cases[] = {
		{ 0, true, true },
		{ TLS_EKU_PRESENT | TLS_EKU_SERVER | TLS_EKU_CLIENT, true, true },
		{ TLS_EKU_PRESENT | TLS_EKU_SERVER, true, false },
		{ TLS_EKU_PRESENT | TLS_EKU_CLIENT, false, true },
		{ TLS_EKU_PRESENT, false, false },		/* only other purposes */
		{ TLS_EKU_PRESENT | TLS_EKU_ANY, true, true },
	};
	struct dsmtp_config cfg;
	struct tls_session_facts f;
	struct tls_cert_facts ours = { 0 };
	struct policy_verdict v[POLICY_NLEVELS], rv;
	struct policy_dest d = { LEVEL_NONE, "contoso.com", "mx.contoso.com", refs_partner, 1,
	    POLICY_DANE_INSECURE, NULL, NULL, NULL };
	static const struct fake_cert c = C_CONTOSO;
	char *sb[6];

	load(edge_yaml, &cfg);
	for (size_t i = 0; i < NELEM(cases); i++) {
		memset(&f, 0, sizeof(f));
		f.peer.present = true;
		f.peer.chain = TLS_CHAIN_OK;
		f.local = &ours;
		mkfacts(&c, &f.peer.leaf, sb);
		f.peer.leaf.eku = cases[i].eku;
		ck_assert(policy_cert_purpose_ok(&f.peer.leaf, true) == cases[i].server);
		ck_assert(policy_cert_purpose_ok(&f.peer.leaf, false) == cases[i].client);
		policy_judge_every_level(&cfg, &d, true, true, &f, v);
		ck_assert(v[LEVEL_MANDATORY].pass);
		ck_assert_msg(v[LEVEL_VERIFY].pass == cases[i].server, "%zu: %s", i,
		    v[LEVEL_VERIFY].reason);
		ck_assert_msg(v[LEVEL_DOMAIN_SECURE].pass == cases[i].server, "%zu: %s", i,
		    v[LEVEL_DOMAIN_SECURE].reason);
		if (!cases[i].server) {
			ck_assert_str_eq(v[LEVEL_VERIFY].reason, "wrong-purpose: the certificate's "
			    "extended key usage does not include serverAuth");
			ck_assert(v[LEVEL_DOMAIN_SECURE].defer);
		}
		policy_judge_receive_sender(&cfg, "contoso.com", true, &f.peer, &rv);
		ck_assert_msg(rv.pass == cases[i].client, "%zu: %s", i, rv.reason);
		if (!cases[i].client) {
			ck_assert_str_eq(rv.reason, "wrong-purpose: the client certificate's extended "
			    "key usage does not include clientAuth");
			ck_assert_str_eq(rv.reply, "451 4.7.1 Mail from contoso.com must arrive "
			    "domain-secured: client certificate lacks clientAuth");
		}
	}
	config_free(&cfg);
}
END_TEST

/* ---- receive side: MAIL FROM a domain on domain_secure.receive ---- */

static const struct {
	const char		*sender;
	bool			 tls_done, present;
	enum tls_chain_status	 chain;
	struct fake_cert	 cert;
	bool			 pass;
	const char		*reason, *reply;
} recvs[] = {
	{ "example.org", false, false, TLS_CHAIN_OK, C_CONTOSO, true, "ok: sender domain not on", "" },
	{ "contoso.com", true, true, TLS_CHAIN_OK, C_CONTOSO, true,
	  "ok: domain-secure sender contoso.com (name contoso.com, trust chain)", "" },
	{ "CONTOSO.com.", true, true, TLS_CHAIN_OK, C_CONTOSO, true, "ok: domain-secure sender contoso.com", "" },
	{ "contoso.com", false, false, TLS_CHAIN_OK, C_CONTOSO, false, "no-tls:",
	  "451 4.7.1 Mail from contoso.com must arrive domain-secured: no TLS (use STARTTLS)" },
	{ "contoso.com", true, false, TLS_CHAIN_NO_CERT, C_CONTOSO, false, "no-client-cert:",
	  "451 4.7.1 Mail from contoso.com must arrive domain-secured: no client certificate" },
	{ "contoso.com", true, true, TLS_CHAIN_UNKNOWN_ISSUER, C_CONTOSO, false,
	  "chain: unknown issuer; no pin matched",
	  "451 4.7.1 Mail from contoso.com must arrive domain-secured: client certificate not trusted (chain or pin)" },
	/* the partner's pin (from its send route) stands in for the chain */
	{ "contoso.com", true, true, TLS_CHAIN_UNKNOWN_ISSUER, C_PARTNER_PIN, true,
	  "ok: domain-secure sender contoso.com (name contoso.com, trust pin partner)", "" },
	{ "contoso.com", true, true, TLS_CHAIN_OK, C_FABRIKAM, false,
	  "san-mismatch: wanted contoso.com (match exact), saw mx.fabrikam.com,fabrikam.com",
	  "451 4.7.1 Mail from contoso.com must arrive domain-secured: client certificate does not name the domain" },
	/* fabrikam.com's only route is "*": the hub pin does not vouch for a partner */
	{ "fabrikam.com", true, true, TLS_CHAIN_UNKNOWN_ISSUER,
	  { { "fabrikam.com" }, NULL, PIN_HUB, NULL }, false, "chain: unknown issuer",
	  "451 4.7.1 Mail from fabrikam.com must arrive domain-secured: client certificate not trusted (chain)" },
	{ "fabrikam.com", true, true, TLS_CHAIN_OK, C_FABRIKAM, true, "ok:", "" },
	{ "fabrikam.com", true, true, TLS_CHAIN_OK, C_CONTOSO, false, "san-mismatch:",
	  "451 4.7.1 Mail from fabrikam.com must arrive domain-secured: client certificate does not name the domain" },
};

START_TEST(test_receive)
{
	struct dsmtp_config cfg;
	struct tls_peer_facts p;
	struct policy_verdict v;
	char *sb[6];

	load(edge_yaml, &cfg);
	memset(&p, 0, sizeof(p));
	p.present = recvs[_i].present;
	p.chain = recvs[_i].chain;
	mkfacts(&recvs[_i].cert, &p.leaf, sb);
	ck_assert(policy_receive_requires(&cfg, recvs[_i].sender) ==
	    (strcmp(recvs[_i].sender, "example.org") != 0));
	policy_judge_receive_sender(&cfg, recvs[_i].sender, recvs[_i].tls_done,
	    recvs[_i].present ? &p : NULL, &v);
	ck_assert_msg(v.pass == recvs[_i].pass, "case %d: %s", _i, v.reason);
	ck_assert_msg(strncmp(v.reason, recvs[_i].reason, strlen(recvs[_i].reason)) == 0,
	    "case %d: \"%s\"", _i, v.reason);
	ck_assert_msg(strcmp(v.reply, recvs[_i].reply) == 0, "case %d: reply \"%s\"", _i, v.reply);
	if (!v.pass)
		ck_assert(v.defer && strncmp(v.reply, "451 4.7.1 ", 10) == 0);
	config_free(&cfg);
}
END_TEST

/* ---- relay authorisation ---- */

static const struct {
	const char	*addr;
	const char	*rcpt_domain;
	bool		 cert;
	const char	*spki;
	enum policy_relay want;
	const char	*why;
} relays[] = {
	{ "192.0.2.7", "example.com", false, NULL, POLICY_RELAY_ACCEPTED_DOMAIN,
	  "accepted-domain: example.com is ours" },
	{ "192.0.2.7", "EXAMPLE.com.", false, NULL, POLICY_RELAY_ACCEPTED_DOMAIN, "accepted-domain:" },
	{ "192.0.2.7", "example.org", false, NULL, POLICY_RELAY_ACCEPTED_DOMAIN, "accepted-domain:" },
	{ "192.0.2.7", "sub.example.com", false, NULL, POLICY_RELAY_DENIED,
	  "denied: sub.example.com is not ours, and the client is in no relay network and sent no client certificate" },
	{ "192.0.2.7", "example.com.evil.test", false, NULL, POLICY_RELAY_DENIED, "denied:" },
	{ "192.0.2.7", "evil.test", false, NULL, POLICY_RELAY_DENIED, "denied:" },
	{ "127.0.0.1", "evil.test", false, NULL, POLICY_RELAY_NETWORK, "relay-network: client in 127.0.0.0/8" },
	{ "127.255.1.2", "evil.test", false, NULL, POLICY_RELAY_NETWORK, "relay-network:" },
	{ "10.1.200.3", "evil.test", false, NULL, POLICY_RELAY_NETWORK, "relay-network: client in 10.1.0.0/16" },
	{ "10.2.0.1", "evil.test", false, NULL, POLICY_RELAY_DENIED, "denied:" },
	{ "::1", "evil.test", false, NULL, POLICY_RELAY_NETWORK, "relay-network: client in ::1/128" },
	{ "::2", "evil.test", false, NULL, POLICY_RELAY_DENIED, "denied:" },
	{ "2001:db8:1::5", "evil.test", false, NULL, POLICY_RELAY_NETWORK, "relay-network:" },
	{ "::ffff:127.0.0.1", "evil.test", false, NULL, POLICY_RELAY_NETWORK, "relay-network: client in 127.0.0.0/8" },
	{ "::ffff:192.0.2.1", "evil.test", false, NULL, POLICY_RELAY_DENIED, "denied:" },
	{ "192.0.2.7", "evil.test", true, PIN_HUB, POLICY_RELAY_PIN,
	  "relay-pin: client certificate matches pin hub" },
	{ "192.0.2.7", "evil.test", true, PIN_OTHER, POLICY_RELAY_DENIED,
	  "denied: evil.test is not ours, and the client is in no relay network and its certificate matches no relay pin" },
	{ "192.0.2.7", NULL, false, NULL, POLICY_RELAY_DENIED, "denied:" },
	{ "192.0.2.7", "example.net", false, NULL, POLICY_RELAY_DENIED, "denied:" },
};

START_TEST(test_relay)
{
	struct dsmtp_config cfg;
	struct sockaddr_storage ss;
	struct tls_peer_facts p;
	struct fake_cert c = { { "client.example" }, NULL, relays[_i].spki, NULL };
	char *sb[6], why[256];
	enum policy_relay got;

	load(edge_yaml, &cfg);
	memset(&ss, 0, sizeof(ss));
	if (strchr(relays[_i].addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, relays[_i].addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, relays[_i].addr, &s4->sin_addr), 1);
	}
	memset(&p, 0, sizeof(p));
	p.present = relays[_i].cert;
	mkfacts(&c, &p.leaf, sb);
	got = policy_relay_check(&cfg, (struct sockaddr *)&ss, relays[_i].cert ? &p : NULL,
	    relays[_i].rcpt_domain, why, sizeof(why));
	ck_assert_msg(got == relays[_i].want, "case %d: %s (%s)", _i, policy_relay_name(got), why);
	ck_assert_msg(strncmp(why, relays[_i].why, strlen(relays[_i].why)) == 0,
	    "case %d: \"%s\"", _i, why);
	config_free(&cfg);
}
END_TEST

START_TEST(test_relay_default_and_null)
{
	struct dsmtp_config cfg;
	struct sockaddr_in s4 = { 0 };
	char why[256];

	/* the defaults relay for loopback only and accept no domain */
	load("", &cfg);
	s4.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr), 1);
	ck_assert_int_eq(policy_relay_check(&cfg, (struct sockaddr *)&s4, NULL, "example.com", why,
	    sizeof(why)), POLICY_RELAY_DENIED);
	ck_assert_int_eq(policy_relay_check(&cfg, NULL, NULL, "example.com", why, sizeof(why)),
	    POLICY_RELAY_DENIED);
	ck_assert_int_eq(policy_relay_check(NULL, NULL, NULL, "example.com", NULL, 0),
	    POLICY_RELAY_DENIED);
	ck_assert_str_eq(policy_relay_name(POLICY_RELAY_PIN), "relay-pin");
	config_free(&cfg);
}
END_TEST

/* ---- routes and the effective policy ---- */

static const struct {
	const char	*route, *domain;
	bool		 match;
} rmatch[] = {
	{ "*", "anything.example", true },
	{ "contoso.com", "contoso.com", true },
	{ "contoso.com", "mx.contoso.com", false },
	{ "*.example.net", "a.example.net", true },
	{ "*.example.net", "a.b.example.net", true },
	{ "*.example.net", "example.net", false },
	{ "*.example.net", "aexample.net", false },
	{ "*.example.net", "example.net.evil", false },
};

START_TEST(test_route_match)
{
	ck_assert_msg(policy_route_matches(rmatch[_i].route, rmatch[_i].domain) == rmatch[_i].match,
	    "case %d", _i);
}
END_TEST

static const struct {
	int			 cfg;	/* 0 edge, 1 plain */
	const char		*domain;
	int			 route;	/* -1 none */
	enum addr_hop_kind	 hop;
	const char		*host;
	unsigned		 port;
	enum dsmtp_level	 level, configured;
	enum policy_level_source source;
	bool			 send_secure, receive_secure;
	size_t			 npins;
} effs[] = {
	/* verify on the route, raised by domain_secure.send */
	{ 0, "contoso.com", 0, HOP_HOSTPORT, "mx.contoso.com", 25, LEVEL_DOMAIN_SECURE, LEVEL_VERIFY,
	  POLICY_LEVEL_FORCED, true, true, 1 },
	{ 0, "Contoso.COM.", 0, HOP_HOSTPORT, "mx.contoso.com", 25, LEVEL_DOMAIN_SECURE, LEVEL_VERIFY,
	  POLICY_LEVEL_FORCED, true, true, 1 },
	/* *.corp.example: subdomains only, MX of the recipient domain */
	{ 0, "eu.corp.example", 1, HOP_MX, "eu.corp.example", 25, LEVEL_MANDATORY, LEVEL_MANDATORY,
	  POLICY_LEVEL_ROUTE, false, false, 0 },
	{ 0, "a.b.corp.example", 1, HOP_MX, "a.b.corp.example", 25, LEVEL_MANDATORY,
	  LEVEL_MANDATORY, POLICY_LEVEL_ROUTE, false, false, 0 },
	{ 0, "corp.example", 5, HOP_HOSTPORT, "hub.example.com", 2525, LEVEL_PINNED, LEVEL_PINNED,
	  POLICY_LEVEL_ROUTE, false, false, 1 },
	/* pinned stays pinned even when domain_secure.send lists the domain */
	{ 0, "pinned.example", 2, HOP_MX, "pinned.example", 25, LEVEL_PINNED, LEVEL_PINNED,
	  POLICY_LEVEL_ROUTE, true, false, 1 },
	/* a route without tls: takes send.tls */
	{ 0, "maildir.example", 3, HOP_MAILDIR, "", 0, LEVEL_OPPORTUNISTIC, LEVEL_OPPORTUNISTIC,
	  POLICY_LEVEL_DEFAULT, false, false, 0 },
	{ 0, "hop.example", 4, HOP_MX, "relay.hop.example", 25, LEVEL_OPPORTUNISTIC,
	  LEVEL_OPPORTUNISTIC, POLICY_LEVEL_DEFAULT, false, false, 0 },
	{ 0, "fabrikam.com", 5, HOP_HOSTPORT, "hub.example.com", 2525, LEVEL_PINNED, LEVEL_PINNED,
	  POLICY_LEVEL_ROUTE, false, true, 1 },
	/* no route: send.tls and MX of the domain */
	{ 1, "example.org", -1, HOP_MX, "example.org", 25, LEVEL_VERIFY, LEVEL_VERIFY,
	  POLICY_LEVEL_DEFAULT, false, false, 0 },
	{ 1, "pinned.example", 0, HOP_MX, "pinned.example", 25, LEVEL_PINNED, LEVEL_PINNED,
	  POLICY_LEVEL_ROUTE, false, false, 1 },
	/* tls: none on the route is raised, never lowered below the list */
	{ 1, "forced.example", 1, HOP_MX, "forced.example", 25, LEVEL_DOMAIN_SECURE, LEVEL_NONE,
	  POLICY_LEVEL_FORCED, true, false, 0 },
	{ 1, "x.sub.example", 2, HOP_HOSTPORT, "gw.sub.example", 587, LEVEL_VERIFY, LEVEL_VERIFY,
	  POLICY_LEVEL_DEFAULT, false, false, 0 },
	{ 1, "sub.example", -1, HOP_MX, "sub.example", 25, LEVEL_VERIFY, LEVEL_VERIFY,
	  POLICY_LEVEL_DEFAULT, false, false, 0 },
};

START_TEST(test_effective)
{
	struct dsmtp_config cfg;
	struct policy_effective e;
	struct policy_dest d;
	struct dsmtp_err err;

	load(effs[_i].cfg ? plain_yaml : edge_yaml, &cfg);
	ck_assert_int_eq(policy_effective(&cfg, effs[_i].domain, &e, &err), 0);
	if (effs[_i].route < 0)
		ck_assert_ptr_null(e.route);
	else {
		ck_assert_ptr_nonnull(e.route);
		ck_assert_uint_eq(e.route_index, (size_t)effs[_i].route);
	}
	ck_assert_int_eq(e.hop.kind, effs[_i].hop);
	if (effs[_i].hop != HOP_MAILDIR) {
		ck_assert_str_eq(e.hop.host, effs[_i].host);
		ck_assert_uint_eq(e.hop.port, effs[_i].port);
	}
	ck_assert_msg(e.level == effs[_i].level, "case %d: level %s", _i, policy_level_name(e.level));
	ck_assert_int_eq(e.configured, effs[_i].configured);
	ck_assert_int_eq(e.source, effs[_i].source);
	ck_assert(e.send_secure == effs[_i].send_secure);
	ck_assert(e.receive_secure == effs[_i].receive_secure);
	ck_assert_uint_eq(e.npins, effs[_i].npins);
	policy_effective_dest(&e, "mx.example", &d);
	ck_assert_int_eq(d.level, e.level);
	ck_assert_str_eq(d.domain, e.domain);
	ck_assert_str_eq(d.hostname, "mx.example");
	ck_assert_uint_eq(d.npins, e.npins);
	config_free(&cfg);
}
END_TEST

START_TEST(test_effective_bad)
{
	struct dsmtp_config cfg;
	struct policy_effective e;
	struct dsmtp_err err;

	load(edge_yaml, &cfg);
	ck_assert_int_eq(policy_effective(&cfg, "not a domain", &e, &err), -1);
	ck_assert_int_eq(policy_effective(&cfg, "", &e, &err), -1);
	ck_assert_int_eq(policy_effective(&cfg, NULL, &e, &err), -1);
	/* a U-label domain routes as its A-label; one with no A-label does not */
	ck_assert_int_eq(policy_effective(&cfg, "b\xc3\xbc" "cher.example", &e, &err), 0);
	ck_assert_str_eq(e.domain, "xn--bcher-kva.example");
	ck_assert_int_eq(policy_effective(&cfg, "\xe2\x98\x83.example", &e, &err), -1);
	ck_assert_str_eq(policy_level_source_name(POLICY_LEVEL_FORCED), "forced by domain_secure.send");
	config_free(&cfg);
}
END_TEST

/* ---- our certificate's coverage ---- */

static const struct {
	const char		*match;
	struct fake_cert	 cert;
	int			 missing;
	const char		*report;
} covs[] = {
	{ "exact", { { "example.com", "example.net", "mx.example.com" }, NULL, NULL, NULL }, 0,
	  "covered: example.com (by example.com)\ncovered: example.net (by example.net)\n" },
	{ "exact", { { "example.com" }, NULL, NULL, NULL }, 1,
	  "covered: example.com (by example.com)\nnot covered: example.net\n"
	  "the certificate's names (match exact): example.com\n" },
	{ "exact", { { "*.example.com", "*.example.net" }, NULL, NULL, NULL }, 2,
	  "not covered: example.com\nnot covered: example.net\n"
	  "the certificate's names (match exact): *.example.com,*.example.net\n" },
	{ "wildcard", { { "*.example.com", "*.example.net" }, NULL, NULL, NULL }, 0,
	  "covered: example.com (by *.example.com)\ncovered: example.net (by *.example.net)\n" },
	{ "wildcard", { { "mx.example.com", "example.net" }, NULL, NULL, NULL }, 1,
	  "not covered: example.com\ncovered: example.net (by example.net)\n"
	  "the certificate's names (match wildcard): mx.example.com,example.net\n" },
	{ "subdomains", { { "mx.example.com", "mx.example.net" }, NULL, NULL, NULL }, 0,
	  "covered: example.com (by mx.example.com)\ncovered: example.net (by mx.example.net)\n" },
	{ "exact", { { NULL }, "example.com", NULL, NULL }, 1,
	  "covered: example.com (by example.com)\nnot covered: example.net\n"
	  "the certificate's names (match exact): CN=example.com\n" },
	{ "exact", { { NULL }, NULL, NULL, NULL }, 2,
	  "not covered: example.com\nnot covered: example.net\n"
	  "the certificate's names (match exact): (none)\n" },
};

START_TEST(test_coverage)
{
	struct dsmtp_config cfg;
	struct tls_cert_facts f;
	char *sb[6], yaml[256], report[1024];

	snprintf(yaml, sizeof(yaml), "domain_secure:\n  receive: [ contoso.com ]\n"
	    "  local: [ example.com, example.net ]\n  match: %s\n", covs[_i].match);
	load(yaml, &cfg);
	mkfacts(&covs[_i].cert, &f, sb);
	ck_assert_int_eq(policy_check_coverage(&cfg, &f, report, sizeof(report)), covs[_i].missing);
	ck_assert_str_eq(report, covs[_i].report);
	config_free(&cfg);
}
END_TEST

START_TEST(test_coverage_defaults)
{
	struct dsmtp_config cfg;
	char report[32];

	/* without domain_secure.local, the accepted domains are the namespaces */
	load("receive:\n  accepted_domains: [ a.example, b.example ]\n", &cfg);
	ck_assert_int_eq(policy_check_coverage(&cfg, NULL, report, sizeof(report)), 2);
	/* a report too small for the text is cut, visibly */
	ck_assert_str_eq(report + strlen(report) - 3, "...");
	ck_assert_int_eq(policy_check_coverage(&cfg, NULL, NULL, 0), 2);
	config_free(&cfg);
}
END_TEST

/* ---- configuration and certificate checks ---- */

struct collected {
	char	text[4096];
	size_t	used;
};

static void
collect(void *arg, enum policy_finding kind, const char *text)
{
	struct collected *c = arg;
	int w = snprintf(c->text + c->used, sizeof(c->text) - c->used, "%s: %s\n",
	    policy_finding_name(kind), text);

	if (w > 0 && (size_t)w < sizeof(c->text) - c->used)
		c->used += (size_t)w;
}

static const struct {
	const char	*yaml;
	unsigned	 errors, warnings;
	const char	*want;	/* a line the report must hold */
} checks[] = {
	{ "", 0, 0, "ok: domain security: not configured\n" },
	{ "receive:\n  relay:\n    networks: [ 0.0.0.0/0 ]\n", 1, 0,
	  "error: receive.relay.networks: 0.0.0.0/0 is every address: an open relay\n" },
	{ "receive:\n  relay:\n    networks: [ \"::/0\", 0.0.0.0/0 ]\n", 2, 0,
	  "error: receive.relay.networks: ::/0 is every address: an open relay\n" },
	{ "receive:\n  relay:\n    networks: [ 0.0.0.0/1 ]\n", 0, 0, "ok: receive.relay: 1 network" },
	{ "trust:\n  pins:\n    x: [ \"" PIN_Q "\" ]\n", 0, 1,
	  "warning: trust.pins.x: defined but used by no route" },
	{ "send:\n  routes:\n    - domain: a.example\n      next_hop: \"[192.0.2.1]:25\"\n"
	  "      tls: verify\n", 1, 0, "but 192.0.2.1 is an IP address\n" },
	{ "send:\n  routes:\n    - domain: a.example\n      next_hop: \"[2001:db8::1]:25\"\n"
	  "      tls: verify\n", 1, 0, "but 2001:db8::1 is an IP address\n" },
	{ "send:\n  client_cert: false\n  routes:\n    - domain: a.example\n"
	  "      tls: domain-secure\n", 1, 1,
	  "error: send.routes[0] (a.example): level domain-secure presents our client certificate, "
	  "but send.client_cert is false\n" },
	{ "send:\n  client_cert: false\n  tls: domain-secure\n", 1, 1,
	  "error: send.tls: domain-secure presents our client certificate" },
	{ "send:\n  routes:\n    - domain: a.example\n      next_hop: discard\n      tls: verify\n",
	  0, 1, "warning: send.routes[0] (a.example): tls: verify has no effect on next hop discard\n" },
	{ "send:\n  routes:\n    - domain: \"*\"\n      tls: domain-secure\n", 0, 2,
	  "warning: send.routes[0] (*): domain-secure for every domain" },
	{ "trust:\n  pins:\n    p: [ \"" PIN_Q "\" ]\nsend:\n  routes:\n    - domain: a.example\n"
	  "      tls: mandatory\n      pins: [ p ]\n", 0, 1,
	  "warning: send.routes[0] (a.example): pins are not consulted at level mandatory\n" },
	/* a listed domain's route is raised, so its pins count */
	{ "domain_secure:\n  send: [ a.example ]\n  local: [ example.com ]\ntrust:\n  pins:\n"
	  "    p: [ \"" PIN_Q "\" ]\nsend:\n  routes:\n    - domain: a.example\n      pins: [ p ]\n",
	  0, 0, "ok: send.routes[0] (a.example): domain-secure (forced by domain_secure.send) via MX" },
	{ "domain_secure:\n  send: [ a.example ]\n  local: [ example.com ]\ntrust:\n  pins:\n"
	  "    p: [ \"" PIN_Q "\" ]\nsend:\n  routes:\n    - domain: a.example\n      tls: pinned\n"
	  "      pins: [ p ]\n", 0, 0, "ok: domain_secure.send: a.example goes to send.routes[0] "
	  "(a.example) at level pinned: the pin, the domain among its names and our client "
	  "certificate are all required" },
	{ "domain_secure:\n  receive: [ a.example ]\n  local: [ example.com ]\nreceive:\n  tls: none\n",
	  1, 0, "error: domain_secure.receive is set, but receive.tls is none" },
	{ "domain_secure:\n  receive: [ a.example ]\n  local: [ example.com ]\nreceive:\n"
	  "  request_client_cert: false\n", 1, 0,
	  "error: domain_secure.receive is set, but receive.request_client_cert is false" },
	{ "domain_secure:\n  send: [ a.example ]\n  local: [ example.com ]\nsend:\n  client_cert: false\n",
	  1, 0, "error: domain_secure.send is set, but send.client_cert is false" },
	{ "domain_secure:\n  send: [ a.example ]\n", 0, 1, "warning: our namespaces: none" },
	{ "domain_secure:\n  send: [ a.example ]\nreceive:\n  accepted_domains: [ example.com ]\n",
	  0, 0, "ok: our namespaces (receive.accepted_domains): example.com; match exact\n" },
	{ "domain_secure:\n  send: [ a.example ]\n  local: [ example.com ]\nsend:\n  routes:\n"
	  "    - domain: a.example\n      next_hop: \"maildir:/tmp/x\"\n", 0, 1,
	  "which is not a TLS next hop" },
};

START_TEST(test_check_config)
{
	struct dsmtp_config cfg;
	struct collected c = { "", 0 };
	struct policy_check r = { collect, &c, 0, 0 };

	load(checks[_i].yaml, &cfg);
	policy_check_config(&r, &cfg);
	ck_assert_msg(r.errors == checks[_i].errors && r.warnings == checks[_i].warnings,
	    "case %d: %u errors, %u warnings:\n%s", _i, r.errors, r.warnings, c.text);
	ck_assert_msg(strstr(c.text, checks[_i].want) != NULL, "case %d: no \"%s\" in\n%s", _i,
	    checks[_i].want, c.text);
	config_free(&cfg);
}
END_TEST

/* pin references the loader never saw (a config built in memory) */
START_TEST(test_check_unknown_pin)
{
	struct dsmtp_config cfg;
	struct collected c = { "", 0 };
	struct policy_check r = { collect, &c, 0, 0 };
	struct cfg_pinref ref = { UNCONST("ghost"), 7, 9 }, *saved;
	size_t nsaved;

	load("", &cfg);
	saved = cfg.receive.relay_pins;
	nsaved = cfg.receive.nrelay_pins;
	cfg.receive.relay_pins = &ref;
	cfg.receive.nrelay_pins = 1;
	policy_check_config(&r, &cfg);
	cfg.receive.relay_pins = saved;
	cfg.receive.nrelay_pins = nsaved;
	ck_assert_uint_eq(r.errors, 1);
	ck_assert_msg(strstr(c.text, "error: receive.relay.pins: unknown pin name \"ghost\" "
	    "(t.yaml:7:9; define it under trust.pins)\n") != NULL, "%s", c.text);
	config_free(&cfg);
}
END_TEST

#define NOW	((time_t)1800000000)	/* 2027-01-15 */
#define DAY	((time_t)86400)

static const struct {
	const char	*yaml;
	time_t		 not_before, not_after;
	struct fake_cert cert;
	unsigned	 errors, warnings;
	const char	*want;
} certs[] = {
	{ "", NOW - DAY, NOW + 365 * DAY, { { "mx.example.com" }, NULL, NULL, NULL }, 0, 0,
	  "note: certificate: CN=; names mx.example.com; expires 2028-01-15T08:00:00Z\n" },
	{ "", NOW - DAY, NOW + 10 * DAY, { { "mx.example.com" }, NULL, NULL, NULL }, 0, 1,
	  "warning: certificate: expires in 10 days (2027-01-25T08:00:00Z)\n" },
	{ "", NOW - 9 * DAY, NOW - DAY, { { "mx.example.com" }, NULL, NULL, NULL }, 0, 1,
	  "warning: certificate: expired on 2027-01-14T08:00:00Z\n" },
	{ "domain_secure:\n  receive: [ a.example ]\n  local: [ example.com ]\n", NOW - 9 * DAY,
	  NOW - DAY, { { "example.com" }, NULL, NULL, NULL }, 1, 0,
	  "error: certificate: expired on 2027-01-14T08:00:00Z\n" },
	{ "domain_secure:\n  receive: [ a.example ]\n  local: [ example.com ]\n", NOW + DAY,
	  NOW + 90 * DAY, { { "example.com" }, NULL, NULL, NULL }, 1, 0,
	  "error: certificate: not valid before 2027-01-16T08:00:00Z\n" },
	{ "domain_secure:\n  receive: [ a.example ]\n  local: [ example.com, example.net ]\n",
	  NOW - DAY, NOW + 90 * DAY, { { "example.com" }, NULL, NULL, NULL }, 1, 0,
	  "ok: coverage: covered: example.com (by example.com)\n"
	  "error: coverage: not covered: example.net\n"
	  "note: coverage: the certificate's names (match exact): example.com\n" },
	/* no domain security: coverage is not judged */
	{ "receive:\n  accepted_domains: [ example.net ]\n", NOW - DAY, NOW + 90 * DAY,
	  { { "example.com" }, NULL, NULL, NULL }, 0, 0, "note: certificate:" },
};

START_TEST(test_check_certificate)
{
	struct dsmtp_config cfg;
	struct collected c = { "", 0 };
	struct policy_check r = { collect, &c, 0, 0 };
	struct tls_cert_facts f;
	char *sb[6];

	load(certs[_i].yaml, &cfg);
	mkfacts(&certs[_i].cert, &f, sb);
	f.subject[0] = '\0';
	snprintf(f.subject, sizeof(f.subject), "CN=");
	f.not_before = certs[_i].not_before;
	f.not_after = certs[_i].not_after;
	policy_check_certificate(&r, &cfg, &f, NOW);
	ck_assert_msg(r.errors == certs[_i].errors && r.warnings == certs[_i].warnings,
	    "case %d: %u errors, %u warnings:\n%s", _i, r.errors, r.warnings, c.text);
	ck_assert_msg(strstr(c.text, certs[_i].want) != NULL, "case %d: no \"%s\" in\n%s", _i,
	    certs[_i].want, c.text);
	if (strstr(certs[_i].yaml, "domain_secure") == NULL)
		ck_assert(strstr(c.text, "coverage") == NULL);
	config_free(&cfg);
}
END_TEST

START_TEST(test_hop_format)
{
	struct addr_hop h;
	struct dsmtp_err err;
	char out[1200];

	ck_assert_int_eq(addr_parse_hop("[mx.example.com]:2525", &h, &err), 0);
	policy_hop_format(&h, out, sizeof(out));
	ck_assert_str_eq(out, "[mx.example.com]:2525 (no MX lookup)");
	ck_assert_int_eq(addr_parse_hop("example.com", &h, &err), 0);
	policy_hop_format(&h, out, sizeof(out));
	ck_assert_str_eq(out, "MX of example.com (port 25)");
	ck_assert_int_eq(addr_parse_hop("maildir:/var/mail/x", &h, &err), 0);
	policy_hop_format(&h, out, sizeof(out));
	ck_assert_str_eq(out, "maildir:/var/mail/x (local delivery)");
	ck_assert_int_eq(addr_parse_hop("discard", &h, &err), 0);
	policy_hop_format(&h, out, sizeof(out));
	ck_assert_str_eq(out, "discard");
	ck_assert_str_eq(policy_finding_name(POLICY_NOTE), "note");
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");

	tcase_add_loop_test(tc, test_name, 0, (int)NELEM(names));
	tcase_add_test(tc, test_name_null);
	tcase_add_test(tc, test_name_crosscheck);
	tcase_add_loop_test(tc, test_covers, 0, (int)NELEM(covers));
	tcase_add_loop_test(tc, test_cn_fallback, 0, (int)NELEM(cnfall));
	tcase_add_test(tc, test_names_format_cut);
	tcase_add_loop_test(tc, test_pins, 0, (int)NELEM(pins));
	tcase_add_test(tc, test_pin_literal);
	tcase_add_test(tc, test_levels);
	tcase_add_loop_test(tc, test_starttls, 0, (int)NELEM(starttls));
	tcase_add_loop_test(tc, test_send, 0, (int)NELEM(sends));
	tcase_add_test(tc, test_send_null_facts);
	tcase_add_test(tc, test_send_match_modes);
	tcase_add_test(tc, test_every_level);
	tcase_add_test(tc, test_key_purpose);
	tcase_add_loop_test(tc, test_receive, 0, (int)NELEM(recvs));
	tcase_add_loop_test(tc, test_relay, 0, (int)NELEM(relays));
	tcase_add_test(tc, test_relay_default_and_null);
	tcase_add_loop_test(tc, test_route_match, 0, (int)NELEM(rmatch));
	tcase_add_loop_test(tc, test_effective, 0, (int)NELEM(effs));
	tcase_add_test(tc, test_effective_bad);
	tcase_add_loop_test(tc, test_coverage, 0, (int)NELEM(covs));
	tcase_add_test(tc, test_coverage_defaults);
	tcase_add_loop_test(tc, test_check_config, 0, (int)NELEM(checks));
	tcase_add_test(tc, test_check_unknown_pin);
	tcase_add_loop_test(tc, test_check_certificate, 0, (int)NELEM(certs));
	tcase_add_test(tc, test_hop_format);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(policy_suite());
}
