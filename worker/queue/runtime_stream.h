/*
 * runtime_stream.h - the queue runtime's operations on the task stream
 * docket:{D}:tasks and its consumer group "workers", each one command or
 * one atomic script: create the group, read an entry's delivery count, renew
 * leases only while owned, release an entry for immediate redelivery, trim
 * what every group acknowledged.
 *
 * runtime.c calls them from its task threads, lease keeper and mover; tests
 * and the CLI call runtime_ensure_group() and runtime_trim_acked(). Every
 * function uses only the connection it is given (one thread at a time).
 */
#ifndef HAINK_RUNTIME_STREAM_H
#define HAINK_RUNTIME_STREAM_H

struct rds;
struct err;

/*
 * XGROUP CREATE <stream> workers 0 MKSTREAM, treating BUSYGROUP as success.
 * Returns 0 or -1 with err.
 */
int runtime_ensure_group(struct rds *r, const char *docket, struct err *err);

/*
 * Deletes task entries that every consumer group has delivered and
 * acknowledged (below each group's oldest pending entry, or its last-delivered
 * id when none is pending), in one script; never an entry still unread or
 * pending. The mover runs it every few seconds, which keeps the stream to the
 * backlog, so STREAM_MAXLEN can cap the backlog (the API refuses new tasks at
 * the cap) instead of deleting work. Returns how many entries were deleted, or
 * -1 with err.
 */
long long runtime_trim_acked(struct rds *r, const char *docket, struct err *err);

/* XPENDING's delivery count of entry id of stream, or 1 when it cannot be read. */
long long runtime_stream_delivery_count(struct rds *r, const char *stream, const char *id);

/* Per-entry outcomes of runtime_stream_renew(). */
enum runtime_lease {
	RUNTIME_LEASE_FAILED = -1,   /* an error reply, or none came */
	RUNTIME_LEASE_LOST = 0,	     /* another worker owns it, or it was acknowledged */
	RUNTIME_LEASE_RENEWED = 1,   /* still owned: idle time reset */
	RUNTIME_LEASE_TAKEN_BACK = 2 /* a sibling consumer had claimed it: claimed back */
};

/*
 * Renews the leases of n entries of stream in one pipeline: ids[i], run by
 * consumers[i]. Each renewal (XCLAIM … 0 JUSTID, so the delivery count
 * stays) happens only while consumers[i] still owns the entry; when one of
 * the nsiblings consumers of the same process owns it (its recovery scan
 * claimed it while renewals could not reach Redis), it is claimed back with
 * that claim's delivery count undone. A plain XCLAIM would steal back an
 * entry another worker took over. Stores each outcome in out[i] and returns
 * 0, or -1 with err when any renewal failed.
 */
int runtime_stream_renew(struct rds *r, const char *stream, int n, const char *const *consumers,
			 const char *const *ids, int nsiblings, const char *const *siblings,
			 enum runtime_lease *out, struct err *err);

/*
 * Releases entry id of stream, if consumer still owns it: adds a copy at the
 * end of the stream (undelivered: any worker's next XREADGROUP takes it, and
 * its delivery count starts afresh) and acknowledges the original, in one
 * script. Returns 1 when released, 0 when there was nothing to release
 * (another worker took it over, it was acknowledged, or its entry was
 * deleted: that pending entry is dropped), -1 with err.
 */
int runtime_stream_release(struct rds *r, const char *stream, const char *consumer, const char *id,
			   struct err *err);

#endif
