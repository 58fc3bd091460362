/* Unit tests of vindex.c: exact top-k against a brute-force reference. */
#include "common.h"
#include "vindex.h"
#include "../harness/test.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rng_state = 88172645463325252ULL;

static double rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static const float *ref_scores;

/* best first; equal scores by row */
static int ref_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (ref_scores[x] != ref_scores[y])
		return ref_scores[x] > ref_scores[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

static size_t *reference(const float *scores, size_t n)
{
	size_t *idx = xmalloc(n * sizeof(*idx));
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	ref_scores = scores;
	qsort(idx, n, sizeof(*idx), ref_cmp);
	return idx;
}

TEST(vindex, topk_matches_brute_force_with_ties)
{
	enum { N = 1000 };
	float *s = xmalloc(N * sizeof(float));
	struct vindex_hit *out = xmalloc((N + 50) * sizeof(*out));
	const int ks[] = {1, 3, 5, 10, 100, 999, 1000, 1050};

	/* coarse scores: many exact ties */
	for (size_t i = 0; i < N; i++)
		s[i] = (float)((int)(rnd() * 20)) / 10.0f - 1.0f;
	size_t *ref = reference(s, N);
	for (size_t t = 0; t < sizeof(ks) / sizeof(ks[0]); t++) {
		size_t m = vindex_topk(s, N, ks[t], out);
		CHECK_INT_EQ(m, ks[t] < N ? (size_t)ks[t] : (size_t)N);
		for (size_t i = 0; i < m; i++) {
			CHECK_INT_EQ(out[i].row, ref[i]);
			CHECK(out[i].score == s[ref[i]]);
		}
	}
	CHECK_INT_EQ(vindex_topk(s, N, 0, out), 0);
	free(ref);
	free(s);
	free(out);
}

TEST(vindex, topk_skips_nan)
{
	float s[4] = {0.5f, NAN, 0.9f, 0.1f};
	struct vindex_hit out[4];
	CHECK_INT_EQ(vindex_topk(s, 4, 4, out), 3);
	CHECK_INT_EQ(out[0].row, 2);
	CHECK_INT_EQ(out[1].row, 0);
	CHECK_INT_EQ(out[2].row, 3);
}

TEST(vindex, search_matches_brute_force_on_random_vectors)
{
	enum { N = 700, D = 48 };
	struct vindex *vx = vindex_new(D);
	float *m = xmalloc((size_t)N * D * sizeof(float)), q[D], *s = xmalloc(N * sizeof(float));
	struct vindex_hit out[N + 10];
	const int ks[] = {1, 5, 20, N, N + 10};
	char key[32];

	for (size_t i = 0; i < N; i++) {
		double norm = 0;
		for (int d = 0; d < D; d++) {
			m[i * D + d] = (float)(rnd() * 2 - 1);
			norm += (double)m[i * D + d] * m[i * D + d];
		}
		for (int d = 0; d < D; d++)
			m[i * D + d] /= (float)sqrt(norm);
		snprintf(key, sizeof(key), "rag_doc:x:%zu", i);
		vindex_add(vx, key, m + i * D);
	}
	/* two identical rows: a tie the index must order by row */
	memcpy(m + 5 * D, m + 9 * D, D * sizeof(float));
	memcpy(vx->mat + 5 * D, m + 9 * D, D * sizeof(float));
	for (int d = 0; d < D; d++)
		q[d] = m[9 * D + d];
	for (size_t i = 0; i < N; i++) {
		double dot = 0;
		for (int d = 0; d < D; d++)
			dot += (double)m[i * D + d] * q[d];
		s[i] = (float)dot;
	}
	size_t *ref = reference(s, N);
	for (size_t t = 0; t < sizeof(ks) / sizeof(ks[0]); t++) {
		size_t got = vindex_search(vx, q, ks[t], out);
		CHECK_INT_EQ(got, ks[t] < N ? (size_t)ks[t] : (size_t)N);
		for (size_t i = 0; i < got; i++) {
			/* BLAS may round differently: compare scores rank by rank */
			CHECK_NEAR(out[i].score, s[ref[i]], 1e-5);
			CHECK_NEAR(out[i].score, s[out[i].row], 1e-5);
		}
	}
	CHECK_INT_EQ(vindex_search(vx, q, 2, out), 2);
	CHECK_INT_EQ(out[0].row, 5); /* the exact tie: lower row first */
	CHECK_INT_EQ(out[1].row, 9);
	CHECK_STR_EQ(vindex_key(vx, 9), "rag_doc:x:9");
	free(ref);
	free(m);
	free(s);
	vindex_unref(vx);
}

TEST(vindex, empty_index_and_refcounts)
{
	struct vindex *vx = vindex_new(8), *r2;
	float q[8] = {1};
	struct vindex_hit out[4];

	CHECK_INT_EQ(vindex_search(vx, q, 4, out), 0);
	r2 = vindex_ref(vx);
	CHECK(r2 == vx);
	vindex_unref(vx);
	CHECK_INT_EQ(atomic_load(&r2->refs), 1);
	vindex_unref(r2);
	vindex_unref(NULL);
}
