/*
 * The Dev UI's trace (worker/slack/reply.c's ui sink, fed by worker/agent/agent.c) on a
 * real redis-server: a Dev UI question whose model calls a tool writes one
 * "trace" entry per model call and tool call to ui:<session>, in order, with
 * arguments, result excerpts cut on a character boundary, tokens and
 * milliseconds; the placeholder and the answer name the agent. A Slack
 * question with the same script writes no trace anywhere.
 */
#include "common.h"
#include "agent/handler.h"
#include "agent/tools.h"

#include <jansson.h>
#include <stdlib.h>

#include "../unit/fake_http.h"
#include "../harness/test.h"

#define SESSION "s-tracesess01"

/* A result of 7 + 2 * 1200 bytes: byte 1,500 (the excerpt's cut) falls inside an "é". */
static int trace_tool_run(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err)
{
	(void)c;
	(void)err;
	buf_adds(out, "{\"rr\":\"");
	for (int i = 0; i < 1200; i++)
		buf_adds(out, "\xc3\xa9");
	buf_addf(out, "\",\"q\":\"%s\"}", json_string_value(json_object_get(args, "query")));
	return 0;
}

static const struct tool_def test_trace_tool = {
    "test_trace_tool", "Looks things up (test tool).",
    "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"}}}", trace_tool_run};
TOOL_REGISTER(test_trace_tool)

static const char turn_call[] =
    "{\"choices\":[{\"finish_reason\":\"tool_calls\",\"message\":{\"role\":\"assistant\","
    "\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{"
    "\"name\":\"test_trace_tool\",\"arguments\":\"{\\\"query\\\":\\\"rotate <b>\\\"}\"}}]}}],"
    "\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":5}}";
static const char turn_answer[] =
    "{\"choices\":[{\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\",\"content\":"
    "\"Rotate it in **settings**.\"}}],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":6}}";

struct script {
	size_t chats, slack;
	char ts_body[96];
};

static void route(struct fake_http *f, const struct http_request *req, struct fake_resp *out)
{
	struct script *s = f->route_ctx;

	out->status = 200;
	out->retry_after_s = -1;
	if (strstr(req->url, "/chat/completions")) {
		out->body = s->chats++ % 2 ? turn_answer : turn_call;
	} else if (strstr(req->url, "slack.test")) {
		s->slack++;
		snprintf(s->ts_body, sizeof(s->ts_body),
			 "{\"ok\":true,\"ts\":\"1700000000.%06zu\"}", s->slack);
		out->body = s->ts_body;
	} else {
		out->status = 404;
		out->body = "{}";
	}
}

struct setup {
	struct fake_env fe;
	struct script sc;
	char url_var[128];
	const char *vars[13];
};

/* The worker environment with one agent, "tracer" (Tracer), that may use the test tool. */
static int setup_env(struct setup *s, const char *extra)
{
	static const char *const base[] = {"LLM_PROVIDER=openai",
					   "OPENAI_API_KEY=sk-int",
					   "OPENAI_BASE_URL=http://llm.test/v1",
					   "CHAT_MODEL=model-t",
					   "SLACK_BOT_TOKEN=xoxb-int",
					   "SLACK_API_URL=http://slack.test/api",
					   "MEMORY_TOP_K=0",
					   "MEMORY_STORE_TURNS=false",
					   NULL};
	const char *url = test_redis_url();
	struct agent *ag;
	size_t n = 0;

	if (!url)
		return -1;
	test_redis_flush();
	memset(s, 0, sizeof(*s));
	snprintf(s->url_var, sizeof(s->url_var), "REDIS_URL=%s", url);
	s->vars[n++] = s->url_var;
	if (extra)
		s->vars[n++] = extra; /* first match wins in fake_env_get */
	for (const char *const *p = base; *p; p++)
		s->vars[n++] = *p;
	if (fake_env_init(&s->fe, s->vars, url) < 0)
		return -1;
	s->fe.http.route = route;
	s->fe.http.route_ctx = &s->sc;
	agents_release(&s->fe.agents);
	s->fe.agents.v = xcalloc(1, sizeof(struct agent));
	s->fe.agents.n = 1;
	ag = &s->fe.agents.v[0];
	ag->id = xstrdup("tracer");
	ag->name = xstrdup("Tracer <T>");
	ag->instructions = xstrdup("Answer.");
	ag->tools = xcalloc(1, sizeof(char *));
	ag->tools[0] = xstrdup("test_trace_tool");
	ag->ntools = 1;
	return 0;
}

static void question(struct task *t, const char *id, int ui)
{
	task_init(t);
	t->type = TASK_QUESTION;
	t->id = xstrdup(id);
	t->team = xstrdup(ui ? "ui" : "T1");
	t->channel = xstrdup(ui ? SESSION : "C1");
	t->user = xstrdup("alice");
	t->text = xstrdup("How do I rotate the secret?");
	t->ts = xstrdup(ui ? "" : "1700.000100");
	t->thread_ts = xstrdup(ui ? SESSION : "1700.000100");
	t->agent = xstrdup("tracer");
	t->source = xstrdup(ui ? "ui" : "slack");
	t->attempt = 1;
}

/* Field f of stream entry e (an [id, [f, v, …]] reply), or "" when absent. */
static const char *field(const redisReply *e, const char *f)
{
	const redisReply *kv = e->element[1];

	for (size_t j = 0; j + 1 < kv->elements; j += 2)
		if (!strcmp(kv->element[j]->str, f))
			return kv->element[j + 1]->str;
	return "";
}

TEST(ui_trace, model_and_tool_steps_in_order_with_excerpts_tokens_and_agent)
{
	struct setup s;
	struct task t;
	struct err e = {0};
	redisReply *r = NULL;
	const redisReply *tr[3] = {NULL, NULL, NULL};
	const redisReply *ph = NULL, *ans = NULL;
	size_t ntr = 0, ans_at = 0, last_tr = 0;
	const char *out;
	size_t len;

	CHECK(setup_env(&s, NULL) == 0);
	question(&t, "ui:trace01", 1);
	CHECK_INT_EQ(handler_run(&s.fe.w, &t, &e), 0);
	CHECK_INT_EQ(s.sc.chats, 2);
	CHECK_INT_EQ(s.sc.slack, 0);
	r = rds_cmd(s.fe.w.r, NULL, "XRANGE ui:" SESSION " - +");
	CHECK(r && r->type == REDIS_REPLY_ARRAY);
	for (size_t i = 0; i < r->elements; i++) {
		const char *kind = field(r->element[i], "kind");
		if (!strcmp(kind, "placeholder"))
			ph = r->element[i];
		else if (!strcmp(kind, "answer"))
			ans = r->element[i], ans_at = i;
		else if (!strcmp(kind, "trace") && ntr < 3)
			tr[ntr++] = r->element[i], last_tr = i;
	}
	CHECK(ph && ans);
	CHECK_INT_EQ(ntr, 3);
	CHECK(last_tr < ans_at); /* every step is on the stream before the answer */
	CHECK_STR_EQ(field(ph, "agent"), "tracer");
	CHECK_STR_EQ(field(ph, "agent_name"), "Tracer <T>");
	CHECK_STR_EQ(field(ans, "agent"), "tracer");
	CHECK_STR_EQ(field(ans, "agent_name"), "Tracer <T>");
	for (size_t i = 0; i < 3; i++) {
		char want[8];
		snprintf(want, sizeof(want), "%zu", i + 1);
		CHECK_STR_EQ(field(tr[i], "step"), want);
		CHECK_STR_EQ(field(tr[i], "ref"), ph->element[0]->str);
		CHECK_STR_EQ(field(tr[i], "ok"), "1");
		CHECK(strtol(field(tr[i], "ms"), NULL, 10) >= 0 && *field(tr[i], "ms"));
	}
	/* 1: the model asks for the tool */
	CHECK_STR_EQ(field(tr[0], "type"), "model");
	CHECK_STR_EQ(field(tr[0], "name"), "model-t");
	CHECK_STR_EQ(field(tr[0], "prompt_tokens"), "21");
	CHECK_STR_EQ(field(tr[0], "completion_tokens"), "5");
	CHECK_STR_EQ(field(tr[0], "input"), "2 messages; tools offered: test_trace_tool\n"
					    "last message (user): How do I rotate the secret?");
	CHECK_STR_EQ(field(tr[0], "output"), "calls test_trace_tool {\"query\":\"rotate <b>\"}");
	/* 2: the tool, with its arguments and the start of its result */
	CHECK_STR_EQ(field(tr[1], "type"), "tool");
	CHECK_STR_EQ(field(tr[1], "name"), "test_trace_tool");
	CHECK_STR_EQ(field(tr[1], "input"), "{\"query\":\"rotate <b>\"}");
	CHECK_STR_EQ(field(tr[1], "prompt_tokens"), "0");
	out = field(tr[1], "output");
	len = strlen(out);
	CHECK(!strncmp(out, "{\"rr\":\"\xc3\xa9", 9));
	/* cut at 1,499 (not inside the "é" at 1,499-1,500), then "…": valid UTF-8 */
	CHECK_INT_EQ(len, 1499 + strlen("…"));
	CHECK(utf8_valid(out, len));
	CHECK_STR_EQ(out + 1499, "…");
	CHECK_STR_EQ(field(tr[1], "output_bytes"), "2426");
	/* 3: the model answers */
	CHECK_STR_EQ(field(tr[2], "type"), "model");
	CHECK_STR_EQ(field(tr[2], "output"), "Rotate it in **settings**.");
	CHECK_STR_EQ(field(tr[2], "prompt_tokens"), "30");
	CHECK_STR_EQ(field(tr[2], "completion_tokens"), "6");
	CHECK_STR_CONTAINS(field(tr[2], "input"), "4 messages; tools offered: test_trace_tool\n"
						  "last message (tool): {\"rr\":\"");
	freeReplyObject(r);
	task_release(&t);
	fake_env_release(&s.fe);
}

TEST(ui_trace, slack_questions_write_no_trace)
{
	struct setup s;
	struct task t;
	struct err e = {0};
	redisReply *r;

	CHECK(setup_env(&s, NULL) == 0);
	question(&t, "EvTrace1", 0);
	CHECK_INT_EQ(handler_run(&s.fe.w, &t, &e), 0);
	CHECK_INT_EQ(s.sc.chats, 2);
	CHECK(s.sc.slack >= 2); /* the placeholder, then at least the answer */
	r = rds_cmd(s.fe.w.r, NULL, "KEYS ui:*");
	CHECK(r && r->type == REDIS_REPLY_ARRAY);
	CHECK_INT_EQ(r->elements, 0);
	freeReplyObject(r);
	task_release(&t);
	fake_env_release(&s.fe);
}

TEST(ui_trace, a_refused_question_gets_a_notice_naming_its_task)
{
	struct setup s;
	struct task t1, t2;
	struct err e = {0};
	redisReply *r;
	const redisReply *last;

	CHECK(setup_env(&s, "ANSWERS_PER_USER_HOUR=1") == 0);
	question(&t1, "ui:limit01", 1);
	question(&t2, "ui:limit02", 1);
	CHECK_INT_EQ(handler_run(&s.fe.w, &t1, &e), 0);
	CHECK_INT_EQ(handler_run(&s.fe.w, &t2, &e), 0);
	CHECK_INT_EQ(s.sc.chats, 2); /* only the first was answered */
	r = rds_cmd(s.fe.w.r, NULL, "XRANGE ui:" SESSION " - +");
	CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements > 0);
	last = r->element[r->elements - 1];
	/* no placeholder for the refused one: the page finds its question by the task id */
	CHECK_STR_EQ(field(last, "kind"), "notice");
	CHECK_STR_EQ(field(last, "task_id"), "ui:limit02");
	CHECK_STR_EQ(field(last, "ref"), "");
	CHECK_STR_EQ(field(last, "question"), "How do I rotate the secret?");
	CHECK(strlen(field(last, "text")) > 10);
	freeReplyObject(r);
	task_release(&t1);
	task_release(&t2);
	fake_env_release(&s.fe);
}
