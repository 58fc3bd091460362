/*
 * memory.c - long-term memory: store, search through the backend the
 * configuration picks (memory_local.c or memory_ft.c, both behind
 * struct mem_backend_ops), forget and list. See memory.h.
 */
#include "common.h"
#include "memory/memory.h"
#include "memory/history.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/random.h>

static const struct mem_backend_ops *backend_ops(enum mem_backend b)
{
	return b == MEM_BACKEND_FT ? &mem_backend_ft : &mem_backend_local;
}

/* ---- store ------------------------------------------------------------- */

static void new_id(int64_t now_ms, char out[32])
{
	uint32_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (uint32_t)clock_mono_ns();
	snprintf(out, 32, "%lld-%08x", (long long)now_ms, rnd);
}

int mem_store(struct rds *r, const struct mem_scope *s, const char *kind, const char *content,
	      const float *vec, int dim, int64_t now_ms, char **id_out, struct err *err)
{
	char id[32], ms[24], tag[MEM_FT_TAG_LEN + 1], ttag[MEM_FT_TAG_LEN + 1];
	char *key = NULL, *set = NULL, *text = NULL;
	redisReply *rep = NULL;
	int rc = -1, n = 0;

	if (!content || !*content || !kind || (strcmp(kind, "fact") && strcmp(kind, "turn"))) {
		err_set(err, ERR_INVALID, "a memory needs content and kind fact or turn");
		return -1;
	}
	new_id(now_ms, id);
	snprintf(ms, sizeof(ms), "%lld", (long long)now_ms);
	key = keys_memory(s->app, s->agent, s->user, id);
	set = keys_memory_scope(s->app, s->agent, s->user);
	text = utf8_cut(content, MEM_CONTENT_MAX);
	/* the Query Engine's isolation tags (backend.h), written on either backend */
	mem_ft_scope_tag(s, NULL, tag);
	mem_ft_scope_tag(s, s->thread ? s->thread : "", ttag);
	{
		const char *hv[] = {
		    "HSET",	  key,	  "content",   text,	 "role",
		    "user",	  "kind", kind,	       "thread", s->thread ? s->thread : "",
		    "created_ms", ms,	  "app",       s->app,	 "agent",
		    s->agent,	  "user", s->user,     "scope",	 tag,
		    "tscope",	  ttag,	  "embedding", ""};
		size_t hl[sizeof(hv) / sizeof(hv[0])];
		int hc = (int)(sizeof(hv) / sizeof(hv[0]));
		const char *zv[] = {"ZADD", set, ms, id};

		for (int i = 0; i < hc; i++)
			hl[i] = strlen(hv[i]);
		if (vec) {
			hv[hc - 1] = (const char *)vec;
			hl[hc - 1] = sizeof(float) * (size_t)dim;
		} else {
			hc -= 2;
		}
		if (rds_append(r, err, "MULTI") < 0 || (n++, rds_appendv(r, err, hc, hv, hl) < 0) ||
		    (n++, rds_appendv(r, err, 4, zv, NULL) < 0) ||
		    (n++, rds_append(r, err, "EXEC") < 0)) {
			/* never leave a half-queued transaction on the connection */
			rds_disconnect(r);
			goto out;
		}
		n++;
	}
	for (int i = 0; i < n; i++) {
		if (rep)
			freeReplyObject(rep);
		rep = rds_reply(r, err);
		if (!rep)
			goto out;
	}
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    (rep->element[0]->type == REDIS_REPLY_ERROR ||
	     rep->element[1]->type == REDIS_REPLY_ERROR)) {
		err_set(err, ERR_REDIS, "memory store: %s",
			rep->element[0]->type == REDIS_REPLY_ERROR ? rep->element[0]->str
								   : rep->element[1]->str);
	} else if (n == 4 && rep->type == REDIS_REPLY_ARRAY) {
		rc = 0;
		if (id_out)
			*id_out = xstrdup(id);
	} else if (n == 4) {
		err_set(err, ERR_REDIS, "memory store: %s",
			rep->type == REDIS_REPLY_ERROR ? rep->str : "transaction aborted");
	}
out:
	if (rep)
		freeReplyObject(rep);
	free(text);
	free(key);
	free(set);
	return rc;
}

/* ---- search entry points ------------------------------------------------ */

int mem_search(struct rds *r, enum mem_backend b, const struct mem_scope *s,
	       const struct mem_query *q, struct mem_hits *out, struct err *err)
{
	if (!s->app || !s->agent || !s->user || !*s->user) {
		err_set(err, ERR_INVALID, "memory search needs an app, an agent and a user");
		return -1;
	}
	if (q->top_k <= 0)
		return 0;
	return backend_ops(b)->search(r, s, q, out, err);
}

int mem_prepare(struct rds *r, enum mem_backend b, int dim, struct err *err)
{
	return backend_ops(b)->prepare(r, dim, err);
}

static atomic_int ft_probe; /* 0 not probed, 1 absent, 2 present */

enum mem_backend mem_backend_pick(struct rds *r, int vector_backend)
{
	int p;

	if (vector_backend == VECTOR_LOCAL)
		return MEM_BACKEND_LOCAL;
	if (vector_backend == VECTOR_REDIS)
		return MEM_BACKEND_FT;
	p = atomic_load(&ft_probe);
	if (!p) {
		struct err e = {0};
		redisReply *rep = rds_cmd(r, &e, "FT._LIST");
		if (rep) {
			p = 2;
			freeReplyObject(rep);
		} else if (e.code == ERR_REDIS && strstr(e.msg, "unknown command")) {
			p = 1;
		}
		if (p)
			atomic_store(&ft_probe, p);
		else
			return MEM_BACKEND_LOCAL; /* Redis down: try again next time */
	}
	return p == 2 ? MEM_BACKEND_FT : MEM_BACKEND_LOCAL;
}

/* ---- task-level entry points ------------------------------------------- */

char *mem_scoped_user(const char *ns, const char *user)
{
	return xasprintf("%s%c%s", ns && *ns ? ns : MEM_DEFAULT_NS, MEM_NS_SEP, user ? user : "");
}

/* ---- forget and list ------------------------------------------------------ */

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
	if (rds_scan_keys(r, hp, "hash", forget_one, &c, err) < 0)
		goto out;
	c.hash = 0;
	if (rds_scan_keys(r, sp, "zset", forget_one, &c, err) < 0)
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
	if (rds_scan_keys(r, sp, "zset", list_scope, &c, err) < 0)
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
