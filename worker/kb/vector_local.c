/*
 * vector_local.c - the local vector backend: an exact in-process index
 * (vindex.h) loaded from the rag_doc:* hashes.
 *
 * It keeps one refcounted snapshot (struct vindex). A search takes a
 * reference under a mutex held for a pointer copy only, searches without
 * any lock, and drops the reference. At most once a second one searching
 * thread reads kb:meta's version (HGET); when it moved, that thread loads a
 * new snapshot and swaps it in, while every other thread keeps searching the
 * old one.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/vector.h"
#include "kb/vindex.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define KB_CHECK_INTERVAL_MS 1000

struct local {
	const struct config *cfg;
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

static int reload(struct local *kb, struct worker_ctx *w, long long version, struct err *err)
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

static struct vindex *acquire(struct local *kb)
{
	struct vindex *vx;

	pthread_mutex_lock(&kb->mu);
	vx = vindex_ref(kb->snap);
	pthread_mutex_unlock(&kb->mu);
	return vx;
}

/* Reloads the snapshot when kb:meta's version moved; at most one thread per interval asks. */
static void maybe_reload(struct local *kb, struct worker_ctx *w)
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

static int local_refresh(void *state, struct worker_ctx *w, struct err *err)
{
	struct local *kb = state;
	struct vindex *cur;
	long long v;
	int rc = 0;

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

static int local_search(void *state, struct worker_ctx *w, const float *q, int k, const char *text,
			struct kb_result *res, struct err *err)
{
	struct local *kb = state;
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

static size_t local_rows(void *state)
{
	struct vindex *vx = acquire(state);
	size_t n = vx ? vx->n : 0;

	vindex_unref(vx);
	return n;
}

static void local_close(void *state)
{
	struct local *kb = state;

	if (!kb)
		return;
	vindex_unref(kb->snap);
	pthread_mutex_destroy(&kb->mu);
	free(kb);
}

static void *local_open(struct worker_ctx *w, struct err *err)
{
	struct local *kb = xcalloc(1, sizeof(*kb));
	long long v;

	kb->cfg = w->env->cfg;
	pthread_mutex_init(&kb->mu, NULL);
	atomic_init(&kb->last_check_ms, clock_mono_ms());
	v = meta_version(w->r, err);
	if (v < 0 || reload(kb, w, v, err) < 0) {
		local_close(kb);
		return NULL;
	}
	return kb;
}

/* vector-only: text (hybrid search) is ignored */
const struct vector_backend_ops vector_backend_local = {"local",      local_open,    local_close,
							local_search, local_refresh, local_rows};
