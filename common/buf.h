/*
 * buf.h - a growable byte string.
 *
 * struct buf is never NULL-backed: after buf_init() b->s points at a valid
 * NUL-terminated string (a shared empty one until the first append), so it can
 * be printed at any time. It may hold binary data (len counts bytes; a NUL
 * may occur inside). Not thread-safe; one owner at a time.
 *
 *   struct buf b;
 *   buf_init(&b);
 *   buf_addf(&b, "%d items", n);
 *   ... use b.s, b.len ...
 *   buf_release(&b);
 */
#ifndef HAINK_BUF_H
#define HAINK_BUF_H

#include <stddef.h>

struct buf {
	char *s;
	size_t len;
	size_t cap; /* 0 while s points at the shared empty string */
};

#define BUF_INIT                                                                                   \
	{                                                                                          \
		buf_empty, 0, 0                                                                    \
	}
extern char buf_empty[];

void buf_init(struct buf *b);
/* Frees the storage and leaves b empty and reusable. */
void buf_release(struct buf *b);
/* Empties b, keeping its storage. */
void buf_reset(struct buf *b);
/* Ensures room for n more bytes plus the NUL. */
void buf_grow(struct buf *b, size_t n);
void buf_add(struct buf *b, const void *data, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included, escaping as RFC 8259 asks. */
void buf_add_json_str(struct buf *b, const char *s, size_t n);
/* Shortens b to n bytes (n <= len). */
void buf_truncate(struct buf *b, size_t n);
/* Returns the owned string and leaves b empty; free with free(). */
char *buf_detach(struct buf *b, size_t *len);

#endif
