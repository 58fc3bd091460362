/*
 * vector_redis.c - the Query Engine vector backend: KNN over rag_doc_idx with
 * FT.SEARCH (ft.h). Nothing is held in process; the state only carries the
 * dimension.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/vector.h"
#include "kb/ft.h"

#include <stdlib.h>

struct redis_backend {
	int dim;
};

static void *redis_open(struct worker_ctx *w, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	struct redis_backend *b;

	if (ft_ensure_index(w->r, cfg->embedding_dim, cfg->vector_algorithm, err) < 0)
		return NULL;
	b = xcalloc(1, sizeof(*b));
	b->dim = cfg->embedding_dim;
	return b;
}

static void redis_close(void *state)
{
	free(state);
}

static int redis_search(void *state, struct worker_ctx *w, const float *q, int k, const char *text,
			struct kb_result *res, struct err *err)
{
	const struct redis_backend *b = state;
	struct buf filter = BUF_INIT;
	int rc;

	if (text && ft_text_clause("content", text, &filter) > 0) {
		rc = ft_search(w->r, q, b->dim, k, filter.s, res, err);
		if (rc == 0 && res->n == 0)
			rc = ft_search(w->r, q, b->dim, k, NULL, res, err);
	} else {
		rc = ft_search(w->r, q, b->dim, k, NULL, res, err);
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
