/*
 * memory.h - long-term memory (docs/architecture.md, "Memory and history"),
 * scoped by APP_ID, agent id and namespaced user (MEM_NS_SEP below).
 *
 * Layout: hash memory:<app>:<agent>:<ns>/<user>:<id> with content, role, kind
 * (fact|turn), thread, created_ms, embedding (FLOAT32 LE blob) and app, agent,
 * user (TAG fields for the Query Engine); zset memory:<app>:<agent>:<ns>/<user>
 * of ids scored by created_ms. Both are written in one MULTI/EXEC.
 *
 * Retrieval is hybrid and ranked the same by both backends (rank.h): the
 * local one (memory_local.c: the scope's newest ids, an in-process cache of
 * immutable rows) and the Query Engine one (memory_ft.c: FT.SEARCH with TAG
 * filters and KNN, re-ranked here). backend.h says what a backend is; this
 * header is what the rest of the worker calls.
 *
 * Scope is always passed by the caller from the task, never from a model.
 * Thread-safe: every function takes the caller's struct rds; the row cache is
 * shared by the threads of a process behind a mutex (rows never change after
 * they are written, so a cached row is never stale; the id list read on
 * every query decides which rows are in scope).
 */
#ifndef HAINK_MEMORY_H
#define HAINK_MEMORY_H

#include <stddef.h>
#include <stdint.h>
#include "memory/backend.h"
#include "memory/rank.h"

enum mem_backend { MEM_BACKEND_LOCAL = 0, MEM_BACKEND_FT };

/*
 * Memories are kept per source namespace: the scope's user is
 * "<namespace>/<user>", the namespace being the task's team (a Slack team id,
 * "ui" for the Dev UI, "cli" for `ask`), MEM_DEFAULT_NS when there is none.
 * So a Dev UI name can never read or write a Slack user's memories, nor the
 * other way round. Neither part may contain ':' or '/'.
 */
#define MEM_NS_SEP     '/'
#define MEM_DEFAULT_NS "default"

/* Returns the namespaced user "<ns>/<user>" (owned; free()). */
char *mem_scoped_user(const char *ns, const char *user);

/*
 * Stores one memory (kind "fact" or "turn"; content cut to MEM_CONTENT_MAX on
 * a UTF-8 boundary; vec may be NULL) in the scope, with thread as its thread
 * field ("" when NULL). *id_out (may be NULL) receives the owned id; free
 * with free(). Returns 0 or -1 with err (ERR_INVALID, ERR_REDIS).
 */
int mem_store(struct rds *r, const struct mem_scope *s, const char *kind, const char *content,
	      const float *vec, int dim, int64_t now_ms, char **id_out, struct err *err);

/*
 * Fills out (initialised to zero by the caller) with the top q->top_k
 * memories of the scope, best first. Returns 0 or -1 with err.
 */
int mem_search(struct rds *r, enum mem_backend b, const struct mem_scope *s,
	       const struct mem_query *q, struct mem_hits *out, struct err *err);

/*
 * Gets backend b ready for memories of dim floats (the Query Engine's index
 * once per process). Call before storing. Returns 0 or -1 with err.
 */
int mem_prepare(struct rds *r, enum mem_backend b, int dim, struct err *err);

/*
 * The backend for VECTOR_BACKEND (enum vector_backend): local, redis, or
 * auto (probes FT._LIST once per process). Never fails: a failed probe
 * means local.
 */
enum mem_backend mem_backend_pick(struct rds *r, int vector_backend);

/*
 * Deletes every memory hash and the scope set of user under agent, or under
 * every agent when agent is NULL (found with SCAN; keys are matched exactly,
 * so user U1 never matches U12). Returns the number of memories deleted, or
 * -1 with err.
 */
long mem_forget(struct rds *r, const char *app, const char *agent, const char *user,
		struct err *err);

/*
 * Fills out with the memories of user under agent (every agent when NULL),
 * newest first, with id, agent, kind, created_ms and content. Returns 0 or
 * -1 with err.
 */
int mem_list(struct rds *r, const char *app, const char *agent, const char *user,
	     struct mem_hits *out, struct err *err);

#endif
