/*
 * Integration tests of common/rds.c and api/enqueue.c against a throwaway
 * redis-server: commands, error replies, pipelining, EVALSHA with the EVAL
 * fallback, AUTH (ACL user, escaped and raw special characters) and SELECT,
 * command timeouts, and reconnecting after the server stops and comes back.
 */
#include <stdlib.h>

#include "common.h"
#include "enqueue.h"
#include "queue/runtime.h"

#include "../harness/test.h"

static struct rds *connect_test(const char *suffix)
{
	const char *base = test_redis_url();
	struct err e = {0};
	struct rds *r;
	char url[128];

	if (!base)
		return NULL;
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d%s", test_redis_port(),
		 suffix ? suffix : "/0");
	r = rds_new(url, 500, 2000, &e);
	if (!r)
		test_fail(__FILE__, __LINE__, "rds_new(%s): %s", url, e.msg);
	return r;
}

TEST(rds, commands_and_error_replies)
{
	struct rds *r = connect_test(NULL);
	struct err e = {0};
	redisReply *rep;
	const char *argv[] = {"SET", "bin", "a\0b"};
	size_t lens[] = {3, 3, 3};

	CHECK(r != NULL);
	test_redis_flush();
	rep = rds_cmd(r, &e, "PING");
	CHECK(rep != NULL);
	CHECK_STR_EQ(rep->str, "PONG");
	freeReplyObject(rep);
	rep = rds_cmdv(r, &e, 3, argv, lens);
	CHECK(rep != NULL);
	freeReplyObject(rep);
	rep = rds_cmd(r, &e, "GET %s", "bin");
	CHECK(rep && rep->type == REDIS_REPLY_STRING);
	CHECK_INT_EQ(rep->len, 3);
	CHECK_INT_EQ(memcmp(rep->str, "a\0b", 3), 0);
	freeReplyObject(rep);
	rep = rds_cmd(r, &e, "INCRBY n %d", 41);
	CHECK_INT_EQ(rds_reply_int(rep, -1), 41);
	freeReplyObject(rep);
	rep = rds_cmd(r, &e, "GET n");
	CHECK_INT_EQ(rds_reply_int(rep, -1), 41); /* a numeric string */
	freeReplyObject(rep);
	CHECK_INT_EQ(rds_reply_int(NULL, -7), -7);
	/* an error reply: NULL, ERR_REDIS, the server's text; the connection stays usable */
	rep = rds_cmd(r, &e, "INCR bin");
	CHECK(rep == NULL);
	CHECK_INT_EQ(e.code, ERR_REDIS);
	CHECK_STR_CONTAINS(e.msg, "not an integer");
	CHECK(rds_err_is(&e, "ERR"));
	CHECK(!rds_err_is(&e, "NOSCRIPT"));
	rep = rds_cmd(r, &e, "NOSUCHCOMMAND x");
	CHECK(rep == NULL);
	CHECK_STR_CONTAINS(e.msg, "unknown command");
	rep = rds_cmd(r, &e, "PING");
	CHECK(rep != NULL);
	freeReplyObject(rep);
	rds_free(r);
	rds_free(NULL);
}

TEST(rds, pipelining)
{
	struct rds *r = connect_test(NULL);
	struct err e = {0};
	redisReply *rep;
	int ok = 1;

	CHECK(r != NULL);
	test_redis_flush();
	rds_disconnect(r); /* the first append connects */
	for (int i = 0; i < 100; i++)
		CHECK_INT_EQ(rds_append(r, &e, "RPUSH pl %d", i), 0);
	{
		const char *argv[] = {"LLEN", "pl"};
		CHECK_INT_EQ(rds_appendv(r, &e, 2, argv, NULL), 0);
	}
	CHECK_INT_EQ(rds_append(r, &e, "INCR %s", "pl"), 0); /* WRONGTYPE inside a pipeline */
	CHECK_INT_EQ(rds_append(r, &e, "LINDEX pl 99"), 0);
	for (int i = 0; i < 100; i++) {
		rep = rds_reply(r, &e);
		ok &= rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == i + 1;
		if (rep)
			freeReplyObject(rep);
	}
	CHECK(ok);
	rep = rds_reply(r, &e);
	CHECK_INT_EQ(rds_reply_int(rep, -1), 100);
	freeReplyObject(rep);
	rep = rds_reply(r, &e);
	CHECK(rep && rep->type == REDIS_REPLY_ERROR);
	CHECK_STR_CONTAINS(rep->str, "WRONGTYPE");
	freeReplyObject(rep);
	rep = rds_reply(r, &e);
	CHECK(rep && rep->type == REDIS_REPLY_STRING);
	CHECK_STR_EQ(rep->str, "99");
	freeReplyObject(rep);
	rds_free(r);
}

/* Returns calls=N of a command in INFO commandstats, or -1 when absent. */
static long cmd_calls(struct rds *r, const char *cmd)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(r, &e, "INFO commandstats");
	char pat[64];
	const char *p;
	long n = -1;

	if (!rep)
		return -2;
	snprintf(pat, sizeof(pat), "cmdstat_%s:calls=", cmd);
	p = strstr(rep->str, pat);
	if (p)
		n = strtol(p + strlen(pat), NULL, 10);
	freeReplyObject(rep);
	return n;
}

TEST(rds, evalsha_falls_back_to_eval)
{
	struct rds *r = connect_test(NULL);
	struct rds_script s;
	struct err e = {0};
	redisReply *rep;
	const char *argv[] = {"k1", "hello"};

	CHECK(r != NULL);
	test_redis_flush();
	rds_script_init(&s, "redis.call('SET', KEYS[1], ARGV[1]) return ARGV[1] .. '!'");
	CHECK_INT_EQ(strlen(s.sha), 40);
	rep = rds_cmd(r, &e, "SCRIPT FLUSH");
	freeReplyObject(rep);
	rep = rds_cmd(r, &e, "CONFIG RESETSTAT");
	freeReplyObject(rep);
	/* not cached: EVALSHA gets NOSCRIPT, EVAL runs (and caches) it */
	rep = rds_eval(r, &s, 1, 2, argv, NULL, &e);
	CHECK(rep != NULL);
	CHECK_STR_EQ(rep->str, "hello!");
	freeReplyObject(rep);
	CHECK_INT_EQ(cmd_calls(r, "eval"), 1);
	/* now cached: EVALSHA alone */
	rep = rds_eval(r, &s, 1, 2, argv, NULL, &e);
	CHECK(rep != NULL);
	freeReplyObject(rep);
	CHECK_INT_EQ(cmd_calls(r, "eval"), 1);
	CHECK_INT_EQ(cmd_calls(r, "evalsha"), 2);
	/* the server's SHA1 of the body is ours */
	rep = rds_cmd(r, &e, "SCRIPT EXISTS %s", s.sha);
	CHECK(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1);
	CHECK_INT_EQ(rep->element[0]->integer, 1);
	freeReplyObject(rep);
	/* a script error is an ERR_REDIS with the server's text, not a crash */
	rds_script_init(&s, "return redis.call('INCR', KEYS[1])");
	rep = rds_eval(r, &s, 1, 1, argv, NULL, &e);
	CHECK(rep == NULL);
	CHECK_INT_EQ(e.code, ERR_REDIS);
	CHECK_STR_CONTAINS(e.msg, "not an integer");
	/* without an err from the caller too (it once failed on NOSCRIPT then) */
	rep = rds_cmd(r, &e, "SCRIPT FLUSH");
	freeReplyObject(rep);
	rds_script_init(&s, "return ARGV[1] .. '?'");
	rep = rds_eval(r, &s, 1, 2, argv, NULL, NULL);
	CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING);
	if (rep)
		CHECK_STR_EQ(rep->str, "hello?");
	if (rep)
		freeReplyObject(rep);
	rds_free(r);
}

TEST(rds, auth_and_select)
{
	struct rds *admin = connect_test(NULL), *u = NULL, *bad = NULL;
	struct err e = {0};
	redisReply *rep;
	char url[160];

	CHECK(admin != NULL);
	test_redis_flush();
	rep = rds_cmd(admin, &e, "ACL SETUSER alice on >p@ss:w/rd ~* &* +@all");
	CHECK(rep != NULL);
	freeReplyObject(rep);
	/* escaped specials, database 2 */
	snprintf(url, sizeof(url), "redis://alice:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d/2",
		 test_redis_port());
	u = rds_new(url, 500, 2000, &e);
	CHECK(u != NULL);
	rep = rds_cmd(u, &e, "ACL WHOAMI");
	if (!rep) {
		test_fail(__FILE__, __LINE__, "auth failed: %s", e.msg);
		goto out;
	}
	CHECK_STR_EQ(rep->str, "alice");
	freeReplyObject(rep);
	rep = rds_cmd(u, &e, "SET only_in_2 yes");
	freeReplyObject(rep);
	rep = rds_cmd(admin, &e, "EXISTS only_in_2"); /* admin is on db 0 */
	CHECK_INT_EQ(rds_reply_int(rep, -1), 0);
	freeReplyObject(rep);
	rep = rds_cmd(admin, &e, "SELECT 2");
	freeReplyObject(rep);
	rep = rds_cmd(admin, &e, "EXISTS only_in_2");
	CHECK_INT_EQ(rds_reply_int(rep, -1), 1);
	freeReplyObject(rep);
	/* AUTH and SELECT are replayed after a reconnect */
	rds_disconnect(u);
	rep = rds_cmd(u, &e, "GET only_in_2");
	CHECK(rep && rep->type == REDIS_REPLY_STRING);
	CHECK_STR_EQ(rep->str, "yes");
	freeReplyObject(rep);
	rds_free(u);
	/* a raw '@' and ':' in the password work unescaped too */
	snprintf(url, sizeof(url), "redis://alice:p@ss:w%%2Frd@127.0.0.1:%d/0", test_redis_port());
	u = rds_new(url, 500, 2000, &e);
	CHECK(u != NULL);
	rep = rds_cmd(u, &e, "ACL WHOAMI");
	CHECK(rep != NULL);
	CHECK_STR_EQ(rep->str, "alice");
	freeReplyObject(rep);
	/* a wrong password is ERR_AUTH with a clear message */
	snprintf(url, sizeof(url), "redis://alice:wrong@127.0.0.1:%d/0", test_redis_port());
	bad = rds_new(url, 500, 2000, &e);
	CHECK(bad != NULL);
	CHECK(rds_cmd(bad, &e, "PING") == NULL);
	CHECK_INT_EQ(e.code, ERR_AUTH);
	CHECK_STR_CONTAINS(e.msg, "AUTH rejected");
	CHECK(!strstr(e.msg, "wrong"));
	/* a database the server lacks is a clear error */
	rds_free(bad);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/99", test_redis_port());
	bad = rds_new(url, 500, 2000, &e);
	CHECK(bad != NULL);
	CHECK(rds_connect(bad, &e) == -1);
	CHECK_STR_CONTAINS(e.msg, "SELECT rejected");
out:
	rep = rds_cmd(admin, &e, "ACL DELUSER alice");
	if (rep)
		freeReplyObject(rep);
	rds_free(admin);
	rds_free(u);
	rds_free(bad);
}

struct scan_seen {
	int pages, keys, stop_after;
	char last[64];
};

static int scan_count(struct rds *r, const redisReply *keys, void *vctx, struct err *err)
{
	struct scan_seen *c = vctx;

	(void)r;
	c->pages++;
	for (size_t i = 0; i < keys->elements; i++) {
		c->keys++;
		snprintf(c->last, sizeof(c->last), "%s", keys->element[i]->str);
	}
	if (c->stop_after && c->pages >= c->stop_after) {
		err_set(err, ERR_INVALID, "stopped by the callback");
		return -1;
	}
	return 0;
}

static int count_key(struct rds *r, const char *key, void *ctx, struct err *err)
{
	(void)r, (void)err;
	*(int *)ctx += !strncmp(key, "scan:", 5);
	return 0;
}

TEST(rds, scan_visits_every_matching_key_of_the_type)
{
	struct rds *r = connect_test(NULL);
	struct err e = {0};
	struct scan_seen all = {0}, hashes = {0}, stopped = {0, 0, 1, ""};
	redisReply *rep;

	CHECK(r != NULL);
	test_redis_flush();
	for (int i = 0; i < 2500; i++) {
		rep = rds_cmd(r, &e, "SET scan:s:%d x", i);
		CHECK(rep != NULL);
		freeReplyObject(rep);
	}
	rep = rds_cmd(r, &e, "HSET scan:h:1 f v");
	CHECK(rep != NULL);
	freeReplyObject(rep);
	rep = rds_cmd(r, &e, "SET other x");
	CHECK(rep != NULL);
	freeReplyObject(rep);
	CHECK_INT_EQ(rds_scan(r, "scan:*", NULL, scan_count, &all, &e), 0);
	CHECK(all.keys >= 2501); /* SCAN may return a key twice, never skips one */
	CHECK(all.pages >= 2);
	CHECK_INT_EQ(rds_scan(r, "scan:*", "hash", scan_count, &hashes, &e), 0);
	CHECK_INT_EQ(hashes.keys, 1);
	CHECK_STR_EQ(hashes.last, "scan:h:1");
	/* the callback's failure stops the scan and comes back with its error */
	CHECK_INT_EQ(rds_scan(r, "scan:*", NULL, scan_count, &stopped, &e), -1);
	CHECK_INT_EQ(stopped.pages, 1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	/* the per-key form sees each key of the pages */
	{
		int keys = 0;
		CHECK_INT_EQ(rds_scan_keys(r, "scan:*", "hash", count_key, &keys, &e), 0);
		CHECK_INT_EQ(keys, 1);
		keys = 0;
		CHECK_INT_EQ(rds_scan_keys(r, "scan:*", NULL, count_key, &keys, &e), 0);
		CHECK(keys >= 2501);
	}
	rds_free(r);
}

TEST(rds, command_timeout)
{
	struct rds *r = connect_test(NULL);
	struct err e = {0};
	redisReply *rep;

	CHECK(r != NULL);
	rds_set_timeout(r, 100);
	rep = rds_cmd(r, &e, "BLPOP never:filled 5");
	CHECK(rep == NULL);
	CHECK_INT_EQ(e.code, ERR_TIMEOUT);
	rds_set_timeout(r, 2000);
	/* the timed-out connection was dropped; the next command reconnects at once */
	rep = rds_cmd(r, &e, "PING");
	if (!rep)
		test_fail(__FILE__, __LINE__, "no reconnect after timeout: %s", e.msg);
	CHECK(rep != NULL);
	freeReplyObject(rep);
	rds_free(r);
}

TEST(rds, unreachable_server)
{
	struct err e = {0};
	struct rds *r = rds_new("redis://127.0.0.1:1/0", 200, 200, &e);
	int64_t t0;

	CHECK(r != NULL);
	CHECK(rds_cmd(r, &e, "PING") == NULL);
	CHECK_INT_EQ(e.code, ERR_REDIS);
	CHECK_STR_CONTAINS(e.msg, "cannot connect to redis at 127.0.0.1:1");
	/* within the backoff the next call fails without trying */
	t0 = clock_mono_ms();
	CHECK(rds_cmd(r, &e, "PING") == NULL);
	if (clock_mono_ms() - t0 < 40) /* only meaningful inside the 50 ms window */
		CHECK_STR_CONTAINS(e.msg, "backing off");
	CHECK(rds_append(r, &e, "PING") == -1);
	rds_free(r);
}

/* Retries cmd until it succeeds or the deadline passes (reconnect backoff is up to 2 s). */
static redisReply *cmd_until_ok(struct rds *r, const char *cmd, int64_t deadline_ms, struct err *e)
{
	redisReply *rep;

	while (!(rep = rds_cmd(r, e, "%s", cmd)) && clock_mono_ms() < deadline_ms)
		clock_sleep_ms(10);
	return rep;
}

TEST(rds, reconnects_after_restart)
{
	struct rds *r = connect_test(NULL);
	struct err e = {0};
	redisReply *rep;

	CHECK(r != NULL);
	rep = rds_cmd(r, &e, "PING");
	CHECK(rep != NULL);
	freeReplyObject(rep);
	test_redis_stop();
	/* the established connection is gone: a clean error, no crash */
	rep = rds_cmd(r, &e, "PING");
	CHECK(rep == NULL);
	CHECK(e.code == ERR_REDIS || e.code == ERR_TIMEOUT);
	/* repeated failures while down back off instead of hanging */
	for (int i = 0; i < 5; i++)
		CHECK(rds_cmd(r, &e, "PING") == NULL);
	test_redis_start_again();
	CHECK(!test_failed());
	rep = cmd_until_ok(r, "PING", clock_mono_ms() + 5000, &e);
	if (!rep)
		test_fail(__FILE__, __LINE__, "no reconnect after restart: %s", e.msg);
	CHECK(rep != NULL);
	CHECK_STR_EQ(rep->str, "PONG");
	freeReplyObject(rep);
	/* a pipeline after the restart works too */
	CHECK_INT_EQ(rds_append(r, &e, "SET after restart"), 0);
	rep = rds_reply(r, &e);
	CHECK(rep && rep->type == REDIS_REPLY_STATUS);
	freeReplyObject(rep);
	rds_free(r);
}

/* --- api/enqueue.c: the dedupe + XADD script ------------------------------------------ */

static void enqueue_config(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->docket_name = (char *)"itest";
	cfg->dedupe_ttl_s = 600;
	cfg->stream_maxlen = 100;
}

static void make_task(struct task *t, const char *id)
{
	test_task_question(t, id, "what is \xe2\x98\x83?");
}

TEST(enqueue, once_per_id)
{
	struct rds *r = connect_test(NULL);
	struct config cfg;
	struct task t, d;
	struct err e = {0};
	char id[32] = "";
	redisReply *rep;
	const char *f[TASK_MAX_FIELDS], *v[TASK_MAX_FIELDS];
	size_t fl[TASK_MAX_FIELDS], vl[TASK_MAX_FIELDS], n;
	int64_t before = clock_wall_ms(), stored_ms;

	CHECK(r != NULL);
	test_redis_flush();
	enqueue_config(&cfg);
	make_task(&t, "Ev0ONCE");
	CHECK_INT_EQ(enqueue_task(r, &cfg, &t, id, &e), ENQUEUE_ADDED);
	CHECK(strchr(id, '-') != NULL);
	CHECK(t.enqueued_ms >= before);
	/* the duplicate calls below restamp t.enqueued_ms; the entry keeps the first */
	stored_ms = t.enqueued_ms;
	CHECK_INT_EQ(enqueue_task(r, &cfg, &t, id, &e), ENQUEUE_DUPLICATE);
	CHECK_INT_EQ(enqueue_task(r, &cfg, &t, NULL, &e), ENQUEUE_DUPLICATE);
	rep = rds_cmd(r, &e, "XLEN docket:{itest}:tasks");
	CHECK_INT_EQ(rds_reply_int(rep, -1), 1);
	freeReplyObject(rep);
	rep = rds_cmd(r, &e, "TTL docket:{itest}:seen:Ev0ONCE");
	CHECK(rds_reply_int(rep, -1) > 590 && rds_reply_int(rep, -1) <= 600);
	freeReplyObject(rep);
	/* the entry decodes back to the task */
	rep = rds_cmd(r, &e, "XRANGE docket:{itest}:tasks - +");
	CHECK(rep && rep->elements == 1);
	{
		redisReply *kv = rep->element[0]->element[1];
		n = kv->elements / 2;
		for (size_t i = 0; i < n; i++) {
			f[i] = kv->element[2 * i]->str;
			fl[i] = kv->element[2 * i]->len;
			v[i] = kv->element[2 * i + 1]->str;
			vl[i] = kv->element[2 * i + 1]->len;
		}
	}
	task_init(&d);
	CHECK_INT_EQ(task_decode(&d, n, f, fl, v, vl, &e), 0);
	freeReplyObject(rep);
	CHECK_STR_EQ(d.id, "Ev0ONCE");
	CHECK_STR_EQ(d.text, "what is \xe2\x98\x83?");
	CHECK_INT_EQ(d.enqueued_ms, stored_ms);
	CHECK_INT_EQ(d.attempt, 1);
	task_release(&d);
	task_release(&t);
	rds_free(r);
}

TEST(enqueue, failed_xadd_leaves_no_seen_mark)
{
	struct rds *r = connect_test(NULL);
	struct config cfg;
	struct task t;
	struct err e = {0};
	redisReply *rep;

	CHECK(r != NULL);
	test_redis_flush();
	enqueue_config(&cfg);
	/* make XADD fail: the stream key holds a string */
	rep = rds_cmd(r, &e, "SET docket:{itest}:tasks not-a-stream");
	freeReplyObject(rep);
	make_task(&t, "Ev0FAIL");
	CHECK_INT_EQ(enqueue_task(r, &cfg, &t, NULL, &e), ENQUEUE_FAILED);
	CHECK_INT_EQ(e.code, ERR_REDIS);
	CHECK_STR_CONTAINS(e.msg, "WRONGTYPE");
	rep = rds_cmd(r, &e, "EXISTS docket:{itest}:seen:Ev0FAIL");
	CHECK_INT_EQ(rds_reply_int(rep, -1), 0);
	freeReplyObject(rep);
	/* once the stream is usable, the same id is accepted (Slack's retry succeeds) */
	rep = rds_cmd(r, &e, "DEL docket:{itest}:tasks");
	freeReplyObject(rep);
	CHECK_INT_EQ(enqueue_task(r, &cfg, &t, NULL, &e), ENQUEUE_ADDED);
	task_release(&t);
	rds_free(r);
}

/*
 * STREAM_MAXLEN caps the backlog without deleting anything: at the cap a new
 * task is refused (BACKLOG, retryable: the API answers 503 and Slack retries)
 * and its event id is not marked seen, a repeated event is still a duplicate,
 * and once the workers have acknowledged entries runtime_trim_acked() makes
 * room again. Wave 1 trimmed with MAXLEN ~ and lost unread entries.
 */
TEST(enqueue, backlog_cap_refuses_and_never_deletes)
{
	struct rds *r = connect_test(NULL);
	struct config cfg;
	struct err e = {0};
	redisReply *rep;
	struct task t;
	char id[32];

	CHECK(r != NULL);
	test_redis_flush();
	enqueue_config(&cfg); /* stream_maxlen 100 */
	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "Ev%04d", i);
		make_task(&t, id);
		CHECK_INT_EQ(enqueue_task(r, &cfg, &t, NULL, &e), ENQUEUE_ADDED);
		task_release(&t);
	}
	make_task(&t, "Ev0100");
	CHECK_INT_EQ(enqueue_task(r, &cfg, &t, NULL, &e), ENQUEUE_FAILED);
	CHECK_STR_CONTAINS(e.msg, "BACKLOG");
	CHECK(err_retryable(e.code));
	task_release(&t);
	/* the refused event was not marked: its retry can still be stored */
	rep = rds_cmd(r, &e, "EXISTS docket:{itest}:seen:Ev0100");
	CHECK_INT_EQ(rds_reply_int(rep, -1), 0);
	freeReplyObject(rep);
	/* a repeat of a stored event is a duplicate (200), not a 503 */
	make_task(&t, "Ev0007");
	CHECK_INT_EQ(enqueue_task(r, &cfg, &t, NULL, &e), ENQUEUE_DUPLICATE);
	task_release(&t);
	rep = rds_cmd(r, &e, "XLEN docket:{itest}:tasks");
	CHECK_INT_EQ(rds_reply_int(rep, -1), 100);
	freeReplyObject(rep);

	/* nothing delivered yet: trimming deletes nothing */
	CHECK(runtime_ensure_group(r, "itest", &e) == 0);
	CHECK_INT_EQ(runtime_trim_acked(r, "itest", &e), 0);
	/* a consumer reads 60 and acknowledges the first 50: 10 stay pending */
	rep = rds_cmd(r, &e, "XREADGROUP GROUP workers c COUNT 60 STREAMS docket:{itest}:tasks >");
	CHECK(rep && rep->type == REDIS_REPLY_ARRAY);
	{
		const redisReply *en = rep->element[0]->element[1];
		CHECK_INT_EQ(en->elements, 60);
		for (size_t i = 0; i < 50; i++) {
			redisReply *a = rds_cmd(r, &e, "XACK docket:{itest}:tasks workers %s",
						en->element[i]->element[0]->str);
			freeReplyObject(a);
		}
	}
	freeReplyObject(rep);
	CHECK_INT_EQ(runtime_trim_acked(r, "itest", &e), 50);
	/* every unacknowledged (10 pending) and unread (40) entry is still there */
	rep = rds_cmd(r, &e, "XRANGE docket:{itest}:tasks - +");
	CHECK(rep && rep->type == REDIS_REPLY_ARRAY);
	CHECK_INT_EQ(rep->elements, 50);
	{
		/* the oldest one left is the first pending entry, Ev0050 */
		const redisReply *f = rep->element[0]->element[1];
		int found = 0;
		for (size_t i = 0; i + 1 < f->elements; i += 2)
			found |= !strcmp(f->element[i]->str, "id") &&
				 !strcmp(f->element[i + 1]->str, "Ev0050");
		CHECK(found);
	}
	freeReplyObject(rep);
	/* room again below the cap */
	make_task(&t, "Ev0100");
	CHECK_INT_EQ(enqueue_task(r, &cfg, &t, NULL, &e), ENQUEUE_ADDED);
	task_release(&t);
	rep = rds_cmd(r, &e, "XPENDING docket:{itest}:tasks workers");
	CHECK_INT_EQ(rds_reply_int(rep->element[0], -1), 10);
	freeReplyObject(rep);
	rds_free(r);
}

TEST(enqueue, redis_down_fails_cleanly)
{
	struct err e = {0};
	struct rds *r = rds_new("redis://127.0.0.1:1/0", 200, 200, &e);
	struct config cfg;
	struct task t;

	CHECK(r != NULL);
	enqueue_config(&cfg);
	make_task(&t, "Ev0DOWN");
	CHECK_INT_EQ(enqueue_task(r, &cfg, &t, NULL, &e), ENQUEUE_FAILED);
	CHECK(err_retryable(e.code));
	task_release(&t);
	rds_free(r);
}
