/* The offline extractive responder (worker/offline.c) on a small fixture. */
#include "common.h"
#include "offline.h"
#include "wctx.h"
#include "agent.h"
#include "tools.h"

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

static int failing_kb(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err)
{
	(void)c;
	(void)args;
	(void)out;
	calls++;
	err_set(err, fail_code, "kb failed");
	return -1;
}

static const struct tool_def failing_tool = {"search_knowledge_base", "test", "{}", failing_kb};

TEST(offline, transient_search_failure_is_retryable_not_an_answer)
{
	struct config cfg = {0};
	struct worker_env env = {0};
	struct wctx w = {0};
	struct agent_run r;
	struct err e = {0};

	cfg.kb_top_k = 3;
	env.cfg = &cfg;
	w.env = &env;
	agent_run_init(&r);
	r.question = "How do I rotate the signing secret?";
	fail_code = ERR_REDIS;
	calls = 0;
	CHECK_INT_EQ(offline_answer_with(&w, &r, &failing_tool, &e), -1);
	CHECK_INT_EQ(calls, 1);
	CHECK(err_retryable(e.code));
	CHECK(r.answer == NULL);
	/* a permanent failure still answers politely */
	fail_code = ERR_NOT_FOUND;
	err_clear(&e);
	CHECK_INT_EQ(offline_answer_with(&w, &r, &failing_tool, &e), 0);
	CHECK_STR_CONTAINS(r.answer, "couldn't find anything");
	agent_run_release(&r);
}
