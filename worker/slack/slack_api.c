/*
 * slack_api.c - the Slack Web API client (see slack_api.h).
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "slack/slack_api.h"
#include "form.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>

/* the metadata event type that tags a task's placeholder message */
#define SLACK_TASK_EVENT "haink_task"

static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER;
static int auth_cached;
static struct slack_identity auth_cache;

static const char *const auth_errors[] = {
    "invalid_auth",  "not_authed",    "account_inactive", "token_revoked",
    "token_expired", "no_permission", "missing_scope",	  NULL};
static const char *const upstream_errors[] = {"internal_error", "fatal_error",
					      "service_unavailable", "request_timeout", NULL};

static int in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

/* Slack's error codes are short snake_case words; anything else is not a label. */
static int label_safe(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!islower((unsigned char)s[n]) && s[n] != '_')
			return 0;
	return n > 0 && n <= 40;
}

static enum err_code slack_error_code(const char *e)
{
	if (!strcmp(e, "ratelimited") || !strcmp(e, "rate_limited"))
		return ERR_RATE_LIMITED;
	if (in_list(e, auth_errors))
		return ERR_AUTH;
	if (in_list(e, upstream_errors))
		return ERR_UPSTREAM;
	if (!strcmp(e, "not_in_channel") || !strcmp(e, "channel_not_found"))
		return ERR_NOT_FOUND; /* the bot cannot reach the channel: /ask falls back */
	return ERR_INVALID;
}

/*
 * Slack takes JSON bodies for write methods only; read methods
 * (conversations.history, conversations.replies, auth.test) want
 * application/x-www-form-urlencoded arguments, so they get a form body built
 * from the same flat object (strings as they are, numbers and booleans
 * spelled out, anything else as compact JSON).
 */
static int takes_form(const char *method)
{
	return !strncmp(method, "conversations.", 14) || !strcmp(method, "auth.test");
}

static char *form_body(json_t *body)
{
	struct buf b = BUF_INIT;
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v)
	{
		char num[32], *js = NULL;
		const char *val = num;

		if (json_is_string(v))
			val = json_string_value(v);
		else if (json_is_integer(v))
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		else if (json_is_boolean(v))
			val = json_is_true(v) ? "true" : "false";
		else
			val = js = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		form_add(&b, key, val);
		free(js);
	}
	return buf_detach(&b, NULL);
}

int slack_call(struct worker_ctx *w, const char *method, json_t *body,
	       const struct http_retry *retry, json_t **reply, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	struct http_retry def = {4, 1000, 30000, clock_mono_ms() + 90000};
	char *url = xasprintf("%s/%s", cfg->slack_api_url, method);
	char *auth =
	    xasprintf("Authorization: Bearer %s", cfg->slack_bot_token ? cfg->slack_bot_token : "");
	int form = takes_form(method);
	const char *headers[] = {form ? "Content-Type: application/x-www-form-urlencoded"
				      : "Content-Type: application/json; charset=utf-8",
				 auth, NULL};
	char *text = form ? form_body(body) : json_dumps(body, JSON_COMPACT);
	struct http_request req = {"POST", url, headers, text, strlen(text), 15000, NULL, NULL};
	struct http_response resp;
	json_t *root = NULL;
	const char *outcome = "ok", *slack_err = NULL;
	char labels[128];
	int rc = -1;

	if (reply)
		*reply = NULL;
	http_response_init(&resp);
	if (http_perform_retry(&w->http, &req, &resp, retry ? retry : &def, "slack", err) < 0) {
		outcome = err ? err_code_name(err->code) : "error";
		goto out;
	}
	root = json_loadb(resp.body.s, resp.body.len, 0, NULL);
	if (!json_is_object(root)) {
		err_set(err, ERR_PARSE, "slack %s returned a reply that is not JSON", method);
		outcome = "parse";
		goto out;
	}
	if (!json_is_true(json_object_get(root, "ok"))) {
		json_t *e = json_object_get(root, "error");
		slack_err = json_is_string(e) ? json_string_value(e) : "unknown_error";
		err_set(err, slack_error_code(slack_err), "slack %s failed: %s", method, slack_err);
		outcome = label_safe(slack_err) ? slack_err : "error";
		goto out;
	}
	if (reply) {
		*reply = root;
		root = NULL;
	}
	rc = 0;
out:
	metrics_labels(labels, sizeof(labels), 2, "method", method, "outcome", outcome);
	metrics_inc(NULL, M_SLACK_API_REQUESTS, labels, 1);
	if (rc < 0)
		log_kv(LOG_WARN, "slack api call failed", "method", method, "slack_error",
		       slack_err, "error", err ? err->msg : NULL, NULL);
	json_decref(root);
	http_response_release(&resp);
	free(text);
	free(url);
	free(auth);
	return rc;
}

int slack_respond(struct worker_ctx *w, const char *response_url, const char *text, json_t *blocks,
		  struct err *err)
{
	struct http_retry policy = {4, 1000, 30000, clock_mono_ms() + 90000};
	const char *headers[] = {"Content-Type: application/json; charset=utf-8", NULL};
	json_t *body = json_pack("{s:s, s:s, s:b}", "response_type", "ephemeral", "text",
				 text ? text : "", "replace_original", 0);
	char *json;
	struct http_request req;
	struct http_response resp;
	int rc;

	if (blocks)
		json_object_set(body, "blocks", blocks);
	json = json_dumps(body, JSON_COMPACT);
	req = (struct http_request){"POST",	  response_url, headers, json,
				    strlen(json), 15000,	NULL,	 NULL};
	http_response_init(&resp);
	rc = http_perform_retry(&w->http, &req, &resp, &policy, "slack response_url", err);
	metrics_inc(NULL, M_SLACK_API_REQUESTS,
		    rc == 0 ? "method=\"response_url\",outcome=\"ok\""
			    : "method=\"response_url\",outcome=\"error\"",
		    1);
	if (rc < 0)
		log_kv(LOG_WARN, "slack response_url post failed", "error", err ? err->msg : NULL,
		       NULL);
	http_response_release(&resp);
	free(json);
	json_decref(body);
	return rc;
}

static int post_message(struct worker_ctx *w, const char *channel, const char *thread_ts,
			const char *text, json_t *blocks, const char *task_id, char **ts_out,
			struct err *err)
{
	json_t *body =
	    json_pack("{s:s, s:s}", "channel", channel ? channel : "", "text", text ? text : "");
	json_t *reply = NULL, *ts;
	int rc = -1;

	*ts_out = NULL;
	if (thread_ts && *thread_ts)
		json_object_set_new(body, "thread_ts", json_string(thread_ts));
	if (blocks)
		json_object_set(body, "blocks", blocks);
	if (task_id)
		json_object_set_new(body, "metadata",
				    json_pack("{s:s, s:{s:s}}", "event_type", SLACK_TASK_EVENT,
					      "event_payload", "task_id", task_id));
	if (slack_call(w, "chat.postMessage", body, NULL, &reply, err) < 0)
		goto out;
	ts = json_object_get(reply, "ts");
	if (!json_is_string(ts)) {
		err_set(err, ERR_PARSE, "slack chat.postMessage reply has no ts");
		goto out;
	}
	*ts_out = xstrdup(json_string_value(ts));
	rc = 0;
out:
	json_decref(reply);
	json_decref(body);
	return rc;
}

int slack_post_message(struct worker_ctx *w, const char *channel, const char *thread_ts,
		       const char *text, json_t *blocks, char **ts_out, struct err *err)
{
	return post_message(w, channel, thread_ts, text, blocks, NULL, ts_out, err);
}

int slack_post_task_message(struct worker_ctx *w, const char *channel, const char *thread_ts,
			    const char *text, const char *task_id, char **ts_out, struct err *err)
{
	return post_message(w, channel, thread_ts, text, NULL, task_id, ts_out, err);
}

/* 1 with *ts_out when msgs (a conversations.* page) holds the message tagged task_id. */
static int page_find_task(json_t *msgs, const char *task_id, char **ts_out)
{
	for (size_t i = 0; i < json_array_size(msgs); i++) {
		json_t *m = json_array_get(msgs, i), *md = json_object_get(m, "metadata");
		const char *et = json_string_value(json_object_get(md, "event_type"));
		const char *id = json_string_value(
		    json_object_get(json_object_get(md, "event_payload"), "task_id"));
		const char *ts = json_string_value(json_object_get(m, "ts"));
		if (et && id && ts && !strcmp(et, SLACK_TASK_EVENT) && !strcmp(id, task_id)) {
			*ts_out = xstrdup(ts);
			return 1;
		}
	}
	return 0;
}

int slack_find_task_message(struct worker_ctx *w, const char *channel, const char *thread_ts,
			    const char *task_id, char **ts_out, struct err *err)
{
	int in_thread = thread_ts && *thread_ts;
	json_t *body = json_pack("{s:s, s:b, s:i}", "channel", channel ? channel : "",
				 "include_all_metadata", 1, "limit", SLACK_FIND_PAGE);
	json_t *reply = NULL;
	int rc = 0;

	*ts_out = NULL;
	if (in_thread)
		json_object_set_new(body, "ts", json_string(thread_ts));
	/*
	 * A long thread (or a busy channel) holds more than one page: follow
	 * next_cursor, a bounded number of pages (the placeholder is recent in
	 * the channel's history, which comes newest first).
	 */
	for (int page = 0; page < SLACK_FIND_PAGES && rc == 0; page++) {
		const char *next;

		json_decref(reply);
		reply = NULL;
		if (slack_call(w, in_thread ? "conversations.replies" : "conversations.history",
			       body, NULL, &reply, err) < 0) {
			rc = -1;
			break;
		}
		rc = page_find_task(json_object_get(reply, "messages"), task_id, ts_out);
		next = json_string_value(
		    json_object_get(json_object_get(reply, "response_metadata"), "next_cursor"));
		if (!next || !*next)
			break;
		json_object_set_new(body, "cursor", json_string(next));
	}
	json_decref(reply);
	json_decref(body);
	return rc;
}

/* One assistant.threads.* call on (channel, thread_ts) with one more field. */
static int assistant_call(struct worker_ctx *w, const char *method, const char *channel,
			  const char *thread_ts, const char *key, json_t *value, struct err *err)
{
	json_t *body = json_pack("{s:s, s:s, s:o}", "channel_id", channel ? channel : "",
				 "thread_ts", thread_ts ? thread_ts : "", key, value);
	int rc = slack_call(w, method, body, NULL, NULL, err);

	json_decref(body);
	return rc;
}

int slack_assistant_status(struct worker_ctx *w, const char *channel, const char *thread_ts,
			   const char *status, struct err *err)
{
	return assistant_call(w, "assistant.threads.setStatus", channel, thread_ts, "status",
			      json_string(status ? status : ""), err);
}

int slack_assistant_title(struct worker_ctx *w, const char *channel, const char *thread_ts,
			  const char *title, struct err *err)
{
	return assistant_call(w, "assistant.threads.setTitle", channel, thread_ts, "title",
			      json_string(title ? title : ""), err);
}

int slack_assistant_prompts(struct worker_ctx *w, const char *channel, const char *thread_ts,
			    json_t *prompts, struct err *err)
{
	return assistant_call(w, "assistant.threads.setSuggestedPrompts", channel, thread_ts,
			      "prompts", json_incref(prompts), err);
}

int slack_update(struct worker_ctx *w, const char *channel, const char *ts, const char *text,
		 json_t *blocks, struct err *err)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "channel", channel ? channel : "", "ts",
				 ts ? ts : "", "text", text ? text : "");
	int rc;

	json_object_set_new(body, "blocks", blocks ? json_incref(blocks) : json_array());
	rc = slack_call(w, "chat.update", body, NULL, NULL, err);
	json_decref(body);
	return rc;
}

static void copy_field(char *dst, size_t n, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	snprintf(dst, n, "%s", json_is_string(v) ? json_string_value(v) : "");
}

int slack_auth_test(struct worker_ctx *w, struct slack_identity *out, struct err *err)
{
	json_t *body, *reply = NULL;
	struct slack_identity id;
	int rc;

	pthread_mutex_lock(&auth_lock);
	if (auth_cached) {
		*out = auth_cache;
		pthread_mutex_unlock(&auth_lock);
		return 0;
	}
	pthread_mutex_unlock(&auth_lock);
	body = json_object();
	rc = slack_call(w, "auth.test", body, NULL, &reply, err);
	json_decref(body);
	if (rc < 0)
		return -1;
	memset(&id, 0, sizeof(id));
	copy_field(id.user_id, sizeof(id.user_id), reply, "user_id");
	copy_field(id.team_id, sizeof(id.team_id), reply, "team_id");
	copy_field(id.team, sizeof(id.team), reply, "team");
	copy_field(id.bot_id, sizeof(id.bot_id), reply, "bot_id");
	json_decref(reply);
	pthread_mutex_lock(&auth_lock);
	auth_cache = id;
	auth_cached = 1;
	pthread_mutex_unlock(&auth_lock);
	*out = id;
	return 0;
}

void slack_auth_forget(void)
{
	pthread_mutex_lock(&auth_lock);
	auth_cached = 0;
	memset(&auth_cache, 0, sizeof(auth_cache));
	pthread_mutex_unlock(&auth_lock);
}
