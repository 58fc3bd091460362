/* The Slack Web API client (worker/slack/slack_api.c) over a fake transport. */
#include "common.h"
#include "slack/reply.h"
#include "slack/slack_api.h"
#include "queue/worker_ctx.h"

#include <jansson.h>
#include <stdlib.h>

#include "fake_http.h"
#include "../harness/test.h"

static const char *const slack_vars[] = {"LLM_PROVIDER=offline", "SLACK_BOT_TOKEN=xoxb-unit",
					 "SLACK_API_URL=http://slack.test/api", NULL};

static const struct http_retry fast = {3, 1, 5, 0};

TEST(slack_api, post_message_in_thread)
{
	struct fake_env fe;
	struct err e = {0};
	char *ts = NULL;
	json_t *blocks = json_pack("[{s:s}]", "type", "divider"), *body;

	CHECK(fake_env_init(&fe, slack_vars, NULL) == 0);
	fake_http_push(&fe.http, 200, -1,
		       "{\"ok\":true,\"channel\":\"C1\",\"ts\":\"1700.000200\"}");
	CHECK_INT_EQ(slack_post_message(&fe.w, "C1", "1700.000100", "Thinking…", blocks, &ts, &e),
		     0);
	CHECK_STR_EQ(ts, "1700.000200");
	CHECK_STR_EQ(fe.http.url[0], "http://slack.test/api/chat.postMessage");
	CHECK_STR_CONTAINS(fe.http.headers[0], "Authorization: Bearer xoxb-unit");
	CHECK_STR_CONTAINS(fe.http.headers[0], "Content-Type: application/json; charset=utf-8");
	body = json_loads(fe.http.body[0], 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(body, "channel")), "C1");
	CHECK_STR_EQ(json_string_value(json_object_get(body, "thread_ts")), "1700.000100");
	CHECK_STR_EQ(json_string_value(json_object_get(body, "text")), "Thinking…");
	CHECK_INT_EQ(json_array_size(json_object_get(body, "blocks")), 1);
	json_decref(body);
	free(ts);
	/* top level: no thread_ts field at all */
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true,\"ts\":\"1700.000300\"}");
	CHECK_INT_EQ(slack_post_message(&fe.w, "C1", "", "x", NULL, &ts, &e), 0);
	body = json_loads(fe.http.body[1], 0, NULL);
	CHECK(json_object_get(body, "thread_ts") == NULL);
	CHECK(json_object_get(body, "blocks") == NULL);
	json_decref(body);
	free(ts);
	json_decref(blocks);
	fake_env_release(&fe);
}

TEST(slack_api, update_without_blocks_clears_them)
{
	struct fake_env fe;
	struct err e = {0};
	json_t *body;

	CHECK(fake_env_init(&fe, slack_vars, NULL) == 0);
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	CHECK_INT_EQ(slack_update(&fe.w, "C1", "1700.2", "Searching…", NULL, &e), 0);
	CHECK_STR_EQ(fe.http.url[0], "http://slack.test/api/chat.update");
	body = json_loads(fe.http.body[0], 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(body, "ts")), "1700.2");
	CHECK(json_is_array(json_object_get(body, "blocks")));
	CHECK_INT_EQ(json_array_size(json_object_get(body, "blocks")), 0);
	json_decref(body);
	fake_env_release(&fe);
}

static int call_with(struct fake_env *fe, const char *reply, struct err *e)
{
	json_t *b = json_pack("{s:s}", "channel", "C1");
	int rc;

	fake_http_push(&fe->http, 200, -1, reply);
	rc = slack_call(&fe->w, "chat.postMessage", b, &fast, NULL, e);
	json_decref(b);
	return rc;
}

TEST(slack_api, ok_false_codes_map_to_errors)
{
	struct fake_env fe;
	struct err e = {0};
	double n0 = metrics_value(NULL, M_SLACK_API_REQUESTS,
				  "method=\"chat.postMessage\",outcome=\"channel_not_found\"");

	CHECK(fake_env_init(&fe, slack_vars, NULL) == 0);
	CHECK_INT_EQ(call_with(&fe, "{\"ok\":false,\"error\":\"channel_not_found\"}", &e), -1);
	CHECK_INT_EQ(e.code, ERR_NOT_FOUND); /* the bot cannot reach the channel: /ask falls back */
	CHECK_STR_CONTAINS(e.msg, "channel_not_found");
	CHECK_NEAR(metrics_value(NULL, M_SLACK_API_REQUESTS,
				 "method=\"chat.postMessage\",outcome=\"channel_not_found\"") -
		       n0,
		   1, 0.01);
	CHECK_INT_EQ(call_with(&fe, "{\"ok\":false,\"error\":\"invalid_auth\"}", &e), -1);
	CHECK_INT_EQ(e.code, ERR_AUTH);
	CHECK_INT_EQ(call_with(&fe, "{\"ok\":false,\"error\":\"not_authed\"}", &e), -1);
	CHECK_INT_EQ(e.code, ERR_AUTH);
	CHECK_INT_EQ(call_with(&fe, "{\"ok\":false,\"error\":\"ratelimited\"}", &e), -1);
	CHECK_INT_EQ(e.code, ERR_RATE_LIMITED);
	CHECK(err_retryable(e.code));
	CHECK_INT_EQ(call_with(&fe, "{\"ok\":false,\"error\":\"internal_error\"}", &e), -1);
	CHECK(err_retryable(e.code));
	CHECK_INT_EQ(call_with(&fe, "<html>", &e), -1);
	CHECK_INT_EQ(e.code, ERR_PARSE);
	fake_env_release(&fe);
}

TEST(slack_api, http_429_waits_and_retries)
{
	struct fake_env fe;
	struct err e = {0};
	json_t *b = json_pack("{s:s}", "channel", "C1"), *reply = NULL;

	CHECK(fake_env_init(&fe, slack_vars, NULL) == 0);
	fake_http_push(&fe.http, 429, 1, "{\"ok\":false,\"error\":\"ratelimited\"}");
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true,\"ts\":\"9.9\"}");
	CHECK_INT_EQ(slack_call(&fe.w, "chat.postMessage", b, &fast, &reply, &e), 0);
	CHECK_INT_EQ(fe.http.nreq, 2);
	CHECK_STR_EQ(json_string_value(json_object_get(reply, "ts")), "9.9");
	json_decref(reply);
	/* 429 on every try: a retryable error with the wait Slack asked for */
	for (int i = 0; i < 3; i++)
		fake_http_push(&fe.http, 429, 7, "{\"ok\":false,\"error\":\"ratelimited\"}");
	CHECK_INT_EQ(slack_call(&fe.w, "chat.postMessage", b, &fast, NULL, &e), -1);
	CHECK_INT_EQ(e.code, ERR_RATE_LIMITED);
	CHECK_INT_EQ(e.retry_after_ms, 7000);
	json_decref(b);
	fake_env_release(&fe);
}

TEST(slack_api, auth_test_is_cached)
{
	struct fake_env fe;
	struct err e = {0};
	struct slack_identity id;

	slack_auth_forget();
	CHECK(fake_env_init(&fe, slack_vars, NULL) == 0);
	fake_http_push(&fe.http, 200, -1, "{\"ok\":false,\"error\":\"invalid_auth\"}");
	CHECK_INT_EQ(slack_auth_test(&fe.w, &id, &e), -1);
	CHECK_INT_EQ(e.code, ERR_AUTH);
	fake_http_push(&fe.http, 200, -1,
		       "{\"ok\":true,\"user_id\":\"UBOT\",\"team_id\":\"T1\",\"team\":\"Acme\","
		       "\"bot_id\":\"B1\"}");
	CHECK_INT_EQ(slack_auth_test(&fe.w, &id, &e), 0);
	CHECK_STR_EQ(id.user_id, "UBOT");
	CHECK_INT_EQ(slack_auth_test(&fe.w, &id, &e), 0);
	CHECK_STR_EQ(id.team, "Acme");
	CHECK_INT_EQ(fe.http.nreq, 2);
	CHECK_STR_EQ(fe.http.url[1], "http://slack.test/api/auth.test");
	slack_auth_forget();
	fake_env_release(&fe);
}

TEST(slack_api, partial_answers_are_throttled_and_stop_when_taken_over)
{
	static const char *const vars[] = {"LLM_PROVIDER=offline",
					   "SLACK_BOT_TOKEN=xoxb-unit",
					   "SLACK_API_URL=http://slack.test/api",
					   "SLACK_STREAM_INTERVAL_MS=60000",
					   "SLACK_STREAMING=edits",
					   NULL};
	struct fake_env fe;
	struct reply_sink s;
	struct task t;
	json_t *body;

	CHECK(fake_env_init(&fe, vars, NULL) == 0);
	task_init(&t);
	t.id = xstrdup("EvP1");
	t.source = xstrdup("slack");
	t.channel = xstrdup("C1");
	t.thread_ts = xstrdup("1700.000100");
	reply_sink_open(&s, &fe.w, &t);
	CHECK(!reply_streams(&s)); /* nothing to edit before the placeholder exists */
	reply_sink_set_placeholder(&s, "1700.000200");
	CHECK(reply_streams(&s));
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	reply_partial(&s, "Rotate **it**");
	CHECK_INT_EQ(fe.http.nreq, 1);
	CHECK_STR_EQ(fe.http.url[0], "http://slack.test/api/chat.update");
	body = json_loads(fe.http.body[0], 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(body, "ts")), "1700.000200");
	{
		char *blocks = json_dumps(json_object_get(body, "blocks"), 0);
		CHECK_STR_CONTAINS(blocks, "Rotate *it*");
		free(blocks);
	}
	CHECK(!strstr(fe.http.body[0], "feedback")); /* no feedback control before the end */
	json_decref(body);
	/* within the interval: no second edit */
	reply_partial(&s, "Rotate **it** now");
	CHECK_INT_EQ(fe.http.nreq, 1);
	/* taken over by another worker: no edit of any kind, however long since the last */
	s.partial_ms = 0;
	atomic_store(&fe.w.lease_lost, 1);
	CHECK(!reply_streams(&s));
	reply_partial(&s, "Rotate **it** now");
	reply_progress(&s, "Searching the knowledge base…");
	CHECK_INT_EQ(fe.http.nreq, 1);
	atomic_store(&fe.w.lease_lost, 0);
	/* a refused edit ends the partial edits for this answer */
	s.partial_ms = 0;
	fake_http_push(&fe.http, 200, -1, "{\"ok\":false,\"error\":\"ratelimited\"}");
	reply_partial(&s, "Rotate **it** now");
	CHECK_INT_EQ(fe.http.nreq, 2);
	CHECK(!reply_streams(&s));
	reply_sink_close(&s);
	task_release(&t);
	fake_env_release(&fe);
}

/* The markdown_text of request i (a chat.*Stream call), or "" */
static const char *req_markdown(struct fake_env *fe, int i, json_t **hold)
{
	*hold = json_loads(fe->http.body[i], 0, NULL);
	return json_string_value(json_object_get(*hold, "markdown_text"))
		   ? json_string_value(json_object_get(*hold, "markdown_text"))
		   : "";
}

TEST(slack_api, native_stream_types_deltas_then_becomes_the_answer)
{
	static const char *const vars[] = {"LLM_PROVIDER=offline", "SLACK_BOT_TOKEN=xoxb-unit",
					   "SLACK_API_URL=http://slack.test/api",
					   "SLACK_STREAM_INTERVAL_MS=60000", NULL};
	struct fake_env fe;
	struct reply_sink s;
	struct reply_answer a = {"ans1", "q", "Rotate it now, then check.", NULL, 0, NULL, 0};
	struct task t;
	struct err e = {0};
	json_t *j;

	CHECK(fake_env_init(&fe, vars, NULL) == 0);
	task_init(&t);
	t.source = xstrdup("slack");
	t.channel = xstrdup("C1");
	t.team = xstrdup("T1");
	t.user = xstrdup("U1");
	t.thread_ts = xstrdup("1700.000100");
	reply_sink_open(&s, &fe.w, &t);
	reply_sink_set_placeholder(&s, "1700.000200");
	/* the first text starts the stream in the thread, for the asker */
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true,\"ts\":\"1700.000300\"}");
	reply_partial(&s, "Rotate");
	CHECK_INT_EQ(fe.http.nreq, 1);
	CHECK_STR_EQ(fe.http.url[0], "http://slack.test/api/chat.startStream");
	CHECK_STR_EQ(req_markdown(&fe, 0, &j), "Rotate");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "thread_ts")), "1700.000100");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "recipient_user_id")), "U1");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "recipient_team_id")), "T1");
	json_decref(j);
	/* then only what is new, after the interval */
	reply_partial(&s, "Rotate it");
	CHECK_INT_EQ(fe.http.nreq, 1);
	s.partial_ms = 0;
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	reply_partial(&s, "Rotate it");
	CHECK_INT_EQ(fe.http.nreq, 2);
	CHECK_STR_EQ(fe.http.url[1], "http://slack.test/api/chat.appendStream");
	CHECK_STR_EQ(req_markdown(&fe, 1, &j), " it");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "ts")), "1700.000300");
	json_decref(j);
	/* a 429 skips a turn; the next append carries everything since */
	s.partial_ms = 0;
	fake_http_push(&fe.http, 429, 1, "{\"ok\":false,\"error\":\"ratelimited\"}");
	reply_partial(&s, "Rotate it now");
	CHECK(reply_streams(&s));
	s.partial_ms = 0;
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	reply_partial(&s, "Rotate it now, then");
	CHECK_INT_EQ(fe.http.nreq, 4);
	CHECK_STR_EQ(req_markdown(&fe, 3, &j), " now, then");
	json_decref(j);
	/* final: stop the stream, edit it into the answer, delete "Thinking…" */
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	CHECK_INT_EQ(s.ops->final(&s, &a, &e), 0);
	CHECK_INT_EQ(fe.http.nreq, 7);
	CHECK_STR_EQ(fe.http.url[4], "http://slack.test/api/chat.stopStream");
	CHECK_STR_EQ(req_markdown(&fe, 4, &j), " check."); /* the rest of the answer */
	json_decref(j);
	CHECK_STR_EQ(fe.http.url[5], "http://slack.test/api/chat.update");
	CHECK_STR_CONTAINS(fe.http.body[5], "\"ts\":\"1700.000300\"");
	CHECK_STR_CONTAINS(fe.http.body[5], "feedback");
	CHECK_STR_EQ(fe.http.url[6], "http://slack.test/api/chat.delete");
	CHECK_STR_CONTAINS(fe.http.body[6], "\"ts\":\"1700.000200\"");
	CHECK_STR_EQ(s.placeholder_ts, "1700.000300");
	reply_sink_close(&s);
	task_release(&t);
	fake_env_release(&fe);
}

TEST(slack_api, native_stream_refused_falls_back_to_edits_and_never_rewinds)
{
	static const char *const vars[] = {"LLM_PROVIDER=offline",
					   "SLACK_BOT_TOKEN=xoxb-unit",
					   "SLACK_API_URL=http://slack.test/api",
					   "SLACK_STREAM_INTERVAL_MS=60000",
					   "SLACK_STREAMING=on",
					   NULL};
	struct fake_env fe;
	struct reply_sink s;
	struct task t;

	CHECK(fake_env_init(&fe, vars, NULL) == 0);
	task_init(&t);
	t.source = xstrdup("slack");
	t.channel = xstrdup("D1");
	t.thread_ts = xstrdup("1700.000100");
	reply_sink_open(&s, &fe.w, &t);
	reply_sink_set_placeholder(&s, "1700.000200");
	/* on: a refused stream ends the partial answers (no edits) */
	fake_http_push(&fe.http, 200, -1, "{\"ok\":false,\"error\":\"unknown_method\"}");
	reply_partial(&s, "Rotate");
	CHECK_INT_EQ(fe.http.nreq, 1);
	CHECK(!reply_streams(&s));
	reply_sink_close(&s);
	/* a stream whose text started over (a tool round) shows nothing more */
	fe.cfg.slack_streaming = SLACK_STREAMING_AUTO;
	reply_sink_open(&s, &fe.w, &t);
	reply_sink_set_placeholder(&s, "1700.000200");
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true,\"ts\":\"1700.000300\"}");
	reply_partial(&s, "Let me look");
	CHECK_INT_EQ(fe.http.nreq, 2);
	s.partial_ms = 0;
	reply_partial(&s, "Rotate");
	CHECK_INT_EQ(fe.http.nreq, 2);
	CHECK(!reply_streams(&s));
	reply_sink_close(&s);
	/* auto: Slack refuses streams: this and every later answer use edits */
	reply_sink_open(&s, &fe.w, &t);
	reply_sink_set_placeholder(&s, "1700.000200");
	fake_http_push(&fe.http, 200, -1, "{\"ok\":false,\"error\":\"unknown_method\"}");
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	reply_partial(&s, "Rotate");
	CHECK_INT_EQ(fe.http.nreq, 4);
	CHECK_STR_EQ(fe.http.url[2], "http://slack.test/api/chat.startStream");
	CHECK_STR_EQ(fe.http.url[3], "http://slack.test/api/chat.update");
	reply_sink_close(&s);
	reply_sink_open(&s, &fe.w, &t);
	reply_sink_set_placeholder(&s, "1700.000200");
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	reply_partial(&s, "Rotate");
	CHECK_INT_EQ(fe.http.nreq, 5);
	CHECK_STR_EQ(fe.http.url[4], "http://slack.test/api/chat.update");
	reply_sink_close(&s);
	reply_slack_forget_refusal();
	task_release(&t);
	fake_env_release(&fe);
}

TEST(slack_api, native_stream_stops_without_its_tail_when_slack_refuses_it)
{
	static const char *const vars[] = {"LLM_PROVIDER=offline", "SLACK_BOT_TOKEN=xoxb-unit",
					   "SLACK_API_URL=http://slack.test/api",
					   "SLACK_STREAM_INTERVAL_MS=60000", NULL};
	struct fake_env fe;
	struct reply_sink s;
	struct reply_answer a = {"ans2", "q", "Rotate it now.", NULL, 0, NULL, 0};
	struct task t;
	struct err e = {0};

	CHECK(fake_env_init(&fe, vars, NULL) == 0);
	task_init(&t);
	t.source = xstrdup("slack");
	t.channel = xstrdup("D1");
	t.thread_ts = xstrdup("1700.000100");
	reply_sink_open(&s, &fe.w, &t);
	reply_sink_set_placeholder(&s, "1700.000200");
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true,\"ts\":\"1700.000300\"}");
	reply_partial(&s, "Rotate");
	CHECK_INT_EQ(fe.http.nreq, 1);
	/* the stop with the last text is refused; it stops without it, then the edit */
	fake_http_push(&fe.http, 200, -1, "{\"ok\":false,\"error\":\"msg_too_long\"}");
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	fake_http_push(&fe.http, 200, -1, "{\"ok\":true}");
	CHECK_INT_EQ(s.ops->final(&s, &a, &e), 0);
	CHECK_INT_EQ(fe.http.nreq, 5);
	CHECK_STR_CONTAINS(fe.http.body[1], "it now.");
	CHECK_STR_EQ(fe.http.url[2], "http://slack.test/api/chat.stopStream");
	CHECK(!strstr(fe.http.body[2], "markdown_text"));
	CHECK_STR_EQ(fe.http.url[3], "http://slack.test/api/chat.update");
	CHECK_STR_EQ(fe.http.url[4], "http://slack.test/api/chat.delete");
	reply_sink_close(&s);
	task_release(&t);
	fake_env_release(&fe);
}
