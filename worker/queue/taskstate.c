/*
 * taskstate.c - the per-task idempotency record (see taskstate.h).
 */
#include <stdlib.h>

#include "common.h"
#include "queue/worker_ctx.h"
#include "queue/taskstate.h"

int taskstate_load(struct worker_ctx *w, const char *task_id, struct taskstate *out,
		   struct err *err)
{
	char *key = keys_task_state(w->env->cfg->docket_name, task_id);
	redisReply *rep;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	rep = rds_cmd(w->r, err, "HGETALL %s", key);
	if (!rep)
		goto out;
	if (rep->type != REDIS_REPLY_ARRAY) {
		err_set(err, ERR_REDIS, "HGETALL %s returned no array", key);
		goto out;
	}
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const char *f = rep->element[i]->str, *v = rep->element[i + 1]->str;
		char **dst = NULL;

		if (!f || !v)
			continue;
		if (!strcmp(f, "placeholder_ts"))
			dst = &out->placeholder_ts;
		else if (!strcmp(f, "answer_id"))
			dst = &out->answer_id;
		else if (!strcmp(f, "thread_ts"))
			dst = &out->thread_ts;
		else if (!strcmp(f, "state"))
			dst = &out->state;
		else if (!strcmp(f, "placeholder"))
			dst = &out->placeholder;
		else if (!strcmp(f, "stream_ts"))
			dst = &out->stream_ts;
		else if (!strcmp(f, "stale_ts"))
			dst = &out->stale_ts;
		if (dst && *v) {
			free(*dst);
			*dst = xstrdup(v);
		}
		out->exists = 1;
	}
	rc = 0;
out:
	if (rep)
		freeReplyObject(rep);
	free(key);
	return rc;
}

void taskstate_release(struct taskstate *s)
{
	free(s->placeholder_ts);
	free(s->stream_ts);
	free(s->stale_ts);
	free(s->answer_id);
	free(s->thread_ts);
	free(s->state);
	free(s->placeholder);
	memset(s, 0, sizeof(*s));
}

int taskstate_set(struct worker_ctx *w, const char *task_id, int n, const char *const *fields,
		  const char *const *values, struct err *err)
{
	char *key = keys_task_state(w->env->cfg->docket_name, task_id);
	const char **argv = xcalloc((size_t)(2 + 2 * n), sizeof(*argv));
	char ttl[24];
	redisReply *rep = NULL;
	int rc = -1, ok = 1;

	snprintf(ttl, sizeof(ttl), "%d", KEYS_TASK_TTL_S);
	argv[0] = "HSET";
	argv[1] = key;
	for (int i = 0; i < n; i++) {
		argv[2 + 2 * i] = fields[i];
		argv[3 + 2 * i] = values[i] ? values[i] : "";
	}
	if (rds_append(w->r, err, "MULTI") < 0 ||
	    rds_appendv(w->r, err, 2 + 2 * n, argv, NULL) < 0 ||
	    rds_append(w->r, err, "EXPIRE %s %s", key, ttl) < 0 ||
	    rds_append(w->r, err, "EXEC") < 0)
		goto out;
	for (int i = 0; i < 4; i++) {
		rep = rds_reply(w->r, err);
		if (!rep)
			goto out;
		if (rep->type == REDIS_REPLY_ERROR && ok) {
			err_set(err, ERR_REDIS, "cannot save task state %s: %s", key, rep->str);
			ok = 0;
		}
		if (i == 3 && rep->type != REDIS_REPLY_ARRAY && ok) {
			err_set(err, ERR_REDIS, "cannot save task state %s: transaction aborted",
				key);
			ok = 0;
		}
		freeReplyObject(rep);
	}
	rc = ok ? 0 : -1;
out:
	free(argv);
	free(key);
	return rc;
}

int taskstate_is_final(const char *state)
{
	return state && (!strcmp(state, TASKSTATE_ANSWERED) || !strcmp(state, TASKSTATE_LIMITED) ||
			 !strcmp(state, TASKSTATE_FAILED));
}
