#include "common.h"
#include "dlq.h"
#include "retry.h"

#include <pthread.h>
#include <stdlib.h>

/* KEYS: stream, dead. ARGV: group, entry id, maxlen, field/value pairs. */
static const char add_lua[] =
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))\n"
    "return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n";

/* KEYS: dead, stream. ARGV: dead id, maxlen, now ms. Returns the new id or false. */
static const char replay_lua[] =
    "local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])\n"
    "if #e == 0 then return false end\n"
    "local f = e[1][2]\n"
    "local skip = {error = true, failed_ms = true, stream_id = true, attempt = true,\n"
    "  enqueued_ms = true, replayed = true, member = true}\n"
    "local out = {}\n"
    "for i = 1, #f, 2 do\n"
    "  if not skip[f[i]] then out[#out + 1] = f[i]; out[#out + 1] = f[i + 1] end\n"
    "end\n"
    "out[#out + 1] = 'attempt'; out[#out + 1] = '1'\n"
    "out[#out + 1] = 'enqueued_ms'; out[#out + 1] = ARGV[3]\n"
    "out[#out + 1] = 'replayed'; out[#out + 1] = ARGV[1]\n"
    "local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(out))\n"
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

int dlq_add(struct rds *r, const char *docket, long maxlen, const char *stream_id,
	    const struct retry_fields *f, const char *error, int64_t failed_ms, struct err *err)
{
	char *stream = keys_tasks(docket), *dead = keys_dead(docket);
	char ml[24], failed[24];
	size_t cap = 5 + 2 * f->n + 6, argc = 0;
	const char **argv = xmalloc(cap * sizeof(*argv));
	size_t *lens = xmalloc(cap * sizeof(*lens));
	redisReply *rep;

	pthread_once(&scripts_once, scripts_setup);
	snprintf(ml, sizeof(ml), "%ld", maxlen);
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
	PUSH(ml, strlen(ml));
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

int dlq_replay(struct rds *r, const char *docket, long maxlen, const char *dead_id, char new_id[64],
	       struct err *err)
{
	char *dead, *stream;
	char ml[24], now[24];
	const char *argv[5];
	redisReply *rep;
	int rc;

	new_id[0] = '\0';
	if (!rds_stream_id_valid(dead_id)) {
		err_set(err, ERR_INVALID, "'%.64s' is not a stream entry id (want <ms>-<seq>)",
			dead_id);
		return -1;
	}
	pthread_once(&scripts_once, scripts_setup);
	dead = keys_dead(docket);
	stream = keys_tasks(docket);
	snprintf(ml, sizeof(ml), "%ld", maxlen);
	snprintf(now, sizeof(now), "%lld", (long long)clock_wall_ms());
	argv[0] = dead;
	argv[1] = stream;
	argv[2] = dead_id;
	argv[3] = ml;
	argv[4] = now;
	rep = rds_eval(r, &replay_script, 2, 5, argv, NULL, err);
	free(dead);
	free(stream);
	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_STRING) {
		snprintf(new_id, 64, "%s", rep->str);
		rc = 1;
	} else {
		err_set(err, ERR_NOT_FOUND, "no dead-letter entry '%s'", dead_id);
		rc = 0;
	}
	freeReplyObject(rep);
	return rc;
}

long long dlq_purge(struct rds *r, const char *docket, struct err *err)
{
	char *dead = keys_dead(docket);
	const char *argv[1] = {dead};
	redisReply *rep;
	long long n;

	pthread_once(&scripts_once, scripts_setup);
	rep = rds_eval(r, &purge_script, 1, 1, argv, NULL, err);
	free(dead);
	if (!rep)
		return -1;
	n = rds_reply_int(rep, 0);
	freeReplyObject(rep);
	return n;
}
