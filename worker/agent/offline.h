/*
 * offline.h - the extractive responder of LLM_PROVIDER=offline: no model,
 * deterministic. It runs search_knowledge_base through the registry (as the
 * model would) with the question, picks the sentences of the top hits that
 * share the most words with the question, and answers in Markdown with
 * citations, labelled as offline. Called by agent.c in place of the model.
 */
#ifndef HAINK_OFFLINE_H
#define HAINK_OFFLINE_H

#include <jansson.h>

struct worker_ctx;
struct err;
struct agent_run;
struct tool_def;

#define OFFLINE_LABEL	      "_(offline mode: extractive answer from the knowledge base)_"
#define OFFLINE_MAX_SENTENCES 4

/*
 * Answers r->question into r->answer. Returns 0 (a polite "not found" when
 * nothing covers the question or the KB is permanently unavailable), or -1
 * with a retryable err when the search failed transiently (Redis down, I/O):
 * the runtime then retries the task as it does for LLM failures.
 */
int offline_answer(struct worker_ctx *w, struct agent_run *r, struct err *err);

/* Looks a tool up by name (tools_find() in production; the test seam). */
typedef const struct tool_def *offline_tool_find_fn(const char *name);

/*
 * offline_answer() with the tools found through find. The run: an explicit
 * "remember X" / "remember that X" stores X with the remember tool and says
 * so; otherwise the thread's history (a short follow-up searches together
 * with the previous question), the user's memories (search_memory; those
 * sharing a question word are quoted and traced as used) and the knowledge
 * base (search_knowledge_base) make the answer.
 */
int offline_answer_with(struct worker_ctx *w, struct agent_run *r, offline_tool_find_fn *find,
			struct err *err);

/* The fact of an explicit "remember X" / "remember that X" request (owned), else NULL. */
char *offline_remember_request(const char *question);

/*
 * The pure part: composes the Markdown answer to question from a
 * search_knowledge_base result ({"results":[{"title","source","score",
 * "content"}]}, borrowed; NULL or malformed = nothing found). Returns owned.
 */
char *offline_compose(const char *question, json_t *kb_result);

#endif
