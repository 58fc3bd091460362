/*
 * memory_cli.c - operators' verbs for conversation memory (memory.h), and
 * the re-embedding behind `memory reindex`:
 *
 *   haink-worker memory list   --user U [--agent A]
 *   haink-worker memory forget --user U [--agent A]
 *   haink-worker memory reindex
 *   haink-worker chat show  THREAD
 *   haink-worker chat clear THREAD
 *
 * THREAD is <team>:<channel>:<thread_ts> as in the key chat:<team>:<channel>:<thread_ts>,
 * e.g. T0123:C0456:1700000000.000100. Without --agent, memory verbs act on
 * every agent of the user (a privacy request). Exit codes: 0 ok, 1 runtime
 * failure, 2 bad usage.
 */
#include "common.h"
#include "admin/cli.h"
#include "memory/history.h"
#include "memory/memory.h"
#include "memory/memory_ft.h"
#include "kb/ft.h"
#include "kb/embed.h"
#include "queue/worker_ctx.h"

#include <ctype.h>
#include <stdlib.h>

/* ---- reindex -------------------------------------------------------------- */

#define REINDEX_BATCH 32

struct reindex_ctx {
	struct worker_ctx *w;
	char *keys[REINDEX_BATCH];
	int n;
	long done;
};

/* Re-embeds the batched memories and rewrites their embedding and scope tags. */
static int reindex_flush(struct reindex_ctx *c, struct err *err)
{
	const struct config *cfg = c->w->env->cfg;
	struct rds *r = c->w->r;
	const char *texts[REINDEX_BATCH];
	redisReply *rows[REINDEX_BATCH] = {0};
	float *vecs = NULL;
	int rc = -1, m = 0, idx[REINDEX_BATCH];

	for (int i = 0; i < c->n; i++) {
		const char *av[] = {"HMGET", c->keys[i], "content", "app",
				    "agent", "user",	 "thread"};
		rows[i] = rds_cmdv(r, err, 7, av, NULL);
		if (!rows[i])
			goto out;
		if (rows[i]->type != REDIS_REPLY_ARRAY || rows[i]->elements != 5)
			continue;
		for (int f = 0; f < 4; f++)
			if (rows[i]->element[f]->type != REDIS_REPLY_STRING)
				goto skip; /* not a memory (or half written): left alone */
		texts[m] = rows[i]->element[0]->str;
		idx[m++] = i;
	skip:;
	}
	vecs = xcalloc((size_t)(m ? m : 1) * (size_t)cfg->embedding_dim, sizeof(float));
	if (m && embed_texts(c->w, texts, (size_t)m, vecs, NULL, err) < 0)
		goto out;
	for (int j = 0; j < m; j++) {
		redisReply **f = rows[idx[j]]->element, *rep;
		struct mem_scope s = {f[1]->str, f[2]->str, f[3]->str, NULL};
		const char *thread = f[4]->type == REDIS_REPLY_STRING ? f[4]->str : "";
		char tag[MEM_FT_TAG_LEN + 1], ttag[MEM_FT_TAG_LEN + 1];
		const char *av[] = {
		    "HSET",	 c->keys[idx[j]],
		    "scope",	 tag,
		    "tscope",	 ttag,
		    "embedding", (const char *)(vecs + (size_t)j * (size_t)cfg->embedding_dim)};
		size_t al[8];

		mem_ft_scope_tag(&s, NULL, tag);
		mem_ft_scope_tag(&s, thread, ttag);
		for (int a = 0; a < 7; a++)
			al[a] = strlen(av[a]);
		al[7] = sizeof(float) * (size_t)cfg->embedding_dim;
		rep = rds_cmdv(r, err, 8, av, al);
		if (!rep)
			goto out;
		freeReplyObject(rep);
		c->done++;
	}
	rc = 0;
out:
	for (int i = 0; i < c->n; i++) {
		if (rows[i])
			freeReplyObject(rows[i]);
		free(c->keys[i]);
	}
	c->n = 0;
	free(vecs);
	return rc;
}

static int reindex_one(struct rds *r, const char *key, void *vctx, struct err *err)
{
	struct reindex_ctx *c = vctx;

	(void)r;
	c->keys[c->n++] = xstrdup(key);
	return c->n == REINDEX_BATCH ? reindex_flush(c, err) : 0;
}

/*
 * `memory reindex`: drops memory_idx (never the memories) when the server has
 * the Query Engine, re-embeds every memory hash's content with the configured
 * embedder (EMBEDDING_DIM) and rewrites its embedding and scope tags, then
 * creates memory_idx again. For an embedding model or dimension change, or
 * memories written before the scope tags existed. *done (may be NULL) gets the
 * number rewritten. Returns 0 or -1 with err.
 */
static int mem_reindex(struct worker_ctx *w, long *done, struct err *err)
{
	struct reindex_ctx c = {0};
	const char *pattern = KEYS_MEMORY_PREFIX "*";
	int have = ft_available(w->r, err), rc = -1;
	struct err e = {0};
	redisReply *rep;

	if (have < 0)
		return -1;
	c.w = w;
	if (have) {
		/* the memories stay; the index goes so the rewrite is not indexed twice */
		rep = rds_cmd(w->r, &e, "FT.DROPINDEX %s", KEYS_MEMORY_INDEX);
		if (rep)
			freeReplyObject(rep);
		else if (!ft_no_index(&e)) {
			if (err)
				*err = e;
			return -1;
		}
		mem_ft_reset();
	}
	if (rds_scan_keys(w->r, pattern, "hash", reindex_one, &c, err) < 0 ||
	    (c.n && reindex_flush(&c, err) < 0))
		goto out;
	if (have && mem_ft_ready(w->r, w->env->cfg->embedding_dim, err) < 0)
		goto out;
	rc = 0;
out:
	for (int i = 0; i < c.n; i++)
		free(c.keys[i]);
	if (done)
		*done = c.done;
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
	fprintf(stderr, "usage: haink-worker memory list|forget --user U [--team T] [--agent A]\n"
			"       haink-worker memory reindex\n");
	return 2;
}

/* Returns 1 when s is a usable user or namespace id (no ':' or '/', not empty). */
static int id_ok(const char *s)
{
	return s && *s && !strchr(s, ':') && !strchr(s, MEM_NS_SEP);
}

struct ns_ctx {
	const char *app, *user;
	char **v; /* distinct namespaced users, owned */
	size_t n, cap;
};

/* memory:<app>:<agent>:<ns>/<user> (a scope set): records "<ns>/<user>" once. */
static int ns_one(struct rds *r, const char *key, void *vctx, struct err *err)
{
	struct ns_ctx *c = vctx;
	size_t pl = strlen(KEYS_MEMORY_PREFIX), al = strlen(c->app);
	const char *p = key + pl + al + 1, *colon, *slash;

	(void)r;
	(void)err;
	if (strncmp(key, KEYS_MEMORY_PREFIX, pl) || strncmp(key + pl, c->app, al) ||
	    key[pl + al] != ':' || !(colon = strchr(p, ':')))
		return 0;
	p = colon + 1; /* "<ns>/<user>" */
	slash = strchr(p, MEM_NS_SEP);
	if (!slash || strchr(p, ':') || strcmp(slash + 1, c->user) || slash == p)
		return 0;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i], p))
			return 0;
	xgrow((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v));
	c->v[c->n++] = xstrdup(p);
	return 0;
}

/*
 * The namespaced users "<ns>/<user>" to act on: just team/user with a team,
 * else every namespace that holds memories of user. Returns 0 or -1.
 */
static int scoped_users(struct rds *r, const char *app, const char *team, const char *user,
			struct ns_ctx *c, struct err *err)
{
	char *pattern;
	int rc;

	memset(c, 0, sizeof(*c));
	c->app = app;
	c->user = user;
	if (team) {
		c->v = xcalloc(1, sizeof(*c->v));
		c->v[0] = mem_scoped_user(team, user);
		c->n = c->cap = 1;
		return 0;
	}
	pattern = keys_memory_scope_match_all_ns(app, user);
	rc = rds_scan_keys(r, pattern, "zset", ns_one, c, err);
	free(pattern);
	return rc;
}

static void ns_release(struct ns_ctx *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
}

static void print_excerpt(const char *s, size_t max)
{
	char *cut = utf8_cut(s, max);

	for (char *p = cut; *p; p++)
		putchar(*p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p);
	if (strlen(s) > strlen(cut))
		fputs("…", stdout);
	free(cut);
}

/* Re-embeds every memory and rebuilds memory_idx (mem_reindex()). */
static int memory_reindex_verb(struct worker_env *env)
{
	struct worker_ctx w;
	struct err e = {0};
	long done = 0;
	int rc = 1;

	if (worker_ctx_init(&w, env, 0, 30000, &e) < 0) {
		fprintf(stderr, "haink-worker: memory reindex: %s\n", e.msg);
		return 1;
	}
	if (mem_reindex(&w, &done, &e) == 0) {
		printf("reindexed %ld memories (dim %d)\n", done, env->cfg->embedding_dim);
		rc = 0;
	} else {
		fprintf(stderr, "haink-worker: memory reindex: %s (%ld memories rewritten)\n",
			e.msg, done);
	}
	worker_ctx_release(&w);
	return rc;
}

int cli_memory(int argc, char **argv, struct worker_env *env)
{
	const char *user = NULL, *agent = NULL, *team = NULL, *sub = argc > 1 ? argv[1] : NULL;
	struct rds *r = NULL;
	struct ns_ctx ns = {0};
	struct err e = {0};
	int rc = 1;

	if (sub && !strcmp(sub, "reindex"))
		return argc == 2 ? memory_reindex_verb(env) : memory_usage();
	if (!sub || (strcmp(sub, "list") && strcmp(sub, "forget")))
		return memory_usage();
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--user") && i + 1 < argc)
			user = argv[++i];
		else if (!strcmp(argv[i], "--agent") && i + 1 < argc)
			agent = argv[++i];
		else if (!strcmp(argv[i], "--team") && i + 1 < argc)
			team = argv[++i];
		else
			return memory_usage();
	}
	if (!user || !*user) {
		fprintf(stderr, "haink-worker: memory %s: --user is required\n", sub);
		return 2;
	}
	if (!id_ok(user) || (team && !id_ok(team)) ||
	    (agent && !agents_valid_id(agent, strlen(agent)))) {
		fprintf(stderr, "haink-worker: memory %s: invalid %s\n", sub,
			!id_ok(user)	       ? "--user (no ':' or '/' allowed)"
			: team && !id_ok(team) ? "--team (no ':' or '/' allowed)"
					       : "--agent (1-32 of a-z 0-9 _ -)");
		return 2;
	}
	r = cli_rds(env);
	if (!r)
		return 1;
	if (scoped_users(r, env->cfg->app_id, team, user, &ns, &e) < 0)
		goto out;
	if (!strcmp(sub, "forget")) {
		long total = 0;
		for (size_t i = 0; i < ns.n; i++) {
			long n = mem_forget(r, env->cfg->app_id, agent, ns.v[i], &e);
			if (n < 0)
				goto out;
			total += n;
		}
		printf("forgot %ld memories of user %s (%s, %s)\n", total, user,
		       agent ? agent : "all agents", team ? team : "all teams");
	} else {
		size_t count = 0;
		for (size_t k = 0; k < ns.n; k++) {
			struct mem_hits h = {0};
			if (mem_list(r, env->cfg->app_id, agent, ns.v[k], &h, &e) < 0) {
				mem_hits_release(&h);
				goto out;
			}
			for (size_t i = 0; i < h.n; i++) {
				char iso[25];
				clock_utc_iso(h.v[i].created_ms, iso);
				printf("%s\t%s\t%.*s\t%s\t%s\t", h.v[i].id, h.v[i].agent,
				       (int)(strchr(ns.v[k], MEM_NS_SEP) - ns.v[k]), ns.v[k],
				       h.v[i].kind, iso);
				print_excerpt(h.v[i].content, 100);
				putchar('\n');
			}
			count += h.n;
			mem_hits_release(&h);
		}
		printf("%zu memories\n", count);
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "haink-worker: memory %s: %s\n", sub, e.msg);
	ns_release(&ns);
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

/* ---- forget-user: erase a person everywhere ------------------------------ */

struct thread_ref {
	char *key;	      /* chat:<team>:<channel>:<thread_ts> */
	struct buf questions; /* NUL-separated questions asked there */
	size_t nq;
};

struct erase {
	const char *user, *team; /* team NULL: every team */
	long answers, sessions;
	struct thread_ref *threads;
	size_t nthreads, capthreads;
	char **sessions_v;
	size_t nsessions, capsessions;
};

static void erase_thread(struct erase *x, const char *team, const char *channel, const char *ts,
			 const char *question)
{
	char *key = keys_chat(team, channel, ts);
	struct thread_ref *t = NULL;

	for (size_t i = 0; i < x->nthreads && !t; i++)
		if (!strcmp(x->threads[i].key, key))
			t = &x->threads[i];
	if (!t) {
		xgrow((void **)&x->threads, &x->capthreads, x->nthreads + 1, sizeof(*x->threads));
		t = &x->threads[x->nthreads++];
		memset(t, 0, sizeof(*t));
		t->key = key;
		key = NULL;
	}
	buf_add(&t->questions, question, strlen(question) + 1);
	t->nq++;
	free(key);
}

/* An answer record of the user: remembered for the history and the UI, then deleted. */
static int erase_answer(struct rds *r, const char *key, void *vctx, struct err *err)
{
	struct erase *x = vctx;
	redisReply *rep = rds_cmd(r, err, "HMGET %s user team channel thread_ts question", key);
	int rc = -1;

	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 5 && rep->element[0]->str &&
	    !strcmp(rep->element[0]->str, x->user) && rep->element[1]->str &&
	    (!x->team || !strcmp(rep->element[1]->str, x->team))) {
		const char *team = rep->element[1]->str, *ch = rep->element[2]->str,
			   *ts = rep->element[3]->str, *q = rep->element[4]->str;
		redisReply *d;
		if (ch && ts && *ts && q)
			erase_thread(x, team, ch, ts, q);
		if (!strcmp(team, "ui") && ch && *ch) {
			xgrow((void **)&x->sessions_v, &x->capsessions, x->nsessions + 1,
			      sizeof(*x->sessions_v));
			x->sessions_v[x->nsessions++] = xstrdup(ch);
		}
		d = rds_cmd(r, err, "UNLINK %s", key);
		if (!d)
			goto out;
		freeReplyObject(d);
		x->answers++;
	}
	rc = 0;
out:
	freeReplyObject(rep);
	return rc;
}

/*
 * KEYS: a thread history list. ARGV: the user's questions. Removes each
 * user message whose content is one of them, with the assistant's reply that
 * follows it, keeping the list's order and expiry. Returns how many went.
 */
static const char erase_history_lua[] =
    "local items = redis.call('LRANGE', KEYS[1], 0, -1)\n"
    "local drop = {}\n"
    "for i = 1, #ARGV do drop[ARGV[i]] = true end\n"
    "local keep, removed, reply = {}, 0, false\n"
    "for _, raw in ipairs(items) do\n"
    "  local ok, m = pcall(cjson.decode, raw)\n"
    "  if ok and type(m) == 'table' and m.role == 'user' and drop[m.content] then\n"
    "    removed = removed + 1; reply = true\n"
    "  elseif reply and ok and type(m) == 'table' and m.role == 'assistant' then\n"
    "    removed = removed + 1; reply = false\n"
    "  else\n"
    "    keep[#keep + 1] = raw; reply = false\n"
    "  end\n"
    "end\n"
    "if removed > 0 then\n"
    "  local ttl = redis.call('TTL', KEYS[1])\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  if #keep > 0 then\n"
    "    redis.call('RPUSH', KEYS[1], unpack(keep))\n"
    "    if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end\n"
    "  end\n"
    "end\n"
    "return removed\n";

static long erase_histories(struct rds *r, struct erase *x, struct err *err)
{
	static struct rds_script script;
	long total = 0;

	if (!script.body)
		rds_script_init(&script, erase_history_lua); /* CLI: one thread */
	for (size_t i = 0; i < x->nthreads; i++) {
		struct thread_ref *t = &x->threads[i];
		const char **argv = xcalloc(t->nq + 1, sizeof(*argv));
		const char *q = t->questions.s;
		redisReply *rep;

		argv[0] = t->key;
		for (size_t k = 0; k < t->nq; k++, q += strlen(q) + 1)
			argv[k + 1] = q;
		rep = rds_eval(r, &script, 1, (int)t->nq + 1, argv, NULL, err);
		free(argv);
		if (!rep)
			return -1;
		total += (long)rds_reply_int(rep, 0);
		freeReplyObject(rep);
	}
	return total;
}

static int erase_key(struct rds *r, const char *key, void *vctx, struct err *err)
{
	long *n = vctx;
	redisReply *rep = rds_cmd(r, err, "UNLINK %s", key);

	if (!rep)
		return -1;
	*n += (long)rds_reply_int(rep, 0);
	freeReplyObject(rep);
	return 0;
}

/* Dead letters carry the question and the user: delete the user's. */
static long erase_dead(struct rds *r, const struct config *cfg, const struct erase *x,
		       struct err *err)
{
	char *dead = keys_dead(cfg->docket_name);
	char start[64] = "-";
	long n = 0;

	for (;;) {
		redisReply *rep = rds_cmd(r, err, "XRANGE %s %s + COUNT 500", dead, start);
		size_t got;
		if (!rep) {
			n = -1;
			break;
		}
		got = rep->type == REDIS_REPLY_ARRAY ? rep->elements : 0;
		for (size_t i = 0; i < got; i++) {
			const redisReply *e = rep->element[i], *f;
			const char *u = NULL, *tm = NULL;
			if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
				continue;
			f = e->element[1];
			for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements;
			     k += 2) {
				if (!strcmp(f->element[k]->str, "user"))
					u = f->element[k + 1]->str;
				else if (!strcmp(f->element[k]->str, "team"))
					tm = f->element[k + 1]->str;
			}
			if (u && !strcmp(u, x->user) &&
			    (!x->team || (tm && !strcmp(tm, x->team)))) {
				redisReply *d =
				    rds_cmd(r, err, "XDEL %s %s", dead, e->element[0]->str);
				if (d) {
					n += (long)rds_reply_int(d, 0);
					freeReplyObject(d);
				}
			}
			snprintf(start, sizeof(start), "(%s", e->element[0]->str);
		}
		freeReplyObject(rep);
		if (got < 500)
			break;
	}
	free(dead);
	return n;
}

/*
 * Long on purpose: the erase steps in order (memories, answers, histories,
 * rate limits, Dev UI sessions, dead letters), each one call counted and
 * printed; the order is the report's.
 */
int cli_forget_user(int argc, char **argv, struct worker_env *env)
{
	const struct config *cfg = env->cfg;
	const char *user = NULL, *team = NULL;
	struct erase x;
	struct ns_ctx ns = {0};
	struct rds *r;
	struct err e = {0};
	long memories = 0, history = 0, limits = 0, sessions = 0, dead = 0;
	int rc = 1;

	int bad = 0;

	for (int i = 1; i < argc && !bad; i++) {
		if (!strcmp(argv[i], "--team") && i + 1 < argc)
			team = argv[++i];
		else if (argv[i][0] != '-' && !user)
			user = argv[i];
		else
			bad = 1;
	}
	if (bad || !user || !id_ok(user) || (team && !id_ok(team))) {
		fprintf(stderr,
			"usage: haink-worker forget-user USER [--team T]   (ids without ':' "
			"or '/')\n");
		return 2;
	}
	memset(&x, 0, sizeof(x));
	x.user = user;
	x.team = team;
	r = cli_rds(env);
	if (!r)
		return 1;
	/* memories, every agent (and every namespace without --team) */
	if (scoped_users(r, cfg->app_id, team, user, &ns, &e) < 0)
		goto out;
	for (size_t i = 0; i < ns.n; i++) {
		long n = mem_forget(r, cfg->app_id, NULL, ns.v[i], &e);
		if (n < 0)
			goto out;
		memories += n;
	}
	/* answers (remembering their threads and Dev UI sessions), then those */
	if (rds_scan_keys(r, keys_answer_match(), "hash", erase_answer, &x, &e) < 0)
		goto out;
	if ((history = erase_histories(r, &x, &e)) < 0)
		goto out;
	if (team) {
		char *k = keys_rl_user(team, user);
		int er = erase_key(r, k, &limits, &e);
		free(k);
		if (er < 0)
			goto out;
	} else {
		char *pat = keys_rl_user_match(user);
		int er = rds_scan_keys(r, pat, "string", erase_key, &limits, &e);
		free(pat);
		if (er < 0)
			goto out;
	}
	for (size_t i = 0; i < x.nsessions; i++) {
		char *k = keys_ui_session(x.sessions_v[i]);
		int er = erase_key(r, k, &sessions, &e);
		free(k);
		if (er < 0)
			goto out;
	}
	if ((dead = erase_dead(r, cfg, &x, &e)) < 0)
		goto out;
	printf("forgot user %s (%s): %ld memories, %ld answers, %ld thread messages, %ld "
	       "rate-limit counters, %ld dev ui sessions, %ld dead letters\n",
	       user, team ? team : "all teams", memories, x.answers, history, limits, sessions,
	       dead);
	mem_cache_reset((size_t)-1);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "haink-worker: forget-user: %s\n", e.msg);
	for (size_t i = 0; i < x.nthreads; i++) {
		free(x.threads[i].key);
		buf_release(&x.threads[i].questions);
	}
	free(x.threads);
	for (size_t i = 0; i < x.nsessions; i++)
		free(x.sessions_v[i]);
	free(x.sessions_v);
	ns_release(&ns);
	rds_free(r);
	return rc;
}
