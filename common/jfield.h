/*
 * jfield.h - reading fields of jansson objects, the one copy: a missing
 * field, a field of another type and a NULL object all give the caller's
 * default, so each call says what "absent" means to it.
 * Pure functions; thread-safe.
 */
#ifndef HAINK_JFIELD_H
#define HAINK_JFIELD_H

#include <jansson.h>

/*
 * Returns the string field key of obj (borrowed, valid while obj holds it),
 * or def when obj is not an object, or the field is missing or not a string.
 */
const char *jfield_str(const json_t *obj, const char *key, const char *def);

/* Returns the number field key of obj (integer or real), or def as jfield_str(). */
double jfield_num(const json_t *obj, const char *key, double def);

#endif
