/*
 * stream.c - Slack's native streams for the Slack reply sink (see stream.h).
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "queue/taskstate.h"
#include "slack/reply.h"
#include "slack/slack_api.h"
#include "slack/stream.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>

static const char *channel_of(const struct reply_sink *s)
{
	return s->t && s->t->channel ? s->t->channel : "";
}

/*
 * Set once Slack refused chat.startStream for this app (an older workspace,
 * a missing scope): SLACK_STREAMING=auto types answers out with edits from
 * then on instead of asking again for every answer.
 */
static atomic_int native_refused;

static const struct http_retry once = {1, 0, 0, 0};

void reply_slack_forget_refusal(void)
{
	atomic_store(&native_refused, 0);
}

/* The worker_ctx for calls made inside the LLM transfer (w->http is busy). */
static struct worker_ctx side_ctx(const struct reply_sink *s)
{
	struct worker_ctx side = *s->w;

	side.http = s->w->side_http;
	return side;
}

int slack_stream_wanted(const struct reply_sink *s)
{
	int mode = s->w->env->cfg->slack_streaming;

	return !s->no_stream && (mode == SLACK_STREAMING_ON ||
				 (mode == SLACK_STREAMING_AUTO && !atomic_load(&native_refused)));
}

/* One chat.*Stream call on the side seam, tried once. */
static int stream_call(const struct reply_sink *s, const char *method, json_t *body, json_t **reply,
		       struct err *err)
{
	struct worker_ctx side = side_ctx(s);
	int rc = slack_call(&side, method, body, &once, reply, err);

	json_decref(body);
	return rc;
}

/*
 * Starts the stream with the text so far, in the answer's thread (Slack asks
 * for the recipient outside a DM), and records its ts in the task state
 * before anything else: a new attempt finds and deletes it. Returns 0, 1
 * when Slack refuses streams (type out with edits instead), or -1 with err.
 */
int slack_stream_start(struct reply_sink *s, const char *markdown, struct err *err)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "channel", channel_of(s), "thread_ts",
				 s->thread_ts ? s->thread_ts : "", "markdown_text", markdown);
	json_t *reply = NULL;
	const char *ts;

	if (s->t && s->t->user && *s->t->user && s->t->team && *s->t->team) {
		json_object_set_new(body, "recipient_user_id", json_string(s->t->user));
		json_object_set_new(body, "recipient_team_id", json_string(s->t->team));
	}
	if (stream_call(s, "chat.startStream", body, &reply, err) < 0) {
		if (err_retryable(err->code))
			return -1;
		if (s->w->env->cfg->slack_streaming == SLACK_STREAMING_ON)
			return -1;
		if (!atomic_exchange(&native_refused, 1))
			log_kv(LOG_WARN,
			       "Slack refused chat.startStream: answers are typed out with edits",
			       "error", err->msg, NULL);
		err_clear(err);
		return 1;
	}
	ts = json_string_value(json_object_get(reply, "ts"));
	if (!ts || !*ts) {
		json_decref(reply);
		err_set(err, ERR_UPSTREAM, "chat.startStream answered without a ts");
		return -1;
	}
	s->stream_ts = xstrdup(ts);
	json_decref(reply);
	buf_reset(&s->streamed);
	buf_adds(&s->streamed, markdown);
	if (s->t && s->t->id) {
		const char *f[] = {"stream_ts"}, *v[] = {s->stream_ts};
		if (taskstate_set(s->w, s->t->id, 1, f, v, err) < 0) {
			/*
			 * Not recorded (Redis failed): a later attempt could not find it,
			 * so it goes now, and this answer shows itself when done.
			 */
			struct worker_ctx side = side_ctx(s);
			struct err e = {0};
			json_t *del =
			    json_pack("{s:s, s:s}", "channel", channel_of(s), "ts", s->stream_ts);
			if (slack_call(&side, "chat.delete", del, &once, NULL, &e) < 0)
				log_kv(LOG_WARN, "cannot delete an unrecorded stream", "ts",
				       s->stream_ts, "error", e.msg, NULL);
			json_decref(del);
			free(s->stream_ts);
			s->stream_ts = NULL;
			return -1;
		}
	}
	return 0;
}

/*
 * Appends what the model wrote since the last call. The stream can only
 * grow: when the text so far no longer continues what was shown (the model
 * started over after a tool call), nothing more is shown until final()
 * replaces it all. A 429 skips this turn; the next one sends the rest.
 */
int slack_stream_append(struct reply_sink *s, const char *markdown, struct err *err)
{
	const char *delta;
	json_t *body;

	if (strncmp(markdown, s->streamed.s, s->streamed.len)) {
		err_set(err, ERR_INVALID, "the answer started over; the stream waits for the end");
		return -1;
	}
	delta = markdown + s->streamed.len;
	if (!*delta)
		return 0;
	body = json_pack("{s:s, s:s, s:s}", "channel", channel_of(s), "ts", s->stream_ts,
			 "markdown_text", delta);
	if (stream_call(s, "chat.appendStream", body, NULL, err) < 0) {
		if (err->code != ERR_RATE_LIMITED)
			return -1;
		err_clear(err);
		return 0;
	}
	buf_adds(&s->streamed, delta);
	return 0;
}

/*
 * chat.stopStream on the main seam, with tail (may be NULL) as the last text;
 * 0 also when Slack says it is not streaming.
 */
int slack_stream_stop(struct worker_ctx *w, const char *channel, const char *ts, const char *tail,
		      struct err *err)
{
	json_t *body = json_pack("{s:s, s:s}", "channel", channel, "ts", ts);
	int rc;

	if (tail && *tail && strlen(tail) <= SLACK_STREAM_TEXT_MAX)
		json_object_set_new(body, "markdown_text", json_string(tail));
	rc = slack_call(w, "chat.stopStream", body, NULL, NULL, err);
	if (rc < 0 && !err_retryable(err->code) && json_object_get(body, "markdown_text")) {
		/* refused with its last text: stop it without (the edit shows all anyway) */
		err_clear(err);
		json_object_del(body, "markdown_text");
		rc = slack_call(w, "chat.stopStream", body, NULL, NULL, err);
	}
	json_decref(body);
	if (rc < 0 && !err_retryable(err->code)) {
		err_clear(err); /* stopped already (a retried final), or gone */
		rc = 0;
	}
	return rc;
}

/* Deletes a message this task no longer shows; a message already gone is fine. */
static int delete_message(struct worker_ctx *w, const char *channel, const char *ts,
			  struct err *err)
{
	json_t *body = json_pack("{s:s, s:s}", "channel", channel, "ts", ts);
	int rc = slack_call(w, "chat.delete", body, NULL, NULL, err);

	json_decref(body);
	if (rc < 0 && !err_retryable(err->code)) {
		log_kv(LOG_INFO, "message not deleted", "ts", ts, "error", err->msg, NULL);
		err_clear(err);
		rc = 0;
	}
	return rc;
}

int reply_slack_clean_up(struct worker_ctx *w, const struct task *t, const char *stream_ts,
			 const char *stale_ts, struct err *err)
{
	const char *channel = t->channel ? t->channel : "";
	const char *f[] = {"stream_ts", "stale_ts"}, *v[] = {"", ""};

	if ((!stream_ts || !*stream_ts) && (!stale_ts || !*stale_ts))
		return 0;
	if (stream_ts && *stream_ts &&
	    (slack_stream_stop(w, channel, stream_ts, NULL, err) < 0 ||
	     delete_message(w, channel, stream_ts, err) < 0))
		return -1;
	if (stale_ts && *stale_ts && delete_message(w, channel, stale_ts, err) < 0)
		return -1;
	return taskstate_set(w, t->id, 2, f, v, err);
}

/*
 * The end of final() for a streamed answer: the stream, stopped and edited
 * into the answer (blocks, sources, feedback, as any final answer), becomes
 * the task's placeholder in the task state, and the "Thinking…" message goes. A crash
 * before the record leaves stream_ts for the next attempt to delete (it
 * answers in the placeholder); after it, the stale placeholder is deleted.
 */
int slack_stream_settle(struct reply_sink *s, char *thinking_ts, struct err *err)
{
	const char *f[] = {"placeholder_ts", "stale_ts", "stream_ts"};
	const char *v[] = {s->stream_ts, thinking_ts ? thinking_ts : "", ""};

	if (s->t && s->t->id && taskstate_set(s->w, s->t->id, 3, f, v, err) < 0)
		return -1;
	if (thinking_ts && delete_message(s->w, channel_of(s), thinking_ts, err) < 0)
		log_kv(LOG_WARN, "cannot delete the placeholder", "error", err->msg, NULL);
	err_clear(err);
	return 0;
}
