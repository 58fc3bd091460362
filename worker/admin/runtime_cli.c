/*
 * The queue runtime's verbs (worker/admin/cli.h): run, healthcheck, dlq, stats.
 */
#include "common.h"
#include "admin/cli.h"
#include "queue/dlq.h"
#include "agent/handler.h"
#include "queue/metrics_http.h"
#include "queue/runtime.h"
#include "kb/kb.h"
#include "queue/worker_ctx.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static struct rds *cli_redis(const struct worker_env *env)
{
	struct err e = {0};
	struct rds *r = rds_new(env->cfg->redis_url, 1000, 5000, &e);

	if (!r)
		fprintf(stderr, "haink-worker: REDIS_URL: %s\n", e.msg);
	return r;
}

/*
 * Opens the shared knowledge base before any task runs, so the backend choice
 * is logged at start and a model/dimension mismatch stops the worker (exit 2)
 * instead of failing every answer. While Redis is unreachable it keeps trying
 * (a worker can do nothing without Redis); a stop signal ends the wait.
 * Returns 0 when open, 1 when a stop signal came first, 2 on a permanent
 * error (printed).
 */
static int open_kb(struct worker_env *env, const sigset_t *stop)
{
	struct timespec zero = {0, 0};
	struct worker_ctx w;
	struct err e = {0};
	int64_t delay = 100;
	int logged = 0, rc = 2;

	if (worker_ctx_init(&w, env, -1, 5000, &e) < 0) {
		fprintf(stderr, "haink-worker: %s\n", e.msg);
		return 2;
	}
	for (;;) {
		err_clear(&e);
		env->kb = kb_open(&w, &e);
		if (env->kb) {
			rc = 0;
			break;
		}
		if (!err_retryable(e.code)) {
			fprintf(stderr, "haink-worker: %s\n", e.msg);
			break;
		}
		if (!logged++)
			log_kv(LOG_WARN, "waiting for redis to open the knowledge base", "error",
			       e.msg, NULL);
		if (sigtimedwait(stop, NULL, &zero) > 0) {
			log_kv(LOG_INFO, "stopped before start", NULL);
			rc = 1;
			break;
		}
		clock_sleep_ms(delay);
		delay = delay < 2000 ? delay * 2 : 2000;
	}
	worker_ctx_release(&w);
	return rc;
}

int cli_run(int argc, char **argv, struct worker_env *env)
{
	const struct runtime_ops ops = {handler_run, handler_give_up};
	struct metrics_http *mh = NULL;
	struct runtime *rt;
	struct err e = {0};
	sigset_t set;
	char conc[16], port[16];
	int sig = 0;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "haink-worker: 'run' takes no arguments\n");
		return 2;
	}
	/* every thread inherits this mask; only sigwait() below sees the signals */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	/* health first: liveness holds while Redis is away or the KB loads */
	if (env->cfg->metrics_port > 0) {
		mh = metrics_http_start(env->cfg, env->cfg->metrics_port, &e);
		if (!mh) {
			fprintf(stderr, "haink-worker: %s\n", e.msg);
			return 1;
		}
	}
	switch (open_kb(env, &set)) {
	case 0:
		break;
	case 1:
		metrics_http_stop(mh);
		return 0;
	default:
		metrics_http_stop(mh);
		return 2;
	}
	metrics_http_set_kb_ready(mh, 1);
	rt = runtime_start(env, &ops, &e);
	if (!rt) {
		fprintf(stderr, "haink-worker: cannot start the queue runtime: %s\n", e.msg);
		metrics_http_stop(mh);
		return 1;
	}
	metrics_http_set_stuck_probe(mh, runtime_stuck_threads, rt);
	snprintf(conc, sizeof(conc), "%d", env->cfg->worker_concurrency);
	snprintf(port, sizeof(port), "%d", env->cfg->metrics_port);
	log_kv(LOG_INFO, "worker started", "docket", env->cfg->docket_name, "concurrency", conc,
	       "metrics_port", port, "host", env->hostname, NULL);

	while (sigwait(&set, &sig) != 0)
		;
	log_kv(LOG_INFO, "worker stopping; finishing in-flight tasks", "signal",
	       sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
	if (runtime_stop(rt) < 0) {
		/*
		 * task threads still run: leave now rather than free what they use;
		 * non-zero, so an orchestrator sees the drain did not complete
		 */
		log_kv(LOG_WARN, "worker stopped", "drained", "no", NULL);
		_exit(1);
	}
	metrics_http_set_stuck_probe(mh, NULL, NULL);
	metrics_http_stop(mh);
	kb_close(env->kb);
	env->kb = NULL;
	log_kv(LOG_INFO, "worker stopped", "drained", "yes", NULL);
	return 0;
}

int cli_healthcheck(int argc, char **argv, struct worker_env *env)
{
	struct http_client *hc;
	struct http_transport t;
	struct http_response resp;
	struct http_request req = {0};
	struct err e = {0};
	char url[64];
	int rc;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "haink-worker: 'healthcheck' takes no arguments\n");
		return 2;
	}
	if (env->cfg->metrics_port <= 0) {
		fprintf(stderr,
			"haink-worker: METRICS_PORT is 0 (server disabled): nothing to check\n");
		return 2;
	}
	/* liveness: the container health check replaces the task when it fails */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/livez", env->cfg->metrics_port);
	req.method = "GET";
	req.url = url;
	req.timeout_ms = 2000;
	hc = http_client_new();
	if (!hc) {
		fprintf(stderr, "haink-worker: cannot create an http client\n");
		return 1;
	}
	t = http_client_transport(hc);
	http_response_init(&resp);
	rc = t.perform(t.ctx, &req, &resp, &e);
	if (rc == 0 && resp.status == 200) {
		printf("ok\n");
		rc = 0;
	} else {
		if (rc == 0)
			fprintf(stderr, "haink-worker: %s answered %ld\n", url, resp.status);
		else
			fprintf(stderr, "haink-worker: %s: %s\n", url, e.msg);
		rc = 1;
	}
	http_response_release(&resp);
	http_client_free(hc);
	return rc;
}

/* Copies s into out with newlines flattened, cut to max characters (bytes) with "…". */
static void excerpt(const char *s, size_t max, char *out, size_t outsz)
{
	size_t o = 0, i;

	for (i = 0; s[i] && i < max && o + 4 < outsz; i++)
		out[o++] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
	/* do not end inside a UTF-8 sequence (s[i] is the first byte left out) */
	if (s[i])
		o = o - i + utf8_floor(s, strlen(s), i);
	if (s[i] && o + 4 < outsz) {
		memcpy(out + o, "\xE2\x80\xA6", 3);
		o += 3;
	}
	out[o] = '\0';
}

static int dlq_usage(void)
{
	fprintf(stderr,
		"usage: haink-worker dlq list [--limit N] | replay ID | replay --all | purge\n");
	return 2;
}

static int dlq_list_cmd(struct rds *r, const struct config *cfg, long limit)
{
	struct dlq_entry *v = NULL;
	size_t n = 0;
	struct err e = {0};

	if (dlq_list(r, cfg->docket_name, limit, &v, &n, &e) < 0) {
		fprintf(stderr, "haink-worker: cannot read the dead-letter stream: %s\n", e.msg);
		return 1;
	}
	if (!n) {
		printf("dead-letter stream is empty\n");
		return 0;
	}
	printf("%-21s %-24s %-7s %-28s %-40s %s\n", "ID", "FAILED", "ATTEMPT", "TASK", "ERROR",
	       "TEXT");
	for (size_t i = 0; i < n; i++) {
		char when[25] = "-", err[64], text[64], task[40];
		if (v[i].failed_ms > 0)
			clock_utc_iso(v[i].failed_ms, when);
		excerpt(v[i].error, 40, err, sizeof(err));
		excerpt(v[i].text, 40, text, sizeof(text));
		excerpt(v[i].task_id, 28, task, sizeof(task));
		printf("%-21s %-24s %-7d %-28s %-40s %s\n", v[i].id, when, v[i].attempt,
		       task[0] ? task : "-", err, text);
	}
	printf("%zu dead-letter entr%s\n", n, n == 1 ? "y" : "ies");
	dlq_entries_free(v, n);
	return 0;
}

/* `dlq replay ID`. Returns the exit code. */
static int dlq_replay_one(struct rds *r, const struct config *cfg, const char *id)
{
	char new_id[64];
	struct err e = {0};
	int res = dlq_replay(r, cfg->docket_name, id, new_id, &e);

	if (res == 1) {
		printf("replayed %s as task entry %s\n", id, new_id);
		return 0;
	}
	if (res == 0) {
		fprintf(stderr, "haink-worker: no dead-letter entry %s (see 'dlq list')\n", id);
		return 1;
	}
	fprintf(stderr, "haink-worker: cannot replay %s: %s\n", id, e.msg);
	return e.code == ERR_INVALID ? 2 : 1;
}

/* `dlq replay --all`: every entry dead now, oldest first. Returns the exit code. */
static int dlq_replay_all_cmd(struct rds *r, const struct config *cfg)
{
	struct err e = {0};
	long long done = dlq_replay_all(r, cfg->docket_name, &e);

	if (done < 0) {
		fprintf(stderr, "haink-worker: cannot replay the dead letters: %s\n", e.msg);
		return 1;
	}
	printf("replayed %lld dead-letter entr%s\n", done, done == 1 ? "y" : "ies");
	return 0;
}

int cli_dlq(int argc, char **argv, struct worker_env *env)
{
	const struct config *cfg = env->cfg;
	struct rds *r = NULL;
	struct err e = {0};
	int rc = 1;

	if (argc < 2)
		return dlq_usage();
	if (!strcmp(argv[1], "list")) {
		long limit = 100;
		if (argc == 4 && !strcmp(argv[2], "--limit")) {
			char *end;
			limit = strtol(argv[3], &end, 10);
			if (*end || limit < 1) {
				fprintf(stderr, "haink-worker: --limit wants a positive number\n");
				return 2;
			}
		} else if (argc != 2) {
			return dlq_usage();
		}
		if (!(r = cli_redis(env)))
			return 2;
		rc = dlq_list_cmd(r, cfg, limit);
	} else if (!strcmp(argv[1], "replay")) {
		if (argc != 3)
			return dlq_usage();
		if (!(r = cli_redis(env)))
			return 2;
		if (!strcmp(argv[2], "--all"))
			rc = dlq_replay_all_cmd(r, cfg);
		else
			rc = dlq_replay_one(r, cfg, argv[2]);
	} else if (!strcmp(argv[1], "purge")) {
		long long n;
		if (argc != 2)
			return dlq_usage();
		if (!(r = cli_redis(env)))
			return 2;
		n = dlq_purge(r, cfg->docket_name, &e);
		if (n < 0) {
			fprintf(stderr, "haink-worker: cannot purge the dead-letter stream: %s\n",
				e.msg);
		} else {
			printf("purged %lld dead-letter entr%s\n", n, n == 1 ? "y" : "ies");
			rc = 0;
		}
	} else {
		return dlq_usage();
	}
	rds_free(r);
	return rc;
}

static long long hash_ll(const redisReply *h, const char *field)
{
	for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
		if (h->element[i]->type == REDIS_REPLY_STRING && !strcmp(h->element[i]->str, field))
			return rds_reply_int(h->element[i + 1], 0);
	return 0;
}

int cli_stats(int argc, char **argv, struct worker_env *env)
{
	const struct config *cfg = env->cfg;
	struct queue_info qi;
	struct err e = {0};
	struct rds *r;
	long days = 7;
	int64_t now = clock_wall_ms();
	int rc = 0;

	if (argc == 3 && !strcmp(argv[1], "--days")) {
		char *end;
		days = strtol(argv[2], &end, 10);
		if (*end || days < 1 || days > 366) {
			fprintf(stderr, "haink-worker: --days wants a number from 1 to 366\n");
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: haink-worker stats [--days N]\n");
		return 2;
	}
	if (!(r = cli_redis(env)))
		return 2;
	printf("%-10s %9s %9s %8s %6s %10s %9s %8s %12s\n", "DATE", "ANSWERED", "FEEDBACK",
	       "RETRIED", "DEAD", "RECLAIMED", "AVG_MS", "HELPFUL", "NOT_HELPFUL");
	for (long d = 0; d < days; d++) {
		char date[11], avg[24];
		char *key;
		redisReply *h;
		long long answered;
		clock_utc_date(now - (int64_t)d * 86400000, date);
		key = keys_metrics_day(date);
		h = rds_cmd(r, &e, "HGETALL %s", key);
		free(key);
		if (!h) {
			fprintf(stderr, "haink-worker: cannot read the daily metrics: %s\n", e.msg);
			rc = 1;
			goto out;
		}
		answered = hash_ll(h, "tasks_answered");
		if (answered > 0)
			snprintf(avg, sizeof(avg), "%lld", hash_ll(h, "latency_ms_sum") / answered);
		else
			snprintf(avg, sizeof(avg), "-");
		printf("%-10s %9lld %9lld %8lld %6lld %10lld %9s %8lld %12lld\n", date, answered,
		       hash_ll(h, "tasks_feedback"), hash_ll(h, "tasks_retried"),
		       hash_ll(h, "tasks_dead"), hash_ll(h, "tasks_reclaimed"), avg,
		       hash_ll(h, "feedback_helpful"), hash_ll(h, "feedback_not_helpful"));
		freeReplyObject(h);
	}
	if (metrics_http_queue_info(r, cfg->docket_name, &qi, &e) < 0) {
		fprintf(stderr, "haink-worker: cannot read the queue state: %s\n", e.msg);
		rc = 1;
		goto out;
	}
	printf("\nqueue %s: stream length %lld, waiting %lld%s, pending %lld, scheduled retries "
	       "%lld, dead-letter %lld\n",
	       cfg->docket_name, qi.length, qi.depth, qi.lag_exact ? "" : " (counted)", qi.pending,
	       qi.scheduled, qi.dead);
out:
	rds_free(r);
	return rc;
}
