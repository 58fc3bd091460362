/*
 * jdoc.h - a read-only JSON document for the hot path of /slack/events.
 *
 * jansson spends most of an event's parsing time lexing byte by byte and
 * allocating one object per value; this module parses a body in one pass into
 * a flat array of nodes and one string arena (two allocations, reused while
 * the caller keeps the struct jdoc).
 *
 * jdoc_parse() is a fast path, not a second dialect: it accepts only input
 * that jansson (flags 0) accepts too, with the same decoded strings, and says
 * "not handled" for everything else - anything invalid, a top level that is
 * not an object, \u0000, numbers that jansson could reject as too big (more
 * than 15 digits or an exponent), nesting deeper than JDOC_MAX_DEPTH. The
 * caller then parses with jansson (for its error message) and, when jansson
 * accepts, converts with jdoc_from_jansson(); so the decisions made over a
 * jdoc are the same whichever parser ran.
 *
 * Nodes are addressed by index; -1 means none. Object members carry their key;
 * a key given twice resolves to its last value, as in jansson. Not
 * thread-safe per struct jdoc; separate documents are independent.
 */
#ifndef HAINK_JDOC_H
#define HAINK_JDOC_H

#include <stddef.h>

#include <jansson.h>

#define JDOC_MAX_DEPTH 64

enum jdoc_type {
	JDOC_NULL = 0,
	JDOC_TRUE,
	JDOC_FALSE,
	JDOC_NUMBER,
	JDOC_STRING,
	JDOC_ARRAY,
	JDOC_OBJECT
};

struct jdoc_node {
	enum jdoc_type type;
	int first;  /* ARRAY / OBJECT: first element or member */
	int next;   /* next sibling in the parent */
	size_t key; /* offset in the arena of a member's key */
	size_t str; /* STRING: offset in the arena of its NUL-terminated value */
};

struct jdoc {
	struct jdoc_node *nodes;
	size_t n, cap;
	char *arena;
	size_t alen, acap;
};

#define JDOC_INIT                                                                                  \
	{                                                                                          \
		NULL, 0, 0, NULL, 0, 0                                                             \
	}

/* Frees the document's memory and leaves it empty (reusable). */
void jdoc_release(struct jdoc *d);

/*
 * Parses s[0..len) into d (replacing what it held). Returns 0 with the root
 * object as node 0, or -1 when the fast path does not handle this input (d is
 * then empty: parse with jansson instead).
 */
int jdoc_parse(struct jdoc *d, const char *s, size_t len);

/* Replaces d's content with a copy of jansson's root (any type; node 0). */
void jdoc_from_jansson(struct jdoc *d, const json_t *root);

/* Returns the type of node i (JDOC_NULL for -1). */
enum jdoc_type jdoc_type(const struct jdoc *d, int i);
/* Returns the value node of key in object node obj, or -1 (also when obj is no object). */
int jdoc_get(const struct jdoc *d, int obj, const char *key);
/* Returns element idx of array node arr, or -1. */
int jdoc_at(const struct jdoc *d, int arr, size_t idx);
/* Returns the string of node i (borrowed, valid until d changes), or NULL when it is no string. */
const char *jdoc_str(const struct jdoc *d, int i);
/* jdoc_str(d, jdoc_get(d, obj, key)) */
const char *jdoc_get_str(const struct jdoc *d, int obj, const char *key);

#endif
