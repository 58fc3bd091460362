/*
 * runtime.h - the durable queue runtime of haink-worker (docs/architecture.md,
 * "Durability"): consumes docket:{D}:tasks in the consumer group
 * "workers", runs each task through an injectable handler, and owns what
 * happens around it: acknowledgement, retries through the scheduled ZSET,
 * dead-lettering, lease renewal, recovery of crashed consumers' entries and a
 * graceful drain on shutdown.
 *
 * Threads of one runtime:
 *  - WORKER_CONCURRENCY task threads, each with its own struct worker_ctx (Redis
 *    connection and HTTP transport) and consumer name
 *    <env->hostname>-<pid>-<thread no>. A task thread reads with XREADGROUP
 *    … COUNT 1 BLOCK 1000, and takes turns with the other task threads to
 *    XAUTOCLAIM entries idle longer than REDELIVERY_TIMEOUT_MS (a scan every
 *    REDELIVERY_TIMEOUT_MS/2, the cursor carried between calls). A
 *    reclaimed entry's earlier deliveries (XPENDING's delivery count - 1)
 *    ended in a crash or a stall: each counts as an attempt, so once its
 *    attempts exceed MAX_ATTEMPTS it is dead-lettered ("crashed or stalled N
 *    times") without running.
 *  - one lease keeper: every REDELIVERY_TIMEOUT_MS/4 it renews every entry in
 *    flight in this runtime on its own connection (a script: XCLAIM … 0 <id>
 *    JUSTID only while the thread's consumer still owns the entry), so a long
 *    run is never reclaimed by another worker, and an entry another worker
 *    took over after a stall is never taken back: that task is abandoned
 *    (worker_ctx.lease_lost: it posts nothing more, its outcome is not recorded).
 *  - one mover: every ~200 ms it runs retry_move_due(), every 5 s
 *    runtime_trim_acked().
 *
 * Per task: the handler's 0 → XACK; -1 with a retryable error and attempt <
 * MAX_ATTEMPTS → XACK + ZADD attempt+1 in one script (backoff with full
 * jitter, at least err.retry_after_ms); otherwise → dead-letter stream +
 * XACK in one script, then ops->give_up(). An entry that does not decode goes
 * straight to the dead-letter stream (no give_up: there is no task to reply
 * to). Redis failures never stop a thread: it logs once per outage, backs
 * off (100 ms to 2 s) and carries on; an entry whose XACK could not be sent
 * stays pending and is reclaimed later (the handler is idempotent).
 *
 * The consumer group is created at start and again whenever Redis reports
 * NOGROUP (a restarted Redis without persistence).
 */
#ifndef HAINK_RUNTIME_H
#define HAINK_RUNTIME_H

#include <stdint.h>

#include "queue/runtime_stream.h" /* runtime_ensure_group(), runtime_trim_acked() */

struct worker_env;
struct config;
struct worker_ctx;
struct task;
struct err;
struct rds;

/*
 * What the runtime calls per task. Both are called concurrently from task
 * threads, each with its own worker_ctx. See worker/agent/handler.h for the contract;
 * cli_run passes handler_run / handler_give_up, tests pass fakes.
 */
struct runtime_ops {
	int (*run)(struct worker_ctx *w, struct task *t, struct err *err);
	/* may be NULL */
	void (*give_up)(struct worker_ctx *w, const struct task *t, const struct err *why);
};

/* Counters of one runtime since start (for tests and logs). */
struct runtime_counters {
	long long delivered;	/* entries read or reclaimed and processed */
	long long succeeded;	/* handler returned 0 and the XACK was sent */
	long long retried;	/* scheduled for another attempt */
	long long dead;		/* dead-lettered (including malformed) */
	long long malformed;	/* entries that did not decode */
	long long reclaimed;	/* entries taken over with XAUTOCLAIM */
	long long moved;	/* scheduled retries moved back by this runtime's mover */
	long long renewals;	/* lease renewals sent (XCLAIM … JUSTID) */
	long long redis_errors; /* failed Redis calls of any thread */
	long long abandoned;	/* tasks given up because another consumer took them over */
};

struct runtime;

/*
 * Creates the consumer group (idempotent; a failure is only logged, the
 * threads retry) and starts the threads. env and ops are borrowed and must
 * outlive the runtime; env->stopping must be 0. Returns the runtime, or NULL
 * with err when a thread or connection cannot be created (env->stopping is
 * then left set; whatever had started has been stopped and freed).
 */
struct runtime *runtime_start(struct worker_env *env, const struct runtime_ops *ops,
			      struct err *err);

/*
 * Sets env->stopping, lets in-flight tasks finish for up to SHUTDOWN_GRACE_S,
 * then stops the lease keeper and the mover and frees the runtime: returns 0.
 * When the grace expires with tasks still running it marks them taken over
 * (they post nothing more) and releases their entries for immediate
 * redelivery (each re-added as an undelivered copy and the original
 * acknowledged, in one script, so any other worker's next read takes it),
 * returns -1 and leaves the runtime allocated and its threads running: the
 * caller must end the process promptly, with a non-zero status (or call
 * runtime_stop() again to wait for the threads once more). Idle threads
 * finishing a blocked read at the deadline are waited for, not a failure.
 * NULL is a no-op returning 0.
 */
int runtime_stop(struct runtime *rt);

/*
 * A task thread counts as stuck when its task has shown no progress (an
 * outgoing HTTP request beginning or ending, every request of a task thread
 * passes through the runtime's transport) for longer than
 * runtime_no_progress_after_ms(): max(2 x LLM_TIMEOUT_S + 60 s,
 * REDELIVERY_TIMEOUT_MS), 180 s by default; or when it has run longer than
 * runtime_stuck_after_ms(): AGENT_MAX_ITERATIONS x (LLM_TIMEOUT_S + 30 s) +
 * 60 s, the longest a healthy agent run can take (every call bounded by its
 * own timeout).
 */
int64_t runtime_no_progress_after_ms(const struct config *cfg);
int64_t runtime_stuck_after_ms(const struct config *cfg);
/* The number of task threads stuck now (a struct runtime * as void *, for metrics_http). */
int runtime_stuck_threads(void *rt);
/* The same, as it would be at monotonic time now_ms (tests look ahead with it). */
int runtime_stuck_threads_at(struct runtime *rt, int64_t now_ms);

/* Copies the counters (thread-safe). */
void runtime_counters(struct runtime *rt, struct runtime_counters *out);

/*
 * runtime_start(), then waits until env->stopping is set (by another thread),
 * then runtime_stop(). Returns 0, or 1 when the runtime could not start or
 * the grace expired.
 */
int runtime_main(struct worker_env *env, const struct runtime_ops *ops);

#endif
