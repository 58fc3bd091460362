#include "common.h"
#include "queue/metrics_http.h"

#include <civetweb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define MH_REFRESH_MS 1000
#define MH_COUNT_CAP  10000

struct metrics_http {
	const struct config *cfg;
	struct mg_context *ctx;
	/*
	 * The gauges are refreshed by a thread of our own, not in civetweb's
	 * handler threads: those have small fixed stacks (about 100 KB in
	 * Debian's build), most of it taken by OpenBLAS's thread-local storage
	 * in this binary, and hiredis reads into a 16 KB stack buffer.
	 */
	pthread_t refresher;
	int refresher_started;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	int stop;
	/* readiness, written by the refresher and cli_run, read by handlers */
	atomic_int redis_ok; /* the last refresh reached Redis */
	atomic_int kb_ready; /* the knowledge base is open */
	atomic_int group_ok; /* the last refresh found the consumer group */
	/* the runtime's stuck-thread probe: set once the runtime runs, under lock */
	int (*stuck)(void *ctx);
	void *stuck_ctx;
};

/* Finds key in a flat [k, v, k, v, …] reply; returns the value element or NULL. */
static const redisReply *kv_get(const redisReply *arr, const char *key)
{
	if (!arr || arr->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < arr->elements; i += 2)
		if (arr->element[i]->type == REDIS_REPLY_STRING &&
		    !strcmp(arr->element[i]->str, key))
			return arr->element[i + 1];
	return NULL;
}

static long long int_cmd(struct rds *r, struct err *err, int *failed, const char *fmt,
			 const char *key)
{
	redisReply *rep = rds_cmd(r, err, fmt, key);
	long long v;

	if (!rep) {
		*failed = 1;
		return 0;
	}
	v = rds_reply_int(rep, 0);
	freeReplyObject(rep);
	return v;
}

int metrics_http_queue_info(struct rds *r, const char *docket, struct queue_info *out,
			    struct err *err)
{
	char *stream = keys_tasks(docket), *dead = keys_dead(docket),
	     *sched = keys_scheduled(docket);
	redisReply *rep = NULL;
	const redisReply *group = NULL;
	int failed = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	out->length = int_cmd(r, err, &failed, "XLEN %s", stream);
	out->dead = failed ? 0 : int_cmd(r, err, &failed, "XLEN %s", dead);
	out->scheduled = failed ? 0 : int_cmd(r, err, &failed, "ZCARD %s", sched);
	if (failed)
		goto out;
	rep = rds_cmd(r, err, "XINFO GROUPS %s", stream);
	if (!rep) {
		if (err && err->code == ERR_REDIS && strstr(err->msg, "no such key")) {
			err_clear(err);
			rc = 0; /* no stream yet: an empty queue */
		}
		goto out;
	}
	for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
		const redisReply *name = kv_get(rep->element[i], "name");
		if (name && name->type == REDIS_REPLY_STRING && !strcmp(name->str, KEYS_GROUP))
			group = rep->element[i];
	}
	out->group = group != NULL;
	if (!group) {
		out->depth = out->length; /* no group: nothing was delivered yet */
		rc = 0;
		goto out;
	}
	out->pending = rds_reply_int(kv_get(group, "pending"), 0);
	{
		const redisReply *lag = kv_get(group, "lag");
		const redisReply *last = kv_get(group, "last-delivered-id");
		if (lag && lag->type == REDIS_REPLY_INTEGER) {
			out->depth = lag->integer;
			out->lag_exact = 1;
		} else if (last && last->type == REDIS_REPLY_STRING) {
			/* older servers, or a lag Redis cannot compute: count what follows */
			redisReply *x = rds_cmd(r, err, "XRANGE %s (%s + COUNT %d", stream,
						last->str, MH_COUNT_CAP);
			if (!x)
				goto out;
			out->depth = x->type == REDIS_REPLY_ARRAY ? (long long)x->elements : 0;
			freeReplyObject(x);
		}
	}
	rc = 0;
out:
	if (rep)
		freeReplyObject(rep);
	free(stream);
	free(dead);
	free(sched);
	return rc;
}

static int refresh(struct rds *r, const char *docket, struct queue_info *qi, struct err *err)
{
	if (metrics_http_queue_info(r, docket, qi, err) < 0)
		return -1;
	metrics_set(NULL, M_QUEUE_DEPTH, NULL, (double)qi->depth);
	metrics_set(NULL, M_QUEUE_PENDING, NULL, (double)qi->pending);
	return 0;
}

int metrics_http_refresh(struct rds *r, const char *docket, struct err *err)
{
	struct queue_info qi;

	return refresh(r, docket, &qi, err);
}

static void send_text(struct mg_connection *conn, int code, const char *ctype, const char *body,
		      size_t len)
{
	char clen[24];

	snprintf(clen, sizeof(clen), "%zu", len);
	mg_response_header_start(conn, code);
	mg_response_header_add(conn, "Content-Type", ctype, -1);
	mg_response_header_add(conn, "Content-Length", clen, -1);
	mg_response_header_add(conn, "Cache-Control", "no-store", -1);
	mg_response_header_send(conn);
	if (len)
		mg_write(conn, body, len);
}

static void *refresher_main(void *arg)
{
	struct metrics_http *mh = arg;
	struct err e = {0};
	struct rds *r = rds_new(mh->cfg->redis_url, 500, 1000, &e);

	pthread_mutex_lock(&mh->lock);
	while (!mh->stop) {
		struct timespec ts;
		pthread_mutex_unlock(&mh->lock);
		struct queue_info qi;
		if (!r || refresh(r, mh->cfg->docket_name, &qi, &e) < 0) {
			log_kv(LOG_DEBUG, "queue gauges not refreshed", "error", e.msg, NULL);
			atomic_store(&mh->redis_ok, 0);
			atomic_store(&mh->group_ok, 0);
		} else {
			atomic_store(&mh->redis_ok, 1);
			atomic_store(&mh->group_ok, qi.group);
		}
		pthread_mutex_lock(&mh->lock);
		if (mh->stop)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += MH_REFRESH_MS / 1000;
		pthread_cond_timedwait(&mh->cond, &mh->lock, &ts);
	}
	pthread_mutex_unlock(&mh->lock);
	rds_free(r);
	return NULL;
}

static int handle(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *uri = ri->local_uri ? ri->local_uri : "";

	if (!strcmp(uri, "/livez") || !strcmp(uri, "/readyz") || !strcmp(uri, "/healthz")) {
		struct metrics_http *mh = cbdata;
		int stuck, redis_ok = atomic_load(&mh->redis_ok), kb = atomic_load(&mh->kb_ready);
		int group = redis_ok && atomic_load(&mh->group_ok), live, ready, code;
		char body[192];

		pthread_mutex_lock(&mh->lock);
		stuck = mh->stuck ? mh->stuck(mh->stuck_ctx) : 0;
		group = group && mh->stuck; /* the runtime runs and its group exists */
		pthread_mutex_unlock(&mh->lock);
		live = stuck == 0;
		ready = live && redis_ok && group && kb;
		code = (!strcmp(uri, "/livez") ? live : ready) ? 200 : 503;
		snprintf(body, sizeof(body),
			 "{\"status\":\"%s\",\"redis\":\"%s\",\"group\":\"%s\",\"kb\":\"%s\","
			 "\"threads\":\"%s\",\"stuck_threads\":%d}",
			 code == 200 ? "ok" : "unavailable", redis_ok ? "ok" : "unreachable",
			 group ? "ok" : "joining", kb ? "ok" : "loading", stuck ? "stuck" : "ok",
			 stuck);
		send_text(conn, code, "application/json", body, strlen(body));
		return code;
	}
	if (!strcmp(uri, "/metrics")) {
		struct buf b = BUF_INIT;
		metrics_render(NULL, &b);
		send_text(conn, 200, "text/plain; version=0.0.4; charset=utf-8", b.s, b.len);
		buf_release(&b);
		return 200;
	}
	send_text(conn, 404, "application/json", "{\"error\":\"not_found\"}", 21);
	return 404;
}

struct metrics_http *metrics_http_start(const struct config *cfg, int port, struct err *err)
{
	struct metrics_http *mh = xcalloc(1, sizeof(*mh));
	struct mg_callbacks cb;
	pthread_condattr_t ca;
	char ports[16];
	const char *opts[] = {"listening_ports",    ports,  "num_threads", "2",
			      "request_timeout_ms", "5000", NULL};

	mh->cfg = cfg;
	pthread_mutex_init(&mh->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mh->cond, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(ports, sizeof(ports), "%d", port);
	memset(&cb, 0, sizeof(cb));
	mh->ctx = mg_start(&cb, mh, opts);
	if (!mh->ctx) {
		err_set(err, ERR_IO, "cannot listen on METRICS_PORT %d (in use, or not permitted)",
			port);
		metrics_http_stop(mh);
		return NULL;
	}
	mg_set_request_handler(mh->ctx, "/", handle, mh);
	if (pthread_create(&mh->refresher, NULL, refresher_main, mh) != 0) {
		err_set(err, ERR_IO, "cannot start the queue gauge thread");
		metrics_http_stop(mh);
		return NULL;
	}
	mh->refresher_started = 1;
	return mh;
}

void metrics_http_set_kb_ready(struct metrics_http *mh, int ready)
{
	if (mh)
		atomic_store(&mh->kb_ready, ready);
}

void metrics_http_set_stuck_probe(struct metrics_http *mh, int (*stuck)(void *ctx), void *ctx)
{
	if (!mh)
		return;
	pthread_mutex_lock(&mh->lock);
	mh->stuck = stuck;
	mh->stuck_ctx = ctx;
	pthread_mutex_unlock(&mh->lock);
}

void metrics_http_stop(struct metrics_http *mh)
{
	if (!mh)
		return;
	if (mh->ctx)
		mg_stop(mh->ctx);
	pthread_mutex_lock(&mh->lock);
	mh->stop = 1;
	pthread_cond_broadcast(&mh->cond);
	pthread_mutex_unlock(&mh->lock);
	if (mh->refresher_started)
		pthread_join(mh->refresher, NULL);
	pthread_cond_destroy(&mh->cond);
	pthread_mutex_destroy(&mh->lock);
	free(mh);
}
