/*
 * Integration tests of worker/queue/emf.c on a real redis-server: of two
 * publishers exactly one holds the lease and writes lines; the figures in
 * the line are those of the stream (length, lag, pending, oldest pending age,
 * dead letters, memory use); the lease passes on when released or expired;
 * emf_start() publishes on stdout and emf_stop() releases the lease.
 */
#include "common.h"
#include "queue/emf.h"
#include "queue/worker_ctx.h"

#include "../harness/test.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#define WAIT_MS 15000

/* Redis server time in ms, or -1. */
static long long server_ms(struct rds *r)
{
	redisReply *rep = rds_cmd(r, NULL, "TIME");
	long long ms = -1;

	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
		ms = strtoll(rep->element[0]->str, NULL, 10) * 1000 +
		     strtoll(rep->element[1]->str, NULL, 10) / 1000;
	if (rep)
		freeReplyObject(rep);
	return ms;
}

static int cmd_ok(struct rds *r, const char *fmt, const char *a, const char *b)
{
	redisReply *rep = rds_cmd(r, NULL, fmt, a, b);
	int ok = rep && rep->type != REDIS_REPLY_ERROR;

	if (rep)
		freeReplyObject(rep);
	return ok;
}

static long long key_exists(struct rds *r, const char *key)
{
	redisReply *rep = rds_cmd(r, NULL, "EXISTS %s", key);
	long long n = rds_reply_int(rep, -1);

	if (rep)
		freeReplyObject(rep);
	return n;
}

/* Reads what is available on a non-blocking fd into b. */
static void drain(int fd, struct buf *b)
{
	char chunk[4096];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(b, chunk, (size_t)n);
}

static int nonblocking_pipe(int fds[2])
{
	if (pipe(fds) < 0)
		return -1;
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
	return 0;
}

/*
 * A stream with 5 entries dated 300 s ago by the server clock, a group that
 * was delivered 2 of them (pending 2, lag 3), and one dead letter.
 */
static int seed_queue(struct rds *r, const char *docket)
{
	char *stream = keys_tasks(docket), *dead = keys_dead(docket);
	long long base = server_ms(r) - 300000;
	char id[48];
	int ok = base > 0;

	for (int i = 1; ok && i <= 5; i++) {
		snprintf(id, sizeof(id), "%lld-%d", base, i);
		ok = cmd_ok(r, "XADD %s %s f v", stream, id);
	}
	ok = ok && cmd_ok(r, "XGROUP CREATE %s %s 0", stream, KEYS_GROUP);
	ok = ok && cmd_ok(r, "XREADGROUP GROUP %s c1 COUNT 2 STREAMS %s >", KEYS_GROUP, stream);
	ok = ok && cmd_ok(r, "XADD %s * %s v", dead, "f");
	free(stream);
	free(dead);
	return ok ? 0 : -1;
}

TEST(emf, one_leader_among_two_and_values_right)
{
	const char *docket = "emf-two";
	struct rds *a = test_redis_connect(5000), *b = test_redis_connect(5000);
	struct buf out = BUF_INIT;
	struct err e = {0};
	json_error_t jerr;
	json_t *line = NULL;
	int fds[2] = {-1, -1};
	long long age;
	char *nl;

	CHECK(a && b);
	CHECK(seed_queue(a, docket) == 0);
	CHECK(cmd_ok(a, "CONFIG SET %s %s", "maxmemory", "1000000000"));
	CHECK(nonblocking_pipe(fds) == 0);

	CHECK_INT_EQ(emf_tick(a, docket, "worker-a", 60000, fds[1], &e), 1);
	CHECK_INT_EQ(emf_tick(b, docket, "worker-b", 60000, fds[1], &e), 0);
	CHECK_INT_EQ(emf_tick(a, docket, "worker-a", 60000, fds[1], &e), 1); /* renews */
	CHECK_INT_EQ(emf_tick(b, docket, "worker-b", 60000, fds[1], &e), 0);
	cmd_ok(a, "CONFIG SET %s %s", "maxmemory", "0");
	drain(fds[0], &out);
	close(fds[0]);
	close(fds[1]);

	/* exactly two lines, both from the leader */
	nl = strchr(out.s, '\n');
	CHECK(nl && strchr(nl + 1, '\n') && !strchr(strchr(nl + 1, '\n') + 1, '\n'));
	line = json_loadb(out.s, (size_t)(nl - out.s), 0, &jerr);
	buf_release(&out);
	CHECK(line != NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(line, "Docket")), docket);
	CHECK_INT_EQ(json_integer_value(json_object_get(line, "StreamLength")), 5);
	CHECK_INT_EQ(json_integer_value(json_object_get(line, "QueueDepth")), 3);
	CHECK_INT_EQ(json_integer_value(json_object_get(line, "Pending")), 2);
	CHECK_INT_EQ(json_integer_value(json_object_get(line, "DeadLetters")), 1);
	age = json_integer_value(json_object_get(line, "OldestPendingAgeSeconds"));
	CHECK(age >= 300 && age < 3600);
	{
		double pct = json_number_value(json_object_get(line, "RedisMemoryUsedPercent"));
		CHECK(json_object_get(line, "RedisMemoryUsedPercent") != NULL);
		CHECK(pct > 0 && pct < 100);
	}
	json_decref(line);
	rds_free(a);
	rds_free(b);
}

TEST(emf, lease_passes_on_release_and_expiry_only)
{
	const char *docket = "emf-lease";
	struct rds *a = test_redis_connect(5000), *b = test_redis_connect(5000);
	char *key = keys_emf_leader(docket);
	struct err e = {0};
	int gone = 0;

	CHECK(a && b && key);
	CHECK_INT_EQ(emf_lease_acquire(a, docket, "worker-a", 60000, &e), 1);
	CHECK_INT_EQ(emf_lease_acquire(b, docket, "worker-b", 60000, &e), 0);
	/* a release by a non-holder changes nothing */
	CHECK_INT_EQ(emf_lease_release(b, docket, "worker-b", &e), 0);
	CHECK_INT_EQ(emf_lease_acquire(b, docket, "worker-b", 60000, &e), 0);
	/* the holder's release hands over at once */
	CHECK_INT_EQ(emf_lease_release(a, docket, "worker-a", &e), 0);
	CHECK_INT_EQ(emf_lease_acquire(b, docket, "worker-b", 100, &e), 1);
	CHECK_INT_EQ(emf_lease_acquire(a, docket, "worker-a", 60000, &e), 0);
	/* a holder that stops renewing loses it when the lease expires */
	for (int64_t dl = clock_mono_ms() + WAIT_MS;
	     !(gone = key_exists(a, key) == 0) && clock_mono_ms() < dl;)
		clock_sleep_ms(10);
	CHECK(gone);
	CHECK_INT_EQ(emf_lease_acquire(a, docket, "worker-a", 60000, &e), 1);
	free(key);
	rds_free(a);
	rds_free(b);
}

TEST(emf, start_publishes_on_stdout_and_stop_releases)
{
	const char *docket = "emf-thread";
	const char *url = test_redis_url();
	struct config cfg = {0};
	struct worker_env env;
	struct rds *r = test_redis_connect(5000);
	char *key = keys_emf_leader(docket);
	struct buf out = BUF_INIT;
	struct err e = {0};
	struct emf *p;
	int fds[2] = {-1, -1}, saved, have = 0, gone = 0;
	json_error_t jerr;
	json_t *line;

	CHECK(r && url && key);
	memset(&env, 0, sizeof(env));
	cfg.redis_url = (char *)url;
	cfg.docket_name = (char *)docket;
	env.cfg = &cfg;
	snprintf(env.hostname, sizeof(env.hostname), "emf-test");
	/* off: nothing starts */
	CHECK(emf_start(&env, &e) == NULL);
	CHECK_INT_EQ(e.code, ERR_OK);

	cfg.queue_metrics_emf = 1;
	CHECK(nonblocking_pipe(fds) == 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fds[1], STDOUT_FILENO);
	p = emf_start(&env, &e);
	for (int64_t dl = clock_mono_ms() + WAIT_MS; p && clock_mono_ms() < dl;) {
		drain(fds[0], &out);
		if ((have = out.len > 0 && out.s[out.len - 1] == '\n'))
			break;
		clock_sleep_ms(10);
	}
	emf_stop(p);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fds[0]);
	close(fds[1]);
	CHECK(p != NULL);
	CHECK(have);
	line = json_loads(out.s, 0, &jerr);
	buf_release(&out);
	CHECK(line != NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(line, "Docket")), docket);
	CHECK_INT_EQ(json_integer_value(json_object_get(line, "StreamLength")), 0);
	json_decref(line);
	gone = key_exists(r, key) == 0;
	CHECK(gone);
	free(key);
	rds_free(r);
}
