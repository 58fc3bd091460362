/*
 * Unit tests of the small common modules: err, xalloc, buf, clock, hex, jfield, stopwords.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "jfield.h"

#include "../harness/test.h"

TEST(err, set_clear_and_codes)
{
	struct err e;

	err_set(&e, ERR_REDIS, "cannot reach '%s' after %d tries", "h", 3);
	CHECK_INT_EQ(e.code, ERR_REDIS);
	CHECK_STR_EQ(e.msg, "cannot reach 'h' after 3 tries");
	CHECK_INT_EQ(e.retry_after_ms, 0);
	err_clear(&e);
	CHECK_INT_EQ(e.code, ERR_OK);
	CHECK_STR_EQ(e.msg, "");
	err_set(NULL, ERR_IO, "ignored"); /* must not crash */
	err_clear(NULL);
	/* long messages are cut, never overflow */
	{
		char big[600];
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		err_set(&e, ERR_PARSE, "%s", big);
		CHECK_INT_EQ(strlen(e.msg), sizeof(e.msg) - 1);
	}
	CHECK(err_retryable(ERR_IO) && err_retryable(ERR_TIMEOUT) && err_retryable(ERR_REDIS) &&
	      err_retryable(ERR_UPSTREAM) && err_retryable(ERR_RATE_LIMITED));
	CHECK(!err_retryable(ERR_OK) && !err_retryable(ERR_INVALID) && !err_retryable(ERR_AUTH) &&
	      !err_retryable(ERR_NOT_FOUND) && !err_retryable(ERR_PARSE));
	CHECK_STR_EQ(err_code_name(ERR_RATE_LIMITED), "rate_limited");
	CHECK_STR_EQ(err_code_name(ERR_INVALID), "invalid");
	CHECK_STR_EQ(err_code_name((enum err_code)99), "unknown");
}

TEST(xalloc, helpers)
{
	char *s = xasprintf("%s-%05d", "ab", 42);
	char *d = xstrndup("hello", 3);
	int *arr = NULL;
	size_t cap = 0;

	CHECK_STR_EQ(s, "ab-00042");
	CHECK_STR_EQ(d, "hel");
	free(s);
	free(d);
	CHECK(xstrdup(NULL) == NULL);
	xgrow((void **)&arr, &cap, 1, sizeof(*arr));
	CHECK(cap >= 1);
	xgrow((void **)&arr, &cap, 100, sizeof(*arr));
	CHECK(cap >= 100);
	arr[99] = 7; /* writable up to need */
	CHECK_INT_EQ(arr[99], 7);
	free(arr);
}

TEST(buf, empty_and_growth)
{
	struct buf b = BUF_INIT;

	CHECK_STR_EQ(b.s, "");
	CHECK_INT_EQ(b.len, 0);
	for (int i = 0; i < 10000; i++)
		buf_addch(&b, (char)('a' + i % 26));
	CHECK_INT_EQ(b.len, 10000);
	CHECK(b.cap > 10000);
	CHECK_INT_EQ(b.s[10000], '\0');
	CHECK_INT_EQ(b.s[9999], 'a' + 9999 % 26);
	buf_truncate(&b, 3);
	CHECK_STR_EQ(b.s, "abc");
	buf_truncate(&b, 10); /* longer than len: no change */
	CHECK_INT_EQ(b.len, 3);
	buf_reset(&b);
	CHECK_STR_EQ(b.s, "");
	CHECK(b.cap > 0); /* storage kept */
	buf_release(&b);
	CHECK_INT_EQ(b.cap, 0);
	buf_reset(&b); /* on the shared empty string: must not write */
	CHECK_STR_EQ(b.s, "");
}

TEST(buf, addf_and_binary)
{
	struct buf b;
	char big[5000];
	char *s;
	size_t len;

	buf_init(&b);
	buf_addf(&b, "%d-%s", 12, "x");
	CHECK_STR_EQ(b.s, "12-x");
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_addf(&b, "[%s]", big); /* larger than the current capacity */
	CHECK_INT_EQ(b.len, 4 + 2 + sizeof(big) - 1);
	CHECK_INT_EQ(b.s[b.len - 1], ']');
	buf_reset(&b);
	buf_add(&b, "a\0b", 3);
	CHECK_INT_EQ(b.len, 3);
	CHECK_INT_EQ(memcmp(b.s, "a\0b", 4), 0);
	buf_add(&b, NULL, 0);
	CHECK_INT_EQ(b.len, 3);
	s = buf_detach(&b, &len);
	CHECK_INT_EQ(len, 3);
	CHECK_STR_EQ(b.s, "");
	free(s);
	/* detaching an empty buf still gives an owned string */
	s = buf_detach(&b, NULL);
	CHECK_STR_EQ(s, "");
	free(s);
}

static void check_json(const char *in, size_t n, const char *want)
{
	struct buf b = BUF_INIT;

	buf_add_json_str(&b, in, n);
	if (strcmp(b.s, want))
		test_fail(__FILE__, __LINE__, "json(%zu bytes) = %s, want %s", n, b.s, want);
	buf_release(&b);
}

TEST(buf, json_escaping)
{
	check_json("", 0, "\"\"");
	check_json("plain", 5, "\"plain\"");
	check_json("say \"hi\"", 8, "\"say \\\"hi\\\"\"");
	check_json("a\\b", 3, "\"a\\\\b\"");
	check_json("l1\nl2\r\t\b\f", 9, "\"l1\\nl2\\r\\t\\b\\f\"");
	check_json("\x01\x1f", 2, "\"\\u0001\\u001f\"");
	check_json("a\0b", 3, "\"a\\u0000b\"");
	/* UTF-8 and DEL pass through unchanged; '/' needs no escape */
	check_json("caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x99\x82 \x7f /", 18,
		   "\"caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x99\x82 \x7f /\"");
	/* only n bytes */
	check_json("abcdef", 2, "\"ab\"");
}

TEST(clock, formats_and_monotonic)
{
	char d[11], iso[25];
	int64_t a, b;

	clock_utc_date(0, d);
	CHECK_STR_EQ(d, "1970-01-01");
	clock_utc_date(951782400000LL, d); /* leap day */
	CHECK_STR_EQ(d, "2000-02-29");
	clock_utc_iso(1700000000123LL, iso);
	CHECK_STR_EQ(iso, "2023-11-14T22:13:20.123Z");
	clock_utc_iso(1700000000007LL, iso);
	CHECK_STR_EQ(iso, "2023-11-14T22:13:20.007Z");
	a = clock_mono_ns();
	b = clock_mono_ns();
	CHECK(b >= a);
	CHECK(clock_wall_ms() > 1600000000000LL);
}

TEST(base, randid_is_32_lowercase_hex_and_fresh_each_call)
{
	char a[RANDID_HEX_LEN + 1], b[RANDID_HEX_LEN + 1];

	memset(a, 'x', sizeof(a));
	randid_hex(a);
	randid_hex(b);
	CHECK_INT_EQ((long long)strlen(a), RANDID_HEX_LEN);
	CHECK_INT_EQ((long long)strspn(a, "0123456789abcdef"), RANDID_HEX_LEN);
	CHECK(strcmp(a, b) != 0);
}

/* st_add / st_mult: exact below the limit, abort (never wrap) above it */
TEST(xalloc, size_arithmetic_is_overflow_checked)
{
	int status = 0;
	pid_t pid;

	CHECK_INT_EQ(st_add(3, 4), 7);
	CHECK_INT_EQ(st_mult(1000, 1000), 1000000);
	CHECK(st_add(SIZE_MAX - 1, 1) == SIZE_MAX);
	CHECK(st_mult(SIZE_MAX / 2, 2) == SIZE_MAX - 1);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2);
		(void)st_mult(SIZE_MAX / 2 + 1, 2);
		_exit(0);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	pid = fork();
	if (pid == 0) {
		struct buf b = BUF_INIT;
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2);
		buf_addch(&b, 'x');
		buf_grow(&b, SIZE_MAX - 1); /* len + n + 1 overflows */
		_exit(0);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

TEST(hex, encode_and_digit)
{
	const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[2 * sizeof(in) + 2];

	memset(out, 'Z', sizeof(out));
	CHECK(hex_encode(out, in, sizeof(in)) == out);
	CHECK_STR_EQ(out, "00017f80abff");
	CHECK_INT_EQ(out[2 * sizeof(in) + 1], 'Z'); /* nothing written past the NUL */
	CHECK_STR_EQ(hex_encode(out, in, 0), "");
	CHECK_INT_EQ(hex_digit(0), '0');
	CHECK_INT_EQ(hex_digit(10), 'a');
	CHECK_INT_EQ(hex_digit(0x1f), 'f'); /* only the low four bits count */
}

TEST(jfield, fields_of_the_wrong_type_or_missing_give_the_default)
{
	json_t *o = json_pack("{s:s, s:i, s:f, s:n}", "s", "text", "i", 3, "f", 1.5, "null");

	CHECK_STR_EQ(jfield_str(o, "s", NULL), "text");
	CHECK(jfield_str(o, "i", NULL) == NULL); /* a number is not a string */
	CHECK_STR_EQ(jfield_str(o, "null", "d"), "d");
	CHECK_STR_EQ(jfield_str(o, "missing", ""), "");
	CHECK(jfield_str(NULL, "s", NULL) == NULL); /* no object at all */
	CHECK_STR_EQ(jfield_str(json_array_get(NULL, 0), "s", "d"), "d");
	CHECK_NEAR(jfield_num(o, "i", -1), 3, 1e-9);
	CHECK_NEAR(jfield_num(o, "f", -1), 1.5, 1e-9);
	CHECK_NEAR(jfield_num(o, "s", -1), -1, 1e-9);
	json_decref(o);
}

TEST(stopwords, one_list_matched_by_length)
{
	CHECK(stopword_is("the", 3));
	CHECK(stopword_is("a", 1));
	CHECK(stopword_is("your", 4));
	CHECK(stopword_is("should", 6));
	CHECK(stopword_is("therefore", 5)); /* "there": only n bytes count */
	CHECK(!stopword_is("therefore", 9));
	CHECK(!stopword_is("th", 2)); /* a prefix of "the" */
	CHECK(!stopword_is("kubernetes", 10));
	CHECK(!stopword_is("The", 3)); /* callers lowercase first */
	CHECK(!stopword_is("", 0));
}
