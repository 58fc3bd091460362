/*
 * assistant.c - Slack's assistant threads (see assistant.h).
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "slack/assistant.h"
#include "slack/slack_api.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdlib.h>

static char *thread_key(const struct task *t)
{
	return keys_assistant(t->team ? t->team : "", t->channel ? t->channel : "",
			      t->thread_ts ? t->thread_ts : "");
}

/* Records the channel the user views (may be "") and renews the record's life. */
static int remember_context(struct worker_ctx *w, const struct task *t, struct err *err)
{
	char *key = thread_key(t);
	redisReply *rep = rds_cmd(w->r, err, "HSET %s context_channel %s", key,
				  t->context_channel ? t->context_channel : "");
	int rc = rep ? 0 : -1;

	if (rep)
		freeReplyObject(rep);
	if (rc == 0) {
		rep = rds_cmd(w->r, err, "EXPIRE %s %d", key, w->env->cfg->chat_ttl_s);
		rc = rep ? 0 : -1;
		if (rep)
			freeReplyObject(rep);
	}
	free(key);
	return rc;
}

/* The routed agent's examples as suggested prompts (title = the example cut short). */
static json_t *suggested_prompts(struct worker_ctx *w, const struct task *t)
{
	const struct agent *ag = agents_find_or_default(w->env->agents, t->agent);
	json_t *prompts = json_array();

	for (size_t i = 0; ag && i < ag->nexamples && i < ASSISTANT_PROMPTS_MAX; i++) {
		char *title = utf8_cut(ag->examples[i], 60);
		json_array_append_new(
		    prompts, json_pack("{s:s, s:s}", "title", title, "message", ag->examples[i]));
		free(title);
	}
	return prompts;
}

int assistant_run(struct worker_ctx *w, const struct task *t, struct err *err)
{
	json_t *prompts;
	int rc;

	if (!t->event ||
	    (strcmp(t->event, "thread_started") && strcmp(t->event, "context_changed"))) {
		err_set(err, ERR_INVALID, "assistant task with unknown event '%s'",
			t->event ? t->event : "");
		return -1;
	}
	if (remember_context(w, t, err) < 0)
		return -1;
	if (strcmp(t->event, "thread_started"))
		return 0;
	prompts = suggested_prompts(w, t);
	rc = json_array_size(prompts)
		 ? slack_assistant_prompts(w, t->channel, t->thread_ts, prompts, err)
		 : 0;
	json_decref(prompts);
	return rc;
}

void assistant_status(struct worker_ctx *w, const struct task *t, const char *status)
{
	struct err e = {0};

	if (slack_assistant_status(w, t->channel, t->thread_ts, status, &e) < 0)
		log_kv(LOG_WARN, "cannot set the assistant thread status", "task_id", t->id,
		       "error", e.msg, NULL);
}

int assistant_question_start(struct worker_ctx *w, const struct task *t, char **viewing)
{
	char *key;
	redisReply *rep;
	struct err e = {0};
	int found = 0, first = 0;

	*viewing = NULL;
	if (!w->r || !t->channel_type || strcmp(t->channel_type, "im") || !t->thread_ts || !t->ts ||
	    !strcmp(t->thread_ts, t->ts))
		return 0; /* not a reply in a DM thread: no assistant thread */
	key = thread_key(t);
	rep = rds_cmd(w->r, &e, "HGET %s context_channel", key);
	if (rep && rep->type == REDIS_REPLY_STRING) {
		found = 1;
		if (rep->len)
			*viewing = xstrndup(rep->str, rep->len);
	}
	if (rep)
		freeReplyObject(rep);
	if (found) {
		rep = rds_cmd(w->r, &e, "HSETNX %s titled 1", key);
		first = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
		if (rep)
			freeReplyObject(rep);
	}
	if (e.code)
		log_kv(LOG_WARN, "cannot read the assistant thread", "task_id", t->id, "error",
		       e.msg, NULL);
	free(key);
	if (!found)
		return 0;
	assistant_status(w, t, "is thinking…");
	if (first && t->text) {
		char *title = utf8_cut(t->text, ASSISTANT_TITLE_MAX);
		err_clear(&e);
		if (slack_assistant_title(w, t->channel, t->thread_ts, title, &e) < 0)
			log_kv(LOG_WARN, "cannot set the assistant thread title", "task_id", t->id,
			       "error", e.msg, NULL);
		free(title);
	}
	return 1;
}
