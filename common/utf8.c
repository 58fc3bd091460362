#include "common.h"
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t utf8_decode(const char *str, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t k;
	uint32_t v;

	if (!n)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] < 0xe0) {
		k = 2;
		v = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] < 0xf0) {
		k = 3;
		v = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] < 0xf5) {
		k = 4;
		v = s[0] & 0x07;
	} else {
		return 0; /* continuation byte, 0xc0/0xc1 (overlong), 0xf5+ */
	}
	if (n < k)
		return 0;
	for (size_t j = 1; j < k; j++) {
		if ((s[j] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[j] & 0x3f);
	}
	if ((k == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
	    (k == 4 && (v < 0x10000 || v > 0x10ffff)))
		return 0;
	*cp = v;
	return k;
}

size_t utf8_encode(uint32_t cp, char o[4])
{
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

int utf8_valid(const char *s, size_t n)
{
	size_t i = 0;
	uint32_t cp;

	while (i < n) {
		size_t k;
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_decode(s + i, n - i, &cp);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

size_t utf8_floor(const char *s, size_t len, size_t max)
{
	size_t n = max, steps = 0;

	if (len <= max)
		return len;
	/* s[n] is the first byte left out: back up while it continues a character */
	while (n > 0 && steps < 3 && utf8_continues((unsigned char)s[n])) {
		n--;
		steps++;
	}
	if (utf8_continues((unsigned char)s[n]))
		return max; /* not UTF-8 here: a plain byte cut */
	return n;
}

char *utf8_cut(const char *s, size_t max)
{
	return xstrndup(s, utf8_floor(s, strlen(s), max));
}

void utf8_sanitize(struct buf *out, const char *s, size_t n)
{
	size_t i = 0, run = 0;
	uint32_t cp;

	while (i < n) {
		size_t k = (unsigned char)s[i] < 0x80 ? 1 : utf8_decode(s + i, n - i, &cp);
		if (k) {
			i += k;
			run += k;
			continue;
		}
		buf_add(out, s + i - run, run);
		buf_add(out, UTF8_REPLACEMENT, 3);
		run = 0;
		i++;
	}
	buf_add(out, s + i - run, run);
}
