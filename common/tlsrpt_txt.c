/* tlsrpt_txt.c: the _smtp._tls TXT record of RFC 8460 section 3:
 *   tlsrpt-record  = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
 *   tlsrpt-version = %s"v=TLSRPTv1"
 *   field-delim    = *WSP ";" *WSP
 *   tlsrpt-field   = tlsrpt-rua / tlsrpt-extension
 *   tlsrpt-rua     = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
 *   tlsrpt-extension = ext-name "=" ext-value
 *   ext-name  = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
 * The URIs are mailto: and https: (others ignored). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/hex.h"
#include "common/tlsrpt_txt.h"

#define WSP(c)	((c) == ' ' || (c) == '\t')

static void
fail(char *why, size_t whylen, const char *msg)
{
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", msg);
}

/* mailto:ADDR (RFC 6068), one address, no headers: %XX decoded into out */
static bool
mailto_addr(const char *u, size_t n, char *out, size_t outlen)
{
	size_t o = 0, at = 0, nat = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)u[i];

		if (c == '%') {
			int h, l;

			if (i + 2 >= n)
				return false;
			if ((h = hex_value(u[i + 1])) < 0 || (l = hex_value(u[i + 2])) < 0)
				return false;
			c = h * 16 + l;
			i += 2;
		} else if (c == '?' || c == ',')
			return false;	/* headers, several addresses */
		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' ||
		    c == '(' || c == ')' || c == ';' || c == ',' || c == '[' || c == ']')
			return false;
		if (c == '@') {
			at = o;
			nat++;
		}
		if (o + 1 >= outlen)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return nat == 1 && at > 0 && at + 1 < o;
}

/* one URI of rua (bytes u[0..n)) */
static void
add_uri(struct tlsrpt_txt *out, const char *u, size_t n)
{
	struct tlsrpt_rua *r;

	if (out->n >= TLSRPT_RUA_MAX || n >= TLSRPT_URI_MAX) {
		out->ignored++;
		return;
	}
	r = &out->rua[out->n];
	memset(r, 0, sizeof(*r));
	memcpy(r->uri, u, n);
	r->uri[n] = '\0';
	if (n > 7 && strncasecmp(u, "mailto:", 7) == 0 &&
	    mailto_addr(u + 7, n - 7, r->addr, sizeof(r->addr))) {
		r->kind = TLSRPT_RUA_MAILTO;
		out->n++;
	} else if (n > 8 && strncasecmp(u, "https://", 8) == 0 && u[8] != '/') {
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)u[i] <= ' ' || (unsigned char)u[i] >= 0x7f) {
				out->ignored++;
				return;
			}
		r->kind = TLSRPT_RUA_HTTPS;
		out->n++;
	} else
		out->ignored++;
}

int
tlsrpt_txt_parse(const char *rec, size_t len, struct tlsrpt_txt *out, char *why,
    size_t whylen)
{
	static const char ver[] = "v=TLSRPTv1";
	size_t i, nfields = 0;
	bool rua = false;

	out->n = 0;
	out->ignored = 0;
	if (len < sizeof(ver) - 1 || memcmp(rec, ver, sizeof(ver) - 1) != 0) {
		fail(why, whylen, "not a v=TLSRPTv1 record");
		return -1;
	}
	i = sizeof(ver) - 1;
	for (;;) {
		size_t start, namelen;

		/* field-delim: *WSP ";" *WSP, or the end */
		while (i < len && WSP(rec[i]))
			i++;
		if (i == len)
			break;
		if (rec[i] != ';') {
			fail(why, whylen, "';' expected between fields");
			return -1;
		}
		i++;
		while (i < len && WSP(rec[i]))
			i++;
		if (i == len)
			break;	/* a trailing delimiter */
		start = i;
		while (i < len && rec[i] != '=' && rec[i] != ';' && !WSP(rec[i]))
			i++;
		namelen = i - start;
		if (i == len || rec[i] != '=' || namelen == 0 || namelen > 32) {
			fail(why, whylen, "field name=value expected");
			return -1;
		}
		for (size_t k = start; k < start + namelen; k++) {
			char c = rec[k];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || (k > start && (c == '_' || c == '-' ||
			    c == '.')))) {
				fail(why, whylen, "bad field name");
				return -1;
			}
		}
		i++;	/* '=' */
		nfields++;
		if (namelen == 3 && memcmp(rec + start, "rua", 3) == 0) {
			if (rua) {
				fail(why, whylen, "rua given twice");
				return -1;
			}
			rua = true;
			for (;;) {
				size_t us = i;

				while (i < len && rec[i] != ',' && rec[i] != ';' && !WSP(rec[i]) &&
				    (unsigned char)rec[i] > ' ' && (unsigned char)rec[i] < 0x7f)
					i++;
				if (i == us || (i < len && (unsigned char)rec[i] <= ' ' &&
				    !WSP(rec[i])) || (i < len && (unsigned char)rec[i] >= 0x7f)) {
					fail(why, whylen, "bad rua URI");
					return -1;
				}
				add_uri(out, rec + us, i - us);
				size_t j = i;

				while (j < len && WSP(rec[j]))
					j++;
				if (j < len && rec[j] == ',') {
					i = j + 1;
					while (i < len && WSP(rec[i]))
						i++;
					continue;
				}
				break;
			}
		} else {
			size_t vs = i;

			while (i < len && (unsigned char)rec[i] >= 0x21 &&
			    (unsigned char)rec[i] <= 0x7e && rec[i] != ';' && rec[i] != '=')
				i++;
			if (i == vs) {
				fail(why, whylen, "empty or bad extension value");
				return -1;
			}
		}
	}
	if (nfields == 0 || !rua) {
		fail(why, whylen, "no rua field");
		return -1;
	}
	if (out->n == 0) {
		fail(why, whylen, "no usable rua URI (mailto: or https:)");
		return -1;
	}
	return 0;
}

int
tlsrpt_txt_select(const unsigned char *const *rdata, const int *rdlen, size_t n,
    struct tlsrpt_txt *out, char *why, size_t whylen)
{
	char rec[4096];
	size_t found = 0, keep = 0;
	char chosen[4096];

	for (size_t k = 0; k < n; k++) {
		size_t i = 0, o = 0, l = rdlen[k] > 0 ? (size_t)rdlen[k] : 0;
		bool ok = true;

		while (i < l) {
			size_t sl = rdata[k][i++];

			if (sl > l - i || o + sl >= sizeof(rec)) {
				ok = false;
				break;
			}
			memcpy(rec + o, rdata[k] + i, sl);
			o += sl;
			i += sl;
		}
		if (!ok)
			continue;
		/* RFC 8460 3: records not beginning "v=TLSRPTv1;" are discarded */
		if (o >= 10 && memcmp(rec, "v=TLSRPTv1", 10) == 0 && (o == 10 ||
		    rec[10] == ';' || WSP(rec[10]))) {
			found++;
			memcpy(chosen, rec, o);
			keep = o;
		}
	}
	if (found != 1) {
		memset(out, 0, sizeof(*out));
		fail(why, whylen, found == 0 ? "no v=TLSRPTv1 record" :
		    "more than one v=TLSRPTv1 record");
		return -1;
	}
	return tlsrpt_txt_parse(chosen, keep, out, why, whylen);
}
