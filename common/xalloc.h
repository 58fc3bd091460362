/*
 * xalloc.h - allocation that never returns NULL.
 *
 * Every function aborts the process with a message on out-of-memory, so callers
 * never test the result. Thread-safe (thin wrappers over malloc).
 */
#ifndef HAINK_XALLOC_H
#define HAINK_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Returns an owned copy of s (NULL gives NULL); free with free(). */
char *xstrdup(const char *s);
/* Returns an owned copy of at most the first n bytes of s (stopping at a NUL), NUL-terminated; free
 * with free(). */
char *xstrndup(const char *s, size_t n);
/* Returns an owned copy of exactly n bytes of p (which may hold NULs) plus a NUL; free with free().
 */
char *xmemdup(const void *p, size_t n);
/* Returns an owned printf-formatted string; free with free(). */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Grows an array *p of *cap elements of size sz to hold at least need
 * elements (doubling). Aborts, like out-of-memory, when need * sz or the
 * doubled capacity would overflow size_t.
 */
void xgrow(void **p, size_t *cap, size_t need, size_t sz);

/*
 * Size arithmetic for anything that sizes an allocation: a + b and a * b,
 * aborting with a message on overflow (git's st_add / st_mult). A size that
 * overflows cannot be allocated anyway; it must never wrap into a small one.
 */
size_t st_add(size_t a, size_t b);
size_t st_mult(size_t a, size_t b);

#endif
