#include "common.h"
#include "form.h"

#include <stdlib.h>

static void add_encoded(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			buf_addch(out, (char)*p);
		} else {
			buf_addch(out, '%');
			buf_addch(out, hex[*p >> 4]);
			buf_addch(out, hex[*p & 15]);
		}
	}
}

void form_add(struct buf *out, const char *key, const char *value)
{
	if (out->len)
		buf_addch(out, '&');
	add_encoded(out, key);
	buf_addch(out, '=');
	add_encoded(out, value ? value : "");
}

static char *decode(const char *s, size_t n, int plus_is_space)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+' && plus_is_space) {
			*o++ = ' ';
		} else if (s[i] == '%') {
			int hi, lo;
			if (i + 2 >= n) {
				free(out);
				return NULL;
			}
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

char *form_decode(const char *s, size_t n)
{
	return decode(s, n, 1);
}

char *form_pct_decode(const char *s, size_t n)
{
	return decode(s, n, 0);
}

char *form_get(const char *body, size_t len, const char *key, int *bad)
{
	size_t klen = strlen(key);
	const char *p = body, *end = body + len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *fend = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(fend - p));
		const char *kend = eq ? eq : fend;

		if ((size_t)(kend - p) == klen && !memcmp(p, key, klen)) {
			char *v = eq ? form_decode(eq + 1, (size_t)(fend - eq - 1)) : xstrdup("");
			if (!v && bad)
				*bad = 1;
			return v;
		}
		p = fend + 1;
	}
	return NULL;
}
