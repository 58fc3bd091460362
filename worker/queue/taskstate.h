/*
 * taskstate.h - the per-task idempotency record task:{D}:<task id> (hash,
 * TTL KEYS_TASK_TTL_S): placeholder_ts, answer_id, thread_ts and state.
 *
 * The answering side (answer.c) writes the placeholder ts and answer id
 * before it acts on them, so a retried, redelivered or reclaimed task edits
 * the same Slack message and never posts a second answer. States:
 * "starting" (recorded before the rate limits are counted, so a redelivery
 * never counts them twice), "running" (placeholder posted), "answered",
 * "limited" (refused by a rate limit), "failed" (given up; the apology is
 * shown). The field placeholder = "posting" is written before the placeholder
 * is posted: a redelivery that finds it without placeholder_ts looks the
 * message up (the previous attempt may have posted it and crashed before
 * recording the ts) instead of posting a second one. stream_ts names a
 * native Slack stream (chat.startStream) typing the answer out: a new attempt
 * finding it deletes it (its text may be half an answer) before answering;
 * once a stream holds the final answer it becomes placeholder_ts and the
 * "Thinking…" message it replaced is stale_ts until deleted. Thread-safe with
 * one worker_ctx per thread.
 */
#ifndef HAINK_TASKSTATE_H
#define HAINK_TASKSTATE_H

struct worker_ctx;
struct err;

#define TASKSTATE_STARTING "starting"
#define TASKSTATE_RUNNING  "running"
#define TASKSTATE_ANSWERED "answered"
#define TASKSTATE_LIMITED  "limited"
#define TASKSTATE_FAILED   "failed"
/* a feedback click stored and counted; its confirmation may still be retried */
#define TASKSTATE_RECORDED "recorded"

struct taskstate {
	char *placeholder_ts; /* NULL when absent */
	char *answer_id;
	char *thread_ts;
	char *state;
	char *placeholder; /* "posting" once a placeholder post was attempted */
	char *stream_ts;   /* a native Slack stream this task started and has not finished */
	char *stale_ts;	   /* a placeholder replaced by the finished stream, still to delete */
	int exists;	   /* 1 when the hash had any field */
};

/* Loads the record of task_id. Returns 0 (absent fields NULL) or -1 with err. */
int taskstate_load(struct worker_ctx *w, const char *task_id, struct taskstate *out,
		   struct err *err);
void taskstate_release(struct taskstate *s);

/*
 * Sets n field/value pairs (fields[i], values[i]) of task_id's record and
 * refreshes its TTL, in one MULTI/EXEC. Returns 0 or -1 with err.
 */
int taskstate_set(struct worker_ctx *w, const char *task_id, int n, const char *const *fields,
		  const char *const *values, struct err *err);

/* Returns 1 when state is final (answered, limited, failed): the task is only acked. */
int taskstate_is_final(const char *state);

#endif
