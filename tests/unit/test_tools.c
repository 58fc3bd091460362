/* The tool registry, the trace, and the built-in tools without Redis (worker/agent/tools.c,
 * tool_*.c). */
#include "common.h"
#include "agent/agent.h"
#include "agent/tools.h"

#include <jansson.h>
#include <stdlib.h>

#include "fake_http.h"
#include "../harness/test.h"

TEST(tools, registry_finds_builtin_tools_in_name_order)
{
	const struct tool_def *d, *prev = NULL;
	size_t n = 0;

	CHECK(tools_find("search_knowledge_base") != NULL);
	CHECK(tools_find("web_search") != NULL);
	CHECK(tools_find("nope") == NULL);
	CHECK(tools_find(NULL) == NULL);
	for (; (d = tools_at(n)); n++) {
		json_t *schema = json_loads(d->parameters, 0, NULL);
		CHECK(json_is_object(schema));
		json_decref(schema);
		if (prev)
			CHECK(strcmp(prev->name, d->name) < 0);
		prev = d;
	}
	CHECK(n >= 2);
	CHECK(tools_at(n) == NULL);
	/* registering a name twice keeps the first */
	tools_register(tools_find("web_search"));
	CHECK(tools_at(n) == NULL);
}

TEST(tools, trace_dedupes_sources_and_tools)
{
	struct tool_trace t;

	tool_trace_init(&t);
	tool_trace_add_source(&t, "A", "https://a.example", 0.2);
	tool_trace_add_source(&t, "A again", "https://a.example", 0.7);
	tool_trace_add_source(&t, NULL, "docs/b.md", 0.1);
	tool_trace_add_source(&t, "no url", "", 0.1);
	CHECK_INT_EQ(t.nsources, 2);
	CHECK_STR_EQ(t.sources[0].title, "A");
	CHECK_NEAR(t.sources[0].score, 0.7, 1e-9);
	CHECK_STR_EQ(t.sources[1].title, "docs/b.md");
	tool_trace_add_tool(&t, "x");
	tool_trace_add_tool(&t, "y");
	tool_trace_add_tool(&t, "x");
	CHECK_INT_EQ(t.ntools, 2);
	tool_trace_add_memory(&t, "likes tea");
	CHECK_INT_EQ(t.nmemories, 1);
	tool_trace_release(&t);
	CHECK_INT_EQ(t.nsources, 0);
}

static const char *const base_vars[] = {"LLM_PROVIDER=offline", NULL};

static void run_init(struct agent_run *r)
{
	agent_run_init(r);
	r->question = "q";
	r->scope = (struct tool_scope){"app", "T1", "C1", "U1", "1700.1", NULL};
}

TEST(tools, knowledge_base_unavailable_is_a_tool_error)
{
	struct fake_env fe;
	struct agent_run r;
	struct buf out = BUF_INIT;
	double calls0 = metrics_value(NULL, M_TOOL_CALLS, "tool=\"search_knowledge_base\"");

	CHECK(fake_env_init(&fe, base_vars, NULL) == 0);
	run_init(&r);
	CHECK_INT_EQ(agent_call_tool(&fe.w, &r, "search_knowledge_base", "{\"query\":\"x\"}", &out),
		     0);
	CHECK_STR_CONTAINS(out.s, "knowledge base unavailable");
	CHECK_NEAR(metrics_value(NULL, M_TOOL_CALLS, "tool=\"search_knowledge_base\"") - calls0, 1,
		   0.01);
	buf_reset(&out);
	CHECK_INT_EQ(agent_call_tool(&fe.w, &r, "search_knowledge_base", "{\"k\":3}", &out), 0);
	CHECK_STR_CONTAINS(out.s, "'query'");
	buf_reset(&out);
	CHECK_INT_EQ(agent_call_tool(&fe.w, &r, "search_knowledge_base", "{\"query\":", &out), 0);
	CHECK_STR_CONTAINS(out.s, "invalid arguments");
	buf_release(&out);
	agent_run_release(&r);
	fake_env_release(&fe);
}

TEST(tools, web_search_without_a_key_is_not_available)
{
	struct fake_env fe;
	struct agent_run r;
	struct buf out = BUF_INIT;

	CHECK(fake_env_init(&fe, base_vars, NULL) == 0);
	run_init(&r);
	CHECK_INT_EQ(agent_call_tool(&fe.w, &r, "web_search", "{\"query\":\"x\"}", &out), 1);
	CHECK_STR_CONTAINS(out.s, "web search is not available");
	CHECK_INT_EQ(fe.http.nreq, 0);
	buf_release(&out);
	agent_run_release(&r);
	fake_env_release(&fe);
}

TEST(tools, web_search_calls_tavily_and_records_sources)
{
	static const char *const vars[] = {"LLM_PROVIDER=offline", "TAVILY_API_KEY=tvly-unit",
					   "TAVILY_API_URL=http://tavily.test",
					   "WEB_SEARCH_PER_THREAD_HOUR=0", NULL};
	struct fake_env fe;
	struct agent_run r;
	struct buf out = BUF_INIT;
	json_t *body, *res;

	CHECK(fake_env_init(&fe, vars, NULL) == 0);
	fake_http_push(&fe.http, 200, -1,
		       "{\"query\":\"q\",\"results\":[{\"title\":\"Result A\",\"url\":"
		       "\"https://a.example/x\",\"content\":\"Alpha text\",\"score\":0.8},"
		       "{\"title\":\"No url\",\"content\":\"dropped\"}]}");
	run_init(&r);
	CHECK_INT_EQ(
	    agent_call_tool(&fe.w, &r, "web_search", "{\"query\":\"redis streams\"}", &out), 1);
	CHECK_INT_EQ(fe.http.nreq, 1);
	CHECK_STR_EQ(fe.http.url[0], "http://tavily.test/search");
	CHECK_STR_CONTAINS(fe.http.headers[0], "Authorization: Bearer tvly-unit");
	body = json_loads(fe.http.body[0], 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(body, "query")), "redis streams");
	CHECK_INT_EQ(json_integer_value(json_object_get(body, "max_results")), 5);
	json_decref(body);
	res = json_loads(out.s, 0, NULL);
	CHECK_INT_EQ(json_array_size(json_object_get(res, "results")), 1);
	json_decref(res);
	CHECK_INT_EQ(r.trace.nsources, 1);
	CHECK_STR_EQ(r.trace.sources[0].url, "https://a.example/x");
	CHECK_INT_EQ(r.trace.web_searches, 1);
	buf_reset(&out);
	/* an upstream failure is reported to the model, not a crash */
	fake_http_push(&fe.http, 401, -1, "{\"detail\":{\"error\":\"Unauthorized\"}}");
	CHECK_INT_EQ(agent_call_tool(&fe.w, &r, "web_search", "{\"query\":\"again\"}", &out), 0);
	CHECK_STR_CONTAINS(out.s, "web_search failed");
	buf_release(&out);
	agent_run_release(&r);
	fake_env_release(&fe);
}

TEST(tools, progress_texts)
{
	CHECK_STR_EQ(agent_progress_text("search_knowledge_base"), "Searching the knowledge base…");
	CHECK_STR_EQ(agent_progress_text("web_search"), "Searching the web…");
	CHECK_STR_EQ(agent_progress_text("other"), "Working on it…");
}
