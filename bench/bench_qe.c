/*
 * bench_qe - the Query Engine (redis) vector backend: recall@5 and latency.
 *
 *   bench_qe REDIS_URL        (a throwaway Redis with the search module)
 *
 * For each corpus (BENCH_QE_SIZES "NxD,NxD", default 10000x384) and each
 * shape (clustered: 100 centroids with noise, the structure real embeddings
 * have; uniform: random unit vectors) it writes rag_doc:* hashes in pipelined
 * batches of 500 with the HNSW index in place (as ingest does), times the
 * ingestion and reads the longest stall from Redis's latency monitor
 * (threshold 10 ms), then runs 200 KNN-5 queries (perturbed corpus vectors)
 * with EF_RUNTIME unset (the server's 10), 50, 100, 200, 400 and on a FLAT
 * index, and prints recall@5 against exact in-process search and p50/p99
 * latency. The Redis is flushed between corpora.
 */
#include "common.h"
#include "kb/embed.h"
#include "kb/embed_cache.h"
#include "kb/ft.h"
#include "kb/kb.h"

#include <math.h>
#include <stdlib.h>

#define NQUERIES  200
#define NCLUSTERS 100
#define BATCH	  500

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void die(const char *what, const struct err *e)
{
	fprintf(stderr, "bench_qe: %s: %s\n", what, e->msg);
	exit(1);
}

static redisReply *must(struct rds *r, const char *cmd)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(r, &e, cmd);

	if (!rep)
		die(cmd, &e);
	return rep;
}

/* v = unit(center + spread * noise); center NULL: uniform. */
static void make_vec(float *v, const float *center, float spread, int dim)
{
	for (int i = 0; i < dim; i++)
		v[i] = (center ? center[i] : 0) + (center ? spread : 1) * frand();
	embed_normalize(v, dim);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void write_corpus(struct rds *r, const float *data, size_t n, int dim)
{
	unsigned char *blob = xmalloc((size_t)dim * 4);
	struct err e = {0};
	size_t queued = 0;

	for (size_t i = 0; i < n; i++) {
		char key[64];
		const char *av[6] = {"HSET", key, "content", "benchmark chunk", "embedding", NULL};
		size_t al[6];
		snprintf(key, sizeof(key), "rag_doc:bench:%zu", i);
		embed_f32_encode(data + i * (size_t)dim, dim, blob);
		av[5] = (const char *)blob;
		for (int a = 0; a < 5; a++)
			al[a] = strlen(av[a]);
		al[5] = (size_t)dim * 4;
		if (rds_appendv(r, &e, 6, av, al) < 0)
			die("HSET", &e);
		if (++queued == BATCH || i + 1 == n)
			for (; queued; queued--) {
				redisReply *rep = rds_reply(r, &e);
				if (!rep)
					die("HSET reply", &e);
				freeReplyObject(rep);
			}
	}
	free(blob);
}

/* Indexes of the 5 nearest rows (exact, by dot product) written into top. */
static void exact_top5(const float *data, size_t n, int dim, const float *q, size_t top[5])
{
	double best[5];

	for (int j = 0; j < 5; j++) {
		best[j] = -INFINITY;
		top[j] = 0;
	}
	for (size_t i = 0; i < n; i++) {
		double s = 0;
		const float *row = data + i * (size_t)dim;
		for (int d = 0; d < dim; d++)
			s += (double)row[d] * q[d];
		if (s <= best[4])
			continue;
		int j = 4;
		for (; j > 0 && best[j - 1] < s; j--) {
			best[j] = best[j - 1];
			top[j] = top[j - 1];
		}
		best[j] = s;
		top[j] = i;
	}
}

static void wait_indexed(struct rds *r)
{
	struct err e = {0};
	struct ft_info fi;

	for (;;) {
		if (ft_info_get(r, KEYS_RAG_INDEX, NULL, &fi, &e) < 0)
			die("FT.INFO", &e);
		if (!fi.indexing)
			return;
		clock_sleep_ms(50);
	}
}

/* Runs the queries; prints one row. */
static void run(struct rds *r, const char *label, int ef, const float *queries, int dim,
		char (*truth)[5][32])
{
	double lat[NQUERIES], recall = 0;
	struct err e = {0};

	for (int qn = 0; qn < NQUERIES; qn++) {
		struct kb_result res;
		const char *want[5], *got[5];
		int64_t t0 = clock_mono_ns();
		if (ft_search(r, queries + (size_t)qn * (size_t)dim, dim, 5, NULL, ef, &res, &e) <
		    0)
			die("FT.SEARCH", &e);
		lat[qn] = (double)(clock_mono_ns() - t0) / 1e6;
		for (int j = 0; j < 5; j++) {
			want[j] = truth[qn][j];
			got[j] = (size_t)j < res.n ? res.hits[j].key : "";
		}
		recall += ft_recall_at_k(want, 5, got, res.n < 5 ? res.n : 5, 5);
		kb_result_release(&res);
	}
	qsort(lat, NQUERIES, sizeof(lat[0]), cmp_double);
	printf("| %-22s | %9.4f | %8.2f | %8.2f |\n", label, recall / NQUERIES, lat[NQUERIES / 2],
	       lat[NQUERIES * 99 / 100]);
}

static void corpus(struct rds *r, size_t n, int dim, int clustered)
{
	float *data = xmalloc(n * (size_t)dim * sizeof(float));
	float *centers = xmalloc((size_t)NCLUSTERS * (size_t)dim * sizeof(float));
	float *queries = xmalloc((size_t)NQUERIES * (size_t)dim * sizeof(float));
	char(*truth)[5][32] = xcalloc(NQUERIES, sizeof(*truth));
	static const int efs[] = {0, 50, 100, 200, 400};
	struct err e = {0};
	redisReply *rep;
	long long stall = 0;
	int64_t t0;
	double ingest_s;

	for (int c = 0; c < NCLUSTERS; c++)
		make_vec(centers + (size_t)c * (size_t)dim, NULL, 1, dim);
	for (size_t i = 0; i < n; i++)
		make_vec(data + i * (size_t)dim,
			 clustered ? centers + (i % NCLUSTERS) * (size_t)dim : NULL, 0.08f, dim);
	for (int qn = 0; qn < NQUERIES; qn++) {
		size_t top[5], src = (size_t)(rng % n);
		frand();
		make_vec(queries + (size_t)qn * (size_t)dim, data + src * (size_t)dim,
			 clustered ? 0.05f : 0.5f, dim);
		exact_top5(data, n, dim, queries + (size_t)qn * (size_t)dim, top);
		for (int j = 0; j < 5; j++)
			snprintf(truth[qn][j], sizeof(truth[qn][j]), "rag_doc:bench:%zu", top[j]);
	}

	freeReplyObject(must(r, "FLUSHALL"));
	freeReplyObject(must(r, "CONFIG SET latency-monitor-threshold 1"));
	freeReplyObject(must(r, "LATENCY RESET"));
	if (ft_ensure_index(r, dim, VECTOR_HNSW, &e) < 0)
		die("FT.CREATE", &e);
	t0 = clock_mono_ns();
	write_corpus(r, data, n, dim);
	wait_indexed(r);
	ingest_s = (double)(clock_mono_ns() - t0) / 1e9;
	rep = must(r, "LATENCY LATEST");
	for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
		const redisReply *ev = rep->element[i];
		if (ev->type == REDIS_REPLY_ARRAY && ev->elements >= 4 &&
		    ev->element[3]->type == REDIS_REPLY_INTEGER && ev->element[3]->integer > stall)
			stall = ev->element[3]->integer;
	}
	freeReplyObject(rep);
	printf("\n%zu x %d, %s: HNSW ingestion %.1f s (%.0f vectors/s), longest stall %lld ms "
	       "(pipelined HSET batches of %d)\n\n",
	       n, dim, clustered ? "clustered" : "uniform", ingest_s, (double)n / ingest_s, stall,
	       BATCH);
	printf("| %-22s | %9s | %8s | %8s |\n", "query", "recall@5", "p50 ms", "p99 ms");
	printf("|------------------------|-----------|----------|----------|\n");
	for (size_t i = 0; i < sizeof(efs) / sizeof(efs[0]); i++) {
		char label[40];
		if (efs[i])
			snprintf(label, sizeof(label), "HNSW EF_RUNTIME %d", efs[i]);
		else
			snprintf(label, sizeof(label), "HNSW server default");
		run(r, label, efs[i], queries, dim, truth);
	}
	if (ft_drop_index(r, &e) < 0 || ft_ensure_index(r, dim, VECTOR_FLAT, &e) < 0)
		die("FLAT index", &e);
	wait_indexed(r);
	run(r, "FLAT (exact)", 0, queries, dim, truth);
	free(truth);
	free(queries);
	free(centers);
	free(data);
}

int main(int argc, char **argv)
{
	const char *sizes = getenv("BENCH_QE_SIZES");
	struct err e = {0};
	struct rds *r;
	const char *p;

	if (argc != 2) {
		fprintf(stderr, "usage: bench_qe REDIS_URL\n");
		return 2;
	}
	r = rds_new(argv[1], 1000, 600000, &e);
	if (!r)
		die("connect", &e);
	if (ft_available(r, &e) != 1) {
		fprintf(stderr, "bench_qe: the server has no Query Engine\n");
		return 1;
	}
	printf("Query Engine KNN-5 (rag_doc_idx, COSINE), %d queries, recall@5 against exact "
	       "search\n",
	       NQUERIES);
	for (p = sizes && *sizes ? sizes : "10000x384"; *p;) {
		char *end;
		size_t n = strtoul(p, &end, 10);
		int dim = *end == 'x' ? (int)strtol(end + 1, &end, 10) : 0;
		if (!n || dim < 8) {
			fprintf(stderr, "bench_qe: bad BENCH_QE_SIZES '%s'\n", sizes);
			return 2;
		}
		corpus(r, n, dim, 1);
		corpus(r, n, dim, 0);
		p = *end == ',' ? end + 1 : end;
	}
	rds_free(r);
	return 0;
}
