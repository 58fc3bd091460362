/*
 * tool_memory.c - the search_memory(query) and remember(text) tools.
 *
 * The scope (APP_ID, agent, Slack user, thread) comes from c->scope, which
 * the runtime filled from the task. Any "user", "agent" or other key the
 * model puts in the arguments is ignored: a model cannot read or write
 * another user's or another agent's memories.
 */
#include "common.h"
#include "agent/tools.h"
#include "agent/convo.h"
#include "memory/memory.h"
#include "memory/history.h"

#include <stdlib.h>

static const char *arg_text(json_t *args, const char *name)
{
	const char *s = json_string_value(json_object_get(args, name));

	return s && *s ? s : NULL;
}

static int search_memory_run(struct tool_call_ctx *c, json_t *args, struct buf *out,
			     struct err *err)
{
	const char *query = arg_text(args, "query");
	struct mem_hits hits = {0};
	json_t *res, *arr;
	char *text;

	if (!query) {
		err_set(err, ERR_INVALID, "search_memory needs a non-empty 'query' string");
		return -1;
	}
	if (!c->scope->user || !*c->scope->user) {
		buf_adds(out, "{\"memories\":[],\"note\":\"no user for this conversation\"}");
		return 0;
	}
	if (convo_recall(c->w, c->scope, query, 0, &hits, err) < 0) {
		mem_hits_release(&hits);
		err_set(err, err ? err->code : ERR_REDIS, "memory search failed, try again later");
		return -1;
	}
	res = json_object();
	arr = json_array();
	for (size_t i = 0; i < hits.n; i++) {
		json_t *m = json_object(), *s = json_string(hits.v[i].content);
		char iso[25];

		clock_utc_iso(hits.v[i].created_ms, iso);
		json_object_set_new(m, "content", s ? s : json_string(""));
		json_object_set_new(m, "kind", json_string(hits.v[i].kind));
		json_object_set_new(m, "created", json_string(iso));
		json_object_set_new(m, "score",
				    json_real((double)(int)(hits.v[i].score * 1000) / 1000));
		json_array_append_new(arr, m);
		if (c->trace)
			tool_trace_add_memory(c->trace, hits.v[i].content);
	}
	json_object_set_new(res, "memories", arr);
	text = json_dumps(res, JSON_COMPACT);
	buf_adds(out, text ? text : "{\"memories\":[]}");
	free(text);
	json_decref(res);
	mem_hits_release(&hits);
	return 0;
}

static int remember_run(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err)
{
	const char *text = arg_text(args, "text");
	char *id = NULL;

	if (!text) {
		err_set(err, ERR_INVALID, "remember needs a non-empty 'text' string");
		return -1;
	}
	if (!c->scope->user || !*c->scope->user) {
		err_set(err, ERR_INVALID, "there is no user to remember this for");
		return -1;
	}
	if (convo_remember(c->w, c->scope, "fact", text, &id, err) < 0) {
		err_set(err, err ? err->code : ERR_REDIS,
			"could not save the memory, try again later");
		return -1;
	}
	buf_addf(out, "{\"ok\":true,\"id\":\"%s\",\"stored\":", id);
	{
		char *cut = utf8_cut(text, MEM_CONTENT_MAX);
		buf_add_json_str(out, cut, strlen(cut));
		free(cut);
	}
	buf_addch(out, '}');
	free(id);
	return 0;
}

static const struct tool_def search_memory_def = {
    "search_memory",
    "Search what you remember about the user you are talking to (their preferences, "
    "facts they told you, earlier conversations with you). Returns the most relevant "
    "memories, best first.",
    "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\","
    "\"description\":\"What to look for, in a few words\"}},\"required\":[\"query\"]}",
    search_memory_run,
};

static const struct tool_def remember_def = {
    "remember",
    "Save a durable fact about the user you are talking to (a preference, their role, "
    "something they asked you to keep in mind) so you can use it in later "
    "conversations. Write it as one short self-contained sentence.",
    "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\","
    "\"description\":\"The fact to remember, e.g. 'Prefers answers in French'\"}},"
    "\"required\":[\"text\"]}",
    remember_run,
};

TOOL_REGISTER(search_memory_def)
TOOL_REGISTER(remember_def)
