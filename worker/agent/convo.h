/*
 * convo.h - what the agent loop asks of conversation memory: thread
 * history and long-term memories around each answer (docs/architecture.md,
 * "Memory and history").
 *
 * Message order sent to the model: system (agent instructions), then the
 * "## Memories" context message from convo_memories(), then the thread
 * history from convo_history(), then the question.
 *
 * Implemented over memory/history.h and memory/memory.h; every function uses the scope from
 * the task (struct tool_scope), never anything the model said. Failures are
 * reported but the agent may answer without history or memories (logged).
 * Thread-safe with one worker_ctx per thread.
 */
#ifndef HAINK_CONVO_H
#define HAINK_CONVO_H

#include <jansson.h>
#include "agent/tools.h"

struct mem_hits;

/*
 * Appends to messages (a JSON array) the thread's stored history, oldest
 * first, as Chat Completions messages ({"role","content"} and tool call /
 * tool result pairs kept together). Returns 0 or -1 with err.
 */
int convo_history(struct worker_ctx *w, const struct tool_scope *scope, json_t *messages,
		  struct err *err);

/*
 * Retrieves the top MEMORY_TOP_K memories of the scope relevant to question
 * and, when there are any, appends one {"role":"system","content":"## Memories\n- …"}
 * message to messages and records each in trace. Returns 0 or -1 with err.
 */
int convo_memories(struct worker_ctx *w, const struct tool_scope *scope, const char *question,
		   json_t *messages, struct tool_trace *trace, struct err *err);

/*
 * Saves one answered turn: appends the question, the tool call/result pairs
 * worth keeping (turn_messages: the assistant/tool messages of this run, may
 * be NULL) and the answer to the thread history in one Lua script
 * (history_append(): trimmed to CHAT_MAX_MESSAGES, TTL CHAT_TTL_S), and, with MEMORY_STORE_TURNS,
 * stores the turn as a long-term memory. Returns 0 or -1 with err.
 */
int convo_save_turn(struct worker_ctx *w, const struct tool_scope *scope, const char *question,
		    json_t *turn_messages, const char *answer, struct err *err);

/*
 * Long-term memory for a task (memory/memory.h underneath), used by the loop
 * and by tool_memory.c: the scope comes from sc (app, agent id, user; the thread too with
 * MEMORY_SCOPE=thread), the query is embedded with embed_texts() (a failed embedding degrades to a
 * text-only search, logged). top_k <= 0 means MEMORY_TOP_K.
 */
int convo_recall(struct worker_ctx *w, const struct tool_scope *sc, const char *query, int top_k,
		 struct mem_hits *out, struct err *err);
/* Embeds and stores content as kind in sc's scope. Returns 0 or -1 with err. */
int convo_remember(struct worker_ctx *w, const struct tool_scope *sc, const char *kind,
		   const char *content, char **id_out, struct err *err);

#endif
