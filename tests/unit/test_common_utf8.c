/* common/utf8.c: decoding, encoding, validation, cuts on a character, sanitizing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#include "../harness/test.h"

TEST(utf8, decode_accepts_each_length_and_rejects_ill_formed)
{
	uint32_t cp = 0;

	CHECK_INT_EQ(utf8_decode("A", 1, &cp), 1);
	CHECK_INT_EQ(cp, 'A');
	CHECK_INT_EQ(utf8_decode("\xc3\xa9", 2, &cp), 2);
	CHECK_INT_EQ(cp, 0xe9);
	CHECK_INT_EQ(utf8_decode("\xe2\x82\xac", 3, &cp), 3);
	CHECK_INT_EQ(cp, 0x20ac);
	CHECK_INT_EQ(utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4);
	CHECK_INT_EQ(cp, 0x1f600);
	CHECK_INT_EQ(utf8_decode("\x80", 1, &cp), 0);		  /* stray continuation */
	CHECK_INT_EQ(utf8_decode("\xc0\xaf", 2, &cp), 0);	  /* overlong '/' */
	CHECK_INT_EQ(utf8_decode("\xe0\x80\xaf", 3, &cp), 0);	  /* overlong */
	CHECK_INT_EQ(utf8_decode("\xed\xa0\x80", 3, &cp), 0);	  /* surrogate */
	CHECK_INT_EQ(utf8_decode("\xf4\x90\x80\x80", 4, &cp), 0); /* above U+10FFFF */
	CHECK_INT_EQ(utf8_decode("\xe2\x82", 2, &cp), 0);	  /* truncated */
	CHECK_INT_EQ(utf8_decode("\xc3\x41", 2, &cp), 0);	  /* bad continuation */
	CHECK_INT_EQ(utf8_decode("", 0, &cp), 0);
}

TEST(utf8, encode_round_trips_and_replaces_the_impossible)
{
	static const uint32_t cps[] = {0x24, 0xa2, 0x939, 0x20ac, 0xd55c, 0x10348, 0x10ffff};
	char o[4];
	uint32_t back;

	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		size_t n = utf8_encode(cps[i], o);
		CHECK_INT_EQ(utf8_decode(o, n, &back), n);
		CHECK_INT_EQ(back, cps[i]);
	}
	CHECK_INT_EQ(utf8_encode(0xd800, o), 3);
	CHECK(!memcmp(o, UTF8_REPLACEMENT, 3));
	CHECK_INT_EQ(utf8_encode(0x110000, o), 3);
	CHECK(!memcmp(o, UTF8_REPLACEMENT, 3));
}

TEST(utf8, valid_checks_whole_strings)
{
	CHECK(utf8_valid("", 0));
	CHECK(utf8_valid("plain ascii", 11));
	CHECK(utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
	CHECK(utf8_valid("a\0b", 3));
	CHECK(!utf8_valid("caf\xc3", 4));
	CHECK(!utf8_valid("\xff", 1));
}

TEST(utf8, floor_never_splits_a_character)
{
	const char *s = "ab\xe2\x82\xac"
			"cd"; /* a b € c d: bytes 0 1 [2 3 4] 5 6 */
	size_t len = strlen(s);

	CHECK_INT_EQ(utf8_floor(s, len, 100), len);
	CHECK_INT_EQ(utf8_floor(s, len, 5), 5);
	CHECK_INT_EQ(utf8_floor(s, len, 4), 2);
	CHECK_INT_EQ(utf8_floor(s, len, 3), 2);
	CHECK_INT_EQ(utf8_floor(s, len, 2), 2);
	CHECK_INT_EQ(utf8_floor(s, len, 0), 0);
	/* not UTF-8 at the cut: a byte cut, never below max - 3 */
	CHECK_INT_EQ(utf8_floor("\x80\x80\x80\x80\x80\x80", 6, 5), 5);
}

TEST(utf8, cut_copies_on_a_boundary)
{
	char *c = utf8_cut("\xc3\xa9\xc3\xa9\xc3\xa9", 3);

	CHECK_STR_EQ(c, "\xc3\xa9");
	free(c);
	c = utf8_cut("short", 10);
	CHECK_STR_EQ(c, "short");
	free(c);
}

TEST(utf8, sanitize_replaces_only_what_is_broken)
{
	struct buf b = BUF_INIT;

	utf8_sanitize(&b, "ok \xc3\xa9 \xff end \xe2\x82", 14);
	CHECK_STR_EQ(b.s,
		     "ok \xc3\xa9 " UTF8_REPLACEMENT " end " UTF8_REPLACEMENT UTF8_REPLACEMENT);
	CHECK(utf8_valid(b.s, b.len));
	buf_release(&b);
}

TEST(utf8, continuation_bytes)
{
	const char *s = "a\xc3\xa9\xe2\x82\xac"; /* a, é (2 bytes), € (3 bytes) */
	int starts = 0;

	for (const char *p = s; *p; p++)
		starts += !utf8_continues((unsigned char)*p);
	CHECK_INT_EQ(starts, 3);
	CHECK(utf8_continues(0x80) && utf8_continues(0xbf));
	CHECK(!utf8_continues(0x7f) && !utf8_continues(0xc0) && !utf8_continues(0xff));
}
