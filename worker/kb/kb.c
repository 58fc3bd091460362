/*
 * kb.c - the knowledge base facade: backend choice, kb:meta checks, search,
 * and the local index's snapshot swapping.
 *
 * The local backend keeps one refcounted snapshot (struct vindex). A search
 * takes a reference under a mutex held for a pointer copy only, searches
 * without any lock, and drops the reference. At most once a second one
 * searching thread reads kb:meta's version (HGET); when it moved, that thread
 * loads a new snapshot and swaps it in, while every other thread keeps
 * searching the old one.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/kb.h"
#include "kb/embed.h"
#include "kb/ft.h"
#include "kb/vindex.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define KB_CHECK_INTERVAL_MS 1000
#define KB_MAX_K	     100

struct kb {
	const struct config *cfg;
	int backend; /* VECTOR_REDIS or VECTOR_LOCAL */
	pthread_mutex_t mu;
	struct vindex *snap;	    /* guarded by mu (the pointer, not the contents) */
	atomic_llong last_check_ms; /* monotonic time of the last version check */
};

static long long meta_version(struct rds *r, struct err *err)
{
	redisReply *rep = rds_cmd(r, err, "HGET %s version", keys_kb_meta());
	long long v;

	if (!rep)
		return -1;
	v = rds_reply_int(rep, 0);
	freeReplyObject(rep);
	return v;
}

int kb_meta_check(struct worker_ctx *w, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	redisReply *rep = rds_cmd(w->r, err, "HMGET %s model dim", keys_kb_meta());
	const redisReply *m, *d;
	int rc = 0;

	if (!rep)
		return -1;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
		err_set(err, ERR_REDIS, "unexpected reply reading %s", keys_kb_meta());
		freeReplyObject(rep);
		return -1;
	}
	m = rep->element[0];
	d = rep->element[1];
	if (m->type == REDIS_REPLY_STRING || d->type == REDIS_REPLY_STRING) {
		const char *model = m->type == REDIS_REPLY_STRING ? m->str : "?";
		long long dim = rds_reply_int(d, 0);
		if (strcmp(model, cfg->embedding_model) || dim != cfg->embedding_dim) {
			err_set(err, ERR_INVALID,
				"knowledge base was built with model %s (dim %lld); configured %s "
				"(dim %d): re-ingest with --reindex",
				model, dim, cfg->embedding_model, cfg->embedding_dim);
			rc = -1;
		}
	}
	freeReplyObject(rep);
	return rc;
}

int kb_resolve_backend(struct worker_ctx *w, int *backend, struct err *err)
{
	int have;

	if (w->env->cfg->vector_backend != VECTOR_AUTO) {
		*backend = w->env->cfg->vector_backend;
		return 0;
	}
	have = ft_available(w->r, err);
	if (have < 0)
		return -1;
	*backend = have ? VECTOR_REDIS : VECTOR_LOCAL;
	return 0;
}

static int reload(struct kb *kb, struct worker_ctx *w, long long version, struct err *err)
{
	size_t skipped = 0;
	int64_t t0 = clock_mono_ms();
	struct vindex *fresh = vindex_load(w->r, kb->cfg->embedding_dim, &skipped, err), *old;
	char rows[32], ms[32], sk[32], ver[32];

	if (!fresh)
		return -1;
	fresh->version = version;
	pthread_mutex_lock(&kb->mu);
	old = kb->snap;
	kb->snap = fresh;
	pthread_mutex_unlock(&kb->mu);
	vindex_unref(old);
	snprintf(rows, sizeof(rows), "%zu", fresh->n);
	snprintf(ms, sizeof(ms), "%lld", (long long)(clock_mono_ms() - t0));
	snprintf(sk, sizeof(sk), "%zu", skipped);
	snprintf(ver, sizeof(ver), "%lld", version);
	log_kv(LOG_INFO, "knowledge base index loaded", "chunks", rows, "skipped", sk, "version",
	       ver, "ms", ms, NULL);
	return 0;
}

static struct vindex *acquire(struct kb *kb)
{
	struct vindex *vx;

	pthread_mutex_lock(&kb->mu);
	vx = vindex_ref(kb->snap);
	pthread_mutex_unlock(&kb->mu);
	return vx;
}

/* Reloads the snapshot when kb:meta's version moved; at most one thread per interval asks. */
static void maybe_reload(struct kb *kb, struct worker_ctx *w)
{
	long long now = clock_mono_ms(), last = atomic_load(&kb->last_check_ms);
	struct vindex *cur;
	struct err e = {0};
	long long v;

	if (now - last < KB_CHECK_INTERVAL_MS ||
	    !atomic_compare_exchange_strong(&kb->last_check_ms, &last, now))
		return;
	v = meta_version(w->r, &e);
	if (v < 0) {
		log_kv(LOG_WARN, "cannot check the knowledge base version", "error", e.msg, NULL);
		return;
	}
	cur = acquire(kb);
	if (!cur || cur->version != v) {
		if (reload(kb, w, v, &e) < 0)
			log_kv(LOG_WARN, "cannot reload the knowledge base index", "error", e.msg,
			       NULL);
	}
	vindex_unref(cur);
}

int kb_refresh(struct kb *kb, struct worker_ctx *w, struct err *err)
{
	struct vindex *cur;
	long long v;
	int rc = 0;

	if (kb->backend != VECTOR_LOCAL)
		return 0;
	atomic_store(&kb->last_check_ms, clock_mono_ms());
	v = meta_version(w->r, err);
	if (v < 0)
		return -1;
	cur = acquire(kb);
	if (!cur || cur->version != v)
		rc = reload(kb, w, v, err);
	vindex_unref(cur);
	return rc;
}

struct kb *kb_open(struct worker_ctx *w, struct err *err)
{
	struct kb *kb = NULL;
	int backend;
	long long v;

	if (kb_meta_check(w, err) < 0 || kb_resolve_backend(w, &backend, err) < 0)
		return NULL;
	if (backend == VECTOR_REDIS && ft_ensure_index(w->r, w->env->cfg->embedding_dim,
						       w->env->cfg->vector_algorithm, err) < 0)
		return NULL;
	kb = xcalloc(1, sizeof(*kb));
	kb->cfg = w->env->cfg;
	kb->backend = backend;
	pthread_mutex_init(&kb->mu, NULL);
	atomic_init(&kb->last_check_ms, clock_mono_ms());
	log_kv(LOG_INFO, "knowledge base opened", "backend", kb_backend_name(kb), "configured",
	       w->env->cfg->vector_backend == VECTOR_AUTO ? "auto" : "explicit", NULL);
	if (backend == VECTOR_LOCAL) {
		v = meta_version(w->r, err);
		if (v < 0 || reload(kb, w, v, err) < 0) {
			kb_close(kb);
			return NULL;
		}
	}
	return kb;
}

void kb_close(struct kb *kb)
{
	if (!kb)
		return;
	vindex_unref(kb->snap);
	pthread_mutex_destroy(&kb->mu);
	free(kb);
}

const char *kb_backend_name(const struct kb *kb)
{
	return kb->backend == VECTOR_REDIS ? "redis" : "local";
}

size_t kb_local_rows(struct kb *kb)
{
	struct vindex *vx = kb->backend == VECTOR_LOCAL ? acquire(kb) : NULL;
	size_t n = vx ? vx->n : 0;

	vindex_unref(vx);
	return n;
}

static char *field_dup(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING ? xstrndup(r->str, r->len) : xstrdup("");
}

/* Fetches title/source/content of the hits (one pipeline); drops chunks deleted meanwhile. */
static int fetch_hits(struct rds *r, const struct vindex *vx, const struct vindex_hit *top,
		      size_t m, struct kb_result *res, struct err *err)
{
	size_t queued = 0, got;
	int rc = 0;

	res->hits = xcalloc(m ? m : 1, sizeof(*res->hits));
	res->n = 0;
	for (; queued < m; queued++)
		if (rds_append(r, err, "HMGET %s title source content",
			       vindex_key(vx, top[queued].row)) < 0) {
			rc = -1;
			break;
		}
	for (got = 0; got < queued; got++) {
		redisReply *rep = rds_reply(r, err);
		struct kb_hit *h;
		if (!rep) {
			rc = -1;
			break;
		}
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
		    rep->element[2]->type == REDIS_REPLY_STRING) {
			h = &res->hits[res->n++];
			h->key = xstrdup(vindex_key(vx, top[got].row));
			h->title = field_dup(rep->element[0]);
			h->source = field_dup(rep->element[1]);
			h->content = field_dup(rep->element[2]);
			h->score = top[got].score;
		}
		freeReplyObject(rep);
	}
	if (rc < 0)
		kb_result_release(res);
	return rc;
}

static int search_local(struct kb *kb, struct worker_ctx *w, const float *q, int k,
			struct kb_result *res, struct err *err)
{
	struct vindex *vx;
	struct vindex_hit *top;
	size_t m;
	int rc;

	maybe_reload(kb, w);
	vx = acquire(kb);
	if (!vx) {
		res->hits = NULL;
		res->n = 0;
		return 0;
	}
	top = xmalloc((size_t)k * sizeof(*top));
	m = vindex_search(vx, q, k, top);
	rc = fetch_hits(w->r, vx, top, m, res, err);
	free(top);
	vindex_unref(vx);
	return rc;
}

int kb_search_ex(struct kb *kb, struct worker_ctx *w, const char *query, int k, int hybrid,
		 struct kb_result *res, struct err *err)
{
	int dim = kb->cfg->embedding_dim, rc = -1;
	float *q = NULL;
	int64_t t0;
	const char *p = query;

	res->hits = NULL;
	res->n = 0;
	while (p && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (!p || !*p) {
		err_set(err, ERR_INVALID, "search query is empty");
		return -1;
	}
	if (k <= 0)
		k = kb->cfg->kb_top_k;
	if (k > KB_MAX_K)
		k = KB_MAX_K;
	q = xmalloc((size_t)dim * sizeof(float));
	if (embed_texts(w, &query, 1, q, NULL, err) < 0)
		goto out;
	t0 = clock_mono_ns();
	if (kb->backend == VECTOR_LOCAL) {
		rc = search_local(kb, w, q, k, res, err);
	} else {
		struct buf filter = BUF_INIT;
		if (hybrid && ft_text_clause("content", query, &filter) > 0) {
			rc = ft_search(w->r, q, dim, k, filter.s, res, err);
			if (rc == 0 && res->n == 0)
				rc = ft_search(w->r, q, dim, k, NULL, res, err);
		} else {
			rc = ft_search(w->r, q, dim, k, NULL, res, err);
		}
		buf_release(&filter);
	}
	metrics_observe(NULL, M_VECTOR_SEARCH_SECONDS, "", (double)(clock_mono_ns() - t0) / 1e9);
out:
	free(q);
	return rc;
}

int kb_search(struct kb *kb, struct worker_ctx *w, const char *query, int k, struct kb_result *res,
	      struct err *err)
{
	return kb_search_ex(kb, w, query, k, 0, res, err);
}

void kb_result_release(struct kb_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->n; i++) {
		free(res->hits[i].key);
		free(res->hits[i].title);
		free(res->hits[i].source);
		free(res->hits[i].content);
	}
	free(res->hits);
	res->hits = NULL;
	res->n = 0;
}

/* Deletes every key matching pattern (SCAN + UNLINK per page). Returns the count or -1. */
static long long delete_matching(struct rds *r, const char *pattern, struct err *err)
{
	char cursor[32] = "0";
	long long n = 0;

	do {
		redisReply *rep = rds_cmd(r, err, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
		const redisReply *ks;
		if (!rep)
			return -1;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
			err_set(err, ERR_REDIS, "unexpected SCAN reply");
			freeReplyObject(rep);
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		ks = rep->element[1];
		if (ks->elements) {
			const char **argv = xmalloc((ks->elements + 1) * sizeof(*argv));
			size_t *lens = xmalloc((ks->elements + 1) * sizeof(*lens));
			redisReply *del;
			argv[0] = "UNLINK";
			lens[0] = 6;
			for (size_t i = 0; i < ks->elements; i++) {
				argv[i + 1] = ks->element[i]->str;
				lens[i + 1] = ks->element[i]->len;
			}
			del = rds_cmdv(r, err, (int)ks->elements + 1, argv, lens);
			free(argv);
			free(lens);
			if (!del) {
				freeReplyObject(rep);
				return -1;
			}
			n += rds_reply_int(del, 0);
			freeReplyObject(del);
		}
		freeReplyObject(rep);
	} while (strcmp(cursor, "0"));
	return n;
}

int kb_drop(struct worker_ctx *w, size_t *deleted, struct err *err)
{
	long long n;
	redisReply *rep;
	int have = ft_available(w->r, err);

	if (have < 0)
		return -1;
	if (have && ft_drop_index(w->r, err) < 0)
		return -1;
	n = delete_matching(w->r, KEYS_RAG_PREFIX "*", err);
	if (n < 0)
		return -1;
	rep = rds_cmd(w->r, err, "DEL %s", keys_kb_sources());
	if (!rep)
		return -1;
	freeReplyObject(rep);
	rep = rds_cmd(w->r, err, "HDEL %s model dim backend", keys_kb_meta());
	if (!rep)
		return -1;
	freeReplyObject(rep);
	rep = rds_cmd(w->r, err, "HINCRBY %s version 1", keys_kb_meta());
	if (!rep)
		return -1;
	freeReplyObject(rep);
	if (deleted)
		*deleted = (size_t)n;
	return 0;
}

static long long count_matching(struct rds *r, const char *pattern, struct err *err)
{
	char cursor[32] = "0";
	long long n = 0;

	do {
		redisReply *rep = rds_cmd(r, err, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
		if (!rep)
			return -1;
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
			snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
			n += (long long)rep->element[1]->elements;
		} else {
			snprintf(cursor, sizeof(cursor), "0");
		}
		freeReplyObject(rep);
	} while (strcmp(cursor, "0"));
	return n;
}

int kb_stats_get(struct worker_ctx *w, struct kb_stats *st, struct err *err)
{
	redisReply *rep;

	memset(st, 0, sizeof(*st));
	rep = rds_cmd(w->r, err, "HMGET %s model dim backend version", keys_kb_meta());
	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 4) {
		if (rep->element[0]->type == REDIS_REPLY_STRING)
			snprintf(st->model, sizeof(st->model), "%s", rep->element[0]->str);
		st->dim = (int)rds_reply_int(rep->element[1], 0);
		if (rep->element[2]->type == REDIS_REPLY_STRING)
			snprintf(st->backend, sizeof(st->backend), "%s", rep->element[2]->str);
		st->version = rds_reply_int(rep->element[3], 0);
	}
	freeReplyObject(rep);
	rep = rds_cmd(w->r, err, "HVALS %s", keys_kb_sources());
	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_ARRAY) {
		st->sources = (long long)rep->elements;
		for (size_t i = 0; i < rep->elements; i++)
			st->chunks += rds_reply_int(rep->element[i], 0);
	}
	freeReplyObject(rep);
	st->cache_keys = count_matching(w->r, KEYS_EMBEDDING_PREFIX "*", err);
	return st->cache_keys < 0 ? -1 : 0;
}
