/*
 * agents.h - the agents of AGENTS_FILE and channel routing.
 *
 * An agent is an id, a display name, instructions (the system prompt), the
 * tools it may use, an optional chat model, the Slack channels routed to it,
 * and, for the Dev UI's start screen, an optional description and example
 * prompts. The API routes each event's channel to an agent id; the worker loads
 * that agent's instructions, tools and model. Without a file there is one
 * built-in agent, "default", with every tool. Loaded once at start; read-only
 * and shared by all threads afterwards.
 *
 * File format (JSON): {"agents": [{"id": "support", "name": "Support",
 *   "instructions": "…", "tools": ["search_knowledge_base", …],
 *   "model": "gpt-4o-mini", "channels": ["C0123"], "default": true,
 *   "description": "Answers product questions from the docs.",
 *   "examples": ["How do I rotate the signing secret?"]}, …]}
 *
 * description: at most AGENTS_DESCRIPTION_MAX bytes; examples: at most
 * AGENTS_EXAMPLES_MAX prompts of at most AGENTS_EXAMPLE_MAX bytes each (a
 * prompt the Dev UI can send as a question). Both are shown, never sent to
 * the model.
 */
#ifndef HAINK_AGENTS_H
#define HAINK_AGENTS_H

#include <stddef.h>

struct err;

#define AGENTS_DEFAULT_ID      "default"
#define AGENTS_DESCRIPTION_MAX 500
#define AGENTS_EXAMPLES_MAX    6
#define AGENTS_EXAMPLE_MAX     300

struct agent {
	char *id;
	char *name;
	char *instructions;
	char *model; /* NULL: CHAT_MODEL */
	char **tools;
	size_t ntools;
	char **channels;
	size_t nchannels;
	char *description; /* NULL: none */
	char **examples;
	size_t nexamples;
};

struct agents {
	struct agent *v;
	size_t n;
	size_t default_idx;
};

/* Tool names an agents file may list. */
extern const char *const agents_known_tools[];

/*
 * Loads path (NULL or "" = the built-in default agent). Returns 0, or -1 with
 * ERR_INVALID / ERR_IO / ERR_PARSE and a one-line message naming the file and
 * the field ("agents file 'x.json': agents[1].tools[0]: unknown tool 'foo'").
 * Release with agents_release() in either case.
 */
int agents_load(struct agents *a, const char *path, struct err *err);
/* Same, from a JSON text (name is used in messages). */
int agents_parse(struct agents *a, const char *json, const char *name, struct err *err);
void agents_release(struct agents *a);

/* Returns the agent for channel (borrowed): the one listing it, else the default. */
const struct agent *agents_route(const struct agents *a, const char *channel);
/* Returns the agent with id (borrowed), or NULL. */
const struct agent *agents_find(const struct agents *a, const char *id);
/* The agent named id, else the default one; NULL only when a is NULL or empty. */
const struct agent *agents_find_or_default(const struct agents *a, const char *id);
/* Returns 1 when s[0..n) is a valid agent id: 1-32 of a-z 0-9 _ -. */
int agents_valid_id(const char *s, size_t n);
/* Returns 1 when ag may use tool. */
int agent_has_tool(const struct agent *ag, const char *tool);

#endif
