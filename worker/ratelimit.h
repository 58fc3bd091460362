/*
 * ratelimit.h - fixed-window counters in Redis: INCR, and EXPIRE only when
 * the INCR created the key, done atomically by one script (so a key never
 * lives without its expiry). Used for answers per thread and per user
 * (answer.c) and web searches per thread (tool_web.c). Thread-safe with one
 * connection per thread.
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

#endif
