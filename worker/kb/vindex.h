/*
 * vindex.h - the local vector backend: an exact in-process index over the
 * rag_doc:* chunk embeddings.
 *
 * A struct vindex is an immutable snapshot once built: keys, one contiguous
 * row-major float matrix (n x dim) and a quantised copy of it (one int8 row
 * per vector with a per-row scale, rows padded to VINDEX_QALIGN bytes).
 * A search scores every row approximately from the int8 copy with integer
 * SIMD (SSE2, or AVX2 when the CPU has it), bounds each approximation's error
 * rigorously, and rescores in float32 only the rows whose upper bound reaches
 * the k-th best lower bound; the answer is therefore exactly the float32
 * top-k (the same rows, scores and tie order as vindex_search_scan()).
 *
 * vector_local.c keeps the current snapshot and swaps in a freshly loaded one when
 * kb:meta's version changes; searches hold a reference (vindex_ref /
 * vindex_unref) so a reload never waits for them and they never wait for a
 * reload. Building (vindex_add) is single-threaded; searching a built
 * snapshot is thread-safe and runs on the calling thread only.
 */
#ifndef HAINK_VINDEX_H
#define HAINK_VINDEX_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct rds;
struct err;
struct vindex_rowq; /* per-row quantisation data, private to vindex.c */

/* Bytes each int8 row is padded to (zeros), so SIMD loops have no tail. */
#define VINDEX_QALIGN 32

struct vindex {
	int dim;
	int qstride; /* bytes per int8 row: dim rounded up to VINDEX_QALIGN */
	int simd;    /* kernels searches use: 1 AVX2+FMA, 0 SSE2; vindex_new() picks from the
			CPU, a test may lower it before the first search */
	size_t n, cap;
	float *mat;		/* n * dim floats */
	int8_t *qmat;		/* n * qstride quantised rows */
	struct vindex_rowq *rq; /* n entries: scale and error-bound terms */
	size_t *key_off;	/* offsets of each row's key in keybuf */
	char *keybuf;		/* NUL-separated keys */
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
 * Scores are vindex_score()'s; the result is identical to
 * vindex_search_scan()'s. Thread-safe on a shared snapshot.
 */
size_t vindex_search(const struct vindex *vx, const float *q, int k, struct vindex_hit *out);

/*
 * vindex_search() that also stores in *rescored (may be NULL) how many rows
 * were scored in float32: the candidates the int8 pass kept, or n when the
 * search fell back to the full scan (tiny index, k close to n, a zero or
 * non-finite query).
 */
size_t vindex_search_ex(const struct vindex *vx, const float *q, int k, struct vindex_hit *out,
			size_t *rescored);

/*
 * The reference path: scores every row with vindex_score() and selects the
 * top k like vindex_search(). Slower (streams the whole float matrix); kept as
 * the fallback and for tests and benchmarks. Thread-safe.
 */
size_t vindex_search_scan(const struct vindex *vx, const float *q, int k, struct vindex_hit *out);

/*
 * The float32 dot product of row and q as every search computes it (a fixed
 * summation order per CPU path, chosen once per process). Thread-safe.
 */
float vindex_score(const struct vindex *vx, size_t row, const float *q);

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

/* Approximate bytes held by the snapshot (float and int8 matrices, row data, keys). */
size_t vindex_bytes(const struct vindex *vx);

#endif
