/*
 * The throwaway redis-server of test.h: a child process in a temporary
 * directory on a free loopback port, killed at exit.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <hiredis/hiredis.h>

#include "common.h"
#include "test.h"

static pid_t redis_pid;
static int redis_port;
static char redis_dir[64];
static char redis_url[64];

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int ping_ok(void)
{
	struct timeval tv = {0, 200000};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
	int ok = 0;

	if (c && !c->err) {
		redisReply *r = redisCommand(c, "PING");
		ok = r && r->type == REDIS_REPLY_STATUS;
		if (r)
			freeReplyObject(r);
	}
	if (c)
		redisFree(c);
	return ok;
}

static void stop_child(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGKILL);
		waitpid(redis_pid, NULL, 0);
		redis_pid = 0;
	}
}

static void cleanup(void)
{
	char cmd[128];

	stop_child();
	if (redis_dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", redis_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", redis_dir);
	}
}

static int spawn(void)
{
	char port[16];
	struct timespec ts = {0, 10 * 1000 * 1000};

	snprintf(port, sizeof(port), "%d", redis_port);
	redis_pid = fork();
	if (redis_pid == 0) {
		int devnull = open("/dev/null", 1);
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		/* REDIS_SERVER names another server binary (valkey-server) */
		const char *server = getenv("REDIS_SERVER");
		if (!server || !*server)
			server = "redis-server";
		/* HAINK_QE_MODULE loads the Query Engine (make test-qe) */
		const char *module = getenv("HAINK_QE_MODULE");
		if (module && *module)
			execlp(server, server, "--port", port, "--bind", "127.0.0.1", "--save", "",
			       "--appendonly", "no", "--dir", redis_dir, "--loadmodule", module,
			       (char *)NULL);
		else
			execlp(server, server, "--port", port, "--bind", "127.0.0.1", "--save", "",
			       "--appendonly", "no", "--dir", redis_dir, (char *)NULL);
		_exit(127);
	}
	if (redis_pid < 0)
		return -1;
	for (int i = 0; i < 500; i++) { /* up to 5 s */
		if (ping_ok())
			return 0;
		if (waitpid(redis_pid, NULL, WNOHANG) == redis_pid) {
			redis_pid = 0;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	return -1;
}

const char *test_redis_url(void)
{
	if (redis_pid > 0)
		return redis_url;
	if (!redis_dir[0]) {
		snprintf(redis_dir, sizeof(redis_dir), "/tmp/haink-test-redis-XXXXXX");
		if (!mkdtemp(redis_dir)) {
			redis_dir[0] = '\0';
			test_fail(__FILE__, __LINE__, "cannot create a temporary directory");
			return NULL;
		}
		atexit(cleanup);
	}
	for (int tries = 0; tries < 3; tries++) {
		redis_port = free_port();
		if (redis_port && spawn() == 0) {
			snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d/0",
				 redis_port);
			return redis_url;
		}
		stop_child();
	}
	test_fail(__FILE__, __LINE__, "cannot start redis-server (is it installed?)");
	return NULL;
}

struct rds *test_redis_connect(int reply_ms)
{
	const char *url = test_redis_url();
	struct err e = {0};
	struct rds *r;

	if (!url)
		return NULL;
	r = rds_new(url, 500, reply_ms, &e);
	if (!r)
		test_fail(__FILE__, __LINE__, "rds_new(%s): %s", url, e.msg);
	return r;
}

void test_task_question(struct task *t, const char *id, const char *text)
{
	task_init(t);
	t->id = xstrdup(id);
	t->team = xstrdup("T1");
	t->channel = xstrdup("C1");
	t->user = xstrdup("U1");
	t->text = xstrdup(text);
	t->ts = xstrdup("1.1");
	t->thread_ts = xstrdup("1.1");
	t->channel_type = xstrdup("channel");
	t->agent = xstrdup("default");
	t->source = xstrdup("slack");
}

int test_redis_port(void)
{
	return redis_pid > 0 ? redis_port : 0;
}

void test_redis_flush(void)
{
	struct timeval tv = {1, 0};
	redisContext *c;

	if (!test_redis_url())
		return;
	c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
	if (c && !c->err) {
		redisReply *r = redisCommand(c, "FLUSHALL");
		if (r)
			freeReplyObject(r);
	}
	if (c)
		redisFree(c);
}

void test_redis_stop(void)
{
	stop_child();
}

void test_redis_start_again(void)
{
	if (spawn() < 0)
		test_fail(__FILE__, __LINE__, "cannot restart redis-server on port %d", redis_port);
}
