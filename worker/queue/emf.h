/*
 * emf.h - the queue figures for CloudWatch, as Embedded Metric Format lines.
 *
 * On ECS the worker tasks' stdout and stderr already go to CloudWatch Logs
 * (awslogs), and CloudWatch extracts metrics from any log event written in the
 * Embedded Metric Format (EMF): a JSON object whose "_aws" member names the
 * namespace, dimensions and metrics. So the queue depth that drives worker
 * autoscaling needs no agent, no sidecar and no PutMetricData permission.
 *
 * With QUEUE_METRICS_EMF=1, `haink-worker run` starts one publisher thread
 * (emf_start). Every EMF_PERIOD_MS it takes or renews a leader lease in Redis
 * (keys_emf_leader(), a PX expiry of EMF_LEASE_MS); only the lease holder reads
 * the queue and writes one line on stdout, so N workers publish one series,
 * not N copies of it. When the holder stops (emf_stop releases the lease) or
 * dies (the lease expires), another worker's next tick takes over.
 *
 * Line (one JSON object, one line, namespace "Haink", dimension Docket):
 *   StreamLength             XLEN of the task stream                 Count
 *   QueueDepth               entries not yet delivered (group lag)   Count
 *   Pending                  delivered, not yet acknowledged         Count
 *   OldestPendingAgeSeconds  Redis time minus the smallest pending
 *                            id's time (0 when nothing is pending)   Seconds
 *   DeadLetters              XLEN of the dead-letter stream          Count
 *   RedisMemoryUsedPercent   used_memory / maxmemory * 100, only
 *                            when the server sets maxmemory          Percent
 *
 * Thread rules: emf_format, emf_sample_read, emf_lease_acquire,
 * emf_lease_release and emf_tick are reentrant (the caller owns the rds);
 * emf_start/emf_stop are called from the thread that runs `run`.
 */
#ifndef HAINK_EMF_H
#define HAINK_EMF_H

#include <stdint.h>

struct buf;
struct err;
struct rds;
struct worker_env;

#define EMF_NAMESPACE "Haink"
#define EMF_PERIOD_MS 60000
/* Long enough to survive one missed tick, short enough for a quick takeover. */
#define EMF_LEASE_MS (2 * EMF_PERIOD_MS + EMF_PERIOD_MS / 2)

struct emf_sample {
	int64_t timestamp_ms; /* wall clock of the reading, ms since the epoch */
	long long length;
	long long depth;
	long long pending;
	long long oldest_pending_age_s;
	long long dead;
	double redis_memory_pct; /* < 0: unknown (no maxmemory), left out of the line */
};

/*
 * Appends one EMF line for docket (JSON, ending in '\n', no other newline) to
 * out. Never fails for valid input; docket is escaped as a JSON string.
 */
void emf_format(const char *docket, const struct emf_sample *s, struct buf *out);

/*
 * Reads the figures of docket's queue with r (several commands). A missing
 * stream or group reads as zeros. Returns 0, or -1 with err (ERR_REDIS,
 * ERR_TIMEOUT) when Redis fails.
 */
int emf_sample_read(struct rds *r, const char *docket, struct emf_sample *out, struct err *err);

/*
 * Takes the lease for holder when free, or renews it when holder already has
 * it (atomically, one script), for lease_ms. Returns 1 when holder holds it
 * now, 0 when another holder does, -1 with err when Redis fails.
 */
int emf_lease_acquire(struct rds *r, const char *docket, const char *holder, int lease_ms,
		      struct err *err);
/* Deletes the lease when holder has it. Returns 0, or -1 with err. */
int emf_lease_release(struct rds *r, const char *docket, const char *holder, struct err *err);

/*
 * One publisher step: acquire or renew the lease; when held, read the sample
 * and write its line to fd with one write(). Returns 1 when a line was
 * written, 0 when another holder has the lease, -1 with err on a Redis or
 * write failure.
 */
int emf_tick(struct rds *r, const char *docket, const char *holder, int lease_ms, int fd,
	     struct err *err);

struct emf;

/*
 * Starts the publisher thread for env (its own Redis connection, stdout)
 * when env->cfg->queue_metrics_emf is set; otherwise does nothing and
 * returns NULL with err untouched. The first tick runs at once. Returns the
 * publisher, or NULL with err when the thread cannot start. env is borrowed
 * and must outlive the publisher.
 */
struct emf *emf_start(struct worker_env *env, struct err *err);
/* Stops the thread, releases the lease if held, frees the publisher; accepts NULL. */
void emf_stop(struct emf *p);

#endif
