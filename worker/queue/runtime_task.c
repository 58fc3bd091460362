/*
 * runtime_task.c - one stream entry on a task thread: decode, run the
 * handler, and record the outcome (XACK, a scheduled retry, or a dead
 * letter), retrying that write through a Redis blip. See runtime.h.
 */
#include "common.h"
#include "queue/runtime_int.h"
#include "queue/daily.h"
#include "queue/dlq.h"
#include "queue/retry.h"
#include "queue/runtime_stream.h"

#include <limits.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* --- finishing a task ----------------------------------------------------- */

enum finish { FIN_ACK, FIN_RETRY, FIN_DEAD };

struct finish_args {
	enum finish kind;
	const char *id;
	const struct retry_fields *f;
	const char *member; /* FIN_RETRY */
	size_t member_len;
	int64_t due_ms;
	const char *error; /* FIN_DEAD */
};

static int finish_once(struct task_thread *tt, const struct finish_args *a, struct err *e)
{
	struct runtime *rt = tt->rt;
	redisReply *rep;

	switch (a->kind) {
	case FIN_ACK:
		rep = rds_cmd(tt->w.r, e, "XACK %s %s %s", rt->stream, KEYS_GROUP, a->id);
		if (!rep)
			return -1;
		freeReplyObject(rep);
		return 0;
	case FIN_RETRY:
		return retry_schedule(tt->w.r, rt->cfg->docket_name, a->id, a->member,
				      a->member_len, a->due_ms, e);
	case FIN_DEAD:
		return dlq_add(tt->w.r, rt->cfg->docket_name, a->id, a->f, a->error,
			       clock_wall_ms(), e);
	}
	return -1;
}

/*
 * Writes the task's outcome, retrying a short while through a Redis blip.
 * If it still fails the entry stays pending and is reclaimed later; the
 * handler's idempotency makes the second run harmless.
 */
static int finish(struct task_thread *tt, const struct finish_args *a)
{
	struct runtime *rt = tt->rt;
	int64_t end = clock_mono_ms() + RT_FINISH_WINDOW_MS;
	int backoff = RT_BACKOFF_MIN_MS;
	struct err e = {0};

	for (;;) {
		if (finish_once(tt, a, &e) == 0) {
			runtime_note_ok(rt);
			return 0;
		}
		runtime_note_failure(rt, &e);
		if (clock_mono_ms() + backoff > end)
			break;
		clock_sleep_ms(backoff);
		backoff = backoff * 2 > RT_BACKOFF_MAX_MS ? RT_BACKOFF_MAX_MS : backoff * 2;
	}
	log_kv(LOG_ERROR, "cannot record task outcome; it stays pending for redelivery", "entry",
	       a->id, "error", e.msg, NULL);
	return -1;
}

static void rollup(struct task_thread *tt, const char *field, long long by, const char *field2,
		   long long by2)
{
	const char *fields[2] = {field, field2};
	long long bys[2] = {by, by2};
	struct err e = {0};

	if (daily_incrv(tt->w.r, clock_wall_ms(), field2 ? 2 : 1, fields, bys, &e) < 0)
		log_kv(LOG_DEBUG, "daily rollup not written", "error", e.msg, NULL);
}

static void count_outcome(const char *outcome)
{
	char lbl[48];

	metrics_inc(NULL, M_TASKS, metrics_labels(lbl, sizeof(lbl), 1, "outcome", outcome), 1);
}

static void dead_letter(struct task_thread *tt, const char *id, const struct retry_fields *f,
			const struct task *t, const struct err *why)
{
	struct runtime *rt = tt->rt;
	char reason[300];
	struct finish_args a = {.kind = FIN_DEAD, .id = id, .f = f, .error = reason};

	snprintf(reason, sizeof(reason), "%s: %s", err_code_name(why->code),
		 why->msg[0] ? why->msg : "no reason given");
	if (finish(tt, &a) < 0)
		return;
	atomic_fetch_add(&rt->dead, 1);
	metrics_inc(NULL, M_TASKS_DEAD, NULL, 1);
	count_outcome("dead");
	rollup(tt, "tasks_dead", 1, NULL, 0);
	log_kv(LOG_ERROR, "task dead-lettered", "entry", id, "error", reason, NULL);
	/* the apology only once the dead entry is stored, so a redelivery cannot apologise twice */
	if (t && rt->ops.give_up)
		rt->ops.give_up(&tt->w, t, why);
}

static void schedule_retry(struct task_thread *tt, const char *id, struct retry_fields *f,
			   const struct task *t, const struct err *why)
{
	struct runtime *rt = tt->rt;
	long delay = retry_delay_ms(t->attempt, rt->cfg->retry_base_ms, why->retry_after_ms,
				    retry_rng_xorshift, &tt->rng);
	char next[16], delay_s[24];
	struct finish_args a = {.kind = FIN_RETRY, .id = id, .f = f};
	char *member;

	/*
	 * A retry due after the task state expires would run without it (a second
	 * placeholder, a second answer): it is brought forward to fit the state's
	 * life (a minute kept to run it), or, with no time left, given up.
	 * Retry-After is already capped at 15 minutes where it is parsed.
	 */
	delay = retry_delay_within(delay, clock_wall_ms(), t->enqueued_ms,
				   (int64_t)KEYS_TASK_TTL_S * 1000 - RT_STATE_MARGIN_MS);
	if (delay < 0) {
		struct err late = *why;
		snprintf(late.msg, sizeof(late.msg),
			 "a retry would outlive the task state (%.200s)", why->msg);
		dead_letter(tt, id, f, t, &late);
		return;
	}
	snprintf(next, sizeof(next), "%d", t->attempt + 1);
	snprintf(delay_s, sizeof(delay_s), "%ld", delay);
	retry_fields_set(f, "attempt", next);
	member = retry_member(id, f, &a.member_len);
	a.member = member;
	a.due_ms = clock_wall_ms() + delay;
	if (finish(tt, &a) == 0) {
		atomic_fetch_add(&rt->retried, 1);
		metrics_inc(NULL, M_TASK_RETRIES, NULL, 1);
		count_outcome("retried");
		rollup(tt, "tasks_retried", 1, NULL, 0);
		log_kv(LOG_WARN, "task failed; retry scheduled", "entry", id, "error", why->msg,
		       "next_attempt", next, "delay_ms", delay_s, NULL);
	}
	free(member);
}

/*
 * Success: XACK and the day's rollup pipelined in one Redis round trip (was
 * two; round trips dominate a task's cost with a fast LLM, see
 * bench/parts/30_worker.sh). The rollup stays best effort; a failed XACK is
 * retried alone by finish(), with the rollup sent after it only if it never left.
 */
static int ack_with_rollup(struct task_thread *tt, const char *id, enum task_type type, double secs)
{
	struct runtime *rt = tt->rt;
	const char *fields[2] = {type == TASK_FEEDBACK	  ? "tasks_feedback"
				 : type == TASK_ASSISTANT ? "tasks_assistant"
							  : "tasks_answered",
				 "latency_ms_sum"};
	long long bys[2] = {1, (long long)(secs * 1000)};
	size_t nf = type == TASK_QUESTION ? 2 : 1; /* answer latency: questions only */
	struct finish_args a = {.kind = FIN_ACK, .id = id};
	struct err e = {0}, re = {0};
	int queued = 0, sent = 0, acked = 0;

	if (rds_append(tt->w.r, &e, "XACK %s %s %s", rt->stream, KEYS_GROUP, id) == 0) {
		redisReply *rep;
		sent = 1;
		daily_append(tt->w.r, clock_wall_ms(), nf, fields, bys, &queued, &re);
		rep = rds_reply(tt->w.r, &e);
		if (rep) {
			acked = rep->type == REDIS_REPLY_INTEGER;
			freeReplyObject(rep);
			/* the reply of a dropped connection never comes: stop reading then */
			if (daily_read_replies(tt->w.r, queued, &re) < 0)
				log_kv(LOG_DEBUG, "daily rollup not written", "error", re.msg,
				       NULL);
		}
	}
	if (acked) {
		runtime_note_ok(rt);
		return 0;
	}
	if (finish(tt, &a) < 0)
		return -1;
	if (!sent)
		rollup(tt, fields[0], 1, nf == 2 ? fields[1] : NULL, bys[1]);
	return 0;
}

/* --- one entry ------------------------------------------------------------ */

/*
 * Long on purpose: one entry from start to outcome (the in-flight slot,
 * decode, the attempt budget, the handler, then ack, retry or dead letter);
 * the slot must be set and cleared around exactly this sequence.
 */
void runtime_process_entry(struct task_thread *tt, const redisReply *entry, int reclaimed)
{
	struct runtime *rt = tt->rt;
	struct retry_fields f;
	struct task t;
	struct err e = {0};
	char attempt_s[16];
	const char *id;
	int64_t t0;
	double secs;
	int rc;

	if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 ||
	    entry->element[0]->type != REDIS_REPLY_STRING)
		return;
	id = entry->element[0]->str;
	retry_fields_init(&f);
	task_init(&t);
	runtime_slot_set(rt, tt->no, id, tt->consumer);
	atomic_fetch_add(&rt->delivered, 1);
	if (reclaimed) {
		atomic_fetch_add(&rt->reclaimed, 1);
		metrics_inc(NULL, M_TASKS_RECLAIMED, NULL, 1);
		rollup(tt, "tasks_reclaimed", 1, NULL, 0);
	}
	if (retry_fields_from_reply(&f, entry->element[1]) < 0) {
		err_set(&e, ERR_INVALID, "stream entry %s has malformed fields", id);
		goto malformed;
	}
	if (task_decode(&t, f.n, f.name, f.name_len, f.value, f.value_len, &e) < 0)
		goto malformed;

	log_ctx_set("task_id", t.id);
	if (reclaimed) {
		long long crashes = runtime_stream_delivery_count(tt->w.r, rt->stream, id) - 1;
		log_kv(LOG_INFO, "task reclaimed from a stalled consumer", "entry", id, NULL);
		/*
		 * Each reclaim is a delivery that ended without an outcome: a worker
		 * crashed (perhaps because of this very task) or stalled. Each counts
		 * as an attempt, on top of the entry's own attempt number (retries
		 * before it), so a poison task is dead-lettered once the attempts
		 * exceed MAX_ATTEMPTS instead of crashing every worker in turn; a
		 * later retry goes on from the attempts used.
		 */
		if (crashes > 0) {
			long long eff = (long long)t.attempt + crashes;
			t.attempt = eff > INT_MAX ? INT_MAX : (int)eff;
			snprintf(attempt_s, sizeof(attempt_s), "%d", t.attempt);
			retry_fields_set(&f, "attempt", attempt_s);
		}
		if (crashes > 0 && t.attempt > rt->cfg->max_attempts) {
			err_set(&e, ERR_UPSTREAM, "crashed or stalled %lld times", crashes);
			dead_letter(tt, id, &f, &t, &e);
			goto out;
		}
	}
	if (t.attempt == 1 && !reclaimed && t.enqueued_ms > 0) {
		int64_t wait = clock_wall_ms() - t.enqueued_ms;
		metrics_observe(NULL, M_QUEUE_WAIT_SECONDS, NULL,
				wait > 0 ? (double)wait / 1000.0 : 0.0);
	}
	t0 = clock_mono_ns();
	rc = rt->ops.run(&tt->w, &t, &e);
	secs = (double)(clock_mono_ns() - t0) / 1e9;
	metrics_observe(NULL, M_TASK_SECONDS, NULL, secs);
	if (atomic_load(&tt->w.lease_lost)) {
		/* the new owner records the outcome; an XACK or retry here would race it */
		count_outcome("abandoned");
		atomic_fetch_add(&rt->abandoned, 1);
		goto out;
	}

	if (rc == 0) {
		if (ack_with_rollup(tt, id, t.type, secs) == 0) {
			atomic_fetch_add(&rt->succeeded, 1);
			count_outcome(t.type == TASK_FEEDBACK	 ? "feedback"
				      : t.type == TASK_ASSISTANT ? "assistant"
								 : "answered");
		}
	} else if (err_retryable(e.code) && t.attempt < rt->cfg->max_attempts) {
		schedule_retry(tt, id, &f, &t, &e);
	} else {
		if (e.code == ERR_OK)
			e.code = ERR_INVALID;
		dead_letter(tt, id, &f, &t, &e);
	}
	goto out;

malformed:
	atomic_fetch_add(&rt->malformed, 1);
	log_kv(LOG_WARN, "undecodable task entry", "entry", id, "error", e.msg, NULL);
	dead_letter(tt, id, &f, NULL, &e);
out:
	runtime_slot_clear(rt, tt->no);
	log_ctx_set("task_id", NULL);
	task_release(&t);
	retry_fields_release(&f);
}
