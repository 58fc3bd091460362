/*
 * agent_cli.c - the `ask` and `doctor` verbs of haink-worker (see cli.h).
 *
 * `ask` runs the same agent as a task, inline, with the console sink printing
 * to stdout. `doctor` checks what the worker depends on and prints one line
 * per check: "ok|warn|FAIL name: detail"; exit 1 when any check fails.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "admin/cli.h"
#include "agent/agent.h"
#include "agent/answer.h"
#include "agent/convo.h"
#include "kb/kb.h"
#include "agent/llm.h"
#include "slack/reply.h"
#include "slack/slack_api.h"

#include <stdarg.h>
#include <stdlib.h>

static int ask_usage(void)
{
	fprintf(stderr, "usage: haink-worker ask \"question\" [--user U] [--agent A]\n");
	return 2;
}

/*
 * Long on purpose: the verb's flags, the task it builds and the run, in the
 * order a reader follows them; each step is a few lines.
 */
int cli_ask(int argc, char **argv, struct worker_env *env)
{
	const char *user = "cli-user", *agent_id = NULL;
	struct buf q = BUF_INIT;
	struct worker_ctx w;
	struct task t;
	struct reply_sink sink;
	struct agent_run run;
	struct reply_answer ans;
	struct err e = {0};
	char id[RANDID_HEX_LEN + 1], thread[40];
	int rc = 1, opened_kb = 0, have_w = 0, have_run = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--user") && i + 1 < argc) {
			user = argv[++i];
		} else if (!strcmp(argv[i], "--agent") && i + 1 < argc) {
			agent_id = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			buf_release(&q);
			return ask_usage();
		} else {
			if (q.len)
				buf_addch(&q, ' ');
			buf_adds(&q, argv[i]);
		}
	}
	if (!q.len) {
		buf_release(&q);
		return ask_usage();
	}
	if (agent_id && !agents_find(env->agents, agent_id)) {
		fprintf(stderr, "haink-worker: unknown agent '%s' (see AGENTS_FILE)\n", agent_id);
		buf_release(&q);
		return 2;
	}
	task_init(&t);
	if (worker_ctx_init(&w, env, 0, 5000, &e) < 0) {
		fprintf(stderr, "haink-worker: %s\n", e.msg);
		goto out;
	}
	have_w = 1;
	if (!env->kb) {
		env->kb = kb_open(&w, &e);
		if (!env->kb) {
			fprintf(stderr, "haink-worker: knowledge base: %s\n", e.msg);
			rc = e.code == ERR_INVALID ? 2 : 1;
			goto out;
		}
		opened_kb = 1;
	}
	randid_hex(id);
	snprintf(thread, sizeof(thread), "cli-%lld", (long long)clock_wall_ms());
	t.type = TASK_QUESTION;
	t.id = xasprintf("cli:%s", id);
	t.team = xstrdup("cli");
	t.channel = xstrdup("cli");
	t.user = xstrdup(user);
	t.text = buf_detach(&q, NULL);
	t.thread_ts = xstrdup(thread);
	t.agent = xstrdup(agent_id ? agent_id : env->agents->v[env->agents->default_idx].id);
	t.source = xstrdup("cli");
	t.attempt = 1;
	reply_sink_open_console(&sink, &w, &t, stdout);
	agent_run_init(&run);
	have_run = 1;
	run.agent = agents_find(env->agents, t.agent);
	run.question = t.text;
	run.scope = (struct tool_scope){env->cfg->app_id, t.team,      t.channel,
					t.user,		  t.thread_ts, run.agent};
	run.sink = &sink;
	if (agent_answer(&w, &run, &e) < 0) {
		fprintf(stderr, "haink-worker: cannot answer: %s\n", e.msg);
		goto out;
	}
	ans = (struct reply_answer){id,
				    t.text,
				    run.answer,
				    run.trace.sources,
				    run.trace.nsources,
				    run.trace.memories,
				    run.trace.nmemories};
	if (sink.ops->final(&sink, &ans, &e) < 0) {
		fprintf(stderr, "haink-worker: %s\n", e.msg);
		goto out;
	}
	if (convo_save_turn(&w, &run.scope, t.text, run.turn, run.answer, &e) < 0)
		log_kv(LOG_WARN, "cannot save the turn", "error", e.msg, NULL);
	rc = 0;
out:
	if (have_run) {
		agent_run_release(&run);
		reply_sink_close(&sink);
	}
	if (opened_kb) {
		kb_close(env->kb);
		env->kb = NULL;
	}
	if (have_w)
		worker_ctx_release(&w);
	task_release(&t);
	buf_release(&q);
	return rc;
}

/* --- doctor --------------------------------------------------------------- */

static int failures;

static void report(const char *status, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(const char *status, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (!strcmp(status, "FAIL"))
		failures++;
	printf("%s %s: ", status, name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static const char *info_field(const char *info, const char *name, char *out, size_t n)
{
	const char *p = strstr(info, name);
	size_t len = 0;

	out[0] = '\0';
	if (!p)
		return out;
	p += strlen(name);
	while (p[len] && p[len] != '\r' && p[len] != '\n' && len + 1 < n)
		len++;
	memcpy(out, p, len);
	out[len] = '\0';
	return out;
}

/* Returns 1 when the redis check passed (later checks need the server). */
static int check_redis(struct worker_ctx *w)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(w->r, &e, "PING");
	char ver[32];

	if (!rep) {
		report("FAIL", "redis", "cannot reach %s: %s", "REDIS_URL", e.msg);
		return 0;
	}
	freeReplyObject(rep);
	rep = rds_cmd(w->r, &e, "INFO server");
	info_field(rep && rep->type == REDIS_REPLY_STRING ? rep->str : "", "redis_version:", ver,
		   sizeof(ver));
	report("ok", "redis", "reachable, version %s", *ver ? ver : "unknown");
	if (rep)
		freeReplyObject(rep);
	return 1;
}

static void check_query_engine(struct worker_ctx *w)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(w->r, &e, "COMMAND INFO FT.SEARCH");
	int present = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
		      rep->element[0]->type == REDIS_REPLY_ARRAY;

	if (rep)
		freeReplyObject(rep);
	if (present)
		report("ok", "query engine", "present (FT.SEARCH available)");
	else if (w->env->cfg->vector_backend == VECTOR_REDIS)
		report("FAIL", "query engine",
		       "absent but VECTOR_BACKEND=redis: use Redis 8 or "
		       "VECTOR_BACKEND=local");
	else
		report("warn", "query engine", "absent: the in-process vector index is used");
}

static long long reply_field_int(const redisReply *r, const char *name)
{
	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
		if (r->element[i]->str && !strcmp(r->element[i]->str, name))
			return rds_reply_int(r->element[i + 1], -1);
	return -1;
}

static void check_stream(struct worker_ctx *w)
{
	const struct config *cfg = w->env->cfg;
	char *stream = keys_tasks(cfg->docket_name), *dead = keys_dead(cfg->docket_name);
	struct err e = {0};
	redisReply *rep = rds_cmd(w->r, &e, "XINFO GROUPS %s", stream);
	const redisReply *g = NULL;

	if (!rep && rds_err_is(&e, "ERR no such key")) {
		report("warn", "stream", "%s does not exist yet (no task queued so far)", stream);
	} else if (!rep) {
		/* NOPERM (an ACL user without the stream commands), a timeout...: say so */
		report("FAIL", "stream", "cannot read %s: %s", stream, e.msg);
	} else {
		for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
			const redisReply *x = rep->element[i];
			for (size_t j = 0; x->type == REDIS_REPLY_ARRAY && j + 1 < x->elements;
			     j += 2)
				if (x->element[j]->str && !strcmp(x->element[j]->str, "name") &&
				    x->element[j + 1]->str &&
				    !strcmp(x->element[j + 1]->str, KEYS_GROUP))
					g = x;
		}
		if (!g) {
			report("warn", "stream",
			       "%s has no consumer group '%s' yet (start a worker)", stream,
			       KEYS_GROUP);
		} else {
			long long lag = reply_field_int(g, "lag");
			char lagbuf[32] = "unknown";

			if (lag >= 0)
				snprintf(lagbuf, sizeof(lagbuf), "%lld", lag);
			report("ok", "stream", "%s group %s: %lld consumers, %lld pending, lag %s",
			       stream, KEYS_GROUP, reply_field_int(g, "consumers"),
			       reply_field_int(g, "pending"), lagbuf);
		}
		freeReplyObject(rep);
	}
	rep = rds_cmd(w->r, &e, "XLEN %s", dead);
	if (rep) {
		long long n = rds_reply_int(rep, 0);
		if (n > 0)
			report("warn", "dead letters", "%lld entries in %s (haink-worker dlq list)",
			       n, dead);
		else
			report("ok", "dead letters", "none");
		freeReplyObject(rep);
	} else {
		report("FAIL", "dead letters", "cannot read %s: %s", dead, e.msg);
	}
	free(stream);
	free(dead);
}

static void check_kb(struct worker_ctx *w)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(w->r, &e, "HMGET %s model dim", keys_kb_meta());
	struct kb *kb;

	if (!rep) {
		report("FAIL", "knowledge base", "cannot read %s: %s", keys_kb_meta(), e.msg);
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING) {
		report("warn", "knowledge base", "empty: run haink-worker ingest PATH");
		if (rep)
			freeReplyObject(rep);
		return;
	}
	kb = kb_open(w, &e);
	if (!kb)
		report("FAIL", "knowledge base", "%s", e.msg);
	else
		report("ok", "knowledge base", "model %s, dim %s, backend %s", rep->element[0]->str,
		       rep->element[1]->str ? rep->element[1]->str : "?", kb_backend_name(kb));
	kb_close(kb);
	freeReplyObject(rep);
}

int cli_doctor(int argc, char **argv, struct worker_env *env)
{
	const struct config *cfg = env->cfg;
	struct worker_ctx w;
	struct err e = {0};

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: haink-worker doctor\n");
		return 2;
	}
	failures = 0;
	if (worker_ctx_init(&w, env, 0, 3000, &e) < 0) {
		fprintf(stderr, "haink-worker: %s\n", e.msg);
		return 1;
	}
	if (check_redis(&w)) {
		check_query_engine(&w);
		check_stream(&w);
		check_kb(&w);
	}
	if (cfg->slack_bot_token && *cfg->slack_bot_token) {
		struct slack_identity id;
		err_clear(&e);
		if (slack_auth_test(&w, &id, &e) == 0)
			report("ok", "slack", "authenticated as %s in team %s", id.user_id,
			       *id.team ? id.team : id.team_id);
		else
			report("FAIL", "slack", "auth.test failed: %s", e.msg);
	} else {
		report("warn", "slack", "SLACK_BOT_TOKEN unset: answers go to the console sink");
	}
	if (cfg->llm_provider == LLM_OPENAI) {
		err_clear(&e);
		if (llm_ping(&w, &e) == 0)
			report("ok", "llm", "%s answers (model %s)", cfg->openai_base_url,
			       cfg->chat_model);
		else
			report("FAIL", "llm", "%s: %s", cfg->openai_base_url, e.msg);
	} else {
		report("ok", "llm", "offline mode (extractive answers, no model)");
	}
	if (cfg->tavily_api_key && *cfg->tavily_api_key)
		report("ok", "web search", "Tavily configured at %s", cfg->tavily_api_url);
	else
		report("warn", "web search", "TAVILY_API_KEY unset: web_search is unavailable");
	fflush(stdout);
	worker_ctx_release(&w);
	return failures ? 1 : 0;
}
