/*
 * dlq.h - the dead-letter stream docket:{D}:dead: tasks that failed for good
 * (MAX_ATTEMPTS reached, a permanent error, or an entry that cannot be
 * decoded). Each dead entry keeps every field of the task entry plus
 * `error` (the reason, for operators), `failed_ms` (wall clock) and
 * `stream_id` (the id of the task entry that failed).
 *
 * The runtime calls dlq_add(); the `haink-worker dlq` verbs call the rest.
 * Thread rules: each call uses only the given connection.
 */
#ifndef HAINK_DLQ_H
#define HAINK_DLQ_H

#include <stddef.h>
#include <stdint.h>

struct rds;
struct err;
struct retry_fields;

/*
 * In one script: XADD the dead entry (f, minus any old error/failed_ms/
 * stream_id, plus the new ones), never trimming the dead stream, then XACK stream_id in
 * the group. Returns 0, or -1 with ERR_REDIS/ERR_TIMEOUT (the task entry then
 * stays pending and is reclaimed later).
 */
int dlq_add(struct rds *r, const char *docket, const char *stream_id, const struct retry_fields *f,
	    const char *error, int64_t failed_ms, struct err *err);

struct dlq_entry {
	char *id;	   /* dead entry id */
	int64_t failed_ms; /* 0 when absent */
	int attempt;	   /* 0 when absent */
	char *error;	   /* "" when absent */
	char *task_id;	   /* "" when absent */
	char *text;	   /* "" when absent */
	char *stream_id;   /* "" when absent */
};

/*
 * Lists up to max dead entries, oldest first. On success *out is an owned
 * array of *n entries (free with dlq_entries_free()). Returns 0 or -1 with err.
 */
int dlq_list(struct rds *r, const char *docket, long max, struct dlq_entry **out, size_t *n,
	     struct err *err);
void dlq_entries_free(struct dlq_entry *e, size_t n);

/*
 * Puts the dead entry dead_id back on the task stream with attempt=1, a fresh
 * enqueued_ms, a `replayed` field naming dead_id and without the dead-letter
 * fields, removes the task state's "failed" (so a given-up question runs
 * again with a fresh attempt budget instead of being acknowledged as
 * finished; its placeholder ts stays, so the answer replaces the apology),
 * then deletes it from the dead stream, in one script. Returns 1 and
 * the new entry id in new_id, 0 when no such dead entry exists (ERR_NOT_FOUND
 * set), or -1 with err (ERR_INVALID for a malformed id).
 */
int dlq_replay(struct rds *r, const char *docket, const char *dead_id, char new_id[64],
	       struct err *err);

/*
 * dlq_replay() of every entry dead when the call starts, oldest first; an
 * entry dead-lettered meanwhile (a replayed task that failed again) is left
 * for the next call. Returns how many were replayed, or -1 with err (those
 * replayed before the error stay replayed).
 */
long long dlq_replay_all(struct rds *r, const char *docket, struct err *err);

/* Deletes the dead stream. Returns how many entries it held, or -1 with err. */
long long dlq_purge(struct rds *r, const char *docket, struct err *err);

#endif
