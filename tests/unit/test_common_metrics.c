/*
 * Unit tests of common/metrics.c: the exact exposition text of a labelled
 * counter, a gauge and a histogram (cumulative buckets), label escaping, and
 * counting from several threads.
 */
#include "common.h"

#include <pthread.h>
#include <stdlib.h>

#include "../harness/test.h"

/* Returns an owned copy of the exposition block of one metric (HELP line to the next HELP). */
static char *block_of(struct metrics *m, const char *name)
{
	struct buf out = BUF_INIT;
	char head[128];
	const char *start, *end;
	char *res = NULL;

	metrics_render(m, &out);
	snprintf(head, sizeof(head), "# HELP %s ", name);
	start = strstr(out.s, head);
	if (start) {
		end = strstr(start + 1, "\n# HELP ");
		res = xstrndup(start, end ? (size_t)(end - start + 1) : strlen(start));
	}
	buf_release(&out);
	return res;
}

#define CHECK_BLOCK(m, name, want)                                                                 \
	do {                                                                                       \
		char *b_ = block_of(m, name);                                                      \
		int ok_ = b_ && !strcmp(b_, want);                                                 \
		if (!ok_)                                                                          \
			test_fail(__FILE__, __LINE__, "block %s:\n%s--- want:\n%s", name,          \
				  b_ ? b_ : "(missing)\n", want);                                  \
		free(b_);                                                                          \
		if (!ok_) {                                                                        \
			metrics_free(m);                                                           \
			return;                                                                    \
		}                                                                                  \
	} while (0)

TEST(metrics, labelled_counter_exact_text)
{
	struct metrics *m = metrics_new();
	char l1[96], l2[96];

	metrics_labels(l1, sizeof(l1), 2, "route", "/slack/events", "code", "200");
	metrics_labels(l2, sizeof(l2), 2, "route", "/slack/events", "code", "401");
	CHECK_STR_EQ(l1, "route=\"/slack/events\",code=\"200\"");
	/* before first use a labelled metric has no samples */
	CHECK_BLOCK(m, "haink_http_requests_total",
		    "# HELP haink_http_requests_total HTTP requests by route and status code\n"
		    "# TYPE haink_http_requests_total counter\n");
	metrics_inc(m, M_HTTP_REQUESTS, l1, 1);
	metrics_inc(m, M_HTTP_REQUESTS, l2, 1);
	metrics_inc(m, M_HTTP_REQUESTS, l1, 2);
	CHECK_BLOCK(m, "haink_http_requests_total",
		    "# HELP haink_http_requests_total HTTP requests by route and status code\n"
		    "# TYPE haink_http_requests_total counter\n"
		    "haink_http_requests_total{route=\"/slack/events\",code=\"200\"} 3\n"
		    "haink_http_requests_total{route=\"/slack/events\",code=\"401\"} 1\n");
	CHECK_NEAR(metrics_value(m, M_HTTP_REQUESTS, l1), 3, 0);
	CHECK_NEAR(metrics_value(m, M_HTTP_REQUESTS, "route=\"nope\""), 0, 0);
	metrics_free(m);
}

TEST(metrics, unlabelled_counter_shown_at_zero)
{
	struct metrics *m = metrics_new();

	CHECK_BLOCK(m, "haink_events_duplicate_total",
		    "# HELP haink_events_duplicate_total Slack events already seen (retries), "
		    "acknowledged without queueing\n"
		    "# TYPE haink_events_duplicate_total counter\n"
		    "haink_events_duplicate_total 0\n");
	metrics_inc(m, M_EVENTS_DUPLICATE, NULL, 1);
	metrics_inc(m, M_EVENTS_DUPLICATE, "", 1);
	CHECK_NEAR(metrics_value(m, M_EVENTS_DUPLICATE, NULL), 2, 0);
	CHECK_BLOCK(m, "haink_events_duplicate_total",
		    "# HELP haink_events_duplicate_total Slack events already seen (retries), "
		    "acknowledged without queueing\n"
		    "# TYPE haink_events_duplicate_total counter\n"
		    "haink_events_duplicate_total 2\n");
	metrics_free(m);
}

TEST(metrics, gauge_set_and_add)
{
	struct metrics *m = metrics_new();

	metrics_set(m, M_QUEUE_DEPTH, NULL, 7);
	metrics_set(m, M_QUEUE_DEPTH, NULL, 5);
	metrics_inc(m, M_QUEUE_PENDING, NULL, 1.5);
	metrics_inc(m, M_QUEUE_PENDING, NULL, -0.25);
	CHECK_BLOCK(m, "haink_queue_depth",
		    "# HELP haink_queue_depth Entries in the task stream not yet delivered to the "
		    "consumer group\n"
		    "# TYPE haink_queue_depth gauge\n"
		    "haink_queue_depth 5\n");
	CHECK_BLOCK(m, "haink_queue_pending",
		    "# HELP haink_queue_pending Entries delivered to a worker and not yet "
		    "acknowledged\n"
		    "# TYPE haink_queue_pending gauge\n"
		    "haink_queue_pending 1.25\n");
	metrics_free(m);
}

TEST(metrics, histogram_buckets_cumulative)
{
	struct metrics *m = metrics_new();
	const char *l = "route=\"/slack/events\"";

	metrics_observe(m, M_HTTP_SECONDS, l, 0.0004);
	metrics_observe(m, M_HTTP_SECONDS, l, 0.001); /* on a bound: counted in le="0.001" */
	metrics_observe(m, M_HTTP_SECONDS, l, 0.002);
	metrics_observe(m, M_HTTP_SECONDS, l, 0.002);
	metrics_observe(m, M_HTTP_SECONDS, l, 100); /* above every bound: only +Inf */
	CHECK_NEAR(metrics_value(m, M_HTTP_SECONDS, l), 5, 0);
	CHECK_BLOCK(m, "haink_http_request_seconds",
		    "# HELP haink_http_request_seconds HTTP request handling time by route\n"
		    "# TYPE haink_http_request_seconds histogram\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"0.0005\"} 1\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"0.001\"} 2\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"0.0025\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"0.005\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"0.01\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"0.025\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"0.05\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"0.1\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"0.25\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"0.5\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"1\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"2.5\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"5\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"10\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"30\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"60\"} 4\n"
		    "haink_http_request_seconds_bucket{route=\"/slack/events\",le=\"+Inf\"} 5\n"
		    "haink_http_request_seconds_sum{route=\"/slack/events\"} 100.0054\n"
		    "haink_http_request_seconds_count{route=\"/slack/events\"} 5\n");
	metrics_free(m);
}

TEST(metrics, unlabelled_histogram)
{
	struct metrics *m = metrics_new();
	char *b;

	metrics_observe(m, M_TASK_SECONDS, NULL, 0.75);
	b = block_of(m, "haink_task_seconds");
	CHECK(b != NULL);
	CHECK_STR_CONTAINS(b, "haink_task_seconds_bucket{le=\"0.5\"} 0\n");
	CHECK_STR_CONTAINS(b, "haink_task_seconds_bucket{le=\"1\"} 1\n");
	CHECK_STR_CONTAINS(b, "haink_task_seconds_bucket{le=\"+Inf\"} 1\n");
	CHECK_STR_CONTAINS(b, "haink_task_seconds_sum 0.75\n");
	CHECK_STR_CONTAINS(b, "haink_task_seconds_count 1\n");
	free(b);
	metrics_free(m);
}

TEST(metrics, label_escaping)
{
	char out[128];

	metrics_labels(out, sizeof(out), 1, "tool", "a\"b\\c\nd");
	CHECK_STR_EQ(out, "tool=\"a\\\"b\\\\c\\nd\"");
	metrics_labels(out, sizeof(out), 2, "method", "chat.postMessage", "outcome", NULL);
	CHECK_STR_EQ(out, "method=\"chat.postMessage\",outcome=\"\"");
	metrics_labels(out, sizeof(out), 0);
	CHECK_STR_EQ(out, "");
	/* a small buffer truncates without overflow */
	metrics_labels(out, 8, 1, "kind", "completion");
	CHECK_STR_EQ(out, "kind=\"c");
}

TEST(metrics, names_and_every_metric_rendered)
{
	struct metrics *m = metrics_new();
	struct buf out = BUF_INIT;

	CHECK_STR_EQ(metrics_name(M_HTTP_REQUESTS), "haink_http_requests_total");
	CHECK_STR_EQ(metrics_name(M_SIGNATURE_FAILURES), "haink_slack_signature_failures_total");
	CHECK_STR_EQ(metrics_name(M_TASKS_ENQUEUED), "haink_tasks_enqueued_total");
	metrics_render(m, &out);
	for (int i = 0; i < M__COUNT; i++) {
		char t[128];
		snprintf(t, sizeof(t), "# TYPE %s ", metrics_name((enum metric_id)i));
		if (!strstr(out.s, t)) {
			test_fail(__FILE__, __LINE__, "no TYPE line for %s", t);
			break;
		}
		if (strncmp(metrics_name((enum metric_id)i), "haink_", 6)) {
			test_fail(__FILE__, __LINE__, "%s lacks the haink_ prefix", t);
			break;
		}
	}
	buf_release(&out);
	metrics_free(m);
}

struct hammer {
	struct metrics *m;
	int n;
};

static void *hammer_run(void *p)
{
	struct hammer *h = p;

	for (int i = 0; i < h->n; i++) {
		metrics_inc(h->m, M_TASKS_ENQUEUED,
			    i % 2 ? "type=\"question\"" : "type=\"feedback\"", 1);
		metrics_observe(h->m, M_HTTP_SECONDS, "route=\"x\"", 0.001);
	}
	return NULL;
}

TEST(metrics, thread_safe_counting)
{
	struct metrics *m = metrics_new();
	struct hammer h = {m, 20000};
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, hammer_run, &h);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK_NEAR(metrics_value(m, M_TASKS_ENQUEUED, "type=\"question\""), 40000, 0);
	CHECK_NEAR(metrics_value(m, M_TASKS_ENQUEUED, "type=\"feedback\""), 40000, 0);
	CHECK_NEAR(metrics_value(m, M_HTTP_SECONDS, "route=\"x\""), 80000, 0);
	metrics_free(m);
}
