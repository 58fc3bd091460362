/*
 * utf8.h - the one UTF-8 toolkit: validate, decode and encode code points,
 * and cut text on a character boundary.
 *
 * Every place that checks, cuts or re-encodes text calls these (tool
 * results, Slack blocks, thread history, logs, excerpts, the offline
 * embedder, HTML entities). A cut that split a multi-byte character once
 * made a tool message invalid JSON and dead-lettered the question.
 *
 * Pure functions over caller memory; thread-safe.
 */
#ifndef HAINK_UTF8_H
#define HAINK_UTF8_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* The replacement character U+FFFD, encoded. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* 1 when byte c continues a UTF-8 character (10xxxxxx), so no character starts there. */
static inline int utf8_continues(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * Decodes one sequence at s (n > 0 bytes available). Returns its length
 * (1-4) with the code point in *cp, or 0 when the bytes are not well-formed
 * UTF-8 (stray continuation byte, overlong form, surrogate, above U+10FFFF,
 * truncated sequence). NUL is a valid one-byte sequence.
 */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);

/*
 * Encodes cp into out (4 bytes of room). Surrogates and values above
 * U+10FFFF become U+FFFD. Returns the number of bytes written (1-4).
 */
size_t utf8_encode(uint32_t cp, char out[4]);

/* Returns 1 when s[0..n) is well-formed UTF-8 (NUL bytes allowed), else 0. */
int utf8_valid(const char *s, size_t n);

/*
 * Returns the largest cut <= max that does not split a character of s
 * (len bytes): len when len <= max. s need not be valid; only continuation
 * bytes are stepped over (at most 3), so the result is never below max - 3.
 */
size_t utf8_floor(const char *s, size_t len, size_t max);

/* Returns an owned copy of s cut to at most max bytes on a character boundary; free(). */
char *utf8_cut(const char *s, size_t max);

/* Appends s[0..n) to out with every ill-formed sequence replaced by U+FFFD. */
void utf8_sanitize(struct buf *out, const char *s, size_t n);

#endif
