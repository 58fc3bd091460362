/* Unit tests of ft.c: Query Engine commands and reply parsing. */
#include "common.h"
#include "kb/ft.h"
#include "kb/kb.h"
#include "../harness/test.h"

static void check_argv(const struct ft_argv *a, const char *const *want, int n, int skip)
{
	CHECK_INT_EQ(a->argc, n);
	for (int i = 0; i < n; i++) {
		if (i == skip)
			continue;
		CHECK_INT_EQ(a->lens[i], strlen(want[i]));
		CHECK(!memcmp(a->argv[i], want[i], a->lens[i]));
	}
}

TEST(ft, create_command)
{
	struct ft_argv a;
	const char *hnsw[] = {
	    "FT.CREATE", "rag_doc_idx",	    "ON",    "HASH",  "PREFIX", "1",	   "rag_doc:",
	    "SCHEMA",	 "content",	    "TEXT",  "title", "TEXT",	"source",  "TAG",
	    "embedding", "VECTOR",	    "HNSW",  "6",     "TYPE",	"FLOAT32", "DIM",
	    "384",	 "DISTANCE_METRIC", "COSINE"};

	ft_create_argv(&a, 384, VECTOR_HNSW);
	check_argv(&a, hnsw, 24, -1);
	if (test_failed())
		return;
	ft_argv_release(&a);
	ft_create_argv(&a, 1536, VECTOR_FLAT);
	CHECK_STR_EQ(a.argv[16], "FLAT");
	CHECK_STR_EQ(a.argv[21], "1536");
	ft_argv_release(&a);
}

TEST(ft, knn_command)
{
	struct ft_argv a;
	unsigned char blob[16] = {0, 0, 0x80, 0x3f};
	const char *want[] = {"FT.SEARCH",
			      "rag_doc_idx",
			      "*=>[KNN 5 @embedding $v AS score]",
			      "PARAMS",
			      "2",
			      "v",
			      "(blob)",
			      "SORTBY",
			      "score",
			      "RETURN",
			      "4",
			      "title",
			      "source",
			      "content",
			      "score",
			      "LIMIT",
			      "0",
			      "5",
			      "DIALECT",
			      "2"};

	ft_knn_argv(&a, 5, blob, sizeof(blob), NULL, 0);
	check_argv(&a, want, 20, 6);
	if (test_failed())
		return;
	CHECK(a.argv[6] == (const char *)blob);
	CHECK_INT_EQ(a.lens[6], 16);
	ft_argv_release(&a);
	ft_knn_argv(&a, 12, blob, sizeof(blob), "(@content:(deploy|kubernetes))", 0);
	CHECK_STR_EQ(a.argv[2], "(@content:(deploy|kubernetes))=>[KNN 12 @embedding $v AS score]");
	CHECK_STR_EQ(a.argv[17], "12");
	ft_argv_release(&a);
	/* HNSW's default EF_RUNTIME (10) misses most of the true top 5: set per query */
	ft_knn_argv(&a, 5, blob, sizeof(blob), NULL, 200);
	CHECK_STR_EQ(a.argv[2], "*=>[KNN 5 @embedding $v EF_RUNTIME 200 AS score]");
	CHECK_INT_EQ(a.argc, 20);
	ft_argv_release(&a);
}

TEST(ft, text_clause_keeps_only_words)
{
	struct buf b = BUF_INIT;
	CHECK_INT_EQ(ft_text_clause("content", "How do I deploy? (k8s) -x @title:{y} \"z\"", &b),
		     5);
	CHECK_STR_EQ(b.s, "(@content:(how|do|deploy|k8s|title))");
	buf_reset(&b);
	CHECK_INT_EQ(ft_text_clause("content", "? ! a", &b), 0);
	CHECK_STR_EQ(b.s, "");
	buf_release(&b);
}

static redisReply *parse_resp(const char *raw)
{
	redisReader *rd = redisReaderCreate();
	void *rep = NULL;
	redisReaderFeed(rd, raw, strlen(raw));
	if (redisReaderGetReply(rd, &rep) != REDIS_OK)
		rep = NULL;
	redisReaderFree(rd);
	return rep;
}

TEST(ft, parses_search_reply)
{
	/* RESP2 shape of FT.SEARCH with RETURN: total, then key and field/value pairs */
	redisReply *rep =
	    parse_resp("*5\r\n:2\r\n"
		       "$11\r\nrag_doc:a:0\r\n*8\r\n$5\r\ntitle\r\n$6\r\nDeploy\r\n"
		       "$6\r\nsource\r\n$8\r\nd.md#x-y\r\n$7\r\ncontent\r\n$5\r\nhello\r\n"
		       "$5\r\nscore\r\n$4\r\n0.25\r\n"
		       "$11\r\nrag_doc:b:3\r\n*4\r\n$5\r\nscore\r\n$3\r\n0.5\r\n"
		       "$5\r\ntitle\r\n$2\r\nT2\r\n");
	struct kb_result res;
	struct err err = {0};

	CHECK(rep != NULL);
	CHECK_INT_EQ(ft_parse_search(rep, &res, &err), 0);
	freeReplyObject(rep);
	CHECK_INT_EQ(res.n, 2);
	CHECK_STR_EQ(res.hits[0].key, "rag_doc:a:0");
	CHECK_STR_EQ(res.hits[0].title, "Deploy");
	CHECK_STR_EQ(res.hits[0].source, "d.md#x-y");
	CHECK_STR_EQ(res.hits[0].content, "hello");
	CHECK_NEAR(res.hits[0].score, 0.75, 1e-9); /* 1 - cosine distance */
	CHECK_STR_EQ(res.hits[1].title, "T2");
	CHECK_STR_EQ(res.hits[1].content, "");
	CHECK_NEAR(res.hits[1].score, 0.5, 1e-9);
	kb_result_release(&res);
}

TEST(ft, parses_empty_and_nocontent_replies)
{
	redisReply *rep = parse_resp("*1\r\n:0\r\n");
	struct kb_result res;
	struct err err = {0};

	CHECK_INT_EQ(ft_parse_search(rep, &res, &err), 0);
	CHECK_INT_EQ(res.n, 0);
	kb_result_release(&res);
	freeReplyObject(rep);
	rep = parse_resp("*3\r\n:2\r\n$3\r\nk:1\r\n$3\r\nk:2\r\n");
	CHECK_INT_EQ(ft_parse_search(rep, &res, &err), 0);
	CHECK_INT_EQ(res.n, 2);
	CHECK_STR_EQ(res.hits[1].key, "k:2");
	kb_result_release(&res);
	freeReplyObject(rep);
}

TEST(ft, rejects_other_shapes)
{
	redisReply *rep = parse_resp("$2\r\nno\r\n");
	struct kb_result res;
	struct err err = {0};

	CHECK_INT_EQ(ft_parse_search(rep, &res, &err), -1);
	CHECK_INT_EQ(err.code, ERR_PARSE);
	freeReplyObject(rep);
	rep = parse_resp("*2\r\n:1\r\n:5\r\n");
	CHECK_INT_EQ(ft_parse_search(rep, &res, &err), -1);
	freeReplyObject(rep);
}

TEST(ft, parses_info_reply)
{
	/* RESP2 FT.INFO of 2.10, trimmed: attributes are flat lists with lone flags */
	redisReply *rep =
	    parse_resp("*12\r\n$10\r\nindex_name\r\n$3\r\nidx\r\n$10\r\nattributes\r\n*2\r\n"
		       "*7\r\n$10\r\nidentifier\r\n$1\r\nu\r\n$9\r\nattribute\r\n$6\r\ntscope\r\n"
		       "$4\r\ntype\r\n$3\r\nTAG\r\n$13\r\nCASESENSITIVE\r\n"
		       "*12\r\n$10\r\nidentifier\r\n$1\r\nv\r\n$9\r\nattribute\r\n$1\r\nv\r\n"
		       "$4\r\ntype\r\n$6\r\nVECTOR\r\n$9\r\nalgorithm\r\n$4\r\nFLAT\r\n"
		       "$3\r\ndim\r\n:384\r\n$15\r\ndistance_metric\r\n$6\r\nCOSINE\r\n"
		       "$8\r\nnum_docs\r\n$3\r\n120\r\n$22\r\nhash_indexing_failures\r\n:3\r\n"
		       "$8\r\nindexing\r\n:1\r\n$15\r\npercent_indexed\r\n$4\r\n0.25\r\n");
	struct ft_info fi;
	struct err err = {0};

	CHECK(rep != NULL);
	CHECK_INT_EQ(ft_parse_info(rep, "tscope", &fi, &err), 0);
	CHECK_INT_EQ(fi.exists, 1);
	CHECK_INT_EQ(fi.has_attr, 1);
	CHECK_INT_EQ(fi.dim, 384);
	CHECK_INT_EQ(fi.algorithm, VECTOR_FLAT);
	CHECK_INT_EQ(fi.indexing, 1);
	CHECK_NEAR(fi.percent_indexed, 0.25, 1e-9);
	CHECK_INT_EQ(fi.num_docs, 120);
	CHECK_INT_EQ(fi.failures, 3);
	CHECK_INT_EQ(ft_parse_info(rep, "scope", &fi, &err), 0);
	CHECK_INT_EQ(fi.has_attr, 0);
	freeReplyObject(rep);
	rep = parse_resp("*1\r\n:1\r\n");
	CHECK_INT_EQ(ft_parse_info(rep, NULL, &fi, &err), -1);
	CHECK_INT_EQ(err.code, ERR_PARSE);
	freeReplyObject(rep);
}

TEST(ft, tells_a_missing_index)
{
	struct err e = {0};

	err_set(&e, ERR_REDIS, "Unknown index name");
	CHECK(ft_no_index(&e));
	err_set(&e, ERR_REDIS, "No such index rag_doc_idx");
	CHECK(ft_no_index(&e));
	err_set(&e, ERR_REDIS, "rag_doc_idx: no such index");
	CHECK(ft_no_index(&e));
	err_set(&e, ERR_REDIS, "Syntax error at offset 3");
	CHECK(!ft_no_index(&e));
}

TEST(ft, recall_at_k)
{
	const char *truth[] = {"a", "b", "c", "d", "e", "f"};
	const char *got[] = {"b", "x", "a", "e", "y", "c"};

	CHECK_NEAR(ft_recall_at_k(truth, 6, got, 6, 5), 0.6, 1e-9); /* c is 6th: not counted */
	CHECK_NEAR(ft_recall_at_k(truth, 6, truth, 6, 5), 1.0, 1e-9);
	CHECK_NEAR(ft_recall_at_k(truth, 2, got, 1, 5), 0.5, 1e-9);
	CHECK_NEAR(ft_recall_at_k(truth, 0, got, 6, 5), 1.0, 1e-9);
	CHECK_NEAR(ft_recall_at_k(truth, 6, got, 0, 5), 0.0, 1e-9);
}
