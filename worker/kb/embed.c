/*
 * embed.c - embed_texts(): cache lookup, dispatch to the configured
 * embedder (embedder.h), write-back.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/embed.h"
#include "kb/embed_cache.h"

#include <stdlib.h>

static void count_cache(struct embed_stats *stats, size_t hits, size_t misses)
{
	if (hits)
		metrics_inc(NULL, M_EMBEDDING_CACHE, "result=\"hit\"", (double)hits);
	if (misses)
		metrics_inc(NULL, M_EMBEDDING_CACHE, "result=\"miss\"", (double)misses);
	if (stats) {
		stats->cache_hits += hits;
		stats->cache_misses += misses;
	}
}

/* Embeds texts[idx[j]] for j < nidx into out at their own positions. */
static int embed_misses(struct worker_ctx *w, const char *const *texts, const size_t *idx,
			size_t nidx, float *out, struct embed_stats *stats, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	int dim = cfg->embedding_dim;
	const struct embedder *embedder =
	    cfg->llm_provider == LLM_OFFLINE ? &embedder_offline : &embedder_openai;
	const char **sub = NULL;
	float *tmp = NULL;
	int rc = -1;

	sub = xmalloc(nidx * sizeof(*sub));
	tmp = xmalloc(nidx * (size_t)dim * sizeof(float));
	for (size_t j = 0; j < nidx; j++)
		sub[j] = texts[idx[j]];
	if (embedder->embed(w, sub, nidx, tmp, stats, err) < 0)
		goto out;
	for (size_t j = 0; j < nidx; j++)
		memcpy(out + idx[j] * (size_t)dim, tmp + j * (size_t)dim,
		       (size_t)dim * sizeof(float));
	rc = 0;
out:
	free(sub);
	free(tmp);
	return rc;
}

int embed_texts(struct worker_ctx *w, const char *const *texts, size_t n, float *out,
		struct embed_stats *stats, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	int dim = cfg->embedding_dim;
	char **keys = NULL;
	unsigned char *hit = NULL;
	size_t *miss = NULL, nmiss = 0;
	long hits = -1;
	int rc = -1;
	struct err ce = {0};

	if (!n)
		return 0;
	hit = xcalloc(n, 1);
	miss = xmalloc(n * sizeof(*miss));
	if (w->r) {
		keys = xmalloc(n * sizeof(*keys));
		for (size_t i = 0; i < n; i++)
			keys[i] = keys_embedding(cfg->embedding_model, texts[i], strlen(texts[i]));
		hits = embed_cache_get(w->r, (const char *const *)keys, n, dim, out, hit, &ce);
		if (hits < 0)
			log_kv(LOG_WARN, "embedding cache unavailable", "error", ce.msg, NULL);
	}
	for (size_t i = 0; i < n; i++)
		if (!hit[i])
			miss[nmiss++] = i;
	if (nmiss && embed_misses(w, texts, miss, nmiss, out, stats, err) < 0)
		goto out;
	if (keys) {
		count_cache(stats, n - nmiss, nmiss);
		if (hits >= 0 && nmiss &&
		    embed_cache_put(w->r, (const char *const *)keys, miss, nmiss, dim, out,
				    cfg->embed_cache_ttl_s, &ce) < 0)
			log_kv(LOG_WARN, "embedding cache write failed", "error", ce.msg, NULL);
	}
	rc = 0;
out:
	if (keys)
		for (size_t i = 0; i < n; i++)
			free(keys[i]);
	free(keys);
	free(hit);
	free(miss);
	return rc;
}
