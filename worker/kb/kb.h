/*
 * kb.h - the knowledge base: search over rag_doc:* chunks with the vector
 * backend VECTOR_BACKEND picks (redis: Query Engine; local: in-process exact
 * index; auto: redis when the server has FT.SEARCH).
 *
 * One struct kb per process, opened by main or a verb and shared by all task
 * threads (thread-safe; the local index reloads itself when kb:meta's version
 * changes). Searches take the calling thread's worker_ctx for Redis and HTTP.
 */
#ifndef HAINK_KB_H
#define HAINK_KB_H

#include <stddef.h>
#include "kb/vector.h" /* struct kb_result */

struct worker_ctx;
struct err;
struct config;
struct kb;

/*
 * Opens the knowledge base: resolves the backend (logged), checks kb:meta
 * against the configured model and dimension (a mismatch is ERR_INVALID
 * telling to re-ingest with --reindex; an empty knowledge base is fine).
 * Returns NULL with err on failure; free with kb_close().
 */
struct kb *kb_open(struct worker_ctx *w, struct err *err);
void kb_close(struct kb *kb);
/* Returns "redis" or "local". */
const char *kb_backend_name(const struct kb *kb);

/*
 * Finds the k chunks most similar to query (embedding it through the cache).
 * Returns 0 with res filled (owned; release with kb_result_release()), or -1
 * with err.
 */
int kb_search(struct kb *kb, struct worker_ctx *w, const char *query, int k, struct kb_result *res,
	      struct err *err);

/*
 * Like kb_search(), with hybrid = 1 restricting the redis backend's KNN to
 * chunks whose content shares a word with query (falling back to pure
 * vector search when that finds nothing). The local backend is vector-only
 * and ignores hybrid.
 */
int kb_search_ex(struct kb *kb, struct worker_ctx *w, const char *query, int k, int hybrid,
		 struct kb_result *res, struct err *err);

/* --- administration (ingest and the kb verb) --- */

/*
 * Compares kb:meta's model and dim with the configuration. Returns 0 when they
 * match or the knowledge base is empty; -1 with ERR_INVALID "knowledge base
 * was built with model X (dim N); configured Y (dim M): re-ingest with
 * --reindex", or with ERR_REDIS / ERR_TIMEOUT.
 */
int kb_meta_check(struct worker_ctx *w, struct err *err);

/*
 * Resolves VECTOR_BACKEND to VECTOR_REDIS or VECTOR_LOCAL (auto: redis when
 * the server has FT.SEARCH). Returns 0 with *backend set, or -1 with err.
 */
int kb_resolve_backend(struct worker_ctx *w, int *backend, struct err *err);

/*
 * Drops the knowledge base: every rag_doc:* hash (SCAN + UNLINK), kb:sources,
 * kb:meta's model/dim/backend and rag_doc_idx when the server has it. kb:meta's
 * version is bumped, never reset, so local indexes of running workers see the
 * change. *deleted (may be NULL) gets the number of chunks removed. Returns 0
 * or -1 with err.
 */
int kb_drop(struct worker_ctx *w, size_t *deleted, struct err *err);

struct kb_stats {
	long long chunks;     /* sum of kb:sources counts */
	long long sources;    /* entries of kb:sources */
	long long version;    /* kb:meta version, 0 when absent */
	long long cache_keys; /* embedding:* keys (SCAN count) */
	int dim;	      /* kb:meta dim, 0 when absent */
	char model[128];      /* kb:meta model, "" when absent */
	char backend[16];     /* kb:meta backend, "" when absent */
};

/* Fills st from Redis. Returns 0 or -1 with err. */
int kb_stats_get(struct worker_ctx *w, struct kb_stats *st, struct err *err);

/*
 * Local backend: checks kb:meta's version now (not waiting for the ~1 s
 * interval) and reloads the index when it moved. Returns 0 or -1 with err.
 * The redis backend has nothing to refresh: returns 0.
 */
int kb_refresh(struct kb *kb, struct worker_ctx *w, struct err *err);

/* Number of rows in the local index snapshot (0 for the redis backend). */
size_t kb_local_rows(struct kb *kb);

#endif
