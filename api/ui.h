/*
 * ui.h - the Dev UI routes of haink-api (docs/architecture.md, "The path of a question", the Dev
 * UI).
 *
 * GET /ui serves one self-contained page (api/ui_page.html, embedded at build
 * time). The page talks to four JSON routes, each needing the header
 * "Authorization: Bearer <UI_TOKEN>":
 *
 *   GET  /ui/api/agents    {"agents":[{"id","name","default","description","examples"}…]}
 *                          (the agents file's start-screen fields; "" and [] when absent)
 *   POST /ui/api/ask       {"session","text","agent"?,"user"?}
 *                          → a question task (id ui:<hex>, source ui, team "ui",
 *                          channel and thread_ts = session) → {"ok":true,"task_id"}
 *   POST /ui/api/feedback  {"session","answer_id","feedback":"helpful"|"not_helpful","user"?}
 *                          → a feedback task (id fb:ui-<hex>) → {"ok":true,"task_id"}
 *   GET  /ui/api/events?session=S&after=ID
 *                          → {"events":[…],"last":ID}: the entries of the stream
 *                          ui:<session> after ID (all when ID is empty), which the
 *                          worker's ui reply sink writes (worker/slack/reply.h); each
 *                          entry's fields become one object with its "id", and the
 *                          JSON-valued fields (sources, memories) are embedded.
 *
 * With UI_TOKEN unset every /ui route answers 404: the UI is off. Errors are
 * JSON {"error","reason"}: 400 bad input, 401 missing or wrong token, 404, 405,
 * 503 when Redis cannot be reached (nothing is queued then).
 *
 * Called from civetweb threads; everything a call touches is its own or
 * read-only, so calls run in parallel.
 */
#ifndef HAINK_UI_H
#define HAINK_UI_H

#include "common.h"

struct enqueue_batcher;

/* The page, NUL-terminated (generated from api/ui_page.html). */
extern const char ui_page_html[];

/* What a route needs; all borrowed. redis() returns the calling thread's connection. */
struct ui_env {
	const struct config *cfg;
	const struct agents *agents;
	struct enqueue_batcher *batcher;
	struct rds *(*redis)(void *arg, struct err *err);
	void *redis_arg;
};

struct ui_request {
	const char *method;
	const char *uri; /* the path, starting with /ui */
	const char *query;
	const char *authorization; /* the header, or NULL */
	const char *body;	   /* POST: the whole body */
	size_t body_len;
};

struct ui_reply {
	int code;
	const char *ctype; /* success: the body's content type */
	const char *error; /* failure: the error word, with reason */
	char reason[200];
};

/* Returns 1 when uri belongs to the Dev UI (/ui, /ui/…). */
int ui_route(const char *uri);

/*
 * Answers one Dev UI request: fills rp, and body on success (code 200);
 * on failure rp->error and rp->reason say why and body is left empty.
 */
void ui_handle(const struct ui_env *env, const struct ui_request *rq, struct ui_reply *rp,
	       struct buf *body);

/* Returns 1 when header is "Bearer <token>" for this token (constant time). */
int ui_authorized(const char *token, const char *header);

#endif
