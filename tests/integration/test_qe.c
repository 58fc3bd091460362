/*
 * Integration tests against a real Query Engine: the fixture's redis-server
 * loads HAINK_QE_MODULE (make test-qe; HAINK_QE_SERVER names a server binary
 * that can load it). Without it every test here prints that it is skipped
 * and checks nothing: CI has no module, and tests/unit covers the commands.
 *
 * Memory isolation through the hashed scope tags (case and commas), both
 * memory backends returning the same top k on the same data, the memory
 * index recreated after it disappears, an index of another dimension falling
 * back to the local backend, and rag_doc_idx answering KNN with EF_RUNTIME.
 */
#include "common.h"
#include "memory/memory.h"
#include "memory/memory_ft.h"
#include "kb/ft.h"
#include "kb/kb.h"
#include "kb/vector.h"
#include "queue/worker_ctx.h"
#include "kb/embed.h"
#include "kb/embed_cache.h"

#include <stdio.h>
#include <stdlib.h>

#include "../harness/test.h"

#define DIM 64

static int have_qe(void)
{
	static int said;
	const char *m = getenv("HAINK_QE_MODULE");

	if (m && *m)
		return 1;
	if (!said++)
		printf("qe: skipped: no Query Engine module (set HAINK_QE_MODULE)\n");
	return 0;
}

static struct rds *qe_connect(void)
{
	struct rds *r = test_redis_connect(5000);

	test_redis_flush();
	mem_cache_reset(MEM_CACHE_BYTES);
	mem_ft_reset();
	return r;
}

static int put(struct rds *r, const char *user, const char *thread, const char *kind,
	       const char *text, int64_t ms)
{
	struct mem_scope s = {"haink", "default", user, thread};
	float v[DIM];
	struct err e = {0};

	embed_offline(text, strlen(text), v, DIM);
	return mem_store(r, &s, kind, text, v, DIM, ms, NULL, &e);
}

static int search(struct rds *r, enum mem_backend b, const char *user, const char *thread,
		  const char *query, int k, struct mem_hits *h)
{
	struct mem_scope s = {"haink", "default", user, thread};
	float v[DIM];
	struct mem_query q = {query, v, DIM, k, 0.7, 0.3};
	struct err e = {0};
	int rc;

	embed_offline(query, strlen(query), v, DIM);
	memset(h, 0, sizeof(*h));
	rc = mem_search(r, b, &s, &q, h, &e);
	if (rc < 0)
		printf("    memory search: %s\n", e.msg);
	return rc;
}

TEST(qe, memory_tags_keep_case_and_commas_apart)
{
	static const char *const users[] = {"T1/alice", "T1/ALICE", "ui/bob", "ui/bob,eve",
					    "ui/eve"};
	struct rds *r;
	struct mem_hits h;
	struct err e = {0};

	if (!have_qe())
		return;
	r = qe_connect();
	CHECK(r != NULL);
	CHECK_INT_EQ(mem_ft_ready(r, DIM, &e), 1); /* created before the writes */
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		char text[64];
		snprintf(text, sizeof(text), "secret number %zu of %s", i, users[i]);
		CHECK_INT_EQ(put(r, users[i], "", "fact", text, 1000 + (int64_t)i), 0);
	}
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		CHECK_INT_EQ(search(r, MEM_BACKEND_FT, users[i], NULL, "secret number", 10, &h), 0);
		CHECK_INT_EQ(h.n, 1);
		if (h.n == 1)
			CHECK(strstr(h.v[0].content, users[i]) &&
			      !strcmp(strstr(h.v[0].content, "of ") + 3, users[i]));
		mem_hits_release(&h);
	}
	rds_free(r);
}

/*
 * Issue 13 on the Query Engine: a Dev UI user and a Slack user with the same
 * id (the UI accepts any name) are different people; neither reads the
 * other's memories, in both directions, through memory_idx.
 */
TEST(qe, memory_namespaces_keep_dev_ui_and_slack_users_apart)
{
	struct rds *r;
	struct mem_hits h;
	struct err e = {0};
	char *slack_user = mem_scoped_user("T0SLACK", "U042"),
	     *ui_user = mem_scoped_user("ui", "U042");

	if (!have_qe())
		goto out;
	r = qe_connect();
	CHECK(r != NULL);
	CHECK_INT_EQ(mem_ft_ready(r, DIM, &e), 1);
	CHECK_INT_EQ(put(r, slack_user, "", "fact", "the vault code is 4711", 1000), 0);
	CHECK_INT_EQ(
	    put(r, ui_user, "", "fact", "the vault code is 1234 planted from the ui", 1001), 0);
	CHECK_INT_EQ(search(r, MEM_BACKEND_FT, slack_user, NULL, "vault code", 10, &h), 0);
	CHECK_INT_EQ(h.n, 1);
	if (h.n == 1)
		CHECK_STR_CONTAINS(h.v[0].content, "4711");
	mem_hits_release(&h);
	CHECK_INT_EQ(search(r, MEM_BACKEND_FT, ui_user, NULL, "vault code", 10, &h), 0);
	CHECK_INT_EQ(h.n, 1);
	if (h.n == 1)
		CHECK_STR_CONTAINS(h.v[0].content, "1234");
	mem_hits_release(&h);
	rds_free(r);
out:
	free(slack_user);
	free(ui_user);
}

static const char *const words[] = {
    "deploy",	"billing", "rust",   "python",	   "french",   "office", "berlin",   "payments",
    "on-call",	"refund",  "docs",   "planning",   "postgres", "redis",	 "dog",	     "holiday",
    "password", "api",	   "review", "kubernetes", "budget",   "team",	 "handbook", "release"};

/* A memory text of 3 to 6 words picked by a small generator from words[]. */
static void fake_text(unsigned *seed, char *out, size_t len)
{
	size_t n = 3 + (*seed = *seed * 1103515245u + 12345u) % 4, off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && off + 16 < len; i++) {
		*seed = *seed * 1103515245u + 12345u;
		off += (size_t)snprintf(out + off, len - off, "%s%s", i ? " " : "",
					words[(*seed >> 8) % (sizeof(words) / sizeof(words[0]))]);
	}
}

TEST(qe, memory_backends_agree_on_top_k)
{
	struct rds *r;
	unsigned seed = 7;
	char text[160];
	int same = 0, total = 0;

	if (!have_qe())
		return;
	r = qe_connect();
	CHECK(r != NULL);
	/* 600 memories: more than MEM_SCAN_MAX, so the candidate window matters, and
	 * a few sharing a millisecond at its edge */
	for (int i = 0; i < 600; i++) {
		fake_text(&seed, text, sizeof(text));
		CHECK_INT_EQ(put(r, "T1/U9", i % 3 ? "1.1" : "2.2", i % 5 ? "turn" : "fact", text,
				 10000 + i - (i >= 95 && i < 105 ? i - 95 : 0)),
			     0);
	}
	for (int qn = 0; qn < 30; qn++) {
		struct mem_hits a, b;
		const char *thread = qn % 3 == 2 ? "2.2" : NULL;
		int eq;

		fake_text(&seed, text, sizeof(text));
		CHECK_INT_EQ(search(r, MEM_BACKEND_LOCAL, "T1/U9", thread, text, 5, &a), 0);
		CHECK_INT_EQ(search(r, MEM_BACKEND_FT, "T1/U9", thread, text, 5, &b), 0);
		eq = a.n == b.n && a.n == 5;
		for (size_t i = 0; eq && i < a.n; i++)
			eq = !strcmp(a.v[i].id, b.v[i].id) && a.v[i].score - b.v[i].score < 1e-5 &&
			     b.v[i].score - a.v[i].score < 1e-5;
		if (!eq)
			printf("    query '%s': local and ft disagree\n", text);
		same += eq;
		total++;
		mem_hits_release(&a);
		mem_hits_release(&b);
	}
	CHECK_INT_EQ(same, total);
	rds_free(r);
}

TEST(qe, memory_index_recreated_when_it_disappears)
{
	struct rds *r;
	struct mem_hits h;
	struct err e = {0};
	redisReply *rep;

	if (!have_qe())
		return;
	r = qe_connect();
	CHECK(r != NULL);
	CHECK_INT_EQ(put(r, "T1/U1", "", "fact", "prefers tea over coffee", 1000), 0);
	CHECK_INT_EQ(search(r, MEM_BACKEND_FT, "T1/U1", NULL, "tea", 5, &h), 0);
	CHECK_INT_EQ(h.n, 1);
	mem_hits_release(&h);
	/* FLUSHALL drops the index with the data; the process still thinks it exists */
	rep = rds_cmd(r, &e, "FLUSHALL");
	CHECK(rep != NULL);
	if (rep)
		freeReplyObject(rep);
	CHECK_INT_EQ(put(r, "T1/U1", "", "fact", "prefers green tea now", 2000), 0);
	CHECK_INT_EQ(search(r, MEM_BACKEND_FT, "T1/U1", NULL, "tea", 5, &h), 0);
	CHECK_INT_EQ(h.n, 1);
	mem_hits_release(&h);
	rep = rds_cmd(r, &e, "FT.INFO %s", KEYS_MEMORY_INDEX);
	CHECK(rep != NULL); /* recreated, not only bypassed */
	if (rep)
		freeReplyObject(rep);
	rds_free(r);
}

TEST(qe, memory_index_of_another_dimension_falls_back_to_local)
{
	struct rds *r;
	struct mem_hits h;
	struct err e = {0};

	if (!have_qe())
		return;
	r = qe_connect();
	CHECK(r != NULL);
	CHECK_INT_EQ(mem_ft_ready(r, 32, &e), 1); /* an index built for 32 floats */
	mem_ft_reset();
	CHECK_INT_EQ(mem_ft_ready(r, DIM, &e), 0); /* the configured size is DIM */
	CHECK_INT_EQ(put(r, "T1/U1", "", "fact", "works on the payments team", 1000), 0);
	CHECK_INT_EQ(search(r, MEM_BACKEND_FT, "T1/U1", NULL, "payments", 5, &h), 0);
	CHECK_INT_EQ(h.n, 1);
	mem_hits_release(&h);
	rds_free(r);
}

TEST(qe, kb_knn_with_ef_runtime_finds_the_exact_top_5)
{
	struct rds *r;
	struct err e = {0};
	struct kb_result res;
	float v[DIM], q[DIM];
	unsigned char blob[DIM * 4];
	const char *truth[5], *got[5];

	if (!have_qe())
		return;
	r = qe_connect();
	CHECK(r != NULL);
	CHECK_INT_EQ(ft_ensure_index(r, DIM, VECTOR_HNSW, &e), 0);
	for (int i = 0; i < 300; i++) {
		char key[32], text[32];
		redisReply *rep;
		snprintf(key, sizeof(key), "rag_doc:s:%d", i);
		snprintf(text, sizeof(text), "chunk %d", i);
		embed_offline(text, strlen(text), v, DIM);
		embed_f32_encode(v, DIM, blob);
		rep = rds_cmd(r, &e, "HSET %s content %s embedding %b", key, text, blob,
			      (size_t)sizeof(blob));
		CHECK(rep != NULL);
		if (rep)
			freeReplyObject(rep);
	}
	embed_offline("chunk 42", 8, q, DIM);
	/* the FLAT index of the same data is exact */
	CHECK_INT_EQ(ft_search(r, q, DIM, 5, NULL, 200, &res, &e), 0);
	CHECK_INT_EQ(res.n, 5);
	if (res.n == 5)
		CHECK_STR_EQ(res.hits[0].key, "rag_doc:s:42");
	for (size_t i = 0; i < res.n && i < 5; i++)
		got[i] = res.hits[i].key;
	{
		struct kb_result exact;
		CHECK_INT_EQ(ft_drop_index(r, &e), 0);
		CHECK_INT_EQ(ft_ensure_index(r, DIM, VECTOR_FLAT, &e), 0);
		/* wait for the background scan of the 300 existing chunks */
		for (int t = 0; t < 500; t++) {
			struct ft_info fi;
			CHECK_INT_EQ(ft_info_get(r, KEYS_RAG_INDEX, NULL, &fi, &e), 0);
			if (!fi.indexing && fi.num_docs == 300)
				break;
			clock_sleep_ms(10);
		}
		CHECK_INT_EQ(ft_search(r, q, DIM, 5, NULL, 0, &exact, &e), 0);
		CHECK_INT_EQ(exact.n, 5);
		for (size_t i = 0; i < exact.n && i < 5; i++)
			truth[i] = exact.hits[i].key;
		CHECK_NEAR(ft_recall_at_k(truth, exact.n, got, res.n, 5), 1.0, 1e-9);
		/* EF_RUNTIME on a FLAT index is refused: the kb only sends it to HNSW */
		kb_result_release(&exact);
		CHECK_INT_EQ(ft_search(r, q, DIM, 5, NULL, 200, &exact, &e), -1);
		kb_result_release(&exact);
	}
	kb_result_release(&res);
	rds_free(r);
}

struct kb_fixture {
	struct config cfg;
	struct worker_env env;
	struct worker_ctx w;
};

static int kb_setup(struct kb_fixture *f, int algorithm)
{
	struct err e = {0};

	memset(f, 0, sizeof(*f));
	f->cfg.redis_url = (char *)test_redis_url();
	f->cfg.embedding_model = (char *)"haink-hash-v1";
	f->cfg.embedding_dim = DIM;
	f->cfg.llm_provider = LLM_OFFLINE;
	f->cfg.vector_backend = VECTOR_REDIS;
	f->cfg.vector_algorithm = algorithm;
	f->cfg.vector_ef_runtime = 200;
	f->cfg.kb_top_k = 5;
	f->cfg.embed_cache_ttl_s = 600;
	f->cfg.llm_timeout_s = 5;
	f->env.cfg = &f->cfg;
	if (worker_ctx_init(&f->w, &f->env, 0, 5000, &e) < 0) {
		test_fail(__FILE__, __LINE__, "worker_ctx_init: %s", e.msg);
		return -1;
	}
	return 0;
}

/* Writes n chunks "topic <i>" with offline embeddings. */
static void kb_fill(struct rds *r, int n)
{
	float v[DIM];
	unsigned char blob[DIM * 4];
	struct err e = {0};

	for (int i = 0; i < n; i++) {
		char key[32], text[32];
		redisReply *rep;
		snprintf(key, sizeof(key), "rag_doc:t:%d", i);
		snprintf(text, sizeof(text), "topic %d", i);
		embed_offline(text, strlen(text), v, DIM);
		embed_f32_encode(v, DIM, blob);
		rep = rds_cmd(r, &e, "HSET %s content %s title t source s embedding %b", key, text,
			      blob, (size_t)sizeof(blob));
		CHECK(rep != NULL);
		if (rep)
			freeReplyObject(rep);
	}
}

TEST(qe, kb_index_recreated_after_a_drop)
{
	struct kb_fixture f;
	struct kb *kb;
	struct kb_result res;
	struct err e = {0};

	if (!have_qe() || kb_setup(&f, VECTOR_HNSW) < 0)
		return;
	test_redis_flush();
	kb = kb_open(&f.w, &e);
	CHECK(kb != NULL);
	if (!kb)
		goto out;
	kb_fill(f.w.r, 50);
	CHECK_INT_EQ(kb_search(kb, &f.w, "topic 7", 3, &res, &e), 0);
	CHECK(res.n > 0 && !strcmp(res.hits[0].key, "rag_doc:t:7"));
	kb_result_release(&res);
	/* the index goes (FT.DROPINDEX keeps the chunks); the next search rebuilds it and
	 * waits for the background scan of the existing chunks */
	CHECK_INT_EQ(ft_drop_index(f.w.r, &e), 0);
	CHECK_INT_EQ(kb_search(kb, &f.w, "topic 9", 3, &res, &e), 0);
	CHECK(res.n > 0 && !strcmp(res.hits[0].key, "rag_doc:t:9"));
	kb_result_release(&res);
	kb_close(kb);
out:
	worker_ctx_release(&f.w);
}

/* 1 while the server reports rag_doc_idx indexing in the background. */
static int still_indexing(struct rds *r)
{
	struct ft_info fi;
	struct err e = {0};

	return ft_info_get(r, KEYS_RAG_INDEX, NULL, &fi, &e) == 0 && fi.exists && fi.indexing;
}

TEST(qe, kb_answers_exactly_while_the_server_rebuilds_the_index)
{
	enum { N = 20000 };
	struct kb_fixture f;
	struct kb *kb;
	struct kb_result res;
	struct err e = {0};
	int waited = 0;

	if (!have_qe() || kb_setup(&f, VECTOR_HNSW) < 0)
		return;
	test_redis_flush();
	kb = kb_open(&f.w, &e);
	CHECK(kb != NULL);
	if (!kb)
		goto out;
	kb_fill(f.w.r, N);
	CHECK_INT_EQ(kb_search(kb, &f.w, "topic 7", 3, &res, &e), 0);
	CHECK(res.n > 0 && !strcmp(res.hits[0].key, "rag_doc:t:7"));
	CHECK_INT_EQ(kb_local_rows(kb), 0); /* the Query Engine answered */
	kb_result_release(&res);
	/* the index disappears; the search recreates it over N chunks and, not
	 * waiting for the server's background scan, asks the exact index */
	vector_redis_indexing_wait(0);
	CHECK_INT_EQ(ft_drop_index(f.w.r, &e), 0);
	CHECK_INT_EQ(kb_search(kb, &f.w, "topic 9123", 3, &res, &e), 0);
	CHECK(res.n > 0 && !strcmp(res.hits[0].key, "rag_doc:t:9123"));
	kb_result_release(&res);
	CHECK(still_indexing(f.w.r)); /* else this machine indexed N chunks at once */
	CHECK_INT_EQ(kb_local_rows(kb), N);
	/* once the server is done, the Query Engine answers and the copy is freed */
	while (still_indexing(f.w.r) && waited++ < 600)
		clock_sleep_ms(50);
	CHECK_INT_EQ(kb_search(kb, &f.w, "topic 42", 3, &res, &e), 0);
	CHECK(res.n > 0 && !strcmp(res.hits[0].key, "rag_doc:t:42"));
	kb_result_release(&res);
	CHECK_INT_EQ(kb_local_rows(kb), 0);
	kb_close(kb);
out:
	vector_redis_indexing_wait(-1);
	worker_ctx_release(&f.w);
}

TEST(qe, kb_keeps_working_on_an_index_of_another_algorithm)
{
	struct kb_fixture f;
	struct kb *kb;
	struct kb_result res;
	struct err e = {0};

	if (!have_qe() || kb_setup(&f, VECTOR_HNSW) < 0)
		return;
	test_redis_flush();
	/* built FLAT earlier; VECTOR_ALGORITHM=HNSW now without --reindex: EF_RUNTIME,
	 * which FLAT refuses, must not be sent */
	CHECK_INT_EQ(ft_ensure_index(f.w.r, DIM, VECTOR_FLAT, &e), 0);
	kb_fill(f.w.r, 20);
	kb = kb_open(&f.w, &e);
	CHECK(kb != NULL);
	if (!kb)
		goto out;
	CHECK_INT_EQ(kb_search(kb, &f.w, "topic 3", 3, &res, &e), 0);
	CHECK(res.n > 0 && !strcmp(res.hits[0].key, "rag_doc:t:3"));
	kb_result_release(&res);
	kb_close(kb);
out:
	worker_ctx_release(&f.w);
}

TEST(qe, kb_refuses_an_index_of_another_dimension)
{
	struct kb_fixture f;
	struct kb *kb;
	struct err e = {0};

	if (!have_qe() || kb_setup(&f, VECTOR_HNSW) < 0)
		return;
	test_redis_flush();
	CHECK_INT_EQ(ft_ensure_index(f.w.r, DIM * 2, VECTOR_HNSW, &e), 0);
	kb = kb_open(&f.w, &e);
	CHECK(kb == NULL);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	CHECK_STR_CONTAINS(e.msg, "--reindex");
	kb_close(kb);
	worker_ctx_release(&f.w);
}
