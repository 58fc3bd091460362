/*
 * ft_info.c - what the Query Engine says about an index (see ft_info.h).
 */
#include "common.h"
#include "ft_info.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ft_no_index(const struct err *e)
{
	/* "Unknown Index name" (older, FT.INFO/FT.DROPINDEX), "No such index x" (2.10
	 * FT.SEARCH), "x: no such index" (Redis 8) */
	return e && (strcasestr(e->msg, "unknown index") || strcasestr(e->msg, "no such index"));
}

static int reply_is(const redisReply *r, const char *s)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
	       !strcasecmp(r->str, s);
}

static double reply_num(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return (double)r->integer;
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		return strtod(r->str, NULL);
	return 0;
}

/* One attribute of FT.INFO's "attributes": a flat list of names, values and lone flags. */
static void parse_attr(const redisReply *a, const char *attr, struct ft_info *info)
{
	int vector = 0, dim = 0, alg = -1;

	for (size_t j = 0; j + 1 < a->elements; j++) {
		const redisReply *k = a->element[j], *v = a->element[j + 1];
		if (reply_is(k, "type") && reply_is(v, "VECTOR"))
			vector = 1;
		else if (attr && reply_is(k, "attribute") && reply_is(v, attr))
			info->has_attr = 1;
		else if (reply_is(k, "algorithm"))
			alg = reply_is(v, "FLAT")   ? VECTOR_FLAT
			      : reply_is(v, "HNSW") ? VECTOR_HNSW
						    : -1;
		else if (reply_is(k, "dim"))
			dim = (int)reply_num(v);
	}
	if (vector && !info->dim) { /* the first VECTOR attribute */
		info->dim = dim;
		info->algorithm = alg;
	}
}

int ft_parse_info(const redisReply *rep, const char *attr, struct ft_info *info, struct err *err)
{
	memset(info, 0, sizeof(*info));
	info->algorithm = -1;
	info->percent_indexed = 1;
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements % 2) {
		err_set(err, ERR_PARSE, "unexpected FT.INFO reply");
		return -1;
	}
	info->exists = 1;
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const redisReply *k = rep->element[i], *v = rep->element[i + 1];
		if (reply_is(k, "indexing"))
			info->indexing = reply_num(v) != 0;
		else if (reply_is(k, "percent_indexed"))
			info->percent_indexed = reply_num(v);
		else if (reply_is(k, "num_docs"))
			info->num_docs = (long long)reply_num(v);
		else if (reply_is(k, "hash_indexing_failures"))
			info->failures = (long long)reply_num(v);
		else if (reply_is(k, "attributes") && v->type == REDIS_REPLY_ARRAY) {
			for (size_t a = 0; a < v->elements; a++)
				if (v->element[a]->type == REDIS_REPLY_ARRAY)
					parse_attr(v->element[a], attr, info);
		}
	}
	return 0;
}

int ft_info_get(struct rds *r, const char *index, const char *attr, struct ft_info *info,
		struct err *err)
{
	struct err e = {0};
	const char *av[] = {"FT.INFO", index};
	redisReply *rep = rds_cmdv(r, &e, 2, av, NULL);
	int rc;

	if (!rep) {
		memset(info, 0, sizeof(*info));
		info->algorithm = -1;
		if (ft_no_index(&e))
			return 0;
		if (err)
			*err = e;
		return -1;
	}
	rc = ft_parse_info(rep, attr, info, err);
	freeReplyObject(rep);
	return rc;
}
