/*
 * Integration tests of worker/memory/history.c on a real redis-server: the atomic
 * append/trim/expire script under concurrent writers (an observer checks
 * every snapshot: never over the limit, never starting on a tool result,
 * every tool_calls message followed by all its results, the newest element
 * always an answer), tool-call pairs at every possible trim point, the TTL,
 * and loading in Chat Completions form.
 */
#include "common.h"
#include "memory/history.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "../harness/test.h"

/* A turn with `rounds` tool rounds of `calls` calls each; ids carry tag. */
static json_t *make_turn(const char *tag, int rounds, int calls)
{
	json_t *run = json_array(), *turn;
	char q[64], a[64];

	for (int r = 0; r < rounds; r++) {
		json_t *tc = json_array();
		for (int c = 0; c < calls; c++) {
			char id[64];
			snprintf(id, sizeof(id), "%s-%d-%d", tag, r, c);
			json_array_append_new(tc, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id,
							    "type", "function", "function", "name",
							    "web_search", "arguments", "{}"));
		}
		json_array_append_new(run, json_pack("{s:s, s:n, s:o}", "role", "assistant",
						     "content", "tool_calls", tc));
		for (int c = 0; c < calls; c++) {
			char id[64];
			snprintf(id, sizeof(id), "%s-%d-%d", tag, r, c);
			json_array_append_new(run,
					      json_pack("{s:s, s:s, s:s}", "role", "tool",
							"tool_call_id", id, "content", "result"));
		}
	}
	snprintf(q, sizeof(q), "question %s", tag);
	snprintf(a, sizeof(a), "answer %s", tag);
	turn = history_turn(q, run, a, clock_wall_ms());
	json_decref(run);
	return turn;
}

/*
 * Checks one atomic snapshot of the list; returns NULL when valid, else a
 * static description of the violation.
 */
static const char *check_snapshot(redisReply *rep, int max)
{
	size_t i = 0, n = rep->elements;
	const char *bad = NULL;
	json_t **m;

	if (n > (size_t)max)
		return "over the limit";
	if (!n)
		return NULL;
	m = xcalloc(n, sizeof(*m));
	for (size_t k = 0; k < n; k++)
		m[k] = json_loads(rep->element[k]->str, 0, NULL);
	for (size_t k = 0; k < n && !bad; k++)
		if (!m[k])
			bad = "unparseable element";
	while (!bad && i < n) {
		const char *role = json_string_value(json_object_get(m[i], "role"));
		json_t *calls = json_object_get(m[i], "tool_calls");
		if (!strcmp(role, "tool")) {
			bad = i == 0 ? "starts with a tool result" : "tool result without its call";
			break;
		}
		if (calls) {
			for (size_t c = 0; c < json_array_size(calls); c++) {
				json_t *res = i + 1 + c < n ? m[i + 1 + c] : NULL;
				const char *want = json_string_value(
				    json_object_get(json_array_get(calls, c), "id"));
				const char *got =
				    json_string_value(json_object_get(res, "tool_call_id"));
				if (!got || strcmp(want, got))
					bad = "tool call split from its result";
			}
			i += 1 + json_array_size(calls);
			continue;
		}
		i++;
	}
	if (!bad) {
		const char *role = json_string_value(json_object_get(m[n - 1], "role"));
		const char *content = json_string_value(json_object_get(m[n - 1], "content"));
		if (strcmp(role, "assistant") || !content || strncmp(content, "answer ", 7))
			bad = "newest element is not an answer";
	}
	for (size_t k = 0; k < n; k++)
		json_decref(m[k]);
	free(m);
	return bad;
}

TEST(history, every_trim_point_keeps_pairs_and_newest)
{
	struct rds *r = test_redis_connect(5000);
	struct err e = {0};

	CHECK(r != NULL);
	test_redis_flush();
	for (int max = 2; max <= 12; max++) {
		char key[32];
		snprintf(key, sizeof(key), "chat:T:C:%d", max);
		for (int t = 0; t < 12; t++) {
			char tag[32];
			json_t *turn;
			redisReply *rep;
			const char *bad;
			long n;

			snprintf(tag, sizeof(tag), "m%d-t%d", max, t);
			turn = make_turn(tag, t % 3, 1 + t % 2);
			n = history_append(r, key, turn, max, 600, &e);
			json_decref(turn);
			CHECK(n >= 1 && n <= max);
			rep = rds_cmd(r, &e, "LRANGE %s 0 -1", key);
			CHECK(rep != NULL);
			CHECK_INT_EQ(rep->elements, n);
			bad = check_snapshot(rep, max);
			if (bad)
				test_fail(__FILE__, __LINE__, "max %d turn %d: %s", max, t, bad);
			CHECK(!bad);
			{
				json_t *last =
				    json_loads(rep->element[rep->elements - 1]->str, 0, NULL);
				char want[64];
				snprintf(want, sizeof(want), "answer %s", tag);
				CHECK_STR_EQ(json_string_value(json_object_get(last, "content")),
					     want);
				json_decref(last);
			}
			freeReplyObject(rep);
		}
	}
	rds_free(r);
}

struct writer {
	int no;
	int max;
	atomic_int *bad;
	atomic_int *done;
};

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	struct err e = {0};
	struct rds *r = rds_new(test_redis_url(), 500, 5000, &e);

	for (int t = 0; r && t < 60; t++) {
		char tag[32];
		json_t *turn;
		long n;

		snprintf(tag, sizeof(tag), "w%d-%d", wr->no, t);
		turn = make_turn(tag, (t + wr->no) % 3, 1 + (t % 3 == 0));
		n = history_append(r, "chat:T:C:shared", turn, wr->max, 600, &e);
		json_decref(turn);
		if (n < 1 || n > wr->max)
			atomic_fetch_add(wr->bad, 1);
	}
	if (!r)
		atomic_fetch_add(wr->bad, 1);
	rds_free(r);
	atomic_fetch_add(wr->done, 1);
	return NULL;
}

TEST(history, concurrent_appends_hold_the_invariants)
{
	enum { NW = 6, MAX = 9 };
	struct rds *r = test_redis_connect(5000);
	struct err e = {0};
	pthread_t th[NW];
	struct writer wr[NW];
	atomic_int bad = 0, done = 0;
	int snapshots = 0;
	const char *violation = NULL;

	CHECK(r != NULL);
	test_redis_flush();
	for (int i = 0; i < NW; i++) {
		wr[i] = (struct writer){i, MAX, &bad, &done};
		pthread_create(&th[i], NULL, writer_main, &wr[i]);
	}
	/* observe atomic snapshots while the writers run */
	while (atomic_load(&done) < NW || snapshots == 0) {
		redisReply *rep = rds_cmd(r, &e, "LRANGE chat:T:C:shared 0 -1");
		if (!rep)
			break;
		if (!violation)
			violation = check_snapshot(rep, MAX);
		freeReplyObject(rep);
		snapshots++;
	}
	for (int i = 0; i < NW; i++)
		pthread_join(th[i], NULL);
	if (violation)
		test_fail(__FILE__, __LINE__, "snapshot violation: %s", violation);
	CHECK(!violation);
	CHECK_INT_EQ(atomic_load(&bad), 0);
	{
		redisReply *rep = rds_cmd(r, &e, "LRANGE chat:T:C:shared 0 -1");
		CHECK(rep != NULL);
		CHECK(rep->elements >= 2 && rep->elements <= MAX);
		CHECK(check_snapshot(rep, MAX) == NULL);
		freeReplyObject(rep);
	}
	rds_free(r);
}

TEST(history, ttl_and_load_in_chat_format)
{
	struct rds *r = test_redis_connect(5000);
	struct err e = {0};
	json_t *out = json_array(), *turn;
	redisReply *rep;

	CHECK(r != NULL);
	test_redis_flush();
	turn = make_turn("a", 1, 2);
	CHECK_INT_EQ(history_append(r, "chat:T:C:1.1", turn, 50, 3600, &e), 5);
	json_decref(turn);
	turn = make_turn("b", 0, 0);
	CHECK_INT_EQ(history_append(r, "chat:T:C:1.1", turn, 50, 3600, &e), 7);
	json_decref(turn);
	rep = rds_cmd(r, &e, "TTL chat:T:C:1.1");
	CHECK(rep && rep->integer > 3500 && rep->integer <= 3600);
	freeReplyObject(rep);
	CHECK_INT_EQ(history_load(r, "chat:T:C:1.1", out, &e), 7);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(out, 0), "content")),
		     "question a");
	CHECK(json_object_get(json_array_get(out, 0), "ts") == NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(out, 2), "role")), "tool");
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(out, 6), "content")),
		     "answer b");
	json_decref(out);

	/* a foreign leading tool result and a broken round are dropped on load */
	out = json_array();
	rep = rds_cmd(r, &e, "LPUSH chat:T:C:2.2 %s %s", "{\"role\":\"user\",\"content\":\"hi\"}",
		      "{\"role\":\"tool\",\"tool_call_id\":\"x\",\"content\":\"orphan\"}");
	freeReplyObject(rep);
	CHECK_INT_EQ(history_load(r, "chat:T:C:2.2", out, &e), 1);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(out, 0), "role")), "user");
	json_decref(out);
	CHECK_INT_EQ(history_clear(r, "chat:T:C:1.1", &e), 1);
	CHECK_INT_EQ(history_clear(r, "chat:T:C:1.1", &e), 0);
	out = json_array();
	CHECK_INT_EQ(history_load(r, "chat:T:C:1.1", out, &e), 0);
	json_decref(out);
	rds_free(r);
}
