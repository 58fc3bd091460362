/*
 * The agent loop (worker/agent/agent.c) with a scripted fake LLM: tool calls,
 * results back to the model, sources, the iteration cap and its graceful
 * answer. A test-only tool, test_lookup, stands in for the knowledge base
 * (the loop is the same for every registered tool).
 */
#include "common.h"
#include "agent/agent.h"
#include "agent/llm.h"
#include "agent/tools.h"

#include <jansson.h>
#include <stdlib.h>

#include "fake_http.h"
#include "../harness/test.h"

static int lookup_run(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err)
{
	json_t *q = json_object_get(args, "query");

	if (!json_is_string(q)) {
		err_set(err, ERR_INVALID, "argument 'query' must be a string");
		return -1;
	}
	tool_trace_add_source(c->trace, "Rotation guide", "https://docs.example/rotation", 0.9);
	buf_addf(out,
		 "{\"results\":[{\"title\":\"Rotation guide\",\"source\":"
		 "\"https://docs.example/rotation\",\"content\":\"Rotate the secret in the "
		 "admin console (scope user %s).\"}]}",
		 c->scope->user);
	return 0;
}

static const struct tool_def test_lookup = {"test_lookup", "Looks things up (test tool).",
					    "{\"type\":\"object\",\"properties\":{\"query\":{"
					    "\"type\":\"string\"}},\"required\":[\"query\"]}",
					    lookup_run};
TOOL_REGISTER(test_lookup)

/* A result just over the 24 KB cut, whose byte 24,576 falls inside an "é". */
static int big_run(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err)
{
	(void)c;
	(void)args;
	(void)err;
	buf_adds(out, "{\"rr\":\"");
	for (int i = 0; i < 13000; i++)
		buf_adds(out, "\xc3\xa9");
	buf_adds(out, "\"}");
	return 0;
}

static const struct tool_def test_big = {"test_big", "Returns a long text (test tool).",
					 "{\"type\":\"object\",\"properties\":{}}", big_run};
TOOL_REGISTER(test_big)

static const char *const agent_vars[] = {
    "LLM_PROVIDER=openai", "OPENAI_API_KEY=sk-unit", "OPENAI_BASE_URL=http://llm.test/v1",
    "CHAT_MODEL=model-x",  "AGENT_MAX_ITERATIONS=3", NULL};

static const struct http_retry fast = {2, 1, 5, 0};

static char *tool_names[] = {(char *)"test_lookup"};
static struct agent test_agent = {.id = (char *)"t",
				  .name = (char *)"Test",
				  .instructions = (char *)"You are a test agent.",
				  .tools = tool_names,
				  .ntools = 1};

#define CALL_LOOKUP(id, args)                                                                      \
	"{\"id\":\"" id "\",\"type\":\"function\",\"function\":{\"name\":\"test_lookup\","         \
	"\"arguments\":\"" args "\"}}"

static const char turn_tools[] =
    "{\"choices\":[{\"finish_reason\":\"tool_calls\",\"message\":{\"role\":\"assistant\","
    "\"content\":null,\"tool_calls\":[" CALL_LOOKUP(
	"c1",
	"{\\\"query\\\":\\\"rotate\\\"}") "," CALL_LOOKUP("c2",
							  "{oops") ","
								   "{\"id\":\"c3\",\"type\":"
								   "\"function\",\"function\":{"
								   "\"name\":\"no_such_tool\","
								   "\"arguments\":\"{}\"}}"
								   "]}}],\"usage\":{\"prompt_"
								   "tokens\":50,\"completion_"
								   "tokens\":5}}";

static const char turn_final[] =
    "{\"choices\":[{\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\",\"content\":"
    "\"Rotate it in the admin console. See [Rotation guide](https://docs.example/rotation)."
    "\"}}],\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":20}}";

static const char turn_one_call[] =
    "{\"choices\":[{\"finish_reason\":\"tool_calls\",\"message\":{\"role\":\"assistant\","
    "\"tool_calls\":[" CALL_LOOKUP("k", "{\\\"query\\\":\\\"again\\\"}") "]}}]}";

static void run_init(struct agent_run *r, const char *question)
{
	agent_run_init(r);
	r->agent = &test_agent;
	r->question = question;
	r->scope = (struct tool_scope){"app", "T1", "C1", "U42", "1700.1", &test_agent};
	r->llm_retry = &fast;
}

static json_t *request_messages(struct fake_env *fe, size_t i, json_t **root)
{
	*root = json_loads(fe->http.body[i], 0, NULL);
	return json_object_get(*root, "messages");
}

static const char *msg_field(json_t *msgs, size_t i, const char *k)
{
	return json_string_value(json_object_get(json_array_get(msgs, i), k));
}

TEST(agent, tool_calls_then_final_answer_with_sources)
{
	struct fake_env fe;
	struct agent_run r;
	struct err e = {0};
	json_t *root = NULL, *msgs;
	size_t n;

	CHECK(fake_env_init(&fe, agent_vars, NULL) == 0);
	fake_http_push(&fe.http, 200, -1, turn_tools);
	fake_http_push(&fe.http, 200, -1, turn_final);
	run_init(&r, "How do I rotate the secret?");
	CHECK_INT_EQ(agent_answer(&fe.w, &r, &e), 0);
	CHECK_STR_CONTAINS(r.answer, "admin console");
	CHECK_INT_EQ(r.iterations, 2);
	CHECK(!r.exhausted);
	CHECK_INT_EQ(r.prompt_tokens, 130);
	CHECK_INT_EQ(r.completion_tokens, 25);
	CHECK_STR_EQ(r.model, "model-x");
	CHECK_INT_EQ(r.trace.nsources, 1);
	CHECK_STR_EQ(r.trace.sources[0].url, "https://docs.example/rotation");
	CHECK_INT_EQ(r.trace.ntools, 1);
	CHECK_STR_EQ(r.trace.tools_used[0], "test_lookup");
	/* the turn: the assistant's tool calls and one result per call */
	CHECK_INT_EQ(json_array_size(r.turn), 4);

	CHECK_INT_EQ(fe.http.nreq, 2);
	msgs = request_messages(&fe, 0, &root);
	CHECK_STR_EQ(msg_field(msgs, 0, "role"), "system");
	CHECK_STR_CONTAINS(msg_field(msgs, 0, "content"), "You are a test agent.");
	CHECK_STR_CONTAINS(msg_field(msgs, 0, "content"), "Markdown");
	n = json_array_size(msgs);
	CHECK_STR_EQ(msg_field(msgs, n - 1, "role"), "user");
	CHECK_STR_EQ(msg_field(msgs, n - 1, "content"), "How do I rotate the secret?");
	json_decref(root);

	msgs = request_messages(&fe, 1, &root);
	n = json_array_size(msgs);
	CHECK_STR_EQ(msg_field(msgs, n - 4, "role"), "assistant");
	CHECK_INT_EQ(json_array_size(json_object_get(json_array_get(msgs, n - 4), "tool_calls")),
		     3);
	CHECK_STR_EQ(msg_field(msgs, n - 3, "tool_call_id"), "c1");
	/* the scope comes from the task */
	CHECK_STR_CONTAINS(msg_field(msgs, n - 3, "content"), "scope user U42");
	CHECK_STR_EQ(msg_field(msgs, n - 2, "tool_call_id"), "c2");
	CHECK_STR_CONTAINS(msg_field(msgs, n - 2, "content"), "invalid arguments");
	CHECK_STR_EQ(msg_field(msgs, n - 1, "tool_call_id"), "c3");
	CHECK_STR_CONTAINS(msg_field(msgs, n - 1, "content"), "unknown tool 'no_such_tool'");
	json_decref(root);
	agent_run_release(&r);
	fake_env_release(&fe);
}

/*
 * A tool result cut at 24 KB inside a multi-byte character still reaches the
 * model as a tool message (wave 1 built a NULL message, dropped it, and the
 * model answered 400 for a tool call without its result).
 */
TEST(agent, long_tool_result_is_cut_on_a_character_and_never_dropped)
{
	static char *big_names[] = {(char *)"test_big"};
	static struct agent big_agent = {.id = (char *)"b",
					 .name = (char *)"Big",
					 .instructions = (char *)"Test.",
					 .tools = big_names,
					 .ntools = 1};
	static const char turn_big[] =
	    "{\"choices\":[{\"finish_reason\":\"tool_calls\",\"message\":{\"role\":"
	    "\"assistant\",\"tool_calls\":[{\"id\":\"b1\",\"type\":\"function\",\"function\":"
	    "{\"name\":\"test_big\",\"arguments\":\"{}\"}}]}}]}";
	struct fake_env fe;
	struct agent_run r;
	struct err e = {0};
	json_t *root = NULL, *msgs;
	const char *content;
	size_t n;

	CHECK(fake_env_init(&fe, agent_vars, NULL) == 0);
	fake_http_push(&fe.http, 200, -1, turn_big);
	fake_http_push(&fe.http, 200, -1, turn_final);
	run_init(&r, "long?");
	r.agent = &big_agent;
	r.scope.agent = &big_agent;
	CHECK_INT_EQ(agent_answer(&fe.w, &r, &e), 0);
	CHECK_INT_EQ(fe.http.nreq, 2);
	msgs = request_messages(&fe, 1, &root);
	CHECK(msgs != NULL);
	n = json_array_size(msgs);
	CHECK_STR_EQ(msg_field(msgs, n - 1, "role"), "tool");
	CHECK_STR_EQ(msg_field(msgs, n - 1, "tool_call_id"), "b1");
	content = msg_field(msgs, n - 1, "content");
	CHECK(content != NULL);
	CHECK_STR_CONTAINS(content, "[result truncated]");
	CHECK(utf8_valid(content, strlen(content)));
	CHECK(strlen(content) <= 24 * 1024 + 32);
	json_decref(root);
	agent_run_release(&r);
	fake_env_release(&fe);
}

TEST(agent, tool_message_is_always_valid)
{
	static const char raw[] = "ok \xff\xfe bytes\0and nul";
	json_t *m = agent_tool_message("c9", raw, sizeof(raw) - 1);
	const char *c = json_string_value(json_object_get(m, "content"));

	CHECK(c != NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(m, "tool_call_id")), "c9");
	CHECK_STR_CONTAINS(c, "ok " UTF8_REPLACEMENT UTF8_REPLACEMENT " bytes and nul");
	json_decref(m);
}

TEST(agent, iteration_cap_asks_once_more_without_tools)
{
	struct fake_env fe;
	struct agent_run r;
	struct err e = {0};
	json_t *root = NULL, *msgs;

	CHECK(fake_env_init(&fe, agent_vars, NULL) == 0);
	for (int i = 0; i < 3; i++)
		fake_http_push(&fe.http, 200, -1, turn_one_call);
	fake_http_push(&fe.http, 200, -1, turn_final);
	run_init(&r, "Loop forever?");
	CHECK_INT_EQ(agent_answer(&fe.w, &r, &e), 0);
	CHECK(r.exhausted);
	CHECK_INT_EQ(fe.http.nreq, 4);
	CHECK_STR_CONTAINS(r.answer, "admin console");
	msgs = request_messages(&fe, 3, &root);
	CHECK(json_object_get(root, "tools") == NULL);
	CHECK(json_object_get(root, "tool_choice") == NULL);
	CHECK_STR_CONTAINS(msg_field(msgs, json_array_size(msgs) - 1, "content"),
			   "limit of tool calls");
	json_decref(root);
	agent_run_release(&r);
	fake_env_release(&fe);
}

TEST(agent, iteration_cap_with_a_useless_final_reply_builds_an_answer)
{
	struct fake_env fe;
	struct agent_run r;
	struct err e = {0};

	CHECK(fake_env_init(&fe, agent_vars, NULL) == 0);
	/* the model keeps calling tools, even when asked for the final answer */
	for (int i = 0; i < 4; i++)
		fake_http_push(&fe.http, 200, -1, turn_one_call);
	run_init(&r, "Loop forever?");
	CHECK_INT_EQ(agent_answer(&fe.w, &r, &e), 0);
	CHECK(r.exhausted);
	CHECK(r.answer && strlen(r.answer) > 20);
	CHECK_STR_CONTAINS(r.answer, "https://docs.example/rotation");
	agent_run_release(&r);

	/* and when the final request fails outright, still an answer */
	fake_http_reset(&fe.http);
	for (int i = 0; i < 3; i++)
		fake_http_push(&fe.http, 200, -1, turn_one_call);
	fake_http_push(&fe.http, 500, -1, "{}");
	fake_http_push(&fe.http, 500, -1, "{}");
	run_init(&r, "Loop forever?");
	CHECK_INT_EQ(agent_answer(&fe.w, &r, &e), 0);
	CHECK(r.answer && *r.answer);
	agent_run_release(&r);
	fake_env_release(&fe);
}

TEST(agent, fallback_without_sources_is_not_empty)
{
	struct agent_run r;
	char *a;

	agent_run_init(&r);
	a = agent_fallback_answer(&r);
	CHECK(a && strlen(a) > 20);
	free(a);
	agent_run_release(&r);
}

TEST(agent, llm_rejection_is_an_error)
{
	struct fake_env fe;
	struct agent_run r;
	struct err e = {0};

	CHECK(fake_env_init(&fe, agent_vars, NULL) == 0);
	fake_http_push(&fe.http, 401, -1, "{\"error\":{\"message\":\"bad key\"}}");
	run_init(&r, "Hi?");
	CHECK_INT_EQ(agent_answer(&fe.w, &r, &e), -1);
	CHECK_INT_EQ(e.code, ERR_AUTH);
	CHECK(r.answer == NULL);
	agent_run_release(&r);
	fake_http_reset(&fe.http);
	for (int i = 0; i < 3; i++)
		fake_http_push(&fe.http, 503, -1, "{}");
	run_init(&r, "Hi?");
	CHECK_INT_EQ(agent_answer(&fe.w, &r, &e), -1);
	CHECK(err_retryable(e.code));
	agent_run_release(&r);
	fake_env_release(&fe);
}

TEST(agent, tools_not_allowed_for_the_agent_are_refused)
{
	struct fake_env fe;
	struct agent_run r;
	struct buf out = BUF_INIT;

	CHECK(fake_env_init(&fe, agent_vars, NULL) == 0);
	run_init(&r, "q");
	CHECK_INT_EQ(agent_call_tool(&fe.w, &r, "web_search", "{\"query\":\"x\"}", &out), 0);
	CHECK_STR_CONTAINS(out.s, "not available to this agent");
	buf_reset(&out);
	CHECK_INT_EQ(agent_call_tool(&fe.w, &r, "test_lookup", "[1,2]", &out), 0);
	CHECK_STR_CONTAINS(out.s, "invalid arguments");
	buf_reset(&out);
	CHECK_INT_EQ(agent_call_tool(&fe.w, &r, "test_lookup", "{\"query\":\"x\"}", &out), 1);
	CHECK_STR_CONTAINS(out.s, "Rotation guide");
	buf_release(&out);
	agent_run_release(&r);
	fake_env_release(&fe);
}
