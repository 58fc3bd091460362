/*
 * Unit tests of api/slack_in.c on realistic Slack payloads, shaped after
 * Slack's documented Events API, block_actions and slash command examples.
 */
#include "common.h"
#include "slack_in.h"

#include <ctype.h>
#include <stdlib.h>

#include "../harness/test.h"

#define AUTHS                                                                                      \
	"\"authorizations\":[{\"enterprise_id\":null,\"team_id\":\"T0001\",\"user_id\":"           \
	"\"U0LAN0Z89\",\"is_bot\":true,\"is_enterprise_install\":false}]"

static int parse_event(const char *json, const struct agents *ag, struct slack_in *in,
		       struct err *e)
{
	slack_in_init(in);
	return slack_in_event(json, strlen(json), ag, in, e);
}

/* Wraps an event object in an event_callback envelope. */
static char *envelope(const char *event_id, const char *event)
{
	return xasprintf("{\"token\":\"XXYYZZ\",\"team_id\":\"T0001\",\"api_app_id\":\"A0001\","
			 "\"event\":%s,\"type\":\"event_callback\",\"event_id\":\"%s\","
			 "\"event_time\":1515449522,\"is_ext_shared_channel\":false,"
			 "\"event_context\":\"4-eyJldCI6ImFwcF9tZW50aW9uIn0\"," AUTHS "}",
			 event, event_id);
}

/* Parses an enveloped event and expects it ignored with reason. */
static void expect_ignored(const char *event, const char *reason, int line)
{
	char *body = envelope("Ev0IGNORED", event);
	struct slack_in in;
	struct err e = {0};
	int rc = parse_event(body, NULL, &in, &e);

	if (rc != 0)
		test_fail(__FILE__, line, "parse failed: %s", e.msg);
	else if (in.kind != SLACK_IN_IGNORE)
		test_fail(__FILE__, line, "kind %d, want IGNORE (%s)", in.kind, reason);
	else if (strcmp(in.reason, reason))
		test_fail(__FILE__, line, "reason \"%s\", want \"%s\"", in.reason, reason);
	slack_in_release(&in);
	free(body);
}

TEST(slack_in, app_mention_in_channel)
{
	char *body = envelope(
	    "Ev0LAN670R",
	    "{\"client_msg_id\":\"c0ffee00-1111-2222-3333-444455556666\",\"type\":\"app_mention\","
	    "\"text\":\"<@U0LAN0Z89> is it everything a river should be?\",\"user\":\"U061F7AUR\","
	    "\"ts\":\"1515449522.000016\",\"team\":\"T0001\",\"blocks\":[{\"type\":\"rich_text\","
	    "\"block_id\":\"x1\",\"elements\":[]}],\"channel\":\"C0LAE2Q4S\","
	    "\"event_ts\":\"1515449522.000016\"}");
	struct slack_in in;
	struct err e = {0};
	struct task *t = &in.task;

	CHECK_INT_EQ(parse_event(body, NULL, &in, &e), 0);
	free(body);
	CHECK_INT_EQ(in.kind, SLACK_IN_TASK);
	CHECK_INT_EQ(t->type, TASK_QUESTION);
	CHECK_STR_EQ(t->id, "Ev0LAN670R");
	CHECK_STR_EQ(t->team, "T0001");
	CHECK_STR_EQ(t->channel, "C0LAE2Q4S");
	CHECK_STR_EQ(t->user, "U061F7AUR");
	CHECK_STR_EQ(t->text, "is it everything a river should be?");
	CHECK_STR_EQ(t->ts, "1515449522.000016");
	CHECK_STR_EQ(t->thread_ts, "1515449522.000016");
	CHECK_STR_EQ(t->channel_type, "channel");
	CHECK_STR_EQ(t->agent, AGENTS_DEFAULT_ID);
	CHECK_STR_EQ(t->source, "slack");
	CHECK(t->answer_id == NULL && t->feedback == NULL);
	CHECK_INT_EQ(t->attempt, 1);
	slack_in_release(&in);
}

TEST(slack_in, app_mention_in_thread)
{
	char *body =
	    envelope("Ev0THREAD1",
		     "{\"type\":\"app_mention\",\"text\":\"  <@U0LAN0Z89>  and the follow-up?\\n\","
		     "\"user\":\"U061F7AUR\",\"ts\":\"1515449600.000200\",\"thread_ts\":"
		     "\"1515449522.000016\","
		     "\"parent_user_id\":\"U061F7AUR\",\"channel\":\"C0LAE2Q4S\","
		     "\"event_ts\":\"1515449600.000200\"}");
	struct slack_in in;
	struct err e = {0};

	CHECK_INT_EQ(parse_event(body, NULL, &in, &e), 0);
	free(body);
	CHECK_INT_EQ(in.kind, SLACK_IN_TASK);
	CHECK_STR_EQ(in.task.ts, "1515449600.000200");
	CHECK_STR_EQ(in.task.thread_ts, "1515449522.000016");
	CHECK_STR_EQ(in.task.text, "and the follow-up?");
	slack_in_release(&in);
}

TEST(slack_in, message_im)
{
	char *body = envelope(
	    "Ev0IM00001",
	    "{\"type\":\"message\",\"channel\":\"D024BE91L\",\"user\":\"U2147483697\","
	    "\"text\":\"Hello hello can you hear me? \\u00e9\\u2603\",\"ts\":\"1355517523.000005\","
	    "\"event_ts\":\"1355517523.000005\",\"channel_type\":\"im\"}");
	struct slack_in in;
	struct err e = {0};

	CHECK_INT_EQ(parse_event(body, NULL, &in, &e), 0);
	free(body);
	CHECK_INT_EQ(in.kind, SLACK_IN_TASK);
	CHECK_STR_EQ(in.task.id, "Ev0IM00001");
	CHECK_STR_EQ(in.task.channel, "D024BE91L");
	CHECK_STR_EQ(in.task.channel_type, "im");
	CHECK_STR_EQ(in.task.text, "Hello hello can you hear me? \xc3\xa9\xe2\x98\x83");
	CHECK_STR_EQ(in.task.thread_ts, "1355517523.000005");
	slack_in_release(&in);
}

TEST(slack_in, im_file_share_and_thread_broadcast_are_questions)
{
	char *body = envelope("Ev0FILE001",
			      "{\"type\":\"message\",\"subtype\":\"file_share\",\"channel\":\"D1\","
			      "\"user\":\"U2\",\"text\":\"what is in this file?\",\"ts\":\"1.2\","
			      "\"files\":[{\"id\":\"F1\"}],\"channel_type\":\"im\"}");
	struct slack_in in;
	struct err e = {0};

	CHECK_INT_EQ(parse_event(body, NULL, &in, &e), 0);
	free(body);
	CHECK_INT_EQ(in.kind, SLACK_IN_TASK);
	slack_in_release(&in);
}

TEST(slack_in, ignored_events)
{
	/* a bot's post: subtype bot_message */
	expect_ignored(
	    "{\"type\":\"message\",\"subtype\":\"bot_message\",\"ts\":\"1358877455.000010\","
	    "\"text\":\"Pushing is the answer\",\"bot_id\":\"BB12033\",\"username\":\"github\","
	    "\"icons\":{},\"channel\":\"D1\",\"channel_type\":\"im\"}",
	    "bot message", __LINE__);
	/* a bot user's message: bot_id without subtype */
	expect_ignored(
	    "{\"type\":\"message\",\"user\":\"U0BOTUSER\",\"bot_id\":\"B0123\","
	    "\"text\":\"I am a bot\",\"ts\":\"1.1\",\"channel\":\"D1\",\"channel_type\":\"im\"}",
	    "bot message", __LINE__);
	/* an app_mention posted by another bot */
	expect_ignored(
	    "{\"type\":\"app_mention\",\"user\":\"U0BOTUSER\",\"bot_id\":\"B0123\","
	    "\"bot_profile\":{\"id\":\"B0123\"},\"text\":\"<@U0LAN0Z89> hi\",\"ts\":\"1.1\","
	    "\"channel\":\"C1\"}",
	    "bot message", __LINE__);
	expect_ignored(
	    "{\"type\":\"message\",\"subtype\":\"message_changed\",\"hidden\":true,"
	    "\"channel\":\"D1\",\"ts\":\"1358878755.000001\",\"message\":{\"type\":\"message\","
	    "\"user\":\"U2\",\"text\":\"Hello, world!\",\"ts\":\"1358878749.000002\","
	    "\"edited\":{\"user\":\"U2\",\"ts\":\"1358878755.000001\"}},"
	    "\"previous_message\":{\"type\":\"message\",\"user\":\"U2\",\"text\":\"Hello\","
	    "\"ts\":\"1358878749.000002\"},\"channel_type\":\"im\"}",
	    "edited or deleted message", __LINE__);
	expect_ignored(
	    "{\"type\":\"message\",\"subtype\":\"message_deleted\",\"hidden\":true,"
	    "\"channel\":\"D1\",\"ts\":\"1358878755.000001\",\"deleted_ts\":\"1358878749.000002\","
	    "\"channel_type\":\"im\"}",
	    "edited or deleted message", __LINE__);
	/* our own message (authorizations[0].user_id), without a bot_id */
	expect_ignored("{\"type\":\"message\",\"user\":\"U0LAN0Z89\",\"text\":\"an answer\","
		       "\"ts\":\"1.1\",\"channel\":\"D1\",\"channel_type\":\"im\"}",
		       "own message", __LINE__);
	/* nothing left after the mention */
	expect_ignored("{\"type\":\"app_mention\",\"user\":\"U2\",\"text\":\"<@U0LAN0Z89>  \\n \","
		       "\"ts\":\"1.1\",\"channel\":\"C1\"}",
		       "empty text", __LINE__);
	expect_ignored("{\"type\":\"message\",\"user\":\"U2\",\"text\":\"\",\"ts\":\"1.1\","
		       "\"channel\":\"D1\",\"channel_type\":\"im\"}",
		       "empty text", __LINE__);
	/* channel chatter (message.channels) is not for us: only mentions are */
	expect_ignored(
	    "{\"type\":\"message\",\"user\":\"U2\",\"text\":\"hello all\",\"ts\":\"1.1\","
	    "\"channel\":\"C1\",\"channel_type\":\"channel\"}",
	    "message outside a direct message", __LINE__);
	expect_ignored("{\"type\":\"message\",\"subtype\":\"channel_join\",\"user\":\"U2\","
		       "\"text\":\"<@U2> has joined\",\"ts\":\"1.1\",\"channel\":\"D1\","
		       "\"channel_type\":\"im\"}",
		       "message subtype", __LINE__);
	expect_ignored("{\"type\":\"reaction_added\",\"user\":\"U2\",\"reaction\":\"thumbsup\","
		       "\"item\":{\"type\":\"message\",\"channel\":\"C1\",\"ts\":\"1.1\"}}",
		       "unsupported event type", __LINE__);
	expect_ignored(
	    "{\"type\":\"app_mention\",\"text\":\"<@U0LAN0Z89> who am I\",\"ts\":\"1.1\","
	    "\"channel\":\"C1\"}",
	    "event without user", __LINE__);
}

TEST(slack_in, url_verification)
{
	static const char body[] = "{\"token\":\"Jhj5dZrVaK7ZwHHjRyZWjbDl\",\"challenge\":"
				   "\"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P\","
				   "\"type\":\"url_verification\"}";
	struct slack_in in;
	struct err e = {0};

	CHECK_INT_EQ(parse_event(body, NULL, &in, &e), 0);
	CHECK_INT_EQ(in.kind, SLACK_IN_CHALLENGE);
	CHECK_STR_EQ(in.challenge, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
	slack_in_release(&in);
	CHECK_INT_EQ(parse_event("{\"type\":\"url_verification\"}", NULL, &in, &e), -1);
	CHECK_STR_CONTAINS(e.msg, "challenge");
	slack_in_release(&in);
}

TEST(slack_in, app_rate_limited)
{
	static const char body[] =
	    "{\"token\":\"Jhj5dZrVaK7ZwHHjRyZWjbDl\",\"type\":\"app_rate_limited\","
	    "\"team_id\":\"T123456\",\"minute_rate_limited\":1518467820,"
	    "\"api_app_id\":\"A123456\"}";
	struct slack_in in;
	struct err e = {0};

	CHECK_INT_EQ(parse_event(body, NULL, &in, &e), 0);
	CHECK_INT_EQ(in.kind, SLACK_IN_IGNORE);
	CHECK_STR_EQ(in.reason, "app_rate_limited");
	slack_in_release(&in);
}

TEST(slack_in, malformed_events)
{
	struct slack_in in;
	struct err e = {0};

	CHECK_INT_EQ(parse_event("{\"type\": \"event_callback\", ", NULL, &in, &e), -1);
	CHECK_INT_EQ(e.code, ERR_PARSE);
	CHECK_STR_CONTAINS(e.msg, "not valid JSON");
	CHECK(!strchr(e.msg, '\n'));
	slack_in_release(&in);
	CHECK_INT_EQ(parse_event("[1,2]", NULL, &in, &e), -1);
	CHECK_STR_CONTAINS(e.msg, "not a JSON object");
	slack_in_release(&in);
	CHECK_INT_EQ(parse_event("", NULL, &in, &e), -1);
	slack_in_release(&in);
	CHECK_INT_EQ(parse_event("{\"event\":{}}", NULL, &in, &e), -1);
	CHECK_STR_CONTAINS(e.msg, "\"type\"");
	slack_in_release(&in);
	CHECK_INT_EQ(
	    parse_event("{\"type\":\"event_callback\",\"event\":{\"type\":\"app_mention\"}}", NULL,
			&in, &e),
	    -1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	CHECK_STR_CONTAINS(e.msg, "event_id");
	slack_in_release(&in);
	CHECK_INT_EQ(parse_event("{\"type\":\"event_callback\",\"event_id\":\"Ev1\",\"event\":"
				 "{\"type\":\"app_mention\",\"user\":\"U1\",\"text\":\"hi\"}}",
				 NULL, &in, &e),
		     -1);
	CHECK_STR_CONTAINS(e.msg, "channel or ts");
	slack_in_release(&in);
	/* a NUL inside the body is not valid JSON either */
	CHECK_INT_EQ(slack_in_event("{\"type\":\"x\"}\0junk", 17, NULL, &in, &e), -1);
	slack_in_release(&in);
	/* unknown callback types are acknowledged, not errors */
	CHECK_INT_EQ(parse_event("{\"type\":\"block_suggestion\"}", NULL, &in, &e), 0);
	CHECK_INT_EQ(in.kind, SLACK_IN_IGNORE);
	slack_in_release(&in);
}

TEST(slack_in, routing_by_channel)
{
	struct agents ag;
	struct err e = {0};
	struct slack_in in;
	char *body;

	CHECK_INT_EQ(
	    agents_parse(
		&ag,
		"{\"agents\":[{\"id\":\"general\",\"instructions\":\"x\"},"
		"{\"id\":\"support\",\"instructions\":\"y\",\"channels\":[\"C0SUPPORT\"]}]}",
		"test", &e),
	    0);
	body = envelope("Ev0ROUTE01",
			"{\"type\":\"app_mention\",\"user\":\"U2\",\"text\":\"<@U0LAN0Z89> "
			"help\",\"ts\":\"1.1\",\"channel\":\"C0SUPPORT\"}");
	CHECK_INT_EQ(parse_event(body, &ag, &in, &e), 0);
	free(body);
	CHECK_STR_EQ(in.task.agent, "support");
	slack_in_release(&in);
	body = envelope("Ev0ROUTE02",
			"{\"type\":\"app_mention\",\"user\":\"U2\",\"text\":\"<@U0LAN0Z89> "
			"help\",\"ts\":\"1.1\",\"channel\":\"C0RANDOM\"}");
	CHECK_INT_EQ(parse_event(body, &ag, &in, &e), 0);
	free(body);
	CHECK_STR_EQ(in.task.agent, "general");
	slack_in_release(&in);
	agents_release(&ag);
}

/* Form-encodes s as Slack does for payload= (application/x-www-form-urlencoded). */
static char *form_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b = BUF_INIT;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			buf_addch(&b, (char)*p);
		} else if (*p == ' ') {
			buf_addch(&b, '+');
		} else {
			buf_addch(&b, '%');
			buf_addch(&b, hex[*p >> 4]);
			buf_addch(&b, hex[*p & 15]);
		}
	}
	return buf_detach(&b, NULL);
}

static char *block_actions(const char *action_id, const char *value)
{
	char *json = xasprintf(
	    "{\"type\":\"block_actions\",\"user\":{\"id\":\"U0CA5\",\"username\":\"Amy McGee\","
	    "\"name\":\"Amy McGee\",\"team_id\":\"T3MDE\"},\"api_app_id\":\"A0CA5\","
	    "\"token\":\"Shh_its_a_seekrit\",\"container\":{\"type\":\"message\","
	    "\"message_ts\":\"1700000100.000200\",\"channel_id\":\"C0CA5\",\"is_ephemeral\":false},"
	    "\"trigger_id\":\"12466734323.1395872398\",\"team\":{\"id\":\"T0CAG\","
	    "\"domain\":\"acme-creamery\"},\"enterprise\":null,\"is_enterprise_install\":false,"
	    "\"channel\":{\"id\":\"C0CA5\",\"name\":\"support\"},\"message\":{\"type\":\"message\","
	    "\"user\":\"U0LAN0Z89\",\"ts\":\"1700000100.000200\",\"thread_ts\":\"1700000000."
	    "000100\","
	    "\"text\":\"Here is the answer & more\"},\"state\":{\"values\":{}},"
	    "\"response_url\":\"https://hooks.slack.com/actions/T0CAG/123/abc\","
	    "\"actions\":[{\"action_id\":\"%s\",\"block_id\":\"feedback\",\"text\":{\"type\":"
	    "\"plain_text\",\"text\":\"Helpful\",\"emoji\":true},\"value\":\"%s\",\"type\":"
	    "\"button\","
	    "\"action_ts\":\"1548426417.840180\"}]}",
	    action_id, value);
	char *enc = form_encode(json);
	char *body = xasprintf("payload=%s", enc);

	free(json);
	free(enc);
	return body;
}

static int parse_interactive(const char *body, struct slack_in *in, struct err *e)
{
	slack_in_init(in);
	return slack_in_interactive(body, strlen(body), NULL, in, e);
}

TEST(slack_in, feedback_buttons)
{
	static const char *const ids[] = {"feedback_helpful", "feedback_not_helpful"};
	static const char *const want[] = {"helpful", "not_helpful"};

	for (int i = 0; i < 2; i++) {
		char *body = block_actions(ids[i], "ans-7f3a");
		struct slack_in in;
		struct err e = {0};
		struct task *t = &in.task;
		int rc = parse_interactive(body, &in, &e);

		free(body);
		if (rc) {
			test_fail(__FILE__, __LINE__, "%s: %s", ids[i], e.msg);
			slack_in_release(&in);
			return;
		}
		CHECK_INT_EQ(in.kind, SLACK_IN_TASK);
		CHECK_INT_EQ(t->type, TASK_FEEDBACK);
		CHECK_STR_EQ(t->id, "fb:1548426417.840180");
		CHECK_STR_EQ(t->answer_id, "ans-7f3a");
		CHECK_STR_EQ(t->feedback, want[i]);
		CHECK_STR_EQ(t->team, "T0CAG");
		CHECK_STR_EQ(t->channel, "C0CA5");
		CHECK_STR_EQ(t->user, "U0CA5");
		CHECK_STR_EQ(t->ts, "1700000100.000200");
		CHECK_STR_EQ(t->thread_ts, "1700000000.000100");
		CHECK_STR_EQ(t->source, "slack");
		CHECK_STR_EQ(t->agent, AGENTS_DEFAULT_ID);
		slack_in_release(&in);
	}
}

TEST(slack_in, interactive_ignored_and_errors)
{
	struct slack_in in;
	struct err e = {0};
	char *body = block_actions("approve_request", "x");
	char *enc, *b2;

	CHECK_INT_EQ(parse_interactive(body, &in, &e), 0);
	free(body);
	CHECK_INT_EQ(in.kind, SLACK_IN_IGNORE);
	CHECK_STR_EQ(in.reason, "unknown action");
	slack_in_release(&in);

	enc = form_encode("{\"type\":\"view_submission\",\"team\":{\"id\":\"T1\"},\"view\":{}}");
	b2 = xasprintf("payload=%s", enc);
	CHECK_INT_EQ(parse_interactive(b2, &in, &e), 0);
	free(enc);
	free(b2);
	CHECK_INT_EQ(in.kind, SLACK_IN_IGNORE);
	slack_in_release(&in);

	/* a feedback button without its value is malformed */
	body = block_actions("feedback_helpful", "");
	CHECK_INT_EQ(parse_interactive(body, &in, &e), -1);
	free(body);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	slack_in_release(&in);

	CHECK_INT_EQ(parse_interactive("token=x&type=block_actions", &in, &e), -1);
	CHECK_STR_CONTAINS(e.msg, "no payload");
	slack_in_release(&in);
	CHECK_INT_EQ(parse_interactive("payload=%7B%zz", &in, &e), -1);
	CHECK_STR_CONTAINS(e.msg, "%-escape");
	slack_in_release(&in);
	CHECK_INT_EQ(parse_interactive("payload=%7B%22type%22", &in, &e), -1);
	CHECK_INT_EQ(e.code, ERR_PARSE);
	CHECK_STR_CONTAINS(e.msg, "not valid JSON");
	slack_in_release(&in);
}

static int parse_command(const char *body, struct slack_in *in, struct err *e)
{
	slack_in_init(in);
	return slack_in_command(body, strlen(body), NULL, in, e);
}

TEST(slack_in, ask_slash_command)
{
	static const char body[] =
	    "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example&enterprise_id=E0001"
	    "&enterprise_name=Globular%20Construct%20Inc&channel_id=C2147483705&channel_name=test"
	    "&user_id=U2147483697&user_name=Steve&command=%2Fask&text=how+do+I+deploy%3F+%C3%A9"
	    "&api_app_id=A123456&is_enterprise_install=false"
	    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1234%2F5678"
	    "&trigger_id=13345224609.738474920.8088930838d88f008e0";
	struct slack_in in;
	struct err e = {0};
	struct task *t = &in.task;

	CHECK_INT_EQ(parse_command(body, &in, &e), 0);
	CHECK_INT_EQ(in.kind, SLACK_IN_TASK);
	CHECK_INT_EQ(t->type, TASK_QUESTION);
	CHECK_STR_EQ(t->id, "cmd:13345224609.738474920.8088930838d88f008e0");
	CHECK_STR_EQ(t->text, "how do I deploy? \xc3\xa9");
	CHECK_STR_EQ(t->team, "T0001");
	CHECK_STR_EQ(t->channel, "C2147483705");
	CHECK_STR_EQ(t->user, "U2147483697");
	CHECK_STR_EQ(t->channel_type, "channel");
	CHECK_STR_EQ(t->source, "slack");
	CHECK_STR_EQ(t->agent, AGENTS_DEFAULT_ID);
	slack_in_release(&in);
	/* from a DM */
	CHECK_INT_EQ(parse_command("command=/ask&text=hi&channel_id=D1&user_id=U1&trigger_id=t.1"
				   "&channel_name=directmessage",
				   &in, &e),
		     0);
	CHECK_STR_EQ(in.task.channel_type, "im");
	CHECK_STR_EQ(in.task.id, "cmd:t.1");
	CHECK_STR_EQ(in.task.team, "");
	slack_in_release(&in);
}

TEST(slack_in, slash_command_ignored_and_errors)
{
	struct slack_in in;
	struct err e = {0};
	/* the body of Slack's signing example: another command */
	static const char doc_body[] =
	    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
	    "channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
	    "command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
	    "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id="
	    "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

	CHECK_INT_EQ(parse_command(doc_body, &in, &e), 0);
	CHECK_INT_EQ(in.kind, SLACK_IN_IGNORE);
	CHECK_STR_EQ(in.reason, "unknown command");
	slack_in_release(&in);
	CHECK_INT_EQ(
	    parse_command("command=%2Fask&text=+++&channel_id=C1&user_id=U1&trigger_id=1.2", &in,
			  &e),
	    0);
	CHECK_INT_EQ(in.kind, SLACK_IN_IGNORE);
	CHECK_STR_EQ(in.reason, "empty text");
	slack_in_release(&in);
	CHECK_INT_EQ(
	    parse_command("command=%2Fask&channel_id=C1&user_id=U1&trigger_id=1.2", &in, &e), 0);
	CHECK_INT_EQ(in.kind, SLACK_IN_IGNORE);
	CHECK_STR_EQ(in.reason, "empty text");
	slack_in_release(&in);
	CHECK_INT_EQ(parse_command("command=%2Fask&text=hi&channel_id=C1&user_id=U1", &in, &e), -1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	CHECK_STR_CONTAINS(e.msg, "trigger_id");
	slack_in_release(&in);
	CHECK_INT_EQ(
	    parse_command("command=%2Fask&text=%G1&channel_id=C1&user_id=U1&trigger_id=1", &in, &e),
	    -1);
	CHECK_INT_EQ(e.code, ERR_PARSE);
	slack_in_release(&in);
}

TEST(slack_in, assistant_thread_events_become_assistant_tasks)
{
	static const char *const types[] = {"assistant_thread_started",
					    "assistant_thread_context_changed"};
	static const char *const events[] = {"thread_started", "context_changed"};

	for (int i = 0; i < 2; i++) {
		char *ev =
		    xasprintf("{\"type\":\"%s\",\"assistant_thread\":{\"user_id\":\"U123\","
			      "\"context\":{\"channel_id\":\"C777\",\"team_id\":\"T0001\","
			      "\"enterprise_id\":null},\"channel_id\":\"D123\",\"thread_ts\":"
			      "\"1729999327.187299\"},\"event_ts\":\"1715873754.429808\"}",
			      types[i]);
		char *body = envelope("EvAT1", ev);
		struct slack_in in;
		struct err e = {0};

		CHECK_INT_EQ(parse_event(body, NULL, &in, &e), 0);
		CHECK_INT_EQ(in.kind, SLACK_IN_TASK);
		CHECK_INT_EQ(in.task.type, TASK_ASSISTANT);
		CHECK_STR_EQ(in.task.id, "EvAT1");
		CHECK_STR_EQ(in.task.event, events[i]);
		CHECK_STR_EQ(in.task.channel, "D123");
		CHECK_STR_EQ(in.task.thread_ts, "1729999327.187299");
		CHECK_STR_EQ(in.task.user, "U123");
		CHECK_STR_EQ(in.task.team, "T0001");
		CHECK_STR_EQ(in.task.context_channel, "C777");
		slack_in_release(&in);
		free(body);
		free(ev);
	}
	/* without a context the task still names the thread; without a thread it is an error */
	{
		char *body = envelope(
		    "EvAT2", "{\"type\":\"assistant_thread_started\",\"assistant_thread\":"
			     "{\"user_id\":\"U1\",\"channel_id\":\"D1\",\"thread_ts\":\"1.2\"}}");
		struct slack_in in;
		struct err e = {0};

		CHECK_INT_EQ(parse_event(body, NULL, &in, &e), 0);
		CHECK_STR_EQ(in.task.context_channel, "");
		slack_in_release(&in);
		free(body);
		body =
		    envelope("EvAT3", "{\"type\":\"assistant_thread_started\",\"assistant_thread\":"
				      "{\"user_id\":\"U1\",\"channel_id\":\"D1\"}}");
		CHECK_INT_EQ(parse_event(body, NULL, &in, &e), -1);
		CHECK_INT_EQ(e.code, ERR_INVALID);
		CHECK_STR_CONTAINS(e.msg, "thread_ts");
		slack_in_release(&in);
		free(body);
	}
}

TEST(slack_in, native_feedback_buttons)
{
	static const char *const values[] = {"helpful:ans-7f3a", "not_helpful:ans-7f3a"};
	static const char *const want[] = {"helpful", "not_helpful"};
	static const char *const bad[] = {"ans-7f3a", "helpful:", "maybe:ans-7f3a"};

	for (int i = 0; i < 2; i++) {
		char *body = block_actions("feedback", values[i]);
		struct slack_in in;
		struct err e = {0};

		CHECK_INT_EQ(parse_interactive(body, &in, &e), 0);
		CHECK_INT_EQ(in.kind, SLACK_IN_TASK);
		CHECK_INT_EQ(in.task.type, TASK_FEEDBACK);
		CHECK_STR_EQ(in.task.answer_id, "ans-7f3a");
		CHECK_STR_EQ(in.task.feedback, want[i]);
		CHECK_STR_EQ(in.task.id, "fb:1548426417.840180");
		slack_in_release(&in);
		free(body);
	}
	for (int i = 0; i < 3; i++) {
		char *body = block_actions("feedback", bad[i]);
		struct slack_in in;
		struct err e = {0};

		CHECK_INT_EQ(parse_interactive(body, &in, &e), -1);
		CHECK_INT_EQ(e.code, ERR_INVALID);
		slack_in_release(&in);
		free(body);
	}
}
