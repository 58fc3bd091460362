/* The offline extractive responder (worker/agent/offline.c) on a small fixture. */
#include "common.h"
#include "agent/offline.h"
#include "queue/worker_ctx.h"
#include "agent/agent.h"
#include "agent/tools.h"

#include <jansson.h>
#include <stdlib.h>

#include "../harness/test.h"

static json_t *fixture(void)
{
	return json_pack(
	    "{s:[{s:s, s:s, s:f, s:s}, {s:s, s:s, s:f, s:s}, {s:s, s:s, s:f, s:s}]}", "results",
	    "title", "Rotation > Signing secret", "source",
	    "https://docs.example/kb/rotation#signing-secret", "score", 0.82, "content",
	    "# Signing secret\n\nTo rotate the signing secret, open the app settings and "
	    "click Regenerate. Update SLACK_SIGNING_SECRET in every deployment before the old "
	    "secret expires. The weather is nice today.",
	    "title", "Billing", "source", "docs/billing.md", "score", 0.40, "content",
	    "Invoices are sent monthly. Payment is due in 30 days.", "title", "Scaling", "source",
	    "https://docs.example/kb/scaling", "score", 0.30, "content",
	    "Workers scale on stream lag. A signing key is never stored in the worker image.");
}

TEST(offline, answers_from_matching_sentences_with_citations)
{
	json_t *res = fixture();
	char *a = offline_compose("How do I rotate the signing secret?", res);
	char *b = offline_compose("How do I rotate the signing secret?", res);

	CHECK(!strncmp(a, OFFLINE_LABEL "\n", strlen(OFFLINE_LABEL) + 1));
	CHECK_STR_CONTAINS(a, "To rotate the signing secret, open the app settings and click "
			      "Regenerate.");
	CHECK_STR_CONTAINS(a, "Update SLACK_SIGNING_SECRET in every deployment");
	CHECK_STR_CONTAINS(a, "[Rotation > Signing secret](https://docs.example/kb/rotation#"
			      "signing-secret)");
	CHECK(!strstr(a, "weather"));
	CHECK(!strstr(a, "Invoices"));
	/* deterministic */
	CHECK_STR_EQ(a, b);
	free(a);
	free(b);
	json_decref(res);
}

TEST(offline, path_sources_are_cited_plainly)
{
	json_t *res = fixture();
	char *a = offline_compose("When are invoices and payment due?", res);

	CHECK_STR_CONTAINS(a, "Payment is due in 30 days.");
	CHECK_STR_CONTAINS(a, "Billing, `docs/billing.md`");
	free(a);
	json_decref(res);
}

TEST(offline, nothing_relevant_is_said_politely)
{
	json_t *res = fixture();
	json_t *empty = json_pack("{s:[]}", "results");
	char *a = offline_compose("Who won the football match?", res);
	char *b = offline_compose("rotate signing secret", empty);
	char *c = offline_compose("anything", NULL);

	CHECK(!strncmp(a, OFFLINE_LABEL, strlen(OFFLINE_LABEL)));
	CHECK_STR_CONTAINS(a, "couldn't find anything");
	CHECK_STR_CONTAINS(b, "couldn't find anything");
	CHECK_STR_CONTAINS(c, "couldn't find anything");
	free(a);
	free(b);
	free(c);
	json_decref(res);
	json_decref(empty);
}

TEST(offline, hard_wrapped_sentences_stay_whole)
{
	json_t *res = json_pack("{s:[{s:s, s:s, s:f, s:s}]}", "results", "title", "Rotation",
				"source", "https://docs.example/r", "score", 0.9, "content",
				"# Rotating\n\nTo rotate the secret, open the settings,\nclick "
				"Regenerate and\nsave it.\n- A list item about rotation.");
	char *a = offline_compose("how to rotate the secret", res);

	CHECK_STR_CONTAINS(a, "- To rotate the secret, open the settings, click Regenerate and "
			      "save it.\n");
	CHECK_STR_CONTAINS(a, "- A list item about rotation.");
	free(a);
	json_decref(res);
}

TEST(offline, stemming_matches_word_forms)
{
	json_t *res = json_pack("{s:[{s:s, s:s, s:f, s:s}]}", "results", "title", "Incidents",
				"source", "docs/incidents.md", "score", 0.5, "content",
				"When the worker crashed last week, the queue kept every task.");
	char *a = offline_compose("What happens when a worker crashes?", res);

	CHECK_STR_CONTAINS(a, "- When the worker crashed last week, the queue kept every task.");
	free(a);
	json_decref(res);
}

TEST(offline, passages_sharing_few_words_are_not_an_answer)
{
	json_t *res = json_pack("{s:[{s:s, s:s, s:f, s:s}]}", "results", "title", "Overview",
				"source", "docs/overview.md", "score", 0.5, "content",
				"Haink has support for Slack threads and slash commands.");
	char *a = offline_compose("Does Haink support Microsoft Teams?", res);
	char *b = offline_compose("Does Haink support slash commands?", res);

	CHECK_STR_CONTAINS(a, "couldn't find anything");
	CHECK_STR_CONTAINS(b, "- Haink has support for Slack threads and slash commands.");
	free(a);
	free(b);
	json_decref(res);
}

static int calls;
static enum err_code fail_code;
static char remembered[128];

static int failing_tool_run(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err)
{
	(void)c;
	(void)args;
	(void)out;
	calls++;
	err_set(err, fail_code, "tool failed");
	return -1;
}

static int remember_run(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err)
{
	(void)c;
	(void)err;
	calls++;
	snprintf(remembered, sizeof(remembered), "%s",
		 json_string_value(json_object_get(args, "text")));
	buf_adds(out, "{\"ok\":true}");
	return 0;
}

static int memory_run(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err)
{
	(void)c;
	(void)args;
	(void)err;
	buf_adds(out, "{\"memories\":[{\"content\":\"My team is on the Enterprise plan\",\"kind\":"
		      "\"fact\"},{\"content\":\"I like short answers\",\"kind\":\"fact\"}]}");
	return 0;
}

static int kb_run(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err)
{
	(void)c;
	(void)args;
	(void)err;
	buf_adds(out, "{\"results\":[]}");
	return 0;
}

static const struct tool_def failing_tool = {"x", "test", "{}", failing_tool_run};
static const struct tool_def remember_tool = {"remember", "test", "{}", remember_run};
static const struct tool_def memory_tool = {"search_memory", "test", "{}", memory_run};
static const struct tool_def kb_tool = {"search_knowledge_base", "test", "{}", kb_run};

static const struct tool_def *find_failing(const char *name)
{
	(void)name;
	return &failing_tool;
}

static const struct tool_def *find_working(const char *name)
{
	if (!strcmp(name, "remember"))
		return &remember_tool;
	if (!strcmp(name, "search_memory"))
		return &memory_tool;
	return &kb_tool;
}

struct offline_env {
	struct config cfg;
	struct worker_env env;
	struct worker_ctx w;
	struct agent_run r;
};

static void env_init(struct offline_env *o, const char *question)
{
	memset(o, 0, sizeof(*o));
	o->cfg.kb_top_k = 3;
	o->cfg.memory_top_k = 5;
	o->env.cfg = &o->cfg;
	o->w.env = &o->env;
	agent_run_init(&o->r);
	o->r.question = question;
	o->r.scope.user = "U1";
	o->r.scope.team = "T1";
}

TEST(offline, transient_failures_are_retryable_not_an_answer)
{
	const char *questions[] = {"How do I rotate the signing secret?",
				   "remember that my team is on the Enterprise plan"};

	for (size_t i = 0; i < 2; i++) {
		struct offline_env o;
		struct err e = {0};

		env_init(&o, questions[i]);
		fail_code = ERR_REDIS;
		calls = 0;
		CHECK_INT_EQ(offline_answer_with(&o.w, &o.r, find_failing, &e), -1);
		CHECK_INT_EQ(calls, 1); /* the first failing call stops the run */
		CHECK(err_retryable(e.code));
		CHECK(o.r.answer == NULL);
		/* a permanent failure still answers */
		fail_code = ERR_NOT_FOUND;
		err_clear(&e);
		CHECK_INT_EQ(offline_answer_with(&o.w, &o.r, find_failing, &e), 0);
		CHECK(o.r.answer != NULL);
		agent_run_release(&o.r);
	}
}

TEST(offline, remember_requests_are_recognised)
{
	char *a = offline_remember_request("Remember that I deploy on Fridays.");
	char *b = offline_remember_request("  please remember: my plan is Pro");
	char *c = offline_remember_request("remember my timezone is UTC");
	char *d = offline_remember_request("Do you remember my plan?");
	char *e = offline_remember_request("remembering things");

	CHECK_STR_EQ(a, "I deploy on Fridays");
	CHECK_STR_EQ(b, "my plan is Pro");
	CHECK_STR_EQ(c, "my timezone is UTC");
	CHECK(d == NULL);
	CHECK(e == NULL);
	free(a);
	free(b);
	free(c);
}

TEST(offline, remember_stores_the_fact_with_the_tool)
{
	struct offline_env o;
	struct err e = {0};

	env_init(&o, "remember that my team is on the Enterprise plan");
	calls = 0;
	remembered[0] = '\0';
	CHECK_INT_EQ(offline_answer_with(&o.w, &o.r, find_working, &e), 0);
	CHECK_INT_EQ(calls, 1);
	CHECK_STR_EQ(remembered, "my team is on the Enterprise plan");
	CHECK_STR_CONTAINS(o.r.answer, "I will remember: my team is on the Enterprise plan");
	agent_run_release(&o.r);
}

TEST(offline, memories_sharing_a_question_word_are_quoted_and_traced)
{
	struct offline_env o;
	struct err e = {0};

	env_init(&o, "Which plan is my team on?");
	CHECK_INT_EQ(offline_answer_with(&o.w, &o.r, find_working, &e), 0);
	CHECK_STR_CONTAINS(o.r.answer, "- My team is on the Enterprise plan");
	CHECK(!strstr(o.r.answer, "short answers"));
	CHECK(!strstr(o.r.answer, "couldn't find anything"));
	CHECK_INT_EQ((int)o.r.trace.nmemories, 1);
	CHECK_STR_EQ(o.r.trace.memories[0], "My team is on the Enterprise plan");
	agent_run_release(&o.r);
}
