/*
 * convo.c - the conversation hooks of the agent loop (convo.h): thread
 * history from history.c, long-term memories from memory.c.
 *
 * The history key is chat:<team>:<channel>:<thread_ts> without the agent id:
 * the API routes a channel to exactly one agent, so a Slack thread only ever
 * has one agent. Memories do carry the agent id (memory.h).
 */
#include "common.h"
#include "agent/convo.h"
#include "memory/history.h"
#include "memory/memory.h"
#include "kb/embed.h"
#include "queue/worker_ctx.h"

#include <stdlib.h>

#define CONVO_TURN_Q_MAX 400 /* bytes of the question kept in a turn memory */
#define CONVO_TURN_A_MAX 700 /* bytes of the answer kept in a turn memory */

static int have_thread(const struct tool_scope *s)
{
	return s->team && s->channel && s->thread_ts && *s->thread_ts;
}

int convo_history(struct worker_ctx *w, const struct tool_scope *scope, json_t *messages,
		  struct err *err)
{
	char *key;
	long n;

	if (!have_thread(scope))
		return 0;
	key = keys_chat(scope->team, scope->channel, scope->thread_ts);
	n = history_load(w->r, key, messages, err);
	free(key);
	return n < 0 ? -1 : 0;
}

/* Appends "- <content>" on one line, cut to MEM_LINE_MAX bytes; returns the line start. */
static void add_line(struct buf *b, const char *content)
{
	char *cut = utf8_cut(content, MEM_LINE_MAX);

	buf_adds(b, "\n- ");
	for (char *p = cut; *p; p++)
		buf_addch(b, *p == '\n' || *p == '\r' ? ' ' : *p);
	if (strlen(content) > strlen(cut))
		buf_adds(b, "…");
	free(cut);
}

int convo_memories(struct worker_ctx *w, const struct tool_scope *scope, const char *question,
		   json_t *messages, struct tool_trace *trace, struct err *err)
{
	struct mem_hits hits = {0};
	struct buf b = BUF_INIT;
	int rc = -1;

	if (!scope->user || !*scope->user || w->env->cfg->memory_top_k <= 0)
		return 0;
	if (convo_recall(w, scope, question, 0, &hits, err) < 0)
		goto out;
	rc = 0;
	if (!hits.n)
		goto out;
	buf_adds(&b, "## Memories");
	for (size_t i = 0; i < hits.n; i++) {
		add_line(&b, hits.v[i].content);
		if (trace)
			tool_trace_add_memory(trace, hits.v[i].content);
	}
	{
		json_t *m = json_object(), *s = json_string(b.s);
		json_object_set_new(m, "role", json_string("system"));
		json_object_set_new(m, "content", s ? s : json_string("## Memories"));
		json_array_append_new(messages, m);
	}
out:
	buf_release(&b);
	mem_hits_release(&hits);
	return rc;
}

int convo_save_turn(struct worker_ctx *w, const struct tool_scope *scope, const char *question,
		    json_t *turn_messages, const char *answer, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	int rc = 0;

	if (have_thread(scope)) {
		char *key = keys_chat(scope->team, scope->channel, scope->thread_ts);
		json_t *turn = history_turn(question, turn_messages, answer, clock_wall_ms());
		if (history_append(w->r, key, turn, cfg->chat_max_messages, cfg->chat_ttl_s, err) <
		    0)
			rc = -1;
		json_decref(turn);
		free(key);
	}
	if (cfg->memory_store_turns && scope->user && *scope->user && question && answer) {
		char *q = utf8_cut(question, CONVO_TURN_Q_MAX);
		char *a = utf8_cut(answer, CONVO_TURN_A_MAX);
		char *content = xasprintf("Q: %s / A: %s", q, a);
		struct err e = {0};

		if (convo_remember(w, scope, "turn", content, NULL, &e) < 0) {
			log_kv(LOG_WARN, "cannot store the turn as a memory", "error", e.msg, NULL);
			if (rc == 0)
				*(err ? err : &e) = e;
			rc = -1;
		}
		free(content);
		free(a);
		free(q);
	}
	return rc;
}

/* ---- what the tools and the loop ask of long-term memory ---------------- */

/* s->user is owned (the namespaced user): free it after use. */
static void task_scope(const struct worker_ctx *w, const struct tool_scope *sc, int filter_thread,
		       struct mem_scope *s)
{
	s->app = sc->app ? sc->app : w->env->cfg->app_id;
	s->agent = sc->agent ? sc->agent->id : AGENTS_DEFAULT_ID;
	/* the source namespace (Slack team, or "ui"): a Dev UI name never reaches a
	 * Slack user's memories, nor the other way round */
	s->user = sc->user && *sc->user ? mem_scoped_user(sc->team, sc->user) : NULL;
	s->thread = filter_thread ? (sc->thread_ts ? sc->thread_ts : "") : NULL;
}

int convo_recall(struct worker_ctx *w, const struct tool_scope *sc, const char *query, int top_k,
		 struct mem_hits *out, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	struct mem_scope s;
	struct mem_query q = {0};
	struct err e = {0};
	float *vec = xcalloc((size_t)cfg->embedding_dim, sizeof(float));
	int rc;

	task_scope(w, sc, cfg->memory_scope == MEMORY_SCOPE_THREAD, &s);
	q.text = query ? query : "";
	q.dim = cfg->embedding_dim;
	q.top_k = top_k > 0 ? top_k : cfg->memory_top_k;
	q.w_vector = cfg->memory_vector_weight;
	q.w_text = cfg->memory_text_weight;
	if (*q.text && embed_texts(w, &q.text, 1, vec, NULL, &e) == 0)
		q.vec = vec;
	else if (*q.text)
		log_kv(LOG_WARN, "memory search without a vector", "error", e.msg, NULL);
	if (!s.user) {
		free(vec);
		return 0; /* nobody to recall for */
	}
	rc = mem_search(w->r, mem_backend_pick(w->r, cfg->vector_backend), &s, &q, out, err);
	free((char *)s.user);
	free(vec);
	return rc;
}

int convo_remember(struct worker_ctx *w, const struct tool_scope *sc, const char *kind,
		   const char *content, char **id_out, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	struct mem_scope s;
	float *vec = xcalloc((size_t)cfg->embedding_dim, sizeof(float));
	char *text = utf8_cut(content ? content : "", MEM_CONTENT_MAX);
	const char *t = text;
	int rc = -1;

	task_scope(w, sc, 1, &s); /* the thread field is always recorded */
	if (!s.user || !*s.user) {
		err_set(err, ERR_INVALID, "no user to remember for");
		goto out;
	}
	if (embed_texts(w, &t, 1, vec, NULL, err) < 0)
		goto out;
	if (mem_prepare(w->r, mem_backend_pick(w->r, cfg->vector_backend), cfg->embedding_dim,
			err) < 0)
		goto out;
	rc = mem_store(w->r, &s, kind, text, vec, cfg->embedding_dim, clock_wall_ms(), id_out, err);
out:
	free((char *)s.user);
	free(text);
	free(vec);
	return rc;
}
