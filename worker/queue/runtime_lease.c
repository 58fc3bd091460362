/*
 * runtime_lease.c - the runtime's two helper threads: the lease keeper
 * (renews entries in flight, notices takeovers) and the mover (due retries
 * back to the stream, trimming acknowledged entries). See runtime.h.
 */
#include "common.h"
#include "queue/runtime_int.h"
#include "queue/daily.h"
#include "queue/dlq.h"
#include "queue/retry.h"
#include "queue/runtime_stream.h"

#include <limits.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* --- lease keeper and mover ---------------------------------------------- */

/* Marks thread no's task as taken over, if that thread still runs entry id. */
static void lease_lost(struct runtime *rt, int no, const char *id)
{
	pthread_mutex_lock(&rt->lock);
	if (rt->slots[no].active && !strcmp(rt->slots[no].id, id)) {
		atomic_store(&rt->tt[no].w.lease_lost, 1);
		log_kv(LOG_WARN, "task taken over by another worker after a stall; abandoning it",
		       "entry", id, NULL);
	}
	pthread_mutex_unlock(&rt->lock);
}

/*
 * Renews the leases of the n entries in flight (snap) while their consumers
 * still own them (runtime_stream_renew()); marks a task whose entry another
 * worker took over after a stall as abandoned.
 */
static void renew(struct runtime *rt, const struct slot *snap, int n)
{
	const char **consumers = xcalloc((size_t)n, sizeof(*consumers));
	const char **ids = xcalloc((size_t)n, sizeof(*ids));
	const char **siblings = xcalloc((size_t)rt->nthreads, sizeof(*siblings));
	enum runtime_lease *out = xcalloc((size_t)n, sizeof(*out));
	struct err e = {0};
	int rc;

	for (int i = 0; i < n; i++) {
		consumers[i] = snap[i].consumer;
		ids[i] = snap[i].id;
	}
	for (int i = 0; i < rt->nthreads; i++)
		siblings[i] = rt->tt[i].consumer;
	rc = runtime_stream_renew(rt->lease_r, rt->stream, n, consumers, ids, rt->nthreads,
				  siblings, out, &e);
	for (int i = 0; i < n; i++) {
		if (out[i] == RUNTIME_LEASE_LOST)
			lease_lost(rt, snap[i].no, snap[i].id);
		if (out[i] == RUNTIME_LEASE_TAKEN_BACK)
			log_kv(LOG_INFO,
			       "took an entry in flight back from this worker's own recovery scan",
			       "entry", snap[i].id, NULL);
		if (out[i] == RUNTIME_LEASE_RENEWED || out[i] == RUNTIME_LEASE_TAKEN_BACK)
			atomic_fetch_add(&rt->renewals, 1);
	}
	if (rc == 0)
		runtime_note_ok(rt);
	else
		runtime_note_failure(rt, &e);
	free(consumers);
	free(ids);
	free(siblings);
	free(out);
}

void *runtime_lease_main(void *arg)
{
	struct runtime *rt = arg;
	int64_t interval = rt->cfg->redelivery_timeout_ms / 4;
	struct slot *snap = xcalloc((size_t)rt->nthreads, sizeof(*snap));
	int64_t next = clock_mono_ms() + interval;

	pthread_mutex_lock(&rt->lock);
	while (!rt->aux_stop) {
		int64_t now = clock_mono_ms();
		int n = 0;
		if (now < next) {
			runtime_cond_wait_ms(rt, next - now);
			continue;
		}
		next = now + interval;
		for (int i = 0; i < rt->nthreads; i++)
			if (rt->slots[i].active)
				snap[n++] = rt->slots[i];
		if (!n)
			continue;
		pthread_mutex_unlock(&rt->lock);
		renew(rt, snap, n);
		pthread_mutex_lock(&rt->lock);
	}
	pthread_mutex_unlock(&rt->lock);
	free(snap);
	return NULL;
}

void *runtime_mover_main(void *arg)
{
	struct runtime *rt = arg;

	int64_t trim_due = 0;

	pthread_mutex_lock(&rt->lock);
	while (!rt->aux_stop) {
		struct err e = {0};
		long moved;

		pthread_mutex_unlock(&rt->lock);
		if (clock_mono_ms() >= trim_due) {
			long long trimmed =
			    runtime_trim_acked(rt->mover_r, rt->cfg->docket_name, &e);
			if (trimmed < 0)
				log_kv(LOG_WARN, "cannot trim acknowledged task entries", "error",
				       e.msg, NULL);
			trim_due = clock_mono_ms() + RT_TRIM_INTERVAL_MS;
			err_clear(&e);
		}
		moved = retry_move_due(rt->mover_r, rt->cfg->docket_name, clock_wall_ms(),
				       RT_MOVE_LIMIT, &e);
		if (moved < 0) {
			runtime_note_failure(rt, &e);
		} else {
			runtime_note_ok(rt);
			atomic_fetch_add(&rt->moved, moved);
		}
		pthread_mutex_lock(&rt->lock);
		/* a full batch means more are due: go again at once */
		if (!rt->aux_stop && moved < RT_MOVE_LIMIT)
			runtime_cond_wait_ms(rt, RT_MOVE_INTERVAL_MS);
	}
	pthread_mutex_unlock(&rt->lock);
	return NULL;
}
