/*
 * agent.c - the agent loop (see agent.h).
 */
#include <assert.h>
#include <stdlib.h>

#include "common.h"
#include "queue/worker_ctx.h"
#include "agent/agent.h"
#include "agent/convo.h"
#include "agent/llm.h"
#include "slack/reply.h"

/* A tool result longer than this is cut before it goes back to the model. */
#define AGENT_TOOL_RESULT_MAX (24 * 1024)

static const char formatting_guidance[] =
    "\n\nFormat answers in Markdown (short paragraphs, bullet lists, code blocks; tables "
    "only when they help). When you use the knowledge base or the web, cite the sources "
    "you used as Markdown links [title](url). Be concise.";

static const char final_request[] =
    "You have reached the limit of tool calls for this question. Do not call tools. "
    "Using only the information gathered above, write the best final answer you can now, "
    "citing the sources you used. If the information is incomplete, say what is missing.";

void agent_run_init(struct agent_run *r)
{
	memset(r, 0, sizeof(*r));
	tool_trace_init(&r->trace);
	r->turn = json_array();
}

void agent_run_release(struct agent_run *r)
{
	free(r->answer);
	free(r->viewing);
	free(r->model);
	tool_trace_release(&r->trace);
	json_decref(r->turn);
	memset(r, 0, sizeof(*r));
}

const char *agent_progress_text(const char *tool)
{
	if (!strcmp(tool, "search_knowledge_base"))
		return "Searching the knowledge base…";
	if (!strcmp(tool, "web_search"))
		return "Searching the web…";
	if (!strcmp(tool, "search_memory"))
		return "Checking what I remember…";
	if (!strcmp(tool, "remember"))
		return "Making a note…";
	return "Working on it…";
}

/* Appends {"error": msg} for the model. */
static void tool_error(struct buf *out, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *text = json_dumps(o, JSON_COMPACT);

	buf_adds(out, text);
	free(text);
	json_decref(o);
}

int agent_call_tool(struct worker_ctx *w, struct agent_run *r, const char *name,
		    const char *arguments, struct buf *out)
{
	return agent_call_tool_max(w, r, name, arguments, out, AGENT_TOOL_RESULT_MAX, NULL);
}

int agent_call_tool_max(struct worker_ctx *w, struct agent_run *r, const char *name,
			const char *arguments, struct buf *out, size_t max, struct err *why)
{
	const struct tool_def *def = tools_find(name);
	struct tool_call_ctx ctx = {w, &r->scope, &r->trace};
	json_error_t jerr;
	json_t *args = NULL;
	struct err e = {0};
	char labels[96];
	char msg[512];
	int64_t t0;
	int ok = 0;

	if (!def) {
		snprintf(msg, sizeof(msg), "unknown tool '%s': use only the tools offered", name);
		tool_error(out, msg);
		metrics_inc(NULL, M_TOOL_CALLS, "tool=\"unknown\"", 1);
		return 0;
	}
	if (r->agent && !agent_has_tool(r->agent, name)) {
		snprintf(msg, sizeof(msg), "tool '%s' is not available to this agent", name);
		tool_error(out, msg);
		return 0;
	}
	metrics_labels(labels, sizeof(labels), 1, "tool", name);
	metrics_inc(NULL, M_TOOL_CALLS, labels, 1);
	tool_trace_add_tool(&r->trace, name);
	args = json_loads(arguments && *arguments ? arguments : "{}", 0, &jerr);
	if (!json_is_object(args)) {
		snprintf(msg, sizeof(msg),
			 "invalid arguments for %s: not a JSON object (%s); call it again with "
			 "valid JSON arguments",
			 name, args ? "wrong type" : jerr.text);
		tool_error(out, msg);
		goto out;
	}
	t0 = clock_mono_ns();
	if (def->run(&ctx, args, out, &e) < 0) {
		if (why)
			*why = e;
		buf_reset(out);
		snprintf(msg, sizeof(msg), "%s failed: %s", name,
			 e.msg[0] ? e.msg : "unknown error");
		tool_error(out, msg);
		log_kv(LOG_WARN, "tool failed", "tool", name, "error", e.msg, NULL);
	} else {
		ok = 1;
	}
	metrics_observe(NULL, M_TOOL_SECONDS, labels, (double)(clock_mono_ns() - t0) / 1e9);
out:
	json_decref(args);
	if (out->len > max) {
		buf_truncate(out, utf8_floor(out->s, out->len, max));
		buf_adds(out, "\n[result truncated]");
	}
	return ok;
}

char *agent_fallback_answer(const struct agent_run *r)
{
	struct buf b = BUF_INIT;
	const struct tool_trace *t = &r->trace;

	if (!t->nsources) {
		buf_adds(&b, "Sorry, I couldn't put together an answer to this in the steps I "
			     "have. Could you rephrase the question or make it more specific?");
		return buf_detach(&b, NULL);
	}
	buf_adds(&b, "I couldn't finish a full answer in the steps I have, but these sources "
		     "look relevant to your question:\n\n");
	for (size_t i = 0; i < t->nsources && i < 5; i++) {
		const char *u = t->sources[i].url;
		if (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8))
			buf_addf(&b, "- [%s](%s)\n", t->sources[i].title, u);
		else
			buf_addf(&b, "- %s (`%s`)\n", t->sources[i].title, u);
	}
	return buf_detach(&b, NULL);
}

static int is_blank(const char *s)
{
	if (!s)
		return 1;
	for (; *s; s++)
		if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r')
			return 0;
	return 1;
}

static void append(json_t *messages, json_t *turn, json_t *m)
{
	json_array_append(messages, m);
	json_array_append(turn, m);
	json_decref(m);
}

static json_t *initial_messages(struct worker_ctx *w, struct agent_run *r)
{
	const char *instr = r->agent && r->agent->instructions ? r->agent->instructions : "";
	char *system = xasprintf("%s%s", instr, formatting_guidance);
	json_t *messages = json_array();
	struct err e = {0};

	json_array_append_new(messages,
			      json_pack("{s:s, s:s}", "role", "system", "content", system));
	free(system);
	if (r->viewing) {
		/* Slack's assistant view: the user asks while looking at this channel */
		char *ctx = xasprintf("Context: the user is asking from Slack's assistant view "
				      "while viewing the channel <#%s>.",
				      r->viewing);
		json_array_append_new(messages,
				      json_pack("{s:s, s:s}", "role", "system", "content", ctx));
		free(ctx);
	}
	/* without a Redis connection (unit tests) there is no memory to consult */
	if (w->r && convo_memories(w, &r->scope, r->question, messages, &r->trace, &e) < 0)
		log_kv(LOG_WARN, "answering without memories", "error", e.msg, NULL);
	err_clear(&e);
	if (w->r && convo_history(w, &r->scope, messages, &e) < 0)
		log_kv(LOG_WARN, "answering without thread history", "error", e.msg, NULL);
	json_array_append_new(messages,
			      json_pack("{s:s, s:s}", "role", "user", "content", r->question));
	return messages;
}

json_t *agent_tool_message(const char *call_id, const char *content, size_t len)
{
	json_t *m = json_object(), *c;

	json_object_set_new(m, "role", json_string("tool"));
	json_object_set_new(m, "tool_call_id",
			    json_stringn(call_id ? call_id : "", call_id ? strlen(call_id) : 0));
	if (utf8_valid(content, len) && !memchr(content, '\0', len)) {
		c = json_stringn(content, len);
	} else {
		/* a tool that returned bytes that are not text: pass on what is readable */
		struct buf b = BUF_INIT;
		utf8_sanitize(&b, content, len);
		for (size_t i = 0; i < b.len; i++)
			if (!b.s[i])
				b.s[i] = ' ';
		c = json_stringn(b.s, b.len);
		buf_release(&b);
	}
	/*
	 * Never leave a tool call without its message: the model would answer
	 * 400 ("tool_calls must be followed by tool messages") and the question
	 * would dead-letter.
	 */
	json_object_set_new(
	    m, "content",
	    c ? c : json_string("{\"error\":\"the tool result could not be encoded\"}"));
	return m;
}

/* --- the trace (reply_trace(): the Dev UI's trace panel) --------------------- */

void agent_trace_tool(struct agent_run *r, const char *name, const char *arguments,
		      const char *result, size_t len, int ok, int64_t ms)
{
	struct reply_step st = {"tool", name, arguments, result, len, ok, 0, 0, (long long)ms};

	reply_trace(r->sink, &st);
}

/* Reports one model call: what was sent (summarised) and what came back, or why not. */
static void trace_model(struct agent_run *r, const struct llm_call *call,
			const struct llm_reply *rep, const struct err *failed, int64_t t0)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	size_t n = json_array_size(call->messages);
	json_t *last = json_array_get(call->messages, n ? n - 1 : 0), *tool;
	const char *role = json_string_value(json_object_get(last, "role"));
	const char *content = json_string_value(json_object_get(last, "content"));
	struct reply_step st = {"model", call->model, NULL, NULL, 0, !failed, 0, 0, 0};
	size_t i;

	if (!reply_traces(r->sink))
		return;
	buf_addf(&in, "%zu messages; tools offered: ", n);
	json_array_foreach(call->tools, i, tool)
	{
		const char *name =
		    json_string_value(json_object_get(json_object_get(tool, "function"), "name"));
		buf_addf(&in, "%s%s", i ? ", " : "", name ? name : "?");
	}
	if (!json_array_size(call->tools))
		buf_adds(&in, "none");
	if (role)
		buf_addf(&in, "\nlast message (%s): %s", role, content ? content : "");
	if (failed) {
		buf_adds(&out, failed->msg);
	} else if (rep->ncalls) {
		for (i = 0; i < rep->ncalls; i++)
			buf_addf(&out, "%scalls %s %s", i ? "\n" : "", rep->calls[i].name,
				 rep->calls[i].arguments ? rep->calls[i].arguments : "{}");
	} else {
		buf_adds(&out, rep->content ? rep->content : "");
	}
	st.input = in.s;
	st.output = out.s ? out.s : "";
	st.output_len = out.len;
	if (!failed) {
		st.prompt_tokens = rep->prompt_tokens;
		st.completion_tokens = rep->completion_tokens;
	}
	st.ms = (long long)(clock_mono_ms() - t0);
	reply_trace(r->sink, &st);
	buf_release(&in);
	buf_release(&out);
}

/* Runs the tool calls of one model turn and appends their results. */
static void run_calls(struct worker_ctx *w, struct agent_run *r, const struct llm_reply *rep,
		      json_t *messages)
{
	append(messages, r->turn, llm_assistant_message(rep));
	for (size_t i = 0; i < rep->ncalls; i++) {
		struct buf out = BUF_INIT;
		int64_t t0 = clock_mono_ms();
		int ok;

		reply_progress(r->sink, agent_progress_text(rep->calls[i].name));
		ok = agent_call_tool(w, r, rep->calls[i].name, rep->calls[i].arguments, &out);
		agent_trace_tool(r, rep->calls[i].name, rep->calls[i].arguments, out.s, out.len, ok,
				 clock_mono_ms() - t0);
		append(messages, r->turn, agent_tool_message(rep->calls[i].id, out.s, out.len));
		buf_release(&out);
	}
}

/*
 * The answer as the model writes it: each call's text so far goes to the
 * sink (reply_partial(), which throttles). A turn that ends in tool calls
 * usually writes no text; if it did, the next partial or the final answer
 * replaces what was shown (every edit shows the whole text).
 */
struct typed {
	struct reply_sink *sink;
	struct buf text;
};

static int typed_text(void *ctx, const char *text, size_t n)
{
	struct typed *ty = ctx;

	if (reply_taken_over(ty->sink))
		return -1; /* another worker answers now: stop reading this reply */
	if (!text) {	   /* a new call, or a retried one: start over */
		buf_reset(&ty->text);
		return 0;
	}
	buf_add(&ty->text, text, n);
	reply_partial(ty->sink, ty->text.s);
	return 0;
}

/* Sets call up to stream into ty when the sink shows answers as they are written. */
static void stream_into(struct llm_call *call, struct typed *ty)
{
	if (!reply_streams(ty->sink))
		return;
	call->on_text = typed_text;
	call->text_ctx = ty;
}

/* The last call at the cap: no tools, answer from what is there. */
static char *final_answer(struct worker_ctx *w, struct agent_run *r, json_t *messages)
{
	struct typed ty = {r->sink, BUF_INIT};
	struct llm_call call = {r->model, messages, NULL, r->llm_retry, NULL, NULL};
	struct llm_reply rep;
	struct err e = {0};
	char *answer = NULL;
	int64_t t0;

	reply_progress(r->sink, "Writing the answer…");
	json_array_append_new(messages,
			      json_pack("{s:s, s:s}", "role", "user", "content", final_request));
	stream_into(&call, &ty);
	llm_reply_init(&rep);
	r->iterations++;
	t0 = clock_mono_ms();
	if (llm_chat(w, &call, &rep, &e) == 0) {
		trace_model(r, &call, &rep, NULL, t0);
		r->prompt_tokens += rep.prompt_tokens;
		r->completion_tokens += rep.completion_tokens;
		if (!is_blank(rep.content)) {
			answer = rep.content;
			rep.content = NULL;
		}
	} else {
		trace_model(r, &call, &rep, &e, t0);
		log_kv(LOG_WARN, "final answer request failed", "error", e.msg, NULL);
	}
	llm_reply_release(&rep);
	buf_release(&ty.text);
	return answer ? answer : agent_fallback_answer(r);
}

/* by provider; written by load-time constructors only, read-only afterwards */
static const struct agent_responder *responders[AGENT_MAX_RESPONDERS];

void agent_register_responder(const struct agent_responder *resp)
{
	assert(resp->provider >= 0 && resp->provider < AGENT_MAX_RESPONDERS);
	responders[resp->provider] = resp;
}

int agent_answer(struct worker_ctx *w, struct agent_run *r, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	json_t *messages = NULL, *tools = NULL;
	struct typed ty = {r->sink, BUF_INIT};
	const struct agent_responder *resp;
	int rc = -1;

	free(r->model);
	resp = cfg->llm_provider >= 0 && cfg->llm_provider < AGENT_MAX_RESPONDERS
		   ? responders[cfg->llm_provider]
		   : NULL;
	if (resp) {
		int64_t t0 = clock_mono_ms();
		struct reply_step st = {
		    .type = "model", .name = resp->model, .input = resp->trace_input};

		r->model = xstrdup(resp->model);
		rc = resp->answer(w, r, err);
		st.ok = rc == 0;
		st.output = rc == 0 ? r->answer : err ? err->msg : "failed";
		st.output_len = strlen(st.output ? st.output : "");
		st.ms = (long long)(clock_mono_ms() - t0);
		reply_trace(r->sink, &st);
		return rc;
	}
	r->model = xstrdup(r->agent && r->agent->model ? r->agent->model : cfg->chat_model);
	messages = initial_messages(w, r);
	tools = llm_tools_json(r->agent);
	for (int it = 0; it < cfg->agent_max_iterations; it++) {
		struct llm_call call = {r->model, messages, tools, r->llm_retry, NULL, NULL};
		struct llm_reply rep;
		int64_t t0 = clock_mono_ms();

		stream_into(&call, &ty);
		llm_reply_init(&rep);
		r->iterations++;
		if (llm_chat(w, &call, &rep, err) < 0) {
			trace_model(r, &call, &rep, err, t0);
			llm_reply_release(&rep);
			goto out;
		}
		trace_model(r, &call, &rep, NULL, t0);
		r->prompt_tokens += rep.prompt_tokens;
		r->completion_tokens += rep.completion_tokens;
		if (rep.ncalls) {
			run_calls(w, r, &rep, messages);
			llm_reply_release(&rep);
			continue;
		}
		if (!is_blank(rep.content)) {
			r->answer = rep.content;
			rep.content = NULL;
		}
		llm_reply_release(&rep);
		break; /* an empty reply falls through to the final request */
	}
	if (!r->answer) {
		r->exhausted = 1;
		r->answer = final_answer(w, r, messages);
	}
	rc = 0;
out:
	buf_release(&ty.text);
	json_decref(tools);
	json_decref(messages);
	return rc;
}
