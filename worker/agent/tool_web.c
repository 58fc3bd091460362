/*
 * tool_web.c - the web_search tool: Tavily POST {TAVILY_API_URL}/search when
 * TAVILY_API_KEY is set, at most WEB_SEARCH_PER_THREAD_HOUR per thread per
 * hour (0 = unlimited) counted on rate_limit:web:<team>:<channel>:<thread>.
 */
#include "common.h"
#include "jfield.h"
#include "queue/worker_ctx.h"
#include "agent/tools.h"
#include "agent/ratelimit.h"

#include <jansson.h>
#include <stdlib.h>

#define TOOL_WEB_RESULTS     5
#define TOOL_WEB_CONTENT_MAX 1500

static void add_message(struct buf *out, const char *key, const char *msg)
{
	json_t *o = json_pack("{s:s, s:[]}", key, msg, "results");
	char *t = json_dumps(o, JSON_COMPACT);

	buf_adds(out, t);
	free(t);
	json_decref(o);
}

static int under_limit(struct tool_call_ctx *c, struct err *err)
{
	const struct config *cfg = c->w->env->cfg;
	const struct tool_scope *s = c->scope;
	long long n = 0;
	char *key;
	int rc;

	if (cfg->web_search_per_thread_hour <= 0)
		return 1;
	key = keys_rl_web(s->team ? s->team : "", s->channel ? s->channel : "",
			  s->thread_ts ? s->thread_ts : "");
	rc = ratelimit_hit(c->w->r, key, RATELIMIT_WINDOW_S, &n, err);
	free(key);
	if (rc < 0)
		return -1;
	if (n > cfg->web_search_per_thread_hour) {
		metrics_inc(NULL, M_RATE_LIMITED, "kind=\"web\"", 1);
		return 0;
	}
	return 1;
}

static int parse_results(struct tool_call_ctx *c, const struct buf *body, struct buf *out,
			 struct err *err)
{
	json_t *root = json_loadb(body->s, body->len, 0, NULL), *res, *item, *list, *o;
	size_t i;
	char *t;

	res = root ? json_object_get(root, "results") : NULL;
	if (!json_is_array(res)) {
		json_decref(root);
		err_set(err, ERR_PARSE, "web search returned an unexpected reply");
		return -1;
	}
	list = json_array();
	json_array_foreach(res, i, item)
	{
		const char *title = jfield_str(item, "title", "");
		const char *url = jfield_str(item, "url", "");
		const char *content = jfield_str(item, "content", "");
		double score = jfield_num(item, "score", 0);
		char *cut = utf8_cut(content, TOOL_WEB_CONTENT_MAX);

		if (!*url) {
			free(cut);
			continue;
		}
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:f}", "title", title, "url",
						      url, "content", cut, "score", score));
		tool_trace_add_source(c->trace, title, url, score);
		free(cut);
	}
	o = json_pack("{s:o}", "results", list);
	t = json_dumps(o, JSON_COMPACT);
	buf_adds(out, t);
	free(t);
	json_decref(o);
	json_decref(root);
	return 0;
}

static int web_run(struct tool_call_ctx *c, json_t *args, struct buf *out, struct err *err)
{
	const struct config *cfg = c->w->env->cfg;
	json_t *q = json_object_get(args, "query"), *body = NULL;
	struct http_retry policy = {2, 500, 5000, clock_mono_ms() + 30000};
	struct http_response resp;
	struct http_request req = {0};
	char *url = NULL, *auth = NULL, *text = NULL;
	const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
	int rc = -1, lim;

	http_response_init(&resp);
	if (!json_is_string(q) || !*json_string_value(q)) {
		err_set(err, ERR_INVALID, "argument 'query' must be a non-empty string");
		goto out;
	}
	if (!cfg->tavily_api_key || !*cfg->tavily_api_key) {
		add_message(out, "error",
			    "web search is not available: no search API is configured");
		rc = 0;
		goto out;
	}
	lim = under_limit(c, err);
	if (lim < 0)
		goto out;
	if (!lim) {
		add_message(out, "error",
			    "the web search limit for this thread is reached for this hour; answer "
			    "from what you already have");
		rc = 0;
		goto out;
	}
	c->trace->web_searches++;
	url = xasprintf("%s/search", cfg->tavily_api_url);
	auth = xasprintf("Authorization: Bearer %s", cfg->tavily_api_key);
	headers[1] = auth;
	body =
	    json_pack("{s:s, s:i}", "query", json_string_value(q), "max_results", TOOL_WEB_RESULTS);
	text = json_dumps(body, JSON_COMPACT);
	req.method = "POST";
	req.url = url;
	req.headers = headers;
	req.body = text;
	req.body_len = strlen(text);
	req.timeout_ms = 20000;
	if (http_perform_retry(&c->w->http, &req, &resp, &policy, "web search", err) < 0)
		goto out;
	rc = parse_results(c, &resp.body, out, err);
out:
	http_response_release(&resp);
	json_decref(body);
	free(text);
	free(url);
	free(auth);
	return rc;
}

static const struct tool_def tool_web = {
    "web_search",
    "Search the public web for current information that the knowledge base does not "
    "have. Returns result titles, links and extracts. Use sparingly: searches per "
    "thread are limited.",
    "{\"type\":\"object\",\"properties\":{"
    "\"query\":{\"type\":\"string\",\"description\":\"The search query\"}},"
    "\"required\":[\"query\"]}",
    web_run,
};

TOOL_REGISTER(tool_web)
