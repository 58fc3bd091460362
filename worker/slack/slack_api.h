/*
 * slack_api.h - the Slack Web API calls the worker makes: chat.postMessage,
 * chat.update and auth.test.
 *
 * Requests go to {SLACK_API_URL}/<method> through w->http as JSON
 * (Content-Type: application/json; charset=utf-8) with Authorization:
 * Bearer SLACK_BOT_TOKEN. HTTP 429 waits Retry-After and retries (bounded);
 * an ok:false reply becomes an error carrying Slack's error code in its
 * message and is logged: ratelimited -> ERR_RATE_LIMITED (retryable),
 * invalid_auth / not_authed / account_inactive / token_revoked -> ERR_AUTH,
 * internal_error / fatal_error / service_unavailable / request_timeout ->
 * ERR_UPSTREAM, anything else (channel_not_found, invalid_blocks, …) ->
 * ERR_INVALID. Each call counts haink_slack_api_requests_total{method,outcome}.
 * Thread-safe with one worker_ctx per thread; the auth.test cache is process-wide
 * under a mutex.
 */
#ifndef HAINK_SLACK_API_H
#define HAINK_SLACK_API_H

#include <jansson.h>

struct worker_ctx;
struct err;
struct http_retry;

/*
 * Calls method with body (borrowed JSON object). Returns 0 with *reply
 * (owned, json_decref; reply may be NULL) holding Slack's ok:true answer, or
 * -1 with err as above. retry NULL: up to 4 tries, one wait <= 30 s.
 */
int slack_call(struct worker_ctx *w, const char *method, json_t *body,
	       const struct http_retry *retry, json_t **reply, struct err *err);

/*
 * Posts text/blocks (borrowed, may be NULL) to a slash command's response_url
 * as an ephemeral reply (the fallback when the bot cannot post in the
 * channel: chat.postMessage answered not_in_channel / channel_not_found, which
 * slack_call() reports as ERR_NOT_FOUND). Returns 0 on a 2xx, or -1 with err
 * (retryable for transport failures, 429 and 5xx).
 */
int slack_respond(struct worker_ctx *w, const char *response_url, const char *text, json_t *blocks,
		  struct err *err);

/*
 * Posts a message in channel (in thread_ts's thread unless NULL or "").
 * text is the notification fallback; blocks (borrowed) may be NULL.
 * Returns 0 with *ts_out (owned, free()) the new message's ts, or -1.
 */
int slack_post_message(struct worker_ctx *w, const char *channel, const char *thread_ts,
		       const char *text, json_t *blocks, char **ts_out, struct err *err);

/*
 * chat.postMessage like slack_post_message(), tagged with message metadata
 * {"event_type":"haink_task","event_payload":{"task_id":task_id}} so that
 * slack_find_task_message() can find it again.
 */
int slack_post_task_message(struct worker_ctx *w, const char *channel, const char *thread_ts,
			    const char *text, const char *task_id, char **ts_out, struct err *err);

/* Pages of SLACK_FIND_PAGE messages slack_find_task_message() reads at most. */
#define SLACK_FIND_PAGE	 200
#define SLACK_FIND_PAGES 10

/*
 * Looks for this app's message tagged with task_id: in the thread thread_ts
 * (conversations.replies), or among the channel's latest messages when
 * thread_ts is empty (conversations.history), with include_all_metadata,
 * following next_cursor for up to SLACK_FIND_PAGES pages.
 * Returns 1 with *ts_out (owned) when found, 0 when not, -1 with err (a
 * missing history scope is ERR_AUTH: the caller may then post anew).
 */
int slack_find_task_message(struct worker_ctx *w, const char *channel, const char *thread_ts,
			    const char *task_id, char **ts_out, struct err *err);

/*
 * Slack's assistant-thread methods (the AI app split view), thread =
 * (channel, thread_ts): assistant.threads.setStatus (status text such as
 * "is searching the knowledge base…"; "" clears it), setTitle, and
 * setSuggestedPrompts (prompts: a borrowed array of {"title","message"}, 1
 * to 4). Each returns 0, or -1 with err (retryable codes for 429/5xx).
 */
int slack_assistant_status(struct worker_ctx *w, const char *channel, const char *thread_ts,
			   const char *status, struct err *err);
int slack_assistant_title(struct worker_ctx *w, const char *channel, const char *thread_ts,
			  const char *title, struct err *err);
int slack_assistant_prompts(struct worker_ctx *w, const char *channel, const char *thread_ts,
			    json_t *prompts, struct err *err);

/*
 * Replaces the message (channel, ts) with text and blocks (borrowed; NULL
 * sends "blocks": [] so earlier blocks are removed). Returns 0 or -1.
 */
int slack_update(struct worker_ctx *w, const char *channel, const char *ts, const char *text,
		 json_t *blocks, struct err *err);

struct slack_identity {
	char user_id[32];
	char team_id[32];
	char team[128];
	char bot_id[32];
};

/*
 * auth.test, answered from a process-wide cache after the first success.
 * Returns 0 with *out filled, or -1 with err (nothing cached).
 */
int slack_auth_test(struct worker_ctx *w, struct slack_identity *out, struct err *err);

/* Forgets the cached auth.test answer (tests). */
void slack_auth_forget(void);

#endif
