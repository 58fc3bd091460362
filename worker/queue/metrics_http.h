/*
 * metrics_http.h - haink-worker's small HTTP server on METRICS_PORT:
 *   GET /livez    liveness: 200 while the process runs and no task thread is
 *                 stuck (see runtime_stuck_threads()), else 503
 *   GET /readyz   readiness: 200 when also Redis answered the last refresh
 *                 (once a second), the consumer group exists and the queue
 *                 runtime consumes from it, and the knowledge base is open,
 *                 else 503
 *   GET /healthz  the same as /readyz
 *   GET /metrics  the Prometheus exposition of the default registry
 * The three health routes answer one JSON object naming each check:
 * {"status","redis":"ok|unreachable","group":"ok|joining","kb":"ok|loading",
 * "threads":"ok|stuck","stuck_threads"}. cli_run starts this server first, before Redis is reached
 * or the knowledge base loaded, so liveness holds from the process's start.
 * and the queue figures behind the gauges and `haink-worker stats`.
 *
 * Started by cli_run before the runtime, stopped after it. While it runs, a
 * thread of its own refreshes M_QUEUE_DEPTH and M_QUEUE_PENDING once a
 * second on its own Redis connection; request handlers never touch Redis.
 */
#ifndef HAINK_METRICS_HTTP_H
#define HAINK_METRICS_HTTP_H

struct config;
struct rds;
struct err;

struct queue_info {
	long long length;    /* XLEN of the task stream */
	long long depth;     /* entries not yet delivered to the group (lag) */
	long long pending;   /* delivered, not yet acknowledged */
	long long scheduled; /* retries waiting in the ZSET */
	long long dead;	     /* XLEN of the dead-letter stream */
	int lag_exact;	     /* 1: depth is Redis 7's lag; 0: counted by XRANGE (capped) */
	int group;	     /* 1 when the consumer group exists */
};

/*
 * Reads the queue figures. depth is XINFO GROUPS' lag when the server gives
 * one, else the number of entries after the group's last-delivered id
 * (counted up to 10,000). A missing stream or group reads as zeros.
 * Returns 0 or -1 with err.
 */
int metrics_http_queue_info(struct rds *r, const char *docket, struct queue_info *out,
			    struct err *err);

/* Reads the queue figures and sets M_QUEUE_DEPTH and M_QUEUE_PENDING. Returns 0 or -1. */
int metrics_http_refresh(struct rds *r, const char *docket, struct err *err);

struct metrics_http;

/*
 * Listens on port (all interfaces). Returns the server, or NULL with ERR_IO
 * when the port cannot be bound. cfg is borrowed and must outlive it.
 */
struct metrics_http *metrics_http_start(const struct config *cfg, int port, struct err *err);
/* Marks the knowledge base open (readiness); accepts NULL. */
void metrics_http_set_kb_ready(struct metrics_http *mh, int ready);
/*
 * Installs the probe /livez and /readyz call for the number of stuck task
 * threads (0 = none); NULL removes it. Installed means the queue runtime
 * runs (readiness's "group" check). Accepts mh NULL.
 */
void metrics_http_set_stuck_probe(struct metrics_http *mh, int (*stuck)(void *ctx), void *ctx);
/* Stops the server and frees it; accepts NULL. */
void metrics_http_stop(struct metrics_http *mh);

#endif
