/*
 * daily.h - daily rollups in the hash metrics:<YYYY-MM-DD> (UTC), kept
 * KEYS_METRICS_TTL_S, read by `haink-worker stats`.
 *
 * Fields written by the runtime: tasks_answered, tasks_feedback (handler
 * succeeded, by task type), tasks_retried, tasks_dead, tasks_reclaimed,
 * latency_ms_sum (handler time of answered questions; divide by
 * tasks_answered). The answering side adds its own
 * (feedback_helpful, feedback_not_helpful, ...) with daily_incr().
 *
 * Rollups are best effort: a failure is returned but never worth failing a
 * task for. Thread rules: each call uses only the given connection.
 */
#ifndef HAINK_DAILY_H
#define HAINK_DAILY_H

#include <stddef.h>
#include <stdint.h>

struct rds;
struct err;

/* Adds by to field in today's hash and refreshes its TTL. Returns 0 or -1. */
int daily_incr(struct rds *r, const char *field, long long by);

/*
 * Adds by[i] to fields[i] (n pairs) in the hash of the UTC day of wall_ms and
 * refreshes its TTL, in one pipeline. Returns 0, or -1 with err.
 */
int daily_incrv(struct rds *r, int64_t wall_ms, size_t n, const char *const *fields,
		const long long *by, struct err *err);

/*
 * The two halves of daily_incrv(), so a caller can send the rollup in the
 * same round trip as its own commands: daily_append() queues the commands
 * (rds_append) and sets *queued to how many it queued, also on failure;
 * daily_read_replies() then reads exactly that many replies. Both return 0
 * or -1 with err; after a failed read the connection is dropped and the
 * rest of the pipeline is lost (rds.h).
 */
int daily_append(struct rds *r, int64_t wall_ms, size_t n, const char *const *fields,
		 const long long *by, int *queued, struct err *err);
int daily_read_replies(struct rds *r, int queued, struct err *err);

#endif
