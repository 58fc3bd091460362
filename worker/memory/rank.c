/*
 * rank.c - the hybrid score of memories: the BM25-style text score, the
 * fact bonus, and the ordering both backends share. See rank.h.
 */
#include "common.h"
#include "memory/rank.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>

/* ---- hits --------------------------------------------------------------- */

struct mem_hit *mem_hits_add(struct mem_hits *h)
{
	xgrow((void **)&h->v, &h->cap, h->n + 1, sizeof(*h->v));
	memset(&h->v[h->n], 0, sizeof(h->v[0]));
	return &h->v[h->n++];
}

static void hit_release(struct mem_hit *h)
{
	free(h->id);
	free(h->agent);
	free(h->content);
	free(h->kind);
	free(h->thread);
}

void mem_hits_release(struct mem_hits *h)
{
	for (size_t i = 0; i < h->n; i++)
		hit_release(&h->v[i]);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

/* ---- text scoring ------------------------------------------------------- */

#define BM25_K1	   1.2
#define BM25_B	   0.75
#define MAX_QTERMS 32

/* FNV-1a of a lowercased word. */
static uint32_t word_hash(const char *w, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)tolower((unsigned char)w[i]);
		h *= 16777619u;
	}
	return h;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Tokenises s into sorted word hashes (words: runs of ASCII letters and
 * digits or non-ASCII bytes, lowercased, stopwords dropped). Returns the
 * count; *out is owned (free with free()).
 */
size_t mem_tokenize(const char *s, uint32_t **out)
{
	size_t n = 0, cap = 0;
	uint32_t *v = NULL;

	while (*s) {
		const char *w;
		while (*s && !isalnum((unsigned char)*s) && (unsigned char)*s < 0x80)
			s++;
		w = s;
		while (*s && (isalnum((unsigned char)*s) || (unsigned char)*s >= 0x80))
			s++;
		if (s > w && !stopword_is(w, (size_t)(s - w))) {
			xgrow((void **)&v, &cap, n + 1, sizeof(*v));
			v[n++] = word_hash(w, (size_t)(s - w));
		}
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_u32);
	*out = v;
	return n;
}

/* Occurrences of t in the sorted array v. */
static int term_freq(const uint32_t *v, size_t n, uint32_t t)
{
	size_t lo = 0, hi = n;
	int c = 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo < n && v[lo++] == t)
		c++;
	return c;
}

/*
 * BM25 with idf over these documents, normalised: each query term scores
 * idf * min(1, tf(k1+1)/(tf + k1(1-b+b*len/avg))), summed and divided by the
 * sum of the query terms' idf, so a document of average length holding every
 * query word scores 1, longer ones a little less, and one holding none 0.
 */
void mem_bm25(const uint32_t *q, size_t nq, const struct mem_tok_doc *docs, size_t n, double *out)
{
	uint32_t terms[MAX_QTERMS];
	double idf[MAX_QTERMS], idf_sum = 0, avg = 0;
	size_t nt = 0;

	for (size_t i = 0; i < nq && nt < MAX_QTERMS; i++)
		if (!nt || terms[nt - 1] != q[i])
			terms[nt++] = q[i];
	for (size_t d = 0; d < n; d++) {
		avg += (double)docs[d].n;
		out[d] = 0;
	}
	avg = n ? avg / (double)n : 0;
	if (!nt || avg <= 0)
		return;
	for (size_t k = 0; k < nt; k++) {
		size_t df = 0;
		for (size_t d = 0; d < n; d++)
			df += term_freq(docs[d].t, docs[d].n, terms[k]) > 0;
		idf[k] = log(1.0 + ((double)n - (double)df + 0.5) / ((double)df + 0.5));
		idf_sum += idf[k];
	}
	for (size_t d = 0; d < n; d++) {
		double s = 0, norm = 1 - BM25_B + BM25_B * (double)docs[d].n / avg;
		for (size_t k = 0; k < nt; k++) {
			int tf = term_freq(docs[d].t, docs[d].n, terms[k]);
			if (tf) {
				double sat = tf * (BM25_K1 + 1) / (tf + BM25_K1 * norm);
				s += idf[k] * (sat < 1 ? sat : 1);
			}
		}
		out[d] = idf_sum > 0 ? s / idf_sum : 0;
	}
}

void mem_text_scores(const char *query, const char *const *docs, size_t n, double *out)
{
	uint32_t *q = NULL;
	size_t nq = mem_tokenize(query, &q);
	struct mem_tok_doc *td = xcalloc(n ? n : 1, sizeof(*td));
	uint32_t **own = xcalloc(n ? n : 1, sizeof(*own));

	for (size_t i = 0; i < n; i++) {
		td[i].n = mem_tokenize(docs[i], &own[i]);
		td[i].t = own[i];
	}
	mem_bm25(q, nq, td, n, out);
	for (size_t i = 0; i < n; i++)
		free(own[i]);
	free(own);
	free(td);
	free(q);
}

/* ---- ranking ------------------------------------------------------------ */

double mem_fact_bonus(const char *kind)
{
	return kind && !strcmp(kind, "fact") ? MEM_FACT_BONUS : 0;
}

static int cmp_hit(const void *a, const void *b)
{
	const struct mem_hit *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? 1 : -1;
	return strcmp(x->id, y->id);
}

/* Re-ranks Query Engine candidates with the same hybrid formula as local. */
void mem_rank_candidates(struct mem_hits *c, const struct mem_query *q, struct mem_hits *out)
{
	const char **docs = xcalloc(c->n + 1, sizeof(*docs));
	double *ts = xcalloc(c->n + 1, sizeof(*ts));

	for (size_t i = 0; i < c->n; i++)
		docs[i] = c->v[i].content;
	mem_text_scores(q->text ? q->text : "", docs, c->n, ts);
	for (size_t i = 0; i < c->n; i++) {
		c->v[i].tscore = ts[i];
		c->v[i].score =
		    q->w_vector * c->v[i].vscore + q->w_text * ts[i] + mem_fact_bonus(c->v[i].kind);
	}
	qsort(c->v, c->n, sizeof(*c->v), cmp_hit);
	for (size_t i = 0; i < c->n; i++) {
		if ((int)out->n < q->top_k) {
			*mem_hits_add(out) = c->v[i];
			memset(&c->v[i], 0, sizeof(c->v[i]));
		}
	}
	free(ts);
	free(docs);
}
