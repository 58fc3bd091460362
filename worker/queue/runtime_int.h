/*
 * runtime_int.h - what the parts of the queue runtime share; private to
 * runtime.c (threads, reading, recovery, lifecycle), runtime_task.c (one
 * entry and its outcome) and runtime_lease.c (lease keeper and mover).
 * Nothing else includes it: the runtime's contract is runtime.h.
 */
#ifndef HAINK_RUNTIME_INT_H
#define HAINK_RUNTIME_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "common.h"
#include "queue/runtime.h"
#include "queue/worker_ctx.h"

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

/* 1 once the worker is asked to stop reading new tasks. */
int runtime_stopping(const struct runtime *rt);
/* Waits on rt->cond for up to ms; call with rt->lock held. */
void runtime_cond_wait_ms(struct runtime *rt, int64_t ms);
/* Sleeps ms, in short slices so a stop request is noticed promptly. */
void runtime_nap(struct runtime *rt, int64_t ms);
/* Logs the first failure of an outage only; every failure is counted. */
void runtime_note_failure(struct runtime *rt, const struct err *e);
/* Ends an outage (logged once). */
void runtime_note_ok(struct runtime *rt);
/* Marks thread no as running entry id as consumer (what the lease keeper renews). */
void runtime_slot_set(struct runtime *rt, int no, const char *id, const char *consumer);
void runtime_slot_clear(struct runtime *rt, int no);
/* 1 when a task thread of rt runs entry id. */
int runtime_in_flight(struct runtime *rt, const char *id);

/*
 * (runtime_task.c) Runs one stream entry (an XREADGROUP or XAUTOCLAIM
 * element) on task thread tt and records its outcome: XACK, a scheduled
 * retry, or a dead letter. reclaimed: the entry came from recovery.
 */
void runtime_process_entry(struct task_thread *tt, const redisReply *entry, int reclaimed);

/* (runtime_lease.c) The lease keeper's and the mover's thread functions; arg is the runtime. */
void *runtime_lease_main(void *arg);
void *runtime_mover_main(void *arg);

#endif
