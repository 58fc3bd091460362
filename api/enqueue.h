/*
 * enqueue.h - put a task on the stream exactly once.
 *
 * One server-side script marks the task id seen (SET NX EX DEDUPE_TTL_S) and,
 * only when it was not seen before, XADDs the task with MAXLEN ~. Should the
 * XADD fail, the script removes the mark again, so an id is never "seen"
 * without being queued; both keys carry the {docket} hash tag, so the script
 * is valid on Redis Cluster. Thread-safe given one struct rds per thread.
 */
#ifndef HAINK_ENQUEUE_H
#define HAINK_ENQUEUE_H

#include "common.h"

enum enqueue_result { ENQUEUE_FAILED = -1, ENQUEUE_DUPLICATE = 0, ENQUEUE_ADDED = 1 };

/*
 * Sets t->enqueued_ms to now and enqueues t on DOCKET_NAME's stream. Returns
 * ENQUEUE_ADDED (stream id copied into id_out when given, 32 bytes),
 * ENQUEUE_DUPLICATE, or ENQUEUE_FAILED with ERR_REDIS / ERR_TIMEOUT.
 */
enum enqueue_result enqueue_task(struct rds *r, const struct config *cfg, struct task *t,
				 char id_out[32], struct err *err);

#endif
