/*
 * reply.c - the reply sinks (see reply.h): Slack, the Dev UI and the console.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "slack/reply.h"
#include "slack/mrkdwn.h"
#include "slack/slack_api.h"
#include "slack/assistant.h"
#include "slack/stream.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Slack shows `text` in notifications; keep it well under its limits. */
#define REPLY_FALLBACK_MAX 2900

static void sink_init(struct reply_sink *s, struct worker_ctx *w, const struct task *t,
		      const struct reply_ops *ops);

static const char *task_channel(const struct reply_sink *s)
{
	return s->t && s->t->channel ? s->t->channel : "";
}

/* --- slack ---------------------------------------------------------------- */

/*
 * The placeholder_ts of a slash command answered through its response_url
 * (the bot cannot post in the channel); kept in the task state like a ts, so
 * a redelivered attempt answers the same way.
 */
#define REPLY_VIA_RESPONSE_URL "response_url"

static int via_response_url(const struct reply_sink *s)
{
	return s->placeholder_ts && !strcmp(s->placeholder_ts, REPLY_VIA_RESPONSE_URL) && s->t &&
	       s->t->response_url && *s->t->response_url;
}

static int slack_placeholder(struct reply_sink *s, const char *text, struct err *err)
{
	char *ts = NULL;

	if (slack_post_task_message(s->w, task_channel(s), s->thread_ts, text,
				    s->t && s->t->id ? s->t->id : "", &ts, err) < 0) {
		if (!err || err->code != ERR_NOT_FOUND || !s->t || !s->t->response_url ||
		    !*s->t->response_url)
			return -1;
		log_kv(LOG_INFO, "cannot post in the channel: replying through response_url",
		       "task_id", s->t->id, "error", err->msg, NULL);
		err_clear(err);
		free(s->placeholder_ts);
		s->placeholder_ts = xstrdup(REPLY_VIA_RESPONSE_URL);
		return 0;
	}
	free(s->placeholder_ts);
	s->placeholder_ts = ts;
	if (!s->thread_ts || !*s->thread_ts) {
		/* a top-level post (/ask) starts the thread the answer lives in */
		free(s->thread_ts);
		s->thread_ts = xstrdup(ts);
	}
	return 0;
}

static int slack_find_placeholder(struct reply_sink *s, struct err *err)
{
	char *ts = NULL;
	int rc = slack_find_task_message(s->w, task_channel(s), s->thread_ts,
					 s->t && s->t->id ? s->t->id : "", &ts, err);

	if (rc == 1) {
		free(s->placeholder_ts);
		s->placeholder_ts = ts;
		if (!s->thread_ts || !*s->thread_ts) {
			free(s->thread_ts);
			s->thread_ts = xstrdup(ts);
		}
	}
	return rc;
}

static int slack_progress(struct reply_sink *s, const char *text, struct err *err)
{
	if (s->assistant && s->t) {
		/* "Searching the knowledge base…" -> "is searching the knowledge base…" */
		char *status = xasprintf("is %s", text);
		if (status[3] >= 'A' && status[3] <= 'Z')
			status[3] = (char)(status[3] - 'A' + 'a');
		assistant_status(s->w, s->t, status);
		free(status);
	}
	if (!s->placeholder_ts || via_response_url(s))
		return 0;
	return slack_update(s->w, task_channel(s), s->placeholder_ts, text, NULL, err);
}

/* Shows text/blocks in the placeholder, or posts them in the thread when there is none. */
static int slack_show(struct reply_sink *s, const char *text, json_t *blocks, struct err *err)
{
	char *ts = NULL;
	int rc;

	if (via_response_url(s))
		return slack_respond(s->w, s->t->response_url, text, blocks, err);
	if (s->placeholder_ts)
		return slack_update(s->w, task_channel(s), s->placeholder_ts, text, blocks, err);
	rc = slack_post_message(s->w, task_channel(s), s->thread_ts, text, blocks, &ts, err);
	if (rc == 0)
		s->placeholder_ts = ts; /* later edits go to the message just posted */
	return rc;
}

/*
 * The answer with its feedback control: Slack's native feedback_buttons
 * (SLACK_FEEDBACK=native) or the classic Helpful / Not helpful buttons. A
 * surface that refuses the native element (invalid_blocks), and ephemeral
 * replies through response_url, get the classic buttons.
 */
static int slack_final(struct reply_sink *s, const struct reply_answer *a, struct err *err)
{
	enum mrkdwn_footer footer =
	    s->w->env->cfg->slack_feedback == SLACK_FEEDBACK_NATIVE && !via_response_url(s)
		? MRKDWN_FOOTER_NATIVE
		: MRKDWN_FOOTER_BUTTONS;
	char *text, *thinking = NULL;
	json_t *blocks;
	int rc;

	if (s->stream_ts) {
		/*
		 * The stream becomes the answer: the text it has not shown yet ends it
		 * (when the answer continues what it showed), then it is edited like a
		 * placeholder into blocks, sources and feedback.
		 */
		const char *md = a->markdown ? a->markdown : "";
		const char *tail = !strncmp(md, s->streamed.s ? s->streamed.s : "", s->streamed.len)
				       ? md + s->streamed.len
				       : NULL;
		if (slack_stream_stop(s->w, task_channel(s), s->stream_ts, tail, err) < 0)
			return -1;
		thinking = s->placeholder_ts;
		s->placeholder_ts = xstrdup(s->stream_ts);
	}
	text = mrkdwn_fallback_text(a->markdown, REPLY_FALLBACK_MAX);
	if (!*text) {
		free(text);
		text = xstrdup("(answer)");
	}
	for (;;) {
		blocks = mrkdwn_answer_blocks(a->markdown, a->sources, a->nsources, a->answer_id,
					      footer);
		rc = slack_show(s, text, blocks, err);
		json_decref(blocks);
		if (rc == 0 || footer != MRKDWN_FOOTER_NATIVE || !err || err->code != ERR_INVALID ||
		    !strstr(err->msg, "invalid_blocks"))
			break;
		log_kv(LOG_WARN, "Slack refused the native feedback buttons; using classic ones",
		       "error", err->msg, NULL);
		err_clear(err);
		footer = MRKDWN_FOOTER_BUTTONS;
	}
	free(text);
	if (s->stream_ts && rc == 0)
		rc = slack_stream_settle(s, thinking, err);
	if (rc < 0 && thinking) {
		free(s->placeholder_ts); /* not moved: the placeholder stays this task's message */
		s->placeholder_ts = thinking;
		thinking = NULL;
	}
	free(thinking);
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

/* The answer so far, in the placeholder: its sections only (no sources or buttons yet). */
/*
 * Called from inside the LLM transfer (w->http is busy): the calls go
 * through the side seam, tried once (a failure ends the partial answers; the
 * answer still comes with final()). A native stream where Slack allows one
 * (SLACK_STREAMING auto/on), else an edit of the placeholder.
 */
static int slack_partial(struct reply_sink *s, const char *markdown, struct err *err)
{
	static const struct http_retry once = {1, 0, 0, 0};
	struct worker_ctx side;
	json_t *blocks, *body;
	char *text;
	int rc;

	if (!s->placeholder_ts || via_response_url(s))
		return 0;
	if (s->stream_ts)
		return slack_stream_append(s, markdown, err);
	if (slack_stream_wanted(s)) {
		rc = slack_stream_start(s, markdown, err);
		if (rc <= 0)
			return rc;
		s->no_stream = 1; /* refused: edits from here */
	}
	if (s->w->env->cfg->slack_streaming == SLACK_STREAMING_ON)
		return 0;
	side = *s->w;
	side.http = s->w->side_http;
	blocks = mrkdwn_answer_blocks(markdown, NULL, 0, NULL, MRKDWN_FOOTER_NONE);
	text = mrkdwn_fallback_text(markdown, REPLY_FALLBACK_MAX);
	body =
	    json_pack("{s:s, s:s, s:s, s:O}", "channel", task_channel(s), "ts", s->placeholder_ts,
		      "text", *text ? text : REPLY_THINKING, "blocks", blocks);
	rc = slack_call(&side, "chat.update", body, &once, NULL, err);
	json_decref(body);
	json_decref(blocks);
	free(text);
	return rc;
}

static const struct reply_ops slack_ops = {"slack",	slack_placeholder, slack_progress,
					   slack_final, slack_notice,	   slack_find_placeholder,
					   NULL,	slack_partial};

/* --- dev ui --------------------------------------------------------------- */

#define REPLY_UI_MAXLEN	    1000 /* entries kept per session stream (approximate trim) */
#define REPLY_UI_TTL_S	    3600 /* the stream lives an hour after its last entry */
#define REPLY_UI_PAIRS	    12
#define REPLY_UI_INPUT_MAX  600	 /* bytes of a trace step's input shown */
#define REPLY_UI_OUTPUT_MAX 1500 /* bytes of a trace step's output shown */

/*
 * Appends an entry to the session's stream ui:<channel> (the channel of a UI
 * task is its session): kind, then npairs field/value pairs of kv. Renews
 * the stream's TTL. Sets *id_out (owned) to the entry id when id_out is set.
 */
static int ui_add(struct reply_sink *s, const char *kind, size_t npairs, const char *const *kv,
		  char **id_out, struct err *err)
{
	const char *argv[8 + 2 * REPLY_UI_PAIRS];
	char *key = keys_ui_session(task_channel(s));
	char maxlen[16];
	redisReply *rep;
	int argc = 0, rc = -1;

	snprintf(maxlen, sizeof(maxlen), "%d", REPLY_UI_MAXLEN);
	argv[argc++] = "XADD";
	argv[argc++] = key;
	argv[argc++] = "MAXLEN";
	argv[argc++] = "~";
	argv[argc++] = maxlen;
	argv[argc++] = "*";
	argv[argc++] = "kind";
	argv[argc++] = kind;
	for (size_t i = 0; i < 2 * npairs && i < 2 * REPLY_UI_PAIRS; i++)
		argv[argc++] = kv[i] ? kv[i] : "";
	rep = rds_cmdv(s->w->r, err, argc, argv, NULL);
	if (!rep)
		goto out;
	if (id_out && rep->type == REDIS_REPLY_STRING)
		*id_out = xstrdup(rep->str);
	freeReplyObject(rep);
	rep = rds_cmd(s->w->r, err, "EXPIRE %s %d", key, REPLY_UI_TTL_S);
	if (!rep)
		goto out;
	freeReplyObject(rep);
	rc = 0;
out:
	free(key);
	return rc;
}

/* The task's agent, as the worker resolves it (an unknown id is the default agent). */
static const struct agent *ui_agent(const struct reply_sink *s)
{
	const struct agents *as = s->w && s->w->env ? s->w->env->agents : NULL;
	const struct agent *ag = as && s->t && s->t->agent ? agents_find(as, s->t->agent) : NULL;

	if (!ag && as && as->n)
		ag = &as->v[as->default_idx];
	return ag;
}

static const char *ui_agent_id(const struct reply_sink *s)
{
	const struct agent *ag = ui_agent(s);

	return ag ? ag->id : s->t && s->t->agent ? s->t->agent : "";
}

static const char *ui_agent_name(const struct reply_sink *s)
{
	const struct agent *ag = ui_agent(s);

	return ag && ag->name ? ag->name : ui_agent_id(s);
}

static int ui_placeholder(struct reply_sink *s, const char *text, struct err *err)
{
	const char *kv[] = {"text",	  text,
			    "task_id",	  s->t ? s->t->id : "",
			    "question",	  s->t && s->t->text ? s->t->text : "",
			    "agent",	  ui_agent_id(s),
			    "agent_name", ui_agent_name(s)};
	char *id = NULL;

	if (ui_add(s, "placeholder", 5, kv, &id, err) < 0)
		return -1;
	free(s->placeholder_ts);
	s->placeholder_ts = id ? id : xstrdup("");
	return 0;
}

static int ui_progress(struct reply_sink *s, const char *text, struct err *err)
{
	const char *kv[] = {"ref", s->placeholder_ts, "text", text};

	return ui_add(s, "progress", 2, kv, NULL, err);
}

/* The answer so far: a "partial" entry (ref, text = markdown) the page shows until "answer". */
static int ui_partial(struct reply_sink *s, const char *markdown, struct err *err)
{
	const char *kv[] = {"ref", s->placeholder_ts, "text", markdown};

	return ui_add(s, "partial", 2, kv, NULL, err);
}

static int ui_final(struct reply_sink *s, const struct reply_answer *a, struct err *err)
{
	json_t *mem = json_array();
	char *src_text = reply_sources_json(a->sources, a->nsources), *mem_text;
	int rc;

	for (size_t i = 0; i < a->nmemories; i++)
		json_array_append_new(mem, json_string(a->memories[i]));
	mem_text = json_dumps(mem, JSON_COMPACT);
	{
		const char *kv[] = {"ref",	  s->placeholder_ts, "answer_id", a->answer_id,
				    "text",	  a->markdown,	     "sources",	  src_text,
				    "memories",	  mem_text,	     "agent",	  ui_agent_id(s),
				    "agent_name", ui_agent_name(s)};
		rc = ui_add(s, "answer", 7, kv, NULL, err);
	}
	free(src_text);
	free(mem_text);
	json_decref(mem);
	return rc;
}

static int ui_notice(struct reply_sink *s, const char *text, struct err *err)
{
	/* a refused question has no placeholder: the page finds it by its task (or shows it) */
	const char *kv[] = {
	    "ref",     s->placeholder_ts,    "text",	 text,
	    "task_id", s->t ? s->t->id : "", "question", s->t && s->t->text ? s->t->text : ""};

	return ui_add(s, "notice", 4, kv, NULL, err);
}

/*
 * Appends to b an excerpt of s[0..len): at most max bytes cut on a character
 * boundary, ill-formed UTF-8 replaced (the page reads JSON), "…" when cut.
 */
static void excerpt(struct buf *b, const char *s, size_t len, size_t max)
{
	size_t n = len > max ? utf8_floor(s, len, max) : len;

	utf8_sanitize(b, s, n);
	if (n < len)
		buf_adds(b, "…");
}

static int ui_trace(struct reply_sink *s, const struct reply_step *st, struct err *err)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	char step[16], bytes[24], ms[24], pt[24], ct[24];
	const char *input = st->input ? st->input : "", *output = st->output ? st->output : "";
	const char *kv[2 * REPLY_UI_PAIRS];
	size_t n = 0;
	int rc;

	excerpt(&in, input, strlen(input), REPLY_UI_INPUT_MAX);
	excerpt(&out, output, st->output_len, REPLY_UI_OUTPUT_MAX);
	snprintf(step, sizeof(step), "%d", ++s->nsteps);
	snprintf(bytes, sizeof(bytes), "%zu", st->output_len);
	snprintf(ms, sizeof(ms), "%lld", st->ms);
	snprintf(pt, sizeof(pt), "%ld", st->prompt_tokens);
	snprintf(ct, sizeof(ct), "%ld", st->completion_tokens);
#define PAIR(f, v) (kv[n++] = (f), kv[n++] = (v))
	PAIR("ref", s->placeholder_ts);
	PAIR("step", step);
	PAIR("type", st->type);
	PAIR("name", st->name ? st->name : "");
	PAIR("input", in.s ? in.s : "");
	PAIR("output", out.s ? out.s : "");
	PAIR("output_bytes", bytes);
	PAIR("ok", st->ok ? "1" : "0");
	PAIR("ms", ms);
	PAIR("prompt_tokens", pt);
	PAIR("completion_tokens", ct);
#undef PAIR
	rc = ui_add(s, "trace", n / 2, kv, NULL, err);
	buf_release(&in);
	buf_release(&out);
	return rc;
}

static const struct reply_ops ui_ops = {"ui",	   ui_placeholder, ui_progress, ui_final,
					ui_notice, NULL,	   ui_trace,	ui_partial};

int reply_ui_feedback(struct worker_ctx *w, const struct task *t, struct err *err)
{
	struct reply_sink s;
	const char *kv[] = {"answer_id", t->answer_id, "feedback", t->feedback};
	int rc;

	sink_init(&s, w, t, &ui_ops);
	rc = ui_add(&s, "feedback", 2, kv, NULL, err);
	reply_sink_close(&s);
	return rc;
}

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

static const struct reply_ops console_ops = {
    "console", console_placeholder, console_progress, console_final, console_notice, NULL, NULL,
    NULL};

/* --- common --------------------------------------------------------------- */

static void sink_init(struct reply_sink *s, struct worker_ctx *w, const struct task *t,
		      const struct reply_ops *ops)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->w = w;
	s->t = t;
	s->thread_ts = xstrdup(t && t->thread_ts ? t->thread_ts : "");
}

const struct reply_ops *reply_slack_ops(void)
{
	return &slack_ops;
}

void reply_sink_open(struct reply_sink *s, struct worker_ctx *w, const struct task *t)
{
	const struct config *cfg = w->env->cfg;
	int slack = cfg->slack_bot_token && *cfg->slack_bot_token &&
		    (!t || !t->source || !strcmp(t->source, "slack"));

	if (t && t->source && !strcmp(t->source, "ui"))
		sink_init(s, w, t, &ui_ops);
	else
		sink_init(s, w, t, slack ? &slack_ops : &console_ops);
}

void reply_sink_open_console(struct reply_sink *s, struct worker_ctx *w, const struct task *t,
			     FILE *print)
{
	sink_init(s, w, t, &console_ops);
	s->print = print;
}

void reply_sink_close(struct reply_sink *s)
{
	free(s->stream_ts);
	buf_release(&s->streamed);
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

int reply_taken_over(const struct reply_sink *s)
{
	return s && s->w && atomic_load(&s->w->lease_lost);
}

void reply_progress(struct reply_sink *s, const char *text)
{
	struct err e = {0};

	if (!s || !s->ops || (s->last_progress && !strcmp(s->last_progress, text)) ||
	    reply_taken_over(s))
		return;
	free(s->last_progress);
	s->last_progress = xstrdup(text);
	if (s->ops->update_progress(s, text, &e) < 0)
		log_kv(LOG_WARN, "cannot show progress", "error", e.msg, NULL);
}

int reply_traces(const struct reply_sink *s)
{
	return s && s->ops && s->ops->trace;
}

int reply_streams(const struct reply_sink *s)
{
	return s && s->ops->partial && s->placeholder_ts && !s->partial_failed &&
	       s->w->env->cfg->slack_streaming != SLACK_STREAMING_OFF && !reply_taken_over(s);
}

void reply_partial(struct reply_sink *s, const char *markdown)
{
	struct err e = {0};
	int64_t now = clock_mono_ms();

	if (!reply_streams(s) || !markdown || !*markdown ||
	    now - s->partial_ms < s->w->env->cfg->slack_stream_interval_ms)
		return;
	s->partial_ms = now;
	if (s->ops->partial(s, markdown, &e) < 0) {
		/* a 429 or an edit Slack refused: the answer still comes with final() */
		s->partial_failed = 1;
		log_kv(LOG_WARN, "cannot show the answer so far", "error", e.msg, NULL);
	}
}

void reply_trace(struct reply_sink *s, const struct reply_step *st)
{
	struct err e = {0};

	if (!reply_traces(s))
		return;
	if (s->ops->trace(s, st, &e) < 0)
		log_kv(LOG_WARN, "cannot show a trace step", "error", e.msg, NULL);
}

char *reply_sources_json(const struct tool_source *src, size_t n)
{
	json_t *a = json_array();
	char *s;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:f}", "title", src[i].title, "url",
						   src[i].url, "score", src[i].score));
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}
