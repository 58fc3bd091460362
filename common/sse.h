/*
 * sse.h - server-sent events framing (the text/event-stream format OpenAI-
 * compatible servers use for `"stream": true` chat completions).
 *
 * Feed the body bytes as they arrive, in pieces of any size; each complete
 * event (a blank line ends it) is handed to on_event with its data: the
 * "data:" lines joined by "\n", one leading space after the colon removed.
 * Lines end in "\n", "\r\n" or "\r"; comment lines (":") and other fields
 * (event:, id:, retry:) are ignored; an event without data is not delivered.
 * Not thread-safe; one parser per response.
 */
#ifndef HAINK_SSE_H
#define HAINK_SSE_H

#include <stddef.h>
#include "buf.h"

/* The longest event accepted (data of one event); a longer one fails sse_feed(). */
#define SSE_MAX_EVENT (1024 * 1024)

struct sse_parser {
	/* Returns 0 to go on, -1 to stop: sse_feed() then returns -1. */
	int (*on_event)(void *ctx, const char *data, size_t len);
	void *ctx;
	struct buf line; /* the line being read */
	struct buf data; /* the event's data so far */
	int has_data;	 /* a data: line was seen for this event */
	int after_cr;	 /* the last byte was '\r' (a "\n" right after it ends nothing) */
	int too_long;	 /* set when an event exceeded SSE_MAX_EVENT */
};

void sse_init(struct sse_parser *p, int (*on_event)(void *ctx, const char *data, size_t len),
	      void *ctx);
/*
 * Parses n bytes. Returns 0, or -1 when on_event asked to stop or an event
 * is over SSE_MAX_EVENT (p->too_long set); the parser is then finished.
 */
int sse_feed(struct sse_parser *p, const char *bytes, size_t n);
/* Delivers a last event the stream ended without a blank line for; returns as sse_feed(). */
int sse_finish(struct sse_parser *p);
void sse_release(struct sse_parser *p);

#endif
