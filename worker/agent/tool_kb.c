/*
 * tool_kb.c - the search_knowledge_base tool: kb_search() over the shared
 * knowledge base, results as JSON for the model, sources into the trace.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "agent/tools.h"
#include "kb/kb.h"

#include <jansson.h>
#include <stdlib.h>

#define TOOL_KB_MAX_K 20

/* The verbs that answer (run, ask) open env->kb before any task runs (cli.h). */
static struct kb *kb_of(struct worker_ctx *w, struct err *err)
{
	if (!w->env->kb)
		err_set(err, ERR_NOT_FOUND, "knowledge base unavailable");
	return w->env->kb;
}

static int kb_run(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err)
{
	json_t *q = json_object_get(args, "query"), *jk = json_object_get(args, "k");
	int k = c->w->env->cfg->kb_top_k;
	struct kb_result res = {0};
	struct kb *kb;
	json_t *results, *root;
	char *text;

	if (!json_is_string(q) || !*json_string_value(q)) {
		err_set(err, ERR_INVALID, "argument 'query' must be a non-empty string");
		return -1;
	}
	if (json_is_integer(jk))
		k = (int)json_integer_value(jk);
	if (k < 1)
		k = 1;
	if (k > TOOL_KB_MAX_K)
		k = TOOL_KB_MAX_K;
	kb = kb_of(c->w, err);
	if (!kb)
		return -1;
	if (kb_search(kb, c->w, json_string_value(q), k, &res, err) < 0)
		return -1;
	results = json_array();
	for (size_t i = 0; i < res.n; i++) {
		struct kb_hit *h = &res.hits[i];

		json_array_append_new(
		    results, json_pack("{s:s, s:s, s:f, s:s}", "title", h->title ? h->title : "",
				       "source", h->source ? h->source : "", "score", h->score,
				       "content", h->content ? h->content : ""));
		tool_trace_add_source(c->trace, h->title, h->source, h->score);
	}
	root = json_pack("{s:o}", "results", results);
	text = json_dumps(root, JSON_COMPACT);
	buf_adds(out, text);
	free(text);
	json_decref(root);
	kb_result_release(&res);
	return 0;
}

static const struct tool_def tool_kb = {
    "search_knowledge_base",
    "Search the team's knowledge base (documentation, runbooks, FAQs) for passages "
    "relevant to a query. Returns the best matching passages with their title, source "
    "link and similarity score.",
    "{\"type\":\"object\",\"properties\":{"
    "\"query\":{\"type\":\"string\",\"description\":\"What to look for, in natural "
    "language\"},"
    "\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,\"description\":\"How many "
    "passages to return (default 5)\"}},"
    "\"required\":[\"query\"]}",
    kb_run,
};

TOOL_REGISTER(tool_kb)
