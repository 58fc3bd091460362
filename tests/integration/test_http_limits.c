/*
 * The real libcurl client (common/http.c) against a tiny in-process HTTP
 * server on a free loopback port: response bodies over UPSTREAM_MAX_BODY_BYTES
 * fail with a clear error instead of growing without bound, and a huge
 * Retry-After is capped at 15 minutes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#include "../harness/test.h"

struct tiny {
	int fd, port;
	size_t body_len;
	const char *extra_header;
	pthread_t thr;
};

/* Answers one request with body_len 'x' bytes, then closes. */
static void *tiny_main(void *arg)
{
	struct tiny *t = arg;
	int c = accept(t->fd, NULL, NULL);
	char req[4096], head[512];
	char *body;

	if (c < 0)
		return NULL;
	if (read(c, req, sizeof(req)) <= 0) {
		close(c);
		return NULL;
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
		 t->extra_header ? "429 Too Many Requests" : "200 OK", t->body_len,
		 t->extra_header ? t->extra_header : "");
	body = xmalloc(t->body_len ? t->body_len : 1);
	memset(body, 'x', t->body_len);
	if (write(c, head, strlen(head)) < 0 || write(c, body, t->body_len) < 0)
		(void)0; /* the client may hang up once it has seen enough */
	free(body);
	close(c);
	return NULL;
}

static int tiny_start(struct tiny *t, size_t body_len, const char *extra_header)
{
	struct sockaddr_in a = {0};
	socklen_t al = sizeof(a);

	t->body_len = body_len;
	t->extra_header = extra_header;
	t->fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (t->fd < 0 || bind(t->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(t->fd, 4) < 0 || getsockname(t->fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	t->port = ntohs(a.sin_port);
	return pthread_create(&t->thr, NULL, tiny_main, t) == 0 ? 0 : -1;
}

static void tiny_stop(struct tiny *t)
{
	pthread_join(t->thr, NULL);
	close(t->fd);
}

static int fetch(struct tiny *t, struct http_response *resp, struct err *e)
{
	struct http_client *hc = http_client_new();
	struct http_transport tr = http_client_transport(hc);
	struct http_request req = {0};
	char url[64];
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", t->port);
	req.method = "GET";
	req.url = url;
	req.timeout_ms = 5000;
	rc = tr.perform(tr.ctx, &req, resp, e);
	http_client_free(hc);
	return rc;
}

TEST(http_limits, body_over_the_cap_fails_clearly)
{
	struct tiny t;
	struct http_response resp;
	struct err e = {0};
	int rc;

	http_global_init();
	http_set_max_body(1024 * 1024);
	http_response_init(&resp);
	CHECK(tiny_start(&t, 3 * 1024 * 1024, NULL) == 0);
	rc = fetch(&t, &resp, &e);
	tiny_stop(&t);
	CHECK_INT_EQ(rc, -1);
	CHECK_INT_EQ(e.code, ERR_PARSE);
	CHECK_STR_CONTAINS(e.msg, "over 1048576 bytes");
	CHECK_STR_CONTAINS(e.msg, "UPSTREAM_MAX_BODY_BYTES");
	CHECK(resp.body.len <= 1024 * 1024);

	/* under the cap: the whole body */
	err_clear(&e);
	CHECK(tiny_start(&t, 512 * 1024, NULL) == 0);
	rc = fetch(&t, &resp, &e);
	tiny_stop(&t);
	CHECK_INT_EQ(rc, 0);
	CHECK_INT_EQ(resp.status, 200);
	CHECK_INT_EQ(resp.body.len, 512 * 1024);
	http_response_release(&resp);
	http_set_max_body(0);
}

TEST(http_limits, huge_retry_after_is_capped)
{
	struct tiny t;
	struct http_response resp;
	struct err e = {0};

	http_response_init(&resp);
	CHECK(tiny_start(&t, 2, "Retry-After: 99999999999999999999999999\r\n") == 0);
	CHECK_INT_EQ(fetch(&t, &resp, &e), 0);
	tiny_stop(&t);
	CHECK_INT_EQ(resp.status, 429);
	CHECK_INT_EQ(resp.retry_after_s, HTTP_RETRY_AFTER_MAX_S);
	CHECK_INT_EQ(http_status_check(&resp, "test", &e), -1);
	CHECK_INT_EQ(e.retry_after_ms, HTTP_RETRY_AFTER_MAX_S * 1000);
	http_response_release(&resp);
}
