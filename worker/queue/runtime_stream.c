/*
 * runtime_stream.c - the queue runtime's operations on the task stream (see
 * runtime_stream.h).
 */
#include "common.h"
#include "queue/runtime_stream.h"

#include <pthread.h>
#include <stdlib.h>

/*
 * KEYS: stream. ARGV: group, consumer, entry id, then the sibling consumers.
 * Returns 1 renewed, 2 taken back from a sibling, 0 lost.
 */
static const char renew_lua[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)\n"
    "if #p == 0 then return 0 end\n"
    "local owner, count = p[1][2], tonumber(p[1][4])\n"
    "if owner == ARGV[2] then\n"
    "  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')\n"
    "  return 1\n"
    "end\n"
    "for i = 4, #ARGV do\n"
    "  if owner == ARGV[i] then\n"
    "    if count > 1 then count = count - 1 end\n"
    "    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'RETRYCOUNT', count,\n"
    "      'JUSTID')\n"
    "    return 2\n"
    "  end\n"
    "end\n"
    "return 0\n";

/* KEYS: stream. ARGV: group, consumer, entry id. Returns 1 released, 0 nothing to release. */
static const char release_lua[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])\n"
    "if #p == 0 then return 0 end\n"
    "local e = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])\n"
    "if #e == 1 then redis.call('XADD', KEYS[1], '*', unpack(e[1][2])) end\n"
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])\n"
    "return #e\n";

/*
 * KEYS: stream. Trims entries below the lowest id any consumer group still
 * needs: per group, its oldest pending entry, or (none pending) its
 * last-delivered id. Below that every entry was delivered and acknowledged
 * by every group; MINID deletes exactly those (ids below the floor). It runs
 * every few seconds, so each call deletes only what was acknowledged since.
 * No group yet: nothing is trimmed.
 */
static const char trim_lua[] =
    "local function lt(a, b)\n"
    "  local am, as = string.match(a, '^(%d+)-(%d+)$')\n"
    "  local bm, bs = string.match(b, '^(%d+)-(%d+)$')\n"
    "  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)\n"
    "  return am < bm or (am == bm and as < bs)\n"
    "end\n"
    "local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])\n"
    "if type(groups) ~= 'table' or groups.err or #groups == 0 then return 0 end\n"
    "local floor = nil\n"
    "for _, g in ipairs(groups) do\n"
    "  local name, last\n"
    "  for i = 1, #g, 2 do\n"
    "    if g[i] == 'name' then name = g[i + 1] end\n"
    "    if g[i] == 'last-delivered-id' then last = g[i + 1] end\n"
    "  end\n"
    "  if not name or not last then return 0 end\n"
    "  local need = last\n"
    "  local p = redis.call('XPENDING', KEYS[1], name)\n"
    "  if p[1] > 0 then need = p[2] end\n"
    "  if not floor or lt(need, floor) then floor = need end\n"
    "end\n"
    "return redis.call('XTRIM', KEYS[1], 'MINID', floor)\n";

static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;
static struct rds_script release_script, trim_script;

static void scripts_setup(void)
{
	rds_script_init(&release_script, release_lua);
	rds_script_init(&trim_script, trim_lua);
}

int runtime_ensure_group(struct rds *r, const char *docket, struct err *err)
{
	char *stream = keys_tasks(docket);
	/*
	 * Start the group at "0", not "$": tasks the API queued before any worker
	 * ever ran (or after a Redis restart without persistence, which recreates
	 * the stream without its group) must be processed, not skipped. When the
	 * group already exists this changes nothing.
	 */
	redisReply *rep = rds_cmd(r, err, "XGROUP CREATE %s %s 0 MKSTREAM", stream, KEYS_GROUP);

	free(stream);
	if (rep) {
		freeReplyObject(rep);
		return 0;
	}
	if (rds_err_is(err, "BUSYGROUP")) {
		err_clear(err);
		return 0;
	}
	return -1;
}

long long runtime_trim_acked(struct rds *r, const char *docket, struct err *err)
{
	char *stream = keys_tasks(docket);
	long long n;

	pthread_once(&scripts_once, scripts_setup);
	n = rds_eval_key_int(r, &trim_script, stream, err);
	free(stream);
	return n;
}

long long runtime_stream_delivery_count(struct rds *r, const char *stream, const char *id)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(r, &e, "XPENDING %s %s %s %s 1", stream, KEYS_GROUP, id, id);
	long long n = 1;

	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
	    rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements >= 4)
		n = rds_reply_int(rep->element[0]->element[3], 1);
	if (rep)
		freeReplyObject(rep);
	return n;
}

int runtime_stream_renew(struct rds *r, const char *stream, int n, const char *const *consumers,
			 const char *const *ids, int nsiblings, const char *const *siblings,
			 enum runtime_lease *out, struct err *err)
{
	/* EVAL with the body: a pipeline cannot fall back from EVALSHA per reply */
	const char **argv = xcalloc((size_t)(7 + nsiblings), sizeof(*argv));
	int sent = 0, rc = 0;

	for (int i = 0; i < n; i++)
		out[i] = RUNTIME_LEASE_FAILED;
	argv[0] = "EVAL";
	argv[1] = renew_lua;
	argv[2] = "1";
	argv[3] = stream;
	argv[4] = KEYS_GROUP;
	for (int i = 0; i < nsiblings; i++)
		argv[7 + i] = siblings[i];
	for (; sent < n; sent++) {
		argv[5] = consumers[sent];
		argv[6] = ids[sent];
		if (rds_appendv(r, err, 7 + nsiblings, argv, NULL) < 0) {
			rc = -1;
			break;
		}
	}
	free(argv);
	for (int i = 0; i < sent; i++) {
		redisReply *rep = rds_reply(r, err);
		if (!rep) {
			rc = -1;
			break;
		}
		if (rep->type == REDIS_REPLY_ERROR) {
			err_set(err, ERR_REDIS, "%s", rep->str);
			rc = -1;
		} else if (rep->type == REDIS_REPLY_INTEGER && rep->integer >= 0 &&
			   rep->integer <= 2) {
			out[i] = (enum runtime_lease)rep->integer;
		} else {
			err_set(err, ERR_REDIS, "lease renewal: unexpected reply type %d",
				rep->type);
			rc = -1;
		}
		freeReplyObject(rep);
	}
	return rc;
}

int runtime_stream_release(struct rds *r, const char *stream, const char *consumer, const char *id,
			   struct err *err)
{
	const char *argv[4] = {stream, KEYS_GROUP, consumer, id};
	redisReply *rep;
	int rc;

	pthread_once(&scripts_once, scripts_setup);
	rep = rds_eval(r, &release_script, 1, 4, argv, NULL, err);
	if (!rep)
		return -1;
	rc = rds_reply_int(rep, 0) == 1;
	freeReplyObject(rep);
	return rc;
}
