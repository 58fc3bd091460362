/*
 * Unit tests of common/agents.c: the built-in default, a valid file with
 * routing, and one error per malformed field, each naming the field.
 */
#include "common.h"

#include <stdlib.h>
#include <unistd.h>

#include "../harness/test.h"

static const char valid_json[] =
    "{\"agents\": ["
    " {\"id\": \"support\", \"name\": \"Support\", \"instructions\": \"Help customers.\","
    "  \"tools\": [\"search_knowledge_base\", \"remember\"], \"model\": \"gpt-4o\","
    "  \"channels\": [\"C0SUPPORT\", \"C0HELP\"]},"
    " {\"id\": \"eng-bot_2\", \"instructions\": \"Help engineers.\", \"default\": true,"
    "  \"channels\": [\"C0ENG\"]},"
    " {\"id\": \"quiet\", \"instructions\": \"No tools.\", \"tools\": []}"
    "]}";

TEST(agents, builtin_default)
{
	struct agents a;
	struct err e = {0};
	const struct agent *ag;

	CHECK_INT_EQ(agents_load(&a, NULL, &e), 0);
	CHECK_INT_EQ(a.n, 1);
	ag = agents_route(&a, "C123");
	CHECK(ag != NULL);
	CHECK_STR_EQ(ag->id, AGENTS_DEFAULT_ID);
	CHECK(ag->model == NULL);
	CHECK(ag->instructions && strlen(ag->instructions) > 20);
	for (int i = 0; agents_known_tools[i]; i++)
		CHECK(agent_has_tool(ag, agents_known_tools[i]));
	CHECK(agents_route(&a, NULL) == ag);
	agents_release(&a);
	CHECK_INT_EQ(agents_load(&a, "", &e), 0);
	CHECK_INT_EQ(a.n, 1);
	agents_release(&a);
}

TEST(agents, valid_file_and_routing)
{
	struct agents a;
	struct err e = {0};
	const struct agent *s, *g, *q;

	if (agents_parse(&a, valid_json, "agents.json", &e) != 0) {
		test_fail(__FILE__, __LINE__, "valid file rejected: %s", e.msg);
		agents_release(&a);
		return;
	}
	CHECK_INT_EQ(a.n, 3);
	s = agents_find(&a, "support");
	g = agents_find(&a, "eng-bot_2");
	q = agents_find(&a, "quiet");
	CHECK(s && g && q);
	CHECK(agents_find(&a, "nobody") == NULL);
	CHECK(agents_find(&a, NULL) == NULL);
	CHECK_STR_EQ(s->name, "Support");
	CHECK_STR_EQ(g->name, "eng-bot_2"); /* name defaults to the id */
	CHECK_STR_EQ(s->model, "gpt-4o");
	CHECK(g->model == NULL);
	CHECK_INT_EQ(s->ntools, 2);
	CHECK(agent_has_tool(s, "remember"));
	CHECK(!agent_has_tool(s, "web_search"));
	CHECK(agent_has_tool(g, "web_search")); /* no "tools": every tool */
	CHECK_INT_EQ(q->ntools, 0);
	CHECK(!agent_has_tool(q, "search_knowledge_base"));
	CHECK(agents_route(&a, "C0SUPPORT") == s);
	CHECK(agents_route(&a, "C0HELP") == s);
	CHECK(agents_route(&a, "C0ENG") == g);
	CHECK(agents_route(&a, "C0OTHER") == g); /* the default */
	CHECK(agents_route(&a, NULL) == g);
	agents_release(&a);
	CHECK_INT_EQ(a.n, 0);
}

TEST(agents, first_agent_is_default_unless_marked)
{
	struct agents a;
	struct err e = {0};

	CHECK_INT_EQ(agents_parse(&a,
				  "[{\"id\":\"a\",\"instructions\":\"x\"},"
				  "{\"id\":\"b\",\"instructions\":\"y\"}]",
				  "bare.json", &e),
		     0);
	CHECK_STR_EQ(agents_route(&a, "C1")->id, "a");
	agents_release(&a);
}

struct bad_agents {
	const char *json;
	const char *msg;
};

static const struct bad_agents bad[] = {
    {"{\"agents\": [", "agents file 'f.json': line 1:"},
    {"{}", "agents file 'f.json': agents: must be a non-empty array"},
    {"{\"agents\": []}", "agents: must be a non-empty array"},
    {"{\"agents\": [42]}", "agents[0]: must be an object"},
    {"{\"agents\": [{\"instructions\": \"x\"}]}", "agents[0].id: missing"},
    {"{\"agents\": [{\"id\": 7, \"instructions\": \"x\"}]}",
     "agents[0].id: must be a non-empty string"},
    {"{\"agents\": [{\"id\": \"Bad Id\", \"instructions\": \"x\"}]}",
     "agents[0].id: 'Bad Id' must be"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\"}, {\"id\": \"a\", \"instructions\": "
     "\"y\"}]}",
     "agents[1].id: duplicate 'a'"},
    {"{\"agents\": [{\"id\": \"a\"}]}", "agents[0].instructions: missing"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"\"}]}",
     "agents[0].instructions: must be a non-empty string"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"model\": 4}]}",
     "agents[0].model: must be"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"tools\": \"web_search\"}]}",
     "agents[0].tools: must be an array of strings"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"tools\": [\"web_search\", 1]}]}",
     "agents[0].tools[1]: must be a non-empty string"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"tools\": [\"rm_rf\"]}]}",
     "agents[0].tools[0]: unknown tool 'rm_rf'"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"channels\": [\"\"]}]}",
     "agents[0].channels[0]: must be a non-empty string"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"channels\": [\"C1\"]},"
     " {\"id\": \"b\", \"instructions\": \"y\", \"channels\": [\"C2\", \"C1\"]}]}",
     "agents[1].channels[1]: 'C1' is already routed to 'a'"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"default\": \"yes\"}]}",
     "agents[0].default: must be true or false"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"default\": true},"
     " {\"id\": \"b\", \"instructions\": \"y\", \"default\": true}]}",
     "agents[1].default: only one agent may be the default"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"description\": 3}]}",
     "agents[0].description: must be a non-empty string"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"examples\": \"hi\"}]}",
     "agents[0].examples: must be an array of strings"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"examples\": [\"ok\", 2]}]}",
     "agents[0].examples[1]: must be a non-empty string"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", \"examples\": [\"ok\", \" \\n \"]}]}",
     "agents[0].examples[1]: must be a prompt of 1-300 bytes, not only spaces"},
    {"{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\","
     " \"examples\": [\"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\"]}]}",
     "agents[0].examples: more than 6"},
};

TEST(agents, every_error_names_the_field)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct agents a;
		struct err e = {0};
		int rc = agents_parse(&a, bad[i].json, "f.json", &e);

		agents_release(&a);
		if (rc != -1) {
			test_fail(__FILE__, __LINE__, "accepted: %s", bad[i].json);
			return;
		}
		if (!strstr(e.msg, bad[i].msg) || strncmp(e.msg, "agents file 'f.json': ", 22)) {
			test_fail(__FILE__, __LINE__, "%s\n      message \"%s\" lacks \"%s\"",
				  bad[i].json, e.msg, bad[i].msg);
			return;
		}
	}
}

/* The Dev UI's start-screen fields: optional, kept as written, bounded. */
TEST(agents, description_and_examples)
{
	static const char json[] =
	    "{\"agents\": ["
	    " {\"id\": \"a\", \"instructions\": \"x\", \"description\": \"Answers <b>docs</b>.\","
	    "  \"examples\": [\"How do I deploy?\", \"What is \u00e9?\"]},"
	    " {\"id\": \"b\", \"instructions\": \"y\", \"examples\": []},"
	    " {\"id\": \"c\", \"instructions\": \"z\", \"description\": null}]}";
	struct agents a;
	struct err e = {0};
	struct buf big = BUF_INIT;
	const struct agent *ag;
	int rc;

	rc = agents_parse(&a, json, "f.json", &e);
	if (rc != 0) {
		test_fail(__FILE__, __LINE__, "rejected: %s", e.msg);
		agents_release(&a);
		return;
	}
	ag = agents_find(&a, "a");
	CHECK(ag != NULL);
	CHECK_STR_EQ(ag->description, "Answers <b>docs</b>.");
	CHECK_INT_EQ(ag->nexamples, 2);
	CHECK_STR_EQ(ag->examples[0], "How do I deploy?");
	CHECK_STR_EQ(ag->examples[1], "What is \xc3\xa9?");
	ag = agents_find(&a, "b");
	CHECK(ag && ag->description == NULL && ag->nexamples == 0);
	ag = agents_find(&a, "c");
	CHECK(ag && ag->description == NULL && ag->nexamples == 0);
	agents_release(&a);

	/* the limits: a 500-byte description passes, 501 does not; same for a 300-byte example */
	for (int n = 500; n <= 501; n++) {
		buf_reset(&big);
		buf_adds(&big, "{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", "
			       "\"description\": \"");
		for (int i = 0; i < n; i++)
			buf_addch(&big, 'd');
		buf_adds(&big, "\"}]}");
		rc = agents_parse(&a, big.s, "f.json", &e);
		agents_release(&a);
		CHECK_INT_EQ(rc, n == 500 ? 0 : -1);
	}
	CHECK_STR_CONTAINS(e.msg, "agents[0].description: longer than 500 bytes");
	for (int n = 300; n <= 301; n++) {
		buf_reset(&big);
		buf_adds(&big, "{\"agents\": [{\"id\": \"a\", \"instructions\": \"x\", "
			       "\"examples\": [\"");
		for (int i = 0; i < n; i++)
			buf_addch(&big, 'e');
		buf_adds(&big, "\"]}]}");
		rc = agents_parse(&a, big.s, "f.json", &e);
		agents_release(&a);
		CHECK_INT_EQ(rc, n == 300 ? 0 : -1);
	}
	CHECK_STR_CONTAINS(e.msg, "agents[0].examples[0]: must be a prompt of 1-300 bytes");
	buf_release(&big);

	/* the built-in agent has both */
	CHECK_INT_EQ(agents_load(&a, NULL, &e), 0);
	CHECK(a.v[0].description && strlen(a.v[0].description) > 20);
	CHECK(a.v[0].nexamples >= 2);
	agents_release(&a);
}

TEST(agents, load_from_file)
{
	char path[] = "/tmp/haink-agents-XXXXXX";
	int fd = mkstemp(path);
	struct agents a;
	struct err e = {0};
	int rc;

	CHECK(fd >= 0);
	CHECK_INT_EQ(write(fd, valid_json, strlen(valid_json)), (long long)strlen(valid_json));
	close(fd);
	rc = agents_load(&a, path, &e);
	unlink(path);
	CHECK_INT_EQ(rc, 0);
	CHECK_INT_EQ(a.n, 3);
	agents_release(&a);
	CHECK_INT_EQ(agents_load(&a, "/nonexistent/agents.json", &e), -1);
	CHECK_INT_EQ(e.code, ERR_IO);
	CHECK_STR_CONTAINS(e.msg, "agents file '/nonexistent/agents.json': cannot open");
	agents_release(&a);
}
