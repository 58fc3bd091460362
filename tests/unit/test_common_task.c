/*
 * Unit tests of common/task.c: encode -> decode round trips (empty and UTF-8
 * fields, absent fields), binary-safe decoding, and decode errors.
 */
#include <stdlib.h>

#include "common.h"

#include "../harness/test.h"

/* Decodes what task_encode() produced, as the worker would from a stream entry. */
static int round_trip(const struct task *in, struct task *out, struct err *e)
{
	const char *f[TASK_MAX_FIELDS], *v[TASK_MAX_FIELDS];
	size_t fl[TASK_MAX_FIELDS], vl[TASK_MAX_FIELDS];
	char nbuf[48];
	size_t n = task_encode(in, f, v, nbuf);

	for (size_t i = 0; i < n; i++) {
		fl[i] = strlen(f[i]);
		vl[i] = strlen(v[i]);
	}
	task_init(out);
	return task_decode(out, n, f, fl, v, vl, e);
}

static const char *field_of(const char *const *f, const char *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(f[i], name))
			return v[i];
	return NULL;
}

TEST(task, encode_field_names)
{
	struct task t;
	const char *f[TASK_MAX_FIELDS], *v[TASK_MAX_FIELDS];
	char nbuf[48];
	size_t n;

	task_init(&t);
	CHECK_INT_EQ(t.attempt, 1);
	t.type = TASK_QUESTION;
	t.id = xstrdup("Ev01");
	t.team = xstrdup("T1");
	t.channel = xstrdup("C1");
	t.user = xstrdup("U1");
	t.text = xstrdup("hi");
	t.ts = xstrdup("1.1");
	t.thread_ts = xstrdup("1.0");
	t.channel_type = xstrdup("channel");
	t.agent = xstrdup("default");
	t.source = xstrdup("slack");
	t.enqueued_ms = 1700000000123LL;
	t.attempt = 3;
	n = task_encode(&t, f, v, nbuf);
	/* type + 10 strings + enqueued_ms + attempt; answer_id and feedback absent */
	CHECK_INT_EQ(n, 13);
	CHECK(n <= TASK_MAX_FIELDS);
	CHECK_STR_EQ(f[0], "type");
	CHECK_STR_EQ(v[0], "question");
	CHECK_STR_EQ(field_of(f, v, n, "id"), "Ev01");
	CHECK_STR_EQ(field_of(f, v, n, "team"), "T1");
	CHECK_STR_EQ(field_of(f, v, n, "channel"), "C1");
	CHECK_STR_EQ(field_of(f, v, n, "user"), "U1");
	CHECK_STR_EQ(field_of(f, v, n, "text"), "hi");
	CHECK_STR_EQ(field_of(f, v, n, "ts"), "1.1");
	CHECK_STR_EQ(field_of(f, v, n, "thread_ts"), "1.0");
	CHECK_STR_EQ(field_of(f, v, n, "channel_type"), "channel");
	CHECK_STR_EQ(field_of(f, v, n, "agent"), "default");
	CHECK_STR_EQ(field_of(f, v, n, "source"), "slack");
	CHECK_STR_EQ(field_of(f, v, n, "enqueued_ms"), "1700000000123");
	CHECK_STR_EQ(field_of(f, v, n, "attempt"), "3");
	CHECK(field_of(f, v, n, "answer_id") == NULL);
	CHECK(field_of(f, v, n, "feedback") == NULL);
	task_release(&t);
	CHECK(t.id == NULL);
}

TEST(task, round_trip_full_feedback)
{
	struct task t, d;
	struct err e = {0};
	struct task *c;

	task_init(&t);
	t.type = TASK_FEEDBACK;
	t.id = xstrdup("fb:1700000000.123456");
	t.team = xstrdup("T1");
	t.channel = xstrdup("C1");
	t.user = xstrdup("U9");
	t.text = xstrdup("");
	t.ts = xstrdup("1700000000.000200");
	t.thread_ts = xstrdup("1700000000.000100");
	t.channel_type = xstrdup("im");
	t.agent = xstrdup("support");
	t.source = xstrdup("slack");
	t.answer_id = xstrdup("ans-42");
	t.feedback = xstrdup("not_helpful");
	t.response_url = xstrdup("https://hooks.slack.com/commands/1/2");
	t.enqueued_ms = 1;
	t.attempt = 7;
	CHECK_INT_EQ(round_trip(&t, &d, &e), 0);
	CHECK_INT_EQ(d.type, TASK_FEEDBACK);
	CHECK_STR_EQ(d.id, t.id);
	CHECK_STR_EQ(d.team, "T1");
	CHECK_STR_EQ(d.channel, "C1");
	CHECK_STR_EQ(d.user, "U9");
	CHECK_STR_EQ(d.text, "");
	CHECK_STR_EQ(d.ts, t.ts);
	CHECK_STR_EQ(d.thread_ts, t.thread_ts);
	CHECK_STR_EQ(d.channel_type, "im");
	CHECK_STR_EQ(d.agent, "support");
	CHECK_STR_EQ(d.source, "slack");
	CHECK_STR_EQ(d.answer_id, "ans-42");
	CHECK_STR_EQ(d.feedback, "not_helpful");
	CHECK_STR_EQ(d.response_url, "https://hooks.slack.com/commands/1/2");
	CHECK_INT_EQ(d.enqueued_ms, 1);
	CHECK_INT_EQ(d.attempt, 7);
	c = task_dup(&d);
	CHECK_STR_EQ(c->feedback, "not_helpful");
	CHECK(c->feedback != d.feedback);
	CHECK_STR_EQ(c->response_url, d.response_url);
	CHECK_INT_EQ(c->attempt, 7);
	task_release(c);
	free(c);
	task_release(&d);
	task_release(&t);
}

TEST(task, round_trip_empty_absent_and_utf8)
{
	struct task t, d;
	struct err e = {0};
	/* "Grüße, 世界 🙂 — \"quoted\"\nnew line" */
	static const char utf8[] = "Gr\xc3\xbc\xc3\x9f"
				   "e, \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x99\x82 "
				   "\xe2\x80\x94 \"quoted\"\nnew line";

	task_init(&t);
	t.id = xstrdup("Ev\xc3\xa9");
	t.text = xstrdup(utf8);
	t.team = xstrdup("");
	t.thread_ts = xstrdup("");
	t.enqueued_ms = 0;
	CHECK_INT_EQ(round_trip(&t, &d, &e), 0);
	CHECK_INT_EQ(d.type, TASK_QUESTION);
	CHECK_STR_EQ(d.id, "Ev\xc3\xa9");
	CHECK_STR_EQ(d.text, utf8);
	CHECK_STR_EQ(d.team, "");
	CHECK_STR_EQ(d.thread_ts, "");
	CHECK(d.channel == NULL);
	CHECK(d.user == NULL);
	CHECK(d.answer_id == NULL);
	CHECK_INT_EQ(d.attempt, 1);
	task_release(&d);
	task_release(&t);
}

/* Stream replies are length-delimited: values are not NUL-terminated at their length. */
TEST(task, decode_is_binary_safe)
{
	static const char raw[] = "typequestionXidEv7Ytextab\0cdZattempt34";
	const char *f[] = {raw, raw + 13, raw + 19, raw + 29};
	size_t fl[] = {4, 2, 4, 7};
	const char *v[] = {raw + 4, raw + 15, raw + 23, raw + 36};
	size_t vl[] = {8, 3, 5, 1};
	struct task d;
	struct err e = {0};

	task_init(&d);
	CHECK_INT_EQ(task_decode(&d, 3, f, fl, v, vl, &e), 0);
	CHECK_STR_EQ(d.id, "Ev7");
	CHECK_INT_EQ(memcmp(d.text, "ab\0cd", 6), 0);
	CHECK_INT_EQ(d.attempt, 1);
	task_release(&d);
	/* attempt "3" read with its length, not up to the next NUL ("34") */
	task_init(&d);
	CHECK_INT_EQ(task_decode(&d, 4, f, fl, v, vl, &e), 0);
	CHECK_INT_EQ(d.attempt, 3);
	task_release(&d);
}

static int decode_pairs(struct task *d, struct err *e, size_t n, const char **kv)
{
	const char *f[16], *v[16];
	size_t fl[16], vl[16];

	for (size_t i = 0; i < n; i++) {
		f[i] = kv[2 * i];
		v[i] = kv[2 * i + 1];
		fl[i] = strlen(f[i]);
		vl[i] = strlen(v[i]);
	}
	task_init(d);
	return task_decode(d, n, f, fl, v, vl, e);
}

TEST(task, decode_errors)
{
	struct task d;
	struct err e = {0};
	const char *no_type[] = {"id", "Ev1", "text", "x"};
	const char *bad_type[] = {"type", "answer", "id", "Ev1"};
	const char *no_id[] = {"type", "question", "text", "x"};
	const char *empty_id[] = {"type", "feedback", "id", ""};

	CHECK_INT_EQ(decode_pairs(&d, &e, 2, no_type), -1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	CHECK_STR_CONTAINS(e.msg, "no type");
	task_release(&d);
	CHECK_INT_EQ(decode_pairs(&d, &e, 2, bad_type), -1);
	CHECK_STR_CONTAINS(e.msg, "unknown type 'answer'");
	task_release(&d);
	CHECK_INT_EQ(decode_pairs(&d, &e, 2, no_id), -1);
	CHECK_STR_CONTAINS(e.msg, "no id");
	task_release(&d);
	CHECK_INT_EQ(decode_pairs(&d, &e, 2, empty_id), -1);
	CHECK_STR_CONTAINS(e.msg, "no id");
	task_release(&d);
	CHECK_INT_EQ(decode_pairs(&d, &e, 0, no_type), -1);
	task_release(&d);
}

TEST(task, decode_tolerates_unknown_and_bad_numbers)
{
	struct task d;
	struct err e = {0};
	const char *kv[] = {"type",    "question", "id",	  "Ev1",   "future_field", "x",
			    "attempt", "0",	   "enqueued_ms", "12abc", "id",	   "Ev2"};
	const char *kv2[] = {"type", "question", "id", "Ev1", "attempt", "4", "enqueued_ms", "-5"};

	CHECK_INT_EQ(decode_pairs(&d, &e, 6, kv), 0);
	CHECK_STR_EQ(d.id, "Ev2"); /* a repeated field: the last wins, no leak */
	CHECK_INT_EQ(d.attempt, 1);
	CHECK_INT_EQ(d.enqueued_ms, 0);
	task_release(&d);
	CHECK_INT_EQ(decode_pairs(&d, &e, 4, kv2), 0);
	CHECK_INT_EQ(d.attempt, 4);
	CHECK_INT_EQ(d.enqueued_ms, -5);
	task_release(&d);
	CHECK_STR_EQ(task_type_name(TASK_QUESTION), "question");
	CHECK_STR_EQ(task_type_name(TASK_FEEDBACK), "feedback");
}
