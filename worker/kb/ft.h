/*
 * ft.h - the redis vector backend: Redis Query Engine (RediSearch) commands
 * for the knowledge base, and parsing of their RESP2 replies.
 *
 * Commands are built as binary-safe argv arrays (struct ft_argv) so tests
 * can check exactly what is sent, then run with rds_cmdv(). The index is
 *   FT.CREATE rag_doc_idx ON HASH PREFIX 1 rag_doc: SCHEMA content TEXT
 *     title TEXT source TAG embedding VECTOR HNSW|FLAT 6 TYPE FLOAT32 DIM d
 *     DISTANCE_METRIC COSINE
 * and a query is
 *   FT.SEARCH rag_doc_idx "<filter>=>[KNN k @embedding $v EF_RUNTIME e AS score]"
 *     PARAMS 2 v <FLOAT32 blob> SORTBY score RETURN 4 title source content
 *     score LIMIT 0 k DIALECT 2
 * with <filter> "*" (pure vector) or "(@content:(w1|w2…))" (hybrid); EF_RUNTIME
 * (VECTOR_EF_RUNTIME) only on an HNSW index, where the server's default (10)
 * finds about half of the true top 5 on large corpora. The
 * score the server returns is a cosine distance; hits carry 1 - distance.
 * Thread rules: pure functions, plus commands on the caller's struct rds.
 */
#ifndef HAINK_FT_H
#define HAINK_FT_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "ft_info.h"

struct rds;
struct err;
struct buf;
struct kb_result;

#define FT_MAX_ARGS 48

struct ft_argv {
	int argc;
	const char *argv[FT_MAX_ARGS];
	size_t lens[FT_MAX_ARGS];
	char *owned[8]; /* strings argv points into, freed by ft_argv_release() */
	int nowned;
};

/* Frees what a builder allocated; a is reusable afterwards. */
void ft_argv_release(struct ft_argv *a);

/* FT.CREATE for rag_doc_idx; algorithm is enum vector_algorithm. */
void ft_create_argv(struct ft_argv *a, int dim, int algorithm);

/*
 * FT.SEARCH rag_doc_idx for the k nearest chunks to the FLOAT32 blob (borrowed:
 * must outlive a). filter NULL or "" means all documents; otherwise a query
 * clause such as the one ft_text_clause() writes. ef_runtime > 0 adds
 * EF_RUNTIME (HNSW indexes only: a FLAT index rejects it); 0 leaves it out.
 */
void ft_knn_argv(struct ft_argv *a, int k, const void *blob, size_t bloblen, const char *filter,
		 int ef_runtime);

/*
 * Writes a text clause "(@field:(w1|w2|…))" matching any of the words of text
 * (ASCII letters and digits and non-ASCII bytes; words shorter than 2 bytes
 * dropped; at most 16 words) so no query-syntax character ever reaches the
 * server. Returns the number of words; 0 leaves out unchanged.
 */
int ft_text_clause(const char *field, const char *text, struct buf *out);

/*
 * Parses an FT.SEARCH RESP2 reply [total, key, [field, value, …], …] into res
 * (owned; release with kb_result_release()). Documents without a field array
 * (NOCONTENT) get empty strings. Returns 0, or -1 with ERR_PARSE on a reply of
 * another shape.
 */
int ft_parse_search(const redisReply *rep, struct kb_result *res, struct err *err);

/*
 * Returns 1 when the server has the Query Engine (COMMAND INFO FT.SEARCH
 * describes it, or FT._LIST answers), 0 when not, -1 with err when Redis
 * cannot be asked.
 */
int ft_available(struct rds *r, struct err *err);

/* Creates rag_doc_idx unless it exists ("Index already exists" is success). Returns 0 or -1. */
int ft_ensure_index(struct rds *r, int dim, int algorithm, struct err *err);

/* Drops rag_doc_idx (not its documents) when present. Returns 0 or -1. */
int ft_drop_index(struct rds *r, struct err *err);

/*
 * Runs the KNN query (filter and ef_runtime as ft_knn_argv()) for q (dim
 * floats). Returns 0 or -1; ft_no_index(err) tells a missing index apart.
 */
int ft_search(struct rds *r, const float *q, int dim, int k, const char *filter, int ef_runtime,
	      struct kb_result *res, struct err *err);

/*
 * recall@k of an approximate answer: the share of truth's first k keys
 * (exact search, best first) found among got's first k. 1 when truth is
 * empty. For `make bench` and the real-server tests.
 */
double ft_recall_at_k(const char *const *truth, size_t ntruth, const char *const *got, size_t ngot,
		      size_t k);

#endif
