/*
 * answer.c - handler_run() / handler_give_up() for question and feedback
 * tasks (see answer.h and handler.h).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"
#include "jfield.h"
#include "queue/worker_ctx.h"
#include "agent/answer.h"
#include "agent/agent.h"
#include "slack/assistant.h"
#include "agent/convo.h"
#include "queue/daily.h"
#include "slack/mrkdwn.h"
#include "agent/ratelimit.h"
#include "slack/reply.h"
#include "slack/slack_api.h"
#include "queue/taskstate.h"

#include <jansson.h>
#include <stdlib.h>

static const char *s_or(const char *s, const char *def)
{
	return s ? s : def;
}

static char *tools_csv(const struct tool_trace *tr)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < tr->ntools; i++) {
		if (i)
			buf_addch(&b, ',');
		buf_adds(&b, tr->tools_used[i]);
	}
	return buf_detach(&b, NULL);
}

/* Fills trace's sources from the JSON stored with an answer. */
static void sources_parse(const char *text, struct tool_trace *tr)
{
	json_t *a = text ? json_loads(text, 0, NULL) : NULL, *it;
	size_t i;

	json_array_foreach(a, i, it)
	{
		const char *url = jfield_str(it, "url", NULL);
		if (url)
			tool_trace_add_source(tr, jfield_str(it, "title", NULL), url,
					      jfield_num(it, "score", 0));
	}
	json_decref(a);
}

/* KEYS: answer:<id>. ARGV: ttl seconds, field, value, ... */
static const char store_lua[] = "redis.call('HSET', KEYS[1], unpack(ARGV, 2))\n"
				"return redis.call('EXPIRE', KEYS[1], ARGV[1])\n";
static struct rds_script store_script;

static void store_script_setup(void)
{
	rds_script_init(&store_script, store_lua);
}

int answer_store(struct worker_ctx *w, const char *answer_id, const struct task *t,
		 const char *thread_ts, const struct agent_run *r, long long latency_ms,
		 struct err *err)
{
	char *key = keys_answer(answer_id), *tools = tools_csv(&r->trace);
	char *src = reply_sources_json(r->trace.sources, r->trace.nsources);
	char pt[24], ct[24], lat[24], created[24];
	const char *argv[32];
	int argc = 0, rc = -1;
	redisReply *rep;

	snprintf(pt, sizeof(pt), "%ld", r->prompt_tokens);
	snprintf(ct, sizeof(ct), "%ld", r->completion_tokens);
	snprintf(lat, sizeof(lat), "%lld", latency_ms);
	snprintf(created, sizeof(created), "%lld", (long long)clock_wall_ms());
#define FIELD(f, v) (argv[argc++] = (f), argv[argc++] = (v))
	argv[argc++] = "HSET";
	argv[argc++] = key;
	FIELD("question", s_or(r->question, ""));
	FIELD("answer", s_or(r->answer, ""));
	FIELD("user", s_or(t->user, ""));
	FIELD("team", s_or(t->team, ""));
	FIELD("channel", s_or(t->channel, ""));
	FIELD("thread_ts", s_or(thread_ts, ""));
	FIELD("agent", r->agent ? r->agent->id : s_or(t->agent, ""));
	FIELD("model", s_or(r->model, ""));
	FIELD("prompt_tokens", pt);
	FIELD("completion_tokens", ct);
	FIELD("tools", tools);
	FIELD("latency_ms", lat);
	FIELD("created_ms", created);
	FIELD("sources", src);
	FIELD("task_id", s_or(t->id, ""));
#undef FIELD
	if (w->env->cfg->answer_ttl_s > 0) {
		/* one script: the record never exists without its expiry */
		static pthread_once_t once = PTHREAD_ONCE_INIT;
		char ttl[24];
		snprintf(ttl, sizeof(ttl), "%d", w->env->cfg->answer_ttl_s);
		pthread_once(&once, store_script_setup);
		argv[0] = key; /* KEYS[1], then ARGV: the ttl and the field/value pairs */
		argv[1] = ttl;
		rep = rds_eval(w->r, &store_script, 1, argc, argv, NULL, err);
	} else {
		rep = rds_cmdv(w->r, err, argc, argv, NULL);
	}
	if (rep) {
		freeReplyObject(rep);
		rc = 0;
	}
	free(key);
	free(tools);
	free(src);
	return rc;
}

static const struct agent *task_agent(struct worker_ctx *w, const struct task *t)
{
	return agents_find_or_default(w->env->agents, t->agent);
}

/*
 * Counts the question against the thread and user limits, once per task id
 * (a redelivery gets the counts, so the verdict, its first delivery got).
 * Returns 1 when it is over one (with *notice set when this is the first
 * refusal of the window), 0 when it may be answered, -1 with err on a Redis
 * failure.
 */
static int over_limit(struct worker_ctx *w, const struct task *t, int *notice, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	long long n = 0;
	char *key;
	int rc;

	*notice = 0;
	/* a slash command has no thread yet: only the user limit applies */
	if (cfg->answers_per_thread_hour > 0 && t->thread_ts && *t->thread_ts) {
		key = keys_rl_thread(s_or(t->team, ""), s_or(t->channel, ""), t->thread_ts);
		rc = ratelimit_hit_once(w->r, key, RATELIMIT_WINDOW_S, t->id, &n, err);
		free(key);
		if (rc < 0)
			return -1;
		if (n > cfg->answers_per_thread_hour) {
			metrics_inc(NULL, M_RATE_LIMITED, "kind=\"thread\"", 1);
			*notice = n == cfg->answers_per_thread_hour + 1;
			return 1;
		}
	}
	if (cfg->answers_per_user_hour > 0 && t->user && *t->user) {
		key = keys_rl_user(s_or(t->team, ""), t->user);
		rc = ratelimit_hit_once(w->r, key, RATELIMIT_WINDOW_S, t->id, &n, err);
		free(key);
		if (rc < 0)
			return -1;
		if (n > cfg->answers_per_user_hour) {
			metrics_inc(NULL, M_RATE_LIMITED, "kind=\"user\"", 1);
			*notice = n == cfg->answers_per_user_hour + 1;
			return 1;
		}
	}
	return 0;
}

static int set_state(struct worker_ctx *w, const struct task *t, const char *state, struct err *err)
{
	const char *f[] = {"state"}, *v[] = {state};
	return taskstate_set(w, t->id, 1, f, v, err);
}

static int refuse(struct worker_ctx *w, const struct task *t, int notice, struct err *err)
{
	struct reply_sink sink;
	struct err e = {0};

	if (set_state(w, t, TASKSTATE_LIMITED, err) < 0)
		return -1;
	daily_incr(w->r, "rate_limited", 1);
	log_kv(LOG_INFO, "question refused by a rate limit", "task_id", t->id, "notice",
	       notice ? "yes" : "no", NULL);
	if (!notice)
		return 0;
	reply_sink_open(&sink, w, t);
	if (sink.ops->notice(&sink, ANSWER_LIMIT_NOTICE, &e) < 0)
		log_kv(LOG_WARN, "cannot post the rate limit notice", "error", e.msg, NULL);
	reply_sink_close(&sink);
	return 0;
}

/* Loads a stored answer (a previous attempt got this far): 1 found, 0 not, -1 error. */
static int load_stored(struct worker_ctx *w, const char *answer_id, struct agent_run *r,
		       struct err *err)
{
	char *key = keys_answer(answer_id);
	redisReply *rep = rds_cmd(w->r, err, "HMGET %s answer sources", key);
	int rc = -1;

	free(key);
	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
		rc = 0;
		if (rep->element[0]->type == REDIS_REPLY_STRING && rep->element[0]->len) {
			r->answer = xstrdup(rep->element[0]->str);
			if (rep->element[1]->type == REDIS_REPLY_STRING)
				sources_parse(rep->element[1]->str, &r->trace);
			rc = 1;
		}
	} else {
		err_set(err, ERR_REDIS, "HMGET of a stored answer returned no array");
	}
	freeReplyObject(rep);
	return rc;
}

/* Fails when the queue runtime says another worker took this task over: post nothing then. */
static int lease_check(struct worker_ctx *w, struct err *err)
{
	if (!atomic_load(&w->lease_lost))
		return 0;
	err_set(err, ERR_TIMEOUT, "another worker took this task over; not posting");
	return -1;
}

/*
 * Long on purpose: the idempotent steps of a question in the order the
 * redelivery rules rely on (state record, rate limits, placeholder intent,
 * placeholder, agent, answer, outcome), each reading what the one before left
 * in the task state; apart, that order would be spread over several functions.
 */
static int question_run(struct worker_ctx *w, struct task *t, struct err *err)
{
	int64_t t0 = clock_mono_ms();
	struct taskstate st;
	struct reply_sink sink;
	struct agent_run run;
	struct reply_answer ans;
	struct err e = {0};
	char answer_id[RANDID_HEX_LEN + 1];
	int rc = -1, notice = 0, stored, lim;
	long long latency;

	if (!t->text || !*t->text) {
		log_kv(LOG_INFO, "question without text ignored", "task_id", t->id, NULL);
		return 0;
	}
	if (taskstate_load(w, t->id, &st, err) < 0)
		return -1;
	if (taskstate_is_final(st.state)) {
		log_kv(LOG_INFO, "task already finished", "task_id", t->id, "state", st.state,
		       NULL);
		taskstate_release(&st);
		return 0;
	}
	snprintf(answer_id, sizeof(answer_id), "%s", st.answer_id ? st.answer_id : "");
	if (!*answer_id)
		randid_hex(answer_id);
	if (!st.exists) {
		/* the record (and its answer id) first: every later step finds it */
		const char *f[] = {"state", "answer_id"}, *v[] = {TASKSTATE_STARTING, answer_id};
		if (taskstate_set(w, t->id, 2, f, v, err) < 0) {
			taskstate_release(&st);
			return -1;
		}
	}
	if (!st.placeholder && !st.placeholder_ts) {
		/*
		 * Not past the limits yet (nothing posted): count, once per task id,
		 * so an attempt that crashed after counting gets its verdict again
		 * (refused stays refused), and one that crashed before is counted.
		 */
		lim = over_limit(w, t, &notice, err);
		if (lim != 0) {
			taskstate_release(&st);
			return lim < 0 ? -1 : refuse(w, t, notice, err);
		}
	}
	reply_sink_open(&sink, w, t);
	agent_run_init(&run);
	if (st.thread_ts) {
		free(sink.thread_ts);
		sink.thread_ts = xstrdup(st.thread_ts);
	}
	reply_sink_set_placeholder(&sink, st.placeholder_ts);
	/* an earlier attempt's half-typed stream, or the placeholder its finished one replaced */
	if (sink.ops == reply_slack_ops() &&
	    reply_slack_clean_up(w, t, st.stream_ts, st.stale_ts, err) < 0)
		goto out;
	if (!sink.placeholder_ts && st.placeholder && sink.ops->find_placeholder) {
		/* an earlier attempt began posting and did not record the ts: look first */
		int found = sink.ops->find_placeholder(&sink, &e);
		if (found < 0 && err_retryable(e.code)) {
			*err = e;
			goto out;
		}
		if (found < 0)
			log_kv(LOG_WARN,
			       "cannot look for an earlier placeholder; posting a new one",
			       "task_id", t->id, "error", e.msg, NULL);
		err_clear(&e);
	}
	if (!sink.placeholder_ts) {
		const char *f[] = {"placeholder", "answer_id", "state"};
		const char *v[] = {"posting", answer_id, TASKSTATE_RUNNING};

		/* intent first, so a crash between the post and the record is found again */
		if (taskstate_set(w, t->id, 3, f, v, err) < 0 || lease_check(w, err) < 0 ||
		    sink.ops->post_placeholder(&sink, REPLY_THINKING, err) < 0)
			goto out;
	}
	if (!st.placeholder_ts && sink.placeholder_ts) {
		const char *f[] = {"placeholder_ts", "thread_ts", "answer_id", "state"};
		const char *v[] = {sink.placeholder_ts, sink.thread_ts, answer_id,
				   TASKSTATE_RUNNING};
		if (taskstate_set(w, t->id, 4, f, v, err) < 0)
			goto out;
	}
	if (sink.ops == reply_slack_ops() && assistant_question_start(w, t, &run.viewing))
		sink.assistant = 1; /* progress also goes to the thread's status line */
	run.agent = task_agent(w, t);
	run.question = t->text;
	run.scope =
	    (struct tool_scope){w->env->cfg->app_id, s_or(t->team, ""), s_or(t->channel, ""),
				s_or(t->user, ""),   sink.thread_ts,	run.agent};
	run.sink = &sink;
	/*
	 * Only an earlier attempt can have stored an answer, and it did so under
	 * the answer_id it first saved in the task state; a fresh id has none, so
	 * skip the lookup (one Redis round trip per new question).
	 */
	stored = st.answer_id ? load_stored(w, answer_id, &run, err) : 0;
	if (stored < 0)
		goto out;
	if (!stored) {
		if (agent_answer(w, &run, err) < 0)
			goto out;
		latency = t->enqueued_ms > 0 ? (long long)(clock_wall_ms() - t->enqueued_ms)
					     : (long long)(clock_mono_ms() - t0);
		if (answer_store(w, answer_id, t, sink.thread_ts, &run, latency, err) < 0)
			goto out;
		{
			/* both counters in one round trip */
			const char *tf[] = {"llm_prompt_tokens", "llm_completion_tokens"};
			const long long tn[] = {run.prompt_tokens, run.completion_tokens};
			daily_incrv(w->r, clock_wall_ms(), 2, tf, tn, NULL);
		}
	} else {
		log_kv(LOG_INFO, "showing the answer stored by an earlier attempt", "task_id",
		       t->id, "answer_id", answer_id, NULL);
	}
	ans = (struct reply_answer){answer_id,		t->text,
				    run.answer,		run.trace.sources,
				    run.trace.nsources, run.trace.memories,
				    run.trace.nmemories};
	if (lease_check(w, err) < 0 || sink.ops->final(&sink, &ans, err) < 0)
		goto out;
	if (set_state(w, t, TASKSTATE_ANSWERED, err) < 0)
		goto out;
	if (!stored && convo_save_turn(w, &run.scope, t->text, run.turn, run.answer, &e) < 0)
		log_kv(LOG_WARN, "cannot save the turn to conversation memory", "error", e.msg,
		       NULL);
	rc = 0;
out:
	if (sink.assistant)
		assistant_status(w, t, ""); /* the status line ends with the answer (or the try) */
	agent_run_release(&run);
	reply_sink_close(&sink);
	taskstate_release(&st);
	return rc;
}

/*
 * Long on purpose: the steps of a feedback click in order (find the answer,
 * record once, count once, confirm), each guarded by what the task state says
 * an earlier attempt already did.
 */
static int feedback_run(struct worker_ctx *w, struct task *t, struct err *err)
{
	struct taskstate st = {0};
	const char *fb = t->feedback;
	char *key = NULL, *text = NULL;
	char now[24], labels[64], field[40];
	struct tool_trace tr;
	json_t *blocks = NULL;
	redisReply *rep = NULL;
	struct err e = {0};
	int rc = -1;

	tool_trace_init(&tr);
	if (!fb || (strcmp(fb, "helpful") && strcmp(fb, "not_helpful")) || !t->answer_id ||
	    !*t->answer_id) {
		log_kv(LOG_WARN, "feedback task without a valid answer id or value ignored",
		       "task_id", t->id, NULL);
		rc = 0;
		goto out;
	}
	key = keys_answer(t->answer_id);
	rep = rds_cmd(w->r, err, "HMGET %s answer sources team", key);
	if (!rep)
		goto out;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING) {
		log_kv(LOG_WARN, "feedback for an unknown answer ignored", "answer_id",
		       t->answer_id, NULL);
		rc = 0;
		goto out;
	}
	{
		/* Dev UI feedback only on Dev UI answers, Slack feedback only on Slack ones */
		const char *ateam =
		    rep->element[2]->type == REDIS_REPLY_STRING ? rep->element[2]->str : "";
		int from_ui = t->source && !strcmp(t->source, "ui");
		if (from_ui != !strcmp(ateam, "ui")) {
			log_kv(LOG_WARN, "feedback from another surface than the answer's ignored",
			       "answer_id", t->answer_id, "source", s_or(t->source, "slack"), NULL);
			rc = 0;
			goto out;
		}
	}
	text = xstrdup(rep->element[0]->str);
	if (rep->element[1]->type == REDIS_REPLY_STRING)
		sources_parse(rep->element[1]->str, &tr);
	freeReplyObject(rep);
	rep = NULL;
	if (taskstate_load(w, t->id, &st, err) < 0)
		goto out;
	if (taskstate_is_final(st.state)) {
		rc = 0; /* this click was handled completely before */
		goto out;
	}
	if (!st.state || strcmp(st.state, TASKSTATE_RECORDED)) {
		/*
		 * Record and count the click once: a retry (the Slack confirmation
		 * failed) finds the state "recorded" and only confirms again.
		 */
		const char *f[] = {"state"}, *v[] = {TASKSTATE_RECORDED};
		snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
		rep = rds_cmd(w->r, err, "HSET %s feedback %s feedback_user %s feedback_ms %s", key,
			      fb, s_or(t->user, ""), now);
		if (!rep || taskstate_set(w, t->id, 1, f, v, err) < 0)
			goto out;
		metrics_labels(labels, sizeof(labels), 1, "feedback", fb);
		metrics_inc(NULL, M_FEEDBACK, labels, 1);
		snprintf(field, sizeof(field), "feedback_%s", fb);
		daily_incr(w->r, field, 1);
	}
	rc = 0;
	if (t->source && !strcmp(t->source, "ui")) {
		/* the page shows its thanks when this arrives; retried like the rest */
		if (reply_ui_feedback(w, t, &e) < 0) {
			log_kv(LOG_WARN, "cannot confirm the feedback to the dev ui", "error",
			       e.msg, NULL);
			if (err)
				*err = e;
			rc = -1;
		}
	} else if (w->env->cfg->slack_bot_token && *w->env->cfg->slack_bot_token && t->channel &&
		   *t->channel && t->ts && *t->ts && (!t->source || !strcmp(t->source, "slack"))) {
		char *fallback = mrkdwn_fallback_text(text, 2900);

		blocks = mrkdwn_answer_blocks(text, tr.sources, tr.nsources, t->answer_id,
					      MRKDWN_FOOTER_THANKS);
		if (slack_update(w, t->channel, t->ts, *fallback ? fallback : "(answer)", blocks,
				 &e) < 0) {
			log_kv(LOG_WARN, "cannot thank for the feedback in Slack", "error", e.msg,
			       NULL);
			if (err_retryable(e.code)) {
				if (err)
					*err = e;
				rc = -1;
			}
		}
		free(fallback);
	}
	if (rc == 0) {
		struct err e2 = {0};
		if (set_state(w, t, TASKSTATE_ANSWERED, &e2) < 0)
			log_kv(LOG_DEBUG, "feedback task state not finalised", "error", e2.msg,
			       NULL);
	}
out:
	if (rep)
		freeReplyObject(rep);
	taskstate_release(&st);
	json_decref(blocks);
	tool_trace_release(&tr);
	free(text);
	free(key);
	return rc;
}

int handler_run(struct worker_ctx *w, struct task *t, struct err *err)
{
	if (t->type == TASK_FEEDBACK)
		return feedback_run(w, t, err);
	if (t->type == TASK_ASSISTANT)
		return assistant_run(w, t, err);
	return question_run(w, t, err);
}

void handler_give_up(struct worker_ctx *w, const struct task *t, const struct err *why)
{
	struct taskstate st;
	struct reply_sink sink;
	struct err e = {0};

	log_kv(LOG_WARN, "giving up on task", "task_id", t->id, "type", task_type_name(t->type),
	       "error", why ? why->msg : NULL, NULL);
	if (t->type != TASK_QUESTION)
		return;
	if (taskstate_load(w, t->id, &st, &e) < 0) {
		log_kv(LOG_WARN, "cannot read the task state", "error", e.msg, NULL);
		memset(&st, 0, sizeof(st));
	}
	if (taskstate_is_final(st.state)) {
		taskstate_release(&st);
		return;
	}
	reply_sink_open(&sink, w, t);
	if (st.thread_ts) {
		free(sink.thread_ts);
		sink.thread_ts = xstrdup(st.thread_ts);
	}
	reply_sink_set_placeholder(&sink, st.placeholder_ts);
	err_clear(&e);
	if (sink.ops == reply_slack_ops() &&
	    reply_slack_clean_up(w, t, st.stream_ts, st.stale_ts, &e) < 0)
		log_kv(LOG_WARN, "cannot delete a half-typed answer", "error", e.msg, NULL);
	err_clear(&e);
	/* an attempt that crashed while posting may have left its placeholder: apologise there */
	if (!sink.placeholder_ts && st.placeholder && sink.ops->find_placeholder &&
	    sink.ops->find_placeholder(&sink, &e) < 0)
		log_kv(LOG_WARN, "cannot look for an earlier placeholder", "error", e.msg, NULL);
	err_clear(&e);
	if (sink.ops->notice(&sink, ANSWER_APOLOGY, &e) < 0)
		log_kv(LOG_WARN, "cannot post the apology", "error", e.msg, NULL);
	err_clear(&e);
	{
		/*
		 * Record the message that shows the apology as the placeholder: a
		 * `dlq replay` then edits it into the answer instead of posting another.
		 */
		const char *thread =
		    sink.thread_ts && *sink.thread_ts ? sink.thread_ts : sink.placeholder_ts;
		const char *f[] = {"state", "placeholder_ts", "thread_ts"};
		const char *v[] = {TASKSTATE_FAILED, sink.placeholder_ts, thread};
		int nf =
		    !st.placeholder_ts && sink.placeholder_ts && !strcmp(sink.ops->name, "slack")
			? 3
			: 1;
		if (taskstate_set(w, t->id, nf, f, v, &e) < 0)
			log_kv(LOG_WARN, "cannot mark the task failed", "error", e.msg, NULL);
	}
	reply_sink_close(&sink);
	taskstate_release(&st);
}
