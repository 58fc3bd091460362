/*
 * Unit tests of common/log.c (the JSON and text lines, thread context,
 * thresholds) and of the transport-independent parts of common/http.c
 * (status mapping, retries through a fake transport).
 */
#include "common.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "../harness/test.h"

/* Runs fn with stderr sent to a temporary file; returns what was written (owned). */
static char *capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/haink-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct buf b = BUF_INIT;
	char chunk[1024];
	ssize_t n;

	if (fd < 0 || saved < 0)
		return xstrdup("");
	unlink(path);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	return buf_detach(&b, NULL);
}

static void log_json_lines(void)
{
	log_setup("unit", LOG_INFO, 1);
	log_debug("hidden %d", 1);
	log_ctx_set("request_id", "rq-1");
	log_kv(LOG_WARN, "slack \"signature\" rejected", "reason", "stale\ntimestamp", "skip", NULL,
	       "route", "/slack/events", NULL);
	log_ctx_set("request_id", NULL);
	log_info("plain %s", "line");
	log_ctx_set("task_id", "Ev1");
	log_ctx_clear();
	log_error("after clear");
	log_setup("haink", LOG_OFF, 1);
	log_error("never written");
}

TEST(log, json_lines)
{
	char *out = capture_stderr(log_json_lines);
	char *second;

	log_setup("test", getenv("TEST_LOG") ? LOG_DEBUG : LOG_OFF, 1);
	CHECK(!strstr(out, "hidden"));
	CHECK(!strstr(out, "never written"));
	CHECK(!strncmp(out, "{\"ts\":\"", 7));
	CHECK_STR_CONTAINS(out, "\",\"level\":\"warn\",\"component\":\"unit\","
				"\"msg\":\"slack \\\"signature\\\" rejected\","
				"\"request_id\":\"rq-1\",\"reason\":\"stale\\ntimestamp\","
				"\"route\":\"/slack/events\"}\n");
	CHECK(!strstr(out, "skip"));
	second = strstr(out, "}\n");
	CHECK(second != NULL);
	/* context cleared: the next lines carry no request_id / task_id */
	CHECK_STR_CONTAINS(second,
			   "\"level\":\"info\",\"component\":\"unit\",\"msg\":\"plain line\"}\n");
	CHECK_STR_CONTAINS(second,
			   "\"level\":\"error\",\"component\":\"unit\",\"msg\":\"after clear\"}\n");
	CHECK(!strstr(second + 2, "request_id"));
	CHECK(!strstr(out, "task_id"));
	free(out);
}

static void log_text_line(void)
{
	log_setup("api", LOG_DEBUG, 0);
	log_kv(LOG_DEBUG, "task queued", "task_id", "Ev9", NULL);
}

static void log_forged_line(void)
{
	log_setup("api", LOG_DEBUG, 0);
	log_kv(LOG_INFO, "question\nqueued", "text", "hi\n2026-01-01T00:00:00Z error api: forged",
	       "user", "a \"b\"\tc", "empty", "", NULL);
}

/* A newline in a value can never start a second (forged) line in text logs. */
TEST(log, text_format_escapes_control_characters)
{
	char *out = capture_stderr(log_forged_line);

	log_setup("test", getenv("TEST_LOG") ? LOG_DEBUG : LOG_OFF, 1);
	CHECK_INT_EQ(strchr(out, '\n') - out, (long)strlen(out) - 1); /* exactly one line */
	CHECK_STR_CONTAINS(out, "api: question\\nqueued");
	CHECK_STR_CONTAINS(out, "text=\"hi\\n2026-01-01T00:00:00Z error api: forged\"");
	CHECK_STR_CONTAINS(out, "user=\"a \\\"b\\\"\\tc\"");
	CHECK_STR_CONTAINS(out, "empty=\"\"");
	free(out);
}

TEST(log, text_format_and_levels)
{
	char *out = capture_stderr(log_text_line);

	log_setup("test", getenv("TEST_LOG") ? LOG_DEBUG : LOG_OFF, 1);
	CHECK_STR_CONTAINS(out, "Z debug api: task queued task_id=Ev9\n");
	free(out);
	CHECK_INT_EQ(log_level_parse("debug"), LOG_DEBUG);
	CHECK_INT_EQ(log_level_parse("error"), LOG_ERROR);
	CHECK_INT_EQ(log_level_parse("verbose"), -1);
	log_setup("test", LOG_INFO, 1);
	CHECK(log_enabled(LOG_WARN));
	CHECK(!log_enabled(LOG_DEBUG));
	CHECK(!log_enabled(LOG_OFF));
	log_setup("test", getenv("TEST_LOG") ? LOG_DEBUG : LOG_OFF, 1);
}

TEST(http, status_mapping)
{
	struct http_response r;
	struct err e = {0};

	http_response_init(&r);
	CHECK_INT_EQ(r.retry_after_s, -1);
	r.status = 200;
	CHECK_INT_EQ(http_status_check(&r, "slack", &e), 0);
	r.status = 204;
	CHECK_INT_EQ(http_status_check(&r, "slack", &e), 0);
	r.status = 429;
	r.retry_after_s = 7;
	CHECK_INT_EQ(http_status_check(&r, "slack", &e), -1);
	CHECK_INT_EQ(e.code, ERR_RATE_LIMITED);
	CHECK_INT_EQ(e.retry_after_ms, 7000);
	CHECK_STR_CONTAINS(e.msg, "slack");
	r.retry_after_s = -1;
	CHECK_INT_EQ(http_status_check(&r, "slack", &e), -1);
	CHECK_INT_EQ(e.retry_after_ms, 0);
	r.status = 503;
	CHECK_INT_EQ(http_status_check(&r, "llm", &e), -1);
	CHECK_INT_EQ(e.code, ERR_UPSTREAM);
	CHECK_STR_CONTAINS(e.msg, "llm failed with HTTP 503");
	r.status = 408;
	CHECK_INT_EQ(http_status_check(&r, "llm", &e), -1);
	CHECK_INT_EQ(e.code, ERR_UPSTREAM);
	r.status = 401;
	CHECK_INT_EQ(http_status_check(&r, "llm", &e), -1);
	CHECK_INT_EQ(e.code, ERR_AUTH);
	r.status = 403;
	CHECK_INT_EQ(http_status_check(&r, "llm", &e), -1);
	CHECK_INT_EQ(e.code, ERR_AUTH);
	r.status = 400;
	CHECK_INT_EQ(http_status_check(&r, "llm", &e), -1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	http_response_release(&r);
}

/* A fake transport answering from a script of statuses (0 = transport failure). */
struct fake_http {
	const long *statuses;
	int n, calls;
};

static int fake_perform(void *ctx, const struct http_request *req, struct http_response *resp,
			struct err *err)
{
	struct fake_http *f = ctx;
	long s = f->calls < f->n ? f->statuses[f->calls] : 200;

	(void)req;
	f->calls++;
	buf_reset(&resp->body);
	resp->retry_after_s = -1;
	if (!s) {
		err_set(err, ERR_IO, "connection refused");
		return -1;
	}
	resp->status = s;
	if (s == 429)
		resp->retry_after_s = 0;
	buf_addf(&resp->body, "{\"attempt\":%d}", f->calls);
	return 0;
}

static int run_retry(const long *statuses, int n, int max_tries, int *calls, struct err *e,
		     long *status)
{
	struct fake_http f = {statuses, n, 0};
	struct http_transport t = {fake_perform, &f};
	struct http_request req = {"POST", "http://fake/x", NULL, "{}", 2, 1000, NULL, NULL};
	struct http_retry pol = {max_tries, 1, 2, 0};
	struct http_response resp;
	int rc;

	http_response_init(&resp);
	rc = http_perform_retry(&t, &req, &resp, &pol, "fake", e);
	*calls = f.calls;
	*status = resp.status;
	http_response_release(&resp);
	return rc;
}

TEST(http, retry_policy_through_fake_transport)
{
	static const long transient[] = {0, 503, 429, 200};
	static const long permanent[] = {400, 200};
	static const long always[] = {500, 500, 500, 500};
	struct err e = {0};
	int calls;
	long status;

	log_setup("haink", LOG_ERROR, 1); /* the retry warnings are expected here */
	CHECK_INT_EQ(run_retry(transient, 4, 5, &calls, &e, &status), 0);
	CHECK_INT_EQ(calls, 4);
	CHECK_INT_EQ(status, 200);
	CHECK_INT_EQ(run_retry(permanent, 2, 5, &calls, &e, &status), -1);
	CHECK_INT_EQ(calls, 1);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	CHECK_INT_EQ(run_retry(always, 4, 3, &calls, &e, &status), -1);
	CHECK_INT_EQ(calls, 3);
	CHECK_INT_EQ(e.code, ERR_UPSTREAM);
	log_setup("test", getenv("TEST_LOG") ? LOG_DEBUG : LOG_OFF, 1);
}

TEST(http, retry_after_parsing_is_bounded)
{
	CHECK_INT_EQ(http_parse_retry_after("30"), 30);
	CHECK_INT_EQ(http_parse_retry_after(" 7\r\n"), 7);
	CHECK_INT_EQ(http_parse_retry_after("0"), 0);
	CHECK_INT_EQ(http_parse_retry_after("901"), HTTP_RETRY_AFTER_MAX_S);
	CHECK_INT_EQ(http_parse_retry_after("99999999999999999999999999999"),
		     HTTP_RETRY_AFTER_MAX_S);
	CHECK_INT_EQ(http_parse_retry_after("-5"), -1);
	CHECK_INT_EQ(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
	CHECK_INT_EQ(http_parse_retry_after("12abc"), -1);
	CHECK_INT_EQ(http_parse_retry_after(""), -1);
}
