/*
 * ratelimit.c - fixed-window counters (see ratelimit.h).
 */
#include "common.h"
#include "agent/ratelimit.h"

#include <pthread.h>

static const char hit_script[] = "local n = redis.call('INCR', KEYS[1])\n"
				 "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
				 "return n\n";

/*
 * KEYS: the counter. ARGV: window s, member. A string counter is converted
 * to the hash first; the expiry is set whenever the key has none (created
 * now, or converted from a counter that had lost it).
 */
static const char once_script[] =
    "local t = redis.call('TYPE', KEYS[1]).ok\n"
    "if t == 'string' then\n"
    "  local n, ttl = redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  redis.call('HSET', KEYS[1], 'n', tonumber(n) or 0)\n"
    "  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end\n"
    "elseif t ~= 'hash' and t ~= 'none' then\n"
    "  return redis.error_reply('WRONGTYPE rate limit key ' .. KEYS[1] .. ' is a ' .. t)\n"
    "end\n"
    "local m = 'm:' .. ARGV[2]\n"
    "local c = redis.call('HGET', KEYS[1], m)\n"
    "if c then return tonumber(c) end\n"
    "local n = redis.call('HINCRBY', KEYS[1], 'n', 1)\n"
    "redis.call('HSET', KEYS[1], m, n)\n"
    "if redis.call('PTTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
    "return n\n";

static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;
static struct rds_script once;

static void scripts_setup(void)
{
	rds_script_init(&once, once_script);
}

/* Runs script s over key with argv (window, …); stores the integer reply in *count. */
static int run(struct rds *r, struct rds_script *s, const char *key, int argc, const char **argv,
	       long long *count, struct err *err)
{
	redisReply *rep = rds_eval(r, s, 1, argc, argv, NULL, err);

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

int ratelimit_hit(struct rds *r, const char *key, int window_s, long long *count, struct err *err)
{
	struct rds_script s;
	char win[24];
	const char *argv[2] = {key, win};

	rds_script_init(&s, hit_script);
	snprintf(win, sizeof(win), "%d", window_s > 0 ? window_s : RATELIMIT_WINDOW_S);
	return run(r, &s, key, 2, argv, count, err);
}

int ratelimit_hit_once(struct rds *r, const char *key, int window_s, const char *member,
		       long long *count, struct err *err)
{
	char win[24];
	const char *argv[3] = {key, win, member};

	pthread_once(&scripts_once, scripts_setup);
	snprintf(win, sizeof(win), "%d", window_s > 0 ? window_s : RATELIMIT_WINDOW_S);
	return run(r, &once, key, 3, argv, count, err);
}
