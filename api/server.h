/*
 * server.h - haink-api's HTTP server (civetweb) and its routes.
 *
 * Routes (docs/architecture.md, "The path of a question"): POST /slack/events, /slack/interactive,
 * /slack/commands; GET /healthz, /readyz, /metrics; the Dev UI under /ui
 * (api/ui.h, on when UI_TOKEN is set). Every response carries
 * X-Request-Id; every request is counted, timed and logged as one JSON line.
 * Enqueues from every civetweb thread share one pipelined Redis connection
 * (group commit, api/enqueue.h); /readyz pings on the calling thread's own
 * lazily opened connection. Both reconnect after errors. cfg and agents are borrowed, read-only,
 * and must outlive the server.
 */
#ifndef HAINK_SERVER_H
#define HAINK_SERVER_H

#include "common.h"

/*
 * How long an idle keep-alive connection stays open. It must stay above every
 * load balancer's idle timeout in front of the API (the ALB's is 25 s), or the
 * balancer reuses a connection the API is closing and answers 502; `make
 * check-deploy` checks the terraform ALB against this value.
 */
#define API_KEEP_ALIVE_MS     30000
#define API_KEEP_ALIVE_MS_STR "30000"

struct api_server;

/* Starts listening on cfg->port with cfg->api_threads threads. Returns NULL with err on failure. */
struct api_server *api_server_start(const struct config *cfg, const struct agents *agents,
				    struct err *err);
/*
 * An extra readiness condition for GET /readyz besides Redis (Socket Mode's
 * connections): ready(arg, why) returns 1 when ready, else 0 with a short
 * reason appended to why. Called from civetweb threads, so it must be
 * thread-safe.
 */
struct api_ready_check {
	int (*ready)(void *arg, struct buf *why);
	void *arg;
};

/*
 * Makes /readyz also require check (borrowed; must outlive the server, or be
 * replaced by NULL first). Thread-safe.
 */
void api_server_set_ready_check(struct api_server *s, const struct api_ready_check *check);

/*
 * Stops the server: new requests get 503 (Connection: close) while requests
 * already being handled finish, for up to cfg->shutdown_grace_s; then stops
 * civetweb, joins its threads and frees s. Accepts NULL.
 */
void api_server_stop(struct api_server *s);

#endif
