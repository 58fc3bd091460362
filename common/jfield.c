/*
 * jfield.c - reading fields of jansson objects. See jfield.h.
 */
#include "common.h"
#include "jfield.h"

const char *jfield_str(const json_t *obj, const char *key, const char *def)
{
	const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : def;
}

double jfield_num(const json_t *obj, const char *key, double def)
{
	const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_number(v) ? json_number_value(v) : def;
}
