/*
 * Integration tests of the knowledge base on a real redis-server (offline
 * embedder; the local backend, or the Query Engine under make test-qe): ingesting the
 * fixture folder and finding the right source first, re-ingest without stale
 * chunks, the kb:meta mismatch error, bad files skipped, the embedding cache,
 * searches running while the index reloads, and drop.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/kb.h"
#include "kb/ingest.h"
#include "kb/embed.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../harness/test.h"

#define DIM 128

/* make test-qe runs this suite on a Query Engine server: auto picks redis there */
static int on_qe(void)
{
	const char *m = getenv("HAINK_QE_MODULE");
	return m && *m;
}

#define BACKEND	      (on_qe() ? "redis" : "local")
#define LOCAL_ROWS(n) (on_qe() ? 0 : (n)) /* kb_local_rows() is 0 on the redis backend */

struct fixture {
	struct config cfg;
	struct worker_env env;
	struct worker_ctx w;
	char tmp[64];
};

static int setup(struct fixture *f)
{
	const char *url = test_redis_url();
	struct err e = {0};

	memset(f, 0, sizeof(*f));
	if (!url)
		return -1;
	test_redis_flush();
	f->cfg.redis_url = (char *)url;
	f->cfg.embedding_model = (char *)"haink-hash-v1";
	f->cfg.embedding_dim = DIM;
	f->cfg.llm_provider = LLM_OFFLINE;
	f->cfg.vector_backend = VECTOR_AUTO;
	f->cfg.vector_algorithm = VECTOR_HNSW;
	f->cfg.kb_top_k = 5;
	f->cfg.embed_cache_ttl_s = 600;
	f->cfg.llm_timeout_s = 5;
	f->env.cfg = &f->cfg;
	if (worker_ctx_init(&f->w, &f->env, 0, 5000, &e) < 0) {
		test_fail(__FILE__, __LINE__, "worker_ctx_init: %s", e.msg);
		return -1;
	}
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/haink-kb-XXXXXX");
	if (!mkdtemp(f->tmp)) {
		test_fail(__FILE__, __LINE__, "mkdtemp failed");
		return -1;
	}
	return 0;
}

static void teardown(struct fixture *f)
{
	char *cmd = xasprintf("chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", f->tmp, f->tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->tmp);
	free(cmd);
	worker_ctx_release(&f->w);
}

static int ingest(struct fixture *f, const char *path, int reindex, FILE *out,
		  struct ingest_summary *sum, struct err *e)
{
	const char *paths[1] = {path};
	struct ingest_opts o = {paths, 1, NULL, reindex, out, 0, 0};
	return ingest_run(&f->w, &o, sum, e);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *fp = fopen(path, "wb");
	if (fp) {
		fwrite(text, 1, len, fp);
		fclose(fp);
	}
}

static long long count_keys(struct rds *r, const char *pattern)
{
	long long n = 0;
	char cursor[32] = "0";
	do {
		redisReply *rep = rds_cmd(r, NULL, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
		if (!rep)
			return -1;
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		n += (long long)rep->element[1]->elements;
		freeReplyObject(rep);
	} while (strcmp(cursor, "0"));
	return n;
}

static long long cmd_int(struct rds *r, const char *fmt, const char *a, const char *b)
{
	redisReply *rep = rds_cmd(r, NULL, fmt, a, b);
	long long v = rep ? rds_reply_int(rep, -1) : -1;
	if (rep)
		freeReplyObject(rep);
	return v;
}

static void check_first(struct kb *kb, struct worker_ctx *w, const char *q, const char *source)
{
	struct kb_result res = {0};
	struct err e = {0};

	CHECK_INT_EQ(kb_search(kb, w, q, 3, &res, &e), 0);
	CHECK(res.n >= 1);
	CHECK_STR_EQ(res.hits[0].source, source);
	for (size_t i = 1; i < res.n; i++)
		CHECK(res.hits[i - 1].score >= res.hits[i].score);
	kb_result_release(&res);
}

TEST(kb, ingest_fixtures_and_find_the_right_source)
{
	struct fixture f;
	struct ingest_summary sum;
	struct err e = {0};
	struct kb *kb;

	if (setup(&f) < 0)
		return;
	CHECK_INT_EQ(ingest(&f, "tests/fixtures/kb", 0, NULL, &sum, &e), 0);
	CHECK_INT_EQ(sum.files, 4); /* .hidden.md and notes.json are not read */
	CHECK_INT_EQ(sum.skipped, 0);
	CHECK_INT_EQ(cmd_int(f.w.r, "HLEN %s", keys_kb_sources(), NULL), 4);
	CHECK_INT_EQ(count_keys(f.w.r, "rag_doc:*"), (long long)sum.chunks);
	kb = kb_open(&f.w, &e);
	CHECK(kb != NULL);
	CHECK_STR_EQ(kb_backend_name(kb), BACKEND);
	CHECK_INT_EQ(kb_local_rows(kb), LOCAL_ROWS(sum.chunks));
	check_first(kb, &f.w, "how do I scale the replicas with kubectl",
		    "tests/fixtures/kb/deploy.md#kubernetes");
	check_first(kb, &f.w, "refund for a duplicate invoice", "tests/fixtures/kb/billing.txt");
	check_first(kb, &f.w, "does the enterprise plan have single sign-on",
		    "tests/fixtures/kb/pricing.html#enterprise-plan");
	check_first(kb, &f.w, "restore a nightly database snapshot",
		    "tests/fixtures/kb/guides/backup.markdown#backups");
	kb_close(kb);
	teardown(&f);
}

TEST(kb, reingest_shortened_file_leaves_no_stale_chunks)
{
	struct fixture f;
	struct ingest_summary sum;
	struct err e = {0};
	struct buf doc = BUF_INIT;
	char *path, *pattern, sid[17];
	struct kb *kb;

	if (setup(&f) < 0)
		return;
	path = xasprintf("%s/long.md", f.tmp);
	for (int s = 0; s < 5; s++)
		buf_addf(&doc, "# Section %d\n\nParagraph number %d about topic %d.\n\n", s, s, s);
	write_file(path, doc.s, doc.len);
	CHECK_INT_EQ(ingest(&f, path, 0, NULL, &sum, &e), 0);
	CHECK_INT_EQ(sum.chunks, 5);
	ingest_source_id(path, sid);
	pattern = xasprintf("rag_doc:%s:*", sid);
	CHECK_INT_EQ(count_keys(f.w.r, pattern), 5);
	kb = kb_open(&f.w, &e);
	CHECK(kb != NULL);
	CHECK_INT_EQ(kb_local_rows(kb), LOCAL_ROWS(5));

	write_file(path, "# Only\n\nOne section left.\n", 26);
	CHECK_INT_EQ(ingest(&f, path, 0, NULL, &sum, &e), 0);
	CHECK_INT_EQ(sum.chunks, 1);
	CHECK_INT_EQ(count_keys(f.w.r, pattern), 1);
	CHECK_INT_EQ(cmd_int(f.w.r, "HGET %s %s", keys_kb_sources(), sid), 1);
	CHECK_INT_EQ(kb_refresh(kb, &f.w, &e), 0);
	CHECK_INT_EQ(kb_local_rows(kb), LOCAL_ROWS(1));
	kb_close(kb);
	free(pattern);
	free(path);
	buf_release(&doc);
	teardown(&f);
}

TEST(kb, model_mismatch_is_a_one_line_error)
{
	struct fixture f;
	struct ingest_summary sum;
	struct err e = {0};

	if (setup(&f) < 0)
		return;
	CHECK_INT_EQ(ingest(&f, "tests/fixtures/kb/deploy.md", 0, NULL, &sum, &e), 0);
	f.cfg.embedding_dim = 64;
	CHECK_INT_EQ(kb_meta_check(&f.w, &e), -1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	CHECK_STR_EQ(e.msg, "knowledge base was built with model haink-hash-v1 (dim 128); "
			    "configured haink-hash-v1 (dim 64): re-ingest with --reindex");
	CHECK(kb_open(&f.w, &e) == NULL);
	CHECK_INT_EQ(ingest(&f, "tests/fixtures/kb/deploy.md", 0, NULL, &sum, &e), -1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	/* --reindex starts over with the new dimension */
	CHECK_INT_EQ(ingest(&f, "tests/fixtures/kb/deploy.md", 1, NULL, &sum, &e), 0);
	CHECK(sum.dropped >= 1);
	CHECK_INT_EQ(kb_meta_check(&f.w, &e), 0);
	teardown(&f);
}

TEST(kb, bad_files_are_skipped_with_a_warning)
{
	struct fixture f;
	struct ingest_summary sum;
	struct err e = {0};
	char *out = NULL, *p;
	size_t outlen = 0;
	FILE *mem;
	int root = geteuid() == 0;

	if (setup(&f) < 0)
		return;
	p = xasprintf("%s/good.md", f.tmp);
	write_file(p, "# Good\n\nA perfectly fine document.\n", 35);
	free(p);
	p = xasprintf("%s/binary.md", f.tmp);
	write_file(p, "ab\0cd\0\1\2", 8);
	free(p);
	p = xasprintf("%s/latin1.txt", f.tmp);
	write_file(p, "caf\xe9 cr\xe8me", 10);
	free(p);
	p = xasprintf("%s/empty.md", f.tmp);
	write_file(p, "", 0);
	free(p);
	p = xasprintf("%s/blank.txt", f.tmp);
	write_file(p, " \n\n\t\n", 5);
	free(p);
	p = xasprintf("%s/dangling.md", f.tmp);
	CHECK_INT_EQ(symlink("/nonexistent/haink/file.md", p), 0);
	free(p);
	p = xasprintf("%s/pipe.md", f.tmp);
	CHECK_INT_EQ(mkfifo(p, 0600), 0);
	free(p);
	p = xasprintf("%s/locked.md", f.tmp);
	write_file(p, "# Locked\n\nNo permission to read.\n", 33);
	chmod(p, 0);
	free(p);

	mem = open_memstream(&out, &outlen);
	CHECK_INT_EQ(ingest(&f, f.tmp, 0, mem, &sum, &e), 0);
	fclose(mem);
	CHECK_STR_CONTAINS(out, "binary.md: binary file");
	CHECK_STR_CONTAINS(out, "latin1.txt: binary file");
	CHECK_STR_CONTAINS(out, "empty.md: no text");
	CHECK_STR_CONTAINS(out, "blank.txt: no text");
	CHECK_STR_CONTAINS(out, "dangling.md: No such file or directory");
	CHECK_STR_CONTAINS(out, "pipe.md: not a regular file");
	CHECK_STR_CONTAINS(out, "ingested");
	/* root reads a mode-000 file anyway: then it is a good file, honestly */
	if (!root)
		CHECK_STR_CONTAINS(out, "locked.md: Permission denied");
	CHECK_INT_EQ(sum.files, root ? 2 : 1);
	CHECK_INT_EQ(sum.skipped, root ? 6 : 7);
	free(out);
	teardown(&f);
}

TEST(kb, embedding_cache_hits_and_wrong_length_values)
{
	struct fixture f;
	const char *texts[3] = {"alpha beta", "gamma delta", "epsilon"};
	float a[3 * DIM], b[3 * DIM];
	struct embed_stats st = {0};
	struct err e = {0};
	char *key;
	redisReply *rep;

	if (setup(&f) < 0)
		return;
	CHECK_INT_EQ(embed_texts(&f.w, texts, 3, a, &st, &e), 0);
	CHECK_INT_EQ(st.cache_misses, 3);
	CHECK_INT_EQ(st.cache_hits, 0);
	CHECK_INT_EQ(embed_texts(&f.w, texts, 3, b, &st, &e), 0);
	CHECK_INT_EQ(st.cache_hits, 3);
	CHECK(!memcmp(a, b, sizeof(a)));
	key = keys_embedding("haink-hash-v1", "gamma delta", 11);
	CHECK(cmd_int(f.w.r, "TTL %s", key, NULL) > 0);
	rep = rds_cmd(f.w.r, NULL, "SET %s short", key);
	freeReplyObject(rep);
	CHECK_INT_EQ(embed_texts(&f.w, texts, 3, b, &st, &e), 0);
	CHECK_INT_EQ(st.cache_hits, 5);
	CHECK_INT_EQ(st.cache_misses, 4);
	CHECK(!memcmp(a, b, sizeof(a)));
	CHECK_INT_EQ(cmd_int(f.w.r, "STRLEN %s", key, NULL), DIM * 4); /* rewritten */
	free(key);
	teardown(&f);
}

struct searcher {
	struct fixture *f;
	struct kb *kb;
	int errors, empty, done;
};

static void *search_loop(void *arg)
{
	struct searcher *s = arg;
	struct worker_ctx w;
	struct err e = {0};

	if (worker_ctx_init(&w, &s->f->env, 1, 5000, &e) < 0) {
		s->errors++;
		return NULL;
	}
	for (int i = 0; i < 150; i++) {
		struct kb_result res = {0};
		if (kb_search(s->kb, &w, i % 2 ? "kubectl replicas" : "invoice refund", 3, &res,
			      &e) < 0)
			s->errors++;
		else if (!res.n)
			s->empty++;
		kb_result_release(&res);
		s->done++;
	}
	worker_ctx_release(&w);
	return NULL;
}

TEST(kb, searches_run_while_the_index_reloads)
{
	struct fixture f;
	struct ingest_summary sum;
	struct err e = {0};
	struct searcher s[3];
	pthread_t th[3];
	struct kb *kb;

	if (setup(&f) < 0)
		return;
	CHECK_INT_EQ(ingest(&f, "tests/fixtures/kb", 0, NULL, &sum, &e), 0);
	kb = kb_open(&f.w, &e);
	CHECK(kb != NULL);
	for (int i = 0; i < 3; i++) {
		s[i] = (struct searcher){&f, kb, 0, 0, 0};
		pthread_create(&th[i], NULL, search_loop, &s[i]);
	}
	for (int round = 0; round < 4; round++) {
		CHECK_INT_EQ(ingest(&f, "tests/fixtures/kb", 0, NULL, &sum, &e), 0);
		CHECK_INT_EQ(kb_refresh(kb, &f.w, &e), 0);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 3; i++) {
		CHECK_INT_EQ(s[i].errors, 0);
		CHECK_INT_EQ(s[i].empty, 0);
		CHECK_INT_EQ(s[i].done, 150);
	}
	CHECK_INT_EQ(kb_local_rows(kb), LOCAL_ROWS(sum.chunks));
	kb_close(kb);
	teardown(&f);
}

TEST(kb, drop_removes_everything_and_bumps_the_version)
{
	struct fixture f;
	struct ingest_summary sum;
	struct err e = {0};
	size_t n = 0;
	long long v0;
	struct kb_stats st;

	if (setup(&f) < 0)
		return;
	CHECK_INT_EQ(ingest(&f, "tests/fixtures/kb", 0, NULL, &sum, &e), 0);
	CHECK_INT_EQ(kb_stats_get(&f.w, &st, &e), 0);
	CHECK_INT_EQ(st.chunks, (long long)sum.chunks);
	CHECK_INT_EQ(st.sources, 4);
	CHECK_INT_EQ(st.dim, DIM);
	CHECK_STR_EQ(st.model, "haink-hash-v1");
	CHECK_STR_EQ(st.backend, BACKEND);
	CHECK_INT_EQ(st.cache_keys, (long long)sum.chunks);
	v0 = st.version;
	CHECK_INT_EQ(kb_drop(&f.w, &n, &e), 0);
	CHECK_INT_EQ(n, sum.chunks);
	CHECK_INT_EQ(count_keys(f.w.r, "rag_doc:*"), 0);
	CHECK_INT_EQ(cmd_int(f.w.r, "EXISTS %s", keys_kb_sources(), NULL), 0);
	CHECK_INT_EQ(cmd_int(f.w.r, "HEXISTS %s %s", keys_kb_meta(), "model"), 0);
	CHECK_INT_EQ(cmd_int(f.w.r, "HGET %s %s", keys_kb_meta(), "version"), v0 + 1);
	teardown(&f);
}
