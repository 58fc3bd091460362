/*
 * Unit tests of api/socket_mode.c's pure parts: the reconnect backoff and the
 * translation of envelope payloads into the bodies the HTTP routes parse.
 */
#include <stdlib.h>

#include "common.h"
#include "slack_in.h"
#include "socket_mode.h"

#include "../harness/test.h"

TEST(socket_mode, backoff_is_full_jitter_under_a_doubling_cap)
{
	CHECK_INT_EQ(socket_mode_backoff_ms(0, 500, 30000, 12345), 0);
	/* the ceiling doubles per attempt: rnd = ceiling gives the ceiling itself */
	CHECK_INT_EQ(socket_mode_backoff_ms(1, 500, 30000, 500), 500);
	CHECK_INT_EQ(socket_mode_backoff_ms(2, 500, 30000, 1000), 1000);
	CHECK_INT_EQ(socket_mode_backoff_ms(3, 500, 30000, 2000), 2000);
	CHECK_INT_EQ(socket_mode_backoff_ms(1, 500, 30000, 501), 0); /* modulo ceiling+1 */
	/* capped, also for attempts far past the cap (no overflow) */
	CHECK_INT_EQ(socket_mode_backoff_ms(7, 500, 30000, 30000), 30000);
	CHECK_INT_EQ(socket_mode_backoff_ms(1000, 500, 30000, 30000), 30000);
	CHECK(socket_mode_backoff_ms(1000, 500, 30000, 0xffffffffu) <= 30000);
	CHECK_INT_EQ(socket_mode_backoff_ms(1, 500, 30000, 0), 0);
}

TEST(socket_mode, payloads_become_http_bodies_parsed_the_same_way)
{
	struct agents agents;
	struct slack_in in;
	struct err e = {0};
	struct buf b = BUF_INIT;

	CHECK_INT_EQ(agents_load(&agents, NULL, &e), 0);
	/* slash command: JSON fields -> a form body slack_in_command() takes */
	CHECK_INT_EQ(socket_mode_body("slash_commands",
				      "{\"command\":\"/ask\",\"text\":\"a & b = c?\",\"team_id\":"
				      "\"T1\",\"channel_id\":\"C1\",\"user_id\":\"U1\","
				      "\"trigger_id\":\"9.9\",\"is_enterprise_install\":false}",
				      &b),
		     0);
	CHECK(strstr(b.s, "is_enterprise_install") == NULL); /* strings only */
	slack_in_init(&in);
	CHECK_INT_EQ(slack_in_command(b.s, b.len, &agents, &in, &e), 0);
	CHECK_INT_EQ(in.kind, SLACK_IN_TASK);
	CHECK_STR_EQ(in.task.id, "cmd:9.9");
	CHECK_STR_EQ(in.task.text, "a & b = c?");
	slack_in_release(&in);

	/* interactive: payload=<encoded JSON> */
	buf_reset(&b);
	CHECK_INT_EQ(socket_mode_body("interactive",
				      "{\"type\":\"block_actions\",\"user\":{\"id\":\"U1\"},"
				      "\"team\":{\"id\":\"T1\"},\"channel\":{\"id\":\"C1\"},"
				      "\"message\":{\"ts\":\"1.2\",\"thread_ts\":\"1.1\"},"
				      "\"actions\":[{\"action_id\":\"feedback_not_helpful\","
				      "\"value\":\"a1\",\"action_ts\":\"5.5\"}]}",
				      &b),
		     0);
	slack_in_init(&in);
	CHECK_INT_EQ(slack_in_interactive(b.s, b.len, &agents, &in, &e), 0);
	CHECK_INT_EQ(in.kind, SLACK_IN_TASK);
	CHECK_STR_EQ(in.task.id, "fb:5.5");
	slack_in_release(&in);

	/* events_api: the event_callback itself */
	buf_reset(&b);
	CHECK_INT_EQ(socket_mode_body("events_api", "{\"type\":\"event_callback\"}", &b), 0);
	CHECK_STR_EQ(b.s, "{\"type\":\"event_callback\"}");
	buf_reset(&b);
	CHECK_INT_EQ(socket_mode_body("hello", "{}", &b), -1);
	CHECK_INT_EQ(socket_mode_body("slash_commands", "[1]", &b), -1);
	buf_release(&b);
	agents_release(&agents);
}
