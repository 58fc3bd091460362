/*
 * bench_memory - conversation memory benchmark (make bench, part 40).
 *
 *   bench_memory REDIS_URL USERS PER_USER DIM
 *
 * Loads USERS x PER_USER memories (random unit vectors of DIM floats,
 * synthetic sentences) into a throwaway Redis with pipelined MULTI-free
 * HSET + ZADD, then measures for one user's scope:
 *  - memory search, warm (this process has seen the scope: only the id list
 *    crosses the wire) and cold (row cache disabled: every row and vector is
 *    fetched), p50/p99 over many queries, the query vector precomputed (the
 *    embedding is a separate cost: one GET of the embedding cache);
 *  - history load of a 50-message thread, p50/p99.
 * With VECTOR_BACKEND=redis (a server with the Query Engine) memory_idx is
 * created before the load, and the search is memory/memory_ft.c's (one
 * FT.SEARCH of the scope, ranked locally) instead of the local backend's.
 * Prints one table row per measurement.
 */
#include "common.h"
#include "memory/history.h"
#include "memory/memory.h"
#include "memory/memory_ft.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void random_unit(float *v, int dim)
{
	double n = 0;

	for (int i = 0; i < dim; i++) {
		v[i] = (float)((double)(next_rand() % 20001) / 10000.0 - 1.0);
		n += (double)v[i] * v[i];
	}
	n = sqrt(n);
	for (int i = 0; i < dim; i++)
		v[i] = (float)(v[i] / n);
}

static const char *const words[] = {
    "deploy", "billing", "password", "french",	"kafka",   "postgres", "redis",	   "invoice",
    "refund", "latency", "oncall",   "roadmap", "pricing", "contract", "incident", "runbook",
    "python", "rust",	 "berlin",   "meeting", "budget",  "customer", "upgrade",  "plan"};

static void sentence(char *out, size_t cap)
{
	size_t off = (size_t)snprintf(out, cap, "Q: how do I");
	for (int i = 0; i < 8 && off + 16 < cap; i++)
		off += (size_t)snprintf(out + off, cap - off, " %s",
					words[next_rand() % (sizeof(words) / sizeof(words[0]))]);
	snprintf(out + off, cap - off, " / A: see the handbook section on this topic");
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return v[(size_t)((double)(n - 1) * p)];
}

static int load(struct rds *r, int users, int per, int dim, double *secs)
{
	float *v = xmalloc(sizeof(float) * (size_t)dim);
	char text[256], key[160], set[96], id[48], ms[24], user[16];
	char tag[MEM_FT_TAG_LEN + 1], ttag[MEM_FT_TAG_LEN + 1];
	struct err e = {0};
	int64_t t0 = clock_mono_ns();
	int pending = 0;

	for (int u = 0; u < users; u++) {
		snprintf(user, sizeof(user), "U%06d", u);
		struct mem_scope sc = {"bench", "support", user, NULL};

		snprintf(set, sizeof(set), "memory:bench:support:%s", user);
		mem_ft_scope_tag(&sc, NULL, tag);
		mem_ft_scope_tag(&sc, "1.1", ttag);
		for (int m = 0; m < per; m++) {
			const char *hv[] = {
			    "HSET",   key,     "content",    text,
			    "role",   "user",  "kind",	     m % 10 ? "turn" : "fact",
			    "thread", "1.1",   "created_ms", ms,
			    "app",    "bench", "agent",	     "support",
			    "user",   user,    "scope",	     tag,
			    "tscope", ttag,    "embedding",  (const char *)v};
			size_t hl[24];
			const char *zv[] = {"ZADD", set, ms, id};

			snprintf(ms, sizeof(ms), "%lld", 1700000000000LL + m);
			snprintf(id, sizeof(id), "%s-%08x", ms, (unsigned)m);
			snprintf(key, sizeof(key), "%s:%s", set, id);
			sentence(text, sizeof(text));
			random_unit(v, dim);
			for (int i = 0; i < 23; i++)
				hl[i] = strlen(hv[i]);
			hl[23] = sizeof(float) * (size_t)dim;
			if (rds_appendv(r, &e, 24, hv, hl) < 0 ||
			    rds_appendv(r, &e, 4, zv, NULL) < 0)
				goto fail;
			pending += 2;
			if (pending >= 2000) {
				for (; pending; pending--) {
					redisReply *rep = rds_reply(r, &e);
					if (!rep)
						goto fail;
					freeReplyObject(rep);
				}
			}
		}
	}
	for (; pending; pending--) {
		redisReply *rep = rds_reply(r, &e);
		if (!rep)
			goto fail;
		freeReplyObject(rep);
	}
	*secs = (double)(clock_mono_ns() - t0) / 1e9;
	free(v);
	return 0;
fail:
	fprintf(stderr, "bench_memory: load failed: %s\n", e.msg);
	free(v);
	return -1;
}

static int bench_search(struct rds *r, enum mem_backend b, int dim, int n, size_t budget,
			double *p50, double *p99)
{
	struct mem_scope s = {"bench", "support", "U000042", NULL};
	float *v = xmalloc(sizeof(float) * (size_t)dim);
	struct mem_query q = {"how do I fix kafka latency in berlin", v, dim, 5, 0.7, 0.3};
	double *t = xcalloc((size_t)n, sizeof(double));
	struct err e = {0};
	int rc = -1;

	mem_cache_reset(budget);
	random_unit(v, dim);
	for (int i = -3; i < n; i++) { /* three warm-up queries */
		struct mem_hits h = {0};
		int64_t t0 = clock_mono_ns();
		if (mem_search(r, b, &s, &q, &h, &e) < 0 || h.n != 5) {
			fprintf(stderr, "bench_memory: search failed: %s\n", e.msg);
			mem_hits_release(&h);
			goto out;
		}
		if (i >= 0)
			t[i] = (double)(clock_mono_ns() - t0) / 1e6;
		mem_hits_release(&h);
	}
	*p50 = pct(t, (size_t)n, 0.5);
	*p99 = pct(t, (size_t)n, 0.99);
	rc = 0;
out:
	free(t);
	free(v);
	return rc;
}

static int bench_history(struct rds *r, int n, double *p50, double *p99)
{
	double *t = xcalloc((size_t)n, sizeof(double));
	struct err e = {0};
	int rc = -1;

	for (int i = 0; i < 25; i++) {
		char q[128], a[600];
		json_t *turn;
		snprintf(q, sizeof(q), "question %d about the deployment pipeline and its stages",
			 i);
		snprintf(a, sizeof(a),
			 "answer %d: the pipeline builds the images, runs the tests, pushes to the "
			 "registry and rolls the services one at a time, waiting for health checks "
			 "between each step so a bad release stops early.",
			 i);
		turn = history_turn(q, NULL, a, clock_wall_ms());
		if (history_append(r, "chat:TB:CB:1.1", turn, 50, 3600, &e) < 0) {
			json_decref(turn);
			goto out;
		}
		json_decref(turn);
	}
	for (int i = -3; i < n; i++) {
		json_t *msgs = json_array();
		int64_t t0 = clock_mono_ns();
		long got = history_load(r, "chat:TB:CB:1.1", msgs, &e);
		if (i >= 0)
			t[i] = (double)(clock_mono_ns() - t0) / 1e6;
		json_decref(msgs);
		if (got != 50) {
			fprintf(stderr, "bench_memory: history load got %ld: %s\n", got, e.msg);
			goto out;
		}
	}
	*p50 = pct(t, (size_t)n, 0.5);
	*p99 = pct(t, (size_t)n, 0.99);
	rc = 0;
out:
	free(t);
	return rc;
}

int main(int argc, char **argv)
{
	struct err e = {0};
	struct rds *r;
	int rc, users, per, dim,
	    ft = getenv("VECTOR_BACKEND") && !strcmp(getenv("VECTOR_BACKEND"), "redis");
	double secs = 0, w50, w99, c50 = 0, c99 = 0, h50, h99;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_memory REDIS_URL USERS PER_USER DIM\n");
		return 2;
	}
	users = atoi(argv[2]);
	per = atoi(argv[3]);
	dim = atoi(argv[4]);
	r = rds_new(argv[1], 2000, 60000, &e);
	if (!r || users < 43 || per < 5 || dim < 8) {
		fprintf(stderr, "bench_memory: bad arguments or %s\n", e.msg);
		return 2;
	}
	if (ft && mem_ft_ready(r, dim, &e) != 1) {
		fprintf(stderr, "bench_memory: VECTOR_BACKEND=redis: memory_idx not usable: %s\n",
			e.msg[0] ? e.msg : "see the log");
		rds_free(r);
		return 1;
	}
	if (load(r, users, per, dim, &secs) < 0) {
		rds_free(r);
		return 1;
	}
	if (ft)
		rc = bench_search(r, MEM_BACKEND_FT, dim, 2000, 0, &w50, &w99);
	else if ((rc = bench_search(r, MEM_BACKEND_LOCAL, dim, 2000, MEM_CACHE_BYTES, &w50,
				    &w99)) == 0)
		rc = bench_search(r, MEM_BACKEND_LOCAL, dim, 200, 0, &c50, &c99);
	if (rc < 0 || bench_history(r, 2000, &h50, &h99) < 0) {
		rds_free(r);
		return 1;
	}
	printf("| %d x %d memories, %d dims | load %.1f s (%.0f memories/s) | | |\n", users, per,
	       dim, secs, users * per / secs);
	if (ft) {
		printf("| memory search, Query Engine (FT.SEARCH of the scope, ranked here) | "
		       "%.3f ms | %.3f ms | %s |\n",
		       w50, w99,
		       dim == 1536 ? (w50 <= 1.0 ? "<= 1 ms: met" : "<= 1 ms: MISSED") : "");
	} else {
		printf("| memory search, warm (ids only on the wire) | %.3f ms | %.3f ms | %s |\n",
		       w50, w99,
		       dim == 1536 ? (w50 <= 1.0 ? "<= 1 ms: met" : "<= 1 ms: MISSED") : "");
		printf("| memory search, cold (every row fetched) | %.3f ms | %.3f ms | |\n", c50,
		       c99);
	}
	printf("| history load, 50 messages | %.3f ms | %.3f ms | %s |\n", h50, h99,
	       h50 <= 0.3 ? "<= 0.3 ms: met" : "<= 0.3 ms: MISSED");
	rds_free(r);
	return 0;
}
