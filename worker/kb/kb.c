/*
 * kb.c - the knowledge base facade: backend choice, kb:meta checks, search
 * through the chosen vector backend (vector.h), drop and stats.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/kb.h"
#include "kb/embed.h"
#include "kb/ft.h"
#include "kb/vector.h"

#include <stdlib.h>

#define KB_MAX_K 100

struct kb {
	const struct config *cfg;
	const struct vector_backend_ops *ops; /* vector_backend_redis or _local */
	void *state;			      /* the backend's, from ops->open() */
};

int kb_meta_check(struct worker_ctx *w, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	redisReply *rep = rds_cmd(w->r, err, "HMGET %s model dim", keys_kb_meta());
	const redisReply *m, *d;
	int rc = 0;

	if (!rep)
		return -1;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
		err_set(err, ERR_REDIS, "unexpected reply reading %s", keys_kb_meta());
		freeReplyObject(rep);
		return -1;
	}
	m = rep->element[0];
	d = rep->element[1];
	if (m->type == REDIS_REPLY_STRING || d->type == REDIS_REPLY_STRING) {
		const char *model = m->type == REDIS_REPLY_STRING ? m->str : "?";
		long long dim = rds_reply_int(d, 0);
		if (strcmp(model, cfg->embedding_model) || dim != cfg->embedding_dim) {
			err_set(err, ERR_INVALID,
				"knowledge base was built with model %s (dim %lld); configured %s "
				"(dim %d): re-ingest with --reindex",
				model, dim, cfg->embedding_model, cfg->embedding_dim);
			rc = -1;
		}
	}
	freeReplyObject(rep);
	return rc;
}

int kb_resolve_backend(struct worker_ctx *w, int *backend, struct err *err)
{
	int have;

	if (w->env->cfg->vector_backend != VECTOR_AUTO) {
		*backend = w->env->cfg->vector_backend;
		return 0;
	}
	have = ft_available(w->r, err);
	if (have < 0)
		return -1;
	*backend = have ? VECTOR_REDIS : VECTOR_LOCAL;
	return 0;
}

struct kb *kb_open(struct worker_ctx *w, struct err *err)
{
	struct kb *kb = NULL;
	int backend;

	if (kb_meta_check(w, err) < 0 || kb_resolve_backend(w, &backend, err) < 0)
		return NULL;
	kb = xcalloc(1, sizeof(*kb));
	kb->cfg = w->env->cfg;
	kb->ops = backend == VECTOR_REDIS ? &vector_backend_redis : &vector_backend_local;
	kb->state = kb->ops->open(w, err);
	if (!kb->state) {
		free(kb);
		return NULL;
	}
	log_kv(LOG_INFO, "knowledge base opened", "backend", kb->ops->name, "configured",
	       w->env->cfg->vector_backend == VECTOR_AUTO ? "auto" : "explicit", NULL);
	return kb;
}

void kb_close(struct kb *kb)
{
	if (!kb)
		return;
	kb->ops->close(kb->state);
	free(kb);
}

const char *kb_backend_name(const struct kb *kb)
{
	return kb->ops->name;
}

int kb_refresh(struct kb *kb, struct worker_ctx *w, struct err *err)
{
	return kb->ops->refresh(kb->state, w, err);
}

size_t kb_local_rows(struct kb *kb)
{
	return kb->ops->rows(kb->state);
}

int kb_search_ex(struct kb *kb, struct worker_ctx *w, const char *query, int k, int hybrid,
		 struct kb_result *res, struct err *err)
{
	int dim = kb->cfg->embedding_dim, rc = -1;
	float *q = NULL;
	int64_t t0;
	const char *p = query;

	res->hits = NULL;
	res->n = 0;
	while (p && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (!p || !*p) {
		err_set(err, ERR_INVALID, "search query is empty");
		return -1;
	}
	if (k <= 0)
		k = kb->cfg->kb_top_k;
	if (k > KB_MAX_K)
		k = KB_MAX_K;
	q = xmalloc((size_t)dim * sizeof(float));
	if (embed_texts(w, &query, 1, q, NULL, err) < 0)
		goto out;
	t0 = clock_mono_ns();
	rc = kb->ops->search(kb->state, w, q, k, hybrid ? query : NULL, res, err);
	metrics_observe(NULL, M_VECTOR_SEARCH_SECONDS, "", (double)(clock_mono_ns() - t0) / 1e9);
out:
	free(q);
	return rc;
}

int kb_search(struct kb *kb, struct worker_ctx *w, const char *query, int k, struct kb_result *res,
	      struct err *err)
{
	return kb_search_ex(kb, w, query, k, 0, res, err);
}

/* One SCAN page: UNLINKs its keys in one command, adding the count to *ctx. */
static int unlink_page(struct rds *r, const redisReply *keys, void *ctx, struct err *err)
{
	const char **argv;
	size_t *lens;
	redisReply *del;

	if (!keys->elements)
		return 0;
	argv = xmalloc((keys->elements + 1) * sizeof(*argv));
	lens = xmalloc((keys->elements + 1) * sizeof(*lens));
	argv[0] = "UNLINK";
	lens[0] = 6;
	for (size_t i = 0; i < keys->elements; i++) {
		argv[i + 1] = keys->element[i]->str;
		lens[i + 1] = keys->element[i]->len;
	}
	del = rds_cmdv(r, err, (int)keys->elements + 1, argv, lens);
	free(argv);
	free(lens);
	if (!del)
		return -1;
	*(long long *)ctx += rds_reply_int(del, 0);
	freeReplyObject(del);
	return 0;
}

/* Deletes every key matching pattern (SCAN + UNLINK per page). Returns the count or -1. */
static long long delete_matching(struct rds *r, const char *pattern, struct err *err)
{
	long long n = 0;

	return rds_scan(r, pattern, NULL, unlink_page, &n, err) < 0 ? -1 : n;
}

int kb_drop(struct worker_ctx *w, size_t *deleted, struct err *err)
{
	long long n;
	redisReply *rep;
	int have = ft_available(w->r, err);

	if (have < 0)
		return -1;
	if (have && ft_drop_index(w->r, err) < 0)
		return -1;
	n = delete_matching(w->r, KEYS_RAG_PREFIX "*", err);
	if (n < 0)
		return -1;
	rep = rds_cmd(w->r, err, "DEL %s", keys_kb_sources());
	if (!rep)
		return -1;
	freeReplyObject(rep);
	rep = rds_cmd(w->r, err, "HDEL %s model dim backend", keys_kb_meta());
	if (!rep)
		return -1;
	freeReplyObject(rep);
	rep = rds_cmd(w->r, err, "HINCRBY %s version 1", keys_kb_meta());
	if (!rep)
		return -1;
	freeReplyObject(rep);
	if (deleted)
		*deleted = (size_t)n;
	return 0;
}

static int count_page(struct rds *r, const redisReply *keys, void *ctx, struct err *err)
{
	*(long long *)ctx += (long long)keys->elements;
	return 0;
}

static long long count_matching(struct rds *r, const char *pattern, struct err *err)
{
	long long n = 0;

	return rds_scan(r, pattern, NULL, count_page, &n, err) < 0 ? -1 : n;
}

int kb_stats_get(struct worker_ctx *w, struct kb_stats *st, struct err *err)
{
	redisReply *rep;

	memset(st, 0, sizeof(*st));
	rep = rds_cmd(w->r, err, "HMGET %s model dim backend version", keys_kb_meta());
	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 4) {
		if (rep->element[0]->type == REDIS_REPLY_STRING)
			snprintf(st->model, sizeof(st->model), "%s", rep->element[0]->str);
		st->dim = (int)rds_reply_int(rep->element[1], 0);
		if (rep->element[2]->type == REDIS_REPLY_STRING)
			snprintf(st->backend, sizeof(st->backend), "%s", rep->element[2]->str);
		st->version = rds_reply_int(rep->element[3], 0);
	}
	freeReplyObject(rep);
	rep = rds_cmd(w->r, err, "HVALS %s", keys_kb_sources());
	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_ARRAY) {
		st->sources = (long long)rep->elements;
		for (size_t i = 0; i < rep->elements; i++)
			st->chunks += rds_reply_int(rep->element[i], 0);
	}
	freeReplyObject(rep);
	st->cache_keys = count_matching(w->r, KEYS_EMBEDDING_PREFIX "*", err);
	return st->cache_keys < 0 ? -1 : 0;
}
