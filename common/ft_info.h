/*
 * ft_info.h - what the Redis Query Engine says about an index: FT.INFO
 * parsed (existence, background indexing, the first VECTOR attribute's
 * dimension and algorithm) and its "no such index" error told apart. Shared
 * by the knowledge base's rag_doc_idx (worker/kb/) and the memories'
 * memory_idx (worker/memory/), which otherwise need nothing from each other.
 * Pure parsing plus one command on the caller's connection; thread-safe.
 */
#ifndef HAINK_FT_INFO_H
#define HAINK_FT_INFO_H

#include <hiredis/hiredis.h>

struct rds;
struct err;

/* Returns 1 when e is the server's "no such index" / "Unknown index name" error. */
int ft_no_index(const struct err *e);

/* What FT.INFO says about an index (its first VECTOR attribute). */
struct ft_info {
	int exists;		/* 0: the index is missing (other fields zero) */
	int indexing;		/* 1 while the background scan of existing keys runs */
	double percent_indexed; /* 0..1; 1 when not reported */
	long long num_docs;
	long long failures; /* hash_indexing_failures (e.g. a blob of another size) */
	int dim;	    /* of the VECTOR attribute; 0 when it has none */
	int algorithm;	    /* enum vector_algorithm; -1 when unknown */
	int has_attr;	    /* 1 when the attribute ft_parse_info() was asked for exists */
};

/*
 * Parses an FT.INFO RESP2 reply into info; attr (may be NULL) names an
 * attribute whose presence sets has_attr. Returns 0 or -1 with ERR_PARSE.
 */
int ft_parse_info(const redisReply *rep, const char *attr, struct ft_info *info, struct err *err);

/*
 * FT.INFO index, parsed as ft_parse_info(); a missing index is not an error
 * (info->exists = 0). Returns 0 or -1 with err.
 */
int ft_info_get(struct rds *r, const char *index, const char *attr, struct ft_info *info,
		struct err *err);

#endif
