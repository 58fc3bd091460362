#include "common.h"
#include "queue/dlq.h"
#include "queue/retry.h"

#include <pthread.h>
#include <stdlib.h>

/*
 * KEYS: stream, dead. ARGV: group, entry id, field/value pairs. The dead
 * stream is never trimmed: each entry is a question someone asked; only
 * `dlq purge` (or replay) removes them.
 */
static const char add_lua[] = "redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))\n"
			      "return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n";

/*
 * KEYS: dead, stream, task state. ARGV: dead id, now ms, task id ("" when the
 * entry has none). Returns the new id, false when the dead entry is gone, or
 * an error when its task id is not the one read before (a concurrent replay).
 * A given-up task's state "failed" is removed so the question runs again (a
 * final state would have it acknowledged unanswered); the rest of the state
 * stays, so the new run edits the message that shows the apology into the
 * answer (one message in the thread) and the rate limits are not counted
 * again. Any other state is kept: an answered task is not answered twice.
 */
static const char replay_lua[] =
    "local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])\n"
    "if #e == 0 then return false end\n"
    "local f = e[1][2]\n"
    "local skip = {error = true, failed_ms = true, stream_id = true, attempt = true,\n"
    "  enqueued_ms = true, replayed = true, member = true}\n"
    "local out, tid = {}, ''\n"
    "for i = 1, #f, 2 do\n"
    "  if f[i] == 'id' then tid = f[i + 1] end\n"
    "  if not skip[f[i]] then out[#out + 1] = f[i]; out[#out + 1] = f[i + 1] end\n"
    "end\n"
    "if tid ~= ARGV[3] then return redis.error_reply('CHANGED dead entry changed') end\n"
    "if tid ~= '' and redis.call('HGET', KEYS[3], 'state') == 'failed' then\n"
    "  redis.call('HDEL', KEYS[3], 'state')\n"
    "end\n"
    "out[#out + 1] = 'attempt'; out[#out + 1] = '1'\n"
    "out[#out + 1] = 'enqueued_ms'; out[#out + 1] = ARGV[2]\n"
    "out[#out + 1] = 'replayed'; out[#out + 1] = ARGV[1]\n"
    "local id = redis.call('XADD', KEYS[2], '*', unpack(out))\n"
    "redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "return id\n";

/* KEYS: dead. Returns how many entries the deleted stream held. */
static const char purge_lua[] = "local n = 0\n"
				"if redis.call('EXISTS', KEYS[1]) == 1 then\n"
				"  n = redis.call('XLEN', KEYS[1])\n"
				"  redis.call('DEL', KEYS[1])\n"
				"end\n"
				"return n\n";

static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;
static struct rds_script add_script, replay_script, purge_script;

static void scripts_setup(void)
{
	rds_script_init(&add_script, add_lua);
	rds_script_init(&replay_script, replay_lua);
	rds_script_init(&purge_script, purge_lua);
}

int dlq_add(struct rds *r, const char *docket, const char *stream_id, const struct retry_fields *f,
	    const char *error, int64_t failed_ms, struct err *err)
{
	char *stream = keys_tasks(docket), *dead = keys_dead(docket);
	char failed[24];
	size_t cap = 5 + 2 * f->n + 6, argc = 0;
	const char **argv = xmalloc(cap * sizeof(*argv));
	size_t *lens = xmalloc(cap * sizeof(*lens));
	redisReply *rep;

	pthread_once(&scripts_once, scripts_setup);
	snprintf(failed, sizeof(failed), "%lld", (long long)failed_ms);
#define PUSH(s, l)                                                                                 \
	do {                                                                                       \
		argv[argc] = (s);                                                                  \
		lens[argc++] = (l);                                                                \
	} while (0)
	PUSH(stream, strlen(stream));
	PUSH(dead, strlen(dead));
	PUSH(KEYS_GROUP, strlen(KEYS_GROUP));
	PUSH(stream_id, strlen(stream_id));
	for (size_t i = 0; i < f->n; i++) {
		static const char *const own[] = {"error", "failed_ms", "stream_id"};
		int skip = 0;
		for (size_t j = 0; j < 3; j++)
			skip |= f->name_len[i] == strlen(own[j]) &&
				!memcmp(f->name[i], own[j], f->name_len[i]);
		if (skip)
			continue;
		PUSH(f->name[i], f->name_len[i]);
		PUSH(f->value[i], f->value_len[i]);
	}
	PUSH("error", 5);
	PUSH(error, strlen(error));
	PUSH("failed_ms", 9);
	PUSH(failed, strlen(failed));
	PUSH("stream_id", 9);
	PUSH(stream_id, strlen(stream_id));
#undef PUSH
	rep = rds_eval(r, &add_script, 2, (int)argc, argv, lens, err);
	free(argv);
	free(lens);
	free(stream);
	free(dead);
	if (!rep)
		return -1;
	freeReplyObject(rep);
	return 0;
}

static char *field_dup(const struct retry_fields *f, const char *name)
{
	size_t len = 0;
	const char *v = retry_fields_get(f, name, &len);

	return v ? xstrndup(v, len) : xstrdup("");
}

static long long field_ll(const struct retry_fields *f, const char *name)
{
	char *s = field_dup(f, name);
	long long v = strtoll(s, NULL, 10);

	free(s);
	return v;
}

int dlq_list(struct rds *r, const char *docket, long max, struct dlq_entry **out, size_t *n,
	     struct err *err)
{
	char *dead = keys_dead(docket);
	redisReply *rep = rds_cmd(r, err, "XRANGE %s - + COUNT %ld", dead, max > 0 ? max : 100);
	struct dlq_entry *v = NULL;
	size_t cnt = 0;

	free(dead);
	*out = NULL;
	*n = 0;
	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements)
		v = xcalloc(rep->elements, sizeof(*v));
	for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
		const redisReply *e = rep->element[i];
		struct retry_fields f;
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		retry_fields_init(&f);
		retry_fields_from_reply(&f, e->element[1]);
		v[cnt].id = xstrdup(e->element[0]->str);
		v[cnt].failed_ms = field_ll(&f, "failed_ms");
		v[cnt].attempt = (int)field_ll(&f, "attempt");
		v[cnt].error = field_dup(&f, "error");
		v[cnt].task_id = field_dup(&f, "id");
		v[cnt].text = field_dup(&f, "text");
		v[cnt].stream_id = field_dup(&f, "stream_id");
		cnt++;
		retry_fields_release(&f);
	}
	freeReplyObject(rep);
	*out = v;
	*n = cnt;
	return 0;
}

void dlq_entries_free(struct dlq_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++) {
		free(e[i].id);
		free(e[i].error);
		free(e[i].task_id);
		free(e[i].text);
		free(e[i].stream_id);
	}
	free(e);
}

/* Reads the task id of a dead entry: 1 found (owned in *tid, "" when absent), 0 gone, -1 error. */
static int dead_task_id(struct rds *r, const char *dead, const char *dead_id, char **tid,
			struct err *err)
{
	redisReply *rep = rds_cmd(r, err, "XRANGE %s %s %s", dead, dead_id, dead_id);
	int rc = 0;

	*tid = NULL;
	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
	    rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2) {
		const redisReply *f = rep->element[0]->element[1];
		for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2)
			if (f->element[i]->str && !strcmp(f->element[i]->str, "id") &&
			    f->element[i + 1]->str)
				*tid = xstrdup(f->element[i + 1]->str);
		if (!*tid)
			*tid = xstrdup("");
		rc = 1;
	}
	freeReplyObject(rep);
	return rc;
}

int dlq_replay(struct rds *r, const char *docket, const char *dead_id, char new_id[64],
	       struct err *err)
{
	char *dead = NULL, *stream = NULL, *state = NULL, *tid = NULL;
	char now[24];
	const char *argv[6];
	redisReply *rep = NULL;
	int rc = -1;

	new_id[0] = '\0';
	if (!rds_stream_id_valid(dead_id)) {
		err_set(err, ERR_INVALID, "'%.64s' is not a stream entry id (want <ms>-<seq>)",
			dead_id);
		return -1;
	}
	pthread_once(&scripts_once, scripts_setup);
	dead = keys_dead(docket);
	stream = keys_tasks(docket);
	rc = dead_task_id(r, dead, dead_id, &tid, err);
	if (rc <= 0) {
		if (rc == 0)
			err_set(err, ERR_NOT_FOUND, "no dead-letter entry '%s'", dead_id);
		goto out;
	}
	rc = -1;
	/* an entry without a task id has no state to reset; name the stream as a stand-in key */
	state = *tid ? keys_task_state(docket, tid) : xstrdup(stream);
	snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
	argv[0] = dead;
	argv[1] = stream;
	argv[2] = state;
	argv[3] = dead_id;
	argv[4] = now;
	argv[5] = tid;
	rep = rds_eval(r, &replay_script, 3, 6, argv, NULL, err);
	if (!rep)
		goto out;
	if (rep->type == REDIS_REPLY_STRING) {
		snprintf(new_id, 64, "%s", rep->str);
		rc = 1;
	} else {
		err_set(err, ERR_NOT_FOUND, "no dead-letter entry '%s'", dead_id);
		rc = 0;
	}
out:
	if (rep)
		freeReplyObject(rep);
	free(dead);
	free(stream);
	free(state);
	free(tid);
	return rc;
}

long long dlq_replay_all(struct rds *r, const char *docket, struct err *err)
{
	char *dead = keys_dead(docket);
	char last[64] = "";
	long long done = 0;
	redisReply *rep;

	/*
	 * Only what is dead now: a replayed task that fails again is dead-lettered
	 * with a newer id and is not replayed once more (a poison task would
	 * otherwise go round for ever).
	 */
	rep = rds_cmd(r, err, "XREVRANGE %s + - COUNT 1", dead);
	if (!rep)
		goto fail;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
	    rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2 &&
	    rep->element[0]->element[0]->type == REDIS_REPLY_STRING)
		snprintf(last, sizeof(last), "%s", rep->element[0]->element[0]->str);
	freeReplyObject(rep);
	while (*last) {
		size_t n;

		rep = rds_cmd(r, err, "XRANGE %s - %s COUNT 100", dead, last);
		if (!rep)
			goto fail;
		n = rep->type == REDIS_REPLY_ARRAY ? rep->elements : 0;
		for (size_t i = 0; i < n; i++) {
			const redisReply *en = rep->element[i];
			char new_id[64];
			int res;
			if (en->type != REDIS_REPLY_ARRAY || en->elements < 1 ||
			    en->element[0]->type != REDIS_REPLY_STRING)
				continue;
			res = dlq_replay(r, docket, en->element[0]->str, new_id, err);
			if (res < 0) {
				freeReplyObject(rep);
				goto fail;
			}
			done += res;
		}
		freeReplyObject(rep);
		if (n == 0)
			break;
	}
	err_clear(err);
	free(dead);
	return done;
fail:
	free(dead);
	return -1;
}

long long dlq_purge(struct rds *r, const char *docket, struct err *err)
{
	char *dead = keys_dead(docket);
	long long n;

	pthread_once(&scripts_once, scripts_setup);
	n = rds_eval_key_int(r, &purge_script, dead, err);
	free(dead);
	return n;
}
