/*
 * tools.h - the agent's tools: one registry (tools.c), one calling
 * convention. The agent loop (agent.c) offers the model the registered tools
 * the task's agent allows, and runs the calls it makes; adding a tool means
 * adding a file with a struct tool_def and TOOL_REGISTER(), never touching
 * the loop.
 *
 * Scope (app, team, channel, user, thread, agent) comes from the task, never
 * from model arguments: a tool that reads or writes per-user data uses
 * c->scope only, and ignores any user id the model might pass.
 *
 * Tools record what they used in c->trace, so the answer can cite sources
 * and the Dev UI can show memories. Thread-safe: called from task threads
 * with their own worker_ctx.
 */
#ifndef HAINK_TOOLS_H
#define HAINK_TOOLS_H

#include <jansson.h>
#include "common.h"
#include "slack/source.h"

struct worker_ctx;

struct tool_scope {
	const char *app; /* APP_ID */
	const char *team;
	const char *channel;
	const char *user;
	const char *thread_ts;
	const struct agent *agent;
};

/* What the tools of one agent run used: sources to cite, memories shown. */
struct tool_trace {
	struct tool_source *sources;
	size_t nsources, cap_sources;
	char **memories;
	size_t nmemories, cap_memories;
	char **tools_used; /* distinct tool names in call order */
	size_t ntools, cap_tools;
	int web_searches;
};

void tool_trace_init(struct tool_trace *t);
void tool_trace_release(struct tool_trace *t);
/* Adds a source unless one with the same url is there (keeps the best score). */
void tool_trace_add_source(struct tool_trace *t, const char *title, const char *url, double score);
void tool_trace_add_memory(struct tool_trace *t, const char *content);
void tool_trace_add_tool(struct tool_trace *t, const char *name);

struct tool_call_ctx {
	struct worker_ctx *w;
	const struct tool_scope *scope;
	struct tool_trace *trace;
};

struct tool_def {
	const char *name;
	const char *description;
	const char *parameters; /* JSON Schema of the arguments, as JSON text */
	/*
	 * Runs the tool with the model's parsed arguments (borrowed). Appends
	 * the result for the model (JSON text) to out and returns 0; or returns
	 * -1 with err, and the loop tells the model the error as the result
	 * (err->msg is written for the model: no secrets, no stack traces).
	 */
	int (*run)(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err);
};

/*
 * Registers a tool (borrowed; a static definition). Called at load time by
 * TOOL_REGISTER() in the tool's own file, so a new tool is one new file.
 */
void tools_register(const struct tool_def *def);
#define TOOL_REGISTER(def)                                                                         \
	__attribute__((constructor)) static void tool_register_##def(void)                         \
	{                                                                                          \
		tools_register(&def);                                                              \
	}

/* Returns the tool named name (borrowed, static), or NULL. */
const struct tool_def *tools_find(const char *name);
/* Returns the i-th registered tool (in name order), or NULL past the end. */
const struct tool_def *tools_at(size_t i);

#endif
