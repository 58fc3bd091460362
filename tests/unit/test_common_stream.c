/*
 * Unit tests of common/sse.c (event-stream framing) and common/llm_stream.c
 * (a streamed chat completion assembled into the non-streamed reply).
 */
#include <stdlib.h>

#include "common.h"
#include "llm_stream.h"
#include "sse.h"

#include "../harness/test.h"

struct events {
	struct buf all; /* each event's data, then '|' */
	int n, stop_at;
};

static int collect(void *ctx, const char *data, size_t len)
{
	struct events *e = ctx;

	buf_add(&e->all, data, len);
	buf_addch(&e->all, '|');
	return ++e->n == e->stop_at ? -1 : 0;
}

/* Feeds s in pieces of step bytes; returns the last sse_feed/sse_finish result. */
static int feed_in_pieces(struct sse_parser *p, const char *s, size_t step)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i += step)
		if (sse_feed(p, s + i, i + step > n ? n - i : step) < 0)
			return -1;
	return sse_finish(p);
}

TEST(sse, events_in_any_split_with_every_line_end)
{
	static const char body[] = ": a comment\r\n"
				   "event: x\n"
				   "data: one\n\n"
				   "data:two\r\ndata:  three\r\n\r\n"
				   "id: 7\rdata: four\r\r"
				   "data\n\n"	   /* a data line with no colon: empty data */
				   "retry: 10\n\n" /* no data: nothing delivered */
				   "data: last, no blank line";

	for (size_t step = 1; step <= sizeof(body); step++) {
		struct events e = {BUF_INIT, 0, 0};
		struct sse_parser p;

		sse_init(&p, collect, &e);
		CHECK_INT_EQ(feed_in_pieces(&p, body, step), 0);
		CHECK_STR_EQ(e.all.s, "one|two\n three|four||last, no blank line|");
		CHECK_INT_EQ(e.n, 5);
		sse_release(&p);
		buf_release(&e.all);
	}
}

TEST(sse, receiver_can_stop_and_huge_events_fail)
{
	struct events e = {BUF_INIT, 0, 1};
	struct sse_parser p;
	char *big;

	sse_init(&p, collect, &e);
	CHECK_INT_EQ(sse_feed(&p, "data: a\n\ndata: b\n\n", 18), -1);
	CHECK_STR_EQ(e.all.s, "a|");
	sse_release(&p);
	buf_release(&e.all);

	big = xmalloc(SSE_MAX_EVENT + 16);
	memcpy(big, "data: ", 6);
	memset(big + 6, 'x', SSE_MAX_EVENT + 8);
	sse_init(&p, collect, &e);
	CHECK_INT_EQ(sse_feed(&p, big, SSE_MAX_EVENT + 14), -1);
	CHECK(p.too_long);
	sse_release(&p);
	free(big);
}

struct texts {
	struct buf b;
	int calls;
};

static int on_text(void *ctx, const char *t, size_t n)
{
	struct texts *x = ctx;

	buf_add(&x->b, t, n);
	buf_addch(&x->b, '/');
	x->calls++;
	return 0;
}

static json_t *assemble(const char *body, size_t step, struct texts *x, struct err *e)
{
	struct llm_stream *s = llm_stream_new(on_text, x);
	size_t n = strlen(body);
	json_t *out = NULL;

	for (size_t i = 0; i < n; i += step)
		if (llm_stream_feed(s, body + i, i + step > n ? n - i : step, e) < 0)
			goto done;
	out = llm_stream_finish(s, e);
done:
	llm_stream_free(s);
	return out;
}

#define CHUNK(delta, fr)                                                                           \
	"data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":" delta          \
	",\"finish_reason\":" fr "}]}\n\n"

TEST(llm_stream, text_deltas_reach_the_receiver_and_assemble_the_answer)
{
	static const char body[] = CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null") CHUNK(
	    "{\"content\":\"Rotate \"}", "null") CHUNK("{\"content\":\"it in é \"}", "null")
	    CHUNK("{\"content\":\"**settings**.\"}", "null") CHUNK(
		"{}",
		"\"stop\"") "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,"
			    "\"completion_tokens\":4}}\n\n"
			    "data: [DONE]\n\n";

	for (size_t step = 1; step < sizeof(body); step += 7) {
		struct texts x = {BUF_INIT, 0};
		struct err e = {0};
		json_t *r = assemble(body, step, &x, &e), *m;

		CHECK(r != NULL);
		CHECK_STR_EQ(x.b.s, "Rotate /it in é /**settings**./");
		CHECK_INT_EQ(x.calls, 3);
		m = json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message");
		CHECK_STR_EQ(json_string_value(json_object_get(m, "content")),
			     "Rotate it in é **settings**.");
		CHECK(json_object_get(m, "tool_calls") == NULL);
		CHECK_STR_EQ(
		    json_string_value(json_object_get(
			json_array_get(json_object_get(r, "choices"), 0), "finish_reason")),
		    "stop");
		CHECK_INT_EQ(json_integer_value(
				 json_object_get(json_object_get(r, "usage"), "completion_tokens")),
			     4);
		CHECK_STR_EQ(json_string_value(json_object_get(r, "model")), "m");
		json_decref(r);
		buf_release(&x.b);
	}
}

TEST(llm_stream, tool_call_deltas_are_joined_by_index)
{
	static const char body[] = CHUNK(
	    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":"
	    "\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"search_knowledge_base\","
	    "\"arguments\":\"\"}}]}",
	    "null")
	    CHUNK(
		"{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"query\\\":\"}}]}",
		"null")
		CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":"
		      "\"web_search\",\"arguments\":\"{}\"}}]}",
		      "null") CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
				    "\"\\\"rotate\\\"}\"}}]}",
				    "null") CHUNK("{}", "\"tool_calls\"") "data: [DONE]\n\n";
	struct texts x = {BUF_INIT, 0};
	struct err e = {0};
	json_t *r = assemble(body, 5, &x, &e), *m, *tc;

	CHECK(r != NULL);
	CHECK_INT_EQ(x.calls, 0);
	m = json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message");
	CHECK(json_is_null(json_object_get(m, "content")));
	tc = json_object_get(m, "tool_calls");
	CHECK_INT_EQ(json_array_size(tc), 2);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(tc, 0), "id")), "call_a");
	CHECK_STR_EQ(json_string_value(json_object_get(
			 json_object_get(json_array_get(tc, 0), "function"), "arguments")),
		     "{\"query\":\"rotate\"}");
	CHECK_STR_EQ(json_string_value(json_object_get(
			 json_object_get(json_array_get(tc, 1), "function"), "name")),
		     "web_search");
	json_decref(r);
	buf_release(&x.b);
}

TEST(llm_stream, broken_streams_fail_with_a_reason)
{
	struct texts x = {BUF_INIT, 0};
	struct err e = {0};

	/* cut off mid-answer: no finish_reason, no [DONE] */
	CHECK(assemble(CHUNK("{\"content\":\"Half\"}", "null"), 64, &x, &e) == NULL);
	CHECK_INT_EQ(e.code, ERR_IO);
	/* an error event */
	err_clear(&e);
	CHECK(assemble("data: {\"error\":{\"message\":\"overloaded\"}}\n\n", 64, &x, &e) == NULL);
	CHECK_INT_EQ(e.code, ERR_UPSTREAM);
	CHECK(strstr(e.msg, "overloaded") != NULL);
	/* not JSON */
	err_clear(&e);
	CHECK(assemble("data: {nope\n\n", 64, &x, &e) == NULL);
	CHECK_INT_EQ(e.code, ERR_PARSE);
	/* an absurd tool index */
	err_clear(&e);
	CHECK(assemble(CHUNK("{\"tool_calls\":[{\"index\":100000,\"id\":\"x\"}]}", "null"), 64, &x,
		       &e) == NULL);
	CHECK_INT_EQ(e.code, ERR_PARSE);
	/* a finish_reason without [DONE] is a complete answer (some servers omit it) */
	err_clear(&e);
	{
		json_t *r = assemble(CHUNK("{\"content\":\"ok\"}", "\"stop\""), 64, &x, &e);
		CHECK(r != NULL);
		json_decref(r);
	}
	buf_release(&x.b);
}
