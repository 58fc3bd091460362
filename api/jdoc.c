#include "common.h"
#include "jdoc.h"

#include <stdlib.h>

struct jparser {
	struct jdoc *d;
	const unsigned char *p, *end;
	int depth;
};

void jdoc_release(struct jdoc *d)
{
	free(d->nodes);
	free(d->arena);
	memset(d, 0, sizeof(*d));
}

static int add_node(struct jdoc *d, enum jdoc_type type)
{
	struct jdoc_node *nd;

	if (d->n == d->cap)
		xgrow((void **)&d->nodes, &d->cap, d->n + 1, sizeof(*d->nodes));
	nd = &d->nodes[d->n];
	nd->type = type;
	nd->first = -1;
	nd->next = -1;
	nd->key = 0;
	nd->str = 0;
	return (int)d->n++;
}

/* Links child after *last among parent's children (first when *last < 0). */
static void append_child(struct jdoc *d, int parent, int *last, int child)
{
	if (*last < 0)
		d->nodes[parent].first = child;
	else
		d->nodes[*last].next = child;
	*last = child;
}

static void skip_ws(struct jparser *jp)
{
	while (jp->p < jp->end &&
	       (*jp->p == ' ' || *jp->p == '\n' || *jp->p == '\r' || *jp->p == '\t'))
		jp->p++;
}

static int hex4(const unsigned char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hex_value(s[i]);
		if (h < 0)
			return -1;
		v = v * 16 + (unsigned)h;
	}
	*out = v;
	return 0;
}

/*
 * Parses a string at jp->p (its opening quote) into the arena; returns its offset or -1.
 *
 * Long on purpose: one pass over the bytes with a case per escape
 * (\uXXXX with surrogate pairs included), the hot path of every Slack body.
 */
static long parse_string(struct jparser *jp)
{
	struct jdoc *d = jp->d;
	size_t off = d->alen;
	char *o = d->arena + off;
	const unsigned char *p = jp->p + 1, *end = jp->end;

	while (p < end) {
		unsigned c = *p;
		if (c == '"') {
			*o++ = '\0';
			d->alen = (size_t)(o - d->arena);
			jp->p = p + 1;
			return (long)off;
		}
		if (c < 0x20)
			return -1;
		if (c < 0x80 && c != '\\') {
			*o++ = (char)c;
			p++;
			continue;
		}
		if (c >= 0x80) {
			uint32_t ignored;
			/* strict, as jansson: no overlongs, no surrogates, nothing above U+10FFFF
			 */
			size_t n = utf8_decode((const char *)p, (size_t)(end - p), &ignored);
			if (!n)
				return -1;
			memcpy(o, p, n);
			o += n;
			p += n;
			continue;
		}
		/* an escape */
		if (end - p < 2)
			return -1;
		switch (p[1]) {
		case '"':
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			break;
		case '/':
			*o++ = '/';
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u': {
			unsigned cp, lo;
			if (end - p < 6 || hex4(p + 2, &cp) < 0 || cp == 0)
				return -1;
			if (cp >= 0xDC00 && cp <= 0xDFFF)
				return -1;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
				    hex4(p + 8, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			}
			o += utf8_encode(cp, o);
			p += 6;
			continue;
		}
		default:
			return -1;
		}
		p += 2;
	}
	return -1;
}

/* Checks a number's syntax; the value is never needed, only that jansson takes it. */
static int parse_number(struct jparser *jp)
{
	const unsigned char *p = jp->p, *end = jp->end;
	int digits = 0;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0') {
		p++;
		digits++;
	} else if (p < end && *p >= '1' && *p <= '9') {
		while (p < end && *p >= '0' && *p <= '9') {
			p++;
			digits++;
		}
	} else {
		return -1;
	}
	if (p < end && *p == '.') {
		p++;
		if (p == end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9') {
			p++;
			digits++;
		}
	}
	/* exponents and long numbers may overflow in jansson: let it decide */
	if ((p < end && (*p == 'e' || *p == 'E')) || digits > 15)
		return -1;
	jp->p = p;
	return 0;
}

static int parse_value(struct jparser *jp);

static int parse_container(struct jparser *jp, int object)
{
	struct jdoc *d = jp->d;
	int self = add_node(d, object ? JDOC_OBJECT : JDOC_ARRAY), last = -1;
	unsigned char close = object ? '}' : ']';

	if (++jp->depth > JDOC_MAX_DEPTH)
		return -1;
	jp->p++;
	skip_ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		jp->depth--;
		return self;
	}
	for (;;) {
		long key = 0;
		int child;
		if (object) {
			if (jp->p >= jp->end || *jp->p != '"' || (key = parse_string(jp)) < 0)
				return -1;
			skip_ws(jp);
			if (jp->p >= jp->end || *jp->p != ':')
				return -1;
			jp->p++;
			skip_ws(jp);
		}
		child = parse_value(jp);
		if (child < 0)
			return -1;
		d->nodes[child].key = (size_t)key;
		append_child(d, self, &last, child);
		skip_ws(jp);
		if (jp->p >= jp->end)
			return -1;
		if (*jp->p == ',') {
			jp->p++;
			skip_ws(jp);
			continue;
		}
		if (*jp->p != close)
			return -1;
		jp->p++;
		jp->depth--;
		return self;
	}
}

static int literal(struct jparser *jp, const char *word, enum jdoc_type type)
{
	size_t n = strlen(word);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n))
		return -1;
	jp->p += n;
	return add_node(jp->d, type);
}

static int parse_value(struct jparser *jp)
{
	int i;
	long s;

	if (jp->p >= jp->end)
		return -1;
	switch (*jp->p) {
	case '{':
		return parse_container(jp, 1);
	case '[':
		return parse_container(jp, 0);
	case '"':
		i = add_node(jp->d, JDOC_STRING);
		s = parse_string(jp);
		if (s < 0)
			return -1;
		jp->d->nodes[i].str = (size_t)s;
		return i;
	case 't':
		return literal(jp, "true", JDOC_TRUE);
	case 'f':
		return literal(jp, "false", JDOC_FALSE);
	case 'n':
		return literal(jp, "null", JDOC_NULL);
	default:
		if (parse_number(jp) < 0)
			return -1;
		return add_node(jp->d, JDOC_NUMBER);
	}
}

int jdoc_parse(struct jdoc *d, const char *s, size_t len)
{
	struct jparser jp = {d, (const unsigned char *)s, (const unsigned char *)s + len, 0};

	d->n = 0;
	d->alen = 0;
	/* a decoded string and its NUL never outgrow its quoted source */
	if (d->acap < len + 1) {
		free(d->arena);
		d->acap = len + 1;
		d->arena = xmalloc(d->acap);
	}
	skip_ws(&jp);
	if (jp.p >= jp.end || *jp.p != '{' || parse_container(&jp, 1) != 0)
		goto nope;
	skip_ws(&jp);
	if (jp.p != jp.end)
		goto nope;
	return 0;
nope:
	d->n = 0;
	d->alen = 0;
	return -1;
}

static size_t arena_add(struct jdoc *d, const char *s, size_t n)
{
	size_t off = d->alen;

	if (d->alen + n + 1 > d->acap)
		xgrow((void **)&d->arena, &d->acap, d->alen + n + 1, 1);
	memcpy(d->arena + off, s, n);
	d->arena[off + n] = '\0';
	d->alen += n + 1;
	return off;
}

static int copy_value(struct jdoc *d, const json_t *v)
{
	int self, last = -1, child;

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *m;
		self = add_node(d, JDOC_OBJECT);
		json_object_foreach((json_t *)v, k, m)
		{
			size_t koff = arena_add(d, k, strlen(k));
			child = copy_value(d, m);
			d->nodes[child].key = koff;
			append_child(d, self, &last, child);
		}
		return self;
	}
	case JSON_ARRAY:
		self = add_node(d, JDOC_ARRAY);
		for (size_t i = 0; i < json_array_size(v); i++) {
			child = copy_value(d, json_array_get(v, i));
			append_child(d, self, &last, child);
		}
		return self;
	case JSON_STRING:
		self = add_node(d, JDOC_STRING);
		d->nodes[self].str = arena_add(d, json_string_value(v), json_string_length(v));
		return self;
	case JSON_INTEGER:
	case JSON_REAL:
		return add_node(d, JDOC_NUMBER);
	case JSON_TRUE:
		return add_node(d, JDOC_TRUE);
	case JSON_FALSE:
		return add_node(d, JDOC_FALSE);
	default:
		return add_node(d, JDOC_NULL);
	}
}

void jdoc_from_jansson(struct jdoc *d, const json_t *root)
{
	d->n = 0;
	d->alen = 0;
	copy_value(d, root);
}

enum jdoc_type jdoc_type(const struct jdoc *d, int i)
{
	return i >= 0 && (size_t)i < d->n ? d->nodes[i].type : JDOC_NULL;
}

int jdoc_get(const struct jdoc *d, int obj, const char *key)
{
	int found = -1;

	if (jdoc_type(d, obj) != JDOC_OBJECT)
		return -1;
	for (int c = d->nodes[obj].first; c >= 0; c = d->nodes[c].next)
		if (!strcmp(d->arena + d->nodes[c].key, key))
			found = c; /* the last one wins, as in jansson */
	return found;
}

int jdoc_at(const struct jdoc *d, int arr, size_t idx)
{
	if (jdoc_type(d, arr) != JDOC_ARRAY)
		return -1;
	for (int c = d->nodes[arr].first; c >= 0; c = d->nodes[c].next)
		if (idx-- == 0)
			return c;
	return -1;
}

const char *jdoc_str(const struct jdoc *d, int i)
{
	return jdoc_type(d, i) == JDOC_STRING ? d->arena + d->nodes[i].str : NULL;
}

const char *jdoc_get_str(const struct jdoc *d, int obj, const char *key)
{
	return jdoc_str(d, jdoc_get(d, obj, key));
}
