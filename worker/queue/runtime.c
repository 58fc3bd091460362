/*
 * runtime.c - the queue runtime's threads: task threads reading and
 * reclaiming entries, the drain at shutdown, health, and the lifecycle.
 * See runtime.h; runtime_task.c runs one entry, runtime_lease.c keeps leases
 * and moves due retries.
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

/* --- small helpers -------------------------------------------------------- */

int runtime_stopping(const struct runtime *rt)
{
	return atomic_load(&rt->env->stopping);
}

/* Waits on rt->cond for up to ms; call with rt->lock held. */
void runtime_cond_wait_ms(struct runtime *rt, int64_t ms)
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
void runtime_nap(struct runtime *rt, int64_t ms)
{
	int64_t end = clock_mono_ms() + ms;

	for (int64_t now = clock_mono_ms(); now < end && !runtime_stopping(rt);
	     now = clock_mono_ms())
		clock_sleep_ms(end - now < 50 ? end - now : 50);
}

/* Logs the first failure of an outage only; every failure is counted. */
void runtime_note_failure(struct runtime *rt, const struct err *e)
{
	atomic_fetch_add(&rt->redis_errors, 1);
	if (!atomic_exchange(&rt->outage, 1))
		log_kv(LOG_WARN, "redis calls failing; retrying with backoff", "error", e->msg,
		       NULL);
}

void runtime_note_ok(struct runtime *rt)
{
	if (atomic_load(&rt->outage) && atomic_exchange(&rt->outage, 0))
		log_kv(LOG_INFO, "redis reachable again", NULL);
}

void runtime_slot_set(struct runtime *rt, int no, const char *id, const char *consumer)
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

void runtime_slot_clear(struct runtime *rt, int no)
{
	pthread_mutex_lock(&rt->lock);
	rt->slots[no].active = 0;
	pthread_mutex_unlock(&rt->lock);
}

int runtime_in_flight(struct runtime *rt, const char *id)
{
	int found = 0;

	pthread_mutex_lock(&rt->lock);
	for (int i = 0; i < rt->nthreads && !found; i++)
		found = rt->slots[i].active && !strcmp(rt->slots[i].id, id);
	pthread_mutex_unlock(&rt->lock);
	return found;
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
			runtime_process_entry(tt, entries->element[i], 0);
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
		    runtime_in_flight(rt, en->element[0]->str))
			continue; /* ours already: the lease keeper will renew it */
		runtime_process_entry(tt, en, 1);
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

	while (!runtime_stopping(rt)) {
		struct err e = {0};
		int rc = 0;

		if (claim_turn(rt, cursor))
			rc = reclaim_one(tt, cursor, &e);
		if (rc == 0 && !runtime_stopping(rt))
			rc = read_one(tt, &e);
		if (rc < 0) {
			runtime_note_failure(rt, &e);
			backoff = backoff ? backoff * 2 : RT_BACKOFF_MIN_MS;
			if (backoff > RT_BACKOFF_MAX_MS)
				backoff = RT_BACKOFF_MAX_MS;
			runtime_nap(rt, backoff);
			continue;
		}
		backoff = 0;
		runtime_note_ok(rt);
	}
	pthread_mutex_lock(&rt->lock);
	rt->tasks_running--;
	pthread_cond_broadcast(&rt->cond);
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
	if (pthread_create(&rt->lease_thr, NULL, runtime_lease_main, rt) != 0) {
		err_set(err, ERR_IO, "cannot start the lease keeper thread");
		goto fail;
	}
	rt->lease_started = 1;
	if (pthread_create(&rt->mover_thr, NULL, runtime_mover_main, rt) != 0) {
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
			runtime_cond_wait_ms(rt, deadline - now);
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
