/*
 * log.h - one log line per event on stderr, JSON or text.
 *
 * JSON lines carry ts, level, component, msg, the calling thread's context
 * (task_id, event_id, request_id when set) and any extra key/value pairs:
 *   {"ts":"2026-11-22T05:00:00.123Z","level":"info","component":"api",
 *    "msg":"request","request_id":"…","route":"/slack/events","code":"200"}
 * Never pass tokens or secrets. Thread-safe: log_setup() once before threads
 * start; each line is written with one write(2), so lines never interleave.
 */
#ifndef HAINK_LOG_H
#define HAINK_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Sets the component name (borrowed; must outlive logging), threshold and format. */
void log_setup(const char *component, enum log_level level, int json);

/* Returns the level for "debug|info|warn|error", or -1. */
int log_level_parse(const char *s);

/* Returns 1 when a line at lvl would be written. */
int log_enabled(enum log_level lvl);

/*
 * Sets this thread's context fields (copied; NULL clears one). They are added
 * to every line the thread logs until changed. log_ctx_clear() clears all.
 */
void log_ctx_set(const char *key, const char *value);
void log_ctx_clear(void);

/* Logs a printf-formatted message. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Logs msg with extra string fields given as key, value pairs ending with NULL:
 *   log_kv(LOG_INFO, "task done", "task_id", id, "outcome", "ok", NULL);
 * A NULL value is skipped.
 */
void log_kv(enum log_level lvl, const char *msg, ...) __attribute__((sentinel));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
