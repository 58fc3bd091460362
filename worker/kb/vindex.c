/*
 * vindex.c - exact top-k search over a contiguous embedding matrix.
 *
 * Each row x is also kept as int8 values xq with a scale s (x = s * xq + dx).
 * A query q becomes int16 values qq with a scale t (q = t * qq + dq), so the
 * integer dot product gives approx = s * t * (xq . qq) and
 *
 *	x . q - approx = s * (xq . dq) + dx . q,
 *	|x . q - approx| <= |dx| |q| + (|x| + |dx|) |dq|	(Cauchy-Schwarz, 2-norms),
 *
 * with |dx| and |x| computed per row at build time and |dq| per query. The
 * float32 score we return differs from x . q by at most gamma(dim) |x| |q|
 * plus an underflow term, so every row's float32 score lies in
 * [approx - e, approx + e]. The k-th largest lower bound is thus a score that
 * k rows reach; a row whose upper bound stays below it cannot be in the
 * top k, and the rows that remain are rescored exactly.
 */
#include "common.h"
#include "kb/vindex.h"
#include "kb/embed_cache.h"

#include <emmintrin.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>

#define LOAD_BATCH    1000
#define SCAN_MIN_ROWS 64    /* below this the float scan is as cheap as anything */
#define BLOCK_ROWS    256   /* rows per int8 kernel call: their dots stay in L1 */
#define QMAX_X	      127   /* int8 row values are in [-127, 127] */
#define QMAX_Q	      32767 /* int16 query values, fewer for very long vectors */

/*
 * Per row: the int8 scale and the norms the error bound needs, as floats
 * rounded up (still upper bounds; half the bytes the search streams).
 */
struct vindex_rowq {
	float scale; /* x ~ scale * xq, exactly this float */
	float dxn;   /* |dx| */
	float bxn;   /* |x| + |dx| */
	float xn;    /* |x|; +inf marks a row the bound cannot cover (non-finite values) */
};

typedef float (*dot_f32_fn)(const float *a, const float *b, int n);
typedef void (*dots_i8_fn)(const int8_t *m, size_t stride, size_t rows, const int16_t *q,
			   int32_t *out);

/* ---- kernels: SSE2 is the x86-64 baseline; AVX2 ones run only where the CPU has it ---- */

static float hsum_ps(__m128 v)
{
	float l[4];
	_mm_storeu_ps(l, v);
	return (l[0] + l[1]) + (l[2] + l[3]);
}

static int32_t hsum_epi32(__m128i v)
{
	v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
	v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(v);
}

static float dot_f32_sse2(const float *a, const float *b, int n)
{
	__m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps();
	int i = 0;
	float s;

	for (; i + 8 <= n; i += 8) {
		s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
		s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4)));
	}
	if (i + 4 <= n) {
		s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
		i += 4;
	}
	s = hsum_ps(_mm_add_ps(s0, s1));
	for (; i < n; i++)
		s += a[i] * b[i];
	return s;
}

__attribute__((target("avx2,fma"))) static float dot_f32_avx2(const float *a, const float *b, int n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	int i = 0;
	float s;

	for (; i + 32 <= n; i += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	s0 = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
	s = hsum_ps(_mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1)));
	for (; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* SSE2 has no int8 -> int16 widening: interleave each byte with its sign mask. */
#define I8_STEP_SSE2(acc_lo, acc_hi, p)                                                            \
	do {                                                                                       \
		__m128i v_ = _mm_loadu_si128((const __m128i *)((p) + j));                          \
		__m128i s_ = _mm_cmpgt_epi8(z, v_);                                                \
		acc_lo = _mm_add_epi32(acc_lo, _mm_madd_epi16(_mm_unpacklo_epi8(v_, s_), q0));     \
		acc_hi = _mm_add_epi32(acc_hi, _mm_madd_epi16(_mm_unpackhi_epi8(v_, s_), q1));     \
	} while (0)

/*
 * The int8 kernels walk one row at a time: a single sequential stream is what
 * the hardware prefetcher follows best (interleaving four rows measured four
 * times slower). The row length is a multiple of 32 bytes.
 */
static void dots_i8_sse2(const int8_t *m, size_t stride, size_t rows, const int16_t *q,
			 int32_t *out)
{
	const __m128i z = _mm_setzero_si128();

	for (size_t r = 0; r < rows; r++) {
		const int8_t *p = m + r * stride;
		__m128i a0 = z, a1 = z, a2 = z, a3 = z;
		for (size_t j = 0; j < stride; j += 32) {
			__m128i q0 = _mm_loadu_si128((const __m128i *)(q + j));
			__m128i q1 = _mm_loadu_si128((const __m128i *)(q + j + 8));
			I8_STEP_SSE2(a0, a1, p);
			q0 = _mm_loadu_si128((const __m128i *)(q + j + 16));
			q1 = _mm_loadu_si128((const __m128i *)(q + j + 24));
			I8_STEP_SSE2(a2, a3, p + 16);
		}
		out[r] = hsum_epi32(_mm_add_epi32(_mm_add_epi32(a0, a1), _mm_add_epi32(a2, a3)));
	}
}

#define I8_STEP_AVX2(acc, off)                                                                     \
	acc = _mm256_add_epi32(                                                                    \
	    acc, _mm256_madd_epi16(                                                                \
		     _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + j + (off)))),      \
		     _mm256_loadu_si256((const __m256i *)(q + j + (off)))))

__attribute__((target("avx2"))) static int32_t hsum256_epi32(__m256i v)
{
	return hsum_epi32(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

__attribute__((target("avx2"))) static void
dots_i8_avx2(const int8_t *m, size_t stride, size_t rows, const int16_t *q, int32_t *out)
{
	for (size_t r = 0; r < rows; r++) {
		const int8_t *p = m + r * stride;
		__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
		size_t j = 0;
		for (; j + 64 <= stride; j += 64) {
			I8_STEP_AVX2(a0, 0);
			I8_STEP_AVX2(a1, 16);
			I8_STEP_AVX2(a2, 32);
			I8_STEP_AVX2(a3, 48);
		}
		if (j < stride) {
			I8_STEP_AVX2(a0, 0);
			I8_STEP_AVX2(a1, 16);
		}
		out[r] = hsum256_epi32(
		    _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)));
	}
}

static dot_f32_fn dot_fn(const struct vindex *vx)
{
	return vx->simd ? dot_f32_avx2 : dot_f32_sse2;
}

static dots_i8_fn dots_fn(const struct vindex *vx)
{
	return vx->simd ? dots_i8_avx2 : dots_i8_sse2;
}

/* ---- building ---- */

/* The smallest float >= v. */
static float float_up(double v)
{
	float f = (float)v;
	return (double)f < v ? nextafterf(f, INFINITY) : f;
}

/*
 * Quantises one row into xq (qstride bytes, zero padded) and its bound terms.
 * Branch-free loops without libm calls: the loader runs this for every row.
 */
static void quantise_row(const float *x, int dim, int qstride, int8_t *xq, struct vindex_rowq *rq)
{
	/* adding and subtracting 1.5 * 2^52 rounds a double below 2^51 to an integer */
	const double magic = 6755399441055744.0;
	double mx = 0, xx = 0, dd = 0, s, inv, xn, dxn;

	memset(xq, 0, (size_t)qstride);
	for (int i = 0; i < dim; i++) {
		double a = fabs((double)x[i]);
		mx = a > mx ? a : mx;
		xx += (double)x[i] * x[i];
	}
	if (!isfinite(xx)) {
		/* a NaN or infinite value (a float's square cannot overflow a double):
		 * its score is NaN or infinite, so leave the row to the exact pass */
		rq->scale = rq->dxn = rq->bxn = 0;
		rq->xn = INFINITY;
		return;
	}
	if (mx == 0) {
		rq->scale = rq->dxn = rq->bxn = rq->xn = 0;
		return;
	}
	/* rounded up so |x / s| <= 127; never 0, as the smallest float is 2^-149 */
	rq->scale = float_up(mx / QMAX_X);
	s = rq->scale;
	inv = 1 / s;
	for (int i = 0; i < dim; i++) {
		double v = ((double)x[i] * inv + magic) - magic, d;
		v = v > QMAX_X ? QMAX_X : v < -QMAX_X ? -QMAX_X : v;
		xq[i] = (int8_t)v;
		d = (double)x[i] - s * v; /* the error of whatever v was chosen */
		dd += d * d;
	}
	/* margins well past the few double roundings that made these norms */
	xn = sqrt(xx) * (1 + 1e-9);
	dxn = sqrt(dd) * (1 + 1e-9) + 1e-15 * xn;
	rq->xn = float_up(xn);
	rq->dxn = float_up(dxn);
	rq->bxn = float_up((xn + dxn) * (1 + 1e-12));
}

struct vindex *vindex_new(int dim)
{
	struct vindex *vx = xcalloc(1, sizeof(*vx));
	vx->dim = dim;
	vx->qstride = dim > 0 ? (dim + VINDEX_QALIGN - 1) / VINDEX_QALIGN * VINDEX_QALIGN : 0;
	vx->simd = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	vx->version = -1;
	atomic_init(&vx->refs, 1);
	return vx;
}

void vindex_add(struct vindex *vx, const char *key, const float *vec)
{
	size_t kl = strlen(key) + 1;

	if (vx->n == vx->cap) {
		size_t cap = vx->cap;
		xgrow((void **)&vx->key_off, &cap, vx->n + 1, sizeof(*vx->key_off));
		vx->mat = xrealloc(vx->mat, cap * (size_t)vx->dim * sizeof(float));
		vx->qmat = xrealloc(vx->qmat, cap * (size_t)vx->qstride);
		vx->rq = xrealloc(vx->rq, cap * sizeof(*vx->rq));
		vx->cap = cap;
	}
	xgrow((void **)&vx->keybuf, &vx->keycap, vx->keylen + kl, 1);
	memcpy(vx->keybuf + vx->keylen, key, kl);
	vx->key_off[vx->n] = vx->keylen;
	vx->keylen += kl;
	memcpy(vx->mat + vx->n * (size_t)vx->dim, vec, (size_t)vx->dim * sizeof(float));
	quantise_row(vec, vx->dim, vx->qstride, vx->qmat + vx->n * (size_t)vx->qstride,
		     &vx->rq[vx->n]);
	vx->n++;
}

/* The rows are final: gives back what the doubling growth reserved. */
static void trim(struct vindex *vx)
{
	if (vx->n && vx->cap > vx->n) {
		vx->mat = xrealloc(vx->mat, vx->n * (size_t)vx->dim * sizeof(float));
		vx->qmat = xrealloc(vx->qmat, vx->n * (size_t)vx->qstride);
		vx->rq = xrealloc(vx->rq, vx->n * sizeof(*vx->rq));
		vx->key_off = xrealloc(vx->key_off, vx->n * sizeof(*vx->key_off));
		vx->cap = vx->n;
	}
	if (vx->keycap > vx->keylen && vx->keylen) {
		vx->keybuf = xrealloc(vx->keybuf, vx->keylen);
		vx->keycap = vx->keylen;
	}
}

const char *vindex_key(const struct vindex *vx, size_t row)
{
	return vx->keybuf + vx->key_off[row];
}

struct vindex *vindex_ref(struct vindex *vx)
{
	if (vx)
		atomic_fetch_add(&vx->refs, 1);
	return vx;
}

void vindex_unref(struct vindex *vx)
{
	if (!vx || atomic_fetch_sub(&vx->refs, 1) != 1)
		return;
	free(vx->mat);
	free(vx->qmat);
	free(vx->rq);
	free(vx->key_off);
	free(vx->keybuf);
	free(vx);
}

size_t vindex_bytes(const struct vindex *vx)
{
	return vx->cap * ((size_t)vx->dim * sizeof(float) + (size_t)vx->qstride +
			  sizeof(struct vindex_rowq) + sizeof(size_t)) +
	       vx->keycap;
}

/* 1 when a ranks below b: lower score, or the same score and a later row. */
static int worse(const struct vindex_hit *a, const struct vindex_hit *b)
{
	return a->score < b->score || (a->score == b->score && a->row > b->row);
}

static void sift_down(struct vindex_hit *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && worse(&h[l], &h[m]))
			m = l;
		if (r < n && worse(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		struct vindex_hit t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void sift_up(struct vindex_hit *h, size_t i)
{
	while (i) {
		size_t p = (i - 1) / 2;
		if (!worse(&h[i], &h[p]))
			return;
		struct vindex_hit t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

size_t vindex_topk(const float *scores, size_t n, int k, struct vindex_hit *out)
{
	size_t m = 0;

	if (k <= 0)
		return 0;
	/* out is a min-heap of the best so far: its root is the one to evict */
	for (size_t i = 0; i < n; i++) {
		struct vindex_hit c = {i, scores[i]};
		if (isnan(c.score))
			continue;
		if (m < (size_t)k) {
			out[m] = c;
			sift_up(out, m++);
		} else if (worse(&out[0], &c)) {
			out[0] = c;
			sift_down(out, m, 0);
		}
	}
	/* heap sort: repeatedly move the worst to the end, leaving best first */
	for (size_t end = m; end > 1; end--) {
		struct vindex_hit t = out[0];
		out[0] = out[end - 1];
		out[end - 1] = t;
		sift_down(out, end - 1, 0);
	}
	return m;
}

float vindex_score(const struct vindex *vx, size_t row, const float *q)
{
	return dot_fn(vx)(vx->mat + row * (size_t)vx->dim, q, vx->dim);
}

size_t vindex_search_scan(const struct vindex *vx, const float *q, int k, struct vindex_hit *out)
{
	dot_f32_fn dot = dot_fn(vx);
	float *scores;
	size_t m;

	if (!vx->n || k <= 0)
		return 0;
	scores = xmalloc(vx->n * sizeof(float));
	for (size_t i = 0; i < vx->n; i++)
		scores[i] = dot(vx->mat + i * (size_t)vx->dim, q, vx->dim);
	m = vindex_topk(scores, vx->n, k, out);
	free(scores);
	return m;
}

/* The query side of the bound: int16 values and the per-query factors. */
struct qprep {
	int16_t *qq;   /* qstride values, zero padded */
	double scale;  /* q ~ scale * qq */
	double qn;     /* |q| rounded up */
	double fa, fb; /* e(row) = (dxn * fa + bxn * fb) * (1 + 1e-9) + fabs_ */
	double fabs_;
	double xn_max; /* rows with a larger |x| could overflow float: always rescored */
};

/* Fills p for q; returns -1 when the int8 pass cannot bound this query (the caller scans). */
static int prepare_query(const struct vindex *vx, const float *q, struct qprep *p)
{
	int dim = vx->dim;
	double mx = 0, qq = 0, dd = 0, gamma, u = ldexp(1.0, -24);
	long qmax;

	for (int i = 0; i < dim; i++) {
		if (!isfinite(q[i]))
			return -1;
		mx = fmax(mx, fabs((double)q[i]));
		qq += (double)q[i] * q[i];
	}
	/* a zero query ties every row; the bound has nothing to prune with */
	if (mx == 0 || dim * u >= 0.25)
		return -1;
	/* every int32 lane sum stays below 2^31: 127 * qmax * dim does */
	qmax = (long)(2147483647.0 / ((double)QMAX_X * dim));
	qmax = qmax > QMAX_Q ? QMAX_Q : qmax;
	if (qmax < QMAX_X)
		return -1;
	p->qq = xcalloc((size_t)vx->qstride, sizeof(*p->qq));
	p->scale = mx / (double)qmax;
	for (int i = 0; i < dim; i++) {
		long v = lrint((double)q[i] / p->scale);
		double d;
		v = v > qmax ? qmax : v < -qmax ? -qmax : v;
		p->qq[i] = (int16_t)v;
		d = (double)q[i] - p->scale * (double)v;
		dd += d * d;
	}
	gamma = dim * u / (1 - dim * u); /* float32 dot product of dim terms, any order */
	p->qn = sqrt(qq) * (1 + 1e-9);
	p->fa = p->qn;
	/* the 1e-11 covers the double roundings of approx, e and its bounds */
	p->fb = sqrt(dd) * (1 + 1e-9) + 1e-15 * p->qn + 1e-11 * p->qn;
	/* the float32 rounding term gamma |x| |q| folds into fb, as |x| <= bxn */
	p->fb += gamma * p->qn * (1 + 1e-9);
	p->fabs_ = ldexp(2.0 * (dim + 2), -149); /* products and sums that underflow */
	p->xn_max = 1e36 / p->qn;
	return 0;
}

/* Min-heap of doubles (the k best lower bounds): pushes v or replaces the root. */
static void low_push(double *h, size_t *m, size_t k, double v)
{
	size_t i;

	if (*m < k) {
		i = (*m)++;
		while (i && h[(i - 1) / 2] > v) {
			h[i] = h[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		h[i] = v;
		return;
	}
	for (i = 0;;) { /* sift v down from the root */
		size_t l = 2 * i + 1, c = l;
		if (l >= k)
			break;
		if (l + 1 < k && h[l + 1] < h[l])
			c = l + 1;
		if (h[c] >= v)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
}

size_t vindex_search_ex(const struct vindex *vx, const float *q, int k, struct vindex_hit *out,
			size_t *rescored)
{
	struct qprep p = {0};
	dots_i8_fn dots = dots_fn(vx);
	dot_f32_fn dot = dot_fn(vx);
	int32_t blk[BLOCK_ROWS];
	double *low = NULL, *chi = NULL, thr = -INFINITY;
	size_t *crow = NULL, nc = 0, ccap = 0, nlow = 0, kk = (size_t)k, m = 0, kept = 0;
	float *cs = NULL;

	if (rescored)
		*rescored = 0;
	if (!vx->n || k <= 0)
		return 0;
	if (vx->n < SCAN_MIN_ROWS || kk >= vx->n / 4 || !vx->qstride ||
	    prepare_query(vx, q, &p) < 0) {
		if (rescored)
			*rescored = vx->n;
		return vindex_search_scan(vx, q, k, out);
	}
	low = xmalloc(kk * sizeof(*low));
	for (size_t b0 = 0; b0 < vx->n; b0 += BLOCK_ROWS) {
		size_t cnt = vx->n - b0 < BLOCK_ROWS ? vx->n - b0 : BLOCK_ROWS;
		dots(vx->qmat + b0 * (size_t)vx->qstride, (size_t)vx->qstride, cnt, p.qq, blk);
		for (size_t i = 0; i < cnt; i++) {
			const struct vindex_rowq *r = &vx->rq[b0 + i];
			double hi = INFINITY;
			/* rows that are non-finite or could overflow float are always rescored */
			if (r->xn <= p.xn_max) {
				double ap = (double)r->scale * p.scale * (double)blk[i];
				double e =
				    ((double)r->dxn * p.fa + (double)r->bxn * p.fb) * (1 + 1e-9) +
				    p.fabs_;
				hi = ap + e;
				if (hi < thr)
					continue;
				if (nlow < kk || ap - e > low[0]) {
					low_push(low, &nlow, kk, ap - e);
					if (nlow == kk)
						thr = low[0];
				}
			}
			if (nc == ccap) {
				size_t c2 = ccap;
				xgrow((void **)&crow, &ccap, nc + 1, sizeof(*crow));
				xgrow((void **)&chi, &c2, nc + 1, sizeof(*chi));
			}
			crow[nc] = b0 + i;
			chi[nc++] = hi;
		}
	}
	/* the threshold only rose while scanning: drop the early candidates it now excludes */
	for (size_t j = 0; j < nc; j++)
		if (!(chi[j] < thr))
			crow[kept++] = crow[j];
	cs = xmalloc((kept ? kept : 1) * sizeof(*cs));
	for (size_t j = 0; j < kept; j++)
		cs[j] = dot(vx->mat + crow[j] * (size_t)vx->dim, q, vx->dim);
	/* candidates are in row order, so topk's tie rule on their index is the row rule */
	m = vindex_topk(cs, kept, k, out);
	for (size_t j = 0; j < m; j++)
		out[j].row = crow[out[j].row];
	if (rescored)
		*rescored = kept;
	free(cs);
	free(crow);
	free(chi);
	free(low);
	free(p.qq);
	return m;
}

size_t vindex_search(const struct vindex *vx, const float *q, int k, struct vindex_hit *out)
{
	return vindex_search_ex(vx, q, k, out, NULL);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct key_list {
	char **v;
	size_t n, cap;
};

static int collect_page(struct rds *r, const redisReply *keys, void *ctx, struct err *err)
{
	struct key_list *l = ctx;

	for (size_t i = 0; i < keys->elements; i++) {
		const redisReply *e = keys->element[i];
		if (e->type != REDIS_REPLY_STRING)
			continue;
		xgrow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v));
		l->v[l->n++] = xstrndup(e->str, e->len);
	}
	return 0;
}

/* Collects every rag_doc:* key into *keys (owned strings). Returns the count or -1. */
static long scan_keys(struct rds *r, char ***keys, struct err *err)
{
	struct key_list l = {0};

	*keys = NULL;
	if (rds_scan(r, KEYS_RAG_PREFIX "*", NULL, collect_page, &l, err) < 0) {
		for (size_t i = 0; i < l.n; i++)
			free(l.v[i]);
		free(l.v);
		return -1;
	}
	*keys = l.v;
	return (long)l.n;
}

struct vindex *vindex_load(struct rds *r, int dim, size_t *skipped, struct err *err)
{
	struct vindex *vx = NULL;
	char **keys = NULL;
	float *vec = xmalloc((size_t)dim * sizeof(float));
	long nk = scan_keys(r, &keys, err);
	size_t u = 0, bad = 0;

	if (nk < 0)
		goto out;
	/* SCAN may return a key twice: sort, then drop repeats */
	if (nk > 1)
		qsort(keys, (size_t)nk, sizeof(*keys), cmp_str);
	for (size_t i = 0; i < (size_t)nk; i++) {
		if (u && !strcmp(keys[u - 1], keys[i])) {
			free(keys[i]);
			continue;
		}
		keys[u++] = keys[i];
	}
	vx = vindex_new(dim);
	for (size_t lo = 0; lo < u; lo += LOAD_BATCH) {
		size_t cnt = u - lo < LOAD_BATCH ? u - lo : LOAD_BATCH, queued = 0;
		int failed = 0;
		for (; queued < cnt; queued++)
			if (rds_append(r, err, "HGET %s embedding", keys[lo + queued]) < 0) {
				failed = 1;
				break;
			}
		for (size_t got = 0; got < queued; got++) {
			redisReply *rep = rds_reply(r, err);
			if (!rep) {
				failed = 1; /* the connection is gone with the other replies */
				break;
			}
			if (rep->type == REDIS_REPLY_STRING && rep->len == (size_t)dim * 4) {
				embed_f32_decode((const unsigned char *)rep->str, dim, vec);
				vindex_add(vx, keys[lo + got], vec);
			} else {
				bad++; /* deleted since the SCAN, or written by something else */
			}
			freeReplyObject(rep);
		}
		if (failed) {
			vindex_unref(vx);
			vx = NULL;
			goto out;
		}
	}
	trim(vx);
	if (skipped)
		*skipped = bad;
out:
	for (size_t i = 0; i < u; i++)
		free(keys[i]);
	free(keys);
	free(vec);
	return vx;
}
