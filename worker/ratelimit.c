/*
 * ratelimit.c - fixed-window counters (see ratelimit.h).
 */
#include "common.h"
#include "ratelimit.h"

static const char hit_script[] = "local n = redis.call('INCR', KEYS[1])\n"
				 "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
				 "return n\n";

int ratelimit_hit(struct rds *r, const char *key, int window_s, long long *count, struct err *err)
{
	struct rds_script s;
	char win[24];
	const char *argv[2] = {key, win};
	redisReply *rep;

	rds_script_init(&s, hit_script);
	snprintf(win, sizeof(win), "%d", window_s > 0 ? window_s : RATELIMIT_WINDOW_S);
	rep = rds_eval(r, &s, 1, 2, argv, NULL, err);
	if (!rep)
		return -1;
	if (rep->type != REDIS_REPLY_INTEGER) {
		err_set(err, ERR_REDIS, "rate limit script returned no count for '%s'", key);
		freeReplyObject(rep);
		return -1;
	}
	*count = rep->integer;
	freeReplyObject(rep);
	return 0;
}
