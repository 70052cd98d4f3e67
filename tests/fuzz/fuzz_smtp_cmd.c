/* fuzz_smtp_cmd.c: libFuzzer target for dsmtpd's command-line parser
 * (smtpd/cmd.c): smtp_cmd_verb, smtp_cmd_path (FROM and TO),
 * smtp_cmd_mail_params and smtp_cmd_rcpt_params. The input is one command
 * line as session.c hands it over: cut at the first LF or NUL (the session
 * refuses NUL), one trailing CR dropped. Checks the parsers' promises: the
 * verb, the lengths of RFC 5321 4.5.3.1, a domain that is a name, a literal
 * or UTF-8 text but never carries controls or path delimiters, consistent
 * null/postmaster/trick/utf8 flags, a parsed path that parses again to
 * itself, MAIL parameters as RFC 1870/6152/6531 define them, and replies
 * that are one printable line with a reply code and an enhanced code. */
#include "autoconfig.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtpd/cmd.h"
#include "tests/fuzz/fuzz.h"

/* a reply as dsmtpd sends it: "NNN X.Y.Z text", one printable line */
static void
check_reply(const char *reply, size_t cap)
{
	size_t n = strnlen(reply, cap);

	FUZZ_CHECK(n < cap, "reply not terminated");
	FUZZ_CHECK(n >= 10 && isdigit((unsigned char)reply[0]) && isdigit((unsigned char)reply[1]) &&
	    isdigit((unsigned char)reply[2]) && reply[3] == ' ' && reply[4] == reply[0] &&
	    reply[5] == '.', "reply \"%s\" has no code and enhanced code", reply);
	for (size_t i = 0; i < n && fuzz_checking("cmd-reply-raw"); i++)
		FUZZ_CHECK((unsigned char)reply[i] >= 0x20 && reply[i] != 0x7f,
		    "reply holds control byte 0x%02x at %zu: peer text reflected raw",
		    (unsigned char)reply[i], i);
}

static bool
has_high(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* a DNS name as addr_domain_normalise leaves it: lower-case LDH labels */
static bool
is_ldh_lower(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
		    s[i] == '-' || s[i] == '.' || s[i] == '_'))
			return false;
	return true;
}

static void
check_domain(const struct smtp_path *p)
{
	const char *d = p->domain;

	for (size_t i = 0; d[i] && fuzz_checking("cmd-utf8-domain"); i++) {
		unsigned char c = (unsigned char)d[i];

		FUZZ_CHECK(c >= 0x20 && c != 0x7f, "domain \"%s\" holds control byte 0x%02x", d, c);
		FUZZ_CHECK(strchr(" <>@", c) == NULL,
		    "domain \"%s\" holds '%c', a path delimiter", d, c);
	}
	if (p->domain_literal)
		FUZZ_CHECK(d[0] == '[' && d[strlen(d) - 1] == ']', "literal \"%s\" not in brackets", d);
	else if (!has_high(d))
		FUZZ_CHECK(is_ldh_lower(d), "domain \"%s\" is not a lower-case LDH name", d);
}

/* the promises of one successful smtp_cmd_path */
static void
check_path(const char *args, const struct smtp_path *p, const char *params)
{
	size_t al = strlen(args);

	FUZZ_CHECK(params >= args && params <= args + al, "params outside the arguments");
	FUZZ_CHECK(*params != ' ', "params start with a space");
	FUZZ_CHECK(strnlen(p->local, sizeof(p->local)) < sizeof(p->local), "local not terminated");
	FUZZ_CHECK(strnlen(p->domain, sizeof(p->domain)) < sizeof(p->domain), "domain not terminated");
	FUZZ_CHECK(strnlen(p->addr, sizeof(p->addr)) < sizeof(p->addr), "addr not terminated");
	/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its brackets */
	FUZZ_CHECK(strlen(p->addr) + 2 <= SMTP_PATH_MAX, "addr of %zu octets", strlen(p->addr));
	FUZZ_CHECK(strlen(p->domain) <= SMTP_DOMAIN_MAX, "domain of %zu octets", strlen(p->domain));
	FUZZ_CHECK(!(p->null && p->postmaster), "both null and postmaster");
	if (p->null) {
		FUZZ_CHECK(p->local[0] == '\0' && p->domain[0] == '\0' && p->addr[0] == '\0',
		    "null path with an address \"%s\"", p->addr);
		FUZZ_CHECK(!p->domain_literal && !p->utf8 && !p->trick && !p->had_route,
		    "null path with flags");
		return;
	}
	if (p->postmaster) {
		FUZZ_CHECK(strcmp(p->addr, "postmaster") == 0 && strcmp(p->local, "postmaster") == 0 &&
		    p->domain[0] == '\0', "postmaster path is \"%s\"", p->addr);
		FUZZ_CHECK(!p->domain_literal && !p->utf8 && !p->trick, "postmaster with flags");
		return;
	}
	/* RFC 5321 4.5.3.1.1: 64 octets, plus the quotes of a quoted string */
	FUZZ_CHECK(p->local[0] != '\0' && strlen(p->local) <= SMTP_LOCAL_MAX + 2,
	    "local part of %zu octets", strlen(p->local));
	FUZZ_CHECK(p->domain[0] != '\0', "mailbox without a domain");
	{
		char want[sizeof(p->local) + sizeof(p->domain) + 1];

		/* the address keeps a U-label domain as given (RFC 6531);
		 * domain is then its A-label form, what policy judges */
		snprintf(want, sizeof(want), "%s@%s", p->local, p->udomain[0] ? p->udomain : p->domain);
		FUZZ_CHECK(strcmp(want, p->addr) == 0, "addr \"%s\" is not local@domain \"%s\"",
		    p->addr, want);
		FUZZ_CHECK(p->udomain[0] == '\0' || (!has_high(p->domain) && is_ldh_lower(p->domain)),
		    "U-label \"%s\" whose domain \"%s\" is not an A-label name", p->udomain,
		    p->domain);
	}
	check_domain(p);
	FUZZ_CHECK(p->trick == (strpbrk(p->local, "%!@") != NULL),
	    "trick %d for local part \"%s\"", p->trick, p->local);
	FUZZ_CHECK(p->utf8 == (has_high(p->local) || has_high(p->domain) || has_high(p->udomain)),
	    "utf8 %d for \"%s\"", p->utf8, p->addr);
	/* the postmaster flag means <postmaster> with no domain, nothing else */
	FUZZ_CHECK(strcasecmp(p->local, "postmaster") != 0 || p->domain[0] != '\0',
	    "postmaster without the flag");
}

/* what was parsed, written out again, must parse to itself */
static void
check_reparse(const char *want, const struct smtp_path *p)
{
	char line[SMTP_PATH_MAX + 16], reply[256];
	const char *params;
	struct smtp_path q;

	snprintf(line, sizeof(line), "%s:<%s>", want, p->addr);
	if (smtp_cmd_path(line, want, &q, &params, reply, sizeof(reply)) < 0)
		FUZZ_CHECK(0, "\"%s\" parsed, but \"%s\" does not: %s", p->addr, line, reply);
	FUZZ_CHECK(strcmp(q.addr, p->addr) == 0, "\"%s\" parses again as \"%s\"", p->addr, q.addr);
	FUZZ_CHECK(q.null == p->null && q.postmaster == p->postmaster &&
	    q.domain_literal == p->domain_literal && q.utf8 == p->utf8 && q.trick == p->trick &&
	    !q.had_route && *params == '\0', "\"%s\" parses again with other flags", p->addr);
}

/* RFC 1870, 6152, 6531, 8689: SIZE=digits, BODY=7BIT|8BITMIME, SMTPUTF8,
 * REQUIRETLS (once, no value); each parameter "keyword[=value]", the
 * keyword never empty. true if valid. */
static bool
model_mail_params(const char *s, struct smtp_mail_params *mp)
{
	memset(mp, 0, sizeof(*mp));
	while (*s) {
		const char *end = strchr(s, ' '), *eq;
		size_t n;

		if (end == NULL)
			end = s + strlen(s);
		n = (size_t)(end - s);
		if (n > 0) {
			eq = memchr(s, '=', n);
			if (eq == s)
				return false;	/* "=value": no keyword */
			if (eq && (size_t)(eq - s) == 4 && strncasecmp(s, "SIZE", 4) == 0) {
				size_t vl = n - 5;
				uint64_t v = 0;

				if (vl == 0 || vl > 19)
					return false;
				for (size_t i = 5; i < n; i++) {
					if (!isdigit((unsigned char)s[i]))
						return false;
					v = v * 10 + (uint64_t)(s[i] - '0');
				}
				mp->size = v;
				mp->has_size = true;
			} else if (eq && (size_t)(eq - s) == 4 && strncasecmp(s, "BODY", 4) == 0) {
				if (n - 5 == 8 && strncasecmp(eq + 1, "8BITMIME", 8) == 0)
					mp->body_8bit = true;
				else if (!(n - 5 == 4 && strncasecmp(eq + 1, "7BIT", 4) == 0))
					return false;
			} else if (!eq && n == 8 && strncasecmp(s, "SMTPUTF8", 8) == 0)
				mp->smtputf8 = true;
			else if (!eq && n == 10 && strncasecmp(s, "REQUIRETLS", 10) == 0 &&
			    !mp->requiretls)
				mp->requiretls = true;
			else
				return false;
		}
		s = *end ? end + 1 : end;
	}
	return true;
}

static void
check_mail_params(const char *params)
{
	struct smtp_mail_params mp, want;
	char reply[256];
	bool ok;
	int rc;

	memset(reply, 0, sizeof(reply));
	rc = smtp_cmd_mail_params(params, &mp, reply, sizeof(reply));
	ok = model_mail_params(params, &want);
	if (rc < 0)
		check_reply(reply, sizeof(reply));
	FUZZ_CHECK((rc == 0) == ok || !fuzz_checking("cmd-param-syntax"), "MAIL parameters \"%s\": parser %s, RFC 1870/6152/6531/8689 %s",
	    params, rc == 0 ? "accepts" : "refuses", ok ? "valid" : "invalid");
	if (rc == 0 && ok) {
		FUZZ_CHECK(mp.has_size == want.has_size && mp.size == want.size &&
		    mp.body_8bit == want.body_8bit && mp.smtputf8 == want.smtputf8 &&
		    mp.requiretls == want.requiretls,
		    "MAIL parameters \"%s\" parsed to other values", params);
	}
}

static void
check_one_path(const char *args, const char *want)
{
	struct smtp_path p;
	const char *params = NULL;
	char reply[256];

	memset(reply, 0, sizeof(reply));
	if (smtp_cmd_path(args, want, &p, &params, reply, sizeof(reply)) < 0) {
		check_reply(reply, sizeof(reply));
		return;
	}
	check_path(args, &p, params);
	check_reparse(want, &p);
	if (strcmp(want, "FROM") == 0)
		check_mail_params(params);
	else {
		memset(reply, 0, sizeof(reply));
		if (smtp_cmd_rcpt_params(params, reply, sizeof(reply)) < 0) {
			FUZZ_CHECK(*params != '\0', "empty RCPT parameters refused");
			check_reply(reply, sizeof(reply));
		} else
			FUZZ_CHECK(*params == '\0', "RCPT parameter \"%s\" accepted", params);
	}
}

static void
check_verb(const char *line)
{
	char verb[16];
	const char *args = NULL;
	size_t n = smtp_cmd_verb(line, verb, sizeof(verb), &args);

	if (n == 0)
		return;		/* no verb; what is left in verb is not promised */
	FUZZ_CHECK(n < sizeof(verb) && strlen(verb) == n, "verb length %zu, \"%s\"", n, verb);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(isupper((unsigned char)verb[i]) &&
		    toupper((unsigned char)line[i]) == verb[i], "verb \"%s\" from \"%s\"", verb, line);
	FUZZ_CHECK(line[n] == '\0' || line[n] == ' ', "verb ends in 0x%02x", (unsigned char)line[n]);
	FUZZ_CHECK(args >= line + n && args <= line + strlen(line) && *args != ' ',
	    "args not after the verb");
	for (const char *q = line + n; q < args; q++)
		FUZZ_CHECK(*q == ' ', "args skip a non-space");
	check_one_path(args, strcmp(verb, "RCPT") == 0 ? "TO" : "FROM");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;
	char *line;

	/* session.c: the line ends at LF; a NUL is refused before parsing */
	while (n < size && data[n] != '\n' && data[n] != '\0')
		n++;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	if ((line = malloc(n + 1)) == NULL)
		abort();
	memcpy(line, data, n);
	line[n] = '\0';
	check_verb(line);
	/* the path parsers on their own, whatever the verb */
	check_one_path(line, "FROM");
	check_one_path(line, "TO");
	free(line);
	return 0;
}
