/* The Chat Completions client (worker/agent/llm.c) over a fake transport. */
#include "common.h"
#include "agent/llm.h"
#include "agent/tools.h"

#include <jansson.h>
#include <stdlib.h>

#include "fake_http.h"
#include "../harness/test.h"

static const char *const llm_vars[] = {
    "LLM_PROVIDER=openai", "OPENAI_API_KEY=sk-unit", "OPENAI_BASE_URL=http://llm.test/v1",
    "CHAT_MODEL=model-x",  "LLM_TIMEOUT_S=5",	     NULL};

/* Fast retries for tests: Retry-After is still honoured, capped at 5 ms. */
static const struct http_retry fast = {3, 1, 5, 0};

static const char reply_two_calls[] =
    "{\"id\":\"c1\",\"choices\":[{\"index\":0,\"finish_reason\":\"tool_calls\",\"message\":{"
    "\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
    "{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"search_knowledge_base\","
    "\"arguments\":\"{\\\"query\\\":\\\"rotate\\\"}\"}},"
    "{\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"web_search\","
    "\"arguments\":\"{not json\"}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"remember\",\"arguments\":{\"text\":\"hi\"}}}"
    "]}}],\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":7,\"total_tokens\":127}}";

static const char reply_text[] =
    "{\"choices\":[{\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\","
    "\"content\":\"Hello there\"}}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3}}";

TEST(llm, parse_several_tool_calls)
{
	struct llm_reply r;
	json_t *m;
	char *dump;

	llm_reply_init(&r);
	CHECK_INT_EQ(llm_parse_reply(reply_two_calls, strlen(reply_two_calls), &r, NULL), 0);
	CHECK(r.content == NULL);
	CHECK_STR_EQ(r.finish_reason, "tool_calls");
	CHECK_INT_EQ(r.ncalls, 3);
	CHECK_STR_EQ(r.calls[0].id, "call_a");
	CHECK_STR_EQ(r.calls[0].name, "search_knowledge_base");
	CHECK_STR_EQ(r.calls[0].arguments, "{\"query\":\"rotate\"}");
	/* malformed arguments are kept as text for the loop to report, not rejected here */
	CHECK_STR_EQ(r.calls[1].arguments, "{not json");
	/* an id is made up when missing; object arguments are serialised */
	CHECK_STR_EQ(r.calls[2].id, "call_2");
	CHECK_STR_EQ(r.calls[2].arguments, "{\"text\":\"hi\"}");
	CHECK_INT_EQ(r.prompt_tokens, 120);
	CHECK_INT_EQ(r.completion_tokens, 7);
	m = llm_assistant_message(&r);
	dump = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR_CONTAINS(dump, "\"content\":null");
	CHECK_STR_CONTAINS(dump, "\"id\":\"call_b\"");
	CHECK_STR_CONTAINS(dump, "\"arguments\":\"{not json\"");
	free(dump);
	json_decref(m);
	llm_reply_release(&r);
}

TEST(llm, parse_errors)
{
	struct llm_reply r;
	struct err e = {0};

	llm_reply_init(&r);
	CHECK_INT_EQ(llm_parse_reply("{\"choices\":[]}", 14, &r, &e), -1);
	CHECK_INT_EQ(e.code, ERR_PARSE);
	llm_reply_release(&r);
	CHECK_INT_EQ(llm_parse_reply("not json", 8, &r, &e), -1);
	CHECK_INT_EQ(e.code, ERR_PARSE);
	llm_reply_release(&r);
	/* content given as text parts */
	{
		static const char parts[] = "{\"choices\":[{\"message\":{\"content\":[{\"type\":"
					    "\"text\",\"text\":\"a\"},{\"type\":\"text\","
					    "\"text\":\"b\"}]}}]}";
		CHECK_INT_EQ(llm_parse_reply(parts, strlen(parts), &r, &e), 0);
	}
	CHECK_STR_EQ(r.content, "ab");
	llm_reply_release(&r);
}

static int run_chat(struct fake_env *fe, struct llm_reply *r, struct err *e)
{
	json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", "hi");
	json_t *tools = llm_tools_json(NULL);
	struct llm_call call = {NULL, msgs, tools, &fast, NULL, NULL};
	int rc;

	llm_reply_init(r);
	rc = llm_chat(&fe->w, &call, r, e);
	json_decref(msgs);
	json_decref(tools);
	return rc;
}

TEST(llm, request_shape_and_usage_metrics)
{
	struct fake_env fe;
	struct llm_reply r;
	struct err e = {0};
	double p0 = metrics_value(NULL, M_LLM_TOKENS, "kind=\"prompt\"");
	double c0 = metrics_value(NULL, M_LLM_TOKENS, "kind=\"completion\"");
	double ok0 = metrics_value(NULL, M_LLM_REQUESTS, "outcome=\"ok\"");
	json_t *body;

	CHECK(fake_env_init(&fe, llm_vars, NULL) == 0);
	fake_http_push(&fe.http, 200, -1, reply_text);
	CHECK_INT_EQ(run_chat(&fe, &r, &e), 0);
	CHECK_STR_EQ(r.content, "Hello there");
	CHECK_INT_EQ(fe.http.nreq, 1);
	CHECK_STR_EQ(fe.http.url[0], "http://llm.test/v1/chat/completions");
	CHECK_STR_CONTAINS(fe.http.headers[0], "Authorization: Bearer sk-unit");
	CHECK_STR_CONTAINS(fe.http.headers[0], "Content-Type: application/json");
	body = json_loads(fe.http.body[0], 0, NULL);
	CHECK(body != NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(body, "model")), "model-x");
	CHECK_STR_EQ(json_string_value(json_object_get(body, "tool_choice")), "auto");
	CHECK(json_array_size(json_object_get(body, "tools")) >= 2);
	CHECK_STR_EQ(
	    json_string_value(json_object_get(
		json_object_get(json_array_get(json_object_get(body, "tools"), 0), "function"),
		"name")),
	    tools_at(0)->name);
	json_decref(body);
	CHECK_NEAR(metrics_value(NULL, M_LLM_TOKENS, "kind=\"prompt\"") - p0, 10, 0.01);
	CHECK_NEAR(metrics_value(NULL, M_LLM_TOKENS, "kind=\"completion\"") - c0, 3, 0.01);
	CHECK_NEAR(metrics_value(NULL, M_LLM_REQUESTS, "outcome=\"ok\"") - ok0, 1, 0.01);
	llm_reply_release(&r);
	fake_env_release(&fe);
}

TEST(llm, retries_429_with_retry_after_then_succeeds)
{
	struct fake_env fe;
	struct llm_reply r;
	struct err e = {0};

	CHECK(fake_env_init(&fe, llm_vars, NULL) == 0);
	fake_http_push(&fe.http, 429, 1, "{\"error\":{\"message\":\"slow down\"}}");
	fake_http_push(&fe.http, 200, -1, reply_text);
	CHECK_INT_EQ(run_chat(&fe, &r, &e), 0);
	CHECK_INT_EQ(fe.http.nreq, 2);
	CHECK_STR_EQ(r.content, "Hello there");
	llm_reply_release(&r);
	fake_env_release(&fe);
}

TEST(llm, retries_500_twice_then_succeeds)
{
	struct fake_env fe;
	struct llm_reply r;
	struct err e = {0};

	CHECK(fake_env_init(&fe, llm_vars, NULL) == 0);
	fake_http_push(&fe.http, 500, -1, "{}");
	fake_http_push(&fe.http, 503, -1, "{}");
	fake_http_push(&fe.http, 200, -1, reply_two_calls);
	CHECK_INT_EQ(run_chat(&fe, &r, &e), 0);
	CHECK_INT_EQ(fe.http.nreq, 3);
	CHECK_INT_EQ(r.ncalls, 3);
	llm_reply_release(&r);
	fake_env_release(&fe);
}

TEST(llm, always_5xx_is_a_retryable_error)
{
	struct fake_env fe;
	struct llm_reply r;
	struct err e = {0};

	CHECK(fake_env_init(&fe, llm_vars, NULL) == 0);
	for (int i = 0; i < 5; i++)
		fake_http_push(&fe.http, 502, -1, "bad gateway");
	CHECK_INT_EQ(run_chat(&fe, &r, &e), -1);
	CHECK_INT_EQ(fe.http.nreq, 3);
	CHECK_INT_EQ(e.code, ERR_UPSTREAM);
	CHECK(err_retryable(e.code));
	llm_reply_release(&r);
	fake_env_release(&fe);
}

TEST(llm, client_error_is_permanent_and_not_retried)
{
	struct fake_env fe;
	struct llm_reply r;
	struct err e = {0};

	CHECK(fake_env_init(&fe, llm_vars, NULL) == 0);
	fake_http_push(&fe.http, 400, -1,
		       "{\"error\":{\"message\":\"Invalid schema for function\",\"type\":\"invalid_"
		       "request_error\"}}");
	fake_http_push(&fe.http, 200, -1, reply_text);
	CHECK_INT_EQ(run_chat(&fe, &r, &e), -1);
	CHECK_INT_EQ(fe.http.nreq, 1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	CHECK(!err_retryable(e.code));
	CHECK_STR_CONTAINS(e.msg, "Invalid schema for function");
	llm_reply_release(&r);
	fake_env_release(&fe);
}

TEST(llm, tools_are_filtered_by_agent)
{
	char *names[] = {(char *)"web_search"};
	struct agent ag = {0};
	json_t *t;

	ag.id = (char *)"narrow";
	ag.tools = names;
	ag.ntools = 1;
	t = llm_tools_json(&ag);
	CHECK_INT_EQ(json_array_size(t), 1);
	CHECK_STR_EQ(json_string_value(json_object_get(
			 json_object_get(json_array_get(t, 0), "function"), "name")),
		     "web_search");
	CHECK(json_is_object(
	    json_object_get(json_object_get(json_array_get(t, 0), "function"), "parameters")));
	json_decref(t);
	ag.ntools = 0;
	t = llm_tools_json(&ag);
	CHECK_INT_EQ(json_array_size(t), 0);
	json_decref(t);
}

struct typed_log {
	struct buf text;
	int starts;
};

static int typed(void *ctx, const char *text, size_t n)
{
	struct typed_log *l = ctx;

	if (!text) {
		l->starts++;
		buf_reset(&l->text);
		return 0;
	}
	buf_add(&l->text, text, n);
	return 0;
}

TEST(llm, streamed_reply_types_the_answer_and_parses_like_the_whole)
{
	static const char sse[] =
	    "data: {\"id\":\"c\",\"model\":\"model-x\",\"choices\":[{\"index\":0,\"delta\":"
	    "{\"role\":\"assistant\",\"content\":\"Hello \"},\"finish_reason\":null}]}\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"there\"},"
	    "\"finish_reason\":\"stop\"}]}\n\n"
	    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2}}\n\n"
	    "data: [DONE]\n\n";
	struct fake_env fe;
	struct llm_reply r;
	struct err e = {0};
	struct typed_log log = {BUF_INIT, 0};
	json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", "hi"), *body;
	struct llm_call call = {NULL, msgs, NULL, &fast, typed, &log};

	CHECK(fake_env_init(&fe, llm_vars, NULL) == 0);
	/* a 503 first: the retry streams from the start */
	fake_http_push(&fe.http, 503, -1, "{\"error\":{\"message\":\"busy\"}}");
	fake_http_push(&fe.http, 200, -1, sse);
	llm_reply_init(&r);
	CHECK_INT_EQ(llm_chat(&fe.w, &call, &r, &e), 0);
	CHECK_STR_EQ(log.text.s, "Hello there");
	CHECK_INT_EQ(log.starts, 1); /* only 2xx bodies are streamed */
	CHECK_STR_EQ(r.content, "Hello there");
	CHECK_STR_EQ(r.finish_reason, "stop");
	CHECK_INT_EQ(r.prompt_tokens, 10);
	CHECK_INT_EQ(r.completion_tokens, 2);
	body = json_loads(fe.http.body[1], 0, NULL);
	CHECK(json_is_true(json_object_get(body, "stream")));
	CHECK(json_is_true(
	    json_object_get(json_object_get(body, "stream_options"), "include_usage")));
	CHECK_STR_CONTAINS(fe.http.headers[1], "Accept: text/event-stream");
	json_decref(body);
	llm_reply_release(&r);

	/* a server that ignores "stream" answers one JSON object: read whole, nothing typed */
	fake_http_reset(&fe.http);
	buf_reset(&log.text);
	fake_http_push(&fe.http, 200, -1, reply_text);
	llm_reply_init(&r);
	CHECK_INT_EQ(llm_chat(&fe.w, &call, &r, &e), 0);
	CHECK_STR_EQ(r.content, "Hello there");
	CHECK_STR_EQ(log.text.s, "");
	llm_reply_release(&r);

	/* a stream that ends mid-answer is an error, not a short answer */
	fake_http_reset(&fe.http);
	fake_http_push(&fe.http, 200, -1,
		       "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hal\"}}]}\n\n");
	llm_reply_init(&r);
	CHECK_INT_EQ(llm_chat(&fe.w, &call, &r, &e), -1);
	CHECK_INT_EQ(e.code, ERR_IO);
	llm_reply_release(&r);
	json_decref(msgs);
	buf_release(&log.text);
	fake_env_release(&fe);
}
