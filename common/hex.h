/*
 * hex.h - lowercase hexadecimal, the one copy every module uses (digests in
 * key names and script SHAs, signatures, random ids, JSON \u escapes).
 * Pure functions; thread-safe.
 */
#ifndef HAINK_HEX_H
#define HAINK_HEX_H

#include <stddef.h>

/* The lowercase hex digit of v & 15. */
char hex_digit(unsigned v);

/* The value of hex digit c (either case), or -1 when c is not one. */
int hex_value(int c);

/*
 * Writes the 2n lowercase hex digits of in[0..n) to out, then a NUL: out
 * must hold 2n + 1 bytes. Returns out.
 */
char *hex_encode(char *out, const void *in, size_t n);

#endif
