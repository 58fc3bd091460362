/*
 * ft.c - Redis Query Engine commands for rag_doc_idx.
 */
#include "common.h"
#include "kb/ft.h"
#include "kb/vector.h"
#include "kb/embed_cache.h"

#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

static void arg(struct ft_argv *a, const char *s)
{
	if (a->argc >= FT_MAX_ARGS)
		abort(); /* a builder bug, never input-dependent */
	a->argv[a->argc] = s;
	a->lens[a->argc++] = strlen(s);
}

static void arg_owned(struct ft_argv *a, char *s)
{
	if (a->nowned >= (int)(sizeof(a->owned) / sizeof(a->owned[0])))
		abort();
	a->owned[a->nowned++] = s;
	arg(a, s);
}

void ft_argv_release(struct ft_argv *a)
{
	for (int i = 0; i < a->nowned; i++)
		free(a->owned[i]);
	memset(a, 0, sizeof(*a));
}

void ft_create_argv(struct ft_argv *a, int dim, int algorithm)
{
	static const char *const head[] = {
	    "FT.CREATE",     KEYS_RAG_INDEX, "ON",	  "HASH",   "PREFIX", "1",
	    KEYS_RAG_PREFIX, "SCHEMA",	     "content",	  "TEXT",   "title",  "TEXT",
	    "source",	     "TAG",	     "embedding", "VECTOR",
	};

	memset(a, 0, sizeof(*a));
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		arg(a, head[i]);
	arg(a, algorithm == VECTOR_FLAT ? "FLAT" : "HNSW");
	arg(a, "6");
	arg(a, "TYPE");
	arg(a, "FLOAT32");
	arg(a, "DIM");
	arg_owned(a, xasprintf("%d", dim));
	arg(a, "DISTANCE_METRIC");
	arg(a, "COSINE");
}

void ft_knn_argv(struct ft_argv *a, int k, const void *blob, size_t bloblen, const char *filter,
		 int ef_runtime)
{
	char ef[32] = "";

	memset(a, 0, sizeof(*a));
	if (ef_runtime > 0)
		snprintf(ef, sizeof(ef), " EF_RUNTIME %d", ef_runtime);
	arg(a, "FT.SEARCH");
	arg(a, KEYS_RAG_INDEX);
	arg_owned(a, xasprintf("%s=>[KNN %d @embedding $v%s AS score]",
			       filter && *filter ? filter : "*", k, ef));
	arg(a, "PARAMS");
	arg(a, "2");
	arg(a, "v");
	a->argv[a->argc] = blob;
	a->lens[a->argc++] = bloblen;
	arg(a, "SORTBY");
	arg(a, "score");
	arg(a, "RETURN");
	arg(a, "4");
	arg(a, "title");
	arg(a, "source");
	arg(a, "content");
	arg(a, "score");
	/* FT.SEARCH returns 10 documents unless told otherwise */
	arg(a, "LIMIT");
	arg(a, "0");
	arg_owned(a, xasprintf("%d", k));
	arg(a, "DIALECT");
	arg(a, "2");
}

int ft_text_clause(const char *field, const char *text, struct buf *out)
{
	struct buf words = BUF_INIT;
	const unsigned char *s = (const unsigned char *)text;
	int nw = 0;

	while (*s && nw < 16) {
		const unsigned char *w;
		while (*s && !(isalnum(*s) || *s >= 0x80))
			s++;
		w = s;
		while (*s && (isalnum(*s) || *s >= 0x80))
			s++;
		if (s - w < 2)
			continue;
		if (nw++)
			buf_addch(&words, '|');
		for (const unsigned char *p = w; p < s; p++)
			buf_addch(&words, (char)(*p < 0x80 ? tolower(*p) : *p));
	}
	if (nw)
		buf_addf(out, "(@%s:(%s))", field, words.s);
	buf_release(&words);
	return nw;
}

static char *reply_str(const redisReply *r)
{
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		return xstrndup(r->str, r->len);
	if (r->type == REDIS_REPLY_INTEGER)
		return xasprintf("%lld", r->integer);
	return xstrdup("");
}

int ft_parse_search(const redisReply *rep, struct kb_result *res, struct err *err)
{
	size_t i, n = 0;

	res->hits = NULL;
	res->n = 0;
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER) {
		err_set(err, ERR_PARSE, "unexpected FT.SEARCH reply");
		return -1;
	}
	res->hits = xcalloc(rep->elements, sizeof(*res->hits));
	for (i = 1; i < rep->elements; i++) {
		const redisReply *key = rep->element[i], *fields = NULL;
		struct kb_hit *h;
		if (key->type != REDIS_REPLY_STRING) {
			err_set(err, ERR_PARSE,
				"unexpected FT.SEARCH reply: document %zu has no key", n + 1);
			goto fail;
		}
		if (i + 1 < rep->elements && rep->element[i + 1]->type == REDIS_REPLY_ARRAY)
			fields = rep->element[++i];
		h = &res->hits[n++];
		h->key = xstrndup(key->str, key->len);
		h->score = 0;
		for (size_t f = 0; fields && f + 1 < fields->elements; f += 2) {
			const redisReply *name = fields->element[f], *val = fields->element[f + 1];
			if (name->type != REDIS_REPLY_STRING)
				continue;
			if (!strcmp(name->str, "title") && !h->title)
				h->title = reply_str(val);
			else if (!strcmp(name->str, "source") && !h->source)
				h->source = reply_str(val);
			else if (!strcmp(name->str, "content") && !h->content)
				h->content = reply_str(val);
			else if (!strcmp(name->str, "score") && val->type == REDIS_REPLY_STRING)
				h->score = 1.0 - strtod(val->str, NULL); /* cosine distance */
		}
		if (!h->title)
			h->title = xstrdup("");
		if (!h->source)
			h->source = xstrdup("");
		if (!h->content)
			h->content = xstrdup("");
		res->n = n;
	}
	res->n = n;
	return 0;
fail:
	res->n = n;
	kb_result_release(res);
	return -1;
}

int ft_available(struct rds *r, struct err *err)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(r, &e, "COMMAND INFO FT.SEARCH");
	int ok;

	if (rep) {
		ok = rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
		     rep->element[0]->type == REDIS_REPLY_ARRAY;
		freeReplyObject(rep);
		if (ok)
			return 1;
	} else if (!rds_err_is(&e, "ERR") && !rds_err_is(&e, "NOPERM")) {
		if (err)
			*err = e;
		return -1; /* connection trouble, not an answer */
	}
	/* COMMAND may be renamed or forbidden on managed Redis: ask the module itself */
	rep = rds_cmd(r, &e, "FT._LIST");
	if (rep) {
		freeReplyObject(rep);
		return 1;
	}
	if (e.code == ERR_REDIS && strstr(e.msg, "connection")) {
		if (err)
			*err = e;
		return -1;
	}
	return 0;
}

int ft_ensure_index(struct rds *r, int dim, int algorithm, struct err *err)
{
	struct ft_argv a;
	struct err e = {0};
	redisReply *rep;

	ft_create_argv(&a, dim, algorithm);
	rep = rds_cmdv(r, &e, a.argc, a.argv, a.lens);
	ft_argv_release(&a);
	if (rep) {
		freeReplyObject(rep);
		return 0;
	}
	if (strstr(e.msg, "already exists"))
		return 0;
	err_set(err, e.code, "cannot create the search index %s: %s", KEYS_RAG_INDEX, e.msg);
	return -1;
}

int ft_drop_index(struct rds *r, struct err *err)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(r, &e, "FT.DROPINDEX %s", KEYS_RAG_INDEX);

	if (rep) {
		freeReplyObject(rep);
		return 0;
	}
	if (ft_no_index(&e))
		return 0;
	if (err)
		*err = e;
	return -1;
}

int ft_search(struct rds *r, const float *q, int dim, int k, const char *filter, int ef_runtime,
	      struct kb_result *res, struct err *err)
{
	unsigned char *blob = xmalloc((size_t)dim * 4);
	struct ft_argv a;
	redisReply *rep;
	int rc = -1;

	res->hits = NULL;
	res->n = 0;
	embed_f32_encode(q, dim, blob);
	ft_knn_argv(&a, k, blob, (size_t)dim * 4, filter, ef_runtime);
	rep = rds_cmdv(r, err, a.argc, a.argv, a.lens);
	ft_argv_release(&a);
	if (rep) {
		rc = ft_parse_search(rep, res, err);
		freeReplyObject(rep);
	}
	free(blob);
	return rc;
}

double ft_recall_at_k(const char *const *truth, size_t ntruth, const char *const *got, size_t ngot,
		      size_t k)
{
	size_t found = 0, nt = ntruth < k ? ntruth : k, ng = ngot < k ? ngot : k;

	if (!nt)
		return 1;
	for (size_t i = 0; i < nt; i++)
		for (size_t j = 0; j < ng; j++)
			if (!strcmp(truth[i], got[j])) {
				found++;
				break;
			}
	return (double)found / (double)nt;
}
