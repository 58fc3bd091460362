/*
 * vector.h - what a vector backend of the knowledge base is, and the result
 * type every part of kb/ shares. Two backends implement
 * struct vector_backend_ops over the same rag_doc:* hashes:
 *  - vector_backend_redis (vector_redis.c): the Redis Query Engine (ft.h);
 *  - vector_backend_local (vector_local.c): an exact in-process index
 *    (vindex.h), reloaded when kb:meta's version changes.
 * kb.c opens one per process (VECTOR_BACKEND) and calls it only through this
 * struct, so no backend includes kb.h.
 *
 * Thread rules: open and close run once, on one thread; search, refresh and
 * rows run concurrently from task threads, each with its own worker_ctx.
 */
#ifndef HAINK_KB_VECTOR_H
#define HAINK_KB_VECTOR_H

#include <stddef.h>

struct worker_ctx;
struct err;

struct kb_hit {
	char *key;    /* rag_doc:<source_id>:<n> */
	char *title;  /* heading path */
	char *source; /* URL (with #anchor) or file path */
	char *content;
	double score; /* cosine similarity, higher is better */
};

struct kb_result {
	struct kb_hit *hits;
	size_t n;
};

/* Frees the hits; res is empty (and reusable) afterwards. NULL is fine. */
void kb_result_release(struct kb_result *res);

struct vector_backend_ops {
	const char *name; /* "redis" or "local", as kb:meta and the logs say */
	/*
	 * Gets ready to search (redis: creates rag_doc_idx unless it exists;
	 * local: loads the index). Returns the backend's state (owned; free with
	 * close), or NULL with err.
	 */
	void *(*open)(struct worker_ctx *w, struct err *err);
	void (*close)(void *state); /* accepts NULL */
	/*
	 * Fills res (owned; kb_result_release()) with the k chunks nearest to q
	 * (EMBEDDING_DIM floats, L2-normalised). text non-NULL asks for hybrid
	 * search: only chunks sharing a word with text, falling back to pure
	 * vector search when none does (a backend without text search ignores
	 * it). Returns 0 or -1 with err.
	 */
	int (*search)(void *state, struct worker_ctx *w, const float *q, int k, const char *text,
		      struct kb_result *res, struct err *err);
	/* Picks up new chunks now, where the backend caches (0 or -1 with err). */
	int (*refresh)(void *state, struct worker_ctx *w, struct err *err);
	/* Rows held in process (0 for a backend that holds none; redis: its fallback's). */
	size_t (*rows)(void *state);
};

extern const struct vector_backend_ops vector_backend_redis;
extern const struct vector_backend_ops vector_backend_local;

/*
 * How long the first search to find rag_doc_idx still indexing waits before
 * the exact fallback answers (default 2000 ms; a negative ms restores it). For tests.
 */
void vector_redis_indexing_wait(int ms);

#endif
