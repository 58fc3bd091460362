/*
 * worker_ctx.h - the worker's process-wide environment and per-thread context.
 *
 * struct worker_env is built once in main() (configuration, agents, the
 * knowledge base handle, the hostname) and is read-only afterwards, shared by
 * every thread. struct worker_ctx belongs to one task thread (or to a CLI verb): its
 * own Redis connection and HTTP transport. Modules take a struct worker_ctx * and
 * never keep it beyond the call.
 */
#ifndef HAINK_WORKER_CTX_H
#define HAINK_WORKER_CTX_H

#include <stdatomic.h>
#include "common.h"

struct kb;

struct worker_env {
	const struct config *cfg;
	const struct agents *agents;
	struct kb *kb; /* shared, thread-safe; NULL until opened */
	char hostname[64];
	atomic_int stopping; /* set by the signal thread: stop reading new tasks */
};

struct worker_ctx {
	struct worker_env *env;
	struct rds *r;
	struct http_client *hc;	    /* NULL when http is a test transport */
	struct http_transport http; /* every outgoing request goes through this seam */
	/*
	 * A second seam for requests made while `http` is in the middle of a
	 * transfer: the edits that show an answer as a streamed LLM reply is
	 * read (one curl handle cannot run two transfers). Its own client.
	 */
	struct http_client *hc_side;
	struct http_transport side_http;
	int thread_no;
	/*
	 * Set by the queue runtime's lease keeper when another consumer took this
	 * thread's current entry over (after a stall): the task must stop without
	 * posting anything; the new owner answers. Cleared when a task starts.
	 */
	atomic_int lease_lost;
};

/*
 * Opens a context: a new Redis handle for env->cfg->redis_url (command
 * timeout cmd_timeout_ms) and a curl-backed transport. Returns 0 or -1 with err.
 */
int worker_ctx_init(struct worker_ctx *w, struct worker_env *env, int thread_no, int cmd_timeout_ms,
		    struct err *err);
void worker_ctx_release(struct worker_ctx *w);

#endif
