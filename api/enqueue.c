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
 * One call stores a batch of tasks. KEYS[1] is the stream, KEYS[1 + i] the
 * seen marker of task i; ARGV[1] the dedupe TTL, ARGV[2] the backlog cap
 * (STREAM_MAXLEN), then for each task its number of field/value strings
 * followed by them. Each task is marked and added on its own, exactly as if it
 * had its own call; the reply holds one element per task: the entry id, false
 * (nil) for a duplicate, or an error (the mark is then not set, or removed
 * again). One call per batch rather than one per task: Redis spends per
 * script call about as much as on the SET itself.
 *
 * Nothing is ever trimmed here: an XADD with MAXLEN would delete entries no
 * worker has read yet. The workers trim what the group has acknowledged
 * (runtime_trim_acked()); when the stream still holds STREAM_MAXLEN entries a
 * new task is refused with a BACKLOG error (the API answers 503, Slack
 * retries later) and its seen mark is not set, so the retry is not a
 * duplicate. A repeated event is still answered as a duplicate.
 */
static const char enqueue_lua[] =
    "local out, p = {}, 3\n"
    "local cap = tonumber(ARGV[2])\n"
    "local len = redis.call('XLEN', KEYS[1])\n"
    "for i = 2, #KEYS do\n"
    "  local n = tonumber(ARGV[p])\n"
    "  local r = false\n"
    "  if len >= cap then\n"
    "    if redis.call('EXISTS', KEYS[i]) == 0 then\n"
    "      r = {err = 'BACKLOG the task stream holds ' .. len .. ' entries (STREAM_MAXLEN ' ..\n"
    "        cap .. '): refusing new tasks until the workers catch up'}\n"
    "    end\n"
    "  elseif redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then\n"
    "    local first, last = p + 1, p + n\n"
    "    r = redis.pcall('XADD', KEYS[1], '*', unpack(ARGV, first, last))\n"
    "    if type(r) == 'table' and r.err then redis.call('DEL', KEYS[i]) else len = len + 1 end\n"
    "  end\n"
    "  out[i - 1] = r\n"
    "  p = p + n + 1\n"
    "end\n"
    "return out\n";

static pthread_once_t script_once = PTHREAD_ONCE_INIT;
static struct rds_script script;

static void script_setup(void)
{
	rds_script_init(&script, enqueue_lua);
}

/* One task's part of a script call, built by the requesting thread on its own stack. */
struct cmd {
	const char *fields[TASK_MAX_FIELDS], *values[TASK_MAX_FIELDS];
	size_t npairs;
	char nbuf[48];
	char count[8]; /* 2 * npairs, as ARGV wants it */
	char *seen;    /* owned */
};

/* Fills c for t (whose enqueued_ms becomes now). Release with cmd_release(). */
static void cmd_build(struct cmd *c, const char *docket, struct task *t)
{
	pthread_once(&script_once, script_setup);
	t->enqueued_ms = clock_wall_ms();
	c->npairs = task_encode(t, c->fields, c->values, c->nbuf);
	snprintf(c->count, sizeof(c->count), "%zu", 2 * c->npairs);
	c->seen = keys_seen(docket, t->id);
}

static void cmd_release(struct cmd *c)
{
	free(c->seen);
	c->seen = NULL;
}

/* Script arguments (keys, then the rest) for at most n tasks. */
#define CALL_CAP(n) (3 + (n) * (2 + 2 * TASK_MAX_FIELDS))

/* One task's outcome. */
struct outcome {
	enum enqueue_result res;
	struct err err;
	char id[32];
};

/*
 * Runs the script for the n tasks of cmds on r, with argv/lens as scratch
 * (CALL_CAP(n) entries each), and fills *out[i] for each. A failed call (no
 * connection, timeout, or an error reply for the whole script) fails every
 * task with the same error; Slack then retries them all, and the seen marks
 * of any the server did store make those retries duplicates, never second
 * entries.
 */
static void run_script(struct rds *r, struct cmd *const *cmds, int n, const char *stream,
		       const char *ttl, const char *maxlen, const char **argv, size_t *lens,
		       struct outcome *const *out)
{
	struct err e = {0};
	redisReply *rep;
	int argc = 0;

	argv[argc++] = stream;
	for (int i = 0; i < n; i++)
		argv[argc++] = cmds[i]->seen;
	argv[argc++] = ttl;
	argv[argc++] = maxlen;
	for (int i = 0; i < n; i++) {
		argv[argc++] = cmds[i]->count;
		for (size_t j = 0; j < cmds[i]->npairs; j++) {
			argv[argc++] = cmds[i]->fields[j];
			argv[argc++] = cmds[i]->values[j];
		}
	}
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	/* rds_eval() adds EVALSHA sha numkeys and falls back to EVAL on NOSCRIPT */
	rep = rds_eval(r, &script, 1 + n, argc, argv, lens, &e);
	if (rep && (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)n)) {
		err_set(&e, ERR_REDIS, "enqueue script: unexpected reply type %d", rep->type);
		freeReplyObject(rep);
		rep = NULL;
	}
	for (int i = 0; i < n; i++) {
		const redisReply *el = rep ? rep->element[i] : NULL;
		memset(&out[i]->err, 0, sizeof(out[i]->err));
		out[i]->id[0] = '\0';
		if (!rep) {
			out[i]->res = ENQUEUE_FAILED;
			out[i]->err = e;
		} else if (el->type == REDIS_REPLY_STRING) {
			out[i]->res = ENQUEUE_ADDED;
			snprintf(out[i]->id, sizeof(out[i]->id), "%s", el->str);
		} else if (el->type == REDIS_REPLY_NIL) {
			out[i]->res = ENQUEUE_DUPLICATE;
		} else {
			out[i]->res = ENQUEUE_FAILED;
			err_set(&out[i]->err, ERR_REDIS, "%s",
				el->type == REDIS_REPLY_ERROR ? el->str : "unexpected reply");
		}
	}
	freeReplyObject(rep);
}

/* Hands one outcome to a caller: the result, and the id or the error; counts an added task. */
static enum enqueue_result give(const struct outcome *o, const struct task *t, char id_out[32],
				struct err *err)
{
	char lbl[48];

	if (o->res == ENQUEUE_ADDED)
		metrics_inc(NULL, M_TASKS_ENQUEUED,
			    metrics_labels(lbl, sizeof(lbl), 1, "type", task_type_name(t->type)),
			    1);
	if (o->res == ENQUEUE_FAILED) {
		if (err)
			*err = o->err;
	} else if (id_out) {
		memcpy(id_out, o->id, 32);
	}
	return o->res;
}

enum enqueue_result enqueue_task(struct rds *r, const struct config *cfg, struct task *t,
				 char id_out[32], struct err *err)
{
	struct cmd c, *cp = &c;
	struct outcome o, *op = &o;
	char ttl[16], maxlen[24];
	char *stream = keys_tasks(cfg->docket_name);
	const char *argv[CALL_CAP(1)];
	size_t lens[CALL_CAP(1)];

	snprintf(ttl, sizeof(ttl), "%d", cfg->dedupe_ttl_s);
	snprintf(maxlen, sizeof(maxlen), "%ld", cfg->stream_maxlen);
	cmd_build(&c, cfg->docket_name, t);
	run_script(r, &cp, 1, stream, ttl, maxlen, argv, lens, &op);
	cmd_release(&c);
	free(stream);
	return give(&o, t, id_out, err);
}

/* --- group commit ------------------------------------------------------------------ */

#define BATCH_MAX 128
/*
 * Connections, so leaders, that may run at the same time. One: each call
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
	int pipe;	    /* W_LEAD: the connection the leader is handed */
	struct outcome out; /* written by the leader before it stores W_DONE */
};

/* A connection and the scratch its leader builds the script call in. */
struct pipe {
	struct rds *r;
	const char **argv;
	size_t *lens;
};

struct enqueue_batcher {
	const struct config *cfg;
	char *stream;
	char ttl[16], maxlen[24];
	struct pipe pipes[MAX_PIPES]; /* one per concurrent leader */
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
		struct pipe *p = &b->pipes[i];
		p->r = rds_new(redis_url, connect_ms, reply_ms, err);
		if (!p->r) {
			enqueue_batcher_free(b);
			return NULL;
		}
		p->argv = xmalloc(sizeof(*p->argv) * CALL_CAP(BATCH_MAX));
		p->lens = xmalloc(sizeof(*p->lens) * CALL_CAP(BATCH_MAX));
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
	for (int i = 0; i < b->npipes; i++) {
		rds_free(b->pipes[i].r);
		free(b->pipes[i].argv);
		free(b->pipes[i].lens);
	}
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

/* Called by the request whose state became W_LEAD: it heads the queue. */
static void lead(struct enqueue_batcher *b, struct waiter *self)
{
	struct waiter *batch[BATCH_MAX], *next;
	struct cmd *cmds[BATCH_MAX];
	struct outcome *outs[BATCH_MAX];
	struct pipe *p = &b->pipes[self->pipe];
	int n = 0;

	pthread_mutex_lock(&b->lock);
	/* a leader is always the queue's head: promoted as head, or alone in it */
	assert(b->head == self);
	while (b->head && n < BATCH_MAX) {
		batch[n] = b->head;
		cmds[n] = &b->head->cmd;
		outs[n++] = &b->head->out;
		b->head = b->head->next;
	}
	if (!b->head)
		b->tail = NULL;
	b->requests += n;
	b->batches++;
	pthread_mutex_unlock(&b->lock);

	run_script(p->r, cmds, n, b->stream, b->ttl, b->maxlen, p->argv, p->lens, outs);

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
	cmd_build(&w.cmd, b->cfg->docket_name, t);
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
	return give(&w.out, t, id_out, err);
}
