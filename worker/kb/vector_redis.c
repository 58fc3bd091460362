/*
 * vector_redis.c - the Query Engine vector backend: KNN over rag_doc_idx with
 * FT.SEARCH (ft.h). Held in process: what FT.INFO said about the index (its
 * algorithm: EF_RUNTIME only goes to HNSW; whether it was seen fully
 * indexed) and, only while the server is indexing existing chunks in the
 * background (an index created over them, or recreated after it
 * disappeared), the local backend's exact index, which answers meanwhile: a
 * half-built HNSW graph would return partial results.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/vector.h"
#include "kb/ft.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

/* How long a search waits for rag_doc_idx's background indexing before the exact fallback. */
#define KB_INDEXING_WAIT_MS 2000
#define KB_INDEXING_POLL_MS 50

static atomic_int indexing_wait_ms = KB_INDEXING_WAIT_MS;

void vector_redis_indexing_wait(int ms)
{
	atomic_store(&indexing_wait_ms, ms < 0 ? KB_INDEXING_WAIT_MS : ms);
}

struct redis_backend {
	const struct config *cfg; /* borrowed from the worker_env */
	atomic_int index_alg;	  /* rag_doc_idx's algorithm (enum vector_algorithm) */
	atomic_int ft_ready;	  /* rag_doc_idx seen fully indexed */
	pthread_rwlock_t fb_lock; /* searches read fallback; opening and dropping write it */
	void *fallback;		  /* vector_backend_local's state while the server indexes */
};

static const char *alg_name(int alg)
{
	return alg == VECTOR_FLAT ? "FLAT" : "HNSW";
}

/*
 * Reads FT.INFO rag_doc_idx. Reports an index built with another
 * VECTOR_ALGORITHM (it stays in use; `ingest --reindex` rebuilds it) or
 * dimension (an error: queries of the configured size would fail). While the
 * server is still indexing existing chunks (an index created over them, or
 * rebuilt), waits up to wait_ms. Returns 0 (usable, or gone: the next search
 * recreates it), 1 when still indexing, or -1 with err.
 */
static int ft_check(struct redis_backend *b, struct worker_ctx *w, int wait_ms, struct err *err)
{
	const struct config *cfg = b->cfg;
	struct ft_info fi;
	int64_t deadline = clock_mono_ms() + wait_ms;
	char pct[32], waited[16];

	for (;;) {
		if (ft_info_get(w->r, KEYS_RAG_INDEX, NULL, &fi, err) < 0)
			return -1;
		if (!fi.exists || !fi.indexing || clock_mono_ms() >= deadline)
			break;
		clock_sleep_ms(KB_INDEXING_POLL_MS); /* the server gives no notification */
	}
	if (!fi.exists)
		return 0; /* dropped meanwhile: the next search recreates it */
	if (fi.dim && fi.dim != cfg->embedding_dim) {
		err_set(err, ERR_INVALID,
			"search index %s has dimension %d; EMBEDDING_DIM is %d: re-ingest with "
			"--reindex",
			KEYS_RAG_INDEX, fi.dim, cfg->embedding_dim);
		return -1;
	}
	if (fi.algorithm >= 0) {
		if (fi.algorithm != cfg->vector_algorithm && !atomic_load(&b->ft_ready))
			log_kv(LOG_WARN,
			       "search index algorithm differs from VECTOR_ALGORITHM: keeping "
			       "the index; re-ingest with --reindex to rebuild it",
			       "index", KEYS_RAG_INDEX, "algorithm", alg_name(fi.algorithm),
			       "configured", alg_name(cfg->vector_algorithm), NULL);
		atomic_store(&b->index_alg, fi.algorithm);
	}
	if (fi.indexing) {
		snprintf(pct, sizeof(pct), "%.0f%%", fi.percent_indexed * 100);
		snprintf(waited, sizeof(waited), "%d", wait_ms);
		log_kv(LOG_INFO,
		       "search index still indexing existing chunks: the exact in-process index "
		       "answers meanwhile",
		       "index", KEYS_RAG_INDEX, "indexed", pct, "waited_ms", waited, NULL);
		return 1;
	}
	atomic_store(&b->ft_ready, 1);
	return 0;
}

/* EF_RUNTIME for rag_doc_idx's queries: only an HNSW index takes one. */
static int ef_runtime(struct redis_backend *b)
{
	return atomic_load(&b->index_alg) == VECTOR_HNSW ? b->cfg->vector_ef_runtime : 0;
}

/* Searches the exact fallback, opening it first (it loads every chunk from Redis). */
static int search_fallback(struct redis_backend *b, struct worker_ctx *w, const float *q, int k,
			   const char *text, struct kb_result *res, struct err *err)
{
	int rc;

	pthread_rwlock_rdlock(&b->fb_lock);
	if (!b->fallback) {
		pthread_rwlock_unlock(&b->fb_lock);
		pthread_rwlock_wrlock(&b->fb_lock);
		if (!b->fallback)
			b->fallback = vector_backend_local.open(w, err);
		pthread_rwlock_unlock(&b->fb_lock);
		pthread_rwlock_rdlock(&b->fb_lock);
	}
	rc = b->fallback ? vector_backend_local.search(b->fallback, w, q, k, text, res, err) : -1;
	pthread_rwlock_unlock(&b->fb_lock);
	return rc;
}

/* Frees the fallback once rag_doc_idx is usable again. */
static void drop_fallback(struct redis_backend *b)
{
	pthread_rwlock_wrlock(&b->fb_lock);
	if (b->fallback) {
		vector_backend_local.close(b->fallback);
		b->fallback = NULL;
		log_kv(LOG_INFO, "search index ready: the Query Engine answers again", "index",
		       KEYS_RAG_INDEX, NULL);
	}
	pthread_rwlock_unlock(&b->fb_lock);
}

/*
 * 0 when rag_doc_idx can be trusted (or is gone: the search recreates it), 1
 * while the server indexes existing chunks, -1 with err. The first search to
 * find it indexing waits a little; later ones only look while the fallback
 * answers.
 */
static int usable(struct redis_backend *b, struct worker_ctx *w, struct err *err)
{
	int rc, wait;

	if (atomic_load(&b->ft_ready))
		return 0;
	pthread_rwlock_rdlock(&b->fb_lock);
	wait = b->fallback ? 0 : atomic_load(&indexing_wait_ms);
	pthread_rwlock_unlock(&b->fb_lock);
	rc = ft_check(b, w, wait, err);
	if (rc == 0)
		drop_fallback(b);
	return rc;
}

/*
 * One KNN query. Recreates rag_doc_idx when it has disappeared (FLUSHALL, a
 * restart without persistence, FT.DROPINDEX) instead of failing every search
 * until a restart. Returns 0, -1 with err, or 1 when the recreated index is
 * still being built (the caller asks the fallback).
 */
static int search_ft(struct redis_backend *b, struct worker_ctx *w, const float *q,
		     const char *filter, int k, struct kb_result *res, struct err *err)
{
	const struct config *cfg = b->cfg;
	struct err e = {0};
	int rc;

	rc = ft_search(w->r, q, cfg->embedding_dim, k, filter, ef_runtime(b), res, &e);
	if (rc < 0 && ft_no_index(&e)) {
		log_kv(LOG_WARN, "search index missing: recreating it", "index", KEYS_RAG_INDEX,
		       NULL);
		atomic_store(&b->ft_ready, 0);
		atomic_store(&b->index_alg, cfg->vector_algorithm);
		if (ft_ensure_index(w->r, cfg->embedding_dim, cfg->vector_algorithm, err) < 0)
			return -1;
		if ((rc = usable(b, w, err)) != 0)
			return rc;
		memset(&e, 0, sizeof(e));
		rc = ft_search(w->r, q, cfg->embedding_dim, k, filter, ef_runtime(b), res, &e);
	}
	if (rc < 0 && err)
		*err = e;
	return rc;
}

static void redis_close(void *state)
{
	struct redis_backend *b = state;

	if (!b)
		return;
	vector_backend_local.close(b->fallback);
	pthread_rwlock_destroy(&b->fb_lock);
	free(b);
}

static void *redis_open(struct worker_ctx *w, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	struct redis_backend *b;

	if (ft_ensure_index(w->r, cfg->embedding_dim, cfg->vector_algorithm, err) < 0)
		return NULL;
	b = xcalloc(1, sizeof(*b));
	b->cfg = cfg;
	atomic_init(&b->index_alg, cfg->vector_algorithm);
	atomic_init(&b->ft_ready, 0);
	pthread_rwlock_init(&b->fb_lock, NULL);
	if (ft_check(b, w, 0, err) < 0) {
		redis_close(b);
		return NULL;
	}
	return b;
}

static int redis_search(void *state, struct worker_ctx *w, const float *q, int k, const char *text,
			struct kb_result *res, struct err *err)
{
	struct redis_backend *b = state;
	struct buf filter = BUF_INIT;
	int rc = usable(b, w, err);

	if (rc == 0 && text && ft_text_clause("content", text, &filter) > 0) {
		rc = search_ft(b, w, q, filter.s, k, res, err);
		if (rc == 0 && res->n == 0)
			rc = search_ft(b, w, q, NULL, k, res, err);
	} else if (rc == 0) {
		rc = search_ft(b, w, q, NULL, k, res, err);
	}
	buf_release(&filter);
	if (rc == 1) {
		kb_result_release(res);
		rc = search_fallback(b, w, q, k, text, res, err);
	}
	return rc;
}

static int redis_refresh(void *state, struct worker_ctx *w, struct err *err)
{
	(void)state, (void)w, (void)err;
	return 0; /* the server's index is always current */
}

static size_t redis_rows(void *state)
{
	struct redis_backend *b = state;
	size_t n;

	pthread_rwlock_rdlock(&b->fb_lock);
	n = b->fallback ? vector_backend_local.rows(b->fallback) : 0;
	pthread_rwlock_unlock(&b->fb_lock);
	return n;
}

const struct vector_backend_ops vector_backend_redis = {"redis",      redis_open,    redis_close,
							redis_search, redis_refresh, redis_rows};
