/*
 * enqueue.h - put a task on the stream exactly once.
 *
 * One server-side script marks the task id seen (SET NX EX DEDUPE_TTL_S) and,
 * only when it was not seen before, XADDs the task with MAXLEN ~. Should the
 * XADD fail, the script removes the mark again, so an id is never "seen"
 * without being queued; both keys carry the {docket} hash tag, so the script
 * is valid on Redis Cluster. The script runs with EVALSHA, falling back to
 * EVAL when the server answers NOSCRIPT.
 *
 * Two ways in:
 * - enqueue_task() runs the script on the caller's own connection (one
 *   struct rds per thread).
 * - An enqueue_batcher is shared by every civetweb thread: requests arriving
 *   at the same time ride one script call on one shared connection (group
 *   commit). The first caller to find no batch running becomes the leader: it
 *   takes every queued request (its own included), runs the script once for
 *   all of them, hands each caller its own result and passes the lead to the
 *   oldest request queued meanwhile. Alone, a request is a batch of one and
 *   waits for nothing. The script marks and adds each task on its own, so
 *   results are per request (a duplicate, or an XADD error, affects exactly
 *   its task); a lost connection or an error for the whole call fails the
 *   whole batch, and Slack's retries of any task the server did store are
 *   then duplicates, never second entries.
 */
#ifndef HAINK_ENQUEUE_H
#define HAINK_ENQUEUE_H

#include "common.h"

enum enqueue_result { ENQUEUE_FAILED = -1, ENQUEUE_DUPLICATE = 0, ENQUEUE_ADDED = 1 };

/*
 * Sets t->enqueued_ms to now and enqueues t on cfg->docket_name's stream using
 * r (caller's, one thread at a time). Returns ENQUEUE_ADDED (stream id copied
 * into id_out when given, 32 bytes), ENQUEUE_DUPLICATE, or ENQUEUE_FAILED with
 * ERR_REDIS / ERR_TIMEOUT. Each task added counts in
 * haink_tasks_enqueued_total{type} (the global registry).
 */
enum enqueue_result enqueue_task(struct rds *r, const struct config *cfg, struct task *t,
				 char id_out[32], struct err *err);

struct enqueue_batcher;

/*
 * Returns a new batcher for redis_url (connect timeout connect_ms, reply
 * timeout reply_ms; the connection opens on first use and reconnects with
 * backoff after errors), or NULL with ERR_INVALID for a bad URL. cfg is
 * borrowed and must outlive the batcher. Free with enqueue_batcher_free()
 * once no thread uses it any more (accepts NULL).
 */
struct enqueue_batcher *enqueue_batcher_new(const struct config *cfg, const char *redis_url,
					    int connect_ms, int reply_ms, struct err *err);
void enqueue_batcher_free(struct enqueue_batcher *b);

/*
 * As enqueue_task(), through b's shared pipeline. Thread-safe; blocks until
 * the result is known. A request waits at most for the batch ahead of it and
 * its own, and every Redis wait is bounded by the connect and reply timeouts
 * (a dead Redis fails the whole batch at once, and then fails fast while the
 * reconnect backs off), so an outage never hangs a caller.
 */
enum enqueue_result enqueue_batch_task(struct enqueue_batcher *b, struct task *t, char id_out[32],
				       struct err *err);

/* Statistics for tests and logs: requests and pipelines run so far. */
void enqueue_batcher_stats(struct enqueue_batcher *b, long long *requests, long long *batches);

#endif
