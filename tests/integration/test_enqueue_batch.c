/*
 * Integration tests of the enqueue group commit (api/enqueue.c) against a
 * throwaway redis-server: many threads enqueueing at once, with duplicate ids,
 * get exactly one stream entry per id and each its own result; after SCRIPT
 * FLUSH the pipeline falls back to EVAL; with Redis stopped mid-way the calls
 * fail fast instead of hanging, and succeed again once it is back.
 */
#include "common.h"
#include "enqueue.h"

#include "../harness/test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define NTHREADS   8
#define PER_THREAD 300
#define UNIQUE	   600 /* each id is sent by NTHREADS * PER_THREAD / UNIQUE = 4 threads */

static void batch_config(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->docket_name = (char *)"btest";
	cfg->dedupe_ttl_s = 600;
	cfg->stream_maxlen = 1000000;
}

static void make_task(struct task *t, const char *id)
{
	test_task_question(t, id, "how many?");
}

static long long xlen(struct rds *r)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(r, &e, "XLEN docket:{btest}:tasks");
	long long n = rds_reply_int(rep, -1);

	if (rep)
		freeReplyObject(rep);
	return n;
}

/* Collects the id field of every stream entry into a calloc'd flag array indexed by number. */
static int stream_ids(struct rds *r, const char *prefix, unsigned char *seen, size_t nseen,
		      long long *dups)
{
	struct err e = {0};
	redisReply *rep = rds_cmd(r, &e, "XRANGE docket:{btest}:tasks - +");
	size_t plen = strlen(prefix);

	if (!rep)
		return -1;
	*dups = 0;
	for (size_t i = 0; i < rep->elements; i++) {
		redisReply *kv = rep->element[i]->element[1];
		for (size_t j = 0; j + 1 < kv->elements; j += 2) {
			const char *v = kv->element[j + 1]->str;
			size_t k;
			if (strcmp(kv->element[j]->str, "id") || strncmp(v, prefix, plen))
				continue;
			k = (size_t)atol(v + plen);
			if (k < nseen) {
				if (seen[k])
					(*dups)++;
				seen[k] = 1;
			}
		}
	}
	freeReplyObject(rep);
	return 0;
}

struct dup_arg {
	struct enqueue_batcher *b;
	int tid;
	int results[PER_THREAD]; /* enum enqueue_result per request */
	int ids[PER_THREAD];
	char stream_id[PER_THREAD][32];
	char errmsg[256];
};

static void *dup_thread(void *p)
{
	struct dup_arg *a = p;

	for (int j = 0; j < PER_THREAD; j++) {
		struct task t;
		struct err e = {0};
		char id[32];
		/* thread tid covers ids tid*150 .. tid*150+299 (mod 600): every id four times */
		a->ids[j] = (a->tid * (UNIQUE / 4) + j) % UNIQUE;
		snprintf(id, sizeof(id), "EvB%d", a->ids[j]);
		make_task(&t, id);
		a->stream_id[j][0] = '\0';
		a->results[j] = enqueue_batch_task(a->b, &t, a->stream_id[j], &e);
		if (a->results[j] == ENQUEUE_FAILED && !a->errmsg[0])
			snprintf(a->errmsg, sizeof(a->errmsg), "%s", e.msg);
		task_release(&t);
	}
	return NULL;
}

/*
 * Empties the test Redis, runs the command argv on a plain connection
 * (returned in *r), and makes a batcher for cfg (in *b). Either is NULL when
 * a step failed (the failure is reported).
 */
static void fresh_batcher(struct config *cfg, struct rds **r, struct enqueue_batcher **b, int argc,
			  const char **argv)
{
	struct err e = {0};
	redisReply *rep;

	*b = NULL;
	CHECK(test_redis_url() != NULL);
	test_redis_flush();
	*r = test_redis_connect(2000);
	CHECK(*r != NULL);
	rep = rds_cmdv(*r, &e, argc, argv, NULL);
	CHECK(rep != NULL);
	freeReplyObject(rep);
	batch_config(cfg);
	*b = enqueue_batcher_new(cfg, test_redis_url(), 500, 2000, &e);
	CHECK(*b != NULL);
}

/* Runs dup_thread on NTHREADS threads against b and waits for them all. */
static void run_dup_threads(struct enqueue_batcher *b, struct dup_arg *args)
{
	pthread_t th[NTHREADS];

	for (int i = 0; i < NTHREADS; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].b = b;
		args[i].tid = i;
		CHECK_INT_EQ(pthread_create(&th[i], NULL, dup_thread, &args[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
}

TEST(enqueue_batch, concurrent_duplicates_once_each)
{
	struct config cfg;
	struct enqueue_batcher *b;
	struct rds *r;
	static struct dup_arg args[NTHREADS];
	int added[UNIQUE] = {0}, dup[UNIQUE] = {0};
	unsigned char in_stream[UNIQUE] = {0};
	long long nreq = 0, nbatch = 0, stream_dups = 0;

	/* no script cached: the first call gets NOSCRIPT and must fall back to EVAL */
	fresh_batcher(&cfg, &r, &b, 2, (const char *[]){"SCRIPT", "FLUSH"});
	CHECK(b != NULL);
	run_dup_threads(b, args);
	for (int i = 0; i < NTHREADS; i++) {
		if (args[i].errmsg[0])
			test_fail(__FILE__, __LINE__, "thread %d: enqueue failed: %s", i,
				  args[i].errmsg);
		for (int j = 0; j < PER_THREAD; j++) {
			CHECK(args[i].results[j] != ENQUEUE_FAILED);
			if (args[i].results[j] == ENQUEUE_ADDED) {
				added[args[i].ids[j]]++;
				CHECK(strchr(args[i].stream_id[j], '-') != NULL);
			} else {
				dup[args[i].ids[j]]++;
			}
		}
	}
	for (int k = 0; k < UNIQUE; k++) {
		if (added[k] != 1)
			test_fail(__FILE__, __LINE__, "id EvB%d added %d times", k, added[k]);
		CHECK_INT_EQ(added[k], 1);
		CHECK_INT_EQ(dup[k], 3);
	}
	CHECK_INT_EQ(xlen(r), UNIQUE);
	CHECK_INT_EQ(stream_ids(r, "EvB", in_stream, UNIQUE, &stream_dups), 0);
	CHECK_INT_EQ(stream_dups, 0);
	for (int k = 0; k < UNIQUE; k++)
		CHECK_INT_EQ(in_stream[k], 1);
	enqueue_batcher_stats(b, &nreq, &nbatch);
	CHECK_INT_EQ(nreq, NTHREADS * PER_THREAD);
	CHECK(nbatch >= 1 && nbatch <= nreq);
	enqueue_batcher_free(b);
	rds_free(r);
}

/*
 * An XADD error inside a shared call is per task: every request that hit it
 * fails with Redis's message and leaves no seen mark, so Slack's retries are
 * accepted once the stream is usable again.
 */
TEST(enqueue_batch, xadd_error_fails_each_task_and_unmarks_it)
{
	struct config cfg;
	struct err e = {0};
	struct enqueue_batcher *b;
	struct rds *r;
	static struct dup_arg args[NTHREADS];
	long long nreq = 0, nbatch = 0;
	redisReply *rep;

	/* XADD fails: the stream key holds a string */
	fresh_batcher(&cfg, &r, &b, 3,
		      (const char *[]){"SET", "docket:{btest}:tasks", "not-a-stream"});
	CHECK(b != NULL);
	run_dup_threads(b, args);
	for (int i = 0; i < NTHREADS; i++) {
		for (int j = 0; j < PER_THREAD; j++)
			CHECK_INT_EQ(args[i].results[j], ENQUEUE_FAILED);
		CHECK_STR_CONTAINS(args[i].errmsg, "WRONGTYPE");
	}
	enqueue_batcher_stats(b, &nreq, &nbatch);
	CHECK_INT_EQ(nreq, NTHREADS * PER_THREAD);
	rep = rds_cmd(r, &e, "EVAL %s 0", "return #redis.call('KEYS', 'docket:{btest}:seen:*')");
	CHECK_INT_EQ(rds_reply_int(rep, -1), 0);
	freeReplyObject(rep);
	/* usable again: the same ids go in, once each */
	rep = rds_cmd(r, &e, "DEL docket:{btest}:tasks");
	freeReplyObject(rep);
	run_dup_threads(b, args);
	for (int i = 0; i < NTHREADS; i++)
		CHECK_STR_EQ(args[i].errmsg, "");
	CHECK_INT_EQ(xlen(r), UNIQUE);
	enqueue_batcher_free(b);
	rds_free(r);
}

/* --- Redis stopped mid-way --------------------------------------------------------- */

#define OUT_THREADS 4
#define OUT_MAX	    50000

struct out_shared {
	struct enqueue_batcher *b;
	atomic_int stop;
	atomic_int restarted; /* test_redis_start_again() has returned */
	atomic_long added, failed, added_after;
	atomic_long next_id;
	/* per id: 1 added, 2 failed; 8 marks a call started after the restart */
	unsigned char res[OUT_MAX];
};

static void *out_thread(void *p)
{
	struct out_shared *s = p;

	while (!atomic_load(&s->stop)) {
		long k = atomic_fetch_add(&s->next_id, 1);
		int after = atomic_load(&s->restarted);
		struct task t;
		struct err e = {0};
		char id[32];
		enum enqueue_result res;
		if (k >= OUT_MAX)
			break;
		snprintf(id, sizeof(id), "EvO%ld", k);
		make_task(&t, id);
		res = enqueue_batch_task(s->b, &t, NULL, &e);
		task_release(&t);
		if (res == ENQUEUE_ADDED) {
			s->res[k] = (unsigned char)(1 | (after ? 8 : 0));
			atomic_fetch_add(&s->added, 1);
			if (after)
				atomic_fetch_add(&s->added_after, 1);
		} else if (res == ENQUEUE_FAILED) {
			if (getenv("BTEST_DEBUG"))
				fprintf(stderr, "EvO%ld: %s\n", k, e.msg);
			s->res[k] = (unsigned char)(2 | (after ? 8 : 0));
			atomic_fetch_add(&s->failed, 1);
			/* a client backs off before retrying (Slack does); spares the id space */
			clock_sleep_ms(5);
		} else {
			s->res[k] = 4; /* a fresh id can never be a duplicate */
		}
	}
	return NULL;
}

/* Waits until *v reaches at least want, or the deadline passes. Returns 1 when it did. */
static int wait_count(atomic_long *v, long want, int64_t ms)
{
	int64_t deadline = clock_mono_ms() + ms;

	while (atomic_load(v) < want) {
		if (clock_mono_ms() > deadline)
			return 0;
		clock_sleep_ms(2);
	}
	return 1;
}

TEST(enqueue_batch, redis_stop_fails_fast_then_recovers)
{
	static struct out_shared s;
	struct config cfg;
	struct err e = {0};
	pthread_t th[OUT_THREADS];
	unsigned char *in_stream;
	long long stream_dups = 0;
	long failed_before, added_before;
	struct rds *r;
	long n;

	CHECK(test_redis_url() != NULL);
	test_redis_flush();
	memset(&s, 0, sizeof(s));
	batch_config(&cfg);
	s.b = enqueue_batcher_new(&cfg, test_redis_url(), 500, 2000, &e);
	CHECK(s.b != NULL);
	for (int i = 0; i < OUT_THREADS; i++)
		CHECK_INT_EQ(pthread_create(&th[i], NULL, out_thread, &s), 0);
	CHECK(wait_count(&s.added, 200, 10000));
	CHECK_INT_EQ(atomic_load(&s.failed), 0);
	test_redis_stop();
	/* the calls in flight and those after fail, promptly: none hangs */
	failed_before = atomic_load(&s.failed);
	CHECK(wait_count(&s.failed, failed_before + 50, 10000));
	added_before = atomic_load(&s.added);
	test_redis_start_again();
	atomic_store(&s.restarted, 1);
	/* the batcher reconnects on its own (after its backoff) */
	CHECK(wait_count(&s.added, added_before + 200, 10000));
	CHECK(wait_count(&s.added_after, 200, 10000));
	atomic_store(&s.stop, 1);
	for (int i = 0; i < OUT_THREADS; i++)
		pthread_join(th[i], NULL);
	n = atomic_load(&s.next_id);
	if (n > OUT_MAX)
		n = OUT_MAX;

	/*
	 * The restarted server kept nothing: every entry now comes from a call
	 * answered ADDED, once, and every call started after the restart that
	 * was answered ADDED is there.
	 */
	r = test_redis_connect(2000);
	CHECK(r != NULL);
	in_stream = xcalloc((size_t)n + 1, 1);
	CHECK_INT_EQ(stream_ids(r, "EvO", in_stream, (size_t)n, &stream_dups), 0);
	CHECK_INT_EQ(stream_dups, 0);
	for (long k = 0; k < n; k++) {
		if (s.res[k] == 4)
			test_fail(__FILE__, __LINE__, "fresh id EvO%ld answered duplicate", k);
		if (in_stream[k] && (s.res[k] & 7) != 1)
			test_fail(__FILE__, __LINE__, "EvO%ld stored but answered %d", k, s.res[k]);
		if (s.res[k] == (1 | 8) && !in_stream[k])
			test_fail(__FILE__, __LINE__, "EvO%ld answered added but not stored", k);
	}
	CHECK(!test_failed());
	CHECK(xlen(r) >= 200);
	free(in_stream);
	rds_free(r);
	enqueue_batcher_free(s.b);
}
