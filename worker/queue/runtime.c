#include "common.h"
#include "queue/runtime.h"
#include "queue/daily.h"
#include "queue/dlq.h"
#include "queue/retry.h"
#include "queue/runtime_stream.h"
#include "queue/worker_ctx.h"

#include <limits.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define RT_BLOCK_MS	    1000
#define RT_CMD_TIMEOUT_MS   5000 /* reply wait: well above the XREADGROUP BLOCK time */
#define RT_MOVE_INTERVAL_MS 200
#define RT_MOVE_LIMIT	    100
#define RT_BACKOFF_MIN_MS   100
#define RT_BACKOFF_MAX_MS   2000
#define RT_FINISH_WINDOW_MS 5000  /* how long a finished task retries its final write */
#define RT_TRIM_INTERVAL_MS 5000  /* how often the mover trims acknowledged entries */
#define RT_STATE_MARGIN_MS  60000 /* a retry is due this long before the task state expires */

/* An entry in flight: what the lease keeper renews. */
struct slot {
	char id[48];
	char consumer[128];
	int active;
	int no;		    /* the task thread's index */
	int64_t started_ms; /* monotonic, when the task began */
};

struct task_thread {
	struct runtime *rt;
	struct worker_ctx w;
	struct http_transport inner; /* the transport w.http wraps (progress stamps) */
	atomic_llong progress_ms;    /* monotonic: task start, or an outgoing request began/ended */
	int no;
	int have_ctx;
	int started;
	pthread_t thr;
	char consumer[128];
	uint64_t rng;
};

struct runtime {
	struct worker_env *env;
	const struct config *cfg;
	struct runtime_ops ops;
	char *stream;

	pthread_mutex_t lock;
	pthread_cond_t
	    cond; /* on CLOCK_MONOTONIC; signalled when a task thread ends or aux stops */
	int tasks_running;
	int aux_stop;
	int nthreads;
	struct task_thread *tt;
	struct slot *slots; /* one per task thread */

	/* recovery: task threads take turns running XAUTOCLAIM from this cursor */
	char cursor[48];
	int64_t claim_due_ms;
	int claiming;

	struct rds *lease_r, *mover_r;
	pthread_t lease_thr, mover_thr;
	int lease_started, mover_started;

	atomic_int outage;
	atomic_llong delivered, succeeded, retried, dead, malformed, reclaimed, moved, renewals,
	    abandoned, redis_errors;
};

/* --- small helpers -------------------------------------------------------- */

static int stopping(const struct runtime *rt)
{
	return atomic_load(&rt->env->stopping);
}

/* Waits on rt->cond for up to ms; call with rt->lock held. */
static void cond_wait_ms(struct runtime *rt, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&rt->cond, &rt->lock, &ts);
}

/* Sleeps ms, in short slices so a stop request is noticed promptly. */
static void nap(struct runtime *rt, int64_t ms)
{
	int64_t end = clock_mono_ms() + ms;

	for (int64_t now = clock_mono_ms(); now < end && !stopping(rt); now = clock_mono_ms())
		clock_sleep_ms(end - now < 50 ? end - now : 50);
}

/* Logs the first failure of an outage only; every failure is counted. */
static void note_failure(struct runtime *rt, const struct err *e)
{
	atomic_fetch_add(&rt->redis_errors, 1);
	if (!atomic_exchange(&rt->outage, 1))
		log_kv(LOG_WARN, "redis calls failing; retrying with backoff", "error", e->msg,
		       NULL);
}

static void note_ok(struct runtime *rt)
{
	if (atomic_load(&rt->outage) && atomic_exchange(&rt->outage, 0))
		log_kv(LOG_INFO, "redis reachable again", NULL);
}

static void slot_set(struct runtime *rt, int no, const char *id, const char *consumer)
{
	pthread_mutex_lock(&rt->lock);
	snprintf(rt->slots[no].id, sizeof(rt->slots[no].id), "%s", id);
	snprintf(rt->slots[no].consumer, sizeof(rt->slots[no].consumer), "%s", consumer);
	rt->slots[no].active = 1;
	rt->slots[no].no = no;
	rt->slots[no].started_ms = clock_mono_ms();
	atomic_store(&rt->tt[no].progress_ms, rt->slots[no].started_ms);
	atomic_store(&rt->tt[no].w.lease_lost, 0);
	pthread_mutex_unlock(&rt->lock);
}

static void slot_clear(struct runtime *rt, int no)
{
	pthread_mutex_lock(&rt->lock);
	rt->slots[no].active = 0;
	pthread_mutex_unlock(&rt->lock);
}

static int in_flight(struct runtime *rt, const char *id)
{
	int found = 0;

	pthread_mutex_lock(&rt->lock);
	for (int i = 0; i < rt->nthreads && !found; i++)
		found = rt->slots[i].active && !strcmp(rt->slots[i].id, id);
	pthread_mutex_unlock(&rt->lock);
	return found;
}

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
			note_ok(rt);
			return 0;
		}
		note_failure(rt, &e);
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
static int ack_with_rollup(struct task_thread *tt, const char *id, int fb, double secs)
{
	struct runtime *rt = tt->rt;
	const char *fields[2] = {fb ? "tasks_feedback" : "tasks_answered", "latency_ms_sum"};
	long long bys[2] = {1, (long long)(secs * 1000)};
	size_t nf = fb ? 1 : 2;
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
		note_ok(rt);
		return 0;
	}
	if (finish(tt, &a) < 0)
		return -1;
	if (!sent)
		rollup(tt, fields[0], 1, nf == 2 ? fields[1] : NULL, bys[1]);
	return 0;
}

/* --- one entry ------------------------------------------------------------ */

static void process_entry(struct task_thread *tt, const redisReply *entry, int reclaimed)
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
	slot_set(rt, tt->no, id, tt->consumer);
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
		int fb = t.type == TASK_FEEDBACK;
		if (ack_with_rollup(tt, id, fb, secs) == 0) {
			atomic_fetch_add(&rt->succeeded, 1);
			count_outcome(fb ? "feedback" : "answered");
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
	slot_clear(rt, tt->no);
	log_ctx_set("task_id", NULL);
	task_release(&t);
	retry_fields_release(&f);
}

/* --- reading and reclaiming ---------------------------------------------- */

/* Returns 1 when an entry was processed, 0 when none came, -1 on a Redis failure. */
static int read_one(struct task_thread *tt, struct err *e)
{
	struct runtime *rt = tt->rt;
	redisReply *rep, *entries;
	int got = 0;

	rep = rds_cmd(tt->w.r, e, "XREADGROUP GROUP %s %s COUNT 1 BLOCK %d STREAMS %s >",
		      KEYS_GROUP, tt->consumer, RT_BLOCK_MS, rt->stream);
	if (!rep) {
		if (rds_err_is(e, "NOGROUP")) {
			if (runtime_ensure_group(tt->w.r, rt->cfg->docket_name, e) < 0)
				return -1;
			log_kv(LOG_INFO, "consumer group created", "stream", rt->stream, NULL);
			return 0;
		}
		return -1;
	}
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
	    rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements >= 2) {
		entries = rep->element[0]->element[1];
		for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements;
		     i++) {
			process_entry(tt, entries->element[i], 0);
			got = 1;
		}
	}
	freeReplyObject(rep);
	return got;
}

/* Returns 1 and takes the recovery turn when a scan is due and nobody else is scanning. */
static int claim_turn(struct runtime *rt, char cursor[48])
{
	int mine = 0;

	pthread_mutex_lock(&rt->lock);
	if (!rt->claiming && clock_mono_ms() >= rt->claim_due_ms) {
		rt->claiming = 1;
		memcpy(cursor, rt->cursor, 48);
		mine = 1;
	}
	pthread_mutex_unlock(&rt->lock);
	return mine;
}

/*
 * Gives the turn back. A finished scan (cursor 0-0, nothing found) or a
 * failure waits REDELIVERY_TIMEOUT_MS/2; otherwise the scan goes on at once
 * so idle threads take the rest of a crashed consumer's entries.
 */
static void claim_done(struct runtime *rt, const char *next, int got)
{
	int64_t now = clock_mono_ms();

	pthread_mutex_lock(&rt->lock);
	rt->claiming = 0;
	if (next)
		snprintf(rt->cursor, sizeof(rt->cursor), "%s", next);
	if (!next || (!got && !strcmp(rt->cursor, "0-0")))
		rt->claim_due_ms = now + rt->cfg->redelivery_timeout_ms / 2;
	else
		rt->claim_due_ms = now;
	pthread_mutex_unlock(&rt->lock);
}

/*
 * Redis 6.2 replies nil for claimed entries that were deleted from the
 * stream, without their id. Acknowledge the pending entries of this
 * consumer whose stream entry is gone (entries of a predecessor with the
 * same name that still exist are left for normal recovery).
 */
static void ack_deleted(struct task_thread *tt)
{
	struct runtime *rt = tt->rt;
	struct err e = {0};
	redisReply *rep =
	    rds_cmd(tt->w.r, &e, "XPENDING %s %s - + 16 %s", rt->stream, KEYS_GROUP, tt->consumer);

	for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
		const redisReply *p = rep->element[i];
		redisReply *x;
		if (p->type != REDIS_REPLY_ARRAY || !p->elements ||
		    p->element[0]->type != REDIS_REPLY_STRING)
			continue;
		x = rds_cmd(tt->w.r, &e, "XRANGE %s %s %s", rt->stream, p->element[0]->str,
			    p->element[0]->str);
		if (x && x->type == REDIS_REPLY_ARRAY && x->elements == 0) {
			redisReply *a = rds_cmd(tt->w.r, &e, "XACK %s %s %s", rt->stream,
						KEYS_GROUP, p->element[0]->str);
			if (a)
				freeReplyObject(a);
		}
		if (x)
			freeReplyObject(x);
	}
	if (rep)
		freeReplyObject(rep);
}

/* Returns 1 when a reclaimed entry was processed, 0 when none, -1 on a Redis failure. */
static int reclaim_one(struct task_thread *tt, const char *cursor, struct err *e)
{
	struct runtime *rt = tt->rt;
	redisReply *rep, *entries;
	char next[48];
	int got = 0, nil_seen = 0;

	rep = rds_cmd(tt->w.r, e, "XAUTOCLAIM %s %s %s %d %s COUNT 1", rt->stream, KEYS_GROUP,
		      tt->consumer, rt->cfg->redelivery_timeout_ms, cursor);
	if (!rep) {
		claim_done(rt, NULL, 0);
		if (rds_err_is(e, "NOGROUP")) {
			err_clear(e);
			return 0; /* the read that follows recreates the group */
		}
		return -1;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING) {
		freeReplyObject(rep);
		claim_done(rt, "0-0", 0);
		return 0;
	}
	snprintf(next, sizeof(next), "%s", rep->element[0]->str);
	entries = rep->element[1];
	/* hand the turn back before processing: the task may run for minutes */
	claim_done(rt, next, entries->type == REDIS_REPLY_ARRAY && entries->elements > 0 ? 1 : 0);
	for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++) {
		const redisReply *en = entries->element[i];
		if (en->type != REDIS_REPLY_ARRAY) {
			nil_seen = 1;
			continue;
		}
		if (en->elements >= 1 && en->element[0]->type == REDIS_REPLY_STRING &&
		    in_flight(rt, en->element[0]->str))
			continue; /* ours already: the lease keeper will renew it */
		process_entry(tt, en, 1);
		got = 1;
	}
	/* Redis 7: the third element lists deleted entries, already dropped from the PEL */
	if (rep->elements >= 3 && rep->element[2]->type == REDIS_REPLY_ARRAY &&
	    rep->element[2]->elements > 0)
		log_kv(LOG_INFO, "pending entries deleted from the stream were dropped", NULL);
	freeReplyObject(rep);
	if (nil_seen)
		ack_deleted(tt);
	return got;
}

static void *task_main(void *arg)
{
	struct task_thread *tt = arg;
	struct runtime *rt = tt->rt;
	int backoff = 0;
	char cursor[48];

	while (!stopping(rt)) {
		struct err e = {0};
		int rc = 0;

		if (claim_turn(rt, cursor))
			rc = reclaim_one(tt, cursor, &e);
		if (rc == 0 && !stopping(rt))
			rc = read_one(tt, &e);
		if (rc < 0) {
			note_failure(rt, &e);
			backoff = backoff ? backoff * 2 : RT_BACKOFF_MIN_MS;
			if (backoff > RT_BACKOFF_MAX_MS)
				backoff = RT_BACKOFF_MAX_MS;
			nap(rt, backoff);
			continue;
		}
		backoff = 0;
		note_ok(rt);
	}
	pthread_mutex_lock(&rt->lock);
	rt->tasks_running--;
	pthread_cond_broadcast(&rt->cond);
	pthread_mutex_unlock(&rt->lock);
	return NULL;
}

/* --- lease keeper and mover ---------------------------------------------- */

/* Marks thread no's task as taken over, if that thread still runs entry id. */
static void lease_lost(struct runtime *rt, int no, const char *id)
{
	pthread_mutex_lock(&rt->lock);
	if (rt->slots[no].active && !strcmp(rt->slots[no].id, id)) {
		atomic_store(&rt->tt[no].w.lease_lost, 1);
		log_kv(LOG_WARN, "task taken over by another worker after a stall; abandoning it",
		       "entry", id, NULL);
	}
	pthread_mutex_unlock(&rt->lock);
}

/*
 * Renews the leases of the n entries in flight (snap) while their consumers
 * still own them (runtime_stream_renew()); marks a task whose entry another
 * worker took over after a stall as abandoned.
 */
static void renew(struct runtime *rt, const struct slot *snap, int n)
{
	const char **consumers = xcalloc((size_t)n, sizeof(*consumers));
	const char **ids = xcalloc((size_t)n, sizeof(*ids));
	const char **siblings = xcalloc((size_t)rt->nthreads, sizeof(*siblings));
	enum runtime_lease *out = xcalloc((size_t)n, sizeof(*out));
	struct err e = {0};
	int rc;

	for (int i = 0; i < n; i++) {
		consumers[i] = snap[i].consumer;
		ids[i] = snap[i].id;
	}
	for (int i = 0; i < rt->nthreads; i++)
		siblings[i] = rt->tt[i].consumer;
	rc = runtime_stream_renew(rt->lease_r, rt->stream, n, consumers, ids, rt->nthreads,
				  siblings, out, &e);
	for (int i = 0; i < n; i++) {
		if (out[i] == RUNTIME_LEASE_LOST)
			lease_lost(rt, snap[i].no, snap[i].id);
		if (out[i] == RUNTIME_LEASE_TAKEN_BACK)
			log_kv(LOG_INFO,
			       "took an entry in flight back from this worker's own recovery scan",
			       "entry", snap[i].id, NULL);
		if (out[i] == RUNTIME_LEASE_RENEWED || out[i] == RUNTIME_LEASE_TAKEN_BACK)
			atomic_fetch_add(&rt->renewals, 1);
	}
	if (rc == 0)
		note_ok(rt);
	else
		note_failure(rt, &e);
	free(consumers);
	free(ids);
	free(siblings);
	free(out);
}

static void *lease_main(void *arg)
{
	struct runtime *rt = arg;
	int64_t interval = rt->cfg->redelivery_timeout_ms / 4;
	struct slot *snap = xcalloc((size_t)rt->nthreads, sizeof(*snap));
	int64_t next = clock_mono_ms() + interval;

	pthread_mutex_lock(&rt->lock);
	while (!rt->aux_stop) {
		int64_t now = clock_mono_ms();
		int n = 0;
		if (now < next) {
			cond_wait_ms(rt, next - now);
			continue;
		}
		next = now + interval;
		for (int i = 0; i < rt->nthreads; i++)
			if (rt->slots[i].active)
				snap[n++] = rt->slots[i];
		if (!n)
			continue;
		pthread_mutex_unlock(&rt->lock);
		renew(rt, snap, n);
		pthread_mutex_lock(&rt->lock);
	}
	pthread_mutex_unlock(&rt->lock);
	free(snap);
	return NULL;
}

static void *mover_main(void *arg)
{
	struct runtime *rt = arg;

	int64_t trim_due = 0;

	pthread_mutex_lock(&rt->lock);
	while (!rt->aux_stop) {
		struct err e = {0};
		long moved;

		pthread_mutex_unlock(&rt->lock);
		if (clock_mono_ms() >= trim_due) {
			long long trimmed =
			    runtime_trim_acked(rt->mover_r, rt->cfg->docket_name, &e);
			if (trimmed < 0)
				log_kv(LOG_WARN, "cannot trim acknowledged task entries", "error",
				       e.msg, NULL);
			trim_due = clock_mono_ms() + RT_TRIM_INTERVAL_MS;
			err_clear(&e);
		}
		moved = retry_move_due(rt->mover_r, rt->cfg->docket_name, clock_wall_ms(),
				       RT_MOVE_LIMIT, &e);
		if (moved < 0) {
			note_failure(rt, &e);
		} else {
			note_ok(rt);
			atomic_fetch_add(&rt->moved, moved);
		}
		pthread_mutex_lock(&rt->lock);
		/* a full batch means more are due: go again at once */
		if (!rt->aux_stop && moved < RT_MOVE_LIMIT)
			cond_wait_ms(rt, RT_MOVE_INTERVAL_MS);
	}
	pthread_mutex_unlock(&rt->lock);
	return NULL;
}

/* --- health and drain ------------------------------------------------------ */

int64_t runtime_stuck_after_ms(const struct config *cfg)
{
	/* every model call may take LLM_TIMEOUT_S, plus a tool round each, plus slack */
	return (int64_t)cfg->agent_max_iterations * ((int64_t)cfg->llm_timeout_s + 30) * 1000 +
	       60000;
}

int64_t runtime_no_progress_after_ms(const struct config *cfg)
{
	/*
	 * Between two outgoing requests of a healthy task: one request (at most
	 * LLM_TIMEOUT_S; Slack's and the web search's are shorter), a wait before
	 * retrying it (at most 30 s), and the Redis work around them. Twice the
	 * request time plus a minute covers that; at least a redelivery timeout,
	 * the time after which a task would have been reclaimed without its lease.
	 */
	int64_t ms = 2 * (int64_t)cfg->llm_timeout_s * 1000 + 60000;

	return ms > cfg->redelivery_timeout_ms ? ms : cfg->redelivery_timeout_ms;
}

int runtime_stuck_threads(void *ctx)
{
	return runtime_stuck_threads_at(ctx, clock_mono_ms());
}

int runtime_stuck_threads_at(struct runtime *rt, int64_t now)
{
	int64_t limit = runtime_stuck_after_ms(rt->cfg);
	int64_t quiet = runtime_no_progress_after_ms(rt->cfg);
	int n = 0;

	pthread_mutex_lock(&rt->lock);
	for (int i = 0; i < rt->nthreads; i++) {
		if (!rt->slots[i].active)
			continue;
		if (now - rt->slots[i].started_ms > limit ||
		    now - (int64_t)atomic_load(&rt->tt[i].progress_ms) > quiet)
			n++;
	}
	pthread_mutex_unlock(&rt->lock);
	return n;
}

/*
 * The task threads' transport: every outgoing request (model, Slack, web
 * search, embeddings) goes through it, and its start and end are the
 * progress the stuck-thread check watches.
 */
static int progress_perform(void *ctx, const struct http_request *req, struct http_response *resp,
			    struct err *err)
{
	struct task_thread *tt = ctx;
	int rc;

	atomic_store(&tt->progress_ms, clock_mono_ms());
	rc = tt->inner.perform(tt->inner.ctx, req, resp, err);
	atomic_store(&tt->progress_ms, clock_mono_ms());
	return rc;
}

/*
 * At the drain deadline: every task still running here is marked taken over
 * first (it then posts nothing more and records no outcome: the process is
 * about to exit), then its entry is released as a fresh undelivered copy,
 * so another worker's XREADGROUP takes it at once instead of waiting out a
 * whole lease. The task state makes the new run continue the same
 * placeholder and answer; a release is not a crash, so it costs no attempt.
 * Uses a connection of its own: the lease keeper may still be using its one.
 * Returns how many entries were released.
 */
static int release_unfinished(struct runtime *rt)
{
	struct slot *snap = xcalloc((size_t)rt->nthreads, sizeof(*snap));
	struct err e = {0};
	struct rds *r;
	int n = 0, released = 0;

	pthread_mutex_lock(&rt->lock);
	for (int i = 0; i < rt->nthreads; i++) {
		if (!rt->slots[i].active)
			continue;
		atomic_store(&rt->tt[i].w.lease_lost, 1);
		snap[n++] = rt->slots[i];
	}
	pthread_mutex_unlock(&rt->lock);
	r = n ? rds_new(rt->cfg->redis_url, 1000, 2000, &e) : NULL;
	for (int i = 0; r && i < n; i++) {
		int rc = runtime_stream_release(r, rt->stream, snap[i].consumer, snap[i].id, &e);
		if (rc < 0)
			log_kv(LOG_WARN, "cannot release an unfinished task", "entry", snap[i].id,
			       "error", e.msg, NULL);
		else
			released += rc;
	}
	if (n && !r)
		log_kv(LOG_WARN, "cannot release unfinished tasks", "error", e.msg, NULL);
	rds_free(r);
	free(snap);
	return released;
}

/* --- lifecycle ------------------------------------------------------------ */

/* Joins every started thread (task threads must be ending) and frees rt. */
static void teardown(struct runtime *rt)
{
	for (int i = 0; i < rt->nthreads; i++)
		if (rt->tt[i].started)
			pthread_join(rt->tt[i].thr, NULL);
	pthread_mutex_lock(&rt->lock);
	rt->aux_stop = 1;
	pthread_cond_broadcast(&rt->cond);
	pthread_mutex_unlock(&rt->lock);
	if (rt->lease_started)
		pthread_join(rt->lease_thr, NULL);
	if (rt->mover_started)
		pthread_join(rt->mover_thr, NULL);
	for (int i = 0; i < rt->nthreads; i++)
		if (rt->tt[i].have_ctx)
			worker_ctx_release(&rt->tt[i].w);
	rds_free(rt->lease_r);
	rds_free(rt->mover_r);
	pthread_cond_destroy(&rt->cond);
	pthread_mutex_destroy(&rt->lock);
	free(rt->tt);
	free(rt->slots);
	free(rt->stream);
	free(rt);
}

struct runtime *runtime_start(struct worker_env *env, const struct runtime_ops *ops,
			      struct err *err)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	pthread_condattr_t ca;
	struct err ge = {0};
	int n = env->cfg->worker_concurrency > 0 ? env->cfg->worker_concurrency : 1;

	rt->env = env;
	rt->cfg = env->cfg;
	rt->ops = *ops;
	rt->stream = keys_tasks(env->cfg->docket_name);
	rt->nthreads = n;
	rt->tt = xcalloc((size_t)n, sizeof(*rt->tt));
	rt->slots = xcalloc((size_t)n, sizeof(*rt->slots));
	snprintf(rt->cursor, sizeof(rt->cursor), "0-0");
	pthread_mutex_init(&rt->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rt->cond, &ca);
	pthread_condattr_destroy(&ca);

	rt->lease_r = rds_new(env->cfg->redis_url, 1000, RT_CMD_TIMEOUT_MS, err);
	rt->mover_r =
	    rt->lease_r ? rds_new(env->cfg->redis_url, 1000, RT_CMD_TIMEOUT_MS, err) : NULL;
	if (!rt->mover_r)
		goto fail;
	if (runtime_ensure_group(rt->mover_r, env->cfg->docket_name, &ge) < 0)
		log_kv(LOG_WARN, "cannot create the consumer group yet; will retry", "error",
		       ge.msg, NULL);

	for (int i = 0; i < n; i++) {
		struct task_thread *tt = &rt->tt[i];
		tt->rt = rt;
		tt->no = i;
		snprintf(tt->consumer, sizeof(tt->consumer), "%s-%ld-%d", env->hostname,
			 (long)getpid(), i);
		if (RAND_bytes((unsigned char *)&tt->rng, sizeof(tt->rng)) != 1 || !tt->rng)
			tt->rng = ((uint64_t)clock_mono_ns() << 8) ^ (uint64_t)(i + 1);
		if (worker_ctx_init(&tt->w, env, i, RT_CMD_TIMEOUT_MS, err) < 0)
			goto fail;
		tt->have_ctx = 1;
		tt->inner = tt->w.http;
		tt->w.http = (struct http_transport){progress_perform, tt};
	}
	for (int i = 0; i < n; i++) {
		if (pthread_create(&rt->tt[i].thr, NULL, task_main, &rt->tt[i]) != 0) {
			err_set(err, ERR_IO, "cannot start task thread %d", i);
			goto fail;
		}
		rt->tt[i].started = 1;
		pthread_mutex_lock(&rt->lock);
		rt->tasks_running++;
		pthread_mutex_unlock(&rt->lock);
	}
	if (pthread_create(&rt->lease_thr, NULL, lease_main, rt) != 0) {
		err_set(err, ERR_IO, "cannot start the lease keeper thread");
		goto fail;
	}
	rt->lease_started = 1;
	if (pthread_create(&rt->mover_thr, NULL, mover_main, rt) != 0) {
		err_set(err, ERR_IO, "cannot start the retry mover thread");
		goto fail;
	}
	rt->mover_started = 1;
	return rt;
fail:
	atomic_store(&env->stopping, 1);
	teardown(rt);
	return NULL;
}

/* Returns 1 when a task thread is working on an entry; call with rt->lock held. */
static int any_in_flight(const struct runtime *rt)
{
	for (int i = 0; i < rt->nthreads; i++)
		if (rt->slots[i].active)
			return 1;
	return 0;
}

int runtime_stop(struct runtime *rt)
{
	int64_t deadline;
	int left, busy, extended = 0;

	if (!rt)
		return 0;
	atomic_store(&rt->env->stopping, 1);
	deadline = clock_mono_ms() + (int64_t)rt->cfg->shutdown_grace_s * 1000;
	pthread_mutex_lock(&rt->lock);
	for (;;) {
		int64_t now = clock_mono_ms();
		if (rt->tasks_running == 0)
			break;
		if (now < deadline) {
			cond_wait_ms(rt, deadline - now);
			continue;
		}
		/*
		 * Threads with no task are only finishing a blocked read (at most a
		 * BLOCK and a reply timeout): not a failed drain. Wait for them
		 * once; a task such a read returns is released like the others.
		 */
		if (extended || any_in_flight(rt))
			break;
		extended = 1;
		deadline = now + RT_BLOCK_MS + RT_CMD_TIMEOUT_MS;
	}
	left = rt->tasks_running;
	busy = any_in_flight(rt);
	pthread_mutex_unlock(&rt->lock);
	if (left > 0) {
		char nleft[16], nrel[16];
		snprintf(nleft, sizeof(nleft), "%d", left);
		snprintf(nrel, sizeof(nrel), "%d", busy ? release_unfinished(rt) : 0);
		log_kv(LOG_WARN,
		       "shutdown grace expired; unfinished tasks released for immediate redelivery",
		       "threads_busy", nleft, "released", nrel, NULL);
		return -1;
	}
	teardown(rt);
	return 0;
}

void runtime_counters(struct runtime *rt, struct runtime_counters *out)
{
	out->delivered = atomic_load(&rt->delivered);
	out->succeeded = atomic_load(&rt->succeeded);
	out->retried = atomic_load(&rt->retried);
	out->dead = atomic_load(&rt->dead);
	out->malformed = atomic_load(&rt->malformed);
	out->reclaimed = atomic_load(&rt->reclaimed);
	out->moved = atomic_load(&rt->moved);
	out->renewals = atomic_load(&rt->renewals);
	out->abandoned = atomic_load(&rt->abandoned);
	out->redis_errors = atomic_load(&rt->redis_errors);
}

int runtime_main(struct worker_env *env, const struct runtime_ops *ops)
{
	struct err e = {0};
	struct runtime *rt = runtime_start(env, ops, &e);

	if (!rt) {
		log_kv(LOG_ERROR, "cannot start the queue runtime", "error", e.msg, NULL);
		return 1;
	}
	while (!atomic_load(&env->stopping))
		clock_sleep_ms(50);
	return runtime_stop(rt) == 0 ? 0 : 1;
}
