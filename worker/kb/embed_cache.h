/*
 * embed_cache.h - the embedding cache in Redis, used by embed_texts().
 *
 * One string per (model, text): embedding:<sha256(model NUL text)> holding
 * dim FLOAT32 values, little-endian, no header, with a TTL. Lookups of a whole
 * batch cost one round trip (MGETs of at most EMBED_CACHE_MGET keys each, all
 * pipelined); write-backs are pipelined SET EX. The cache is an optimisation:
 * a Redis failure is reported to the caller, which may carry on without it.
 * Thread rules: whatever the struct rds allows (one thread at a time).
 */
#ifndef HAINK_EMBED_CACHE_H
#define HAINK_EMBED_CACHE_H

#include <stddef.h>

struct rds;
struct err;

#define EMBED_CACHE_MGET 256

/*
 * Encodes dim floats as FLOAT32 little-endian into out (4 * dim bytes), and
 * decodes them back. Portable across host byte orders.
 */
void embed_f32_encode(const float *v, int dim, unsigned char *out);
void embed_f32_decode(const unsigned char *in, int dim, float *v);

/*
 * Looks up keys[i] for i < n. For each hit copies the vector into
 * out + i * dim and sets hit[i] = 1; a missing key or a value of the wrong
 * length (not 4 * dim bytes) is a miss (hit[i] = 0). Returns the number of
 * hits, or -1 with err (ERR_REDIS / ERR_TIMEOUT; hit[] is then all 0).
 */
long embed_cache_get(struct rds *r, const char *const *keys, size_t n, int dim, float *out,
		     unsigned char *hit, struct err *err);

/*
 * Stores the vectors out + idx[j] * dim under keys[idx[j]] for j < nidx, each
 * with EX ttl_s, in one pipeline. Returns 0 or -1 with err.
 */
int embed_cache_put(struct rds *r, const char *const *keys, const size_t *idx, size_t nidx, int dim,
		    const float *out, int ttl_s, struct err *err);

#endif
