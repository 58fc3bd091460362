/*
 * err.h - the error record every fallible function fills.
 *
 * A fallible function returns 0 / -1 (or NULL) and fills an optional
 * struct err *. Callers act on the code, never on the text: the worker decides
 * retry-or-dead with err_retryable(). Messages are lowercase, without a final
 * period, and name the thing that failed. Thread rules: none; a struct err is
 * owned by its caller.
 */
#ifndef HAINK_ERR_H
#define HAINK_ERR_H

enum err_code {
	ERR_OK = 0,
	ERR_INVALID,	  /* bad input or usage: permanent */
	ERR_NOT_FOUND,	  /* the thing asked for does not exist: permanent */
	ERR_AUTH,	  /* credentials rejected (401/403, invalid_auth): permanent */
	ERR_IO,		  /* network or file I/O failed: transient */
	ERR_TIMEOUT,	  /* a deadline passed: transient */
	ERR_REDIS,	  /* Redis unreachable or replied with an error: transient */
	ERR_UPSTREAM,	  /* an upstream service failed (5xx): transient */
	ERR_RATE_LIMITED, /* 429 or a local rate limit: transient */
	ERR_PARSE,	  /* a reply or document could not be parsed: permanent */
};

struct err {
	enum err_code code;
	/* For ERR_RATE_LIMITED: how long the upstream asked us to wait, or 0. */
	long retry_after_ms;
	char msg[256];
};

/* Sets code and a printf-formatted message; does nothing when e is NULL. */
void err_set(struct err *e, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets e to ERR_OK with an empty message; accepts NULL. */
void err_clear(struct err *e);

/* Returns 1 for codes worth retrying later (io, timeout, redis, upstream, rate limited). */
int err_retryable(enum err_code code);

/* Returns a short stable name for code ("invalid", "timeout", ...), for logs and metrics. */
const char *err_code_name(enum err_code code);

#endif
