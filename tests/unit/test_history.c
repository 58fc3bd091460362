/*
 * Unit tests of worker/memory/history.c without Redis: how a turn is built (tool
 * rounds kept whole or dropped whole, results cut), UTF-8 safe cutting and
 * the THREAD argument of `chat show|clear`.
 */
#include "common.h"
#include "memory/history.h"

#include <stdlib.h>

#include "../harness/test.h"

static json_t *call(const char *id, const char *name)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function", "function",
			 "name", name, "arguments", "{}");
}

static const char *role_at(json_t *a, size_t i)
{
	return json_string_value(json_object_get(json_array_get(a, i), "role"));
}

TEST(history, turn_keeps_complete_rounds_in_order)
{
	json_t *run = json_array(), *turn;

	json_array_append_new(run, json_pack("{s:s, s:n, s:[o,o]}", "role", "assistant", "content",
					     "tool_calls", call("c1", "search_knowledge_base"),
					     call("c2", "search_memory")));
	json_array_append_new(run, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
					     "c1", "content", "kb result"));
	json_array_append_new(run, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
					     "c2", "content", "mem result"));
	json_array_append_new(run,
			      json_pack("{s:s, s:s}", "role", "assistant", "content", "draft"));
	turn = history_turn("what is haink?", run, "Haink is a bot.", 1234);
	CHECK_INT_EQ(json_array_size(turn), 5);
	CHECK_STR_EQ(role_at(turn, 0), "user");
	CHECK_STR_EQ(role_at(turn, 1), "assistant");
	CHECK(json_array_size(json_object_get(json_array_get(turn, 1), "tool_calls")) == 2);
	CHECK_STR_EQ(role_at(turn, 2), "tool");
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(turn, 2), "tool_call_id")),
		     "c1");
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(turn, 2), "name")),
		     "search_knowledge_base");
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(turn, 3), "tool_call_id")),
		     "c2");
	CHECK_STR_EQ(role_at(turn, 4), "assistant");
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(turn, 4), "content")),
		     "Haink is a bot.");
	CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(turn, 0), "ts")), 1234);
	json_decref(turn);
	json_decref(run);
}

TEST(history, turn_drops_round_with_unanswered_call)
{
	json_t *run = json_array(), *turn;

	json_array_append_new(run, json_pack("{s:s, s:n, s:[o,o]}", "role", "assistant", "content",
					     "tool_calls", call("c1", "web_search"),
					     call("c2", "web_search")));
	json_array_append_new(run, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
					     "c1", "content", "only one answered"));
	json_array_append_new(run, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
					     "zz", "content", "orphan"));
	turn = history_turn("q", run, "a", 1);
	CHECK_INT_EQ(json_array_size(turn), 2);
	CHECK_STR_EQ(role_at(turn, 0), "user");
	CHECK_STR_EQ(role_at(turn, 1), "assistant");
	json_decref(turn);
	turn = history_turn("q", NULL, "a", 1);
	CHECK_INT_EQ(json_array_size(turn), 2);
	json_decref(turn);
	json_decref(run);
}

TEST(history, turn_cuts_big_tool_results)
{
	json_t *run = json_array(), *turn;
	char *big = xmalloc(10000);

	memset(big, 'x', 9999);
	big[9999] = '\0';
	json_array_append_new(run, json_pack("{s:s, s:n, s:[o]}", "role", "assistant", "content",
					     "tool_calls", call("c1", "web_search")));
	json_array_append_new(run, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
					     "c1", "content", big));
	turn = history_turn("q", run, "a", 1);
	CHECK_INT_EQ(json_array_size(turn), 4);
	CHECK_INT_EQ(strlen(json_string_value(json_object_get(json_array_get(turn, 2), "content"))),
		     HISTORY_TOOL_MAX);
	json_decref(turn);
	json_decref(run);
	free(big);
}

TEST(history, cut_utf8_never_splits_a_code_point)
{
	char *s = utf8_cut("caf\xc3\xa9", 4); /* é is 2 bytes at offsets 3-4 */

	CHECK_STR_EQ(s, "caf");
	free(s);
	s = utf8_cut("caf\xc3\xa9", 5);
	CHECK_STR_EQ(s, "caf\xc3\xa9");
	free(s);
	s = utf8_cut("\xe2\x82\xac\xe2\x82\xac", 4); /* two euro signs of 3 bytes */
	CHECK_STR_EQ(s, "\xe2\x82\xac");
	free(s);
}

TEST(history, thread_parse)
{
	char *t, *c, *ts;
	struct err e = {0};

	CHECK_INT_EQ(history_thread_parse("T1:C2:1700000000.000100", &t, &c, &ts, &e), 0);
	CHECK_STR_EQ(t, "T1");
	CHECK_STR_EQ(c, "C2");
	CHECK_STR_EQ(ts, "1700000000.000100");
	free(t), free(c), free(ts);
	CHECK_INT_EQ(history_thread_parse("T1:C2", &t, &c, &ts, &e), -1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	CHECK_STR_CONTAINS(e.msg, "<team>:<channel>:<thread_ts>");
	CHECK_INT_EQ(history_thread_parse("T1::1.2", &t, &c, &ts, &e), -1);
	CHECK_INT_EQ(history_thread_parse("T1:C2:1.2:x", &t, &c, &ts, &e), -1);
	CHECK_INT_EQ(history_thread_parse(":C2:1.2", &t, &c, &ts, &e), -1);
	CHECK(t == NULL && c == NULL && ts == NULL);
}
