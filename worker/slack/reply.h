/*
 * reply.h - where answers go: one interface, several sinks.
 *
 * A struct reply_sink is opened per task by reply_sink_open(), which picks
 * the sink from the configuration and the task: "ui" for tasks from the Dev
 * UI (source "ui"), "slack" when SLACK_BOT_TOKEN is set and the task came from
 * Slack, else "console" (answers logged as one JSON line each; `ask` also
 * prints them).
 *
 * The ui sink appends to the stream ui:<session> (the task's channel; TTL 1 h,
 * about 1,000 entries kept), which the API's /ui/api/events reads. Each entry
 * has a kind: "placeholder" (text, task_id, question; its entry id is the
 * placeholder's ts), "progress" (ref = placeholder id, text), "notice" (ref,
 * empty when there is no placeholder, text, task_id, question),
 * "partial" (ref, text = the answer so far, markdown, while the model writes
 * it), "answer" (ref, answer_id, text = markdown, sources and memories as JSON
 * arrays), "feedback" (answer_id, feedback), and "trace" (one step of the run,
 * see struct reply_step: ref, step = 1, 2, … per sink, type, name, input,
 * output, output_bytes, ok, ms, prompt_tokens, completion_tokens; input and
 * output are excerpts cut on a character boundary, ending in "…" when cut).
 * The placeholder and the answer also carry the agent's id and name (agent,
 * agent_name).
 *
 * Lifecycle of a question: post_placeholder() once (skipped when the task
 * state already holds a placeholder: set s->placeholder_ts before), then any
 * number of update_progress(), then final(). notice() posts a standalone
 * message in the thread (rate-limit notices) or, when a placeholder exists,
 * edits it (apologies). Progress failures are logged and ignored by callers;
 * the others return -1 with err (retryable codes for Slack 429/5xx).
 *
 * A sink belongs to one task thread; it borrows w and t for its life.
 */
#ifndef HAINK_REPLY_H
#define HAINK_REPLY_H

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include "buf.h"
#include "slack/source.h"

struct worker_ctx;
struct task;
struct err;

/* Returns owned JSON text [{"title","url","score"}…] for n sources; free with free(). */
char *reply_sources_json(const struct tool_source *src, size_t n);

/* Everything a sink needs to show an answer. */
struct reply_answer {
	const char *answer_id;
	const char *question;
	const char *markdown; /* the answer, never empty */
	const struct tool_source *sources;
	size_t nsources;
	char *const *memories; /* the long-term memories the agent was given */
	size_t nmemories;
};

/*
 * One step of a run, reported by the agent loop as it ends: a model call or a
 * tool call. All borrowed; the sink copies what it keeps.
 */
struct reply_step {
	const char *type;   /* "model" or "tool" */
	const char *name;   /* the model, or the tool */
	const char *input;  /* model: what was sent, summarised; tool: its arguments (JSON text) */
	const char *output; /* model: the reply or the tool calls asked for; tool: its result */
	size_t output_len;
	int ok; /* 0: the step failed, output says why */
	long prompt_tokens;
	long completion_tokens; /* model calls; 0 for tools */
	long long ms;
};

struct reply_sink;

struct reply_ops {
	const char *name; /* "slack", "ui", "console" */
	/* Posts "Thinking…"; sets s->placeholder_ts (and s->thread_ts for a top-level post). */
	int (*post_placeholder)(struct reply_sink *s, const char *text, struct err *err);
	/* Edits the placeholder to show progress; the text is plain. */
	int (*update_progress)(struct reply_sink *s, const char *text, struct err *err);
	/* Replaces the placeholder with the answer (blocks, sources, buttons). */
	int (*final)(struct reply_sink *s, const struct reply_answer *a, struct err *err);
	/* A short message: edits the placeholder when there is one, else posts in the thread. */
	int (*notice)(struct reply_sink *s, const char *text, struct err *err);
	/*
	 * Finds the placeholder an earlier attempt of this task posted (it crashed
	 * before recording it): 1 and s->placeholder_ts set, 0 when none, -1 with
	 * err. NULL for sinks that cannot look (their duplicates are harmless).
	 */
	int (*find_placeholder)(struct reply_sink *s, struct err *err);
	/* Shows one step of the run (the Dev UI's trace panel); NULL: the sink shows none. */
	int (*trace)(struct reply_sink *s, const struct reply_step *st, struct err *err);
	/*
	 * Shows the answer so far while the model writes it (markdown, the whole
	 * text each time; final() replaces it). NULL: the sink shows the answer
	 * only when it is done. Called through reply_partial(), which throttles.
	 */
	int (*partial)(struct reply_sink *s, const char *markdown, struct err *err);
};

struct reply_sink {
	const struct reply_ops *ops;
	struct worker_ctx *w;
	const struct task *t;
	char *placeholder_ts; /* owned; NULL until posted or restored from the task state */
	char *thread_ts;      /* owned; the thread replies go to ("" for a new top-level post) */
	char *last_progress;  /* owned; the progress text last shown (no repeated edits) */
	FILE *print;	      /* console: also print answers here (`ask`), or NULL */
	int nsteps;	      /* trace steps shown so far */
	int64_t partial_ms;   /* when the answer so far was last shown (monotonic ms) */
	int assistant;	      /* a Slack assistant thread: progress also sets its status line */
	int partial_failed;   /* a partial edit failed: show no more until final() */
	int no_stream;	      /* this answer is typed out with edits, not a native stream */
	char *stream_ts;      /* owned; the native Slack stream typing the answer, or NULL */
	struct buf streamed;  /* the markdown the stream has shown so far */
};

/* Opens the sink for t (see above). Always succeeds; release with reply_sink_close(). */
void reply_sink_open(struct reply_sink *s, struct worker_ctx *w, const struct task *t);
/* The Slack sink's operations (to tell which sink reply_sink_open() chose). */
const struct reply_ops *reply_slack_ops(void);
/* Opens the console sink explicitly (print may be NULL). */
void reply_sink_open_console(struct reply_sink *s, struct worker_ctx *w, const struct task *t,
			     FILE *print);
void reply_sink_close(struct reply_sink *s);

/*
 * Tells a Dev UI session that feedback on t->answer_id was recorded (a
 * "feedback" entry on ui:<t->channel>). Returns 0, or -1 with err (retryable).
 */
int reply_ui_feedback(struct worker_ctx *w, const struct task *t, struct err *err);

/*
 * Before a new attempt of t answers: deletes the native stream an earlier
 * attempt left (stream_ts: stopped, then deleted: its text may be half an
 * answer) and a placeholder a finished stream replaced (stale_ts), then clears
 * both from the task state. Either may be NULL. Returns 0, or -1 with err
 * when Slack or Redis failed in a way worth retrying the task for.
 */
int reply_slack_clean_up(struct worker_ctx *w, const struct task *t, const char *stream_ts,
			 const char *stale_ts, struct err *err);

/* Forgets that Slack refused native streams (SLACK_STREAMING=auto asks again). For tests. */
void reply_slack_forget_refusal(void);

/* Sets the placeholder ts (copied) restored from the task state. */
void reply_sink_set_placeholder(struct reply_sink *s, const char *ts);

/*
 * 1 when the queue runtime gave this task to another worker (after a stall):
 * the sink then edits nothing more (progress, partial answers), so a late
 * edit never overwrites the new owner's answer.
 */
int reply_taken_over(const struct reply_sink *s);
/* Shows progress unless it is the text already shown or the task was taken over; failures are
 * logged only. */
void reply_progress(struct reply_sink *s, const char *text);

/* Returns 1 when s shows a trace (worth building steps for); s may be NULL. */
int reply_traces(const struct reply_sink *s);
/* Shows one step in the trace when the sink has one; failures are logged only. */
void reply_trace(struct reply_sink *s, const struct reply_step *st);
/*
 * 1 when s shows answers as they are written (it has a partial op, has a
 * placeholder to edit, and SLACK_STREAMING is not off); s may be NULL.
 */
int reply_streams(const struct reply_sink *s);
/*
 * Shows the answer so far (markdown) when at least SLACK_STREAM_INTERVAL_MS
 * passed since the last time; failures are logged and end the partial edits.
 */
void reply_partial(struct reply_sink *s, const char *markdown);

#define REPLY_THINKING "Thinking…"

#endif
