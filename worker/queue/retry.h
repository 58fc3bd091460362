/*
 * retry.h - retries of failed tasks: the backoff schedule, the scheduled ZSET
 * docket:{D}:scheduled and the mover script that brings due entries back to
 * the task stream (docs/architecture.md, "Durability").
 *
 * The runtime (runtime_task.c) calls retry_delay_ms() and retry_schedule() when a
 * handler fails with a retryable error, and one thread per process calls
 * retry_move_due() every ~200 ms. A ZSET member carries the whole task: the
 * JSON object {"u":"<stream id of the failed delivery>","f":[field, value, …]}
 * scored by its due time in wall-clock milliseconds. The stream id makes each
 * member unique per delivery, and scheduling the same delivery twice (a crash
 * between the script and the caller noticing) collapses into one member.
 *
 * struct retry_fields is the flat field/value list of a stream entry with
 * borrowed strings, shared with dlq.c for building dead-letter entries.
 *
 * Thread rules: the functions taking a struct rds use only that connection;
 * everything else is pure. The default RNG is per thread.
 */
#ifndef HAINK_RETRY_H
#define HAINK_RETRY_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

struct rds;
struct err;

/* The longest single backoff, whatever the attempt (60 s). */
#define RETRY_CAP_MS 60000L

/* Returns 64 random bits; ctx is the caller's state. */
typedef uint64_t retry_rng_fn(void *ctx);

/*
 * Full-jitter exponential backoff before the retry that follows attempt
 * `attempt` (1 = the first delivery failed): a uniform draw in
 * [0, min(cap_ms, base_ms * 2^(attempt-1))]. attempt < 1 counts as 1;
 * cap_ms <= 0 means RETRY_CAP_MS; base_ms <= 0 gives 0. rng NULL uses a
 * per-thread generator seeded from the OS. Deterministic for a given rng.
 */
long retry_backoff_ms(int attempt, long base_ms, long cap_ms, retry_rng_fn *rng, void *rng_ctx);

/* The upper bound of that draw: min(cap, base * 2^(attempt-1)), same conventions. */
long retry_backoff_ceiling_ms(int attempt, long base_ms, long cap_ms);

/*
 * The delay actually used: max(retry_backoff_ms(attempt, base_ms, RETRY_CAP_MS),
 * retry_after_ms) so an upstream's Retry-After is honoured.
 */
long retry_delay_ms(int attempt, long base_ms, long retry_after_ms, retry_rng_fn *rng,
		    void *rng_ctx);

/*
 * Fits a retry into the life of the task's state: a retry due at most life_ms
 * after enqueued_ms (wall clock; <= 0 means unknown, delay_ms is returned
 * as is). Returns delay_ms, or less when it would be due later (so a long
 * Retry-After is shortened to the time left), or -1 when no time is left.
 */
long retry_delay_within(long delay_ms, int64_t now_ms, int64_t enqueued_ms, int64_t life_ms);

/* A xorshift64* step over *(uint64_t *)ctx (which must be non-zero); usable as retry_rng_fn. */
uint64_t retry_rng_xorshift(void *ctx);

/* A stream entry's fields; every string is borrowed from the caller's storage. */
struct retry_fields {
	size_t n, cap;
	const char **name;
	size_t *name_len;
	const char **value;
	size_t *value_len;
};

void retry_fields_init(struct retry_fields *f);
void retry_fields_release(struct retry_fields *f);
/* Appends one pair (borrowed pointers; lengths given, binary-safe). */
void retry_fields_add(struct retry_fields *f, const char *name, size_t name_len, const char *value,
		      size_t value_len);
/* Replaces the value of every pair named name (NUL-terminated), or appends one. */
void retry_fields_set(struct retry_fields *f, const char *name, const char *value);
/* Removes every pair named name. */
void retry_fields_remove(struct retry_fields *f, const char *name);
/* Returns the value of the first pair named name (borrowed, not NUL-terminated) or NULL. */
const char *retry_fields_get(const struct retry_fields *f, const char *name, size_t *len);
/*
 * Appends the pairs of a stream entry's field array (a hiredis array of
 * strings, borrowed: keep the reply alive while f is used). Returns 0, or -1
 * when the array is not an even list of strings (f then holds what was valid).
 */
int retry_fields_from_reply(struct retry_fields *f, const redisReply *arr);

/*
 * Returns the owned ZSET member for a retry of the entry stream_id with fields
 * f (which should already carry the next attempt number); free with free().
 */
char *retry_member(const char *stream_id, const struct retry_fields *f, size_t *len);

/*
 * In one script: ZADD docket:{D}:scheduled due_ms member and XACK stream_id
 * in the group, so a crash can neither lose the task nor leave it both
 * pending and scheduled. Returns 0, or -1 with ERR_REDIS/ERR_TIMEOUT (then
 * nothing or everything happened; the entry stays pending if nothing did).
 */
int retry_schedule(struct rds *r, const char *docket, const char *stream_id, const char *member,
		   size_t member_len, int64_t due_ms, struct err *err);

/*
 * The mover: one script moves up to limit members due at now_ms (score <=
 * now_ms) back to the task stream (XADD, never trimming) and removes them
 * from the ZSET; an unreadable member goes to the dead-letter stream instead
 * of being lost. Atomic, so several processes may run it concurrently without
 * moving a member twice. Returns the number moved, or -1 with err.
 */
long retry_move_due(struct rds *r, const char *docket, int64_t now_ms, int limit, struct err *err);

#endif
