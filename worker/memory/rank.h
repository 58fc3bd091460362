/*
 * rank.h - how memories are ranked, the same for both backends:
 * score = w_vector * cosine + w_text * text + MEM_FACT_BONUS for facts, ties
 * broken by newer first, then by id. text is a BM25-style score normalised to
 * [0, 1]: the idf-weighted share of the query's words found in the memory,
 * with term-frequency saturation and length normalisation.
 * Pure functions; thread-safe.
 */
#ifndef HAINK_MEMORY_RANK_H
#define HAINK_MEMORY_RANK_H

#include <stddef.h>
#include <stdint.h>
#include "memory/backend.h"

/*
 * Tokenises s into sorted word hashes (words: runs of ASCII letters and
 * digits or non-ASCII bytes, lowercased, stopwords dropped). Returns the
 * count; *out is owned (free with free()).
 */
size_t mem_tokenize(const char *s, uint32_t **out);

/* A tokenised document: sorted word hashes (borrowed). */
struct mem_tok_doc {
	const uint32_t *t;
	size_t n;
};

/*
 * BM25 with idf over these documents, normalised: each query term scores
 * idf * min(1, tf(k1+1)/(tf + k1(1-b+b*len/avg))), summed and divided by the
 * sum of the query terms' idf, so a document of average length holding every
 * query word scores 1, longer ones a little less, and one holding none 0.
 * q: nq sorted query hashes; out: n scores.
 */
void mem_bm25(const uint32_t *q, size_t nq, const struct mem_tok_doc *docs, size_t n, double *out);

/*
 * Text scores of query against n documents, each in [0, 1] (the formula
 * above, idf over these documents). For tests and the ft backend.
 */
void mem_text_scores(const char *query, const char *const *docs, size_t n, double *out);

/* MEM_FACT_BONUS for kind "fact", else 0. */
double mem_fact_bonus(const char *kind);

/*
 * Scores candidates (vscore set by the backend) with the formula above and
 * moves the best q->top_k into out, best first; what is left in cand is
 * still cand's to release.
 */
void mem_rank_candidates(struct mem_hits *cand, const struct mem_query *q, struct mem_hits *out);

#endif
