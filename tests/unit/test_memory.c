/*
 * Unit tests of the memory modules without Redis: the text score, the exact
 * Query Engine commands (this machine's Redis has no FT.*), parsing a
 * recorded FT.SEARCH reply, and the SCAN patterns of memory forget.
 */
#include "common.h"
#include "memory/memory.h"
#include "memory/memory_ft.h"

#include <stdlib.h>

#include "../harness/test.h"

TEST(memory, text_score_prefers_matching_words)
{
	const char *docs[] = {"Prefers answers in French", "Works on the billing team",
			      "Q: how do I rotate keys / A: use the rotate command", ""};
	double s[4];

	mem_text_scores("which language should answers be in? french?", docs, 4, s);
	CHECK(s[0] > s[1]);
	CHECK(s[0] > s[2]);
	CHECK_NEAR(s[1], 0, 1e-9);
	CHECK_NEAR(s[3], 0, 1e-9);
	CHECK(s[0] > 0 && s[0] <= 1.0);
	mem_text_scores("ROTATE keys", docs, 4, s);
	CHECK(s[2] > 0.5);
	CHECK_NEAR(s[0], 0, 1e-9);
	mem_text_scores("the of and", docs, 4, s); /* only stopwords */
	CHECK_NEAR(s[0] + s[1] + s[2], 0, 1e-9);
}

TEST(memory, ft_create_command)
{
	struct mem_cmd c;
	char *t;

	mem_ft_create_cmd(&c, 1536);
	t = mem_cmd_text(&c);
	CHECK_STR_EQ(t, "FT.CREATE memory_idx ON HASH PREFIX 1 memory: SCHEMA scope TAG "
			"CASESENSITIVE tscope TAG CASESENSITIVE kind TAG content TEXT created_ms "
			"NUMERIC SORTABLE embedding VECTOR FLAT 6 TYPE FLOAT32 DIM 1536 "
			"DISTANCE_METRIC COSINE");
	free(t);
	mem_cmd_release(&c);
}

TEST(memory, scope_tags_keep_users_apart)
{
	/* TAG fields fold case and split on commas: raw ids would merge these users */
	struct mem_scope a = {"haink", "default", "T1/alice", NULL};
	struct mem_scope b = {"haink", "default", "T1/ALICE", NULL};
	struct mem_scope c = {"haink", "default", "ui/bob,eve", NULL};
	struct mem_scope d = {"haink", "default", "ui/bob", NULL};
	char ta[MEM_FT_TAG_LEN + 1], tb[MEM_FT_TAG_LEN + 1], tc[MEM_FT_TAG_LEN + 1],
	    td[MEM_FT_TAG_LEN + 1], tt[MEM_FT_TAG_LEN + 1];

	mem_ft_scope_tag(&a, NULL, ta);
	mem_ft_scope_tag(&b, NULL, tb);
	mem_ft_scope_tag(&c, NULL, tc);
	mem_ft_scope_tag(&d, NULL, td);
	CHECK_INT_EQ(strlen(ta), MEM_FT_TAG_LEN);
	CHECK_INT_EQ(strspn(ta, "0123456789abcdef"), MEM_FT_TAG_LEN);
	CHECK(strcmp(ta, tb) != 0);
	CHECK(strcmp(tc, td) != 0);
	mem_ft_scope_tag(&a, "", tt);
	CHECK(strcmp(ta, tt) != 0); /* the thread tag is another value */
	mem_ft_scope_tag(&b, NULL, tt);
	CHECK_STR_EQ(ta, ta);
	CHECK_STR_EQ(tt, tb); /* deterministic */
}

TEST(memory, ft_search_command_filters_by_scope_tags)
{
	struct mem_cmd c;
	float v[4] = {1, 0, 0, 0};
	struct mem_scope s = {"haink", "sales-bot", "T1/U1,x", NULL};
	struct mem_query q = {"french", v, 4, 5, 0.7, 0.3};
	char tag[MEM_FT_TAG_LEN + 1], ttag[MEM_FT_TAG_LEN + 1];
	char *t, *want;

	mem_ft_scope_tag(&s, NULL, tag);
	mem_ft_search_cmd(&c, &s, &q, 516, -1);
	t = mem_cmd_text(&c);
	want = xasprintf("FT.SEARCH memory_idx (@scope:{%s})=>[KNN 516 @embedding $v AS vscore] "
			 "PARAMS 2 v <16 bytes> RETURN 5 content kind thread created_ms vscore "
			 "SORTBY vscore ASC LIMIT 0 516 DIALECT 2",
			 tag);
	CHECK_STR_EQ(t, want);
	CHECK_INT_EQ(c.lens[6], 16);
	CHECK(!memcmp(c.argv[6], v, 16));
	free(want);
	free(t);
	mem_cmd_release(&c);

	s.thread = "1700000000.000100";
	mem_ft_scope_tag(&s, s.thread, ttag);
	q.vec = NULL;
	mem_ft_search_cmd(&c, &s, &q, 516, 1700000000123LL);
	t = mem_cmd_text(&c);
	want =
	    xasprintf("FT.SEARCH memory_idx (@scope:{%s} @tscope:{%s} @created_ms:[1700000000123 "
		      "+inf]) RETURN 4 content kind thread created_ms SORTBY created_ms DESC "
		      "LIMIT 0 516 DIALECT 2",
		      tag, ttag);
	CHECK_STR_EQ(t, want);
	free(want);
	free(t);
	mem_cmd_release(&c);
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

TEST(memory, ft_parse_recorded_reply)
{
	/* An FT.SEARCH reply as Redis 8 sends it over RESP2 (two documents). */
	const char *raw =
	    "*5\r\n:2\r\n"
	    "$40\r\nmemory:haink:support:U1:1700000000000-aa\r\n"
	    "*10\r\n$7\r\ncontent\r\n$25\r\nPrefers answers in French\r\n"
	    "$4\r\nkind\r\n$4\r\nfact\r\n$6\r\nthread\r\n$3\r\n1.2\r\n"
	    "$10\r\ncreated_ms\r\n$13\r\n1700000000000\r\n$6\r\nvscore\r\n$4\r\n0.25\r\n"
	    "$40\r\nmemory:haink:support:U1:1700000000001-bb\r\n"
	    "*4\r\n$7\r\ncontent\r\n$2\r\nhi\r\n$6\r\nvscore\r\n$3\r\n0.9\r\n";
	redisReply *rep = parse_resp(raw);
	struct mem_hits h = {0};
	struct err e = {0};

	CHECK(rep != NULL);
	CHECK_INT_EQ(mem_ft_parse(rep, &h, &e), 0);
	CHECK_INT_EQ(h.n, 2);
	CHECK_STR_EQ(h.v[0].id, "1700000000000-aa");
	CHECK_STR_EQ(h.v[0].content, "Prefers answers in French");
	CHECK_STR_EQ(h.v[0].kind, "fact");
	CHECK_STR_EQ(h.v[0].thread, "1.2");
	CHECK_INT_EQ(h.v[0].created_ms, 1700000000000LL);
	CHECK_NEAR(h.v[0].vscore, 0.75, 1e-9);
	CHECK_STR_EQ(h.v[1].kind, "turn");
	CHECK_NEAR(h.v[1].vscore, 0.1, 1e-9);
	mem_hits_release(&h);
	freeReplyObject(rep);

	rep = parse_resp("-ERR Unknown index name\r\n");
	CHECK(rep != NULL);
	CHECK_INT_EQ(mem_ft_parse(rep, &h, &e), -1);
	CHECK_INT_EQ(e.code, ERR_PARSE);
	freeReplyObject(rep);
	rep = parse_resp("*2\r\n:1\r\n$3\r\nkey\r\n");
	CHECK_INT_EQ(mem_ft_parse(rep, &h, &e), -1);
	mem_hits_release(&h);
	freeReplyObject(rep);
}

TEST(memory, scan_patterns_escape_and_anchor)
{
	char *p = keys_memory_hash_match("haink", "support", "U1");

	CHECK_STR_EQ(p, "memory:haink:support:U1:*");
	free(p);
	p = keys_memory_scope_match("haink", NULL, "U1");
	CHECK_STR_EQ(p, "memory:haink:*:U1");
	free(p);
	p = keys_memory_hash_match("haink", NULL, "U*[1]");
	CHECK_STR_EQ(p, "memory:haink:*:U\\*\\[1\\]:*");
	free(p);
}
