/*
 * memory_local.c - the local memory backend (Redis without the Query
 * Engine): the newest MEM_SCAN_MAX ids of the scope, rows this process has
 * not seen fetched once and kept in an LRU row cache, scored in process.
 * See backend.h.
 */
#include "common.h"
#include "memory/backend.h"
#include "memory/rank.h"

#include <pthread.h>
#include <stdlib.h>

/* ---- the row cache ------------------------------------------------------ */

struct mem_row {
	char *id, *content, *kind, *thread;
	int64_t created_ms;
	float *vec; /* NULL when stored without one */
	int dim;
	uint32_t *toks;
	size_t ntoks;
	size_t bytes;
	int mark; /* scratch, under cache.mu */
};

struct mem_entry {
	char *key;	       /* the scope set's key */
	struct mem_row **rows; /* newest first, as the scope set */
	size_t n;
	size_t bytes;
	uint64_t used;
};

static struct {
	pthread_mutex_t mu;
	struct mem_entry **v;
	size_t n, cap;
	size_t bytes, budget;
	uint64_t tick;
} cache = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0, MEM_CACHE_BYTES, 0};

static void row_free(struct mem_row *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->content);
	free(r->kind);
	free(r->thread);
	free(r->vec);
	free(r->toks);
	free(r);
}

static void entry_free(struct mem_entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		row_free(e->rows[i]);
	free(e->rows);
	free(e->key);
	free(e);
}

/* Call with cache.mu held. */
static struct mem_entry *cache_find(const char *key, size_t *idx)
{
	for (size_t i = 0; i < cache.n; i++)
		if (!strcmp(cache.v[i]->key, key)) {
			if (idx)
				*idx = i;
			return cache.v[i];
		}
	return NULL;
}

/* Call with cache.mu held: drops least recently used entries other than keep. */
static void cache_evict(const struct mem_entry *keep)
{
	while (cache.bytes > cache.budget && cache.n > 1) {
		size_t lru = cache.n;
		for (size_t i = 0; i < cache.n; i++)
			if (cache.v[i] != keep &&
			    (lru == cache.n || cache.v[i]->used < cache.v[lru]->used))
				lru = i;
		if (lru == cache.n)
			return;
		cache.bytes -= cache.v[lru]->bytes;
		entry_free(cache.v[lru]);
		cache.v[lru] = cache.v[--cache.n];
	}
}

void mem_cache_reset(size_t budget)
{
	pthread_mutex_lock(&cache.mu);
	if (budget == (size_t)-1)
		budget = cache.budget;
	for (size_t i = 0; i < cache.n; i++)
		entry_free(cache.v[i]);
	free(cache.v);
	cache.v = NULL;
	cache.n = cache.cap = cache.bytes = 0;
	cache.budget = budget;
	pthread_mutex_unlock(&cache.mu);
}

/*
 * Finds id in e, trying position hint + *shift first: when a new memory
 * arrives the list shifts by one, so the lookups stay O(1) per row.
 */
static struct mem_row *entry_row(const struct mem_entry *e, const char *id, size_t hint,
				 ptrdiff_t *shift)
{
	ptrdiff_t at = (ptrdiff_t)hint + *shift;

	if (!e)
		return NULL;
	if (at >= 0 && (size_t)at < e->n && !strcmp(e->rows[at]->id, id))
		return e->rows[at];
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->rows[i]->id, id)) {
			*shift = (ptrdiff_t)i - (ptrdiff_t)hint;
			return e->rows[i];
		}
	return NULL;
}

/* ---- local search ------------------------------------------------------- */

/* Fetches the rows of ids (pipelined HMGET); NULL where the hash is gone. */
static int fetch_rows(struct rds *r, const struct mem_scope *s, char **ids, size_t n, int dim,
		      struct mem_row **out, struct err *err)
{
	size_t sent = 0;
	int rc = -1;

	for (; sent < n; sent++) {
		char *key = keys_memory(s->app, s->agent, s->user, ids[sent]);
		const char *av[] = {"HMGET",  key,	    "content",	"kind",
				    "thread", "created_ms", "embedding"};
		int ok = rds_appendv(r, err, 7, av, NULL);
		free(key);
		if (ok < 0)
			break;
	}
	for (size_t i = 0; i < sent; i++) {
		redisReply *rep = rds_reply(r, err);
		struct mem_row *row;
		redisReply **f;

		if (!rep)
			return -1; /* connection dropped: the rest are lost */
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 5 ||
		    rep->element[0]->type != REDIS_REPLY_STRING) {
			freeReplyObject(rep);
			continue;
		}
		f = rep->element;
		row = xcalloc(1, sizeof(*row));
		row->id = xstrdup(ids[i]);
		row->content = xstrndup(f[0]->str, f[0]->len);
		row->kind = f[1]->type == REDIS_REPLY_STRING ? xstrdup(f[1]->str) : xstrdup("turn");
		row->thread = f[2]->type == REDIS_REPLY_STRING ? xstrdup(f[2]->str) : xstrdup("");
		row->created_ms =
		    f[3]->type == REDIS_REPLY_STRING ? strtoll(f[3]->str, NULL, 10) : 0;
		if (f[4]->type == REDIS_REPLY_STRING && f[4]->len == sizeof(float) * (size_t)dim &&
		    dim > 0) {
			row->vec = xmalloc(f[4]->len);
			memcpy(row->vec, f[4]->str, f[4]->len);
			row->dim = dim;
		}
		row->ntoks = mem_tokenize(row->content, &row->toks);
		row->bytes = sizeof(*row) + strlen(row->content) + (row->vec ? f[4]->len : 0) +
			     row->ntoks * sizeof(uint32_t) + 64;
		out[i] = row;
		freeReplyObject(rep);
	}
	rc = sent == n ? 0 : -1;
	return rc;
}

static double dot(const float *a, const float *b, int dim)
{
	double s = 0;
	for (int i = 0; i < dim; i++)
		s += (double)a[i] * (double)b[i];
	return s;
}

struct scored {
	const struct mem_row *row;
	double score, v, t;
};

static int cmp_scored(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	if (x->row->created_ms != y->row->created_ms)
		return x->row->created_ms < y->row->created_ms ? 1 : -1;
	return strcmp(x->row->id, y->row->id);
}

/* Scores rows (thread-filtered) and appends the top k to out. */
static void rank_rows(struct mem_row **rows, size_t n, const struct mem_scope *s,
		      const struct mem_query *q, struct mem_hits *out)
{
	struct scored *sc = xcalloc(n ? n : 1, sizeof(*sc));
	struct mem_tok_doc *td = xcalloc(n ? n : 1, sizeof(*td));
	double *ts = xcalloc(n ? n : 1, sizeof(*ts));
	uint32_t *qt = NULL;
	size_t nq = mem_tokenize(q->text ? q->text : "", &qt), m = 0;

	for (size_t i = 0; i < n; i++) {
		if (s->thread && strcmp(rows[i]->thread, s->thread))
			continue;
		sc[m].row = rows[i];
		td[m].t = rows[i]->toks;
		td[m].n = rows[i]->ntoks;
		m++;
	}
	mem_bm25(qt, nq, td, m, ts);
	for (size_t i = 0; i < m; i++) {
		const struct mem_row *r = sc[i].row;
		sc[i].v = q->vec && r->vec && r->dim == q->dim ? dot(q->vec, r->vec, q->dim) : 0;
		sc[i].t = ts[i];
		sc[i].score = q->w_vector * sc[i].v + q->w_text * sc[i].t + mem_fact_bonus(r->kind);
	}
	qsort(sc, m, sizeof(*sc), cmp_scored);
	for (size_t i = 0; i < m && (int)i < q->top_k; i++) {
		struct mem_hit *h = mem_hits_add(out);
		h->id = xstrdup(sc[i].row->id);
		h->content = xstrdup(sc[i].row->content);
		h->kind = xstrdup(sc[i].row->kind);
		h->thread = xstrdup(sc[i].row->thread);
		h->created_ms = sc[i].row->created_ms;
		h->score = sc[i].score;
		h->vscore = sc[i].v;
		h->tscore = sc[i].t;
	}
	free(qt);
	free(ts);
	free(td);
	free(sc);
}

/* The newest MEM_SCAN_MAX ids of the scope (owned reply), or NULL with err. */
static redisReply *scope_ids(struct rds *r, const char *set, struct err *err)
{
	char last[16];
	const char *av[] = {"ZREVRANGE", set, "0", last};
	redisReply *rep;

	snprintf(last, sizeof(last), "%d", MEM_SCAN_MAX - 1);
	rep = rds_cmdv(r, err, 4, av, NULL);
	if (rep && rep->type != REDIS_REPLY_ARRAY) {
		err_set(err, ERR_REDIS, "memory search: unexpected reply type %d", rep->type);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

/*
 * Call with cache.mu held. Builds the scope's new cache entry from the ids
 * (newest first): rows the old entry holds, else the just fetched ones
 * (fetched[k] for missing[k], taken over: set to NULL), ranks it into out,
 * and swaps it in for the old entry, keeping the cache within its budget.
 * rows is scratch space for n pointers.
 */
static void cache_install(const char *set, const redisReply *ids, char **missing, size_t nmiss,
			  struct mem_row **fetched, struct mem_row **rows,
			  const struct mem_scope *s, const struct mem_query *q,
			  struct mem_hits *out)
{
	size_t n = ids->elements, i;
	struct mem_entry *e = cache_find(set, NULL), *ne;
	size_t m = 0, k = 0, bytes = 0;
	ptrdiff_t shift = 0;

	for (i = 0; i < n; i++) {
		const char *id = ids->element[i]->str;
		struct mem_row *row = entry_row(e, id, i, &shift);
		if (!row && k < nmiss && !strcmp(missing[k], id)) {
			row = fetched[k];
			fetched[k] = NULL; /* now owned by the entry */
		}
		if (k < nmiss && !strcmp(missing[k], id))
			k++;
		if (row)
			rows[m++] = row;
	}
	ne = xcalloc(1, sizeof(*ne));
	ne->key = xstrdup(set);
	ne->rows = xcalloc(m + 1, sizeof(*ne->rows));
	for (i = 0; i < m; i++) {
		ne->rows[i] = rows[i];
		bytes += rows[i]->bytes;
	}
	ne->n = m;
	ne->bytes = bytes;
	ne->used = ++cache.tick;
	rank_rows(ne->rows, ne->n, s, q, out);
	if (e) {
		/* free the old entry's rows that the new one does not hold */
		size_t idx = 0;
		cache_find(set, &idx);
		for (i = 0; i < m; i++)
			ne->rows[i]->mark = 1;
		for (i = 0; i < e->n; i++)
			if (!e->rows[i]->mark)
				row_free(e->rows[i]);
		for (i = 0; i < m; i++)
			ne->rows[i]->mark = 0;
		cache.bytes -= e->bytes;
		free(e->rows);
		free(e->key);
		free(e);
		cache.v[idx] = ne;
	} else {
		xgrow((void **)&cache.v, &cache.cap, cache.n + 1, sizeof(*cache.v));
		cache.v[cache.n++] = ne;
	}
	cache.bytes += ne->bytes;
	if (cache.bytes > cache.budget) {
		cache_evict(ne);
		if (cache.bytes > cache.budget) { /* the scope alone is over budget */
			size_t idx = 0;
			cache_find(set, &idx);
			cache.bytes -= ne->bytes;
			entry_free(ne);
			cache.v[idx] = cache.v[--cache.n];
		}
	}
}

static int local_search(struct rds *r, const struct mem_scope *s, const struct mem_query *q,
			struct mem_hits *out, struct err *err)
{
	char *set = keys_memory_scope(s->app, s->agent, s->user);
	redisReply *ids = scope_ids(r, set, err);
	char **missing = NULL;
	struct mem_row **fetched = NULL, **rows = NULL;
	size_t nmiss = 0, n, i;
	int rc = -1;

	if (!ids)
		goto out;
	n = ids->elements;
	missing = xcalloc(n + 1, sizeof(*missing));
	fetched = xcalloc(n + 1, sizeof(*fetched));
	rows = xcalloc(n + 1, sizeof(*rows));
	pthread_mutex_lock(&cache.mu);
	{
		struct mem_entry *e = cache_find(set, NULL);
		ptrdiff_t shift = 0;
		for (i = 0; i < n; i++)
			if (!entry_row(e, ids->element[i]->str, i, &shift))
				missing[nmiss++] = ids->element[i]->str;
	}
	pthread_mutex_unlock(&cache.mu);
	if (nmiss && fetch_rows(r, s, missing, nmiss, q->dim, fetched, err) < 0)
		goto out;

	pthread_mutex_lock(&cache.mu);
	cache_install(set, ids, missing, nmiss, fetched, rows, s, q, out);
	pthread_mutex_unlock(&cache.mu);
	rc = 0;
out:
	for (i = 0; fetched && i < nmiss; i++)
		row_free(fetched[i]);
	free(fetched);
	free(missing);
	free(rows);
	if (ids)
		freeReplyObject(ids);
	free(set);
	return rc;
}

static int local_prepare(struct rds *r, int dim, struct err *err)
{
	(void)r, (void)dim, (void)err;
	return 0; /* the hashes and the scope set are all it needs */
}

const struct mem_backend_ops mem_backend_local = {"local", local_prepare, local_search};
