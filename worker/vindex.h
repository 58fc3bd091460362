/*
 * vindex.h - the local vector backend: an exact in-process index over the
 * rag_doc:* chunk embeddings.
 *
 * A struct vindex is an immutable snapshot once built: keys plus one
 * contiguous row-major float matrix (n x dim), searched by a BLAS
 * matrix-vector product and a k-sized min-heap. kb.c keeps the current
 * snapshot and swaps in a freshly loaded one when kb:meta's version changes;
 * searches hold a reference (vindex_ref/vindex_unref) so a reload never waits
 * for them and they never wait for a reload. Building (vindex_add) is
 * single-threaded; vindex_search on a built snapshot is thread-safe.
 */
#ifndef HAINK_VINDEX_H
#define HAINK_VINDEX_H

#include <stdatomic.h>
#include <stddef.h>

struct rds;
struct err;

struct vindex {
	int dim;
	size_t n, cap;
	float *mat;	 /* n * dim floats */
	size_t *key_off; /* offsets of each row's key in keybuf */
	char *keybuf;	 /* NUL-separated keys */
	size_t keylen, keycap;
	long long version; /* kb:meta version the snapshot was loaded at (-1 unknown) */
	atomic_long refs;
};

struct vindex_hit {
	size_t row;
	float score; /* dot product with the query */
};

/* Returns a new empty index of dimension dim with one reference; release with vindex_unref(). */
struct vindex *vindex_new(int dim);
/* Appends a row (copies key and dim floats). Only before the snapshot is shared. */
void vindex_add(struct vindex *vx, const char *key, const float *vec);
/* Returns the key of row i (borrowed, valid while the snapshot is referenced). */
const char *vindex_key(const struct vindex *vx, size_t row);

/* Takes one more reference (returns vx); vindex_unref() frees at zero. Both accept NULL. */
struct vindex *vindex_ref(struct vindex *vx);
void vindex_unref(struct vindex *vx);

/*
 * Writes the min(k, n) rows with the highest dot product with q (dim floats)
 * into out (room for k), best first; equal scores are ordered by row.
 * Rows with a NaN score are never returned. Returns the number written.
 * Thread-safe on a shared snapshot.
 */
size_t vindex_search(const struct vindex *vx, const float *q, int k, struct vindex_hit *out);

/*
 * The top-k selection alone, over scores[0..n): the same order and the
 * same tie rule as vindex_search(). Returns the number written.
 */
size_t vindex_topk(const float *scores, size_t n, int k, struct vindex_hit *out);

/*
 * Loads every rag_doc:* hash's embedding from Redis into a new snapshot:
 * SCAN MATCH rag_doc:* COUNT 1000, then pipelined HGET of the embedding
 * field, 1000 at a time. A key without an embedding of exactly 4 * dim bytes
 * is skipped and counted in *skipped (may be NULL). Rows come out sorted by
 * key. Returns a new snapshot (one reference) or NULL with err (ERR_REDIS,
 * ERR_TIMEOUT).
 */
struct vindex *vindex_load(struct rds *r, int dim, size_t *skipped, struct err *err);

/* Approximate bytes held by the snapshot (matrix and keys). */
size_t vindex_bytes(const struct vindex *vx);

#endif
