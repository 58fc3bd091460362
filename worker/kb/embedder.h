/*
 * embedder.h - what an embedding provider is, the two there are, and the
 * vector helpers they share. embed.c (the cache in front) picks one by
 * LLM_PROVIDER and calls it through struct embedder; the providers include
 * only this header, never embed.h.
 * Thread-safe with one worker_ctx per thread.
 */
#ifndef HAINK_KB_EMBEDDER_H
#define HAINK_KB_EMBEDDER_H

#include <stddef.h>

struct worker_ctx;
struct err;

struct embed_stats {
	size_t cache_hits;
	size_t cache_misses;
	size_t requests; /* HTTP requests made to the embeddings endpoint */
};

struct embedder {
	const char *name;
	/*
	 * Embeds n texts into out (n * EMBEDDING_DIM floats, L2-normalised), no
	 * cache. Returns 0 or -1 with err as embed_texts() (embed.h).
	 */
	int (*embed)(struct worker_ctx *w, const char *const *texts, size_t n, float *out,
		     struct embed_stats *stats, struct err *err);
};

extern const struct embedder embedder_openai;  /* embed_openai.c */
extern const struct embedder embedder_offline; /* embed_offline.c */

/* The offline embedder alone (no cache, no I/O): deterministic, L2-normalised. */
void embed_offline(const char *text, size_t len, float *out, int dim);

/*
 * The OpenAI-compatible client alone (no cache): embeds n texts into out
 * (n * EMBEDDING_DIM floats) with as few POST {OPENAI_BASE_URL}/embeddings
 * requests as the bounds allow (EMBED_BATCH_MAX inputs and EMBED_BATCH_BYTES
 * of text per request; a longer text goes alone), each retried on 429/5xx
 * honouring Retry-After. Vectors are L2-normalised on receipt. Every request
 * goes through w->http. stats->requests counts requests (stats may be NULL).
 * Returns 0 or -1 with err as embed_texts().
 */
#define EMBED_BATCH_MAX	  128
#define EMBED_BATCH_BYTES (256 * 1024)
int embed_openai(struct worker_ctx *w, const char *const *texts, size_t n, float *out,
		 struct embed_stats *stats, struct err *err);

/* Scales v to unit length (a zero vector is left as is). */
void embed_normalize(float *v, int dim);

/* Cosine similarity of two L2-normalised vectors (their dot product). */
float embed_dot(const float *a, const float *b, int dim);

#endif
