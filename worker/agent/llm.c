/*
 * llm.c - the OpenAI-compatible Chat Completions client (see llm.h).
 */
#include "common.h"
#include "jfield.h"
#include "queue/worker_ctx.h"
#include "agent/llm.h"
#include "llm_stream.h"
#include "agent/tools.h"

#include <jansson.h>
#include <stdlib.h>

void llm_reply_init(struct llm_reply *r)
{
	memset(r, 0, sizeof(*r));
}

void llm_reply_release(struct llm_reply *r)
{
	free(r->content);
	for (size_t i = 0; i < r->ncalls; i++) {
		free(r->calls[i].id);
		free(r->calls[i].name);
		free(r->calls[i].arguments);
	}
	free(r->calls);
	free(r->finish_reason);
	memset(r, 0, sizeof(*r));
}

/* Content may be a string or, from some servers, an array of text parts. */
static char *content_text(json_t *c)
{
	struct buf b = BUF_INIT;
	size_t i;
	json_t *part;

	if (json_is_string(c))
		return xstrdup(json_string_value(c));
	if (!json_is_array(c))
		return NULL;
	json_array_foreach(c, i, part)
	{
		const char *t = jfield_str(part, "text", NULL);
		if (t)
			buf_adds(&b, t);
	}
	return buf_detach(&b, NULL);
}

int llm_parse_reply(const char *body, size_t len, struct llm_reply *out, struct err *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr);
	json_t *choice, *msg, *calls, *usage;
	int rc = -1;

	if (!root) {
		err_set(err, ERR_PARSE, "cannot parse the chat completion reply: %s", jerr.text);
		goto out;
	}
	choice = json_array_get(json_object_get(root, "choices"), 0);
	msg = json_is_object(choice) ? json_object_get(choice, "message") : NULL;
	if (!json_is_object(msg)) {
		err_set(err, ERR_PARSE, "chat completion reply has no choices[0].message");
		goto out;
	}
	out->content = content_text(json_object_get(msg, "content"));
	if (jfield_str(choice, "finish_reason", NULL))
		out->finish_reason = xstrdup(jfield_str(choice, "finish_reason", NULL));
	calls = json_object_get(msg, "tool_calls");
	if (json_is_array(calls) && json_array_size(calls)) {
		size_t i, n = 0;
		json_t *c;

		out->calls = xcalloc(json_array_size(calls), sizeof(*out->calls));
		json_array_foreach(calls, i, c)
		{
			json_t *fn = json_object_get(c, "function");
			json_t *args = json_is_object(fn) ? json_object_get(fn, "arguments") : NULL;
			struct llm_tool_call *tc = &out->calls[n];

			if (!json_is_object(fn) || !jfield_str(fn, "name", NULL))
				continue; /* not a function call: nothing we can run */
			tc->name = xstrdup(jfield_str(fn, "name", NULL));
			tc->id = jfield_str(c, "id", NULL) ? xstrdup(jfield_str(c, "id", NULL))
							   : xasprintf("call_%zu", i);
			if (json_is_string(args))
				tc->arguments = xstrdup(json_string_value(args));
			else if (args && !json_is_null(args))
				tc->arguments = json_dumps(args, JSON_COMPACT);
			else
				tc->arguments = xstrdup("{}");
			if (!tc->arguments)
				tc->arguments = xstrdup("{}");
			n++;
		}
		out->ncalls = n;
	}
	usage = json_object_get(root, "usage");
	if (json_is_object(usage)) {
		json_t *p = json_object_get(usage, "prompt_tokens");
		json_t *c = json_object_get(usage, "completion_tokens");
		out->prompt_tokens = json_is_integer(p) ? (long)json_integer_value(p) : 0;
		out->completion_tokens = json_is_integer(c) ? (long)json_integer_value(c) : 0;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

json_t *llm_tools_json(const struct agent *ag)
{
	json_t *arr = json_array();
	const struct tool_def *d;

	for (size_t i = 0; (d = tools_at(i)); i++) {
		json_t *params;

		if (ag && !agent_has_tool(ag, d->name))
			continue;
		params = json_loads(d->parameters ? d->parameters : "{}", 0, NULL);
		if (!params) {
			log_kv(LOG_ERROR, "tool has an invalid parameter schema", "tool", d->name,
			       NULL);
			continue;
		}
		json_array_append_new(arr, json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function",
						     "function", "name", d->name, "description",
						     d->description ? d->description : "",
						     "parameters", params));
	}
	return arr;
}

json_t *llm_assistant_message(const struct llm_reply *r)
{
	json_t *m = json_pack("{s:s}", "role", "assistant");

	json_object_set_new(m, "content", r->content ? json_string(r->content) : json_null());
	if (r->ncalls) {
		json_t *calls = json_array();
		for (size_t i = 0; i < r->ncalls; i++)
			json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id",
							       r->calls[i].id, "type", "function",
							       "function", "name", r->calls[i].name,
							       "arguments", r->calls[i].arguments));
		json_object_set_new(m, "tool_calls", calls);
	}
	return m;
}

/* A streamed request's state: the assembler of the attempt in progress. */
struct llm_streaming {
	const struct llm_call *call;
	struct llm_stream *s;
	struct err err; /* why the stream failed, when it did */
};

/* http on_data: NULL starts a new attempt's body; bytes go to the assembler. */
static int stream_data(void *ctx, const char *bytes, size_t n)
{
	struct llm_streaming *st = ctx;

	if (!bytes) {
		llm_stream_free(st->s);
		st->s = llm_stream_new(st->call->on_text, st->call->text_ctx);
		return st->call->on_text(st->call->text_ctx, NULL, 0);
	}
	return llm_stream_feed(st->s, bytes, n, &st->err);
}

/*
 * The streamed reply, re-serialised as the non-streamed one so a single parser
 * reads both (or body itself when the server did not stream). Returns 0 with
 * out filled, or -1 with err.
 */
static int stream_reply(struct llm_streaming *st, const struct buf *body, struct llm_reply *out,
			struct err *err)
{
	json_t *r;
	char *text;
	int rc;

	/*
	 * A server that ignores "stream" (some OpenAI-compatible ones) answers
	 * one JSON object: no event in it. Read it whole; nothing was typed out.
	 */
	if (!st->s || !llm_stream_events(st->s))
		return llm_parse_reply(body->s, body->len, out, err);
	r = llm_stream_finish(st->s, err);
	if (!r)
		return -1;
	text = json_dumps(r, JSON_COMPACT);
	rc = llm_parse_reply(text, strlen(text), out, err);
	free(text);
	json_decref(r);
	return rc;
}

int llm_chat(struct worker_ctx *w, const struct llm_call *call, struct llm_reply *out,
	     struct err *err)
{
	struct llm_streaming st = {call, NULL, {0}};
	const struct config *cfg = w->env->cfg;
	const char *model = call->model && *call->model ? call->model : cfg->chat_model;
	long timeout_ms = (long)cfg->llm_timeout_s * 1000;
	struct http_retry def = {3, 500, 20000, 0};
	struct http_retry policy = call->retry ? *call->retry : def;
	struct http_response resp;
	struct http_request req = {0};
	char *url = xasprintf("%s/chat/completions", cfg->openai_base_url);
	char *auth =
	    xasprintf("Authorization: Bearer %s", cfg->openai_api_key ? cfg->openai_api_key : "");
	const char *headers[] = {"Content-Type: application/json", auth,
				 call->on_text ? "Accept: text/event-stream" : NULL, NULL};
	json_t *body = json_pack("{s:s, s:O}", "model", model, "messages", call->messages);
	char *text = NULL;
	char labels[64];
	int64_t t0 = clock_mono_ns();
	int rc = -1;

	http_response_init(&resp);
	if (call->tools && json_array_size(call->tools)) {
		json_object_set(body, "tools", call->tools);
		json_object_set_new(body, "tool_choice", json_string("auto"));
	}
	if (call->on_text) {
		json_object_set_new(body, "stream", json_true());
		json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1));
		req.on_data = stream_data;
		req.data_ctx = &st;
	}
	text = json_dumps(body, JSON_COMPACT);
	req.method = "POST";
	req.url = url;
	req.headers = headers;
	req.body = text;
	req.body_len = strlen(text);
	req.timeout_ms = timeout_ms;
	/* waits between tries must leave room for one more full request */
	if (!policy.deadline_ms)
		policy.deadline_ms = clock_mono_ms() + 2 * timeout_ms;
	if (http_perform_retry(&w->http, &req, &resp, &policy, "llm", err) < 0) {
		if (st.err.code) /* the stream itself was bad: say how */
			err_set(err, st.err.code, "%s", st.err.msg);
		else if (resp.status >= 400 && resp.status < 500 && resp.status != 429)
			http_append_error_message(&resp, err);
		goto out;
	}
	if (call->on_text ? stream_reply(&st, &resp.body, out, err) < 0
			  : llm_parse_reply(resp.body.s, resp.body.len, out, err) < 0)
		goto out;
	metrics_inc(NULL, M_LLM_TOKENS, "kind=\"prompt\"", (double)out->prompt_tokens);
	metrics_inc(NULL, M_LLM_TOKENS, "kind=\"completion\"", (double)out->completion_tokens);
	rc = 0;
out:
	metrics_labels(labels, sizeof(labels), 1, "outcome",
		       rc == 0 ? "ok"
		       : err   ? err_code_name(err->code)
			       : "error");
	metrics_inc(NULL, M_LLM_REQUESTS, labels, 1);
	metrics_observe(NULL, M_LLM_SECONDS, "", (double)(clock_mono_ns() - t0) / 1e9);
	if (rc < 0)
		log_kv(LOG_WARN, "llm request failed", "model", model, "error",
		       err ? err->msg : NULL, NULL);
	http_response_release(&resp);
	llm_stream_free(st.s);
	json_decref(body);
	free(text);
	free(url);
	free(auth);
	return rc;
}

int llm_ping(struct worker_ctx *w, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	char *url = xasprintf("%s/models", cfg->openai_base_url);
	char *auth =
	    xasprintf("Authorization: Bearer %s", cfg->openai_api_key ? cfg->openai_api_key : "");
	const char *headers[] = {auth, NULL};
	struct http_request req = {"GET", url, headers, NULL, 0, 10000, NULL, NULL};
	struct http_response resp;
	int rc;

	http_response_init(&resp);
	rc = w->http.perform(w->http.ctx, &req, &resp, err);
	if (rc == 0)
		rc = http_status_check(&resp, "llm", err);
	http_response_release(&resp);
	free(url);
	free(auth);
	return rc;
}
