/*
 * memory_cli.c - operators' verbs for conversation memory, and the forget /
 * list operations behind them (memory.h):
 *
 *   haink-worker memory list   --user U [--agent A]
 *   haink-worker memory forget --user U [--agent A]
 *   haink-worker chat show  THREAD
 *   haink-worker chat clear THREAD
 *
 * THREAD is <team>:<channel>:<thread_ts> as in the key chat:<team>:<channel>:<thread_ts>,
 * e.g. T0123:C0456:1700000000.000100. Without --agent, memory verbs act on
 * every agent of the user (a privacy request). Exit codes: 0 ok, 1 runtime
 * failure, 2 bad usage.
 */
#include "common.h"
#include "cli.h"
#include "history.h"
#include "memory.h"
#include "wctx.h"

#include <ctype.h>
#include <stdlib.h>

/* ---- forget and list ---------------------------------------------------- */

/*
 * Returns the agent id (owned) when key is exactly memory:<app>:<agent>:<user>
 * (hash 0) or memory:<app>:<agent>:<user>:<id> (hash 1), else NULL.
 */
static char *key_agent(const char *key, const char *app, const char *user, int hash)
{
	size_t pl = strlen(KEYS_MEMORY_PREFIX), al = strlen(app), ul = strlen(user);
	const char *p = key, *colon;

	if (strncmp(p, KEYS_MEMORY_PREFIX, pl) || strncmp(p + pl, app, al) || p[pl + al] != ':')
		return NULL;
	p += pl + al + 1;
	colon = strchr(p, ':');
	if (!colon || !agents_valid_id(p, (size_t)(colon - p)))
		return NULL;
	if (strncmp(colon + 1, user, ul))
		return NULL;
	if (!hash && colon[1 + ul] != '\0')
		return NULL;
	if (hash && (colon[1 + ul] != ':' || !colon[2 + ul] || strchr(colon + 2 + ul, ':')))
		return NULL;
	return xstrndup(p, (size_t)(colon - p));
}

typedef int scan_fn(struct rds *r, const char *key, void *ctx, struct err *err);

/* SCANs pattern (TYPE type) and calls fn for each key. Returns 0 or -1. */
static int scan_keys(struct rds *r, const char *pattern, const char *type, scan_fn *fn, void *ctx,
		     struct err *err)
{
	char cursor[32] = "0";

	do {
		const char *av[] = {"SCAN",  cursor, "MATCH", pattern,
				    "COUNT", "1000", "TYPE",  type};
		redisReply *rep = rds_cmdv(r, err, 8, av, NULL);
		int bad;

		if (!rep)
			return -1;
		bad = rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		      rep->element[0]->type != REDIS_REPLY_STRING ||
		      rep->element[1]->type != REDIS_REPLY_ARRAY;
		if (bad) {
			freeReplyObject(rep);
			err_set(err, ERR_REDIS, "unexpected SCAN reply");
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		for (size_t i = 0; i < rep->element[1]->elements; i++)
			if (fn(r, rep->element[1]->element[i]->str, ctx, err) < 0) {
				freeReplyObject(rep);
				return -1;
			}
		freeReplyObject(rep);
	} while (strcmp(cursor, "0"));
	return 0;
}

struct forget_ctx {
	const char *app, *user;
	long count;
	int hash;
};

static int forget_one(struct rds *r, const char *key, void *vctx, struct err *err)
{
	struct forget_ctx *c = vctx;
	char *agent = key_agent(key, c->app, c->user, c->hash);
	const char *av[] = {"UNLINK", key};
	redisReply *rep;

	if (!agent)
		return 0; /* a neighbour's key that the pattern let through */
	free(agent);
	rep = rds_cmdv(r, err, 2, av, NULL);
	if (!rep)
		return -1;
	if (c->hash && rep->type == REDIS_REPLY_INTEGER)
		c->count += rep->integer;
	freeReplyObject(rep);
	return 0;
}

long mem_forget(struct rds *r, const char *app, const char *agent, const char *user,
		struct err *err)
{
	struct forget_ctx c = {app, user, 0, 1};
	char *hp = NULL, *sp = NULL;
	long rc = -1;

	if (!user || !*user || strchr(user, ':') ||
	    (agent && !agents_valid_id(agent, strlen(agent)))) {
		err_set(err, ERR_INVALID,
			"memory forget needs a user id without ':' and a valid agent id");
		return -1;
	}
	hp = keys_memory_hash_match(app, agent, user);
	sp = keys_memory_scope_match(app, agent, user);
	/* hashes first: a crash midway leaves the set, and a rerun finishes the job */
	if (scan_keys(r, hp, "hash", forget_one, &c, err) < 0)
		goto out;
	c.hash = 0;
	if (scan_keys(r, sp, "zset", forget_one, &c, err) < 0)
		goto out;
	rc = c.count;
	mem_cache_reset((size_t)-1); /* drop forgotten rows from this process */
out:
	free(hp);
	free(sp);
	return rc;
}

struct list_ctx {
	const char *app, *user;
	char **agents;
	size_t n, cap;
};

static int list_scope(struct rds *r, const char *key, void *vctx, struct err *err)
{
	struct list_ctx *c = vctx;
	char *agent = key_agent(key, c->app, c->user, 0);

	(void)r, (void)err;
	if (agent) {
		xgrow((void **)&c->agents, &c->cap, c->n + 1, sizeof(*c->agents));
		c->agents[c->n++] = agent;
	}
	return 0;
}

static int list_agent(struct rds *r, const char *app, const char *agent, const char *user,
		      struct mem_hits *out, struct err *err)
{
	char *set = keys_memory_scope(app, agent, user);
	const char *av[] = {"ZREVRANGE", set, "0", "-1"};
	redisReply *ids = rds_cmdv(r, err, 4, av, NULL);
	int rc = -1;

	if (!ids || ids->type != REDIS_REPLY_ARRAY)
		goto out;
	for (size_t i = 0; i < ids->elements; i++) {
		char *key = keys_memory(app, agent, user, ids->element[i]->str);
		redisReply *h = rds_cmd(r, err, "HMGET %s kind created_ms content thread", key);
		free(key);
		if (!h)
			goto out;
		if (h->type == REDIS_REPLY_ARRAY && h->elements == 4 &&
		    h->element[2]->type == REDIS_REPLY_STRING) {
			struct mem_hit *m = mem_hits_add(out);
			m->id = xstrdup(ids->element[i]->str);
			m->agent = xstrdup(agent);
			m->kind = xstrdup(h->element[0]->str ? h->element[0]->str : "");
			m->created_ms =
			    h->element[1]->str ? strtoll(h->element[1]->str, NULL, 10) : 0;
			m->content = xstrndup(h->element[2]->str, h->element[2]->len);
			m->thread = xstrdup(h->element[3]->str ? h->element[3]->str : "");
		}
		freeReplyObject(h);
	}
	rc = 0;
out:
	if (ids)
		freeReplyObject(ids);
	free(set);
	return rc;
}

int mem_list(struct rds *r, const char *app, const char *agent, const char *user,
	     struct mem_hits *out, struct err *err)
{
	struct list_ctx c = {app, user, NULL, 0, 0};
	char *sp = NULL;
	int rc = -1;

	if (!user || !*user || strchr(user, ':')) {
		err_set(err, ERR_INVALID, "memory list needs a user id without ':'");
		return -1;
	}
	if (agent)
		return list_agent(r, app, agent, user, out, err);
	sp = keys_memory_scope_match(app, NULL, user);
	if (scan_keys(r, sp, "zset", list_scope, &c, err) < 0)
		goto out;
	rc = 0;
	for (size_t i = 0; i < c.n && rc == 0; i++)
		rc = list_agent(r, app, c.agents[i], user, out, err);
out:
	for (size_t i = 0; i < c.n; i++)
		free(c.agents[i]);
	free(c.agents);
	free(sp);
	return rc;
}

/* ---- verbs ---------------------------------------------------------------- */

static struct rds *cli_rds(struct worker_env *env)
{
	struct err e = {0};
	struct rds *r = rds_new(env->cfg->redis_url, 1000, 30000, &e);

	if (!r)
		fprintf(stderr, "haink-worker: %s\n", e.msg);
	return r;
}

static int memory_usage(void)
{
	fprintf(stderr, "usage: haink-worker memory list|forget --user U [--agent A]\n");
	return 2;
}

static void print_excerpt(const char *s, size_t max)
{
	char *cut = history_cut_utf8(s, max);

	for (char *p = cut; *p; p++)
		putchar(*p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p);
	if (strlen(s) > strlen(cut))
		fputs("…", stdout);
	free(cut);
}

int cli_memory(int argc, char **argv, struct worker_env *env)
{
	const char *user = NULL, *agent = NULL, *sub = argc > 1 ? argv[1] : NULL;
	struct rds *r = NULL;
	struct err e = {0};
	int rc = 1;

	if (!sub || (strcmp(sub, "list") && strcmp(sub, "forget")))
		return memory_usage();
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--user") && i + 1 < argc)
			user = argv[++i];
		else if (!strcmp(argv[i], "--agent") && i + 1 < argc)
			agent = argv[++i];
		else
			return memory_usage();
	}
	if (!user || !*user) {
		fprintf(stderr, "haink-worker: memory %s: --user is required\n", sub);
		return 2;
	}
	if (strchr(user, ':') || (agent && !agents_valid_id(agent, strlen(agent)))) {
		fprintf(stderr, "haink-worker: memory %s: invalid %s\n", sub,
			strchr(user, ':') ? "--user (no ':' allowed)"
					  : "--agent (1-32 of a-z 0-9 _ -)");
		return 2;
	}
	r = cli_rds(env);
	if (!r)
		return 1;
	if (!strcmp(sub, "forget")) {
		long n = mem_forget(r, env->cfg->app_id, agent, user, &e);
		if (n < 0)
			goto out;
		printf("forgot %ld memories of user %s (%s)\n", n, user,
		       agent ? agent : "all agents");
	} else {
		struct mem_hits h = {0};
		if (mem_list(r, env->cfg->app_id, agent, user, &h, &e) < 0) {
			mem_hits_release(&h);
			goto out;
		}
		for (size_t i = 0; i < h.n; i++) {
			char iso[25];
			clock_utc_iso(h.v[i].created_ms, iso);
			printf("%s\t%s\t%s\t%s\t", h.v[i].id, h.v[i].agent, h.v[i].kind, iso);
			print_excerpt(h.v[i].content, 100);
			putchar('\n');
		}
		printf("%zu memories\n", h.n);
		mem_hits_release(&h);
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "haink-worker: memory %s: %s\n", sub, e.msg);
	rds_free(r);
	return rc;
}

int cli_chat(int argc, char **argv, struct worker_env *env)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	char *team = NULL, *channel = NULL, *ts = NULL, *key = NULL;
	struct rds *r = NULL;
	struct err e = {0};
	int rc = 1;

	if (argc != 3 || (strcmp(sub, "show") && strcmp(sub, "clear"))) {
		fprintf(stderr,
			"usage: haink-worker chat show|clear <team>:<channel>:<thread_ts>\n");
		return 2;
	}
	if (history_thread_parse(argv[2], &team, &channel, &ts, &e) < 0) {
		fprintf(stderr, "haink-worker: chat %s: %s\n", sub, e.msg);
		return 2;
	}
	key = keys_chat(team, channel, ts);
	r = cli_rds(env);
	if (!r)
		goto out;
	if (!strcmp(sub, "clear")) {
		int n = history_clear(r, key, &e);
		if (n < 0)
			goto fail;
		printf("%s %s\n", n ? "cleared" : "no history for", argv[2]);
	} else {
		json_t *all = json_array(), *m;
		size_t i;
		if (history_raw(r, key, all, &e) < 0) {
			json_decref(all);
			goto fail;
		}
		json_array_foreach(all, i, m)
		{
			char *line = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
			printf("%s\n", line ? line : "");
			free(line);
		}
		printf("%zu messages\n", json_array_size(all));
		json_decref(all);
	}
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "haink-worker: chat %s: %s\n", sub, e.msg);
out:
	rds_free(r);
	free(key);
	free(team);
	free(channel);
	free(ts);
	return rc;
}
