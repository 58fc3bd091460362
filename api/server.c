#include "common.h"
#include "enqueue.h"
#include "server.h"
#include "slack_in.h"

#include <civetweb.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <ctype.h>
#include <time.h>

struct api_server {
	const struct config *cfg;
	const struct agents *agents;
	struct mg_context *ctx;
};

/* Per civetweb thread: its Redis connection and request-id generator. */
struct api_thread {
	struct rds *r;
	uint64_t rng;
};

struct reply {
	int code;
	const char *ctype;
	struct buf body;
	int close; /* the request body was not read: close the connection */
};

enum route {
	R_EVENTS = 0,
	R_INTERACTIVE,
	R_COMMANDS,
	R_HEALTHZ,
	R_READYZ,
	R_METRICS,
	R_OTHER,
};

static const char *const route_names[] = {"/slack/events", "/slack/interactive", "/slack/commands",
					  "/healthz", "/readyz", "/metrics", "other"};

static enum route match_route(const char *uri)
{
	for (int i = 0; i < R_OTHER; i++)
		if (!strcmp(uri, route_names[i]))
			return (enum route)i;
	return R_OTHER;
}

static void *thread_init(const struct mg_context *ctx, int thread_type)
{
	struct api_thread *t = xcalloc(1, sizeof(*t));

	(void)ctx;
	(void)thread_type;
	if (RAND_bytes((unsigned char *)&t->rng, sizeof(t->rng)) != 1 || !t->rng)
		t->rng = (uint64_t)clock_mono_ns() | 1;
	return t;
}

static void thread_exit(const struct mg_context *ctx, int thread_type, void *p)
{
	struct api_thread *t = p;

	(void)ctx;
	(void)thread_type;
	if (t) {
		rds_free(t->r);
		free(t);
	}
}

static uint64_t next_rand(struct api_thread *t)
{
	/* xorshift64*: request ids need uniqueness, not secrecy */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 0x2545F4914F6CDD1DULL;
}

static struct rds *thread_redis(struct api_server *s, struct api_thread *t, struct err *err)
{
	if (!t->r)
		t->r = rds_new(s->cfg->redis_url, 500, 1000, err);
	return t->r;
}

/* Accepts a caller's X-Request-Id when it is short and plain, else makes one. */
static void request_id(struct mg_connection *conn, struct api_thread *t, char out[40])
{
	const char *h = mg_get_header(conn, "X-Request-Id");
	size_t n = h ? strlen(h) : 0;
	int ok = n > 0 && n < 40;

	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)h[i]) || h[i] == '-' || h[i] == '_' || h[i] == '.';
	if (ok) {
		memcpy(out, h, n + 1);
		return;
	}
	snprintf(out, 40, "%016llx%016llx", (unsigned long long)next_rand(t),
		 (unsigned long long)next_rand(t));
}

static void reply_json_error(struct reply *rp, int code, const char *error, const char *reason)
{
	rp->code = code;
	rp->ctype = "application/json";
	buf_reset(&rp->body);
	buf_adds(&rp->body, "{\"error\":");
	buf_add_json_str(&rp->body, error, strlen(error));
	if (reason) {
		buf_adds(&rp->body, ",\"reason\":");
		buf_add_json_str(&rp->body, reason, strlen(reason));
	}
	buf_addch(&rp->body, '}');
}

static void reply_ok_json(struct reply *rp, const char *json)
{
	rp->code = 200;
	rp->ctype = "application/json";
	buf_reset(&rp->body);
	buf_adds(&rp->body, json);
}

/*
 * Reads the whole body into b. Returns 0, 413 when it exceeds max (b is then
 * incomplete and the connection must close), or 400 when the client stopped
 * sending before Content-Length bytes.
 */
static int read_body(struct mg_connection *conn, long max, struct buf *b)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	long long want = ri->content_length;
	char chunk[16384];
	int n;

	if (want > max)
		return 413;
	if (want > 0)
		buf_grow(b, (size_t)want);
	while ((n = mg_read(conn, chunk, sizeof(chunk))) > 0) {
		if ((long)(b->len + (size_t)n) > max)
			return 413;
		buf_add(b, chunk, (size_t)n);
	}
	if (want >= 0 && (long long)b->len != want)
		return 400;
	return 0;
}

static int query_has(const char *qs, const char *kv)
{
	size_t n = strlen(kv);

	for (const char *p = qs; p && *p;) {
		if (!strncmp(p, kv, n) && (p[n] == '&' || !p[n]))
			return 1;
		p = strchr(p, '&');
		if (p)
			p++;
	}
	return 0;
}

/* Verifies the Slack signature; fills rp with the 401 and returns -1 when it fails. */
static int verify(struct mg_connection *conn, struct api_server *s, const struct buf *body,
		  struct reply *rp)
{
	enum slack_sign_result res = slack_sign_verify(
		s->cfg->slack_signing_secret, mg_get_header(conn, "X-Slack-Request-Timestamp"),
		mg_get_header(conn, "X-Slack-Signature"), body->s, body->len, (int64_t)time(NULL));

	if (res == SLACK_SIGN_OK)
		return 0;
	metrics_inc(NULL, M_SIGNATURE_FAILURES, NULL, 1);
	log_kv(LOG_WARN, "slack signature rejected", "reason", slack_sign_result_str(res), NULL);
	reply_json_error(rp, 401, "invalid_signature", NULL);
	return -1;
}

static void enqueue_reply(struct api_server *s, struct api_thread *th, struct slack_in *in,
			  struct reply *rp, const char *ok_json)
{
	struct err e = {0};
	struct rds *r = thread_redis(s, th, &e);
	char lbl[64];
	enum enqueue_result res = r ? enqueue_task(r, s->cfg, &in->task, NULL, &e) : ENQUEUE_FAILED;

	switch (res) {
	case ENQUEUE_ADDED:
		metrics_inc(NULL, M_TASKS_ENQUEUED,
			    metrics_labels(lbl, sizeof(lbl), 1, "type", task_type_name(in->task.type)),
			    1);
		log_kv(LOG_DEBUG, "task queued", "task_id", in->task.id, "agent", in->task.agent, NULL);
		reply_ok_json(rp, ok_json);
		break;
	case ENQUEUE_DUPLICATE:
		metrics_inc(NULL, M_EVENTS_DUPLICATE, NULL, 1);
		log_kv(LOG_INFO, "duplicate event acknowledged", "task_id", in->task.id, NULL);
		reply_ok_json(rp, ok_json);
		break;
	case ENQUEUE_FAILED:
		log_kv(LOG_ERROR, "cannot queue task", "task_id", in->task.id, "error", e.msg, NULL);
		reply_json_error(rp, 503, "unavailable", "the queue is unavailable; retry later");
		break;
	}
}

static void handle_slack(struct mg_connection *conn, struct api_server *s,
			 struct api_thread *th, enum route route, const struct buf *body,
			 struct reply *rp)
{
	struct slack_in in;
	struct err e = {0};
	int rc;

	if (verify(conn, s, body, rp) < 0)
		return;
	slack_in_init(&in);
	if (route == R_EVENTS)
		rc = slack_in_event(body->s, body->len, s->agents, &in, &e);
	else if (route == R_INTERACTIVE)
		rc = slack_in_interactive(body->s, body->len, s->agents, &in, &e);
	else
		rc = slack_in_command(body->s, body->len, s->agents, &in, &e);
	if (rc < 0) {
		log_kv(LOG_WARN, "bad slack request", "reason", e.msg, NULL);
		reply_json_error(rp, 400, "bad_request", e.msg);
		goto out;
	}
	if (in.kind == SLACK_IN_CHALLENGE) {
		rp->code = 200;
		rp->ctype = "application/json";
		buf_adds(&rp->body, "{\"challenge\":");
		buf_add_json_str(&rp->body, in.challenge, strlen(in.challenge));
		buf_addch(&rp->body, '}');
	} else if (in.kind == SLACK_IN_IGNORE) {
		log_kv(LOG_DEBUG, "slack request ignored", "reason", in.reason, NULL);
		if (route == R_COMMANDS && !strcmp(in.reason, "empty text"))
			reply_ok_json(rp, "{\"response_type\":\"ephemeral\",\"text\":\"Usage: /ask "
					  "<your question>\"}");
		else
			reply_ok_json(rp, route == R_COMMANDS ? "{\"response_type\":\"ephemeral\","
								"\"text\":\"Unknown command.\"}"
							      : "{\"ok\":true}");
	} else {
		log_ctx_set("event_id", in.task.id);
		enqueue_reply(s, th, &in, rp,
			      route == R_COMMANDS
				      ? "{\"response_type\":\"ephemeral\",\"text\":\"Working on it… "
					"the answer will appear in this channel.\"}"
				      : "{\"ok\":true}");
		log_ctx_set("event_id", NULL);
	}
out:
	slack_in_release(&in);
}

static void handle_readyz(struct api_server *s, struct api_thread *th, struct reply *rp)
{
	struct err e = {0};
	struct rds *r = thread_redis(s, th, &e);
	redisReply *rep = NULL;

	if (r) {
		rds_set_timeout(r, 500);
		rep = rds_cmd(r, &e, "PING");
		rds_set_timeout(r, 1000);
	}
	if (rep) {
		freeReplyObject(rep);
		reply_ok_json(rp, "{\"status\":\"ready\"}");
	} else {
		reply_json_error(rp, 503, "redis_unavailable", e.msg);
	}
}

static void send_reply(struct mg_connection *conn, const struct reply *rp, const char *rid)
{
	char len[24];

	snprintf(len, sizeof(len), "%zu", rp->body.len);
	mg_response_header_start(conn, rp->code);
	mg_response_header_add(conn, "Content-Type", rp->ctype, -1);
	mg_response_header_add(conn, "Content-Length", len, -1);
	mg_response_header_add(conn, "X-Request-Id", rid, -1);
	mg_response_header_add(conn, "Cache-Control", "no-store", -1);
	if (rp->close)
		mg_response_header_add(conn, "Connection", "close", -1);
	mg_response_header_send(conn);
	if (rp->body.len)
		mg_write(conn, rp->body.s, rp->body.len);
}

static int handle(struct mg_connection *conn, void *cbdata)
{
	struct api_server *s = cbdata;
	struct api_thread *th = mg_get_thread_pointer(conn);
	const struct mg_request_info *ri = mg_get_request_info(conn);
	int64_t t0 = clock_mono_ns();
	enum route route = match_route(ri->local_uri ? ri->local_uri : "");
	int is_post = !strcmp(ri->request_method, "POST");
	struct reply rp = {200, "text/plain", BUF_INIT, 0};
	struct buf body = BUF_INIT;
	char rid[40], lbl[96], code[8], ms[24];
	double secs;

	request_id(conn, th, rid);
	log_ctx_set("request_id", rid);
	switch (route) {
	case R_EVENTS:
	case R_INTERACTIVE:
	case R_COMMANDS: {
		int rc;
		if (!is_post) {
			reply_json_error(&rp, 405, "method_not_allowed", "use POST");
			break;
		}
		rc = read_body(conn, s->cfg->max_body_bytes, &body);
		if (rc == 413) {
			rp.close = 1;
			reply_json_error(&rp, 413, "payload_too_large", NULL);
			break;
		}
		if (rc == 400) {
			reply_json_error(&rp, 400, "bad_request", "body shorter than Content-Length");
			break;
		}
		if (query_has(ri->query_string, "ssl_check=1")) {
			reply_ok_json(&rp, "{\"ok\":true}");
			break;
		}
		handle_slack(conn, s, th, route, &body, &rp);
		break;
	}
	case R_HEALTHZ:
		reply_ok_json(&rp, "{\"status\":\"ok\"}");
		break;
	case R_READYZ:
		handle_readyz(s, th, &rp);
		break;
	case R_METRICS:
		rp.ctype = "text/plain; version=0.0.4; charset=utf-8";
		metrics_render(NULL, &rp.body);
		break;
	case R_OTHER:
		reply_json_error(&rp, 404, "not_found", NULL);
		break;
	}
	send_reply(conn, &rp, rid);

	secs = (double)(clock_mono_ns() - t0) / 1e9;
	snprintf(code, sizeof(code), "%d", rp.code);
	metrics_inc(NULL, M_HTTP_REQUESTS,
		    metrics_labels(lbl, sizeof(lbl), 2, "route", route_names[route], "code", code), 1);
	metrics_observe(NULL, M_HTTP_SECONDS,
			metrics_labels(lbl, sizeof(lbl), 1, "route", route_names[route]), secs);
	if (route != R_HEALTHZ && route != R_METRICS && route != R_READYZ) {
		snprintf(ms, sizeof(ms), "%.3f", secs * 1000);
		log_kv(rp.code >= 500 ? LOG_ERROR : LOG_INFO, "request", "method",
		       ri->request_method, "route", route_names[route], "code", code, "ms", ms, NULL);
	}
	log_ctx_set("request_id", NULL);
	buf_release(&body);
	buf_release(&rp.body);
	return rp.code;
}

struct api_server *api_server_start(const struct config *cfg, const struct agents *agents,
				    struct err *err)
{
	struct api_server *s = xcalloc(1, sizeof(*s));
	struct mg_callbacks cb;
	char port[16], threads[16];
	const char *opts[] = {"listening_ports", port,
			      "num_threads", threads,
			      "request_timeout_ms", "10000",
			      "enable_keep_alive", "yes",
			      "keep_alive_timeout_ms", "30000",
			      "listen_backlog", "1024",
			      NULL};

	s->cfg = cfg;
	s->agents = agents;
	snprintf(port, sizeof(port), "%d", cfg->port);
	snprintf(threads, sizeof(threads), "%d", cfg->api_threads);
	memset(&cb, 0, sizeof(cb));
	cb.init_thread = thread_init;
	cb.exit_thread = thread_exit;
	s->ctx = mg_start(&cb, s, opts);
	if (!s->ctx) {
		err_set(err, ERR_IO, "cannot listen on port %d (in use, or not permitted)", cfg->port);
		free(s);
		return NULL;
	}
	mg_set_request_handler(s->ctx, "/", handle, s);
	return s;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	mg_stop(s->ctx);
	free(s);
}
