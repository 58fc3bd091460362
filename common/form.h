/*
 * form.h - percent-encoding: application/x-www-form-urlencoded bodies (the
 * API's slash commands and interactive payloads) and URL parts (credentials
 * in REDIS_URL). Thread-safe (pure functions).
 */
#ifndef HAINK_FORM_H
#define HAINK_FORM_H

#include <stddef.h>

struct buf;

/*
 * Returns the decoded value of the first field named key in body[0..len)
 * as an owned string (free with free()); NULL when absent. *bad is set to 1
 * when the body is not valid form encoding (bad %-escape), else left alone.
 */
char *form_get(const char *body, size_t len, const char *key, int *bad);

/* Percent-decodes s[0..n) with '+' as space. Returns owned, or NULL on a bad escape. */
char *form_decode(const char *s, size_t n);
/* Percent-decodes s[0..n), '+' kept (URL userinfo). Returns owned, or NULL on a bad escape. */
char *form_pct_decode(const char *s, size_t n);

/*
 * Appends "key=value" to a form body in out ('&' first when out is not
 * empty), both percent-encoded: unreserved characters (A-Z a-z 0-9 - . _ ~)
 * as they are, every other byte as %XX.
 */
void form_add(struct buf *out, const char *key, const char *value);

#endif
