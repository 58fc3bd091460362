#include "common.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum metric_kind { MK_COUNTER, MK_GAUGE, MK_HISTOGRAM };

struct metric_def {
	const char *name;
	enum metric_kind kind;
	const char *help;
	int labelled; /* 0: one series without labels, shown even before first use */
};

static const struct metric_def defs[M__COUNT] = {
    [M_HTTP_REQUESTS] = {"haink_http_requests_total", MK_COUNTER,
			 "HTTP requests by route and status code", 1},
    [M_HTTP_SECONDS] = {"haink_http_request_seconds", MK_HISTOGRAM,
			"HTTP request handling time by route", 1},
    [M_SIGNATURE_FAILURES] = {"haink_slack_signature_failures_total", MK_COUNTER,
			      "Slack requests rejected for a bad or missing signature", 0},
    [M_EVENTS_DUPLICATE] = {"haink_events_duplicate_total", MK_COUNTER,
			    "Slack events already seen (retries), acknowledged without queueing",
			    0},
    [M_TASKS_ENQUEUED] = {"haink_tasks_enqueued_total", MK_COUNTER,
			  "Tasks added to the stream by type", 1},
    [M_TASKS] = {"haink_tasks_total", MK_COUNTER, "Tasks finished by outcome", 1},
    [M_TASK_SECONDS] = {"haink_task_seconds", MK_HISTOGRAM, "Time to process one task", 0},
    [M_QUEUE_WAIT_SECONDS] = {"haink_queue_wait_seconds", MK_HISTOGRAM,
			      "Time from enqueue to pickup by a worker", 0},
    [M_TASK_RETRIES] = {"haink_task_retries_total", MK_COUNTER,
			"Tasks scheduled for another attempt", 0},
    [M_TASKS_DEAD] = {"haink_tasks_dead_total", MK_COUNTER, "Tasks moved to the dead-letter stream",
		      0},
    [M_TASKS_RECLAIMED] = {"haink_tasks_reclaimed_total", MK_COUNTER,
			   "Pending tasks reclaimed from crashed consumers", 0},
    [M_LLM_REQUESTS] = {"haink_llm_requests_total", MK_COUNTER, "LLM requests by outcome", 1},
    [M_LLM_TOKENS] = {"haink_llm_tokens_total", MK_COUNTER, "LLM tokens used by kind", 1},
    [M_LLM_SECONDS] = {"haink_llm_seconds", MK_HISTOGRAM, "LLM request latency", 0},
    [M_TOOL_CALLS] = {"haink_tool_calls_total", MK_COUNTER, "Agent tool calls by tool", 1},
    [M_TOOL_SECONDS] = {"haink_tool_seconds", MK_HISTOGRAM, "Agent tool call latency by tool", 1},
    [M_EMBEDDING_CACHE] = {"haink_embedding_cache_total", MK_COUNTER,
			   "Embedding cache lookups by result", 1},
    [M_VECTOR_SEARCH_SECONDS] = {"haink_vector_search_seconds", MK_HISTOGRAM,
				 "Vector search latency", 0},
    [M_QUEUE_DEPTH] = {"haink_queue_depth", MK_GAUGE,
		       "Entries in the task stream not yet delivered to the consumer group", 0},
    [M_QUEUE_PENDING] = {"haink_queue_pending", MK_GAUGE,
			 "Entries delivered to a worker and not yet acknowledged", 0},
    [M_SLACK_API_REQUESTS] = {"haink_slack_api_requests_total", MK_COUNTER,
			      "Slack Web API calls by method and outcome", 1},
    [M_FEEDBACK] = {"haink_feedback_total", MK_COUNTER, "Feedback button clicks by value", 1},
    [M_RATE_LIMITED] = {"haink_rate_limited_total", MK_COUNTER,
			"Requests refused by a rate limit by kind", 1},
};

static const double bucket_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
				       0.25,   0.5,   1,      2.5,   5,	   10,	  30,	60};
#define NBUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))

struct series {
	char *labels;
	double value; /* counter / gauge; histogram sum */
	unsigned long long count;
	unsigned long long buckets[NBUCKETS]; /* per-bucket, cumulated when rendered */
};

struct metric {
	pthread_mutex_t lock;
	struct series *series;
	size_t n, cap;
};

struct metrics {
	struct metric m[M__COUNT];
};

struct metrics *metrics_new(void)
{
	struct metrics *r = xcalloc(1, sizeof(*r));

	for (int i = 0; i < M__COUNT; i++)
		pthread_mutex_init(&r->m[i].lock, NULL);
	return r;
}

void metrics_free(struct metrics *r)
{
	if (!r)
		return;
	for (int i = 0; i < M__COUNT; i++) {
		for (size_t j = 0; j < r->m[i].n; j++)
			free(r->m[i].series[j].labels);
		free(r->m[i].series);
		pthread_mutex_destroy(&r->m[i].lock);
	}
	free(r);
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct metrics *default_registry;

static void make_default(void)
{
	default_registry = metrics_new();
}

struct metrics *metrics_default(void)
{
	pthread_once(&default_once, make_default);
	return default_registry;
}

const char *metrics_name(enum metric_id id)
{
	return (unsigned)id < M__COUNT ? defs[id].name : "?";
}

/* Finds or adds the series for labels; call with the metric locked. */
static struct series *find_series(struct metric *mt, const char *labels)
{
	if (!labels)
		labels = "";
	for (size_t i = 0; i < mt->n; i++)
		if (!strcmp(mt->series[i].labels, labels))
			return &mt->series[i];
	xgrow((void **)&mt->series, &mt->cap, mt->n + 1, sizeof(*mt->series));
	memset(&mt->series[mt->n], 0, sizeof(*mt->series));
	mt->series[mt->n].labels = xstrdup(labels);
	return &mt->series[mt->n++];
}

static struct metric *get(struct metrics *r, enum metric_id id)
{
	if (!r)
		r = metrics_default();
	return &r->m[id];
}

void metrics_inc(struct metrics *r, enum metric_id id, const char *labels, double v)
{
	struct metric *mt = get(r, id);

	pthread_mutex_lock(&mt->lock);
	find_series(mt, labels)->value += v;
	pthread_mutex_unlock(&mt->lock);
}

void metrics_set(struct metrics *r, enum metric_id id, const char *labels, double v)
{
	struct metric *mt = get(r, id);

	pthread_mutex_lock(&mt->lock);
	find_series(mt, labels)->value = v;
	pthread_mutex_unlock(&mt->lock);
}

void metrics_observe(struct metrics *r, enum metric_id id, const char *labels, double v)
{
	struct metric *mt = get(r, id);
	struct series *s;
	size_t b = 0;

	while (b < NBUCKETS && v > bucket_bounds[b])
		b++;
	pthread_mutex_lock(&mt->lock);
	s = find_series(mt, labels);
	s->value += v;
	s->count++;
	if (b < NBUCKETS)
		s->buckets[b]++;
	pthread_mutex_unlock(&mt->lock);
}

double metrics_value(struct metrics *r, enum metric_id id, const char *labels)
{
	struct metric *mt = get(r, id);
	double v = 0;

	if (!labels)
		labels = "";
	pthread_mutex_lock(&mt->lock);
	for (size_t i = 0; i < mt->n; i++) {
		if (!strcmp(mt->series[i].labels, labels)) {
			v = defs[id].kind == MK_HISTOGRAM ? (double)mt->series[i].count
							  : mt->series[i].value;
			break;
		}
	}
	pthread_mutex_unlock(&mt->lock);
	return v;
}

static void add_num(struct buf *out, double v)
{
	if (isinf(v))
		buf_adds(out, v > 0 ? "+Inf" : "-Inf");
	else if (v == (double)(long long)v && fabs(v) < 1e15)
		buf_addf(out, "%lld", (long long)v);
	else
		buf_addf(out, "%.9g", v);
}

static void render_sample(struct buf *out, const char *name, const char *suffix, const char *labels,
			  const char *extra, double v)
{
	int has = labels && *labels, hasx = extra && *extra;

	buf_addf(out, "%s%s", name, suffix);
	if (has || hasx)
		buf_addf(out, "{%s%s%s}", has ? labels : "", has && hasx ? "," : "",
			 hasx ? extra : "");
	buf_addch(out, ' ');
	add_num(out, v);
	buf_addch(out, '\n');
}

void metrics_render(struct metrics *r, struct buf *out)
{
	static const char *const kinds[] = {"counter", "gauge", "histogram"};
	char le[48];

	if (!r)
		r = metrics_default();
	for (int i = 0; i < M__COUNT; i++) {
		const struct metric_def *d = &defs[i];
		struct metric *mt = &r->m[i];

		buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
			 kinds[d->kind]);
		pthread_mutex_lock(&mt->lock);
		if (!mt->n && !d->labelled)
			find_series(mt, "");
		for (size_t j = 0; j < mt->n; j++) {
			struct series *s = &mt->series[j];
			if (d->kind != MK_HISTOGRAM) {
				render_sample(out, d->name, "", s->labels, NULL, s->value);
				continue;
			}
			unsigned long long cum = 0;
			for (size_t b = 0; b < NBUCKETS; b++) {
				cum += s->buckets[b];
				snprintf(le, sizeof(le), "le=\"%g\"", bucket_bounds[b]);
				render_sample(out, d->name, "_bucket", s->labels, le, (double)cum);
			}
			render_sample(out, d->name, "_bucket", s->labels, "le=\"+Inf\"",
				      (double)s->count);
			render_sample(out, d->name, "_sum", s->labels, NULL, s->value);
			render_sample(out, d->name, "_count", s->labels, NULL, (double)s->count);
		}
		pthread_mutex_unlock(&mt->lock);
	}
}

/* Appends c to out[*n] while it fits (one byte is kept for the NUL). */
static void lbl_put(char *out, size_t outsz, size_t *n, char c)
{
	if (*n + 1 < outsz)
		out[(*n)++] = c;
}

/* Formats straight into out: this runs several times per HTTP request. */
char *metrics_labels(char *out, size_t outsz, int nkv, ...)
{
	va_list ap;
	size_t n = 0;

	if (!outsz)
		return out;
	va_start(ap, nkv);
	for (int i = 0; i < nkv; i++) {
		const char *k = va_arg(ap, const char *);
		const char *v = va_arg(ap, const char *);
		if (i)
			lbl_put(out, outsz, &n, ',');
		for (; *k; k++)
			lbl_put(out, outsz, &n, *k);
		lbl_put(out, outsz, &n, '=');
		lbl_put(out, outsz, &n, '"');
		for (const char *p = v ? v : ""; *p; p++) {
			if (*p == '\\' || *p == '"' || *p == '\n')
				lbl_put(out, outsz, &n, '\\');
			lbl_put(out, outsz, &n, *p == '\n' ? 'n' : *p);
		}
		lbl_put(out, outsz, &n, '"');
	}
	va_end(ap);
	out[n] = '\0';
	return out;
}
