/* check_addr.c: unit tests of international domain names end to end in
 * the pure layers: common/addr.c (U-label to A-label, mailboxes, the
 * messages for a bad character), smtpd/cmd.c (MAIL/RCPT paths under
 * SMTPUTF8: judged as A-labels, spooled as given, 553 5.1.3 when a name
 * does not convert), policy/match.c and route.c (routes, lists and
 * certificate names in either form), common/config.c (lists written as
 * U-labels). */
#include "autoconfig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/config.h"
#include "policy/policy.h"
#include "smtpd/cmd.h"
#include "tests/unit/unit.h"

/* "bücher.example" and friends, spelled in bytes so the file is ASCII */
#define BUCHER		"b\xc3\xbc" "cher.example"
#define BUCHER_UP	"B\xc3\x9c" "CHER.EXAMPLE"
#define BUCHER_A	"xn--bcher-kva.example"
#define SNOWMAN		"\xe2\x98\x83.example"	/* U+2603: not IDNA2008 */

static const struct {
	const char	*in;
	const char	*out;	/* NULL: refused */
	bool		 wild;
} names[] = {
	{ BUCHER, BUCHER_A, false },
	{ BUCHER_UP, BUCHER_A, false },
	{ BUCHER ".", BUCHER_A, false },
	{ BUCHER_A, BUCHER_A, false },
	{ "XN--BCHER-KVA.Example", BUCHER_A, false },
	{ "*." BUCHER, "*." BUCHER_A, true },
	{ "mail.\xe4\xbe\x8b\xe5\xad\x90.test", "mail.xn--fsqu00a.test", false },
	{ SNOWMAN, NULL, false },
	{ "-b\xc3\xbc" "cher.example", NULL, false },
	{ "b\xc3\xbc" "cher..example", NULL, false },
	{ "example.com", "example.com", false },
	{ "bad domain.example", NULL, false },
};

START_TEST(test_normalise)
{
	char out[256];
	struct dsmtp_err err = { "" };
	int rc = addr_domain_normalise(names[_i].in, out, sizeof(out), names[_i].wild, &err);

	if (names[_i].out == NULL) {
		ck_assert_int_eq(rc, -1);
		ck_assert_ptr_nonnull(strstr(err.msg, names[_i].in));
		ck_assert_ptr_null(strchr(err.msg, '?'));
	} else {
		ck_assert_msg(rc == 0, "%s: %s", names[_i].in, err.msg);
		ck_assert_str_eq(out, names[_i].out);
	}
}
END_TEST

/* the character a message names is the one written, never '?' */
START_TEST(test_char_shown)
{
	char out[64];
	struct dsmtp_err err = { "" };

	diag_char_shown("\xc3\xbc" "x", out, sizeof(out));
	ck_assert_str_eq(out, "\xc3\xbc");
	diag_char_shown("\x01", out, sizeof(out));
	ck_assert_str_eq(out, "\\x01");
	diag_char_shown("\xff", out, sizeof(out));
	ck_assert_str_eq(out, "\\xff");
	diag_char_shown("\xc3", out, sizeof(out));	/* cut sequence */
	ck_assert_str_eq(out, "\\xc3");
	ck_assert_int_eq(addr_domain_normalise("a b.example", out, sizeof(out), false, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "character ' '"));
	ck_assert_int_eq(addr_domain_normalise(SNOWMAN, out, sizeof(out), false, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "\"" SNOWMAN "\": not a valid international "
	    "domain name"));
	ck_assert_ptr_null(strchr(err.msg, '?'));
}
END_TEST

START_TEST(test_mailbox)
{
	char out[300];

	ck_assert_int_eq(addr_mailbox_to_ascii("x@" BUCHER, out, sizeof(out), NULL), 0);
	ck_assert_str_eq(out, "x@" BUCHER_A);
	ck_assert_int_eq(addr_mailbox_to_ascii("x@example.com", out, sizeof(out), NULL), 0);
	ck_assert_str_eq(out, "x@example.com");
	ck_assert_int_eq(addr_mailbox_to_ascii("postmaster", out, sizeof(out), NULL), 0);
	ck_assert_str_eq(out, "postmaster");
	ck_assert_int_eq(addr_mailbox_to_ascii("x@" SNOWMAN, out, sizeof(out), NULL), -1);
}
END_TEST

/* RCPT/MAIL paths: the domain policy judges is the A-label, the address
 * spooled keeps the U-label; a name without an A-label is 553 5.1.3 */
START_TEST(test_cmd_path)
{
	struct smtp_path p;
	const char *params;
	char reply[256];

	ck_assert_int_eq(smtp_cmd_path("TO:<x@" BUCHER ">", "TO", &p, &params, reply,
	    sizeof(reply)), 0);
	ck_assert(p.utf8);
	ck_assert_str_eq(p.domain, BUCHER_A);
	ck_assert_str_eq(p.addr, "x@" BUCHER);
	ck_assert_int_eq(smtp_cmd_path("TO:<x@" BUCHER_UP ">", "TO", &p, &params, reply,
	    sizeof(reply)), 0);
	ck_assert_str_eq(p.domain, BUCHER_A);
	ck_assert_int_eq(smtp_cmd_path("FROM:<a@" BUCHER "> SMTPUTF8", "FROM", &p, &params,
	    reply, sizeof(reply)), 0);
	ck_assert_str_eq(p.domain, BUCHER_A);
	ck_assert_int_eq(smtp_cmd_path("TO:<x@" SNOWMAN ">", "TO", &p, &params, reply,
	    sizeof(reply)), -1);
	ck_assert_msg(strncmp(reply, "553 5.1.3 ", 10) == 0, "%s", reply);
	ck_assert_int_eq(smtp_cmd_path("TO:<x@-b\xc3\xbc" "cher.example>", "TO", &p, &params,
	    reply, sizeof(reply)), -1);
	ck_assert_msg(strncmp(reply, "553 5.1.3 ", 10) == 0, "%s", reply);
	ck_assert_int_eq(smtp_cmd_path("TO:<x@" BUCHER_A ">", "TO", &p, &params, reply,
	    sizeof(reply)), 0);
	ck_assert(!p.utf8);
	ck_assert_str_eq(p.domain, BUCHER_A);
}
END_TEST

/* routes, accepted and domain-secure lists written in either form match
 * a recipient written in either form; certificate names are A-labels */
START_TEST(test_policy_match)
{
	ck_assert(policy_domain_eq(BUCHER, BUCHER_A));
	ck_assert(policy_domain_eq(BUCHER_A, BUCHER_UP));
	ck_assert(!policy_domain_eq(SNOWMAN, SNOWMAN));
	ck_assert(policy_route_matches(BUCHER_A, BUCHER_A));
	ck_assert(policy_name_matches(BUCHER_A, BUCHER));
	ck_assert(policy_name_matches("*." BUCHER_A, "mx." BUCHER));
	/* a dNSName is IA5String: a U-label in a certificate matches nothing */
	ck_assert(!policy_name_matches(BUCHER, BUCHER_A));
	ck_assert(policy_name_covers(DS_MATCH_EXACT, BUCHER_A, BUCHER));
	ck_assert(policy_name_covers(DS_MATCH_SUBDOMAINS, "mx." BUCHER_A, BUCHER));
}
END_TEST

START_TEST(test_config_lists)
{
	static const char yaml[] =
	    "receive:\n"
	    "  accepted_domains: [ \"" BUCHER "\", \"xn--fsqu00a.test\" ]\n"
	    "domain_secure:\n"
	    "  send: [ \"" BUCHER_UP "\" ]\n"
	    "  receive: [ \"\xe4\xbe\x8b\xe5\xad\x90.test\" ]\n"
	    "send:\n"
	    "  routes:\n"
	    "    - domain: \"" BUCHER "\"\n"
	    "      next_hop: \"[mx." BUCHER "]:2525\"\n";
	struct dsmtp_config cfg;
	struct config_errors errs = { 0 };
	struct policy_effective e;
	struct dsmtp_err err = { "" };

	ck_assert_int_eq(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ck_assert_str_eq(cfg.receive.accepted_domains.v[0], BUCHER_A);
	ck_assert_str_eq(cfg.receive.accepted_domains.v[1], "xn--fsqu00a.test");
	ck_assert_str_eq(cfg.domain_secure.send.v[0], BUCHER_A);
	ck_assert_str_eq(cfg.domain_secure.receive.v[0], "xn--fsqu00a.test");
	ck_assert_str_eq(cfg.send.routes[0].domain, BUCHER_A);
	ck_assert_str_eq(cfg.send.routes[0].hop.host, "mx." BUCHER_A);
	/* a spooled U-label recipient finds its route and domain-secure entry */
	ck_assert_int_eq(policy_effective(&cfg, BUCHER, &e, &err), 0);
	ck_assert_str_eq(e.domain, BUCHER_A);
	ck_assert_str_eq(e.hop.host, "mx." BUCHER_A);
	ck_assert(e.send_secure);
	config_free(&cfg);
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("idn");

	tcase_add_loop_test(tc, test_normalise, 0, (int)(sizeof(names) / sizeof(names[0])));
	tcase_add_test(tc, test_char_shown);
	tcase_add_test(tc, test_mailbox);
	tcase_add_test(tc, test_cmd_path);
	tcase_add_test(tc, test_policy_match);
	tcase_add_test(tc, test_config_lists);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(addr_suite());
}
