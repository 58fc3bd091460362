/*
 * kb.h - the knowledge base: search over rag_doc:* chunks with the vector
 * backend VECTOR_BACKEND picks (redis: Query Engine; local: in-process exact
 * index; auto: redis when the server has FT.SEARCH).
 *
 * One struct kb per process, opened by main or a verb and shared by all task
 * threads (thread-safe; the local index reloads itself when kb:meta's version
 * changes). Searches take the calling thread's wctx for Redis and HTTP.
 */
#ifndef HAINK_KB_H
#define HAINK_KB_H

#include <stddef.h>

struct wctx;
struct err;
struct config;
struct kb;

struct kb_hit {
	char *key;     /* rag_doc:<source_id>:<n> */
	char *title;   /* heading path */
	char *source;  /* URL (with #anchor) or file path */
	char *content;
	double score;  /* cosine similarity, higher is better */
};

struct kb_result {
	struct kb_hit *hits;
	size_t n;
};

/*
 * Opens the knowledge base: resolves the backend (logged), checks kb:meta
 * against the configured model and dimension (a mismatch is ERR_INVALID
 * telling to re-ingest with --reindex; an empty knowledge base is fine).
 * Returns NULL with err on failure; free with kb_close().
 */
struct kb *kb_open(struct wctx *w, struct err *err);
void kb_close(struct kb *kb);
/* Returns "redis" or "local". */
const char *kb_backend_name(const struct kb *kb);

/*
 * Finds the k chunks most similar to query (embedding it through the cache).
 * Returns 0 with res filled (owned; release with kb_result_release()), or -1
 * with err.
 */
int kb_search(struct kb *kb, struct wctx *w, const char *query, int k, struct kb_result *res,
	      struct err *err);
void kb_result_release(struct kb_result *res);

#endif
