/*
 * vector_redis.c - the Query Engine vector backend: KNN over rag_doc_idx with
 * FT.SEARCH (ft.h). Nothing is held in process but what FT.INFO said about
 * the index: its algorithm (EF_RUNTIME only goes to HNSW) and whether it was
 * seen fully indexed.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/vector.h"
#include "kb/ft.h"

#include <stdatomic.h>
#include <stdlib.h>

/* How long a search waits for rag_doc_idx's background indexing before answering anyway. */
#define KB_INDEXING_WAIT_MS 2000
#define KB_INDEXING_POLL_MS 50

struct redis_backend {
	const struct config *cfg; /* borrowed from the worker_env */
	atomic_int index_alg;	  /* rag_doc_idx's algorithm (enum vector_algorithm) */
	atomic_int ft_ready;	  /* rag_doc_idx seen fully indexed */
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
 * rebuilt), waits up to wait_ms and, if still not done, warns that results
 * may be partial. Returns 0, or -1 with err.
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
		log_kv(LOG_WARN,
		       "search index still indexing existing chunks: results may be partial",
		       "index", KEYS_RAG_INDEX, "indexed", pct, "waited_ms", waited, NULL);
		return 0;
	}
	atomic_store(&b->ft_ready, 1);
	return 0;
}

/* EF_RUNTIME for rag_doc_idx's queries: only an HNSW index takes one. */
static int ef_runtime(struct redis_backend *b)
{
	return atomic_load(&b->index_alg) == VECTOR_HNSW ? b->cfg->vector_ef_runtime : 0;
}

/*
 * One KNN query: waits out background indexing (ft_check), and recreates
 * rag_doc_idx when it has disappeared (FLUSHALL, a restart without
 * persistence, FT.DROPINDEX) instead of failing every search until a restart.
 */
static int search_ft(struct redis_backend *b, struct worker_ctx *w, const float *q,
		     const char *filter, int k, struct kb_result *res, struct err *err)
{
	const struct config *cfg = b->cfg;
	struct err e = {0};
	int rc;

	if (!atomic_load(&b->ft_ready) && ft_check(b, w, KB_INDEXING_WAIT_MS, err) < 0)
		return -1;
	rc = ft_search(w->r, q, cfg->embedding_dim, k, filter, ef_runtime(b), res, &e);
	if (rc < 0 && ft_no_index(&e)) {
		log_kv(LOG_WARN, "search index missing: recreating it", "index", KEYS_RAG_INDEX,
		       NULL);
		atomic_store(&b->ft_ready, 0);
		atomic_store(&b->index_alg, cfg->vector_algorithm);
		if (ft_ensure_index(w->r, cfg->embedding_dim, cfg->vector_algorithm, err) < 0 ||
		    ft_check(b, w, KB_INDEXING_WAIT_MS, err) < 0)
			return -1;
		memset(&e, 0, sizeof(e));
		rc = ft_search(w->r, q, cfg->embedding_dim, k, filter, ef_runtime(b), res, &e);
	}
	if (rc < 0 && err)
		*err = e;
	return rc;
}

static void redis_close(void *state)
{
	free(state);
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
	int rc;

	if (text && ft_text_clause("content", text, &filter) > 0) {
		rc = search_ft(b, w, q, filter.s, k, res, err);
		if (rc == 0 && res->n == 0)
			rc = search_ft(b, w, q, NULL, k, res, err);
	} else {
		rc = search_ft(b, w, q, NULL, k, res, err);
	}
	buf_release(&filter);
	return rc;
}

static int redis_refresh(void *state, struct worker_ctx *w, struct err *err)
{
	(void)state, (void)w, (void)err;
	return 0; /* the server's index is always current */
}

static size_t redis_rows(void *state)
{
	(void)state;
	return 0;
}

const struct vector_backend_ops vector_backend_redis = {"redis",      redis_open,    redis_close,
							redis_search, redis_refresh, redis_rows};
