/* Unit tests of vindex.c: exact top-k against a brute-force reference. */
#include "common.h"
#include "kb/vindex.h"
#include "../harness/test.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

static uint64_t rng_state = 88172645463325252ULL;

static double rnd_from(uint64_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 7;
	*st ^= *st << 17;
	return (double)(*st >> 11) / 9007199254740992.0;
}

static double rnd(void)
{
	return rnd_from(&rng_state);
}

/* Roughly Gaussian (sum of uniforms), like the components of real embeddings. */
static float gauss(void)
{
	return (float)(rnd() + rnd() + rnd() + rnd() - 2.0);
}

static void random_unit(float *v, int dim, double scale)
{
	double n = 0;
	for (int d = 0; d < dim; d++) {
		v[d] = gauss();
		n += (double)v[d] * v[d];
	}
	for (int d = 0; d < dim; d++)
		v[d] = (float)(v[d] / sqrt(n) * scale);
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
	}
	/* two identical rows: a tie the index must order by row */
	memcpy(m + 5 * D, m + 9 * D, D * sizeof(float));
	for (size_t i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "rag_doc:x:%zu", i);
		vindex_add(vx, key, m + i * D);
	}
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

/* ---- the int8 filter must return exactly the float32 top k ---- */

static const float *nan_scores;

static int cmp_score_row(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (nan_scores[x] != nan_scores[y])
		return nan_scores[x] > nan_scores[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int same_hit(const struct vindex_hit *h, size_t row, float score)
{
	return h->row == row && !memcmp(&h->score, &score, sizeof(score));
}

/*
 * The float32 brute force: every row scored with vindex_score(), NaNs dropped,
 * sorted best first with ties by row. vindex_search_ex() and
 * vindex_search_scan() must both return its first k entries bit for bit.
 * Stores the rows the fast path rescored. Returns 0, or -1 after reporting.
 */
static int check_exact(const struct vindex *vx, const float *q, int k, size_t *rescored,
		       const char *what)
{
	size_t n = vx->n, nv = 0, want, got, got_scan, bad = (size_t)-1;
	float *s = xmalloc((n ? n : 1) * sizeof(*s));
	size_t *idx = xmalloc((n ? n : 1) * sizeof(*idx));
	struct vindex_hit *a = xmalloc(((size_t)k + 1) * sizeof(*a));
	struct vindex_hit *b = xmalloc(((size_t)k + 1) * sizeof(*b));
	int rc = -1;

	for (size_t i = 0; i < n; i++) {
		s[i] = vindex_score(vx, i, q);
		if (!isnan(s[i]))
			idx[nv++] = i;
	}
	nan_scores = s;
	qsort(idx, nv, sizeof(*idx), cmp_score_row);
	want = (size_t)k < nv ? (size_t)k : nv;
	got = vindex_search_ex(vx, q, k, a, rescored);
	got_scan = vindex_search_scan(vx, q, k, b);
	if (got != want || got_scan != want) {
		test_fail(__FILE__, __LINE__, "%s: k=%d got %zu hits, scan %zu, want %zu", what, k,
			  got, got_scan, want);
		goto out;
	}
	for (size_t i = 0; i < want && bad == (size_t)-1; i++)
		if (!same_hit(&a[i], idx[i], s[idx[i]]) || !same_hit(&b[i], idx[i], s[idx[i]]))
			bad = i;
	if (bad != (size_t)-1) {
		test_fail(__FILE__, __LINE__,
			  "%s: k=%d rank %zu: search row %zu score %.9g, scan row %zu, want row "
			  "%zu score %.9g",
			  what, k, bad, a[bad].row, a[bad].score, b[bad].row, idx[bad],
			  s[idx[bad]]);
		goto out;
	}
	rc = 0;
out:
	free(s);
	free(idx);
	free(a);
	free(b);
	return rc;
}

/* check_exact() with the snapshot's kernels, then again with the SSE2 baseline ones. */
static int check_both(struct vindex *vx, const float *q, int k, size_t *rescored, const char *what)
{
	int simd = vx->simd, rc = check_exact(vx, q, k, rescored, what);

	vx->simd = 0;
	if (!rc && simd)
		rc = check_exact(vx, q, k, rescored, what);
	vx->simd = simd;
	return rc;
}

/* Builds n random unit rows of dimension dim (times scale) under simd level simd. */
static struct vindex *random_index(size_t n, int dim, double scale, int simd)
{
	struct vindex *vx = vindex_new(dim);
	float *v = xmalloc((size_t)dim * sizeof(*v));
	char key[32];

	vx->simd = vx->simd && simd;
	for (size_t i = 0; i < n; i++) {
		random_unit(v, dim, scale);
		snprintf(key, sizeof(key), "k%zu", i);
		vindex_add(vx, key, v);
	}
	free(v);
	return vx;
}

TEST(vindex, int8_filter_is_exact_on_random_vectors)
{
	const int dims[] = {1, 7, 16, 37, 100, 384, 1536};
	const size_t ns[] = {300, 1000, 257, 700, 600, 900, 400};
	const int ks[] = {1, 5, 10, 50};

	for (int simd = 0; simd < 2; simd++)
		for (size_t t = 0; t < sizeof(dims) / sizeof(dims[0]); t++) {
			int dim = dims[t];
			struct vindex *vx = random_index(ns[t], dim, 1.0, simd);
			float *q = xmalloc((size_t)dim * sizeof(*q));
			size_t resc = 0, filtered = 0;
			char what[64];
			snprintf(what, sizeof(what), "dim %d simd %d", dim, vx->simd);
			for (int r = 0; r < 8; r++) {
				random_unit(q, dim, r % 2 ? 1.0 : 3.5);
				if (r == 0) /* a query equal to a stored row */
					memcpy(q, vx->mat + 17 * (size_t)dim, (size_t)dim * 4);
				for (size_t j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
					CHECK(check_exact(vx, q, ks[j], &resc, what) == 0);
					filtered += resc < vx->n;
				}
			}
			/* the fast path did run (not the scan fallback) for most searches */
			if (dim >= 16)
				CHECK(filtered >= 16);
			vindex_unref(vx);
			free(q);
		}
}

TEST(vindex, int8_filter_prunes_most_rows_at_1536_dims)
{
	struct vindex *vx = random_index(2000, 1536, 1.0, 1);
	float q[1536];
	size_t resc = 0;

	random_unit(q, 1536, 1.0);
	CHECK(check_exact(vx, q, 5, &resc, "2000 x 1536") == 0);
	/* for random unit vectors the bound leaves a small fraction to rescore */
	CHECK(resc >= 5);
	CHECK(resc < vx->n / 4);
	CHECK(vindex_bytes(vx) >= vx->n * (1536 * 4 + 1536));
	vindex_unref(vx);
}

TEST(vindex, int8_filter_is_exact_with_ties_and_near_duplicates)
{
	enum { N = 1200, D = 96 };
	struct vindex *vx = vindex_new(D);
	float base[4][D], v[D], q[D];
	char key[32];
	size_t resc;

	for (int c = 0; c < 4; c++)
		random_unit(base[c], D, 1.0);
	for (size_t i = 0; i < N; i++) {
		const float *b = base[i % 4];
		for (int d = 0; d < D; d++) {
			v[d] = b[d];
			/* a third exact copies, the rest a few ulps or 1e-4 apart */
			if (i % 3 == 1)
				v[d] = nextafterf(b[d], rnd() < 0.5 ? -INFINITY : INFINITY);
			else if (i % 3 == 2)
				v[d] = b[d] + (float)((rnd() - 0.5) * 2e-4);
		}
		snprintf(key, sizeof(key), "k%zu", i);
		vindex_add(vx, key, v);
	}
	for (int c = 0; c < 4; c++) {
		memcpy(q, base[c], sizeof(q));
		CHECK(check_both(vx, q, 5, &resc, "near duplicates") == 0);
		CHECK(check_both(vx, q, 40, &resc, "near duplicates") == 0);
		CHECK(check_both(vx, q, 299, &resc, "near duplicates") == 0);
	}
	random_unit(q, D, 1.0);
	CHECK(check_both(vx, q, 7, &resc, "near duplicates, random query") == 0);
	vindex_unref(vx);
}

/* Small integers times a power of two: every float dot product is exact in any order. */
TEST(vindex, int8_filter_orders_exact_ties_by_row)
{
	enum { N = 900, D = 37 };
	struct vindex *vx = vindex_new(D);
	int8_t ints[N][D];
	float v[D], q[D];
	int qi[D];
	char key[32];
	struct vindex_hit out[60];

	for (size_t i = 0; i < N; i++) {
		for (int d = 0; d < D; d++) {
			ints[i][d] = (int8_t)((int)(rnd() * 7) - 3);
			v[d] = ldexpf((float)ints[i][d], -6);
		}
		snprintf(key, sizeof(key), "k%zu", i);
		vindex_add(vx, key, v);
	}
	for (int r = 0; r < 6; r++) {
		long best[N];
		for (int d = 0; d < D; d++) {
			qi[d] = (int)(rnd() * 5) - 2;
			q[d] = ldexpf((float)qi[d], 3);
		}
		for (size_t i = 0; i < N; i++) {
			best[i] = 0;
			for (int d = 0; d < D; d++)
				best[i] += (long)ints[i][d] * qi[d];
		}
		for (int k = 1; k <= 60; k += 59) {
			size_t m = vindex_search(vx, q, k, out);
			CHECK_INT_EQ(m, k);
			for (size_t j = 0; j < m; j++) {
				/* the score is the exact integer dot product, times 2^-3 */
				CHECK(out[j].score == ldexpf((float)best[out[j].row], -3));
				if (j) {
					size_t a = out[j - 1].row, b = out[j].row;
					CHECK(best[a] > best[b] || (best[a] == best[b] && a < b));
				}
			}
			/* nothing left out ranks above the last one returned */
			for (size_t i = 0; i < N; i++) {
				size_t l = out[m - 1].row;
				int in = 0;
				for (size_t j = 0; j < m; j++)
					in |= out[j].row == i;
				if (!in)
					CHECK(best[i] < best[l] || (best[i] == best[l] && i > l));
			}
		}
	}
	vindex_unref(vx);
}

TEST(vindex, int8_filter_handles_k_beyond_corpus_and_zero_query)
{
	struct vindex *vx = random_index(500, 48, 1.0, 1);
	float q[48] = {0};
	struct vindex_hit out[520];
	size_t resc = 0;

	/* a zero query ties every row at 0: the first k rows by number */
	CHECK_INT_EQ(vindex_search_ex(vx, q, 10, out, &resc), 10);
	CHECK_INT_EQ(resc, 500);
	for (size_t i = 0; i < 10; i++) {
		CHECK_INT_EQ(out[i].row, i);
		CHECK(out[i].score == 0);
	}
	CHECK(check_both(vx, q, 10, &resc, "zero query") == 0);
	random_unit(q, 48, 1.0);
	CHECK(check_both(vx, q, 520, &resc, "k > n") == 0);
	CHECK(check_both(vx, q, 500, &resc, "k = n") == 0);
	CHECK(check_both(vx, q, 124, &resc, "k just under n / 4") == 0);
	CHECK(resc < 500);
	CHECK_INT_EQ(vindex_search_ex(vx, q, 0, out, &resc), 0);
	CHECK_INT_EQ(vindex_search_ex(vx, q, -3, out, &resc), 0);
	vindex_unref(vx);
}

TEST(vindex, int8_filter_is_exact_across_magnitudes)
{
	/* row scales from 1e-40 (subnormal floats) to 1e30; queries from 1e-30 to 1e20 */
	const double row_scales[] = {1e-40, 1e-30, 1e-3, 1, 1e10, 1e30};
	const double q_scales[] = {1e-30, 1e-6, 1, 1e20};
	enum { D = 64, N = 600 };
	float v[D], q[D];
	char key[32];
	size_t resc;

	/* the whole corpus at one scale */
	for (size_t s = 0; s < sizeof(row_scales) / sizeof(row_scales[0]); s++) {
		struct vindex *vx = random_index(N, D, row_scales[s], 1);
		for (size_t t = 0; t < sizeof(q_scales) / sizeof(q_scales[0]); t++) {
			random_unit(q, D, q_scales[t]);
			CHECK(check_both(vx, q, 5, &resc, "one scale") == 0);
		}
		vindex_unref(vx);
	}
	/* every row at its own scale, including zero rows */
	struct vindex *vx = vindex_new(D);
	for (size_t i = 0; i < N; i++) {
		random_unit(v, D, i % 50 == 7 ? 0 : pow(10, (double)((int)(rnd() * 41) - 20)));
		snprintf(key, sizeof(key), "k%zu", i);
		vindex_add(vx, key, v);
	}
	for (size_t t = 0; t < sizeof(q_scales) / sizeof(q_scales[0]); t++) {
		random_unit(q, D, q_scales[t]);
		CHECK(check_both(vx, q, 5, &resc, "mixed scales") == 0);
		CHECK(check_both(vx, q, 30, &resc, "mixed scales") == 0);
	}
	vindex_unref(vx);
}

TEST(vindex, int8_filter_is_exact_with_worst_case_rounding)
{
	/* every component halfway between two int8 steps, the query along the errors' signs */
	enum { D = 256, N = 800 };
	struct vindex *vx = vindex_new(D);
	float v[D], q[D];
	char key[32];
	size_t resc;

	for (size_t i = 0; i < N; i++) {
		double step = 1.0 / 127;
		v[0] = 1.0f; /* fixes the row's scale at 1/127 */
		for (int d = 1; d < D; d++)
			v[d] = (float)(((int)(rnd() * 200) - 100 + 0.49) * step);
		snprintf(key, sizeof(key), "k%zu", i);
		vindex_add(vx, key, v);
	}
	for (int r = 0; r < 4; r++) {
		for (int d = 0; d < D; d++)
			q[d] = (float)(0.9 + 0.2 * rnd());
		if (r & 1)
			q[0] = -5;
		CHECK(check_both(vx, q, 5, &resc, "half steps") == 0);
		CHECK(check_both(vx, q, 33, &resc, "half steps") == 0);
	}
	vindex_unref(vx);
}

TEST(vindex, int8_filter_handles_non_finite_values)
{
	enum { D = 40, N = 400 };
	struct vindex *vx = vindex_new(D);
	float v[D], q[D];
	char key[32];
	struct vindex_hit out[5];
	size_t resc;

	for (size_t i = 0; i < N; i++) {
		random_unit(v, D, 1.0);
		if (i == 3)
			v[5] = NAN;
		if (i == 250)
			v[9] = INFINITY; /* scores +inf or -inf with the query's sign */
		if (i == 260)
			v[1] = 3e38f; /* finite, but its score may overflow */
		snprintf(key, sizeof(key), "k%zu", i);
		vindex_add(vx, key, v);
	}
	for (int r = 0; r < 6; r++) {
		random_unit(q, D, 1.0);
		q[9] = r % 2 ? 0.5f : -0.5f;
		q[1] = r % 3 ? 0.5f : -0.5f;
		CHECK(check_both(vx, q, 5, &resc, "non-finite rows") == 0);
		CHECK(resc < N);
	}
	CHECK_INT_EQ(vindex_search(vx, q, 5, out), 5);
	for (int j = 0; j < 5; j++)
		CHECK(out[j].row != 3); /* NaN scores never come back */
	q[2] = NAN;			/* a non-finite query falls back to the scan */
	CHECK(check_both(vx, q, 5, &resc, "NaN query") == 0);
	CHECK_INT_EQ(resc, N);
	vindex_unref(vx);
}

struct search_job {
	const struct vindex *vx;
	uint64_t seed;
	int bad;
};

static void *search_thread(void *arg)
{
	struct search_job *j = arg;
	int dim = j->vx->dim;
	float *q = xmalloc((size_t)dim * sizeof(*q));
	struct vindex_hit a[5], b[5];

	for (int r = 0; r < 40; r++) {
		for (int d = 0; d < dim; d++)
			q[d] = (float)(rnd_from(&j->seed) * 2 - 1);
		size_t m = vindex_search(j->vx, q, 5, a);
		if (m != vindex_search_scan(j->vx, q, 5, b))
			j->bad++;
		for (size_t i = 0; i < m; i++)
			j->bad += !same_hit(&a[i], b[i].row, b[i].score);
	}
	free(q);
	return NULL;
}

TEST(vindex, concurrent_searches_share_a_snapshot)
{
	struct vindex *vx = random_index(1000, 128, 1.0, 1);
	struct search_job jobs[3] = {{vx, 1, 0}, {vx, 2, 0}, {vx, 3, 0}};
	pthread_t th[2];

	for (int i = 0; i < 2; i++)
		CHECK_INT_EQ(pthread_create(&th[i], NULL, search_thread, &jobs[i]), 0);
	search_thread(&jobs[2]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECK_INT_EQ(jobs[0].bad + jobs[1].bad + jobs[2].bad, 0);
	vindex_unref(vx);
}

TEST(vindex, scan_scores_match_double_precision)
{
	for (int simd = 0; simd < 2; simd++) {
		struct vindex *vx = random_index(300, 1536, 1.0, simd);
		float q[1536];
		struct vindex_hit out[3];
		random_unit(q, 1536, 1.0);
		CHECK_INT_EQ(vindex_search_scan(vx, q, 3, out), 3);
		for (size_t i = 0; i < vx->n; i++) {
			double ref = 0;
			for (int d = 0; d < 1536; d++)
				ref += (double)vx->mat[i * 1536 + d] * q[d];
			CHECK_NEAR(vindex_score(vx, i, q), ref, 1e-5);
		}
		vindex_unref(vx);
	}
}

/*
 * Pairs of rows that share most values: in each pair A scores truly higher,
 * but its int8 approximation is lower than B's, by nearly the whole error
 * bound. A bound any tighter than the real error drops some A from the top k.
 */
static void add_pair(struct vindex *vx, const float *a, const float *b, int dim, size_t i)
{
	char key[32];
	snprintf(key, sizeof(key), "a%zu", i);
	vindex_add(vx, key, a);
	snprintf(key, sizeof(key), "b%zu", i);
	vindex_add(vx, key, b);
	(void)dim;
}

TEST(vindex, int8_filter_survives_row_errors_aligned_with_the_query)
{
	enum { D = 256, P = 300 };
	struct vindex *vx = vindex_new(D);
	float a[D], b[D], q[D];
	size_t resc;

	for (size_t i = 0; i < P; i++) {
		/* x[0] = 1 fixes the step at 1/127; A rounds every value down by 0.49
		 * steps, B up by 0.49 steps from a base 249 steps higher in total */
		a[0] = b[0] = 1.0f;
		int extra = 249;
		for (int d = 1; d < D; d++) {
			int k = (int)(rnd() * 120) - 60, up = extra > 0;
			extra -= up;
			a[d] = (float)((k + 0.49) / 127);
			b[d] = (float)((k + up - 0.49) / 127);
		}
		add_pair(vx, a, b, D, i);
	}
	for (int d = 0; d < D; d++)
		q[d] = 1.0f; /* along every rounding error, and exactly quantised */
	CHECK(check_both(vx, q, 5, &resc, "row errors aligned") == 0);
	CHECK(check_both(vx, q, 20, &resc, "row errors aligned") == 0);
	vindex_unref(vx);
}

TEST(vindex, int8_filter_survives_query_errors_aligned_with_the_rows)
{
	enum { D = 256, P = 300, Z = 128 };
	struct vindex *vx = vindex_new(D);
	float a[D], b[D], q[D];
	int m[D];
	size_t resc;

	/* the query: q[0] fixes its step at 1/32767; dims 1..Z-1 are 0.49 steps
	 * (quantised to 0), the rest a whole number of steps plus 0.49 */
	q[0] = 1.0f;
	for (int d = 1; d < D; d++) {
		m[d] = d < Z ? 0 : (int)(rnd() * 60) + 1;
		q[d] = (float)((m[d] + 0.49) / 32767);
	}
	for (size_t i = 0; i < P; i++) {
		/* rows exact in int8 (k / 127): A is +127 on the dims the query rounded
		 * away, B -127 there, and one step higher on a dim the int8 pass sees */
		a[0] = b[0] = 1.0f;
		for (int d = 1; d < D; d++) {
			int k = (int)(rnd() * 200) - 100;
			a[d] = d < Z ? 1.0f : (float)k / 127;
			b[d] = d < Z ? -1.0f : (float)(d == Z ? k + 1 : k) / 127;
		}
		add_pair(vx, a, b, D, i);
	}
	CHECK(check_both(vx, q, 5, &resc, "query errors aligned") == 0);
	CHECK(check_both(vx, q, 20, &resc, "query errors aligned") == 0);
	vindex_unref(vx);
}

TEST(vindex, int8_filter_survives_float32_rounding_inversions)
{
	/* Rows and query exact in int8/int16 (the approximation is the real dot
	 * product), sums near 2^30 (float32 rounds them by up to ~64 units) and rows
	 * a few units apart: the float32 ranking differs from the real one, and the
	 * bound must leave room for that. */
	enum { D = 256, N = 1000, V = 16 };
	struct vindex *vx = vindex_new(D);
	float base[D], v[D], q[D];
	int m[D];
	char key[32];
	size_t resc;

	for (int d = 0; d < D; d++) {
		base[d] = d == 0 ? 127.0f / 128 : (float)((int)(rnd() * 40) + 80) / 128;
		m[d] = d == 0 ? 32767 : d < V ? (int)(rnd() * 3) + 1 : (int)(rnd() * 2000) + 30000;
		q[d] = ldexpf((float)m[d], -15);
	}
	for (size_t i = 0; i < N; i++) {
		memcpy(v, base, sizeof(v));
		for (int d = 1; d < V; d++)
			v[d] += (float)((int)(rnd() * 3) - 1) / 128;
		snprintf(key, sizeof(key), "k%zu", i);
		vindex_add(vx, key, v);
	}
	CHECK(check_both(vx, q, 5, &resc, "rounding inversions") == 0);
	CHECK(check_both(vx, q, 50, &resc, "rounding inversions") == 0);
	vindex_unref(vx);
}
