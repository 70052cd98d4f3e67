/* json.c: the one JSON string writer of the tree (see json.h): the
 * escaping every --json output shares. UTF-8 well-formedness is utf8.c's. */
#include "autoconfig.h"

#include <string.h>

#include "common/json.h"
#include "common/utf8.h"

void
json_put_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t n;

	putc('"', out);
	while (*p != '\0') {
		if (*p == '"' || *p == '\\') {
			putc('\\', out);
			putc(*p++, out);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(out, "\\u%04x", *p++);
		} else if (*p < 0x80) {
			putc(*p++, out);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0) {
			/* a C1 control: as its code point, never raw */
			fprintf(out, "\\u%04x", p[1]);
			p += 2;
		} else if ((n = utf8_char_len(p, strnlen((const char *)p, 4))) == 0) {
			fprintf(out, "\\u%04x", *p++);
		} else {
			fwrite(p, 1, n, out);
			p += n;
		}
	}
	putc('"', out);
}

void
json_put_strings(FILE *out, char *const *v, size_t n)
{
	putc('[', out);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputs(", ", out);
		json_put_string(out, v[i]);
	}
	putc(']', out);
}
