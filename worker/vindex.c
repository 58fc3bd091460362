/*
 * vindex.c - exact top-k search over a contiguous embedding matrix.
 */
#include "common.h"
#include "vindex.h"
#include "embed_cache.h"

#include <cblas.h>
#include <math.h>

#define LOAD_BATCH 1000

struct vindex *vindex_new(int dim)
{
	struct vindex *vx = xcalloc(1, sizeof(*vx));
	vx->dim = dim;
	vx->version = -1;
	atomic_init(&vx->refs, 1);
	return vx;
}

void vindex_add(struct vindex *vx, const char *key, const float *vec)
{
	size_t kl = strlen(key) + 1;

	if (vx->n == vx->cap) {
		size_t cap = vx->cap;
		xgrow((void **)&vx->key_off, &cap, vx->n + 1, sizeof(*vx->key_off));
		vx->mat = xrealloc(vx->mat, cap * (size_t)vx->dim * sizeof(float));
		vx->cap = cap;
	}
	xgrow((void **)&vx->keybuf, &vx->keycap, vx->keylen + kl, 1);
	memcpy(vx->keybuf + vx->keylen, key, kl);
	vx->key_off[vx->n] = vx->keylen;
	vx->keylen += kl;
	memcpy(vx->mat + vx->n * (size_t)vx->dim, vec, (size_t)vx->dim * sizeof(float));
	vx->n++;
}

const char *vindex_key(const struct vindex *vx, size_t row)
{
	return vx->keybuf + vx->key_off[row];
}

struct vindex *vindex_ref(struct vindex *vx)
{
	if (vx)
		atomic_fetch_add(&vx->refs, 1);
	return vx;
}

void vindex_unref(struct vindex *vx)
{
	if (!vx || atomic_fetch_sub(&vx->refs, 1) != 1)
		return;
	free(vx->mat);
	free(vx->key_off);
	free(vx->keybuf);
	free(vx);
}

size_t vindex_bytes(const struct vindex *vx)
{
	return vx->cap * ((size_t)vx->dim * sizeof(float) + sizeof(size_t)) + vx->keycap;
}

/* 1 when a ranks below b: lower score, or the same score and a later row. */
static int worse(const struct vindex_hit *a, const struct vindex_hit *b)
{
	return a->score < b->score || (a->score == b->score && a->row > b->row);
}

static void sift_down(struct vindex_hit *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && worse(&h[l], &h[m]))
			m = l;
		if (r < n && worse(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		struct vindex_hit t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void sift_up(struct vindex_hit *h, size_t i)
{
	while (i) {
		size_t p = (i - 1) / 2;
		if (!worse(&h[i], &h[p]))
			return;
		struct vindex_hit t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

size_t vindex_topk(const float *scores, size_t n, int k, struct vindex_hit *out)
{
	size_t m = 0;

	if (k <= 0)
		return 0;
	/* out is a min-heap of the best so far: its root is the one to evict */
	for (size_t i = 0; i < n; i++) {
		struct vindex_hit c = {i, scores[i]};
		if (isnan(c.score))
			continue;
		if (m < (size_t)k) {
			out[m] = c;
			sift_up(out, m++);
		} else if (worse(&out[0], &c)) {
			out[0] = c;
			sift_down(out, m, 0);
		}
	}
	/* heap sort: repeatedly move the worst to the end, leaving best first */
	for (size_t end = m; end > 1; end--) {
		struct vindex_hit t = out[0];
		out[0] = out[end - 1];
		out[end - 1] = t;
		sift_down(out, end - 1, 0);
	}
	return m;
}

size_t vindex_search(const struct vindex *vx, const float *q, int k, struct vindex_hit *out)
{
	float *scores;
	size_t m;

	if (!vx->n || k <= 0)
		return 0;
	scores = xmalloc(vx->n * sizeof(float));
	cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)vx->n, vx->dim, 1.0f, vx->mat, vx->dim, q,
		    1, 0.0f, scores, 1);
	m = vindex_topk(scores, vx->n, k, out);
	free(scores);
	return m;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects every rag_doc:* key into *keys (owned strings). Returns the count or -1. */
static long scan_keys(struct rds *r, char ***keys, struct err *err)
{
	char cursor[32] = "0";
	size_t n = 0, cap = 0;

	*keys = NULL;
	do {
		redisReply *rep =
		    rds_cmd(r, err, "SCAN %s MATCH %s* COUNT 1000", cursor, KEYS_RAG_PREFIX);
		if (!rep)
			goto fail;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY) {
			err_set(err, ERR_REDIS, "unexpected SCAN reply");
			freeReplyObject(rep);
			goto fail;
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		for (size_t i = 0; i < rep->element[1]->elements; i++) {
			const redisReply *e = rep->element[1]->element[i];
			if (e->type != REDIS_REPLY_STRING)
				continue;
			xgrow((void **)keys, &cap, n + 1, sizeof(**keys));
			(*keys)[n++] = xstrndup(e->str, e->len);
		}
		freeReplyObject(rep);
	} while (strcmp(cursor, "0"));
	return (long)n;
fail:
	for (size_t i = 0; i < n; i++)
		free((*keys)[i]);
	free(*keys);
	*keys = NULL;
	return -1;
}

struct vindex *vindex_load(struct rds *r, int dim, size_t *skipped, struct err *err)
{
	struct vindex *vx = NULL;
	char **keys = NULL;
	float *vec = xmalloc((size_t)dim * sizeof(float));
	long nk = scan_keys(r, &keys, err);
	size_t u = 0, bad = 0;

	if (nk < 0)
		goto out;
	/* SCAN may return a key twice: sort, then drop repeats */
	if (nk > 1)
		qsort(keys, (size_t)nk, sizeof(*keys), cmp_str);
	for (size_t i = 0; i < (size_t)nk; i++) {
		if (u && !strcmp(keys[u - 1], keys[i])) {
			free(keys[i]);
			continue;
		}
		keys[u++] = keys[i];
	}
	vx = vindex_new(dim);
	for (size_t lo = 0; lo < u; lo += LOAD_BATCH) {
		size_t cnt = u - lo < LOAD_BATCH ? u - lo : LOAD_BATCH, queued = 0;
		int failed = 0;
		for (; queued < cnt; queued++)
			if (rds_append(r, err, "HGET %s embedding", keys[lo + queued]) < 0) {
				failed = 1;
				break;
			}
		for (size_t got = 0; got < queued; got++) {
			redisReply *rep = rds_reply(r, err);
			if (!rep) {
				failed = 1; /* the connection is gone with the other replies */
				break;
			}
			if (rep->type == REDIS_REPLY_STRING && rep->len == (size_t)dim * 4) {
				embed_f32_decode((const unsigned char *)rep->str, dim, vec);
				vindex_add(vx, keys[lo + got], vec);
			} else {
				bad++; /* deleted since the SCAN, or written by something else */
			}
			freeReplyObject(rep);
		}
		if (failed) {
			vindex_unref(vx);
			vx = NULL;
			goto out;
		}
	}
	/* the rows are final: give back what the doubling growth reserved */
	if (vx->n && vx->cap > vx->n) {
		vx->mat = xrealloc(vx->mat, vx->n * (size_t)dim * sizeof(float));
		vx->key_off = xrealloc(vx->key_off, vx->n * sizeof(*vx->key_off));
		vx->cap = vx->n;
	}
	if (vx->keycap > vx->keylen && vx->keylen) {
		vx->keybuf = xrealloc(vx->keybuf, vx->keylen);
		vx->keycap = vx->keylen;
	}
	if (skipped)
		*skipped = bad;
out:
	for (size_t i = 0; i < u; i++)
		free(keys[i]);
	free(keys);
	free(vec);
	return vx;
}
