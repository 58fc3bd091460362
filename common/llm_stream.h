/*
 * llm_stream.h - assembles an OpenAI-compatible streamed chat completion
 * (`"stream": true`: server-sent events of chat.completion.chunk objects,
 * then "data: [DONE]") into the reply a non-streamed request would have
 * given, while handing each piece of answer text to a callback as it arrives.
 *
 * What it assembles, shaped like a chat.completion:
 *   {"id", "model", "choices": [{"index": 0, "finish_reason",
 *     "message": {"role": "assistant", "content": <text or null>,
 *                 "tool_calls": [{"id", "type": "function",
 *                                 "function": {"name", "arguments"}}...]}}],
 *    "usage": {...}}      (usage when the server sent it: stream_options.include_usage)
 * Tool calls arrive as deltas keyed by "index": their id, name and argument
 * fragments are concatenated in order. Only choice 0 is read.
 *
 * Errors: an event that is not JSON (ERR_PARSE); an {"error": {...}} event
 * (ERR_UPSTREAM with its message); a stream that ends before [DONE] and
 * before any finish_reason (ERR_IO: the connection broke mid-answer).
 * Not thread-safe; one per response.
 */
#ifndef HAINK_LLM_STREAM_H
#define HAINK_LLM_STREAM_H

#include <jansson.h>
#include <stddef.h>

struct err;
struct llm_stream;

/*
 * on_text (may be NULL) receives each content delta, in order, as it is
 * parsed; return 0 to go on, -1 to abort the stream (llm_stream_feed then
 * fails with ERR_INVALID "stopped by the receiver").
 */
struct llm_stream *llm_stream_new(int (*on_text)(void *ctx, const char *text, size_t n), void *ctx);
void llm_stream_free(struct llm_stream *s);

/* Parses n more body bytes. Returns 0, or -1 with err (the stream is then finished). */
int llm_stream_feed(struct llm_stream *s, const char *bytes, size_t n, struct err *err);

/* How many events (chunks and [DONE]) were read so far: 0 for a body that is not a stream. */
size_t llm_stream_events(const struct llm_stream *s);

/* 1 once a tool-call delta has been seen (the turn calls tools). */
int llm_stream_has_tool_calls(const struct llm_stream *s);

/*
 * Ends the stream (the body is complete) and returns the assembled reply
 * (owned; json_decref), or NULL with err.
 */
json_t *llm_stream_finish(struct llm_stream *s, struct err *err);

#endif
