#include "common.h"
#include "enqueue.h"
#include "form.h"
#include "server.h"
#include "slack_in.h"
#include "ui.h"

#include <civetweb.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <ctype.h>
#include <time.h>

struct api_server {
	const struct config *cfg;
	const struct agents *agents;
	struct mg_context *ctx;
	struct enqueue_batcher *batcher; /* enqueues share one pipelined connection */
	atomic_int inflight;		 /* requests inside handle() */
	atomic_int draining;		 /* set by api_server_stop(): new requests get 503 */
	atomic_int open_conns;		 /* accepted connections not yet closed */
	_Atomic(const struct api_ready_check *) ready_check; /* /readyz's extra condition */
};

/*
 * civetweb holds one thread per connection for as long as the connection is
 * open, idle keep-alive time included. Past this share of the pool, every
 * response closes its connection, so keep-alive clients (a load balancer's
 * pool) hand threads back instead of parking on them; under it connections
 * stay open for API_KEEP_ALIVE_MS, above the load balancer's idle timeout.
 */
#define API_KEEPALIVE_SHARE_NUM 3
#define API_KEEPALIVE_SHARE_DEN 4

/* Per civetweb thread: its Redis connection and request-id generator. */
struct api_thread {
	struct rds *r;
	uint64_t rng;
	struct buf in;	  /* request body, reused */
	struct buf reply; /* response body, reused */
	struct buf out;	  /* the response being written, reused */
	time_t date_s;	  /* second that date was formatted for */
	char date[40];	  /* "Sun, 22 Nov 2026 05:00:00 GMT" */
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
	R_UI, /* /ui and everything under it: one label for all */
	R_OTHER,
};

static const char *const route_names[] = {"/slack/events",
					  "/slack/interactive",
					  "/slack/commands",
					  "/healthz",
					  "/readyz",
					  "/metrics",
					  "/ui",
					  "other"};

static enum route match_route(const char *uri)
{
	for (int i = 0; i < R_OTHER; i++)
		if (!strcmp(uri, route_names[i]))
			return (enum route)i;
	return ui_route(uri) ? R_UI : R_OTHER;
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
		buf_release(&t->in);
		buf_release(&t->reply);
		buf_release(&t->out);
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

/* Writes v as 16 lowercase hex digits (no NUL): snprintf costs more than the request's parsing. */
static void hex64(char *out, uint64_t v)
{
	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = hex_digit((unsigned)v);
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
	hex64(out, next_rand(t));
	hex64(out + 16, next_rand(t));
	out[32] = '\0';
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
	int n;

	if (want > max)
		return 413;
	/*
	 * Read straight into b: civetweb's threads have ~100 KB stacks (hiredis
	 * alone keeps 16 KB there while reading a reply), so no big stack chunk.
	 */
	buf_grow(b, want > 0 ? (size_t)want : 4096);
	while ((n = mg_read(conn, b->s + b->len, b->cap - b->len - 1)) > 0) {
		b->len += (size_t)n;
		b->s[b->len] = '\0';
		if ((long)b->len > max)
			return 413;
		if (b->cap - b->len - 1 == 0)
			buf_grow(b, 16384);
	}
	if (want >= 0 && (long long)b->len != want)
		return 400;
	return 0;
}

/* Reads the body under MAX_BODY_BYTES; fills rp (413 or 400) and returns -1 when it cannot. */
static int take_body(struct mg_connection *conn, struct api_server *s, struct buf *body,
		     struct reply *rp)
{
	int rc = read_body(conn, s->cfg->max_body_bytes, body);

	if (rc == 413) {
		rp->close = 1;
		reply_json_error(rp, 413, "payload_too_large", NULL);
		return -1;
	}
	if (rc == 400) {
		reply_json_error(rp, 400, "bad_request", "body shorter than Content-Length");
		return -1;
	}
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

/*
 * Slack's certificate check: ssl_check=1 in the query string, or (as Slack
 * sends it to slash command URLs) a field of a short form body. It queues
 * nothing, so it is answered before the signature check, as Slack's SDKs do.
 */
static int is_ssl_check(const char *qs, const struct buf *body)
{
	char *v;
	int yes;

	if (query_has(qs, "ssl_check=1"))
		return 1;
	if (body->len > 256 || !memmem(body->s, body->len, "ssl_check=", 10))
		return 0;
	v = form_get(body->s, body->len, "ssl_check", NULL);
	yes = v && !strcmp(v, "1");
	free(v);
	return yes;
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

static void enqueue_reply(struct api_server *s, struct slack_in *in, struct reply *rp,
			  const char *ok_json)
{
	struct err e = {0};
	enum enqueue_result res = enqueue_batch_task(s->batcher, &in->task, NULL, &e);

	switch (res) {
	case ENQUEUE_ADDED:
		log_kv(LOG_DEBUG, "task queued", "task_id", in->task.id, "agent", in->task.agent,
		       NULL);
		reply_ok_json(rp, ok_json);
		break;
	case ENQUEUE_DUPLICATE:
		metrics_inc(NULL, M_EVENTS_DUPLICATE, NULL, 1);
		log_kv(LOG_INFO, "duplicate event acknowledged", "task_id", in->task.id, NULL);
		reply_ok_json(rp, ok_json);
		break;
	case ENQUEUE_FAILED:
		log_kv(LOG_ERROR, "cannot queue task", "task_id", in->task.id, "error", e.msg,
		       NULL);
		reply_json_error(rp, 503, "unavailable", "the queue is unavailable; retry later");
		break;
	}
}

static void handle_slack(struct mg_connection *conn, struct api_server *s, struct api_thread *th,
			 enum route route, const struct buf *body, struct reply *rp)
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
		enqueue_reply(s, &in, rp,
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
		const struct api_ready_check *rc = atomic_load(&s->ready_check);
		struct buf why = BUF_INIT;
		freeReplyObject(rep);
		if (rc && !rc->ready(rc->arg, &why))
			reply_json_error(rp, 503, "not_ready", why.s);
		else
			reply_ok_json(rp, "{\"status\":\"ready\"}");
		buf_release(&why);
	} else {
		reply_json_error(rp, 503, "redis_unavailable", e.msg);
	}
}

/* The thread whose connection a Dev UI route may use. */
struct ui_redis_arg {
	struct api_server *s;
	struct api_thread *th;
};

static struct rds *ui_redis(void *arg, struct err *err)
{
	struct ui_redis_arg *a = arg;

	return thread_redis(a->s, a->th, err);
}

static void handle_ui(struct mg_connection *conn, struct api_server *s, struct api_thread *th,
		      struct buf *body, struct reply *rp)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct ui_redis_arg arg = {s, th};
	struct ui_env env = {s->cfg, s->agents, s->batcher, ui_redis, &arg};
	struct ui_request rq = {ri->request_method,
				ri->local_uri,
				ri->query_string,
				mg_get_header(conn, "Authorization"),
				NULL,
				0};
	struct ui_reply ur;

	if (!strcmp(ri->request_method, "POST")) {
		if (take_body(conn, s, body, rp) < 0)
			return;
		rq.body = body->s;
		rq.body_len = body->len;
	}
	ui_handle(&env, &rq, &ur, &rp->body);
	if (ur.error) {
		reply_json_error(rp, ur.code, ur.error, ur.reason[0] ? ur.reason : NULL);
		return;
	}
	rp->code = ur.code;
	rp->ctype = ur.ctype;
}

static const char *status_text(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 503:
		return "Service Unavailable";
	}
	return "Unknown";
}

/*
 * Writes the status line, headers and body with one mg_write(): civetweb's
 * header API sends every header line separately, which costs a syscall and,
 * with TCP_NODELAY, a packet each.
 */
static void send_reply(struct mg_connection *conn, struct api_thread *th, const struct reply *rp,
		       const char *rid)
{
	time_t now = time(NULL);
	struct buf *o = &th->out;
	char num[24], code[3] = {(char)('0' + rp->code / 100 % 10),
				 (char)('0' + rp->code / 10 % 10), (char)('0' + rp->code % 10)};
	size_t len;

	if (now != th->date_s) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(th->date, sizeof(th->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		th->date_s = now;
	}
	if (rp->close)
		mg_disable_connection_keep_alive(conn);
	buf_reset(o);
	/* plain appends: this runs once per request, and vsnprintf would be most of it */
	len = sizeof(num) - 1;
	num[len] = '\0';
	for (size_t v = rp->body.len; len == sizeof(num) - 1 || v; v /= 10)
		num[--len] = (char)('0' + v % 10);
	buf_adds(o, "HTTP/1.1 ");
	buf_add(o, code, 3);
	buf_addch(o, ' ');
	buf_adds(o, status_text(rp->code));
	buf_adds(o, "\r\nDate: ");
	buf_adds(o, th->date);
	buf_adds(o, "\r\nContent-Type: ");
	buf_adds(o, rp->ctype);
	buf_adds(o, "\r\nContent-Length: ");
	buf_adds(o, num + len);
	buf_adds(o, "\r\nX-Request-Id: ");
	buf_adds(o, rid);
	buf_adds(o, "\r\nCache-Control: no-store\r\nConnection: ");
	buf_adds(o, rp->close ? "close\r\n\r\n" : "keep-alive\r\n\r\n");
	buf_add(o, rp->body.s, rp->body.len);
	mg_write(conn, o->s, o->len);
	if (o->cap > 65536)
		buf_release(o);
}

static int conn_open(const struct mg_connection *conn, void **conn_data)
{
	struct api_server *s = mg_get_user_data(mg_get_context(conn));

	*conn_data = NULL;
	if (s)
		atomic_fetch_add(&s->open_conns, 1);
	return 0;
}

static void conn_close(const struct mg_connection *conn)
{
	struct api_server *s = mg_get_user_data(mg_get_context(conn));

	if (s)
		atomic_fetch_sub(&s->open_conns, 1);
}

/* 1 when the pool is so full that this response should close its connection. */
static int pool_crowded(struct api_server *s)
{
	return atomic_load(&s->open_conns) * API_KEEPALIVE_SHARE_DEN >=
	       s->cfg->api_threads * API_KEEPALIVE_SHARE_NUM;
}

/* The request's metrics and its log line (the Dev UI's polling GETs stay out of the log). */
static void account_request(const struct mg_request_info *ri, enum route route, int status,
			    double secs)
{
	char lbl[96], code[8], ms[24];
	int is_post = !strcmp(ri->request_method, "POST");
	enum log_level lvl = status >= 500 ? LOG_ERROR : LOG_INFO;

	code[0] = (char)('0' + status / 100 % 10);
	code[1] = (char)('0' + status / 10 % 10);
	code[2] = (char)('0' + status % 10);
	code[3] = '\0';
	metrics_inc(NULL, M_HTTP_REQUESTS,
		    metrics_labels(lbl, sizeof(lbl), 2, "route", route_names[route], "code", code),
		    1);
	metrics_observe(NULL, M_HTTP_SECONDS,
			metrics_labels(lbl, sizeof(lbl), 1, "route", route_names[route]), secs);
	if (route == R_HEALTHZ || route == R_METRICS || route == R_READYZ ||
	    (route == R_UI && status == 200 && !is_post) || !log_enabled(lvl))
		return;
	snprintf(ms, sizeof(ms), "%.3f", secs * 1000);
	log_kv(lvl, "request", "method", ri->request_method, "route", route_names[route], "code",
	       code, "ms", ms, NULL);
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
	struct buf *body = &th->in;
	char rid[40];

	atomic_fetch_add(&s->inflight, 1);
	/* per-thread buffers: no allocation per request in the common case */
	buf_reset(body);
	rp.body = th->reply;
	buf_reset(&rp.body);
	request_id(conn, th, rid);
	log_ctx_set("request_id", rid);
	if (atomic_load(&s->draining)) {
		/* shutting down: refuse new work (Slack retries elsewhere), finish the rest */
		rp.close = 1;
		reply_json_error(&rp, 503, "shutting_down", NULL);
		route = R_OTHER;
		goto send;
	}
	/*
	 * /metrics only on API_METRICS_PORT, and nothing else there: the
	 * Slack-facing port never shows the metrics, whatever a proxy forwards
	 */
	if ((ri->server_port == s->cfg->api_metrics_port && s->cfg->api_metrics_port) !=
	    (route == R_METRICS))
		route = R_OTHER;
	switch (route) {
	case R_EVENTS:
	case R_INTERACTIVE:
	case R_COMMANDS: {
		if (!is_post) {
			reply_json_error(&rp, 405, "method_not_allowed", "use POST");
			break;
		}
		if (take_body(conn, s, body, &rp) < 0)
			break;
		if (is_ssl_check(ri->query_string, body)) {
			reply_ok_json(&rp, "{\"ok\":true}");
			break;
		}
		handle_slack(conn, s, th, route, body, &rp);
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
	case R_UI:
		handle_ui(conn, s, th, body, &rp);
		break;
	case R_OTHER:
		reply_json_error(&rp, 404, "not_found", NULL);
		break;
	}
send:
	if (pool_crowded(s))
		rp.close = 1;
	send_reply(conn, th, &rp, rid);

	account_request(ri, route, rp.code, (double)(clock_mono_ns() - t0) / 1e9);
	log_ctx_set("request_id", NULL);
	th->reply = rp.body;
	if (th->reply.cap > 65536) /* keep no large /metrics page or body per thread */
		buf_release(&th->reply);
	if (body->cap > 65536)
		buf_release(body);
	atomic_fetch_sub(&s->inflight, 1);
	return rp.code;
}

/* The local port of listening socket fd, or -1 when fd is not one. */
static int listening_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int on = 0;
	socklen_t onlen = sizeof(on);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &onlen) < 0 || !on)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

/*
 * A connection that never sends a byte would park a civetweb thread for the
 * request timeout, so a few hundred of them (a scanner, a misbehaving pool)
 * could hold every thread. With TCP_DEFER_ACCEPT the kernel hands civetweb a
 * connection only once its first bytes have arrived: silent connections wait
 * in the kernel, not in the pool. civetweb does not expose its listening
 * sockets, so find them among our descriptors by their local port. Returns
 * how many sockets were set.
 */
static int defer_accept(int port, int secs)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd < 0 || fd == dirfd(d))
			continue;
		if (listening_port((int)fd) != port)
			continue;
		if (!setsockopt((int)fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)))
			n++;
	}
	closedir(d);
	return n;
}

static int allow_all(struct mg_connection *conn, void *cbdata)
{
	(void)conn;
	(void)cbdata;
	return 1;
}

struct api_server *api_server_start(const struct config *cfg, const struct agents *agents,
				    struct err *err)
{
	struct api_server *s = xcalloc(1, sizeof(*s));
	struct mg_callbacks cb;
	char port[32], threads[16];
	const char *opts[] = {"listening_ports",
			      port,
			      "num_threads",
			      threads,
			      "request_timeout_ms",
			      "10000",
			      "enable_keep_alive",
			      "yes",
			      "keep_alive_timeout_ms",
			      API_KEEP_ALIVE_MS_STR,
			      "listen_backlog",
			      "1024",
			      "tcp_nodelay",
			      "1",
			      NULL};

	s->cfg = cfg;
	s->agents = agents;
	s->batcher = enqueue_batcher_new(cfg, cfg->redis_url, 500, 1000, err);
	if (!s->batcher) {
		free(s);
		return NULL;
	}
	if (cfg->api_metrics_port > 0)
		snprintf(port, sizeof(port), "%d,%d", cfg->port, cfg->api_metrics_port);
	else
		snprintf(port, sizeof(port), "%d", cfg->port);
	snprintf(threads, sizeof(threads), "%d", cfg->api_threads);
	memset(&cb, 0, sizeof(cb));
	cb.init_thread = thread_init;
	cb.exit_thread = thread_exit;
	cb.init_connection = conn_open;
	cb.connection_close = conn_close;
	s->ctx = mg_start(&cb, s, opts);
	if (!s->ctx) {
		err_set(
		    err, ERR_IO,
		    "cannot listen on PORT %d or API_METRICS_PORT %d (in use, or not permitted)",
		    cfg->port, cfg->api_metrics_port);
		enqueue_batcher_free(s->batcher);
		free(s);
		return NULL;
	}
	/* no authorization here (Slack signatures are checked per route); this
	 * also spares civetweb a stat() of a .htpasswd file on every request */
	mg_set_auth_handler(s->ctx, "/", allow_all, NULL);
	mg_set_request_handler(s->ctx, "/", handle, s);
	if (!defer_accept(cfg->port, API_KEEP_ALIVE_MS / 1000))
		log_kv(LOG_WARN, "TCP_DEFER_ACCEPT not set: silent connections take threads", NULL);
	return s;
}

void api_server_set_ready_check(struct api_server *s, const struct api_ready_check *check)
{
	atomic_store(&s->ready_check, check);
}

void api_server_stop(struct api_server *s)
{
	int64_t deadline;

	if (!s)
		return;
	/*
	 * civetweb's mg_stop() cuts requests that are still reading their body or
	 * writing their reply, so first refuse new requests and wait (up to
	 * SHUTDOWN_GRACE_S) until the ones already inside a handler are done.
	 */
	atomic_store(&s->draining, 1);
	deadline = clock_mono_ms() + (int64_t)s->cfg->shutdown_grace_s * 1000;
	while (atomic_load(&s->inflight) > 0 && clock_mono_ms() < deadline)
		clock_sleep_ms(5);
	mg_stop(s->ctx);
	{
		long long nreq = 0, nbatch = 0;
		char a[24], c[24];
		enqueue_batcher_stats(s->batcher, &nreq, &nbatch);
		snprintf(a, sizeof(a), "%lld", nreq);
		snprintf(c, sizeof(c), "%lld", nbatch);
		log_kv(LOG_INFO, "enqueue pipelines", "requests", a, "pipelines", c, NULL);
	}
	enqueue_batcher_free(s->batcher);
	free(s);
}
