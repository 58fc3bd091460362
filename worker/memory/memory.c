/*
 * memory.c - long-term memory: store, hybrid search (local backend with an
 * in-process row cache, or memory_ft.c), forget and list. See memory.h.
 */
#include "common.h"
#include "memory/memory.h"
#include "memory/memory_ft.h"
#include "memory/history.h"
#include "queue/worker_ctx.h"
#include "agent/tools.h"
#include "kb/embed.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/random.h>

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

static const char *const stopwords[] = {
    "a",    "an",    "and",   "are",  "as",  "at",   "be",  "by",   "can", "do",
    "does", "for",   "from",  "how",  "i",   "in",   "is",  "it",   "me",  "my",
    "of",   "on",    "or",    "that", "the", "this", "to",  "was",  "we",  "what",
    "when", "where", "which", "who",  "why", "with", "you", "your", NULL};

static int is_stopword(const char *w, size_t n)
{
	for (int i = 0; stopwords[i]; i++)
		if (strlen(stopwords[i]) == n && !memcmp(stopwords[i], w, n))
			return 1;
	return 0;
}

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
static size_t tokenize(const char *s, uint32_t **out)
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
		if (s > w && !is_stopword(w, (size_t)(s - w))) {
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

struct tok_doc {
	const uint32_t *t;
	size_t n;
};

/*
 * BM25 with idf over these documents, normalised: each query term scores
 * idf * min(1, tf(k1+1)/(tf + k1(1-b+b*len/avg))), summed and divided by the
 * sum of the query terms' idf, so a document of average length holding every
 * query word scores 1, longer ones a little less, and one holding none 0.
 */
static void bm25(const uint32_t *q, size_t nq, const struct tok_doc *docs, size_t n, double *out)
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
	size_t nq = tokenize(query, &q);
	struct tok_doc *td = xcalloc(n ? n : 1, sizeof(*td));
	uint32_t **own = xcalloc(n ? n : 1, sizeof(*own));

	for (size_t i = 0; i < n; i++) {
		td[i].n = tokenize(docs[i], &own[i]);
		td[i].t = own[i];
	}
	bm25(q, nq, td, n, out);
	for (size_t i = 0; i < n; i++)
		free(own[i]);
	free(own);
	free(td);
	free(q);
}

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

/* ---- store ------------------------------------------------------------- */

static void new_id(int64_t now_ms, char out[32])
{
	uint32_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (uint32_t)clock_mono_ns();
	snprintf(out, 32, "%lld-%08x", (long long)now_ms, rnd);
}

int mem_store(struct rds *r, const struct mem_scope *s, const char *kind, const char *content,
	      const float *vec, int dim, int64_t now_ms, char **id_out, struct err *err)
{
	char id[32], ms[24];
	char *key = NULL, *set = NULL, *text = NULL;
	redisReply *rep = NULL;
	int rc = -1, n = 0;

	if (!content || !*content || !kind || (strcmp(kind, "fact") && strcmp(kind, "turn"))) {
		err_set(err, ERR_INVALID, "a memory needs content and kind fact or turn");
		return -1;
	}
	new_id(now_ms, id);
	snprintf(ms, sizeof(ms), "%lld", (long long)now_ms);
	key = keys_memory(s->app, s->agent, s->user, id);
	set = keys_memory_scope(s->app, s->agent, s->user);
	text = history_cut_utf8(content, MEM_CONTENT_MAX);
	{
		const char *hv[] = {
		    "HSET",	  key,	  "content", text,	  "role",
		    "user",	  "kind", kind,	     "thread",	  s->thread ? s->thread : "",
		    "created_ms", ms,	  "app",     s->app,	  "agent",
		    s->agent,	  "user", s->user,   "embedding", ""};
		size_t hl[sizeof(hv) / sizeof(hv[0])];
		int hc = (int)(sizeof(hv) / sizeof(hv[0]));
		const char *zv[] = {"ZADD", set, ms, id};

		for (int i = 0; i < hc; i++)
			hl[i] = strlen(hv[i]);
		if (vec) {
			hv[hc - 1] = (const char *)vec;
			hl[hc - 1] = sizeof(float) * (size_t)dim;
		} else {
			hc -= 2;
		}
		if (rds_append(r, err, "MULTI") < 0 || (n++, rds_appendv(r, err, hc, hv, hl) < 0) ||
		    (n++, rds_appendv(r, err, 4, zv, NULL) < 0) ||
		    (n++, rds_append(r, err, "EXEC") < 0)) {
			/* never leave a half-queued transaction on the connection */
			rds_disconnect(r);
			goto out;
		}
		n++;
	}
	for (int i = 0; i < n; i++) {
		if (rep)
			freeReplyObject(rep);
		rep = rds_reply(r, err);
		if (!rep)
			goto out;
	}
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    (rep->element[0]->type == REDIS_REPLY_ERROR ||
	     rep->element[1]->type == REDIS_REPLY_ERROR)) {
		err_set(err, ERR_REDIS, "memory store: %s",
			rep->element[0]->type == REDIS_REPLY_ERROR ? rep->element[0]->str
								   : rep->element[1]->str);
	} else if (n == 4 && rep->type == REDIS_REPLY_ARRAY) {
		rc = 0;
		if (id_out)
			*id_out = xstrdup(id);
	} else if (n == 4) {
		err_set(err, ERR_REDIS, "memory store: %s",
			rep->type == REDIS_REPLY_ERROR ? rep->str : "transaction aborted");
	}
out:
	if (rep)
		freeReplyObject(rep);
	free(text);
	free(key);
	free(set);
	return rc;
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
		row->ntoks = tokenize(row->content, &row->toks);
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

static double fact_bonus(const char *kind)
{
	return kind && !strcmp(kind, "fact") ? MEM_FACT_BONUS : 0;
}

/* Scores rows (thread-filtered) and appends the top k to out. */
static void rank_rows(struct mem_row **rows, size_t n, const struct mem_scope *s,
		      const struct mem_query *q, struct mem_hits *out)
{
	struct scored *sc = xcalloc(n ? n : 1, sizeof(*sc));
	struct tok_doc *td = xcalloc(n ? n : 1, sizeof(*td));
	double *ts = xcalloc(n ? n : 1, sizeof(*ts));
	uint32_t *qt = NULL;
	size_t nq = tokenize(q->text ? q->text : "", &qt), m = 0;

	for (size_t i = 0; i < n; i++) {
		if (s->thread && strcmp(rows[i]->thread, s->thread))
			continue;
		sc[m].row = rows[i];
		td[m].t = rows[i]->toks;
		td[m].n = rows[i]->ntoks;
		m++;
	}
	bm25(qt, nq, td, m, ts);
	for (size_t i = 0; i < m; i++) {
		const struct mem_row *r = sc[i].row;
		sc[i].v = q->vec && r->vec && r->dim == q->dim ? dot(q->vec, r->vec, q->dim) : 0;
		sc[i].t = ts[i];
		sc[i].score = q->w_vector * sc[i].v + q->w_text * sc[i].t + fact_bonus(r->kind);
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

static int search_local(struct rds *r, const struct mem_scope *s, const struct mem_query *q,
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
	{
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

/* ---- search entry points ------------------------------------------------ */

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
static void rerank(struct mem_hits *c, const struct mem_query *q, struct mem_hits *out)
{
	const char **docs = xcalloc(c->n + 1, sizeof(*docs));
	double *ts = xcalloc(c->n + 1, sizeof(*ts));

	for (size_t i = 0; i < c->n; i++)
		docs[i] = c->v[i].content;
	mem_text_scores(q->text ? q->text : "", docs, c->n, ts);
	for (size_t i = 0; i < c->n; i++) {
		c->v[i].tscore = ts[i];
		c->v[i].score =
		    q->w_vector * c->v[i].vscore + q->w_text * ts[i] + fact_bonus(c->v[i].kind);
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

int mem_search(struct rds *r, enum mem_backend b, const struct mem_scope *s,
	       const struct mem_query *q, struct mem_hits *out, struct err *err)
{
	struct mem_hits cand = {0};
	int rc;

	if (!s->app || !s->agent || !s->user || !*s->user) {
		err_set(err, ERR_INVALID, "memory search needs an app, an agent and a user");
		return -1;
	}
	if (q->top_k <= 0)
		return 0;
	if (b == MEM_BACKEND_LOCAL)
		return search_local(r, s, q, out, err);
	rc = mem_ft_search(r, s, q, &cand, err);
	if (rc == 0)
		rerank(&cand, q, out);
	mem_hits_release(&cand);
	return rc;
}

static atomic_int ft_probe; /* 0 not probed, 1 absent, 2 present */

enum mem_backend mem_backend_pick(struct rds *r, int vector_backend)
{
	int p;

	if (vector_backend == VECTOR_LOCAL)
		return MEM_BACKEND_LOCAL;
	if (vector_backend == VECTOR_REDIS)
		return MEM_BACKEND_FT;
	p = atomic_load(&ft_probe);
	if (!p) {
		struct err e = {0};
		redisReply *rep = rds_cmd(r, &e, "FT._LIST");
		if (rep) {
			p = 2;
			freeReplyObject(rep);
		} else if (e.code == ERR_REDIS && strstr(e.msg, "unknown command")) {
			p = 1;
		}
		if (p)
			atomic_store(&ft_probe, p);
		else
			return MEM_BACKEND_LOCAL; /* Redis down: try again next time */
	}
	return p == 2 ? MEM_BACKEND_FT : MEM_BACKEND_LOCAL;
}

/* ---- task-level entry points ------------------------------------------- */

char *mem_scoped_user(const char *ns, const char *user)
{
	return xasprintf("%s%c%s", ns && *ns ? ns : MEM_DEFAULT_NS, MEM_NS_SEP, user ? user : "");
}

/* s->user is owned (the namespaced user): free it after use. */
static void task_scope(const struct worker_ctx *w, const struct tool_scope *sc, int filter_thread,
		       struct mem_scope *s)
{
	s->app = sc->app ? sc->app : w->env->cfg->app_id;
	s->agent = sc->agent ? sc->agent->id : AGENTS_DEFAULT_ID;
	/* the source namespace (Slack team, or "ui"): a Dev UI name never reaches a
	 * Slack user's memories, nor the other way round */
	s->user = sc->user && *sc->user ? mem_scoped_user(sc->team, sc->user) : NULL;
	s->thread = filter_thread ? (sc->thread_ts ? sc->thread_ts : "") : NULL;
}

int mem_recall(struct worker_ctx *w, const struct tool_scope *sc, const char *query, int top_k,
	       struct mem_hits *out, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	struct mem_scope s;
	struct mem_query q = {0};
	struct err e = {0};
	float *vec = xcalloc((size_t)cfg->embedding_dim, sizeof(float));
	int rc;

	task_scope(w, sc, cfg->memory_scope == MEMORY_SCOPE_THREAD, &s);
	q.text = query ? query : "";
	q.dim = cfg->embedding_dim;
	q.top_k = top_k > 0 ? top_k : cfg->memory_top_k;
	q.w_vector = cfg->memory_vector_weight;
	q.w_text = cfg->memory_text_weight;
	if (*q.text && embed_texts(w, &q.text, 1, vec, NULL, &e) == 0)
		q.vec = vec;
	else if (*q.text)
		log_kv(LOG_WARN, "memory search without a vector", "error", e.msg, NULL);
	if (!s.user) {
		free(vec);
		return 0; /* nobody to recall for */
	}
	rc = mem_search(w->r, mem_backend_pick(w->r, cfg->vector_backend), &s, &q, out, err);
	free((char *)s.user);
	free(vec);
	return rc;
}

int mem_remember(struct worker_ctx *w, const struct tool_scope *sc, const char *kind,
		 const char *content, char **id_out, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	struct mem_scope s;
	float *vec = xcalloc((size_t)cfg->embedding_dim, sizeof(float));
	char *text = history_cut_utf8(content ? content : "", MEM_CONTENT_MAX);
	const char *t = text;
	int rc = -1;

	task_scope(w, sc, 1, &s); /* the thread field is always recorded */
	if (!s.user || !*s.user) {
		err_set(err, ERR_INVALID, "no user to remember for");
		goto out;
	}
	if (embed_texts(w, &t, 1, vec, NULL, err) < 0)
		goto out;
	if (mem_backend_pick(w->r, cfg->vector_backend) == MEM_BACKEND_FT &&
	    mem_ft_ensure(w->r, cfg->embedding_dim, err) < 0)
		goto out;
	rc = mem_store(w->r, &s, kind, text, vec, cfg->embedding_dim, clock_wall_ms(), id_out, err);
out:
	free((char *)s.user);
	free(text);
	free(vec);
	return rc;
}
