#include "common.h"
#include "enqueue.h"

#include <assert.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * KEYS[1] seen marker, KEYS[2] stream; ARGV[1] dedupe TTL, ARGV[2] MAXLEN,
 * ARGV[3..] field/value pairs. Returns the entry id, or false for a duplicate.
 */
static const char enqueue_lua[] =
    "if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return false end\n"
    "local r = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))\n"
    "if type(r) == 'table' and r.err then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return r\n"
    "end\n"
    "return r\n";

static pthread_once_t script_once = PTHREAD_ONCE_INIT;
static struct rds_script script;

static void script_setup(void)
{
	rds_script_init(&script, enqueue_lua);
}

/* EVALSHA sha 2 seen stream ttl maxlen, then the task's field/value pairs */
#define CMD_HEAD 7
#define CMD_MAX	 (CMD_HEAD + 2 * TASK_MAX_FIELDS)

/* One script call, built by the requesting thread on its own stack. */
struct cmd {
	const char *argv[CMD_MAX];
	size_t lens[CMD_MAX];
	int argc;
	char nbuf[48];
	char *seen; /* owned */
};

/*
 * Fills c with the EVALSHA call for t. stream, ttl and maxlen are borrowed and
 * must outlive c. Release with cmd_release().
 */
static void cmd_build(struct cmd *c, const char *docket, struct task *t, const char *stream,
		      const char *ttl, const char *maxlen)
{
	const char *fields[TASK_MAX_FIELDS], *values[TASK_MAX_FIELDS];
	size_t n;

	pthread_once(&script_once, script_setup);
	t->enqueued_ms = clock_wall_ms();
	n = task_encode(t, fields, values, c->nbuf);
	c->seen = keys_seen(docket, t->id);
	c->argc = 0;
	c->argv[c->argc++] = "EVALSHA";
	c->argv[c->argc++] = script.sha;
	c->argv[c->argc++] = "2";
	c->argv[c->argc++] = c->seen;
	c->argv[c->argc++] = stream;
	c->argv[c->argc++] = ttl;
	c->argv[c->argc++] = maxlen;
	for (size_t i = 0; i < n; i++) {
		c->argv[c->argc++] = fields[i];
		c->argv[c->argc++] = values[i];
	}
	for (int i = 0; i < c->argc; i++)
		c->lens[i] = strlen(c->argv[i]);
}

/* Switches c from EVALSHA to EVAL with the script's body (after NOSCRIPT). */
static void cmd_use_eval(struct cmd *c)
{
	c->argv[0] = "EVAL";
	c->lens[0] = 4;
	c->argv[1] = script.body;
	c->lens[1] = strlen(script.body);
}

static void cmd_release(struct cmd *c)
{
	free(c->seen);
	c->seen = NULL;
}

/* Maps the script's reply (not an error reply) to a result. */
static enum enqueue_result reply_result(const redisReply *rep, char id_out[32])
{
	if (rep->type == REDIS_REPLY_STRING) {
		if (id_out)
			snprintf(id_out, 32, "%s", rep->str);
		return ENQUEUE_ADDED;
	}
	return ENQUEUE_DUPLICATE;
}

enum enqueue_result enqueue_task(struct rds *r, const struct config *cfg, struct task *t,
				 char id_out[32], struct err *err)
{
	struct cmd c;
	char ttl[16], maxlen[24];
	char *stream = keys_tasks(cfg->docket_name);
	redisReply *rep;
	enum enqueue_result res = ENQUEUE_FAILED;

	snprintf(ttl, sizeof(ttl), "%d", cfg->dedupe_ttl_s);
	snprintf(maxlen, sizeof(maxlen), "%ld", cfg->stream_maxlen);
	cmd_build(&c, cfg->docket_name, t, stream, ttl, maxlen);
	/* rds_eval() adds EVALSHA sha numkeys itself and handles NOSCRIPT */
	rep = rds_eval(r, &script, 2, c.argc - 3, c.argv + 3, c.lens + 3, err);
	if (rep) {
		res = reply_result(rep, id_out);
		freeReplyObject(rep);
	}
	cmd_release(&c);
	free(stream);
	return res;
}

/* --- group commit ------------------------------------------------------------------ */

#define BATCH_MAX 128
/*
 * Connections, so leaders, that may run at the same time. One: each pipeline
 * then carries everything queued meanwhile; two measured no better on two
 * cores (the code supports more should Redis sit on other machines).
 */
#define MAX_PIPES 1

enum wstate { W_QUEUED = 0, W_LEAD, W_DONE };

/* One request waiting in the batcher; lives on the requesting thread's stack. */
struct waiter {
	struct cmd cmd;
	atomic_int state; /* enum wstate; also the futex word */
	struct waiter *next;
	int pipe; /* W_LEAD: the connection the leader is handed */
	/* results, written by the leader before it stores W_DONE */
	enum enqueue_result res;
	struct err err;
	char id[32];
	int sent; /* the current pipeline round holds its command */
	int noscript;
};

struct enqueue_batcher {
	const struct config *cfg;
	char *stream;
	char ttl[16], maxlen[24];
	struct rds *pipes[MAX_PIPES]; /* one connection per concurrent leader */
	int npipes;
	int idle[MAX_PIPES]; /* stack of the pipes no leader holds */
	int nidle;
	pthread_mutex_t lock;
	struct waiter *head, *tail; /* requests not yet taken by a leader */
	long long requests, batches;
};

static void futex_wait(atomic_int *addr, int val)
{
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(atomic_int *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

struct enqueue_batcher *enqueue_batcher_new(const struct config *cfg, const char *redis_url,
					    int connect_ms, int reply_ms, struct err *err)
{
	struct enqueue_batcher *b = xcalloc(1, sizeof(*b));

	b->npipes = MAX_PIPES;
	for (int i = 0; i < b->npipes; i++) {
		b->pipes[i] = rds_new(redis_url, connect_ms, reply_ms, err);
		if (!b->pipes[i]) {
			enqueue_batcher_free(b);
			return NULL;
		}
		b->idle[b->nidle++] = i;
	}
	b->cfg = cfg;
	b->stream = keys_tasks(cfg->docket_name);
	snprintf(b->ttl, sizeof(b->ttl), "%d", cfg->dedupe_ttl_s);
	snprintf(b->maxlen, sizeof(b->maxlen), "%ld", cfg->stream_maxlen);
	pthread_mutex_init(&b->lock, NULL);
	return b;
}

void enqueue_batcher_free(struct enqueue_batcher *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->npipes; i++)
		rds_free(b->pipes[i]);
	free(b->stream);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void enqueue_batcher_stats(struct enqueue_batcher *b, long long *requests, long long *batches)
{
	pthread_mutex_lock(&b->lock);
	if (requests)
		*requests = b->requests;
	if (batches)
		*batches = b->batches;
	pthread_mutex_unlock(&b->lock);
}

static void fail(struct waiter *w, const struct err *e)
{
	w->res = ENQUEUE_FAILED;
	w->err = *e;
}

/*
 * One pipeline round over the n requests of batch whose `sent` flag is set:
 * appends their commands, then reads one reply each. After a lost connection
 * the replies still owed are lost too, so those requests fail with the same
 * error (Slack retries; the dedupe mark makes a retry of a stored event a
 * duplicate, never a second entry). NOSCRIPT replies set `noscript`.
 */
static void pipeline_round(struct rds *r, struct waiter **batch, int n)
{
	struct err e = {0};
	int i;

	for (i = 0; i < n; i++) {
		struct waiter *w = batch[i];
		if (!w->sent)
			continue;
		if (rds_appendv(r, &e, w->cmd.argc, w->cmd.argv, w->cmd.lens) < 0) {
			/* not connected (or the command could not be formatted): nothing owed */
			fail(w, &e);
			w->sent = 0;
			if (e.code != ERR_INVALID)
				break;
		}
	}
	for (; i < n; i++) {
		/* the connection is down: the rest was never sent */
		if (batch[i]->sent) {
			fail(batch[i], &e);
			batch[i]->sent = 0;
		}
	}
	for (i = 0; i < n; i++) {
		struct waiter *w = batch[i];
		redisReply *rep;
		if (!w->sent)
			continue;
		rep = rds_reply(r, &e);
		if (!rep) {
			fail(w, &e);
			continue;
		}
		if (rep->type == REDIS_REPLY_ERROR) {
			err_set(&w->err, ERR_REDIS, "%s", rep->str);
			w->res = ENQUEUE_FAILED;
			w->noscript = rds_err_is(&w->err, "NOSCRIPT");
		} else {
			w->res = reply_result(rep, w->id);
		}
		freeReplyObject(rep);
	}
}

/* Runs the n requests of batch as one pipeline, with one EVAL round for NOSCRIPT. */
static void run_batch(struct rds *r, struct waiter **batch, int n)
{
	int again = 0;

	for (int i = 0; i < n; i++)
		batch[i]->sent = 1;
	pipeline_round(r, batch, n);
	for (int i = 0; i < n; i++) {
		batch[i]->sent = batch[i]->noscript;
		if (batch[i]->noscript) {
			cmd_use_eval(&batch[i]->cmd);
			again = 1;
		}
	}
	if (again)
		pipeline_round(r, batch, n);
}

/* Called by the request whose state became W_LEAD: it heads the queue. */
static void lead(struct enqueue_batcher *b, struct waiter *self)
{
	struct waiter *batch[BATCH_MAX], *next;
	int n = 0;

	pthread_mutex_lock(&b->lock);
	/* a leader is always the queue's head: promoted as head, or alone in it */
	assert(b->head == self);
	while (b->head && n < BATCH_MAX) {
		batch[n++] = b->head;
		b->head = b->head->next;
	}
	if (!b->head)
		b->tail = NULL;
	b->requests += n;
	b->batches++;
	pthread_mutex_unlock(&b->lock);

	run_batch(b->pipes[self->pipe], batch, n);

	pthread_mutex_lock(&b->lock);
	next = b->head;
	if (next) {
		/* the oldest request queued meanwhile leads next, on this connection */
		next->pipe = self->pipe;
		atomic_store(&next->state, W_LEAD);
	} else {
		b->idle[b->nidle++] = self->pipe;
	}
	pthread_mutex_unlock(&b->lock);
	/*
	 * A waiter may return as soon as it sees W_DONE, so nothing here touches
	 * it after the store but the wake-up on its (still mapped) stack word; a
	 * stray wake-up is harmless, as waits recheck the state.
	 */
	if (next)
		futex_wake(&next->state);
	for (int i = 0; i < n; i++) {
		if (batch[i] == self)
			continue;
		atomic_store(&batch[i]->state, W_DONE);
		futex_wake(&batch[i]->state);
	}
	atomic_store(&self->state, W_DONE);
}

enum enqueue_result enqueue_batch_task(struct enqueue_batcher *b, struct task *t, char id_out[32],
				       struct err *err)
{
	struct waiter w;
	int s;

	memset(&w, 0, sizeof(w));
	cmd_build(&w.cmd, b->cfg->docket_name, t, b->stream, b->ttl, b->maxlen);
	atomic_init(&w.state, W_QUEUED);
	pthread_mutex_lock(&b->lock);
	if (b->tail)
		b->tail->next = &w;
	else
		b->head = &w;
	b->tail = &w;
	if (b->nidle) {
		/*
		 * A connection is free, so no leader is waiting to run the queue:
		 * lead. The queue may hold requests that a running leader missed;
		 * this batch takes them along.
		 */
		w.pipe = b->idle[--b->nidle];
		atomic_store(&w.state, W_LEAD);
	}
	pthread_mutex_unlock(&b->lock);

	while ((s = atomic_load(&w.state)) == W_QUEUED)
		futex_wait(&w.state, W_QUEUED);
	if (s == W_LEAD)
		lead(b, &w);
	cmd_release(&w.cmd);
	if (w.res == ENQUEUE_FAILED) {
		if (err)
			*err = w.err;
	} else if (id_out) {
		memcpy(id_out, w.id, 32);
	}
	return w.res;
}
