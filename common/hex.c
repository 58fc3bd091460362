/*
 * hex.c - lowercase hexadecimal. See hex.h.
 */
#include "common.h"

char hex_digit(unsigned v)
{
	return "0123456789abcdef"[v & 15];
}

int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *hex_encode(char *out, const void *in, size_t n)
{
	const unsigned char *p = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digit(p[i] >> 4);
		out[2 * i + 1] = hex_digit(p[i]);
	}
	out[2 * n] = '\0';
	return out;
}
