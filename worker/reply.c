/*
 * reply.c - the reply sinks (see reply.h): Slack and console.
 */
#include "common.h"
#include "wctx.h"
#include "reply.h"
#include "tools.h"
#include "mrkdwn.h"
#include "slack_api.h"

#include <jansson.h>

/* Slack shows `text` in notifications; keep it well under its limits. */
#define REPLY_FALLBACK_MAX 2900

static const char *task_channel(const struct reply_sink *s)
{
	return s->t && s->t->channel ? s->t->channel : "";
}

/* --- slack ---------------------------------------------------------------- */

static int slack_placeholder(struct reply_sink *s, const char *text, struct err *err)
{
	char *ts = NULL;

	if (slack_post_message(s->w, task_channel(s), s->thread_ts, text, NULL, &ts, err) < 0)
		return -1;
	free(s->placeholder_ts);
	s->placeholder_ts = ts;
	if (!s->thread_ts || !*s->thread_ts) {
		/* a top-level post (/ask) starts the thread the answer lives in */
		free(s->thread_ts);
		s->thread_ts = xstrdup(ts);
	}
	return 0;
}

static int slack_progress(struct reply_sink *s, const char *text, struct err *err)
{
	if (!s->placeholder_ts)
		return 0;
	return slack_update(s->w, task_channel(s), s->placeholder_ts, text, NULL, err);
}

/* Shows text/blocks in the placeholder, or posts them in the thread when there is none. */
static int slack_show(struct reply_sink *s, const char *text, json_t *blocks, struct err *err)
{
	char *ts = NULL;
	int rc;

	if (s->placeholder_ts)
		return slack_update(s->w, task_channel(s), s->placeholder_ts, text, blocks, err);
	rc = slack_post_message(s->w, task_channel(s), s->thread_ts, text, blocks, &ts, err);
	if (rc == 0)
		s->placeholder_ts = ts; /* later edits go to the message just posted */
	return rc;
}

static int slack_final(struct reply_sink *s, const struct reply_answer *a, struct err *err)
{
	json_t *blocks = mrkdwn_answer_blocks(a->markdown, a->sources, a->nsources, a->answer_id,
					      MRKDWN_FOOTER_BUTTONS);
	char *text = mrkdwn_fallback_text(a->markdown, REPLY_FALLBACK_MAX);
	int rc;

	if (!*text) {
		free(text);
		text = xstrdup("(answer)");
	}
	rc = slack_show(s, text, blocks, err);
	json_decref(blocks);
	free(text);
	return rc;
}

static int slack_notice(struct reply_sink *s, const char *text, struct err *err)
{
	json_t *blocks = json_pack("[{s:s, s:{s:s, s:s}}]", "type", "section", "text", "type",
				   "mrkdwn", "text", text);
	int rc = slack_show(s, text, blocks, err);

	json_decref(blocks);
	return rc;
}

static const struct reply_ops slack_ops = {"slack", slack_placeholder, slack_progress, slack_final,
					   slack_notice};

/* --- console -------------------------------------------------------------- */

static int console_placeholder(struct reply_sink *s, const char *text, struct err *err)
{
	(void)err;
	free(s->placeholder_ts);
	s->placeholder_ts = xasprintf("console-%lld", (long long)clock_wall_ms());
	if (!s->thread_ts || !*s->thread_ts) {
		free(s->thread_ts);
		s->thread_ts = xstrdup(s->placeholder_ts);
	}
	log_kv(LOG_DEBUG, "placeholder", "text", text, NULL);
	return 0;
}

static int console_progress(struct reply_sink *s, const char *text, struct err *err)
{
	(void)s, (void)err;
	log_kv(LOG_DEBUG, "progress", "text", text, NULL);
	return 0;
}

static int console_final(struct reply_sink *s, const struct reply_answer *a, struct err *err)
{
	json_t *src = json_array();
	char *src_text;

	(void)err;
	for (size_t i = 0; i < a->nsources; i++)
		json_array_append_new(src, json_pack("{s:s, s:s}", "title", a->sources[i].title,
						     "url", a->sources[i].url));
	src_text = json_dumps(src, JSON_COMPACT);
	log_kv(LOG_INFO, "answer", "answer_id", a->answer_id, "channel", task_channel(s),
	       "thread_ts", s->thread_ts, "question", a->question, "answer", a->markdown, "sources",
	       src_text, NULL);
	if (s->print) {
		fprintf(s->print, "%s\n", a->markdown);
		if (a->nsources) {
			fprintf(s->print, "\nSources:\n");
			for (size_t i = 0; i < a->nsources; i++)
				fprintf(s->print, "  [%zu] %s <%s>\n", i + 1, a->sources[i].title,
					a->sources[i].url);
		}
		fflush(s->print);
	}
	free(src_text);
	json_decref(src);
	return 0;
}

static int console_notice(struct reply_sink *s, const char *text, struct err *err)
{
	(void)err;
	log_kv(LOG_INFO, "notice", "channel", task_channel(s), "thread_ts", s->thread_ts, "text",
	       text, NULL);
	if (s->print) {
		fprintf(s->print, "%s\n", text);
		fflush(s->print);
	}
	return 0;
}

static const struct reply_ops console_ops = {"console", console_placeholder, console_progress,
					     console_final, console_notice};

/* --- common --------------------------------------------------------------- */

static void sink_init(struct reply_sink *s, struct wctx *w, const struct task *t,
		      const struct reply_ops *ops)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->w = w;
	s->t = t;
	s->thread_ts = xstrdup(t && t->thread_ts ? t->thread_ts : "");
}

void reply_sink_open(struct reply_sink *s, struct wctx *w, const struct task *t)
{
	const struct config *cfg = w->env->cfg;
	int slack = cfg->slack_bot_token && *cfg->slack_bot_token &&
		    (!t || !t->source || !strcmp(t->source, "slack"));

	sink_init(s, w, t, slack ? &slack_ops : &console_ops);
}

void reply_sink_open_console(struct reply_sink *s, struct wctx *w, const struct task *t,
			     FILE *print)
{
	sink_init(s, w, t, &console_ops);
	s->print = print;
}

void reply_sink_close(struct reply_sink *s)
{
	free(s->placeholder_ts);
	free(s->thread_ts);
	free(s->last_progress);
	memset(s, 0, sizeof(*s));
}

void reply_sink_set_placeholder(struct reply_sink *s, const char *ts)
{
	free(s->placeholder_ts);
	s->placeholder_ts = ts && *ts ? xstrdup(ts) : NULL;
}

void reply_progress(struct reply_sink *s, const char *text)
{
	struct err e = {0};

	if (!s || !s->ops || (s->last_progress && !strcmp(s->last_progress, text)))
		return;
	free(s->last_progress);
	s->last_progress = xstrdup(text);
	if (s->ops->update_progress(s, text, &e) < 0)
		log_kv(LOG_WARN, "cannot show progress", "error", e.msg, NULL);
}
