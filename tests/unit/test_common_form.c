/*
 * Unit tests of common/form.c: application/x-www-form-urlencoded decoding and encoding.
 */
#include <stdlib.h>

#include "common.h"
#include "form.h"

#include "../harness/test.h"

static void check_get(const char *body, const char *key, const char *want, int want_bad, int line)
{
	int bad = 0;
	char *v = form_get(body, strlen(body), key, &bad);

	if (bad != want_bad || (want ? !v || strcmp(v, want) : v != NULL))
		test_fail(__FILE__, line, "form_get(\"%s\", %s) = %s (bad %d), want %s (bad %d)",
			  body, key, v ? v : "NULL", bad, want ? want : "NULL", want_bad);
	free(v);
}

TEST(form, get)
{
	check_get("a=1&b=2", "a", "1", 0, __LINE__);
	check_get("a=1&b=2", "b", "2", 0, __LINE__);
	check_get("a=1&b=2", "c", NULL, 0, __LINE__);
	check_get("text=hello+world%21&x=1", "text", "hello world!", 0, __LINE__);
	check_get("text=%2f%2F%c3%A9", "text", "//\xc3\xa9", 0, __LINE__);
	check_get("textual=no&text=yes", "text", "yes", 0, __LINE__); /* no prefix match */
	check_get("te=no&text=yes", "text", "yes", 0, __LINE__);
	check_get("text=&other=1", "text", "", 0, __LINE__);
	check_get("flag&text=1", "flag", "", 0, __LINE__);
	check_get("text=a=b", "text", "a=b", 0, __LINE__);
	check_get("text=1&text=2", "text", "1", 0, __LINE__); /* the first wins */
	check_get("&&text=1&", "text", "1", 0, __LINE__);
	check_get("", "text", NULL, 0, __LINE__);
	check_get("text=%zz", "text", NULL, 1, __LINE__);
	check_get("text=abc%4", "text", NULL, 1, __LINE__);
	check_get("text=abc%", "text", NULL, 1, __LINE__);
	/* a bad escape in another field does not matter */
	check_get("junk=%zz&text=ok", "text", "ok", 0, __LINE__);
}

TEST(form, get_respects_length)
{
	static const char body[] = "a=1&b=234";
	int bad = 0;
	char *v = form_get(body, 7, "b", &bad); /* "a=1&b=2" */

	CHECK_STR_EQ(v, "2");
	free(v);
	v = form_get(body, 3, "b", &bad);
	CHECK(v == NULL);
}

TEST(form, decode)
{
	char *s = form_decode("a+b%20c%00d", 11);

	CHECK(s != NULL);
	CHECK_INT_EQ(memcmp(s, "a b c\0d", 8), 0);
	free(s);
	CHECK(form_decode("%", 1) == NULL);
	CHECK(form_decode("%g0", 3) == NULL);
	s = form_decode("", 0);
	CHECK_STR_EQ(s, "");
	free(s);
}

TEST(form, add_encodes_and_round_trips)
{
	struct buf b = BUF_INIT;
	const char *odd = "a b&c=d/é%+~._-";
	int bad = 0;
	char *v;

	form_add(&b, "channel", "C123");
	CHECK_STR_EQ(b.s, "channel=C123");
	form_add(&b, "cursor", odd);
	CHECK_STR_EQ(b.s, "channel=C123&cursor=a%20b%26c%3Dd%2F%C3%A9%25%2B~._-");
	form_add(&b, "empty", NULL);
	CHECK_STR_EQ(b.s + b.len - 6, "empty=");
	v = form_get(b.s, b.len, "cursor", &bad);
	CHECK_STR_EQ(v, odd);
	CHECK_INT_EQ(bad, 0);
	free(v);
	buf_release(&b);
}
