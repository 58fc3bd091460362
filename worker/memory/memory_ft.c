/*
 * memory_ft.c - FT.CREATE / FT.SEARCH for memories (see memory_ft.h).
 */
#include "common.h"
#include "memory/backend.h"
#include "memory/memory_ft.h"
#include "memory/rank.h"
#include "ft_info.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <stdatomic.h>
#include <stdlib.h>

static void cmd_add(struct mem_cmd *c, const char *s, size_t n)
{
	c->argv = xrealloc(c->argv, sizeof(*c->argv) * (size_t)(c->argc + 1));
	c->lens = xrealloc(c->lens, sizeof(*c->lens) * (size_t)(c->argc + 1));
	c->argv[c->argc] = xmalloc(n + 1);
	memcpy(c->argv[c->argc], s, n);
	c->argv[c->argc][n] = '\0';
	c->lens[c->argc] = n;
	c->argc++;
}

static void cmd_adds(struct mem_cmd *c, const char *s)
{
	cmd_add(c, s, strlen(s));
}

void mem_cmd_release(struct mem_cmd *c)
{
	for (int i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	free(c->lens);
	memset(c, 0, sizeof(*c));
}

char *mem_cmd_text(const struct mem_cmd *c)
{
	struct buf b = BUF_INIT;

	for (int i = 0; i < c->argc; i++) {
		if (i)
			buf_addch(&b, ' ');
		if (strlen(c->argv[i]) != c->lens[i])
			buf_addf(&b, "<%zu bytes>", c->lens[i]);
		else
			buf_add(&b, c->argv[i], c->lens[i]);
	}
	return buf_detach(&b, NULL);
}

void mem_ft_scope_tag(const struct mem_scope *s, const char *thread, char out[MEM_FT_TAG_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *set = keys_memory_scope(s->app, s->agent, s->user);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		abort();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, set, strlen(set));
	if (thread) {
		EVP_DigestUpdate(ctx, "", 1);
		EVP_DigestUpdate(ctx, thread, strlen(thread));
	}
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	free(set);
	for (int i = 0; i < MEM_FT_TAG_LEN / 2; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[MEM_FT_TAG_LEN] = '\0';
}

void mem_ft_create_cmd(struct mem_cmd *c, int dim)
{
	static const char *const head[] = {"FT.CREATE",
					   KEYS_MEMORY_INDEX,
					   "ON",
					   "HASH",
					   "PREFIX",
					   "1",
					   KEYS_MEMORY_PREFIX,
					   "SCHEMA",
					   "scope",
					   "TAG",
					   "CASESENSITIVE",
					   "tscope",
					   "TAG",
					   "CASESENSITIVE",
					   "kind",
					   "TAG",
					   "content",
					   "TEXT",
					   "created_ms",
					   "NUMERIC",
					   "SORTABLE",
					   "embedding",
					   "VECTOR",
					   "FLAT",
					   "6",
					   "TYPE",
					   "FLOAT32",
					   "DIM"};
	char d[16];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		cmd_adds(c, head[i]);
	snprintf(d, sizeof(d), "%d", dim);
	cmd_adds(c, d);
	cmd_adds(c, "DISTANCE_METRIC");
	cmd_adds(c, "COSINE");
}

void mem_ft_search_cmd(struct mem_cmd *c, const struct mem_scope *s, const struct mem_query *q,
		       int pool, long long since)
{
	struct buf f = BUF_INIT;
	char n[16], tag[MEM_FT_TAG_LEN + 1];

	memset(c, 0, sizeof(*c));
	snprintf(n, sizeof(n), "%d", pool);
	/* digests are [0-9a-f]: nothing to escape, nothing to fold or split */
	mem_ft_scope_tag(s, NULL, tag);
	buf_addf(&f, "(@scope:{%s}", tag);
	if (s->thread) {
		mem_ft_scope_tag(s, s->thread, tag);
		buf_addf(&f, " @tscope:{%s}", tag);
	}
	if (since >= 0)
		buf_addf(&f, " @created_ms:[%lld +inf]", since);
	buf_addch(&f, ')');
	if (q->vec)
		buf_addf(&f, "=>[KNN %d @embedding $v AS vscore]", pool);
	cmd_adds(c, "FT.SEARCH");
	cmd_adds(c, KEYS_MEMORY_INDEX);
	cmd_add(c, f.s, f.len);
	if (q->vec) {
		cmd_adds(c, "PARAMS");
		cmd_adds(c, "2");
		cmd_adds(c, "v");
		cmd_add(c, (const char *)q->vec, sizeof(float) * (size_t)q->dim);
		cmd_adds(c, "RETURN");
		cmd_adds(c, "5");
	} else {
		cmd_adds(c, "RETURN");
		cmd_adds(c, "4");
	}
	cmd_adds(c, "content");
	cmd_adds(c, "kind");
	cmd_adds(c, "thread");
	cmd_adds(c, "created_ms");
	if (q->vec)
		cmd_adds(c, "vscore");
	cmd_adds(c, "SORTBY");
	cmd_adds(c, q->vec ? "vscore" : "created_ms");
	cmd_adds(c, q->vec ? "ASC" : "DESC");
	cmd_adds(c, "LIMIT");
	cmd_adds(c, "0");
	cmd_adds(c, n);
	cmd_adds(c, "DIALECT");
	cmd_adds(c, "2");
	buf_release(&f);
}

static int is_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

int mem_ft_parse(const redisReply *rep, struct mem_hits *out, struct err *err)
{
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER || rep->elements % 2 != 1) {
		err_set(err, ERR_PARSE, "memory search: unexpected FT.SEARCH reply");
		return -1;
	}
	for (size_t i = 1; i + 1 < rep->elements; i += 2) {
		const redisReply *key = rep->element[i], *f = rep->element[i + 1];
		const char *colon;
		struct mem_hit *h;

		if (!is_str(key) || f->type != REDIS_REPLY_ARRAY || f->elements % 2) {
			err_set(err, ERR_PARSE, "memory search: malformed result %zu", i / 2);
			return -1;
		}
		colon = strrchr(key->str, ':');
		h = mem_hits_add(out);
		h->id = xstrdup(colon ? colon + 1 : key->str);
		h->vscore = 0;
		for (size_t k = 0; k + 1 < f->elements; k += 2) {
			const redisReply *name = f->element[k], *val = f->element[k + 1];
			if (!is_str(name) || !is_str(val))
				continue;
			if (!strcmp(name->str, "content"))
				h->content = xstrndup(val->str, val->len);
			else if (!strcmp(name->str, "kind"))
				h->kind = xstrndup(val->str, val->len);
			else if (!strcmp(name->str, "thread"))
				h->thread = xstrndup(val->str, val->len);
			else if (!strcmp(name->str, "created_ms"))
				h->created_ms = strtoll(val->str, NULL, 10);
			else if (!strcmp(name->str, "vscore"))
				h->vscore = 1.0 - strtod(val->str, NULL);
		}
		if (!h->content)
			h->content = xstrdup("");
		if (!h->kind)
			h->kind = xstrdup("turn");
		if (!h->thread)
			h->thread = xstrdup("");
	}
	return 0;
}

/* 1 once memory_idx was seen usable; reset when a search finds it gone */
static atomic_int ready;
/* the last reason logged for not using memory_idx, so each is logged once */
static atomic_int told;

enum { TOLD_NONE, TOLD_SCHEMA, TOLD_DIM, TOLD_INDEXING };

static void tell(int why, const char *msg, int dim, int want)
{
	char d[16], w[16];

	if (atomic_exchange(&told, why) == why)
		return;
	snprintf(d, sizeof(d), "%d", dim);
	snprintf(w, sizeof(w), "%d", want);
	log_kv(LOG_WARN, msg, "index", KEYS_MEMORY_INDEX, "index_dim", d, "embedding_dim", w, NULL);
}

void mem_ft_reset(void)
{
	atomic_store(&ready, 0);
	atomic_store(&told, TOLD_NONE);
}

int mem_ft_ready(struct rds *r, int dim, struct err *err)
{
	struct ft_info fi;
	struct mem_cmd c;
	redisReply *rep;
	struct err e = {0};

	if (atomic_load(&ready))
		return 1;
	if (ft_info_get(r, KEYS_MEMORY_INDEX, "tscope", &fi, err) < 0)
		return -1;
	if (!fi.exists) {
		mem_ft_create_cmd(&c, dim);
		rep = rds_cmdv(r, &e, c.argc, (const char **)c.argv, c.lens);
		mem_cmd_release(&c);
		if (rep)
			freeReplyObject(rep);
		else if (!strstr(e.msg, "already exists")) {
			err_set(err, e.code, "cannot create %s: %s", KEYS_MEMORY_INDEX, e.msg);
			return -1;
		}
		/* existing memories (after a drop) are indexed in the background */
		if (ft_info_get(r, KEYS_MEMORY_INDEX, "tscope", &fi, err) < 0)
			return -1;
	}
	if (!fi.has_attr) {
		tell(TOLD_SCHEMA,
		     "memory index has no scope tags (built by an older version): using the "
		     "local memory backend; run `haink-worker memory reindex`",
		     fi.dim, dim);
		return 0;
	}
	if (fi.dim != dim) {
		tell(TOLD_DIM,
		     "memory index was built for another embedding dimension: using the local "
		     "memory backend; run `haink-worker memory reindex`",
		     fi.dim, dim);
		return 0;
	}
	if (fi.indexing) {
		tell(TOLD_INDEXING,
		     "memory index is still indexing existing memories: using the local memory "
		     "backend meanwhile",
		     fi.dim, dim);
		return 0;
	}
	atomic_store(&told, TOLD_NONE);
	atomic_store(&ready, 1);
	return 1;
}

/*
 * The created_ms of the scope's MEM_SCAN_MAX-th newest memory and its id
 * (owned, in *id), or -1 when the scope holds fewer: the local backend's
 * candidate window.
 */
static long long window_start(struct rds *r, const struct mem_scope *s, char **id, struct err *err)
{
	char *set = keys_memory_scope(s->app, s->agent, s->user), at[16];
	const char *av[] = {"ZREVRANGE", set, at, at, "WITHSCORES"};
	redisReply *rep;
	long long since = -1;

	*id = NULL;
	snprintf(at, sizeof(at), "%d", MEM_SCAN_MAX - 1);
	rep = rds_cmdv(r, err, 5, av, NULL);
	free(set);
	if (!rep)
		return -2;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_STRING &&
	    rep->element[1]->type == REDIS_REPLY_STRING) {
		since = strtoll(rep->element[1]->str, NULL, 10);
		*id = xstrndup(rep->element[0]->str, rep->element[0]->len);
	}
	freeReplyObject(rep);
	return since;
}

int mem_ft_search(struct rds *r, const struct mem_scope *s, const struct mem_query *q,
		  struct mem_hits *out, struct err *err)
{
	struct mem_cmd c;
	redisReply *rep = NULL;
	struct err e = {0};
	char *edge = NULL;
	long long since;
	size_t first = out->n, kept;
	int rc = -1, ok;

	ok = mem_ft_ready(r, q->dim, err);
	if (ok <= 0)
		return ok < 0 ? -1 : 1;
	since = window_start(r, s, &edge, err);
	if (since == -2)
		return -1;
	mem_ft_search_cmd(&c, s, q, MEM_FT_POOL, since);
	rep = rds_cmdv(r, &e, c.argc, (const char **)c.argv, c.lens);
	if (!rep && ft_no_index(&e)) {
		/* dropped or flushed since: recreate now, not at the next restart */
		atomic_store(&ready, 0);
		ok = mem_ft_ready(r, q->dim, err);
		if (ok > 0) {
			memset(&e, 0, sizeof(e));
			rep = rds_cmdv(r, &e, c.argc, (const char **)c.argv, c.lens);
		}
	}
	mem_cmd_release(&c);
	if (!rep) {
		if (ok <= 0) {
			rc = ok < 0 ? -1 : 1;
		} else if (err) {
			*err = e;
		}
		goto out;
	}
	rc = mem_ft_parse(rep, out, err);
	/* rows sharing the window's first millisecond: keep those ZREVRANGE puts inside */
	kept = first;
	for (size_t i = first; rc == 0 && i < out->n; i++) {
		struct mem_hit *h = &out->v[i];
		if (edge && (h->created_ms < since ||
			     (h->created_ms == since && strcmp(h->id, edge) < 0))) {
			free(h->id);
			free(h->agent);
			free(h->content);
			free(h->kind);
			free(h->thread);
			continue;
		}
		out->v[kept++] = *h;
	}
	if (rc == 0)
		out->n = kept;
out:
	if (rep)
		freeReplyObject(rep);
	free(edge);
	return rc;
}

/*
 * The backend: the Query Engine's candidates, ranked like the local ones.
 * While memory_idx cannot be trusted (mem_ft_ready() is 0) the local
 * backend answers the same query from the same hashes.
 */
static int ft_search_ranked(struct rds *r, const struct mem_scope *s, const struct mem_query *q,
			    struct mem_hits *out, struct err *err)
{
	struct mem_hits cand = {0};
	int rc = mem_ft_search(r, s, q, &cand, err);

	if (rc == 0)
		mem_rank_candidates(&cand, q, out);
	mem_hits_release(&cand);
	if (rc == 1)
		return mem_backend_local.search(r, s, q, out, err);
	return rc;
}

/*
 * Creates memory_idx before a memory is written, so it is indexed on write.
 * A failure only costs the index (searches fall back to the local path),
 * never the memory: logged, not returned.
 */
static int ft_prepare(struct rds *r, int dim, struct err *err)
{
	struct err e = {0};

	(void)err;
	if (mem_ft_ready(r, dim, &e) < 0)
		log_kv(LOG_WARN, "memory index unavailable", "error", e.msg, NULL);
	return 0;
}

const struct mem_backend_ops mem_backend_ft = {"ft", ft_prepare, ft_search_ranked};
