#include "common.h"
#include "llm_stream.h"
#include "sse.h"

#include <stdlib.h>

/* Tool calls beyond this index are a malformed stream, not a reason to allocate. */
#define LLM_STREAM_MAX_TOOLS 64

struct llm_stream {
	int (*on_text)(void *ctx, const char *text, size_t n);
	void *ctx;
	struct sse_parser sse;
	struct buf content;
	int has_content;
	json_t *tools; /* array of {"id","type","function":{"name","arguments"}} */
	json_t *usage; /* the last usage object seen, or NULL */
	char *id, *model, *finish_reason;
	int done;	 /* [DONE] seen */
	size_t events;	 /* events read */
	int failed;	 /* an error was reported: feed no more */
	struct err *err; /* the caller's, during llm_stream_feed() */
};

static int on_event(void *ctx, const char *data, size_t len);

struct llm_stream *llm_stream_new(int (*on_text)(void *ctx, const char *text, size_t n), void *ctx)
{
	struct llm_stream *s = xcalloc(1, sizeof(*s));

	s->on_text = on_text;
	s->ctx = ctx;
	buf_init(&s->content);
	s->tools = json_array();
	sse_init(&s->sse, on_event, s);
	return s;
}

void llm_stream_free(struct llm_stream *s)
{
	if (!s)
		return;
	sse_release(&s->sse);
	buf_release(&s->content);
	json_decref(s->tools);
	json_decref(s->usage);
	free(s->id);
	free(s->model);
	free(s->finish_reason);
	free(s);
}

size_t llm_stream_events(const struct llm_stream *s)
{
	return s->events;
}

int llm_stream_has_tool_calls(const struct llm_stream *s)
{
	return json_array_size(s->tools) > 0;
}

static void keep_str(char **dst, json_t *v)
{
	if (json_is_string(v) && !*dst)
		*dst = xstrdup(json_string_value(v));
}

/* Appends the string v (if one) to the string field key of object o. */
static void append_field(json_t *o, const char *key, json_t *v)
{
	const char *old = json_string_value(json_object_get(o, key));
	char *joined;

	if (!json_is_string(v) || !json_string_length(v))
		return;
	joined = xasprintf("%s%s", old ? old : "", json_string_value(v));
	json_object_set_new(o, key, json_string(joined));
	free(joined);
}

static int take_tool_delta(struct llm_stream *s, json_t *tc)
{
	json_t *idx = json_object_get(tc, "index"), *fn = json_object_get(tc, "function"), *t;
	json_int_t i = json_is_integer(idx) ? json_integer_value(idx)
					    : (json_int_t)json_array_size(s->tools) - 1;

	if (!json_is_integer(idx) && i < 0)
		i = 0; /* a server that omits the index sends one call */
	if (i < 0 || i >= LLM_STREAM_MAX_TOOLS) {
		err_set(s->err, ERR_PARSE, "LLM stream: tool call index %lld is out of range",
			(long long)i);
		return -1;
	}
	while ((json_int_t)json_array_size(s->tools) <= i)
		json_array_append_new(s->tools, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", "",
							  "type", "function", "function", "name",
							  "", "arguments", ""));
	t = json_array_get(s->tools, (size_t)i);
	append_field(t, "id", json_object_get(tc, "id"));
	append_field(json_object_get(t, "function"), "name", json_object_get(fn, "name"));
	append_field(json_object_get(t, "function"), "arguments", json_object_get(fn, "arguments"));
	return 0;
}

static int take_chunk(struct llm_stream *s, json_t *chunk)
{
	json_t *e = json_object_get(chunk, "error"), *choices, *c0, *delta, *tcs, *text, *fr;

	if (e) {
		const char *msg = json_string_value(json_object_get(e, "message"));
		err_set(s->err, ERR_UPSTREAM, "LLM stream error: %s",
			msg		    ? msg
			: json_is_string(e) ? json_string_value(e)
					    : "unknown");
		return -1;
	}
	keep_str(&s->id, json_object_get(chunk, "id"));
	keep_str(&s->model, json_object_get(chunk, "model"));
	if (json_is_object(json_object_get(chunk, "usage"))) {
		json_decref(s->usage);
		s->usage = json_incref(json_object_get(chunk, "usage"));
	}
	choices = json_object_get(chunk, "choices");
	c0 = json_array_get(choices, 0);
	if (!c0)
		return 0; /* the usage chunk has no choices */
	delta = json_object_get(c0, "delta");
	text = json_object_get(delta, "content");
	if (json_is_string(text) && json_string_length(text)) {
		buf_add(&s->content, json_string_value(text), json_string_length(text));
		s->has_content = 1;
		if (s->on_text &&
		    s->on_text(s->ctx, json_string_value(text), json_string_length(text)) < 0) {
			err_set(s->err, ERR_INVALID, "LLM stream: stopped by the receiver");
			return -1;
		}
	}
	tcs = json_object_get(delta, "tool_calls");
	for (size_t i = 0; i < json_array_size(tcs); i++)
		if (take_tool_delta(s, json_array_get(tcs, i)) < 0)
			return -1;
	fr = json_object_get(c0, "finish_reason");
	if (json_is_string(fr)) {
		free(s->finish_reason);
		s->finish_reason = xstrdup(json_string_value(fr));
	}
	return 0;
}

/* One SSE event: a chunk, or the [DONE] marker. */
static int on_event(void *ctx, const char *data, size_t len)
{
	struct llm_stream *s = ctx;
	json_t *chunk;
	int rc;

	if (s->done)
		return 0; /* nothing counts after [DONE] */
	s->events++;
	if (len == 6 && !memcmp(data, "[DONE]", 6)) {
		s->done = 1;
		return 0;
	}
	chunk = json_loadb(data, len, 0, NULL);
	if (!json_is_object(chunk)) {
		json_decref(chunk);
		err_set(s->err, ERR_PARSE, "LLM stream: an event is not a JSON object");
		return -1;
	}
	rc = take_chunk(s, chunk);
	json_decref(chunk);
	return rc;
}

int llm_stream_feed(struct llm_stream *s, const char *bytes, size_t n, struct err *err)
{
	int rc;

	if (s->failed) {
		err_set(err, ERR_INVALID, "LLM stream: fed after an error");
		return -1;
	}
	s->err = err;
	rc = sse_feed(&s->sse, bytes, n);
	if (rc < 0 && s->sse.too_long)
		err_set(err, ERR_PARSE, "LLM stream: an event is over %d bytes", SSE_MAX_EVENT);
	s->err = NULL;
	if (rc < 0)
		s->failed = 1;
	return rc;
}

json_t *llm_stream_finish(struct llm_stream *s, struct err *err)
{
	json_t *msg, *out;

	if (s->failed) {
		err_set(err, ERR_INVALID, "LLM stream: finished after an error");
		return NULL;
	}
	s->err = err;
	if (sse_finish(&s->sse) < 0) {
		s->err = NULL;
		s->failed = 1;
		return NULL;
	}
	s->err = NULL;
	if (!s->done && !s->finish_reason) {
		err_set(err, ERR_IO, "LLM stream ended before the answer was complete");
		return NULL;
	}
	msg = json_pack("{s:s}", "role", "assistant");
	json_object_set_new(msg, "content",
			    s->has_content ? json_stringn(s->content.s, s->content.len)
					   : json_null());
	if (json_array_size(s->tools))
		json_object_set(msg, "tool_calls", s->tools);
	out = json_pack("{s:s, s:s, s:[{s:i, s:o, s:o}]}", "id", s->id ? s->id : "", "model",
			s->model ? s->model : "", "choices", "index", 0, "message", msg,
			"finish_reason",
			s->finish_reason ? json_string(s->finish_reason) : json_null());
	if (s->usage)
		json_object_set(out, "usage", s->usage);
	return out;
}
