#include "common.h"

#include <stdarg.h>
#include <stdio.h>

void err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	e->code = code;
	e->retry_after_ms = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->code = ERR_OK;
	e->retry_after_ms = 0;
	e->msg[0] = '\0';
}

int err_retryable(enum err_code code)
{
	switch (code) {
	case ERR_IO:
	case ERR_TIMEOUT:
	case ERR_REDIS:
	case ERR_UPSTREAM:
	case ERR_RATE_LIMITED:
		return 1;
	default:
		return 0;
	}
}

const char *err_code_name(enum err_code code)
{
	static const char *const names[] = {
	    [ERR_OK] = "ok",
	    [ERR_INVALID] = "invalid",
	    [ERR_NOT_FOUND] = "not_found",
	    [ERR_AUTH] = "auth",
	    [ERR_IO] = "io",
	    [ERR_TIMEOUT] = "timeout",
	    [ERR_REDIS] = "redis",
	    [ERR_UPSTREAM] = "upstream",
	    [ERR_RATE_LIMITED] = "rate_limited",
	    [ERR_PARSE] = "parse",
	};
	if ((unsigned)code < sizeof(names) / sizeof(names[0]) && names[code])
		return names[code];
	return "unknown";
}
