/*
 * embed_cache.c - batch lookups and write-backs of cached embeddings.
 */
#include <stdlib.h>

#include "common.h"
#include "kb/embed_cache.h"

void embed_f32_encode(const float *v, int dim, unsigned char *out)
{
	for (int i = 0; i < dim; i++) {
		uint32_t u;
		memcpy(&u, &v[i], 4);
		out[4 * i] = (unsigned char)(u & 0xff);
		out[4 * i + 1] = (unsigned char)((u >> 8) & 0xff);
		out[4 * i + 2] = (unsigned char)((u >> 16) & 0xff);
		out[4 * i + 3] = (unsigned char)(u >> 24);
	}
}

void embed_f32_decode(const unsigned char *in, int dim, float *v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(v, in, (size_t)dim * 4);
#else
	for (int i = 0; i < dim; i++) {
		uint32_t u = (uint32_t)in[4 * i] | (uint32_t)in[4 * i + 1] << 8 |
			     (uint32_t)in[4 * i + 2] << 16 | (uint32_t)in[4 * i + 3] << 24;
		memcpy(&v[i], &u, 4);
	}
#endif
}

long embed_cache_get(struct rds *r, const char *const *keys, size_t n, int dim, float *out,
		     unsigned char *hit, struct err *err)
{
	size_t nbatches = (n + EMBED_CACHE_MGET - 1) / EMBED_CACHE_MGET;
	const char **argv = NULL;
	long hits = 0;
	size_t b;

	memset(hit, 0, n);
	if (!n)
		return 0;
	argv = xmalloc((EMBED_CACHE_MGET + 1) * sizeof(*argv));
	argv[0] = "MGET";
	for (b = 0; b < nbatches; b++) {
		size_t lo = b * EMBED_CACHE_MGET;
		size_t cnt = n - lo < EMBED_CACHE_MGET ? n - lo : EMBED_CACHE_MGET;
		for (size_t i = 0; i < cnt; i++)
			argv[i + 1] = keys[lo + i];
		if (rds_appendv(r, err, (int)cnt + 1, argv, NULL) < 0)
			goto fail_drain;
	}
	for (b = 0; b < nbatches; b++) {
		size_t lo = b * EMBED_CACHE_MGET;
		redisReply *rep = rds_reply(r, err);
		if (!rep)
			goto fail; /* connection dropped: the other replies are gone */
		if (rep->type != REDIS_REPLY_ARRAY) {
			err_set(err, ERR_REDIS, "embedding cache lookup failed: %s",
				rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
			freeReplyObject(rep);
			/* keep reading so the connection stays in step */
			for (b++; b < nbatches; b++) {
				rep = rds_reply(r, NULL);
				if (!rep)
					break;
				freeReplyObject(rep);
			}
			goto fail;
		}
		for (size_t i = 0; i < rep->elements && lo + i < n; i++) {
			const redisReply *e = rep->element[i];
			if (e->type == REDIS_REPLY_STRING && e->len == (size_t)dim * 4) {
				embed_f32_decode((const unsigned char *)e->str, dim,
						 out + (lo + i) * (size_t)dim);
				hit[lo + i] = 1;
				hits++;
			}
		}
		freeReplyObject(rep);
	}
	free(argv);
	return hits;
fail_drain:
	/* some commands may be queued: read their replies so the pipeline stays in step */
	for (size_t q = 0; q < b; q++) {
		redisReply *rep = rds_reply(r, NULL);
		if (!rep)
			break;
		freeReplyObject(rep);
	}
fail:
	memset(hit, 0, n);
	free(argv);
	return -1;
}

int embed_cache_put(struct rds *r, const char *const *keys, const size_t *idx, size_t nidx, int dim,
		    const float *out, int ttl_s, struct err *err)
{
	unsigned char *blob = xmalloc((size_t)dim * 4);
	char ttl[24];
	const char *argv[5];
	size_t lens[5];
	size_t queued = 0;
	int rc = -1;
	struct err e2 = {0};

	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	for (size_t j = 0; j < nidx; j++) {
		embed_f32_encode(out + idx[j] * (size_t)dim, dim, blob);
		argv[0] = "SET";
		lens[0] = 3;
		argv[1] = keys[idx[j]];
		lens[1] = strlen(keys[idx[j]]);
		argv[2] = (const char *)blob;
		lens[2] = (size_t)dim * 4;
		argv[3] = "EX";
		lens[3] = 2;
		argv[4] = ttl;
		lens[4] = strlen(ttl);
		/* hiredis copies the arguments into its output buffer: blob is reusable */
		if (rds_appendv(r, err, 5, argv, lens) < 0)
			break;
		queued++;
	}
	rc = queued == nidx ? 0 : -1;
	for (size_t j = 0; j < queued; j++) {
		redisReply *rep = rds_reply(r, &e2);
		if (!rep) {
			rc = -1;
			if (err)
				*err = e2;
			break;
		}
		if (rep->type == REDIS_REPLY_ERROR) {
			err_set(err, ERR_REDIS, "embedding cache write failed: %s", rep->str);
			rc = -1;
		}
		freeReplyObject(rep);
	}
	free(blob);
	return rc;
}
