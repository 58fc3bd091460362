#include "common.h"
#include "enqueue.h"

#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>

/*
 * KEYS[1] seen marker, KEYS[2] stream; ARGV[1] dedupe TTL, ARGV[2] MAXLEN,
 * ARGV[3..] field/value pairs. Returns the entry id, or false for a duplicate.
 */
static const char enqueue_lua[] =
	"if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return false end\n"
	"local r = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))\n"
	"if type(r) == 'table' and r.err then\n"
	"  redis.call('DEL', KEYS[1])\n"
	"  return r\n"
	"end\n"
	"return r\n";

static pthread_once_t script_once = PTHREAD_ONCE_INIT;
static struct rds_script script;

static void script_setup(void)
{
	rds_script_init(&script, enqueue_lua);
}

enum enqueue_result enqueue_task(struct rds *r, const struct config *cfg, struct task *t,
				 char id_out[32], struct err *err)
{
	const char *fields[TASK_MAX_FIELDS], *values[TASK_MAX_FIELDS];
	const char *argv[4 + 2 * TASK_MAX_FIELDS];
	char nbuf[48], ttl[16], maxlen[24];
	char *seen, *stream;
	redisReply *rep;
	size_t n;
	int argc = 0;
	enum enqueue_result res = ENQUEUE_FAILED;

	pthread_once(&script_once, script_setup);
	t->enqueued_ms = clock_wall_ms();
	n = task_encode(t, fields, values, nbuf);
	seen = keys_seen(cfg->docket_name, t->id);
	stream = keys_tasks(cfg->docket_name);
	snprintf(ttl, sizeof(ttl), "%d", cfg->dedupe_ttl_s);
	snprintf(maxlen, sizeof(maxlen), "%ld", cfg->stream_maxlen);
	argv[argc++] = seen;
	argv[argc++] = stream;
	argv[argc++] = ttl;
	argv[argc++] = maxlen;
	for (size_t i = 0; i < n; i++) {
		argv[argc++] = fields[i];
		argv[argc++] = values[i];
	}
	rep = rds_eval(r, &script, 2, argc, argv, NULL, err);
	if (rep) {
		if (rep->type == REDIS_REPLY_STRING) {
			if (id_out)
				snprintf(id_out, 32, "%s", rep->str);
			res = ENQUEUE_ADDED;
		} else {
			res = ENQUEUE_DUPLICATE;
		}
		freeReplyObject(rep);
	}
	free(seen);
	free(stream);
	return res;
}
