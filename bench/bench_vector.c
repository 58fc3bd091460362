/*
 * bench_vector - the local vector backend and the embedding cache.
 *
 *   bench_vector REDIS_URL
 *
 * For each corpus (10,000 x 1,536 and 100,000 x 384 by default; BENCH_VECTOR_SIZES
 * "NxD,NxD" overrides) it writes random L2-normalised vectors as rag_doc:* hashes
 * into the given (throwaway) Redis, loads them with the production loader
 * (vindex_load: SCAN + pipelined HGET), and times exact KNN-5 queries
 * (vindex_search: BLAS sgemv + heap) on one calling thread. Then it times
 * embedding-cache hits through embed_texts() (one MGET round trip). Prints a
 * table. The Redis is flushed between corpora.
 */
#include "common.h"
#include "wctx.h"
#include "embed.h"
#include "embed_cache.h"
#include "vindex.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void random_unit(float *v, int dim)
{
	for (int i = 0; i < dim; i++)
		v[i] = frand();
	embed_normalize(v, dim);
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, res = 0;

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static void die(const char *what, const struct err *e)
{
	fprintf(stderr, "bench_vector: %s: %s\n", what, e->msg);
	exit(1);
}

static void flush_redis(struct rds *r)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(r, &e, "FLUSHALL");
	if (!rep)
		die("FLUSHALL", &e);
	freeReplyObject(rep);
}

/* Writes n random vectors as rag_doc:<source>:<i> hashes, 100 chunks per source. */
static void write_corpus(struct rds *r, size_t n, int dim)
{
	float *v = xmalloc((size_t)dim * sizeof(float));
	unsigned char *blob = xmalloc((size_t)dim * 4);
	struct err e = {0};
	size_t queued = 0;

	for (size_t i = 0; i < n; i++) {
		char key[64];
		const char *argv[8];
		size_t lens[8];
		snprintf(key, sizeof(key), "rag_doc:bench%012zx:%zu", i / 100, i % 100);
		random_unit(v, dim);
		embed_f32_encode(v, dim, blob);
		argv[0] = "HSET";
		argv[1] = key;
		argv[2] = "content";
		argv[3] = "benchmark chunk";
		argv[4] = "source";
		argv[5] = "bench";
		argv[6] = "embedding";
		argv[7] = (const char *)blob;
		for (int a = 0; a < 7; a++)
			lens[a] = strlen(argv[a]);
		lens[7] = (size_t)dim * 4;
		if (rds_appendv(r, &e, 8, argv, lens) < 0)
			die("HSET", &e);
		if (++queued == 500 || i + 1 == n) {
			for (; queued; queued--) {
				redisReply *rep = rds_reply(r, &e);
				if (!rep)
					die("HSET reply", &e);
				freeReplyObject(rep);
			}
		}
	}
	free(v);
	free(blob);
}

static void bench_corpus(struct rds *r, size_t n, int dim)
{
	size_t nq = n >= 100000 ? 300 : 1000, skipped = 0;
	double *lat = xmalloc(nq * sizeof(double)), total = 0;
	float *q = xmalloc((size_t)dim * sizeof(float));
	struct vindex_hit hits[5];
	struct err e = {0};
	int64_t t0;
	double load_s;
	long rss0, rss1;
	struct vindex *vx;

	flush_redis(r);
	write_corpus(r, n, dim);
	rss0 = rss_kb();
	t0 = clock_mono_ns();
	vx = vindex_load(r, dim, &skipped, &e);
	if (!vx)
		die("vindex_load", &e);
	load_s = (double)(clock_mono_ns() - t0) / 1e9;
	rss1 = rss_kb();
	for (int w = 0; w < 20; w++) { /* warm-up */
		random_unit(q, dim);
		vindex_search(vx, q, 5, hits);
	}
	for (size_t i = 0; i < nq; i++) {
		random_unit(q, dim);
		t0 = clock_mono_ns();
		if (vindex_search(vx, q, 5, hits) != 5)
			die("search", &(struct err){ERR_INVALID, 0, "fewer than 5 hits"});
		lat[i] = (double)(clock_mono_ns() - t0) / 1e6;
		total += lat[i];
	}
	qsort(lat, nq, sizeof(double), cmp_double);
	printf("| %zu x %d | %.2f | %.1f | %.1f | %.3f | %.3f | %.0f |%s\n", n, dim, load_s,
	       (double)vindex_bytes(vx) / (1024.0 * 1024.0), (double)(rss1 - rss0) / 1024.0,
	       pct(lat, nq, 0.5), pct(lat, nq, 0.99), (double)nq / (total / 1000.0),
	       n == 10000 && dim == 1536
		   ? (pct(lat, nq, 0.5) <= 2.0 ? " ok (<= 2 ms)" : " MISSED (<= 2 ms)")
		   : "");
	if (skipped)
		printf("  (%zu rows skipped)\n", skipped);
	vindex_unref(vx);
	free(lat);
	free(q);
}

static void bench_cache(const char *url)
{
	enum { N = 2000 };
	struct config cfg;
	struct worker_env env;
	struct wctx w;
	struct err e = {0};
	double *lat = xmalloc(N * sizeof(double));
	float *out = xmalloc(1536 * sizeof(float));
	const char *text = "How do I deploy Haink on Kubernetes with autoscaling workers?";
	struct embed_stats st = {0};

	memset(&cfg, 0, sizeof(cfg));
	memset(&env, 0, sizeof(env));
	cfg.redis_url = (char *)url;
	cfg.llm_provider = LLM_OFFLINE;
	cfg.embedding_model = (char *)"bench-model";
	cfg.embedding_dim = 1536;
	cfg.embed_cache_ttl_s = 600;
	env.cfg = &cfg;
	if (wctx_init(&w, &env, 0, 5000, &e) < 0)
		die("wctx_init", &e);
	if (embed_texts(&w, &text, 1, out, &st, &e) < 0) /* fills the cache */
		die("embed_texts", &e);
	for (int i = 0; i < N; i++) {
		int64_t t0 = clock_mono_ns();
		if (embed_texts(&w, &text, 1, out, &st, &e) < 0)
			die("embed_texts", &e);
		lat[i] = (double)(clock_mono_ns() - t0) / 1e6;
	}
	qsort(lat, N, sizeof(double), cmp_double);
	printf("\nEmbedding cache hit (embed_texts, 1 text x 1536 dims, one MGET): p50 %.3f ms, "
	       "p99 %.3f ms, %zu/%d hits%s\n",
	       pct(lat, N, 0.5), pct(lat, N, 0.99), st.cache_hits, N + 0,
	       pct(lat, N, 0.5) <= 0.1 ? " - ok (target p50 <= 0.1 ms)"
				       : " - MISSED (target p50 <= 0.1 ms)");
	wctx_release(&w);
	free(lat);
	free(out);
}

int main(int argc, char **argv)
{
	const char *sizes = getenv("BENCH_VECTOR_SIZES");
	struct err e = {0};
	struct rds *r;
	char *spec, *save = NULL, *tok;

	if (argc != 2) {
		fprintf(stderr, "usage: bench_vector REDIS_URL\n");
		return 2;
	}
	log_setup("bench", LOG_WARN, 0);
	r = rds_new(argv[1], 1000, 60000, &e);
	if (!r)
		die("redis", &e);
	spec = xstrdup(sizes && *sizes ? sizes : "10000x1536,100000x384");
	printf("Vector search, local backend (exact; vectors written to a throwaway redis-server "
	       "and loaded with the production loader vindex_load; KNN-5 with vindex_search on "
	       "one calling thread, OpenBLAS threads: %d)\n\n",
	       openblas_get_num_threads());
	printf("| chunks x dims | load s | index MiB | RSS growth MiB | KNN-5 p50 ms | p99 ms | "
	       "queries/s |\n|---|---|---|---|---|---|---|\n");
	for (tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t n = 0;
		int dim = 0;
		if (sscanf(tok, "%zux%d", &n, &dim) != 2 || !n || dim < 1) {
			fprintf(stderr, "bench_vector: bad size '%s'\n", tok);
			return 2;
		}
		bench_corpus(r, n, dim);
	}
	flush_redis(r);
	bench_cache(argv[1]);
	free(spec);
	rds_free(r);
	return 0;
}
