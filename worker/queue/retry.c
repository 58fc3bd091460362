#include "common.h"
#include "queue/retry.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>

long retry_backoff_ceiling_ms(int attempt, long base_ms, long cap_ms)
{
	long ceil_ms;

	if (cap_ms <= 0)
		cap_ms = RETRY_CAP_MS;
	if (base_ms <= 0)
		return 0;
	if (attempt < 1)
		attempt = 1;
	ceil_ms = base_ms < cap_ms ? base_ms : cap_ms;
	/* double step by step so a large attempt can never overflow */
	for (int i = 1; i < attempt && ceil_ms < cap_ms; i++)
		ceil_ms = ceil_ms > cap_ms / 2 ? cap_ms : ceil_ms * 2;
	return ceil_ms;
}

uint64_t retry_rng_xorshift(void *ctx)
{
	uint64_t *s = ctx;

	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static uint64_t default_rng(void *ctx)
{
	static _Thread_local uint64_t state;

	(void)ctx;
	if (!state) {
		if (RAND_bytes((unsigned char *)&state, sizeof(state)) != 1 || !state)
			state = (uint64_t)clock_mono_ns() ^ (uint64_t)(uintptr_t)&state;
		if (!state)
			state = 0x9E3779B97F4A7C15ULL;
	}
	return retry_rng_xorshift(&state);
}

long retry_backoff_ms(int attempt, long base_ms, long cap_ms, retry_rng_fn *rng, void *rng_ctx)
{
	long ceil_ms = retry_backoff_ceiling_ms(attempt, base_ms, cap_ms);

	if (ceil_ms <= 0)
		return 0;
	if (!rng)
		rng = default_rng;
	/* the modulo bias over 2^64 is far below anything a retry cares about */
	return (long)(rng(rng_ctx) % ((uint64_t)ceil_ms + 1));
}

long retry_delay_ms(int attempt, long base_ms, long retry_after_ms, retry_rng_fn *rng,
		    void *rng_ctx)
{
	long d = retry_backoff_ms(attempt, base_ms, RETRY_CAP_MS, rng, rng_ctx);

	return retry_after_ms > d ? retry_after_ms : d;
}

long retry_delay_within(long delay_ms, int64_t now_ms, int64_t enqueued_ms, int64_t life_ms)
{
	int64_t left;

	if (enqueued_ms <= 0)
		return delay_ms;
	left = enqueued_ms + life_ms - now_ms;
	if (left <= 0)
		return -1;
	return (int64_t)delay_ms > left ? (long)left : delay_ms;
}

/* --- field lists ---------------------------------------------------------- */

void retry_fields_init(struct retry_fields *f)
{
	memset(f, 0, sizeof(*f));
}

void retry_fields_release(struct retry_fields *f)
{
	free(f->name);
	free(f->name_len);
	free(f->value);
	free(f->value_len);
	memset(f, 0, sizeof(*f));
}

void retry_fields_add(struct retry_fields *f, const char *name, size_t name_len, const char *value,
		      size_t value_len)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		f->name = xrealloc(f->name, cap * sizeof(*f->name));
		f->name_len = xrealloc(f->name_len, cap * sizeof(*f->name_len));
		f->value = xrealloc(f->value, cap * sizeof(*f->value));
		f->value_len = xrealloc(f->value_len, cap * sizeof(*f->value_len));
		f->cap = cap;
	}
	f->name[f->n] = name;
	f->name_len[f->n] = name_len;
	f->value[f->n] = value;
	f->value_len[f->n] = value_len;
	f->n++;
}

static int name_is(const struct retry_fields *f, size_t i, const char *name)
{
	size_t n = strlen(name);

	return f->name_len[i] == n && !memcmp(f->name[i], name, n);
}

void retry_fields_set(struct retry_fields *f, const char *name, const char *value)
{
	int found = 0;

	for (size_t i = 0; i < f->n; i++) {
		if (name_is(f, i, name)) {
			f->value[i] = value;
			f->value_len[i] = strlen(value);
			found = 1;
		}
	}
	if (!found)
		retry_fields_add(f, name, strlen(name), value, strlen(value));
}

void retry_fields_remove(struct retry_fields *f, const char *name)
{
	size_t o = 0;

	for (size_t i = 0; i < f->n; i++) {
		if (name_is(f, i, name))
			continue;
		f->name[o] = f->name[i];
		f->name_len[o] = f->name_len[i];
		f->value[o] = f->value[i];
		f->value_len[o] = f->value_len[i];
		o++;
	}
	f->n = o;
}

const char *retry_fields_get(const struct retry_fields *f, const char *name, size_t *len)
{
	for (size_t i = 0; i < f->n; i++) {
		if (name_is(f, i, name)) {
			if (len)
				*len = f->value_len[i];
			return f->value[i];
		}
	}
	return NULL;
}

int retry_fields_from_reply(struct retry_fields *f, const redisReply *arr)
{
	if (!arr || arr->type != REDIS_REPLY_ARRAY || arr->elements % 2)
		return -1;
	for (size_t i = 0; i + 1 < arr->elements; i += 2) {
		const redisReply *k = arr->element[i], *v = arr->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			return -1;
		retry_fields_add(f, k->str, k->len, v->str, v->len);
	}
	return 0;
}

char *retry_member(const char *stream_id, const struct retry_fields *f, size_t *len)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, "{\"u\":");
	buf_add_json_str(&b, stream_id, strlen(stream_id));
	buf_adds(&b, ",\"f\":[");
	for (size_t i = 0; i < f->n; i++) {
		if (i)
			buf_addch(&b, ',');
		buf_add_json_str(&b, f->name[i], f->name_len[i]);
		buf_addch(&b, ',');
		buf_add_json_str(&b, f->value[i], f->value_len[i]);
	}
	buf_adds(&b, "]}");
	return buf_detach(&b, len);
}

/* --- scripts -------------------------------------------------------------- */

/* KEYS: stream, scheduled. ARGV: group, entry id, due ms, member. */
static const char schedule_lua[] = "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])\n"
				   "return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n";

/*
 * KEYS: scheduled, stream, dead. ARGV: now ms, limit.
 * ZREM before XADD is safe: the script runs atomically. No MAXLEN: a retry
 * is unprocessed work, and the workers trim only acknowledged entries.
 */
static const char move_lua[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])\n"
    "local moved = 0\n"
    "for i = 1, #due do\n"
    "  local m = due[i]\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "  local ok, obj = pcall(cjson.decode, m)\n"
    "  if ok and type(obj) == 'table' and type(obj.f) == 'table' and #obj.f >= 2\n"
    "     and #obj.f % 2 == 0 then\n"
    "    redis.call('XADD', KEYS[2], '*', unpack(obj.f))\n"
    "    moved = moved + 1\n"
    "  else\n"
    "    redis.call('XADD', KEYS[3], '*', 'error',\n"
    "      'unreadable scheduled retry', 'member', m, 'failed_ms', ARGV[1])\n"
    "  end\n"
    "end\n"
    "return moved\n";

static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;
static struct rds_script schedule_script, move_script;

static void scripts_setup(void)
{
	rds_script_init(&schedule_script, schedule_lua);
	rds_script_init(&move_script, move_lua);
}

int retry_schedule(struct rds *r, const char *docket, const char *stream_id, const char *member,
		   size_t member_len, int64_t due_ms, struct err *err)
{
	char *stream = keys_tasks(docket), *sched = keys_scheduled(docket);
	char due[24];
	const char *argv[6] = {stream, sched, KEYS_GROUP, stream_id, due, member};
	size_t lens[6];
	redisReply *rep;

	pthread_once(&scripts_once, scripts_setup);
	snprintf(due, sizeof(due), "%lld", (long long)due_ms);
	for (int i = 0; i < 5; i++)
		lens[i] = strlen(argv[i]);
	lens[5] = member_len;
	rep = rds_eval(r, &schedule_script, 2, 6, argv, lens, err);
	free(stream);
	free(sched);
	if (!rep)
		return -1;
	freeReplyObject(rep);
	return 0;
}

long retry_move_due(struct rds *r, const char *docket, int64_t now_ms, int limit, struct err *err)
{
	char *sched = keys_scheduled(docket), *stream = keys_tasks(docket),
	     *dead = keys_dead(docket);
	char now[24], lim[16];
	const char *argv[5] = {sched, stream, dead, now, lim};
	redisReply *rep;
	long moved;

	pthread_once(&scripts_once, scripts_setup);
	snprintf(now, sizeof(now), "%lld", (long long)now_ms);
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
	rep = rds_eval(r, &move_script, 3, 5, argv, NULL, err);
	free(sched);
	free(stream);
	free(dead);
	if (!rep)
		return -1;
	moved = (long)rds_reply_int(rep, 0);
	freeReplyObject(rep);
	return moved;
}
