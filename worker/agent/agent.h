/*
 * agent.h - the agent loop (docs/architecture.md, "The agent"): the messages sent to
 * the model, tool execution, the iteration cap and the graceful answer.
 *
 * Messages: system (the agent's instructions plus formatting guidance), the
 * "## Memories" message (convo_memories), the thread history (convo_history),
 * the question. Then up to AGENT_MAX_ITERATIONS model calls: tool calls
 * (several per turn) run through the registry (tools.h) with the task's
 * scope, their results go back as tool messages, and progress is shown
 * through the reply sink, and each model call and tool call is reported to
 * the sink's trace (reply_trace()); a reply without tool calls is the answer. At the
 * cap the model is asked once more, without tools, to answer from what was
 * gathered; failing that the answer is built from the collected sources.
 * The answer is never empty. With LLM_PROVIDER=offline the extractive
 * responder (offline.h, registered as a struct agent_responder) answers
 * instead of the model.
 *
 * Called by answer.c (tasks) and agent_cli.c (`ask`). Thread-safe with one
 * worker_ctx per thread.
 */
#ifndef HAINK_AGENT_H
#define HAINK_AGENT_H

#include <jansson.h>
#include <stdint.h>
#include "agent/tools.h"

struct worker_ctx;
struct err;
struct buf;
struct reply_sink;
struct http_retry;

struct agent_run {
	/* inputs (borrowed) */
	const struct agent *agent;
	const char *question;
	struct tool_scope scope;
	struct reply_sink *sink;	    /* progress; NULL for none */
	const struct http_retry *llm_retry; /* NULL: the LLM client's default */
	char *viewing; /* owned; the channel the user views (Slack assistant threads), or NULL */
	/* outputs (owned by the run) */
	char *answer; /* Markdown, never empty after success */
	char *model;
	long prompt_tokens;
	long completion_tokens;
	int iterations; /* model calls made */
	int exhausted;	/* 1 when the cap was reached */
	struct tool_trace trace;
	json_t *turn; /* this run's tool-call and tool-result messages, in order (not the answer) */
};

void agent_run_init(struct agent_run *r);
void agent_run_release(struct agent_run *r);

/*
 * Answers r->question. Returns 0 with r->answer set, or -1 with err when
 * the model could not be reached (retryable codes for 429/5xx/timeouts;
 * ERR_INVALID / ERR_AUTH for a rejected request). Convo failures are logged,
 * not fatal.
 */
int agent_answer(struct worker_ctx *w, struct agent_run *r, struct err *err);

/*
 * Runs one tool call for the run: checks the tool exists and the agent may
 * use it, parses arguments (JSON text), runs it with r->scope and r->trace,
 * counts haink_tool_calls_total / tool_seconds. Appends the result for the
 * model to out: the tool's JSON, or {"error":"…"} when anything failed
 * (never a crash). The result is cut to max bytes on a character boundary
 * ("[result truncated]" follows; SIZE_MAX = no cut). Returns 1 when the tool
 * succeeded, 0 otherwise, with the tool's own error in *why (may be NULL).
 */
int agent_call_tool_max(struct worker_ctx *w, struct agent_run *r, const char *name,
			const char *arguments, struct buf *out, size_t max, struct err *why);
/* agent_call_tool_max() with the cut for the model (24 KB) and no *why. */
int agent_call_tool(struct worker_ctx *w, struct agent_run *r, const char *name,
		    const char *arguments, struct buf *out);

/*
 * Shows one tool call in the run's trace (reply_trace() on r->sink): its
 * arguments (JSON text), its result (len bytes), success and duration. The
 * loop calls it for every tool call; the offline responder for its own.
 */
void agent_trace_tool(struct agent_run *r, const char *name, const char *arguments,
		      const char *result, size_t len, int ok, int64_t ms);

/* The progress line shown while tool name runs ("Searching the knowledge base…"). */
const char *agent_progress_text(const char *tool);

/* Returns an owned, non-empty answer built from what the run gathered. */
char *agent_fallback_answer(const struct agent_run *r);

/*
 * The tool message answering call_id with content[0..len): always a valid
 * message (ill-formed UTF-8 replaced by U+FFFD, NUL bytes by spaces, or an
 * {"error": ...} content when nothing else encodes). Returns owned; json_decref().
 */
json_t *agent_tool_message(const char *call_id, const char *content, size_t len);

/*
 * A responder answers in place of the model for an LLM_PROVIDER other than
 * openai: offline.c registers the extractive one for LLM_OFFLINE, so the
 * loop never includes it. answer() fills r->answer and returns 0, or -1 with
 * err (retryable codes for transient failures); the loop reports it to the
 * trace as one model step.
 */
struct agent_responder {
	int provider;		 /* enum llm_provider */
	const char *model;	 /* shown as the run's model and in the trace */
	const char *trace_input; /* what the trace shows as the step's input */
	int (*answer)(struct worker_ctx *w, struct agent_run *r, struct err *err);
};

#define AGENT_MAX_RESPONDERS 4

/*
 * Registers a responder (borrowed; a static definition) for its provider.
 * Called at load time by AGENT_RESPONDER_REGISTER() in the responder's file.
 */
void agent_register_responder(const struct agent_responder *resp);
#define AGENT_RESPONDER_REGISTER(def)                                                              \
	__attribute__((constructor)) static void agent_responder_register_##def(void)              \
	{                                                                                          \
		agent_register_responder(&def);                                                    \
	}

#endif
