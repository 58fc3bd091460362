/*
 * history.c - thread history in a Redis list (see history.h for the layout
 * and the atomicity argument).
 */
#include "common.h"
#include "memory/history.h"

#include <pthread.h>
#include <stdlib.h>

/*
 * KEYS[1] the chat list; ARGV[1] max messages, ARGV[2] ttl seconds,
 * ARGV[3..] the messages of one turn. The cut moves forward past tool
 * results (never past the newest element), so the window starts on a user
 * or assistant message and keeps every tool_calls/result pair whole.
 */
static const char append_lua[] =
    "local max = tonumber(ARGV[1])\n"
    "local n = redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))\n"
    "local cut = n - max\n"
    "if cut > 0 then\n"
    "  while cut < n - 1 do\n"
    "    local ok, m = pcall(cjson.decode, redis.call('LINDEX', KEYS[1], cut))\n"
    "    if not ok or type(m) ~= 'table' or m.role ~= 'tool' then break end\n"
    "    cut = cut + 1\n"
    "  end\n"
    "  redis.call('LTRIM', KEYS[1], cut, -1)\n"
    "  n = n - cut\n"
    "end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
    "return n\n";

static struct rds_script append_script;
static pthread_once_t append_once = PTHREAD_ONCE_INIT;

static void append_script_init(void)
{
	rds_script_init(&append_script, append_lua);
}

static json_t *text_msg(const char *role, const char *text, int64_t now_ms)
{
	char *cut = utf8_cut(text ? text : "", HISTORY_TEXT_MAX);
	json_t *m = json_object();
	json_t *s = json_string(cut);

	json_object_set_new(m, "role", json_string(role));
	/* invalid UTF-8 from upstream is replaced rather than failing the turn */
	json_object_set_new(m, "content", s ? s : json_string("(unreadable text)"));
	json_object_set_new(m, "ts", json_integer(now_ms));
	free(cut);
	return m;
}

/* Returns the tool message answering call id in msgs, or NULL. */
static json_t *find_result(json_t *msgs, const char *id)
{
	size_t i;
	json_t *m;

	json_array_foreach(msgs, i, m)
	{
		const char *role = json_string_value(json_object_get(m, "role"));
		const char *cid = json_string_value(json_object_get(m, "tool_call_id"));
		if (role && !strcmp(role, "tool") && cid && !strcmp(cid, id))
			return m;
	}
	return NULL;
}

static json_t *tool_result_copy(json_t *res, const char *name, int64_t now_ms)
{
	json_t *m = json_object(), *content = json_object_get(res, "content");
	char *cut =
	    utf8_cut(json_is_string(content) ? json_string_value(content) : "", HISTORY_TOOL_MAX);
	json_t *s = json_string(cut);

	json_object_set_new(m, "role", json_string("tool"));
	json_object_set(m, "tool_call_id", json_object_get(res, "tool_call_id"));
	if (name)
		json_object_set_new(m, "name", json_string(name));
	json_object_set_new(m, "content", s ? s : json_string(""));
	json_object_set_new(m, "ts", json_integer(now_ms));
	free(cut);
	return m;
}

/* Appends one assistant tool_calls message and its results, if all are present. */
static void add_round(json_t *turn, json_t *msgs, json_t *asst, int64_t now_ms)
{
	json_t *calls = json_object_get(asst, "tool_calls"), *call, *m;
	size_t i;

	if (!json_is_array(calls) || !json_array_size(calls))
		return;
	if (json_array_size(turn) + 1 + json_array_size(calls) + 1 > HISTORY_TURN_MAX)
		return; /* leave room for the answer; drop the whole round */
	json_array_foreach(calls, i, call)
	{
		const char *id = json_string_value(json_object_get(call, "id"));
		if (!id || !find_result(msgs, id))
			return; /* an unanswered call would make the history invalid */
	}
	m = json_object();
	json_object_set_new(m, "role", json_string("assistant"));
	json_object_set_new(m, "content", json_null());
	json_object_set(m, "tool_calls", calls);
	json_object_set_new(m, "ts", json_integer(now_ms));
	json_array_append_new(turn, m);
	json_array_foreach(calls, i, call)
	{
		const char *id = json_string_value(json_object_get(call, "id"));
		const char *name =
		    json_string_value(json_object_get(json_object_get(call, "function"), "name"));
		json_array_append_new(turn, tool_result_copy(find_result(msgs, id), name, now_ms));
	}
}

json_t *history_turn(const char *question, json_t *turn_messages, const char *answer,
		     int64_t now_ms)
{
	json_t *turn = json_array(), *m;
	size_t i;

	json_array_append_new(turn, text_msg("user", question, now_ms));
	if (json_is_array(turn_messages))
		json_array_foreach(turn_messages, i, m)
		{
			const char *role = json_string_value(json_object_get(m, "role"));
			if (role && !strcmp(role, "assistant") && json_object_get(m, "tool_calls"))
				add_round(turn, turn_messages, m, now_ms);
		}
	json_array_append_new(turn, text_msg("assistant", answer, now_ms));
	return turn;
}

long history_append(struct rds *r, const char *key, json_t *msgs, int max, int ttl_s,
		    struct err *err)
{
	size_t n = json_is_array(msgs) ? json_array_size(msgs) : 0, i;
	const char **argv = NULL;
	char **owned = NULL;
	char maxs[24], ttls[24];
	redisReply *rep = NULL;
	long rc = -1;

	if (!n || max < 1) {
		err_set(err, ERR_INVALID, "history append needs messages and a positive limit");
		return -1;
	}
	pthread_once(&append_once, append_script_init);
	argv = xcalloc(n + 3, sizeof(*argv));
	owned = xcalloc(n, sizeof(*owned));
	snprintf(maxs, sizeof(maxs), "%d", max);
	snprintf(ttls, sizeof(ttls), "%d", ttl_s);
	argv[0] = key;
	argv[1] = maxs;
	argv[2] = ttls;
	for (i = 0; i < n; i++) {
		owned[i] = json_dumps(json_array_get(msgs, i), JSON_COMPACT);
		if (!owned[i]) {
			err_set(err, ERR_INVALID, "history message %zu cannot be serialised", i);
			goto out;
		}
		argv[i + 3] = owned[i];
	}
	rep = rds_eval(r, &append_script, 1, (int)n + 3, argv, NULL, err);
	if (!rep)
		goto out;
	if (rep->type != REDIS_REPLY_INTEGER) {
		err_set(err, ERR_REDIS, "history append: unexpected reply type %d", rep->type);
		goto out;
	}
	rc = (long)rep->integer;
out:
	if (rep)
		freeReplyObject(rep);
	for (i = 0; owned && i < n; i++)
		free(owned[i]);
	free(owned);
	free(argv);
	return rc;
}

static redisReply *lrange_all(struct rds *r, const char *key, struct err *err)
{
	const char *argv[] = {"LRANGE", key, "0", "-1"};
	redisReply *rep = rds_cmdv(r, err, 4, argv, NULL);

	if (rep && rep->type != REDIS_REPLY_ARRAY) {
		err_set(err, ERR_REDIS, "history load: unexpected reply type %d", rep->type);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

long history_raw(struct rds *r, const char *key, json_t *out, struct err *err)
{
	redisReply *rep = lrange_all(r, key, err);
	long n = 0;

	if (!rep)
		return -1;
	for (size_t i = 0; i < rep->elements; i++) {
		json_t *m = json_loadb(rep->element[i]->str, rep->element[i]->len, 0, NULL);
		if (!m)
			m = json_stringn_nocheck(rep->element[i]->str, rep->element[i]->len);
		json_array_append_new(out, m);
		n++;
	}
	freeReplyObject(rep);
	return n;
}

/* A stored element as a Chat Completions message (new reference), or NULL. */
static json_t *to_chat(json_t *m)
{
	const char *role = json_string_value(json_object_get(m, "role"));
	static const char *const keep[] = {"role", "content", "tool_calls", "tool_call_id", "name"};
	json_t *c;

	if (!role || (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "tool")))
		return NULL;
	c = json_object();
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		json_t *v = json_object_get(m, keep[i]);
		if (v)
			json_object_set(c, keep[i], v);
	}
	if (!json_object_get(c, "content"))
		json_object_set_new(c, "content", json_null());
	return c;
}

/* Returns 1 when the tool_calls message at i is followed by a result for each call. */
static int round_complete(json_t *all, size_t i)
{
	json_t *calls = json_object_get(json_array_get(all, i), "tool_calls"), *call;
	size_t k, ncalls = json_array_size(calls);

	json_array_foreach(calls, k, call)
	{
		const char *id = json_string_value(json_object_get(call, "id"));
		json_t *res = json_array_get(all, i + 1 + k);
		const char *rid = json_string_value(json_object_get(res, "tool_call_id"));
		const char *role = json_string_value(json_object_get(res, "role"));
		if (!id || !rid || !role || strcmp(role, "tool") || strcmp(id, rid))
			return 0;
	}
	return ncalls > 0;
}

long history_load(struct rds *r, const char *key, json_t *out, struct err *err)
{
	json_t *all = json_array();
	redisReply *rep = lrange_all(r, key, err);
	size_t i = 0;
	long n = 0;

	if (!rep) {
		json_decref(all);
		return -1;
	}
	for (size_t e = 0; e < rep->elements; e++) {
		json_t *m = json_loadb(rep->element[e]->str, rep->element[e]->len, 0, NULL);
		json_t *c = m ? to_chat(m) : NULL;
		if (c)
			json_array_append_new(all, c);
		json_decref(m);
	}
	freeReplyObject(rep);
	/* Defensive: the writer keeps rounds whole, but never send an invalid sequence. */
	while (i < json_array_size(all)) {
		json_t *m = json_array_get(all, i);
		const char *role = json_string_value(json_object_get(m, "role"));
		size_t ncalls = json_array_size(json_object_get(m, "tool_calls"));

		if (!strcmp(role, "tool")) {
			i++; /* a result whose call is not right before it */
			continue;
		}
		if (!strcmp(role, "assistant") && ncalls) {
			if (!round_complete(all, i)) {
				i++;
				continue;
			}
			for (size_t k = 0; k <= ncalls; k++, n++)
				json_array_append(out, json_array_get(all, i + k));
			i += ncalls + 1;
			continue;
		}
		json_array_append(out, m);
		n++;
		i++;
	}
	json_decref(all);
	return n;
}

int history_clear(struct rds *r, const char *key, struct err *err)
{
	const char *argv[] = {"DEL", key};
	redisReply *rep = rds_cmdv(r, err, 2, argv, NULL);
	int rc;

	if (!rep)
		return -1;
	rc = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
	freeReplyObject(rep);
	return rc;
}

int history_thread_parse(const char *thread, char **team, char **channel, char **thread_ts,
			 struct err *err)
{
	const char *a = thread ? strchr(thread, ':') : NULL;
	const char *b = a ? strchr(a + 1, ':') : NULL;

	*team = *channel = *thread_ts = NULL;
	if (!a || !b || a == thread || b == a + 1 || !b[1] || strchr(b + 1, ':')) {
		err_set(err, ERR_INVALID,
			"thread '%s' must be <team>:<channel>:<thread_ts>, e.g. "
			"T01:C02:1700000000.000100",
			thread ? thread : "");
		return -1;
	}
	*team = xstrndup(thread, (size_t)(a - thread));
	*channel = xstrndup(a + 1, (size_t)(b - a - 1));
	*thread_ts = xstrdup(b + 1);
	return 0;
}
