/*
 * Integration tests of the queue runtime (worker/queue/runtime.c, retry.c, dlq.c,
 * daily.c, metrics_http.c) on a real redis-server, with fake handlers
 * injected through struct runtime_ops.
 *
 * Every wait is a condition polled against a deadline; runtimes are stopped
 * before the assertions so a failing check never leaves threads behind.
 * Set TEST_LOG=1 to see the runtime's log lines.
 */
#include "common.h"
#include "queue/daily.h"
#include "queue/dlq.h"
#include "queue/metrics_http.h"
#include "queue/retry.h"
#include "queue/runtime.h"
#include "queue/worker_ctx.h"

#include "../harness/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 15000

#define WAIT_FOR(okvar, cond, ms)                                                                  \
	do {                                                                                       \
		int64_t dl_ = clock_mono_ms() + (ms);                                              \
		while (!((okvar) = (cond)) && clock_mono_ms() < dl_)                               \
			clock_sleep_ms(10);                                                        \
	} while (0)

/* --- configuration and environment --------------------------------------- */

struct rt_setup {
	struct config cfg;
	struct worker_env env;
	char docket[64];
};

struct kv {
	const char *k;
	const char *v;
};

static const char *kv_get(const char *name, void *ctx)
{
	for (const struct kv *p = ctx; p->k; p++)
		if (!strcmp(p->k, name))
			return p->v;
	return NULL;
}

/* Loads a worker configuration for the test redis; returns 0 or -1. */
static int setup(struct rt_setup *s, const char *docket, int concurrency, int redelivery_ms,
		 int max_attempts, int grace_s)
{
	char conc[16], redel[16], maxa[16], grace[16];
	struct buf problems = BUF_INIT;
	const char *url = test_redis_url();
	struct kv vars[] = {
	    {"REDIS_URL", url},		  {"DOCKET_NAME", docket},
	    {"WORKER_CONCURRENCY", conc}, {"REDELIVERY_TIMEOUT_MS", redel},
	    {"MAX_ATTEMPTS", maxa},	  {"RETRY_BASE_MS", "1"},
	    {"SHUTDOWN_GRACE_S", grace},  {"METRICS_PORT", "0"},
	    {"LLM_PROVIDER", "offline"},  {NULL, NULL},
	};
	int rc;

	if (!url)
		return -1;
	snprintf(conc, sizeof(conc), "%d", concurrency);
	snprintf(redel, sizeof(redel), "%d", redelivery_ms);
	snprintf(maxa, sizeof(maxa), "%d", max_attempts);
	snprintf(grace, sizeof(grace), "%d", grace_s);
	memset(s, 0, sizeof(*s));
	snprintf(s->docket, sizeof(s->docket), "%s", docket);
	rc = config_load(&s->cfg, CONFIG_WORKER, kv_get, vars, &problems);
	if (rc < 0)
		fprintf(stderr, "config: %s\n", problems.s);
	buf_release(&problems);
	s->env.cfg = &s->cfg;
	snprintf(s->env.hostname, sizeof(s->env.hostname), "test-%s", docket);
	atomic_init(&s->env.stopping, 0);
	if (!getenv("TEST_LOG"))
		log_setup("haink", LOG_OFF, 1);
	http_global_init();
	return rc;
}

static void teardown_setup(struct rt_setup *s)
{
	config_release(&s->cfg);
	log_setup("test", getenv("TEST_LOG") ? LOG_DEBUG : LOG_OFF, 1);
}

static struct rds *client(void)
{
	return rds_new(test_redis_url(), 1000, 5000, NULL);
}

/* --- the fake handler ----------------------------------------------------- */

enum fake_mode {
	FAKE_OK = 0,
	FAKE_FAIL_FIRST,     /* retryable failure on attempt 1, then success */
	FAKE_FAIL_ALWAYS,    /* retryable failure every time */
	FAKE_PERMANENT,	     /* permanent failure */
	FAKE_SLOW,	     /* succeeds after fk.sleep_ms */
	FAKE_UNTIL_STOPPING, /* succeeds once the runtime is stopping */
	FAKE_BLOCK,	     /* succeeds once the test sets fk.release */
	FAKE_RETRY_AFTER,    /* rate limited, Retry-After fk.sleep_ms */
	FAKE_HTTP_THEN_BLOCK /* waits fk.sleep_ms, one request to fk.url, then FAKE_BLOCK */
};

static struct fake {
	pthread_mutex_t lock;
	enum fake_mode mode;
	int sleep_ms;
	int calls;
	int finished;
	int attempts[32];
	char ids[32][64];
	int give_ups;
	char give_up_id[64];
	int release;   /* FAKE_BLOCK: set by the test to let the task finish */
	int requested; /* FAKE_HTTP_THEN_BLOCK: the request was made */
	char url[64];
} fk = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void fake_reset(enum fake_mode mode)
{
	pthread_mutex_lock(&fk.lock);
	fk.mode = mode;
	fk.sleep_ms = 0;
	fk.calls = fk.finished = fk.give_ups = 0;
	fk.release = fk.requested = 0;
	fk.give_up_id[0] = '\0';
	pthread_mutex_unlock(&fk.lock);
}

static int fake_get(const int *field)
{
	int v;

	pthread_mutex_lock(&fk.lock);
	v = *field;
	pthread_mutex_unlock(&fk.lock);
	return v;
}

static int fake_run(struct worker_ctx *w, struct task *t, struct err *err)
{
	int n, rc = 0;
	enum fake_mode mode;

	pthread_mutex_lock(&fk.lock);
	n = fk.calls++;
	if (n < 32) {
		fk.attempts[n] = t->attempt;
		snprintf(fk.ids[n], sizeof(fk.ids[n]), "%s", t->id);
	}
	mode = fk.mode;
	pthread_mutex_unlock(&fk.lock);

	switch (mode) {
	case FAKE_OK:
		break;
	case FAKE_FAIL_FIRST:
		if (t->attempt == 1) {
			err_set(err, ERR_UPSTREAM, "llm answered 503");
			rc = -1;
		}
		break;
	case FAKE_FAIL_ALWAYS:
		err_set(err, ERR_TIMEOUT, "llm request timed out after 60 s");
		rc = -1;
		break;
	case FAKE_PERMANENT:
		err_set(err, ERR_INVALID, "llm rejected the request: 400");
		rc = -1;
		break;
	case FAKE_SLOW:
		clock_sleep_ms(fk.sleep_ms);
		break;
	case FAKE_UNTIL_STOPPING: {
		int64_t dl = clock_mono_ms() + 10000;
		while (!atomic_load(&w->env->stopping) && clock_mono_ms() < dl)
			clock_sleep_ms(5);
		break;
	}
	case FAKE_RETRY_AFTER:
		err_set(err, ERR_RATE_LIMITED, "llm rate limited (429)");
		err->retry_after_ms = fk.sleep_ms;
		rc = -1;
		break;
	case FAKE_HTTP_THEN_BLOCK: {
		struct http_request req = {0};
		struct http_response resp;
		clock_sleep_ms(fk.sleep_ms);
		req.method = "GET";
		req.url = fk.url;
		req.timeout_ms = 2000;
		http_response_init(&resp);
		w->http.perform(w->http.ctx, &req, &resp, NULL); /* refused: still progress */
		http_response_release(&resp);
		pthread_mutex_lock(&fk.lock);
		fk.requested = 1;
		pthread_mutex_unlock(&fk.lock);
	}
		/* fall through */
	case FAKE_BLOCK: {
		int64_t dl = clock_mono_ms() + 20000;
		while (!fake_get(&fk.release) && clock_mono_ms() < dl)
			clock_sleep_ms(5);
		break;
	}
	}
	pthread_mutex_lock(&fk.lock);
	fk.finished++;
	pthread_mutex_unlock(&fk.lock);
	return rc;
}

static void fake_give_up(struct worker_ctx *w, const struct task *t, const struct err *why)
{
	(void)w;
	(void)why;
	pthread_mutex_lock(&fk.lock);
	fk.give_ups++;
	snprintf(fk.give_up_id, sizeof(fk.give_up_id), "%s", t->id);
	pthread_mutex_unlock(&fk.lock);
}

static const struct runtime_ops fake_ops = {fake_run, fake_give_up};

/* --- redis helpers -------------------------------------------------------- */

static int free_port(void);

/* XADDs a question task with the given attempt and enqueue time; returns 0 or -1. */
static int add_task_ex(struct rds *r, const char *docket, const char *id, const char *text,
		       int attempt, int64_t enqueued_ms)
{
	const char *fields[TASK_MAX_FIELDS], *values[TASK_MAX_FIELDS];
	const char *argv[3 + 2 * TASK_MAX_FIELDS];
	char nbuf[48];
	struct task t;
	char *stream = keys_tasks(docket);
	redisReply *rep;
	size_t n;
	int argc = 0;

	task_init(&t);
	t.type = TASK_QUESTION;
	t.id = xstrdup(id);
	t.text = xstrdup(text);
	t.channel = xstrdup("C1");
	t.user = xstrdup("U1");
	t.source = xstrdup("cli");
	t.enqueued_ms = enqueued_ms;
	t.attempt = attempt;
	n = task_encode(&t, fields, values, nbuf);
	argv[argc++] = "XADD";
	argv[argc++] = stream;
	argv[argc++] = "*";
	for (size_t i = 0; i < n; i++) {
		argv[argc++] = fields[i];
		argv[argc++] = values[i];
	}
	rep = rds_cmdv(r, NULL, argc, argv, NULL);
	task_release(&t);
	free(stream);
	if (!rep)
		return -1;
	freeReplyObject(rep);
	return 0;
}

/* XADDs a question task (attempt 1, enqueued now); returns 0 or -1. */
static int add_task(struct rds *r, const char *docket, const char *id, const char *text)
{
	return add_task_ex(r, docket, id, text, 1, clock_wall_ms());
}

static long long pending_count(struct rds *r, const char *docket)
{
	char *stream = keys_tasks(docket);
	redisReply *rep = rds_cmd(r, NULL, "XPENDING %s %s", stream, KEYS_GROUP);
	long long n = -1;

	free(stream);
	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1)
		n = rds_reply_int(rep->element[0], -1);
	if (rep)
		freeReplyObject(rep);
	return n;
}

static long long key_len(struct rds *r, const char *cmd, char *key)
{
	redisReply *rep = rds_cmd(r, NULL, "%s %s", cmd, key);
	long long n = rep ? rds_reply_int(rep, -1) : -1;

	if (rep)
		freeReplyObject(rep);
	free(key);
	return n;
}

static long long dead_len(struct rds *r, const char *docket)
{
	return key_len(r, "XLEN", keys_dead(docket));
}

static long long sched_len(struct rds *r, const char *docket)
{
	return key_len(r, "ZCARD", keys_scheduled(docket));
}

/* Returns an owned copy of field of the first entry of stream key (NULL if absent). */
static char *first_entry_field(struct rds *r, char *key, const char *field)
{
	redisReply *rep = rds_cmd(r, NULL, "XRANGE %s - + COUNT 1", key);
	char *out = NULL;

	free(key);
	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1) {
		const redisReply *f = rep->element[0]->element[1];
		for (size_t i = 0; i + 1 < f->elements; i += 2)
			if (!strcmp(f->element[i]->str, field))
				out = xstrdup(f->element[i + 1]->str);
	}
	if (rep)
		freeReplyObject(rep);
	return out;
}

static long long hash_field(struct rds *r, char *key, const char *field)
{
	redisReply *rep = rds_cmd(r, NULL, "HGET %s %s", key, field);
	long long v = rep ? rds_reply_int(rep, 0) : -1;

	if (rep)
		freeReplyObject(rep);
	free(key);
	return v;
}

static char *today_key(void)
{
	char date[11];

	clock_utc_date(clock_wall_ms(), date);
	return keys_metrics_day(date);
}

/* --- tests ---------------------------------------------------------------- */

TEST(runtime, processes_each_task_once_and_acks)
{
	struct rt_setup s;
	struct runtime *rt = NULL;
	struct runtime_counters c;
	struct rds *r;
	int ok = 0, added = 1, distinct = 1;
	long long answered_before, answered_after, pend;

	CHECK(setup(&s, "rt-basic", 3, 60000, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_OK);
	answered_before = hash_field(r, today_key(), "tasks_answered");
	rt = runtime_start(&s.env, &fake_ops, NULL);
	for (int i = 0; i < 6; i++) {
		char id[16];
		snprintf(id, sizeof(id), "Ev%d", i);
		added &= add_task(r, s.docket, id, "what is haink?") == 0;
	}
	WAIT_FOR(ok,
		 (runtime_counters(rt, &c), c.succeeded == 6) && pending_count(r, s.docket) == 0,
		 WAIT_MS);
	runtime_counters(rt, &c);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	pend = pending_count(r, s.docket);
	answered_after = hash_field(r, today_key(), "tasks_answered");
	for (int i = 0; i < 6 && i < fk.calls; i++)
		for (int j = i + 1; j < 6 && j < fk.calls; j++)
			distinct &= strcmp(fk.ids[i], fk.ids[j]) != 0;
	rds_free(r);
	teardown_setup(&s);
	CHECK(added);
	CHECK(ok);
	CHECK_INT_EQ(fk.calls, 6);
	CHECK(distinct);
	CHECK_INT_EQ(pend, 0);
	CHECK_INT_EQ(c.succeeded, 6);
	CHECK_INT_EQ(c.retried + c.dead + c.reclaimed, 0);
	CHECK_INT_EQ(answered_after - answered_before, 6);
}

TEST(runtime, retryable_failure_is_retried_with_the_next_attempt)
{
	struct rt_setup s;
	struct runtime *rt;
	struct runtime_counters c;
	struct rds *r;
	int ok = 0;
	long long dead, sched, pend;

	CHECK(setup(&s, "rt-retry", 2, 60000, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_FAIL_FIRST);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	CHECK(add_task(r, s.docket, "EvRetry", "flaky") == 0);
	/* the mover counts its move when the script returns: the retry may finish first */
	WAIT_FOR(ok,
		 (runtime_counters(rt, &c), c.succeeded == 1 && c.moved == 1) &&
		     pending_count(r, s.docket) == 0,
		 WAIT_MS);
	runtime_counters(rt, &c);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	dead = dead_len(r, s.docket);
	sched = sched_len(r, s.docket);
	pend = pending_count(r, s.docket);
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok);
	CHECK_INT_EQ(fk.calls, 2);
	CHECK_INT_EQ(fk.attempts[0], 1);
	CHECK_INT_EQ(fk.attempts[1], 2);
	CHECK_STR_EQ(fk.ids[1], "EvRetry");
	CHECK_INT_EQ(c.retried, 1);
	CHECK_INT_EQ(c.moved, 1);
	CHECK_INT_EQ(c.succeeded, 1);
	CHECK_INT_EQ(dead, 0);
	CHECK_INT_EQ(sched, 0);
	CHECK_INT_EQ(pend, 0);
	CHECK_INT_EQ(fk.give_ups, 0);
}

TEST(runtime, schedule_acks_and_the_mover_brings_the_task_back)
{
	struct rds *r;
	struct err e = {0};
	struct retry_fields f;
	redisReply *rep;
	char *stream, *member, *attempt, *text;
	char id[64] = "";
	size_t mlen = 0;
	int64_t due = clock_wall_ms() + 3600 * 1000;
	long long pend, sched_mid;
	long moved_early, moved_due, moved_bad;

	CHECK(test_redis_url() != NULL);
	test_redis_flush();
	r = client();
	stream = keys_tasks("rt-sched");
	CHECK(runtime_ensure_group(r, "rt-sched", &e) == 0);
	CHECK(runtime_ensure_group(r, "rt-sched", &e) == 0); /* BUSYGROUP is success */
	CHECK(add_task(r, "rt-sched", "EvS", "scheduled question") == 0);
	rep = rds_cmd(r, &e, "XREADGROUP GROUP %s c1 COUNT 1 STREAMS %s >", KEYS_GROUP, stream);
	CHECK(rep != NULL);
	if (rep->type == REDIS_REPLY_ARRAY)
		snprintf(id, sizeof(id), "%s",
			 rep->element[0]->element[1]->element[0]->element[0]->str);
	retry_fields_init(&f);
	retry_fields_from_reply(&f, rep->element[0]->element[1]->element[0]->element[1]);
	retry_fields_set(&f, "attempt", "2");
	member = retry_member(id, &f, &mlen);
	retry_fields_release(&f);
	freeReplyObject(rep);
	CHECK_INT_EQ(pending_count(r, "rt-sched"), 1);

	CHECK(retry_schedule(r, "rt-sched", id, member, mlen, due, &e) == 0);
	/* scheduling the same delivery again collapses into the same member */
	CHECK(retry_schedule(r, "rt-sched", id, member, mlen, due, &e) == 0);
	free(member);
	pend = pending_count(r, "rt-sched");
	sched_mid = sched_len(r, "rt-sched");
	moved_early = retry_move_due(r, "rt-sched", clock_wall_ms(), 10, &e);
	moved_due = retry_move_due(r, "rt-sched", due, 10, &e);
	CHECK_INT_EQ(pend, 0);
	CHECK_INT_EQ(sched_mid, 1);
	CHECK_INT_EQ(moved_early, 0);
	CHECK_INT_EQ(moved_due, 1);
	CHECK_INT_EQ(sched_len(r, "rt-sched"), 0);
	CHECK_INT_EQ(key_len(r, "XLEN", keys_tasks("rt-sched")), 2);
	rep = rds_cmd(r, &e, "XREVRANGE %s + - COUNT 1", stream);
	CHECK(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1);
	retry_fields_init(&f);
	retry_fields_from_reply(&f, rep->element[0]->element[1]);
	{
		size_t alen = 0, tlen = 0;
		const char *av = retry_fields_get(&f, "attempt", &alen);
		const char *tv = retry_fields_get(&f, "text", &tlen);
		attempt = av ? xstrndup(av, alen) : NULL;
		text = tv ? xstrndup(tv, tlen) : NULL;
	}
	retry_fields_release(&f);
	freeReplyObject(rep);
	CHECK_STR_EQ(attempt, "2");
	CHECK_STR_EQ(text, "scheduled question");
	free(attempt);
	free(text);

	/* an unreadable member is not lost: it goes to the dead-letter stream */
	free(stream);
	stream = keys_scheduled("rt-sched-x");
	rep = rds_cmd(r, &e, "ZADD %s 1 not-json", stream);
	free(stream);
	if (rep)
		freeReplyObject(rep);
	moved_bad = retry_move_due(r, "rt-sched-x", clock_wall_ms(), 10, &e);
	CHECK_INT_EQ(moved_bad, 0);
	CHECK_INT_EQ(dead_len(r, "rt-sched-x"), 1);
	CHECK_INT_EQ(sched_len(r, "rt-sched-x"), 0);
	rds_free(r);
}

TEST(runtime, dead_letter_after_max_attempts_with_one_apology)
{
	struct rt_setup s;
	struct runtime *rt;
	struct runtime_counters c;
	struct rds *r;
	int ok = 0;
	char *err_f, *failed_f, *sid_f, *attempt_f, *id_f, *text_f;
	long long pend, sched;

	CHECK(setup(&s, "rt-dead", 2, 60000, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_FAIL_ALWAYS);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	CHECK(add_task(r, s.docket, "EvDead", "always times out") == 0);
	WAIT_FOR(ok,
		 fake_get(&fk.give_ups) == 1 && dead_len(r, s.docket) == 1 &&
		     pending_count(r, s.docket) == 0,
		 WAIT_MS);
	runtime_counters(rt, &c);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	pend = pending_count(r, s.docket);
	sched = sched_len(r, s.docket);
	err_f = first_entry_field(r, keys_dead(s.docket), "error");
	failed_f = first_entry_field(r, keys_dead(s.docket), "failed_ms");
	sid_f = first_entry_field(r, keys_dead(s.docket), "stream_id");
	attempt_f = first_entry_field(r, keys_dead(s.docket), "attempt");
	id_f = first_entry_field(r, keys_dead(s.docket), "id");
	text_f = first_entry_field(r, keys_dead(s.docket), "text");
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok);
	CHECK_INT_EQ(fk.calls, 3);
	CHECK_INT_EQ(fk.attempts[0], 1);
	CHECK_INT_EQ(fk.attempts[1], 2);
	CHECK_INT_EQ(fk.attempts[2], 3);
	CHECK_INT_EQ(fk.give_ups, 1);
	CHECK_STR_EQ(fk.give_up_id, "EvDead");
	CHECK_INT_EQ(c.retried, 2);
	CHECK_INT_EQ(c.dead, 1);
	CHECK_INT_EQ(pend, 0);
	CHECK_INT_EQ(sched, 0);
	CHECK_STR_CONTAINS(err_f, "timed out after 60 s");
	CHECK_STR_CONTAINS(err_f, "timeout");
	CHECK(failed_f && atoll(failed_f) > 1600000000000LL);
	CHECK(sid_f && strchr(sid_f, '-'));
	CHECK_STR_EQ(attempt_f, "3");
	CHECK_STR_EQ(id_f, "EvDead");
	CHECK_STR_EQ(text_f, "always times out");
	free(err_f);
	free(failed_f);
	free(sid_f);
	free(attempt_f);
	free(id_f);
	free(text_f);
}

TEST(runtime, permanent_error_is_dead_at_once)
{
	struct rt_setup s;
	struct runtime *rt;
	struct runtime_counters c;
	struct rds *r;
	int ok = 0;
	char *err_f;

	CHECK(setup(&s, "rt-perm", 2, 60000, 5, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_PERMANENT);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	CHECK(add_task(r, s.docket, "EvPerm", "bad request") == 0);
	WAIT_FOR(ok, fake_get(&fk.give_ups) == 1 && pending_count(r, s.docket) == 0, WAIT_MS);
	runtime_counters(rt, &c);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	err_f = first_entry_field(r, keys_dead(s.docket), "error");
	CHECK_INT_EQ(dead_len(r, s.docket), 1);
	CHECK_INT_EQ(sched_len(r, s.docket), 0);
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok);
	CHECK_INT_EQ(fk.calls, 1);
	CHECK_INT_EQ(c.retried, 0);
	CHECK_INT_EQ(c.dead, 1);
	CHECK_STR_CONTAINS(err_f, "rejected the request");
	free(err_f);
}

TEST(runtime, malformed_entry_goes_to_the_dead_stream)
{
	struct rt_setup s;
	struct runtime *rt;
	struct runtime_counters c;
	struct rds *r;
	redisReply *rep;
	char *stream, *err_f, *foo_f;
	int ok = 0;

	CHECK(setup(&s, "rt-bad", 1, 60000, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_OK);
	stream = keys_tasks(s.docket);
	rep = rds_cmd(r, NULL, "XADD %s * foo bar", stream);
	if (rep)
		freeReplyObject(rep);
	rep = rds_cmd(r, NULL, "XADD %s * type nonsense id X1", stream);
	if (rep)
		freeReplyObject(rep);
	free(stream);
	CHECK(add_task(r, s.docket, "EvGood", "fine") == 0);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	WAIT_FOR(ok,
		 (runtime_counters(rt, &c), c.succeeded == 1 && c.dead == 2) &&
		     pending_count(r, s.docket) == 0,
		 WAIT_MS);
	runtime_counters(rt, &c);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	err_f = first_entry_field(r, keys_dead(s.docket), "error");
	foo_f = first_entry_field(r, keys_dead(s.docket), "foo");
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok);
	CHECK_INT_EQ(c.malformed, 2);
	CHECK_INT_EQ(c.dead, 2);
	CHECK_INT_EQ(c.succeeded, 1);
	CHECK_INT_EQ(fk.calls, 1);
	CHECK_INT_EQ(fk.give_ups, 0);
	CHECK_STR_CONTAINS(err_f, "no type");
	CHECK_STR_EQ(foo_f, "bar");
	free(err_f);
	free(foo_f);
}

TEST(runtime, reclaims_entries_of_a_crashed_consumer)
{
	struct rt_setup s;
	struct runtime *rt;
	struct runtime_counters c;
	struct rds *r;
	struct err e = {0};
	redisReply *rep;
	char *stream;
	int ok = 0;
	long long pend_before;

	CHECK(setup(&s, "rt-claim", 2, 400, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_OK);
	CHECK(runtime_ensure_group(r, s.docket, &e) == 0);
	CHECK(add_task(r, s.docket, "EvC1", "one") == 0);
	CHECK(add_task(r, s.docket, "EvC2", "two") == 0);
	CHECK(add_task(r, s.docket, "EvC3", "three") == 0);
	stream = keys_tasks(s.docket);
	/* a consumer that read three entries and died without acknowledging them */
	rep = rds_cmd(r, &e, "XREADGROUP GROUP %s ghost-1-0 COUNT 3 STREAMS %s >", KEYS_GROUP,
		      stream);
	free(stream);
	CHECK(rep != NULL);
	freeReplyObject(rep);
	pend_before = pending_count(r, s.docket);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	WAIT_FOR(ok,
		 (runtime_counters(rt, &c), c.succeeded == 3) && pending_count(r, s.docket) == 0,
		 WAIT_MS);
	runtime_counters(rt, &c);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	rds_free(r);
	teardown_setup(&s);
	CHECK_INT_EQ(pend_before, 3);
	CHECK(ok);
	CHECK_INT_EQ(fk.calls, 3);
	CHECK_INT_EQ(c.reclaimed, 3);
	CHECK_INT_EQ(c.succeeded, 3);
}

TEST(runtime, lease_renewal_keeps_a_slow_task_from_being_stolen)
{
	struct rt_setup a, b;
	struct runtime *ra, *rb;
	struct runtime_counters ca, cb;
	struct rds *r;
	int ok = 0;

	CHECK(setup(&a, "rt-lease", 1, 400, 3, 10) == 0);
	CHECK(setup(&b, "rt-lease", 1, 400, 3, 10) == 0);
	snprintf(b.env.hostname, sizeof(b.env.hostname), "other-host");
	test_redis_flush();
	r = client();
	fake_reset(FAKE_SLOW);
	fk.sleep_ms = 1500; /* almost four lease timeouts */
	ra = runtime_start(&a.env, &fake_ops, NULL);
	rb = runtime_start(&b.env, &fake_ops, NULL);
	CHECK(add_task(r, a.docket, "EvSlow", "takes a while") == 0);
	WAIT_FOR(ok, fake_get(&fk.finished) >= 1 && pending_count(r, a.docket) == 0, WAIT_MS);
	runtime_counters(ra, &ca);
	runtime_counters(rb, &cb);
	/* stopping waits for anything still running, so a stolen copy would be counted */
	CHECK_INT_EQ(runtime_stop(ra), 0);
	CHECK_INT_EQ(runtime_stop(rb), 0);
	rds_free(r);
	teardown_setup(&a);
	teardown_setup(&b);
	CHECK(ok);
	CHECK_INT_EQ(fk.calls, 1);
	CHECK_INT_EQ(fk.finished, 1);
	CHECK_INT_EQ(ca.reclaimed + cb.reclaimed, 0);
	CHECK(ca.renewals + cb.renewals >= 1);
}

/*
 * A task that crashes its worker is reclaimed again and again: each reclaim
 * counts as an attempt (XPENDING's delivery count), and past MAX_ATTEMPTS it
 * is dead-lettered without running, with one apology. Wave 1 handed it on.
 */
TEST(runtime, poison_task_dead_letters_after_repeated_crashes)
{
	struct rt_setup s;
	struct runtime *rt;
	struct rds *r;
	struct err e = {0};
	redisReply *rep;
	char *stream, *err_f, id[64] = "";
	int ok = 0;

	CHECK(setup(&s, "rt-poison", 1, 400, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_OK);
	CHECK(runtime_ensure_group(r, s.docket, &e) == 0);
	CHECK(add_task(r, s.docket, "EvPoison", "crashes every worker") == 0);
	stream = keys_tasks(s.docket);
	/* three workers in turn took it and died: deliveries 1, 2, 3 */
	rep =
	    rds_cmd(r, &e, "XREADGROUP GROUP %s ghost-1 COUNT 1 STREAMS %s >", KEYS_GROUP, stream);
	CHECK(rep && rep->type == REDIS_REPLY_ARRAY);
	snprintf(id, sizeof(id), "%s", rep->element[0]->element[1]->element[0]->element[0]->str);
	freeReplyObject(rep);
	for (int i = 2; i <= 3; i++) {
		rep = rds_cmd(r, &e, "XCLAIM %s %s ghost-%d 0 %s", stream, KEYS_GROUP, i, id);
		CHECK(rep != NULL);
		freeReplyObject(rep);
	}
	free(stream);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	WAIT_FOR(ok, dead_len(r, s.docket) == 1 && pending_count(r, s.docket) == 0, WAIT_MS);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	err_f = first_entry_field(r, keys_dead(s.docket), "error");
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok);
	CHECK_INT_EQ(fk.calls, 0);
	CHECK_INT_EQ(fk.give_ups, 1);
	CHECK_STR_CONTAINS(err_f, "crashed or stalled 3 times");
	free(err_f);
}

/*
 * After a stall another consumer may take the entry over. The lease keeper
 * must not take it back (wave 1's XCLAIM did), and the stalled run must not
 * acknowledge or post: it is abandoned, the new owner's outcome counts.
 */
TEST(runtime, lease_renewal_never_takes_back_a_reclaimed_entry)
{
	struct rt_setup s;
	struct runtime *rt;
	struct runtime_counters c;
	struct rds *r;
	struct err e = {0};
	redisReply *rep = NULL;
	char *stream;
	int ok = 0;
	long long pend = -1;

	CHECK(setup(&s, "rt-steal", 1, 400, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_SLOW);
	fk.sleep_ms = 1200; /* three lease renewals */
	rt = runtime_start(&s.env, &fake_ops, NULL);
	CHECK(add_task(r, s.docket, "EvStolen", "slow") == 0);
	WAIT_FOR(ok, fake_get(&fk.calls) == 1, WAIT_MS);
	/* the first run stays slow (it read its mode); the reclaimed one is quick, so a
	 * renewal made late by a busy machine cannot abandon it too */
	pthread_mutex_lock(&fk.lock);
	fk.mode = FAKE_OK;
	pthread_mutex_unlock(&fk.lock);
	stream = keys_tasks(s.docket);
	/* another consumer takes it over (as XAUTOCLAIM would after a stall) */
	rep = rds_cmd(r, &e, "XPENDING %s %s - + 1", stream, KEYS_GROUP);
	CHECK(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1);
	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1) {
		redisReply *x = rds_cmd(r, &e, "XCLAIM %s %s thief 0 %s JUSTID", stream, KEYS_GROUP,
					rep->element[0]->element[0]->str);
		freeReplyObject(x);
	}
	freeReplyObject(rep);
	WAIT_FOR(ok, (runtime_counters(rt, &c), c.abandoned == 1), WAIT_MS);
	/* the runtime then reclaims the thief's entry (it never acks) and answers it once */
	WAIT_FOR(ok,
		 (runtime_counters(rt, &c), c.succeeded == 1) && pending_count(r, s.docket) == 0,
		 WAIT_MS);
	runtime_counters(rt, &c);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	pend = pending_count(r, s.docket);
	free(stream);
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok);
	CHECK_INT_EQ(c.abandoned, 1);
	CHECK_INT_EQ(c.succeeded, 1);
	CHECK_INT_EQ(c.reclaimed, 1);
	CHECK_INT_EQ(pend, 0);
}

/* Reads the owner and delivery count of the only pending entry; returns 0 or -1. */
static int pending_owner(struct rds *r, const char *docket, char *id, size_t idsz, char *owner,
			 size_t ownersz, long long *count)
{
	char *stream = keys_tasks(docket);
	redisReply *rep = rds_cmd(r, NULL, "XPENDING %s %s - + 1", stream, KEYS_GROUP);
	int rc = -1;

	free(stream);
	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
	    rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements >= 4) {
		const redisReply *p = rep->element[0];
		snprintf(id, idsz, "%s", p->element[0]->str);
		snprintf(owner, ownersz, "%s", p->element[1]->str);
		*count = rds_reply_int(p->element[3], 0);
		rc = 0;
	}
	if (rep)
		freeReplyObject(rep);
	return rc;
}

/* A consumer that reads the docket's next entry and never acknowledges it (a crashed worker). */
static void ghost_read(struct rds *r, const char *docket, const char *consumer)
{
	char *stream = keys_tasks(docket);
	redisReply *rep = rds_cmd(r, NULL, "XREADGROUP GROUP %s %s COUNT 1 STREAMS %s >",
				  KEYS_GROUP, consumer, stream);

	free(stream);
	if (rep)
		freeReplyObject(rep);
}

/*
 * Crashes add to the attempts a task already used: a task on its last
 * attempt (3 of 3) that crashed a worker once is dead-lettered, not run a
 * fourth time (wave 2's first cut compared the crashes alone with
 * MAX_ATTEMPTS).
 */
TEST(runtime, a_crash_on_the_last_attempt_dead_letters)
{
	struct rt_setup s;
	struct runtime *rt;
	struct rds *r;
	struct err e = {0};
	char *err_f, *attempt_f;
	int ok = 0;

	CHECK(setup(&s, "rt-lastcrash", 1, 400, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_OK);
	CHECK(runtime_ensure_group(r, s.docket, &e) == 0);
	CHECK(add_task_ex(r, s.docket, "EvLast", "third try", 3, clock_wall_ms()) == 0);
	ghost_read(r, s.docket, "ghost-1");
	rt = runtime_start(&s.env, &fake_ops, NULL);
	WAIT_FOR(ok, dead_len(r, s.docket) == 1 && pending_count(r, s.docket) == 0, WAIT_MS);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	err_f = first_entry_field(r, keys_dead(s.docket), "error");
	attempt_f = first_entry_field(r, keys_dead(s.docket), "attempt");
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok);
	CHECK_INT_EQ(fk.calls, 0);
	CHECK_INT_EQ(fk.give_ups, 1);
	CHECK_STR_CONTAINS(err_f, "crashed or stalled 1 times");
	CHECK_STR_EQ(attempt_f, "4");
	free(err_f);
	free(attempt_f);
}

/* A reclaimed task runs with the attempts its crashes used, and retries from there. */
TEST(runtime, a_reclaimed_task_runs_with_its_crashes_counted)
{
	struct rt_setup s;
	struct runtime *rt;
	struct runtime_counters c;
	struct rds *r;
	struct err e = {0};
	int ok = 0;

	CHECK(setup(&s, "rt-crashcount", 1, 400, 5, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_FAIL_FIRST); /* fails only when the attempt is 1 */
	CHECK(runtime_ensure_group(r, s.docket, &e) == 0);
	CHECK(add_task(r, s.docket, "EvCrashed", "crashed once") == 0);
	ghost_read(r, s.docket, "ghost-1");
	rt = runtime_start(&s.env, &fake_ops, NULL);
	WAIT_FOR(ok,
		 (runtime_counters(rt, &c), c.succeeded == 1) && pending_count(r, s.docket) == 0,
		 WAIT_MS);
	runtime_counters(rt, &c);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok);
	CHECK_INT_EQ(fk.calls, 1);
	CHECK_INT_EQ(fk.attempts[0], 2);
	CHECK_INT_EQ(c.reclaimed, 1);
	CHECK_INT_EQ(c.retried, 0);
}

/*
 * While renewals cannot reach Redis, this worker's own recovery scan may
 * claim an entry that one of its threads is still running (the scanning
 * thread skips it). The lease keeper takes it back, undoing that claim's
 * delivery count, instead of abandoning the run and leaving the entry to
 * wait out another lease.
 */
TEST(runtime, lease_keeper_takes_back_an_entry_its_own_scan_claimed)
{
	struct rt_setup s;
	struct runtime *rt;
	struct runtime_counters c;
	struct rds *r;
	char *stream;
	char id[64] = "", owner[128] = "", mine[128] = "", sibling[128];
	long long count = 0;
	int ok = 0, back = 0, n;
	redisReply *rep;

	CHECK(setup(&s, "rt-own", 2, 400, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_BLOCK);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	CHECK(add_task(r, s.docket, "EvOwn", "long run") == 0);
	WAIT_FOR(ok, fake_get(&fk.calls) == 1, WAIT_MS);
	CHECK(pending_owner(r, s.docket, id, sizeof(id), mine, sizeof(mine), &count) == 0);
	/* the other task thread of this runtime: <host>-<pid>-<0|1> */
	snprintf(sibling, sizeof(sibling), "%s", mine);
	n = (int)strlen(sibling);
	CHECK(n > 0);
	if (n > 0)
		sibling[n - 1] = sibling[n - 1] == '0' ? '1' : '0';
	stream = keys_tasks(s.docket);
	rep = rds_cmd(r, NULL, "XCLAIM %s %s %s 0 %s", stream, KEYS_GROUP, sibling, id);
	free(stream);
	CHECK(rep != NULL);
	if (rep)
		freeReplyObject(rep);
	WAIT_FOR(back,
		 pending_owner(r, s.docket, id, sizeof(id), owner, sizeof(owner), &count) == 0 &&
		     !strcmp(owner, mine),
		 WAIT_MS);
	pthread_mutex_lock(&fk.lock);
	fk.release = 1;
	pthread_mutex_unlock(&fk.lock);
	WAIT_FOR(ok,
		 (runtime_counters(rt, &c), c.succeeded == 1) && pending_count(r, s.docket) == 0,
		 WAIT_MS);
	runtime_counters(rt, &c);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	rds_free(r);
	teardown_setup(&s);
	CHECK(back);
	CHECK_INT_EQ(count, 1);
	CHECK(ok);
	CHECK_INT_EQ(fk.calls, 1);
	CHECK_INT_EQ(c.abandoned, 0);
	CHECK_INT_EQ(c.succeeded, 1);
}

/*
 * A drain that outlasts SHUTDOWN_GRACE_S releases the unfinished task as an
 * undelivered copy (any worker's next read takes it; wave 2's first cut only
 * shortened its idle time, so it waited for someone's recovery scan), and the
 * run left behind is abandoned: no acknowledgement, no outcome.
 */
TEST(runtime, drain_deadline_releases_the_task_for_the_next_read)
{
	struct rt_setup s;
	struct runtime *rt;
	struct runtime_counters c;
	struct rds *r;
	redisReply *rep;
	char *stream, *tid = NULL;
	int ok = 0, rc1, rc2 = -1;
	long long pend, len;

	CHECK(setup(&s, "rt-release", 1, 60000, 3, 1) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_BLOCK);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	CHECK(add_task(r, s.docket, "EvRelease", "outlasts the grace") == 0);
	WAIT_FOR(ok, fake_get(&fk.calls) == 1, WAIT_MS);
	rc1 = runtime_stop(rt);
	pend = pending_count(r, s.docket);
	len = key_len(r, "XLEN", keys_tasks(s.docket));
	stream = keys_tasks(s.docket);
	rep = rds_cmd(r, NULL, "XREADGROUP GROUP %s next-worker COUNT 1 STREAMS %s >", KEYS_GROUP,
		      stream);
	free(stream);
	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1) {
		const redisReply *f = rep->element[0]->element[1]->element[0]->element[1];
		for (size_t i = 0; i + 1 < f->elements; i += 2)
			if (!strcmp(f->element[i]->str, "id"))
				tid = xstrdup(f->element[i + 1]->str);
	}
	if (rep)
		freeReplyObject(rep);
	/* the run left behind ends; the runtime can then be stopped for good */
	pthread_mutex_lock(&fk.lock);
	fk.release = 1;
	pthread_mutex_unlock(&fk.lock);
	WAIT_FOR(ok, fake_get(&fk.finished) == 1 && (runtime_counters(rt, &c), c.abandoned == 1),
		 WAIT_MS);
	runtime_counters(rt, &c);
	for (int64_t dl = clock_mono_ms() + WAIT_MS; rc2 != 0 && clock_mono_ms() < dl;)
		rc2 = runtime_stop(rt);
	rds_free(r);
	teardown_setup(&s);
	CHECK_INT_EQ(rc1, -1);
	CHECK_INT_EQ(pend, 0); /* the original is acknowledged: another worker need not wait */
	CHECK_INT_EQ(len, 2);
	CHECK_STR_EQ(tid, "EvRelease");
	CHECK(ok);
	CHECK_INT_EQ(c.abandoned, 1);
	CHECK_INT_EQ(c.succeeded, 0);
	CHECK_INT_EQ(rc2, 0);
	free(tid);
}

/* Threads that have no task at the deadline only finish a blocked read: a clean drain. */
TEST(runtime, stop_without_tasks_in_flight_is_clean_even_with_no_grace)
{
	struct rt_setup s;
	struct runtime *rt;

	CHECK(setup(&s, "rt-idle-stop", 3, 60000, 3, 0) == 0);
	test_redis_flush();
	fake_reset(FAKE_OK);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	CHECK(rt != NULL);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	teardown_setup(&s);
}

/*
 * Retry-After is honoured only within the task state's life: a retry that
 * would be due after it is brought forward (a minute before the state
 * expires), and with no time left the task is dead-lettered.
 */
TEST(runtime, retries_never_outlive_the_task_state)
{
	struct rt_setup s;
	struct runtime *rt;
	struct rds *r;
	redisReply *rep;
	char *sched, *err_f;
	int ok = 0;
	int64_t now = clock_wall_ms(), life = (int64_t)KEYS_TASK_TTL_S * 1000, due = 0;

	CHECK(setup(&s, "rt-ttl", 1, 60000, 5, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_RETRY_AFTER);
	fk.sleep_ms = 15 * 60 * 1000; /* Retry-After: 15 minutes */
	rt = runtime_start(&s.env, &fake_ops, NULL);
	/* two minutes of state life left: the retry comes after one, not after 15 */
	CHECK(add_task_ex(r, s.docket, "EvLate", "old", 1, now - life + 120000) == 0);
	WAIT_FOR(ok, sched_len(r, s.docket) == 1, WAIT_MS);
	sched = keys_scheduled(s.docket);
	rep = rds_cmd(r, NULL, "ZRANGE %s 0 0 WITHSCORES", sched);
	free(sched);
	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
		due = rds_reply_int(rep->element[1], 0);
	if (rep)
		freeReplyObject(rep);
	/* half a minute left: nothing fits, given up at once */
	CHECK(add_task_ex(r, s.docket, "EvTooLate", "older", 1, now - life + 30000) == 0);
	WAIT_FOR(ok, dead_len(r, s.docket) == 1 && fake_get(&fk.give_ups) == 1, WAIT_MS);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	err_f = first_entry_field(r, keys_dead(s.docket), "error");
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok);
	CHECK(due > now);
	CHECK(due <= now + 120000 - 60000 + 5000); /* within the state's life, a minute to spare */
	CHECK_STR_EQ(fk.give_up_id, "EvTooLate");
	CHECK_STR_CONTAINS(err_f, "outlive the task state");
	free(err_f);
}

/*
 * A stuck task thread is one whose task shows no progress: every outgoing
 * request begins and ends one. Looking ahead with runtime_stuck_threads_at():
 * a run that just made a request is not stuck even past the no-progress bound
 * measured from its start, and is once the bound passes after the request.
 */
TEST(runtime, stuck_threads_are_those_without_progress)
{
	struct rt_setup s;
	struct runtime *rt;
	struct rds *r;
	int ok = 0, before, fresh, quiet, idle;
	int64_t bound, now;

	CHECK(setup(&s, "rt-stuck", 1, 60000, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_HTTP_THEN_BLOCK);
	fk.sleep_ms = 1500;
	snprintf(fk.url, sizeof(fk.url), "http://127.0.0.1:%d/", free_port());
	bound = runtime_no_progress_after_ms(&s.cfg);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	idle = runtime_stuck_threads_at(rt, clock_mono_ms() + bound * 10);
	CHECK(add_task(r, s.docket, "EvStuck", "waits") == 0);
	WAIT_FOR(ok, fake_get(&fk.calls) == 1, WAIT_MS);
	before = runtime_stuck_threads_at(rt, clock_mono_ms() + bound + 1000);
	WAIT_FOR(ok, fake_get(&fk.requested) == 1, WAIT_MS);
	now = clock_mono_ms();
	/* past the bound from the task's start (1.5 s before the request), not from the request */
	fresh = runtime_stuck_threads_at(rt, now + bound - 500);
	quiet = runtime_stuck_threads_at(rt, now + bound + 1000);
	pthread_mutex_lock(&fk.lock);
	fk.release = 1;
	pthread_mutex_unlock(&fk.lock);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok);
	CHECK_INT_EQ(idle, 0); /* a thread without a task is never stuck */
	CHECK_INT_EQ(before, 1);
	CHECK_INT_EQ(fresh, 0);
	CHECK_INT_EQ(quiet, 1);
	CHECK(bound >= 2 * s.cfg.llm_timeout_s * 1000);
}

TEST(runtime, stop_lets_in_flight_finish_and_reads_nothing_more)
{
	struct rt_setup s;
	struct runtime *rt;
	struct rds *r;
	struct queue_info qi;
	struct err e = {0};
	int ok = 0, rc;
	long long pend;

	CHECK(setup(&s, "rt-stop", 1, 60000, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_UNTIL_STOPPING);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	CHECK(add_task(r, s.docket, "EvStop1", "in flight at shutdown") == 0);
	WAIT_FOR(ok, fake_get(&fk.calls) == 1, WAIT_MS);
	/* the only thread is busy: this one waits in the stream */
	CHECK(add_task(r, s.docket, "EvStop2", "queued behind") == 0);
	rc = runtime_stop(rt);
	pend = pending_count(r, s.docket);
	CHECK(metrics_http_queue_info(r, s.docket, &qi, &e) == 0);
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok);
	CHECK_INT_EQ(rc, 0);
	CHECK_INT_EQ(fk.finished, 1);
	CHECK_INT_EQ(fk.calls, 1);
	CHECK_INT_EQ(pend, 0);
	CHECK_INT_EQ(qi.depth, 1); /* EvStop2 still undelivered for the next worker */
	CHECK_INT_EQ(qi.length, 2);
}

TEST(runtime, survives_a_redis_restart_and_drains_the_queue)
{
	struct rt_setup s;
	struct runtime *rt;
	struct runtime_counters c;
	struct rds *r;
	int ok1 = 0, ok2 = 0, ok3 = 0, added = 1;

	CHECK(setup(&s, "rt-restart", 2, 60000, 3, 10) == 0);
	test_redis_flush();
	r = client();
	fake_reset(FAKE_OK);
	rt = runtime_start(&s.env, &fake_ops, NULL);
	added &= add_task(r, s.docket, "EvR0", "before") == 0;
	WAIT_FOR(ok1, fake_get(&fk.finished) == 1 && pending_count(r, s.docket) == 0, WAIT_MS);
	test_redis_stop();
	WAIT_FOR(ok2, (runtime_counters(rt, &c), c.redis_errors > 0), WAIT_MS);
	test_redis_start_again();
	/* the restarted server has no data: the API's XADD recreates the stream without a group */
	for (int i = 1; i <= 4; i++) {
		char id[16];
		snprintf(id, sizeof(id), "EvR%d", i);
		added &= add_task(r, s.docket, id, "after") == 0 ||
			 add_task(r, s.docket, id, "after") == 0;
	}
	WAIT_FOR(ok3,
		 (runtime_counters(rt, &c), c.succeeded == 5) && pending_count(r, s.docket) == 0,
		 WAIT_MS);
	runtime_counters(rt, &c);
	CHECK_INT_EQ(runtime_stop(rt), 0);
	rds_free(r);
	teardown_setup(&s);
	CHECK(ok1);
	CHECK(ok2);
	CHECK(added);
	CHECK(ok3);
	CHECK_INT_EQ(fk.calls, 5);
	CHECK_INT_EQ(c.succeeded, 5);
}

TEST(runtime, dlq_list_replay_and_purge)
{
	struct rds *r;
	struct err e = {0};
	struct retry_fields f;
	struct dlq_entry *v = NULL;
	size_t n = 0;
	char new_id[64], dead_id[64];
	char *attempt_f, *replayed_f, *error_f;
	int res;

	CHECK(test_redis_url() != NULL);
	test_redis_flush();
	r = client();
	retry_fields_init(&f);
	retry_fields_add(&f, "type", 4, "question", 8);
	retry_fields_add(&f, "id", 2, "EvD", 3);
	retry_fields_add(&f, "text", 4, "why\nnot", 7);
	retry_fields_add(&f, "attempt", 7, "5", 1);
	CHECK(dlq_add(r, "rt-dlq", "1-1", &f, "upstream: llm answered 500", 1700000000000LL, &e) ==
	      0);
	CHECK(dlq_add(r, "rt-dlq", "1-2", &f, "invalid: bad", 1700000000001LL, &e) == 0);
	retry_fields_release(&f);
	CHECK(dlq_list(r, "rt-dlq", 10, &v, &n, &e) == 0);
	CHECK_INT_EQ(n, 2);
	CHECK_STR_EQ(v[0].task_id, "EvD");
	CHECK_STR_EQ(v[0].error, "upstream: llm answered 500");
	CHECK_STR_EQ(v[0].stream_id, "1-1");
	CHECK_STR_EQ(v[0].text, "why\nnot");
	CHECK_INT_EQ(v[0].attempt, 5);
	CHECK_INT_EQ(v[0].failed_ms, 1700000000000LL);
	snprintf(dead_id, sizeof(dead_id), "%s", v[0].id);
	dlq_entries_free(v, n);

	res = dlq_replay(r, "rt-dlq", dead_id, new_id, &e);
	CHECK_INT_EQ(res, 1);
	CHECK(new_id[0]);
	CHECK_INT_EQ(dead_len(r, "rt-dlq"), 1);
	attempt_f = first_entry_field(r, keys_tasks("rt-dlq"), "attempt");
	replayed_f = first_entry_field(r, keys_tasks("rt-dlq"), "replayed");
	error_f = first_entry_field(r, keys_tasks("rt-dlq"), "error");
	CHECK_STR_EQ(attempt_f, "1");
	CHECK_STR_EQ(replayed_f, dead_id);
	CHECK(error_f == NULL);
	free(attempt_f);
	free(replayed_f);

	err_clear(&e);
	CHECK_INT_EQ(dlq_replay(r, "rt-dlq", dead_id, new_id, &e), 0);
	CHECK_INT_EQ(e.code, ERR_NOT_FOUND);
	err_clear(&e);
	CHECK_INT_EQ(dlq_replay(r, "rt-dlq", "not-an-id", new_id, &e), -1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	CHECK_INT_EQ(dlq_purge(r, "rt-dlq", &e), 1);
	CHECK_INT_EQ(dlq_purge(r, "rt-dlq", &e), 0);
	CHECK_INT_EQ(dead_len(r, "rt-dlq"), 0);
	rds_free(r);
}

TEST(runtime, daily_incr_counts_with_a_ttl)
{
	struct rds *r;
	long long ttl;
	redisReply *rep;
	char *key;

	CHECK(test_redis_url() != NULL);
	test_redis_flush();
	r = client();
	CHECK(daily_incr(r, "feedback_helpful", 2) == 0);
	CHECK(daily_incr(r, "feedback_helpful", 3) == 0);
	CHECK_INT_EQ(hash_field(r, today_key(), "feedback_helpful"), 5);
	key = today_key();
	rep = rds_cmd(r, NULL, "TTL %s", key);
	free(key);
	ttl = rep ? rds_reply_int(rep, -3) : -3;
	if (rep)
		freeReplyObject(rep);
	rds_free(r);
	CHECK(ttl > 0 && ttl <= KEYS_METRICS_TTL_S);
}

static int free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int http_get(int port, const char *path, struct http_response *resp)
{
	struct http_client *hc = http_client_new();
	struct http_transport t = http_client_transport(hc);
	struct http_request req = {0};
	char url[96];
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	req.method = "GET";
	req.url = url;
	req.timeout_ms = 3000;
	rc = t.perform(t.ctx, &req, resp, NULL);
	http_client_free(hc);
	return rc;
}

static int no_stuck(void *ctx)
{
	(void)ctx;
	return 0;
}

static int one_stuck(void *ctx)
{
	(void)ctx;
	return 1;
}

TEST(runtime, metrics_server_serves_health_and_queue_gauges)
{
	struct rt_setup s;
	struct metrics_http *mh;
	struct http_response h, m, nf, l, nr, st, j, g;
	struct rds *r;
	struct err e = {0};
	redisReply *rep;
	char *stream;
	int port = free_port(), hrc, mrc, nrc, lrc, rrc, src, jrc, grc;

	CHECK(setup(&s, "rt-metrics", 1, 60000, 3, 10) == 0);
	test_redis_flush();
	r = client();
	CHECK(runtime_ensure_group(r, s.docket, &e) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(add_task(r, s.docket, "EvM", "m") == 0);
	stream = keys_tasks(s.docket);
	rep = rds_cmd(r, &e, "XREADGROUP GROUP %s c COUNT 1 STREAMS %s >", KEYS_GROUP, stream);
	free(stream);
	CHECK(rep != NULL);
	freeReplyObject(rep);
	mh = metrics_http_start(&s.cfg, port, &e);
	http_response_init(&h);
	http_response_init(&m);
	http_response_init(&nf);
	http_response_init(&l);
	http_response_init(&nr);
	http_response_init(&st);
	http_response_init(&j);
	http_response_init(&g);
	/* readiness waits for the knowledge base and the runtime; liveness does not */
	lrc = mh ? http_get(port, "/livez", &l) : -1;
	rrc = mh ? http_get(port, "/readyz", &nr) : -1;
	metrics_http_set_kb_ready(mh, 1);
	/* the knowledge base is open but no runtime consumes yet: not ready */
	jrc = -1;
	for (int64_t dl = clock_mono_ms() + WAIT_MS; mh && clock_mono_ms() < dl;) {
		buf_reset(&j.body);
		jrc = http_get(port, "/readyz", &j);
		if (jrc == 0 && strstr(j.body.s, "\"redis\":\"ok\""))
			break;
		clock_sleep_ms(20);
	}
	metrics_http_set_stuck_probe(mh, no_stuck, NULL);
	hrc = -1;
	for (int64_t dl = clock_mono_ms() + WAIT_MS; mh && clock_mono_ms() < dl;) {
		buf_reset(&h.body);
		hrc = http_get(port, "/healthz", &h);
		if (hrc == 0 && h.status == 200)
			break;
		clock_sleep_ms(20);
	}
	/* the group disappears (a Redis restart without persistence): not ready until it is back */
	stream = keys_tasks(s.docket);
	rep = rds_cmd(r, &e, "XGROUP DESTROY %s %s", stream, KEYS_GROUP);
	free(stream);
	if (rep)
		freeReplyObject(rep);
	grc = -1;
	for (int64_t dl = clock_mono_ms() + WAIT_MS; mh && clock_mono_ms() < dl;) {
		buf_reset(&g.body);
		grc = http_get(port, "/readyz", &g);
		if (grc == 0 && g.status == 503)
			break;
		clock_sleep_ms(20);
	}
	CHECK(runtime_ensure_group(r, s.docket, &e) == 0);
	stream = keys_tasks(s.docket);
	rep = rds_cmd(r, &e, "XREADGROUP GROUP %s c COUNT 1 STREAMS %s >", KEYS_GROUP, stream);
	free(stream);
	if (rep)
		freeReplyObject(rep);
	/* a stuck task thread fails liveness (and readiness) */
	metrics_http_set_stuck_probe(mh, one_stuck, NULL);
	src = mh ? http_get(port, "/livez", &st) : -1;
	metrics_http_set_stuck_probe(mh, NULL, NULL);
	/* the gauges are refreshed by a background thread: poll until they show */
	mrc = -1;
	for (int64_t dl = clock_mono_ms() + WAIT_MS; mh && clock_mono_ms() < dl;) {
		buf_reset(&m.body);
		mrc = http_get(port, "/metrics", &m);
		if (mrc == 0 && strstr(m.body.s, "haink_queue_depth 2\n") &&
		    strstr(m.body.s, "haink_queue_pending 1\n"))
			break;
		clock_sleep_ms(20);
	}
	nrc = mh ? http_get(port, "/nope", &nf) : -1;
	metrics_http_stop(mh);
	rds_free(r);
	teardown_setup(&s);
	CHECK(mh != NULL);
	CHECK_INT_EQ(hrc, 0);
	CHECK_INT_EQ(h.status, 200);
	CHECK_STR_CONTAINS(h.body.s, "\"redis\":\"ok\"");
	CHECK_STR_CONTAINS(h.body.s, "\"kb\":\"ok\"");
	CHECK_INT_EQ(lrc, 0);
	CHECK_INT_EQ(l.status, 200);
	CHECK_INT_EQ(rrc, 0);
	CHECK_INT_EQ(nr.status, 503);
	CHECK_STR_CONTAINS(nr.body.s, "\"kb\":\"loading\"");
	CHECK_INT_EQ(jrc, 0);
	CHECK_INT_EQ(j.status, 503);
	CHECK_STR_CONTAINS(j.body.s, "\"group\":\"joining\"");
	CHECK_STR_CONTAINS(j.body.s, "\"kb\":\"ok\"");
	CHECK_STR_CONTAINS(h.body.s, "\"group\":\"ok\"");
	CHECK_INT_EQ(grc, 0);
	CHECK_INT_EQ(g.status, 503);
	CHECK_STR_CONTAINS(g.body.s, "\"group\":\"joining\"");
	CHECK_INT_EQ(src, 0);
	CHECK_INT_EQ(st.status, 503);
	CHECK_STR_CONTAINS(st.body.s, "\"threads\":\"stuck\"");
	CHECK_INT_EQ(mrc, 0);
	CHECK_INT_EQ(m.status, 200);
	CHECK_STR_CONTAINS(m.body.s, "haink_queue_depth 2\n");
	CHECK_STR_CONTAINS(m.body.s, "haink_queue_pending 1\n");
	CHECK_INT_EQ(nrc, 0);
	CHECK_INT_EQ(nf.status, 404);
	http_response_release(&h);
	http_response_release(&m);
	http_response_release(&nf);
	http_response_release(&l);
	http_response_release(&nr);
	http_response_release(&st);
	http_response_release(&j);
	http_response_release(&g);
}
