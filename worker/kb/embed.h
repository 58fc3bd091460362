/*
 * embed.h - text embeddings behind one interface, through the Redis cache.
 *
 * Providers: OpenAI-compatible POST {OPENAI_BASE_URL}/embeddings (batched,
 * retried on 429/5xx honouring Retry-After) when LLM_PROVIDER=openai, and the
 * local deterministic feature-hashing embedder when offline. Vectors are
 * EMBEDDING_DIM floats, L2-normalised. Every text is first looked up in the
 * cache (embedding:<sha256(model NUL text)>, raw FLOAT32 little-endian, TTL
 * EMBED_CACHE_TTL_S) in one round trip for the whole batch; misses are
 * embedded and written back. Thread-safe with one worker_ctx per thread.
 */
#ifndef HAINK_EMBED_H
#define HAINK_EMBED_H

#include <stddef.h>
#include "kb/embedder.h"

struct worker_ctx;
struct err;

/*
 * Embeds n texts into out (n * EMBEDDING_DIM floats, caller-allocated).
 * stats may be NULL (otherwise counts are added). Returns 0, or -1 with
 * err (ERR_AUTH / ERR_INVALID permanent; ERR_UPSTREAM, ERR_RATE_LIMITED,
 * ERR_TIMEOUT, ERR_IO transient; ERR_PARSE when the reply is malformed or a
 * vector has the wrong dimension). A cache failure is logged and the batch
 * is embedded without it; with w->r NULL the cache is skipped entirely.
 */
int embed_texts(struct worker_ctx *w, const char *const *texts, size_t n, float *out,
		struct embed_stats *stats, struct err *err);

#endif
