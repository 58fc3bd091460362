/*
 * metrics.h - the Prometheus metrics (docs/architecture.md, "Observability").
 *
 * Every metric the project exports is a row of one table in metrics.c, named
 * by an enum here, so names live in one place and call sites cost an array
 * index, not a lookup. Series are keyed by their label string, preformatted by
 * the caller as Prometheus writes it: `route="/slack/events",code="200"` (use
 * metrics_labels() when a value comes from outside). Thread-safe: each metric
 * has its own mutex. A NULL registry means the process-wide default one.
 */
#ifndef HAINK_METRICS_H
#define HAINK_METRICS_H

#include <stddef.h>

struct buf;
struct metrics;

enum metric_id {
	M_HTTP_REQUESTS = 0,  /* counter {route,code} */
	M_HTTP_SECONDS,	      /* histogram {route} */
	M_SIGNATURE_FAILURES, /* counter */
	M_EVENTS_DUPLICATE,   /* counter */
	M_TASKS_ENQUEUED,     /* counter {type} */
	M_TASKS,	/* counter {outcome}: answered, feedback, limited, retried, dead, skipped */
	M_TASK_SECONDS, /* histogram */
	M_QUEUE_WAIT_SECONDS,	 /* histogram */
	M_TASK_RETRIES,		 /* counter */
	M_TASKS_DEAD,		 /* counter */
	M_TASKS_RECLAIMED,	 /* counter */
	M_LLM_REQUESTS,		 /* counter {outcome} */
	M_LLM_TOKENS,		 /* counter {kind}: prompt, completion */
	M_LLM_SECONDS,		 /* histogram */
	M_TOOL_CALLS,		 /* counter {tool} */
	M_TOOL_SECONDS,		 /* histogram {tool} */
	M_EMBEDDING_CACHE,	 /* counter {result}: hit, miss */
	M_VECTOR_SEARCH_SECONDS, /* histogram */
	M_QUEUE_DEPTH,		 /* gauge */
	M_QUEUE_PENDING,	 /* gauge */
	M_SLACK_API_REQUESTS,	 /* counter {method,outcome} */
	M_FEEDBACK,		 /* counter {feedback} */
	M_RATE_LIMITED,		 /* counter {kind}: thread, user, web */
	M__COUNT
};

/* Returns a new empty registry with every metric of the table; free with metrics_free(). */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* Returns the process-wide registry (created on first use, never freed). */
struct metrics *metrics_default(void);

/* Adds v to a counter or gauge series. */
void metrics_inc(struct metrics *m, enum metric_id id, const char *labels, double v);
/* Sets a gauge series. */
void metrics_set(struct metrics *m, enum metric_id id, const char *labels, double v);
/* Records one histogram observation (seconds for *_seconds metrics). */
void metrics_observe(struct metrics *m, enum metric_id id, const char *labels, double v);
/* Returns the current value of a counter/gauge series (or a histogram's count), 0 if absent. */
double metrics_value(struct metrics *m, enum metric_id id, const char *labels);
/* Returns the metric's full name ("haink_http_requests_total"). */
const char *metrics_name(enum metric_id id);

/* Appends the text exposition format (version 0.0.4) of every metric to out. */
void metrics_render(struct metrics *m, struct buf *out);

/*
 * Writes `k1="v1",k2="v2"` for nkv key/value pairs into out (size outsz),
 * escaping \, " and newlines in values; truncates safely. Returns out.
 */
char *metrics_labels(char *out, size_t outsz, int nkv, ...);

#endif
