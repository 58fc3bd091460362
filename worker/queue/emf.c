#include "common.h"
#include "queue/emf.h"
#include "queue/metrics_http.h"
#include "queue/worker_ctx.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Takes the lease when free, renews it when ours; 1 = held by ARGV[1] now. */
static const char lease_lua[] = "local v = redis.call('GET', KEYS[1])\n"
				"if v == ARGV[1] then\n"
				"  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
				"  return 1\n"
				"end\n"
				"if not v then\n"
				"  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
				"  return 1\n"
				"end\n"
				"return 0\n";

static const char release_lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
				  "  return redis.call('DEL', KEYS[1])\n"
				  "end\n"
				  "return 0\n";

static void add_metric(json_t *defs, json_t *root, const char *name, const char *unit,
		       json_t *value)
{
	json_t *def = json_object();

	json_object_set_new(def, "Name", json_string(name));
	json_object_set_new(def, "Unit", json_string(unit));
	json_array_append_new(defs, def);
	json_object_set_new(root, name, value);
}

void emf_format(const char *docket, const struct emf_sample *s, struct buf *out)
{
	json_t *root = json_object(), *aws = json_object(), *directive = json_object();
	json_t *dims = json_array(), *dimset = json_array(), *defs = json_array();
	json_t *docket_json;
	char *text;

	json_array_append_new(dimset, json_string("Docket"));
	json_array_append_new(dims, dimset);
	json_object_set_new(directive, "Namespace", json_string(EMF_NAMESPACE));
	json_object_set_new(directive, "Dimensions", dims);
	json_object_set_new(directive, "Metrics", defs);
	json_object_set_new(aws, "Timestamp", json_integer((json_int_t)s->timestamp_ms));
	json_object_set_new(aws, "CloudWatchMetrics", json_pack("[o]", directive));
	json_object_set_new(root, "_aws", aws);
	/* jansson rejects invalid UTF-8; a docket name is config, so fall back visibly */
	docket_json = json_string(docket);
	json_object_set_new(root, "Docket", docket_json ? docket_json : json_string("(invalid)"));
	add_metric(defs, root, "StreamLength", "Count", json_integer(s->length));
	add_metric(defs, root, "QueueDepth", "Count", json_integer(s->depth));
	add_metric(defs, root, "Pending", "Count", json_integer(s->pending));
	add_metric(defs, root, "OldestPendingAgeSeconds", "Seconds",
		   json_integer(s->oldest_pending_age_s));
	add_metric(defs, root, "DeadLetters", "Count", json_integer(s->dead));
	if (s->redis_memory_pct >= 0)
		add_metric(defs, root, "RedisMemoryUsedPercent", "Percent",
			   json_real(s->redis_memory_pct));
	text = json_dumps(root, JSON_COMPACT);
	if (!text)
		abort(); /* only on out-of-memory */
	buf_adds(out, text);
	buf_addch(out, '\n');
	free(text);
	json_decref(root);
}

/* Milliseconds part of a stream id "<ms>-<seq>"; -1 when it is not one. */
static long long stream_id_ms(const char *id)
{
	char *end;
	long long ms;

	if (!id || !rds_stream_id_valid(id))
		return -1;
	errno = 0;
	ms = strtoll(id, &end, 10);
	return errno ? -1 : ms;
}

/* Redis' own clock (stream ids come from it), in ms; -1 with err on failure. */
static long long redis_time_ms(struct rds *r, struct err *err)
{
	redisReply *rep = rds_cmd(r, err, "TIME");
	long long ms = -1;

	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_STRING &&
	    rep->element[1]->type == REDIS_REPLY_STRING)
		ms = strtoll(rep->element[0]->str, NULL, 10) * 1000 +
		     strtoll(rep->element[1]->str, NULL, 10) / 1000;
	else
		err_set(err, ERR_PARSE, "unexpected reply to TIME");
	freeReplyObject(rep);
	return ms;
}

/* Value of "field:" in an INFO reply, or -1 when absent. */
static long long info_field(const char *info, const char *field)
{
	size_t n = strlen(field);

	for (const char *p = info; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, field, n) && p[n] == ':')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

static double memory_pct(struct rds *r, struct err *err, int *failed)
{
	redisReply *rep = rds_cmd(r, err, "INFO memory");
	long long used, max;
	double pct = -1;

	if (!rep) {
		*failed = 1;
		return -1;
	}
	if (rep->type == REDIS_REPLY_STRING) {
		used = info_field(rep->str, "used_memory");
		max = info_field(rep->str, "maxmemory");
		if (used >= 0 && max > 0)
			pct = 100.0 * (double)used / (double)max;
	}
	freeReplyObject(rep);
	return pct;
}

int emf_sample_read(struct rds *r, const char *docket, struct emf_sample *out, struct err *err)
{
	struct queue_info qi;
	char *stream = NULL;
	redisReply *rep = NULL;
	long long now_ms, oldest_ms;
	int failed = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	out->redis_memory_pct = -1;
	out->timestamp_ms = clock_wall_ms();
	if (metrics_http_queue_info(r, docket, &qi, err) < 0)
		goto out;
	out->length = qi.length;
	out->depth = qi.depth;
	out->pending = qi.pending;
	out->dead = qi.dead;
	if (qi.pending > 0) {
		stream = keys_tasks(docket);
		/* summary form: [count, smallest id, greatest id, consumers] */
		rep = rds_cmd(r, err, "XPENDING %s %s", stream, KEYS_GROUP);
		if (!rep)
			goto out;
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 &&
		    rep->element[1]->type == REDIS_REPLY_STRING) {
			oldest_ms = stream_id_ms(rep->element[1]->str);
			now_ms = redis_time_ms(r, err);
			if (now_ms < 0)
				goto out;
			if (oldest_ms >= 0 && now_ms > oldest_ms)
				out->oldest_pending_age_s = (now_ms - oldest_ms) / 1000;
		}
	}
	out->redis_memory_pct = memory_pct(r, err, &failed);
	if (failed)
		goto out;
	rc = 0;
out:
	if (rep)
		freeReplyObject(rep);
	free(stream);
	return rc;
}

static int run_script(struct rds *r, const char *body, const char *docket, const char *holder,
		      const char *arg2, struct err *err)
{
	struct rds_script s;
	char *key = keys_emf_leader(docket);
	const char *argv[3] = {key, holder, arg2};
	redisReply *rep;
	int rc = -1;

	rds_script_init(&s, body);
	rep = rds_eval(r, &s, 1, arg2 ? 3 : 2, argv, NULL, err);
	free(key);
	if (!rep)
		return -1;
	if (rep->type == REDIS_REPLY_INTEGER)
		rc = rep->integer > 0;
	else
		err_set(err, ERR_REDIS, "emf lease: %s",
			rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
	freeReplyObject(rep);
	return rc;
}

int emf_lease_acquire(struct rds *r, const char *docket, const char *holder, int lease_ms,
		      struct err *err)
{
	char ms[24];

	snprintf(ms, sizeof(ms), "%d", lease_ms);
	return run_script(r, lease_lua, docket, holder, ms, err);
}

int emf_lease_release(struct rds *r, const char *docket, const char *holder, struct err *err)
{
	return run_script(r, release_lua, docket, holder, NULL, err) < 0 ? -1 : 0;
}

/* Writes all of b with one write() where the kernel allows (a line < PIPE_BUF stays whole). */
static int write_all(int fd, const struct buf *b, struct err *err)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t n = write(fd, b->s + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_set(err, ERR_IO, "cannot write the metrics line: %s",
				n < 0 ? strerror(errno) : "short write");
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

int emf_tick(struct rds *r, const char *docket, const char *holder, int lease_ms, int fd,
	     struct err *err)
{
	struct emf_sample s;
	struct buf line = BUF_INIT;
	int held = emf_lease_acquire(r, docket, holder, lease_ms, err), rc = -1;

	if (held <= 0)
		return held;
	if (emf_sample_read(r, docket, &s, err) < 0)
		goto out;
	emf_format(docket, &s, &line);
	if (write_all(fd, &line, err) < 0)
		goto out;
	rc = 1;
out:
	buf_release(&line);
	return rc;
}

struct emf {
	struct worker_env *env;
	char holder[64 + RANDID_HEX_LEN + 24];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	int stop;
};

static void *emf_main(void *arg)
{
	struct emf *p = arg;
	const char *docket = p->env->cfg->docket_name;
	struct err e = {0};
	struct rds *r = rds_new(p->env->cfg->redis_url, 1000, 5000, &e);
	int was_leader = 0;

	pthread_mutex_lock(&p->lock);
	while (r && !p->stop) {
		struct timespec ts;
		int rc;

		pthread_mutex_unlock(&p->lock);
		err_clear(&e);
		rc = emf_tick(r, docket, p->holder, EMF_LEASE_MS, STDOUT_FILENO, &e);
		if (rc < 0)
			log_kv(LOG_WARN, "queue metrics not published", "error", e.msg, NULL);
		else if (rc != was_leader)
			log_kv(LOG_INFO,
			       rc ? "publishing queue metrics (EMF leader)"
				  : "another worker publishes the queue metrics",
			       "holder", p->holder, NULL);
		if (rc >= 0)
			was_leader = rc;
		pthread_mutex_lock(&p->lock);
		if (p->stop)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += EMF_PERIOD_MS / 1000;
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
	}
	pthread_mutex_unlock(&p->lock);
	if (r && was_leader && emf_lease_release(r, docket, p->holder, &e) < 0)
		log_kv(LOG_WARN, "queue metrics lease not released", "error", e.msg, NULL);
	rds_free(r);
	return NULL;
}

struct emf *emf_start(struct worker_env *env, struct err *err)
{
	struct emf *p;
	pthread_condattr_t ca;
	sigset_t all, old;
	char rnd[RANDID_HEX_LEN + 1];
	int rc;

	if (!env->cfg->queue_metrics_emf)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->env = env;
	randid_hex(rnd);
	snprintf(p->holder, sizeof(p->holder), "%s:%ld:%.12s", env->hostname, (long)getpid(), rnd);
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* the thread never takes SIGTERM/SIGINT, whatever the caller's mask is now */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&p->thread, NULL, emf_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		err_set(err, ERR_IO, "cannot start the queue metrics (EMF) thread");
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return NULL;
	}
	return p;
}

void emf_stop(struct emf *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
