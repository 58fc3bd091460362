/*
 * ratelimit.h - fixed-window counters in Redis, each kept by one script (so
 * a key never lives without its expiry; one key per call, valid on Redis
 * Cluster).
 *
 * ratelimit_hit() counts every call (INCR, EXPIRE when it created the key):
 * web searches per thread (tool_web.c). ratelimit_hit_once() counts each
 * member once per window (a hash: field "n" the count, "m:<member>" the count
 * that member got): answers per thread and per user (answer.c), whose member
 * is the task id, so a redelivered task is neither counted again nor judged
 * differently. Thread-safe with one connection per thread.
 */
#ifndef HAINK_RATELIMIT_H
#define HAINK_RATELIMIT_H

struct rds;
struct err;

#define RATELIMIT_WINDOW_S 3600

/*
 * Counts one hit on key (window window_s seconds from its first hit) and
 * stores the new count in *count. Returns 0 or -1 with err (ERR_REDIS).
 */
int ratelimit_hit(struct rds *r, const char *key, int window_s, long long *count, struct err *err);

/*
 * Counts member's hit on key once per window (window_s seconds from the
 * key's first hit): *count is the count after member's first hit in this
 * window, the same number on every later call for member. A key holding a
 * plain counter (ratelimit_hit(), or before this function existed) is
 * converted in place, keeping its count and expiry. Returns 0 or -1 with err
 * (ERR_REDIS).
 */
int ratelimit_hit_once(struct rds *r, const char *key, int window_s, const char *member,
		       long long *count, struct err *err);

#endif
