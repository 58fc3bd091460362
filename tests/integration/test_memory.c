/*
 * Integration tests of long-term memory on a real redis-server (the local
 * backend; this Redis has no Query Engine): scope isolation by user and by
 * agent, including through the search_memory and remember tools when the
 * model's arguments name another user or agent; hybrid ranking on fixture
 * data; per-thread scope; the row cache staying coherent with writes and
 * forgets; and `memory forget` removing exactly one scope.
 */
#include "common.h"
#include "memory/memory.h"
#include "agent/tools.h"
#include "queue/worker_ctx.h"
#include "kb/embed.h"

#include <stdlib.h>

#include "../harness/test.h"

#define DIM 64

static int put(struct rds *r, const char *agent, const char *user, const char *kind,
	       const char *text, int64_t ms)
{
	struct mem_scope s = {"haink", agent, user, "1.1"};
	float v[DIM];
	struct err e = {0};

	embed_offline(text, strlen(text), v, DIM);
	return mem_store(r, &s, kind, text, v, DIM, ms, NULL, &e);
}

static int search(struct rds *r, const char *agent, const char *user, const char *thread,
		  const char *query, int k, struct mem_hits *h)
{
	struct mem_scope s = {"haink", agent, user, thread};
	float v[DIM];
	struct mem_query q = {query, v, DIM, k, 0.7, 0.3};
	struct err e = {0};

	embed_offline(query, strlen(query), v, DIM);
	memset(h, 0, sizeof(*h));
	return mem_search(r, MEM_BACKEND_LOCAL, &s, &q, h, &e);
}

static int contains(const struct mem_hits *h, const char *needle)
{
	for (size_t i = 0; i < h->n; i++)
		if (strstr(h->v[i].content, needle))
			return 1;
	return 0;
}

TEST(memory, scopes_are_isolated_by_user_and_agent)
{
	struct rds *r = test_redis_connect(5000);
	struct mem_hits h;

	CHECK(r != NULL);
	test_redis_flush();
	mem_cache_reset(MEM_CACHE_BYTES);
	CHECK_INT_EQ(put(r, "support", "U1", "fact", "U1 secret: prefers answers in French", 1000),
		     0);
	CHECK_INT_EQ(put(r, "sales", "U1", "fact", "U1 sales note: budget is ten thousand", 1001),
		     0);
	CHECK_INT_EQ(put(r, "support", "U12", "fact", "U12 likes short answers", 1002), 0);
	CHECK_INT_EQ(put(r, "support", "U2", "fact", "U2 works on billing", 1003), 0);

	CHECK_INT_EQ(search(r, "support", "U2", NULL, "prefers answers in French budget", 10, &h),
		     0);
	CHECK_INT_EQ(h.n, 1);
	CHECK_STR_CONTAINS(h.v[0].content, "U2 works on billing");
	mem_hits_release(&h);

	CHECK_INT_EQ(search(r, "support", "U1", NULL, "budget thousand", 10, &h), 0);
	CHECK_INT_EQ(h.n, 1);
	CHECK(!contains(&h, "sales note"));
	CHECK(!contains(&h, "U12"));
	mem_hits_release(&h);

	CHECK_INT_EQ(search(r, "sales", "U1", NULL, "French", 10, &h), 0);
	CHECK_INT_EQ(h.n, 1);
	CHECK_STR_CONTAINS(h.v[0].content, "sales note");
	mem_hits_release(&h);

	CHECK_INT_EQ(search(r, "engineering", "U1", NULL, "French", 10, &h), 0);
	CHECK_INT_EQ(h.n, 0);
	mem_hits_release(&h);
	rds_free(r);
}

TEST(memory, users_differing_in_case_or_by_commas_stay_apart)
{
	/* the local half of the isolation check; tests/integration/test_qe.c runs the
	 * same users on the Query Engine, whose TAG fields fold case and split on commas */
	static const char *const users[] = {"T1/alice", "T1/ALICE", "ui/bob", "ui/bob,eve"};
	struct rds *r = test_redis_connect(5000);
	struct mem_hits h;
	char text[64];

	CHECK(r != NULL);
	test_redis_flush();
	mem_cache_reset(MEM_CACHE_BYTES);
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		snprintf(text, sizeof(text), "secret note of %s", users[i]);
		CHECK_INT_EQ(put(r, "support", users[i], "fact", text, 2000 + (int64_t)i), 0);
	}
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		snprintf(text, sizeof(text), "secret note of %s", users[i]);
		CHECK_INT_EQ(search(r, "support", users[i], NULL, "secret note", 10, &h), 0);
		CHECK_INT_EQ(h.n, 1);
		if (h.n == 1)
			CHECK_STR_EQ(h.v[0].content, text);
		mem_hits_release(&h);
	}
	rds_free(r);
}

TEST(memory, hybrid_ranking_puts_the_relevant_memory_first)
{
	static const char *const fixture[] = {
	    "Q: how do I reset my password / A: use the account settings page",
	    "Q: what is our refund policy / A: refunds within 30 days",
	    "Works in the Berlin office on the data platform team",
	    "Q: how do I deploy the api / A: run make deploy after review",
	    "Has a dog called Pixel",
	    "Q: when is the quarterly planning / A: the first week of March",
	    "Prefers code examples in Rust rather than Python",
	    "Q: which database do we use / A: Postgres for billing, Redis for queues",
	    "Is on call for the payments service this month",
	    "Q: where are the onboarding docs / A: in the handbook wiki",
	};
	struct rds *r = test_redis_connect(5000);
	struct mem_hits h;

	CHECK(r != NULL);
	test_redis_flush();
	mem_cache_reset(MEM_CACHE_BYTES);
	for (size_t i = 0; i < sizeof(fixture) / sizeof(fixture[0]); i++)
		CHECK_INT_EQ(put(r, "support", "U7", strncmp(fixture[i], "Q:", 2) ? "fact" : "turn",
				 fixture[i], 5000 + (int64_t)i),
			     0);
	CHECK_INT_EQ(search(r, "support", "U7", NULL, "show me an example in rust", 3, &h), 0);
	CHECK_INT_EQ(h.n, 3);
	CHECK_STR_CONTAINS(h.v[0].content, "Rust");
	CHECK(h.v[0].score >= h.v[1].score && h.v[1].score >= h.v[2].score);
	mem_hits_release(&h);
	CHECK_INT_EQ(search(r, "support", "U7", NULL, "which database for billing?", 3, &h), 0);
	CHECK_STR_CONTAINS(h.v[0].content, "Postgres");
	mem_hits_release(&h);
	CHECK_INT_EQ(search(r, "support", "U7", NULL, "who is on call for payments", 3, &h), 0);
	CHECK_STR_CONTAINS(h.v[0].content, "on call");
	mem_hits_release(&h);
	/* facts above turns when the text is the same */
	CHECK_INT_EQ(put(r, "support", "U8", "turn", "likes tea", 10), 0);
	CHECK_INT_EQ(put(r, "support", "U8", "fact", "likes tea", 9), 0);
	CHECK_INT_EQ(search(r, "support", "U8", NULL, "tea", 2, &h), 0);
	CHECK_INT_EQ(h.n, 2);
	CHECK_STR_EQ(h.v[0].kind, "fact");
	mem_hits_release(&h);
	rds_free(r);
}

TEST(memory, thread_scope_and_cache_coherence)
{
	struct rds *r = test_redis_connect(5000), *r2 = test_redis_connect(5000);
	struct mem_scope other = {"haink", "support", "U3", "2.2"};
	struct mem_hits h;
	struct err e = {0};
	float v[DIM];

	CHECK(r != NULL && r2 != NULL);
	test_redis_flush();
	mem_cache_reset(MEM_CACHE_BYTES);
	CHECK_INT_EQ(put(r, "support", "U3", "fact", "first thread memory about kafka", 1), 0);
	embed_offline("second thread memory about kafka", 32, v, DIM);
	CHECK_INT_EQ(
	    mem_store(r, &other, "fact", "second thread memory about kafka", v, DIM, 2, NULL, &e),
	    0);
	CHECK_INT_EQ(search(r, "support", "U3", "2.2", "kafka", 5, &h), 0);
	CHECK_INT_EQ(h.n, 1);
	CHECK_STR_CONTAINS(h.v[0].content, "second thread");
	mem_hits_release(&h);
	CHECK_INT_EQ(search(r, "support", "U3", NULL, "kafka", 5, &h), 0);
	CHECK_INT_EQ(h.n, 2);
	mem_hits_release(&h);
	/* a write through another connection shows up in the next (cached) search */
	CHECK_INT_EQ(put(r2, "support", "U3", "fact", "third memory about kafka", 3), 0);
	CHECK_INT_EQ(search(r, "support", "U3", NULL, "kafka", 5, &h), 0);
	CHECK_INT_EQ(h.n, 3);
	mem_hits_release(&h);
	/* deleted elsewhere (another process): gone from the next search */
	freeReplyObject(rds_cmd(r2, &e, "DEL memory:haink:support:U3"));
	CHECK_INT_EQ(search(r, "support", "U3", NULL, "kafka", 5, &h), 0);
	CHECK_INT_EQ(h.n, 0);
	mem_hits_release(&h);
	/* a zero budget disables the cache; results are the same */
	mem_cache_reset(0);
	CHECK_INT_EQ(put(r, "support", "U3", "fact", "fourth memory about kafka", 4), 0);
	CHECK_INT_EQ(search(r, "support", "U3", NULL, "kafka", 5, &h), 0);
	CHECK_INT_EQ(h.n, 1);
	mem_hits_release(&h);
	mem_cache_reset(MEM_CACHE_BYTES);
	rds_free(r);
	rds_free(r2);
}

static long count_keys(struct rds *r, const char *pattern)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(r, &e, "KEYS %s", pattern);
	long n = rep ? (long)rep->elements : -1;

	if (rep)
		freeReplyObject(rep);
	return n;
}

/* Keys of one scope: its set plus its memory hashes (patterns anchored on ':'). */
static long scope_keys(struct rds *r, const char *app, const char *agent, const char *user)
{
	char a[128], b[128];

	snprintf(a, sizeof(a), "memory:%s:%s:%s", app, agent, user);
	snprintf(b, sizeof(b), "memory:%s:%s:%s:*", app, agent, user);
	return count_keys(r, a) + count_keys(r, b);
}

TEST(memory, forget_removes_one_scope_and_nothing_else)
{
	struct rds *r = test_redis_connect(5000);
	struct err e = {0};
	struct mem_hits h = {0};

	CHECK(r != NULL);
	test_redis_flush();
	mem_cache_reset(MEM_CACHE_BYTES);
	for (int i = 0; i < 3; i++) {
		CHECK_INT_EQ(put(r, "support", "U1", "fact", "support U1", 100 + i), 0);
		CHECK_INT_EQ(put(r, "sales", "U1", "fact", "sales U1", 200 + i), 0);
		CHECK_INT_EQ(put(r, "support", "U12", "fact", "support U12", 300 + i), 0);
		CHECK_INT_EQ(put(r, "support", "XU1", "fact", "support XU1", 400 + i), 0);
	}
	{
		struct mem_scope s = {"other", "support", "U1", NULL};
		CHECK_INT_EQ(mem_store(r, &s, "fact", "other app U1", NULL, 0, 1, NULL, &e), 0);
	}
	freeReplyObject(rds_cmd(r, &e, "SET chat:T:C:U1 x"));
	CHECK_INT_EQ(count_keys(r, "*"), 4 * 4 + 2 + 1);
	CHECK_INT_EQ(mem_list(r, "haink", NULL, "U1", &h, &e), 0);
	CHECK_INT_EQ(h.n, 6);
	mem_hits_release(&h);

	CHECK_INT_EQ(mem_forget(r, "haink", "support", "U1", &e), 3);
	CHECK_INT_EQ(scope_keys(r, "haink", "support", "U1"), 0);
	CHECK_INT_EQ(scope_keys(r, "haink", "sales", "U1"), 4);
	CHECK_INT_EQ(scope_keys(r, "haink", "support", "U12"), 4);
	CHECK_INT_EQ(scope_keys(r, "haink", "support", "XU1"), 4);
	CHECK_INT_EQ(search(r, "support", "U1", NULL, "support", 5, &h), 0);
	CHECK_INT_EQ(h.n, 0);
	mem_hits_release(&h);

	CHECK_INT_EQ(mem_forget(r, "haink", NULL, "U1", &e), 3); /* every agent: sales remains */
	CHECK_INT_EQ(scope_keys(r, "haink", "*", "U1"), 0);
	CHECK_INT_EQ(scope_keys(r, "haink", "support", "U12"), 4);
	CHECK_INT_EQ(scope_keys(r, "haink", "support", "XU1"), 4);
	CHECK_INT_EQ(scope_keys(r, "other", "support", "U1"), 2);
	CHECK_INT_EQ(count_keys(r, "chat:*"), 1);
	CHECK_INT_EQ(mem_forget(r, "haink", NULL, "U1", &e), 0);
	CHECK_INT_EQ(mem_forget(r, "haink", NULL, "U*", &e), 0); /* a glob is literal */
	CHECK_INT_EQ(scope_keys(r, "haink", "support", "U12"), 4);
	CHECK_INT_EQ(mem_forget(r, "haink", "bad:agent", "U12", &e), -1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	rds_free(r);
}

static const char *fake_env(const char *name, void *ctx)
{
	if (!strcmp(name, "REDIS_URL"))
		return ctx;
	if (!strcmp(name, "LLM_PROVIDER"))
		return "offline";
	if (!strcmp(name, "EMBEDDING_DIM"))
		return "64";
	return NULL;
}

TEST(memory, tools_use_the_task_scope_not_model_arguments)
{
	struct config cfg;
	struct agents agents;
	struct worker_env env;
	struct worker_ctx w;
	struct buf problems = BUF_INIT, out = BUF_INIT;
	struct err e = {0};
	struct tool_trace trace;
	const struct tool_def *search_def = tools_find("search_memory"),
			      *remember_def = tools_find("remember");
	struct tool_scope s1, s2;
	struct tool_call_ctx c;
	json_t *args;
	struct rds *r = test_redis_connect(5000);

	CHECK(r != NULL && search_def != NULL && remember_def != NULL);
	test_redis_flush();
	mem_cache_reset(MEM_CACHE_BYTES);
	CHECK_INT_EQ(
	    config_load(&cfg, CONFIG_WORKER, fake_env, (void *)test_redis_url(), &problems), 0);
	buf_release(&problems);
	CHECK_INT_EQ(
	    agents_parse(
		&agents,
		"{\"agents\":[{\"id\":\"support\",\"instructions\":\"x\",\"default\":true},"
		"{\"id\":\"sales\",\"instructions\":\"y\"}]}",
		"t", &e),
	    0);
	memset(&env, 0, sizeof(env));
	env.cfg = &cfg;
	env.agents = &agents;
	CHECK_INT_EQ(worker_ctx_init(&w, &env, 0, 5000, &e), 0);
	tool_trace_init(&trace);
	s1 = (struct tool_scope){"haink", "T", "C", "UA", "1.1", agents_find(&agents, "support")};
	s2 = (struct tool_scope){"haink", "T", "C", "UB", "1.1", agents_find(&agents, "support")};

	/* the model asks to remember for another user: stored for the task's user */
	c = (struct tool_call_ctx){&w, &s1, &trace};
	args = json_pack("{s:s, s:s, s:s}", "text", "UA prefers answers in French", "user", "UB",
			 "agent", "sales");
	CHECK_INT_EQ(remember_def->run(&c, args, &out, &e), 0);
	json_decref(args);
	CHECK_STR_CONTAINS(out.s, "\"ok\":true");
	CHECK_INT_EQ(count_keys(r, "memory:haink:support:T/UA:*"), 1);
	CHECK_INT_EQ(scope_keys(r, "haink", "*", "T/UB"), 0);
	CHECK_INT_EQ(count_keys(r, "memory:haink:sales:*"), 0);

	/* UB's search naming UA in the arguments never returns UA's memory */
	buf_reset(&out);
	c = (struct tool_call_ctx){&w, &s2, &trace};
	args = json_pack("{s:s, s:s, s:s}", "query", "French answers preference", "user", "UA",
			 "user_id", "UA");
	CHECK_INT_EQ(search_def->run(&c, args, &out, &e), 0);
	json_decref(args);
	CHECK_STR_EQ(out.s, "{\"memories\":[]}");

	/* same user, other agent: nothing */
	buf_reset(&out);
	s2 = (struct tool_scope){"haink", "T", "C", "UA", "1.1", agents_find(&agents, "sales")};
	args = json_pack("{s:s, s:s}", "query", "French", "agent", "support");
	CHECK_INT_EQ(search_def->run(&c, args, &out, &e), 0);
	json_decref(args);
	CHECK_STR_EQ(out.s, "{\"memories\":[]}");

	/* the owner finds it, and the trace records it */
	buf_reset(&out);
	c = (struct tool_call_ctx){&w, &s1, &trace};
	args = json_pack("{s:s}", "query", "which language do I prefer");
	CHECK_INT_EQ(search_def->run(&c, args, &out, &e), 0);
	json_decref(args);
	CHECK_STR_CONTAINS(out.s, "UA prefers answers in French");
	CHECK(trace.nmemories >= 1);

	/*
	 * The Dev UI (team "ui") naming the same user id sees none of the Slack
	 * user's memories, and what it remembers never reaches the Slack user.
	 */
	{
		struct tool_scope su = {"haink", "ui",	   "s-sess",
					"UA",	 "s-sess", agents_find(&agents, "support")};
		buf_reset(&out);
		c = (struct tool_call_ctx){&w, &su, &trace};
		args = json_pack("{s:s}", "query", "which language do I prefer");
		CHECK_INT_EQ(search_def->run(&c, args, &out, &e), 0);
		json_decref(args);
		CHECK_STR_EQ(out.s, "{\"memories\":[]}");
		buf_reset(&out);
		args = json_pack("{s:s}", "text", "UA from the ui likes German");
		CHECK_INT_EQ(remember_def->run(&c, args, &out, &e), 0);
		json_decref(args);
		CHECK_INT_EQ(count_keys(r, "memory:haink:support:ui/UA:*"), 1);
		/* the Slack user still sees only their own */
		buf_reset(&out);
		c = (struct tool_call_ctx){&w, &s1, &trace};
		args = json_pack("{s:s}", "query", "German French language");
		CHECK_INT_EQ(search_def->run(&c, args, &out, &e), 0);
		json_decref(args);
		CHECK_STR_CONTAINS(out.s, "French");
		CHECK(!strstr(out.s, "German"));
	}

	/* bad arguments are a clear error */
	args = json_pack("{s:i}", "query", 3);
	CHECK_INT_EQ(search_def->run(&c, args, &out, &e), -1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	json_decref(args);

	tool_trace_release(&trace);
	buf_release(&out);
	worker_ctx_release(&w);
	agents_release(&agents);
	config_release(&cfg);
	rds_free(r);
}
