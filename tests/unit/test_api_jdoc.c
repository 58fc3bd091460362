/*
 * Unit tests of api/jdoc.c: the fast JSON path must accept only what jansson
 * accepts, decode strings exactly as jansson does, and leave everything else
 * to jansson; lookups follow jansson's rules (last duplicate key wins).
 */
#include "common.h"
#include "jdoc.h"

#include "../harness/test.h"

/*
 * Compares node i of d with jansson's value v, recursively: same types, same
 * strings, same members. Returns 1 when equal.
 */
static int same(const struct jdoc *d, int i, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *m;
		size_t n = 0;
		if (jdoc_type(d, i) != JDOC_OBJECT)
			return 0;
		json_object_foreach((json_t *)v, k, m)
		{
			if (!same(d, jdoc_get(d, i, k), m))
				return 0;
		}
		/* count distinct keys on our side: duplicates resolve to one */
		for (int c = d->nodes[i].first; c >= 0; c = d->nodes[c].next)
			if (jdoc_get(d, i, d->arena + d->nodes[c].key) == c)
				n++;
		return n == json_object_size(v);
	}
	case JSON_ARRAY:
		if (jdoc_type(d, i) != JDOC_ARRAY)
			return 0;
		for (size_t k = 0; k < json_array_size(v); k++)
			if (!same(d, jdoc_at(d, i, k), json_array_get(v, k)))
				return 0;
		return jdoc_at(d, i, json_array_size(v)) < 0;
	case JSON_STRING:
		return jdoc_str(d, i) && !strcmp(jdoc_str(d, i), json_string_value(v));
	case JSON_INTEGER:
	case JSON_REAL:
		return jdoc_type(d, i) == JDOC_NUMBER;
	case JSON_TRUE:
		return jdoc_type(d, i) == JDOC_TRUE;
	case JSON_FALSE:
		return jdoc_type(d, i) == JDOC_FALSE;
	default:
		return jdoc_type(d, i) == JDOC_NULL;
	}
}

/*
 * Runs one input through both parsers. want_fast says whether the fast path
 * should handle it. Whenever it does, jansson must accept it too and agree.
 */
static int check_one(const char *s, size_t len, int want_fast)
{
	struct jdoc d = JDOC_INIT;
	json_error_t jerr;
	json_t *root = json_loadb(s, len, 0, &jerr);
	int fast = jdoc_parse(&d, s, len) == 0, ok = 1;

	if (fast != want_fast) {
		fprintf(stderr, "fast path %s '%.*s'\n", fast ? "took" : "refused", (int)len, s);
		ok = 0;
	}
	if (fast && (!root || !same(&d, 0, root))) {
		fprintf(stderr, "fast path disagrees with jansson on '%.*s'\n", (int)len, s);
		ok = 0;
	}
	if (root) {
		/* the converted jansson document answers the same way */
		jdoc_from_jansson(&d, root);
		if (!same(&d, 0, root)) {
			fprintf(stderr, "conversion differs on '%.*s'\n", (int)len, s);
			ok = 0;
		}
	}
	json_decref(root);
	jdoc_release(&d);
	return ok;
}

#define FAST(s) CHECK(check_one(s, sizeof(s) - 1, 1))
#define SLOW(s) CHECK(check_one(s, sizeof(s) - 1, 0))

TEST(jdoc, accepts_what_jansson_accepts)
{
	FAST("{}");
	FAST(" {\"a\" : 1 , \"b\":[true,false,null,-0,0.5,\"x\"],\"c\":{}} \n");
	FAST("{\"event_id\":\"Ev1\",\"event\":{\"type\":\"app_mention\",\"text\":\"<@U1> hi\"}}");
	FAST("{\"s\":\"tab\\t nl\\n quote\\\" slash\\/ bs\\\\ \\b\\f\\r\"}");
	FAST("{\"u\":\"\\u00e9\\u20AC\\ud83d\\ude00\",\"raw\":"
	     "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}");
	FAST("{\"k\":1,\"k\":\"last\"}");
	FAST("{\"\":\"empty key\",\"a\":[[[]]],\"n\":123456789012345}");
	FAST("{\"neg\":-12.25}");
}

TEST(jdoc, leaves_the_rest_to_jansson)
{
	/* valid for jansson, but not for the fast path */
	SLOW("[1,2]");
	SLOW("{\"e\":1e5}");
	SLOW("{\"big\":1234567890123456789}");
	SLOW("{\"huge\":99999999999999999999999}");
	/* invalid: jansson rejects, and so must the fast path */
	SLOW("");
	SLOW("{");
	SLOW("{\"a\":}");
	SLOW("{\"a\":1,}");
	SLOW("{\"a\" 1}");
	SLOW("{a:1}");
	SLOW("{\"a\":01}");
	SLOW("{\"a\":1.}");
	SLOW("{\"a\":-}");
	SLOW("{\"a\":tru}");
	SLOW("{\"a\":truex}");
	SLOW("{} x");
	SLOW("{}{}");
	SLOW("{\"a\":\"\\u0000\"}");
	SLOW("{\"a\":\"\\ud83d\"}");
	SLOW("{\"a\":\"\\ude00\"}");
	SLOW("{\"a\":\"\\ud83d\\u0041\"}");
	SLOW("{\"a\":\"\\x\"}");
	SLOW("{\"a\":\"\\u12G4\"}");
	SLOW("{\"a\":\"ctl\x01\"}");
	SLOW("{\"a\":\"\xc0\xaf\"}");	      /* overlong */
	SLOW("{\"a\":\"\xed\xa0\x80\"}");     /* an encoded surrogate */
	SLOW("{\"a\":\"\xf4\x90\x80\x80\"}"); /* above U+10FFFF */
	SLOW("{\"a\":\"\xe2\x82\"}");	      /* truncated */
	SLOW("{\"a\":\"unterminated}");
	CHECK(check_one("{\"a\":\"x\0y\"}", 11, 0));
	CHECK(check_one("{}\0", 3, 0));
}

TEST(jdoc, lookups)
{
	struct jdoc d = JDOC_INIT;
	const char *s = "{\"a\":{\"b\":[\"x\",{\"c\":\"y\"}]},\"a\":{\"b\":[\"z\"]},\"n\":null}";
	int a;

	CHECK_INT_EQ(jdoc_parse(&d, s, strlen(s)), 0);
	a = jdoc_get(&d, 0, "a");
	CHECK_STR_EQ(jdoc_str(&d, jdoc_at(&d, jdoc_get(&d, a, "b"), 0)), "z");
	CHECK_INT_EQ(jdoc_at(&d, jdoc_get(&d, a, "b"), 1), -1);
	CHECK_INT_EQ(jdoc_type(&d, jdoc_get(&d, 0, "n")), JDOC_NULL);
	CHECK(jdoc_get(&d, 0, "n") >= 0);
	CHECK_INT_EQ(jdoc_get(&d, 0, "missing"), -1);
	CHECK(jdoc_get_str(&d, 0, "a") == NULL);
	CHECK_INT_EQ(jdoc_get(&d, a, "b") >= 0, 1);
	CHECK_INT_EQ(jdoc_get(&d, jdoc_get(&d, a, "b"), "x"), -1); /* not an object */
	jdoc_release(&d);
}

TEST(jdoc, depth_limit_falls_back)
{
	struct buf b = BUF_INIT;
	struct jdoc d = JDOC_INIT;

	buf_adds(&b, "{\"a\":");
	for (int i = 0; i < JDOC_MAX_DEPTH + 1; i++)
		buf_addch(&b, '[');
	for (int i = 0; i < JDOC_MAX_DEPTH + 1; i++)
		buf_addch(&b, ']');
	buf_addch(&b, '}');
	CHECK_INT_EQ(jdoc_parse(&d, b.s, b.len), -1);
	CHECK(check_one(b.s, b.len, 0));
	buf_release(&b);
	jdoc_release(&d);
}
