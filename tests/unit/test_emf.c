/*
 * Unit tests of worker/queue/emf.c's line format: one JSON object on one line, in
 * CloudWatch's Embedded Metric Format (an "_aws" directive naming namespace
 * Haink, the Docket dimension and each metric with its unit, and every
 * metric and dimension value as a top-level member of the same object).
 */
#include "common.h"
#include "queue/emf.h"

#include <jansson.h>
#include <stdlib.h>

#include "../harness/test.h"

static const struct emf_sample sample = {
    .timestamp_ms = 1764900000123LL,
    .length = 12,
    .depth = 7,
    .pending = 3,
    .oldest_pending_age_s = 95,
    .dead = 2,
    .redis_memory_pct = 42.5,
};

/* Returns the unit the directive gives metric name, or NULL. */
static const char *unit_of(json_t *metrics, const char *name)
{
	size_t i;
	json_t *m;

	json_array_foreach(metrics, i, m)
	{
		const char *n = json_string_value(json_object_get(m, "Name"));
		if (n && !strcmp(n, name))
			return json_string_value(json_object_get(m, "Unit"));
	}
	return NULL;
}

TEST(emf, line_is_embedded_metric_format)
{
	struct buf b = BUF_INIT;
	json_error_t jerr;
	json_t *root, *aws, *dir, *dims, *metrics;
	size_t i;
	json_t *m;

	emf_format("haink", &sample, &b);
	CHECK(b.len > 2 && b.s[b.len - 1] == '\n');
	CHECK(memchr(b.s, '\n', b.len - 1) == NULL); /* one log event: one line */
	root = json_loads(b.s, 0, &jerr);
	buf_release(&b);
	CHECK(root != NULL);
	aws = json_object_get(root, "_aws");
	CHECK_INT_EQ(json_integer_value(json_object_get(aws, "Timestamp")), 1764900000123LL);
	CHECK_INT_EQ(json_array_size(json_object_get(aws, "CloudWatchMetrics")), 1);
	dir = json_array_get(json_object_get(aws, "CloudWatchMetrics"), 0);
	CHECK_STR_EQ(json_string_value(json_object_get(dir, "Namespace")), "Haink");
	dims = json_object_get(dir, "Dimensions");
	CHECK_INT_EQ(json_array_size(dims), 1);
	CHECK_INT_EQ(json_array_size(json_array_get(dims, 0)), 1);
	CHECK_STR_EQ(json_string_value(json_array_get(json_array_get(dims, 0), 0)), "Docket");
	CHECK_STR_EQ(json_string_value(json_object_get(root, "Docket")), "haink");

	metrics = json_object_get(dir, "Metrics");
	CHECK_INT_EQ(json_array_size(metrics), 6);
	CHECK_STR_EQ(unit_of(metrics, "StreamLength"), "Count");
	CHECK_STR_EQ(unit_of(metrics, "QueueDepth"), "Count");
	CHECK_STR_EQ(unit_of(metrics, "Pending"), "Count");
	CHECK_STR_EQ(unit_of(metrics, "OldestPendingAgeSeconds"), "Seconds");
	CHECK_STR_EQ(unit_of(metrics, "DeadLetters"), "Count");
	CHECK_STR_EQ(unit_of(metrics, "RedisMemoryUsedPercent"), "Percent");
	/* every declared metric has a numeric value at the top level */
	json_array_foreach(metrics, i, m)
	{
		CHECK(json_is_number(
		    json_object_get(root, json_string_value(json_object_get(m, "Name")))));
	}
	CHECK_INT_EQ(json_integer_value(json_object_get(root, "StreamLength")), 12);
	CHECK_INT_EQ(json_integer_value(json_object_get(root, "QueueDepth")), 7);
	CHECK_INT_EQ(json_integer_value(json_object_get(root, "Pending")), 3);
	CHECK_INT_EQ(json_integer_value(json_object_get(root, "OldestPendingAgeSeconds")), 95);
	CHECK_INT_EQ(json_integer_value(json_object_get(root, "DeadLetters")), 2);
	CHECK_NEAR(json_number_value(json_object_get(root, "RedisMemoryUsedPercent")), 42.5, 1e-9);
	json_decref(root);
}

TEST(emf, unknown_memory_is_left_out_and_docket_escaped)
{
	struct emf_sample s = sample;
	struct buf b = BUF_INIT;
	json_error_t jerr;
	json_t *root, *dir;

	s.redis_memory_pct = -1;
	emf_format("we\"ird\\name", &s, &b);
	root = json_loads(b.s, 0, &jerr);
	buf_release(&b);
	CHECK(root != NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(root, "Docket")), "we\"ird\\name");
	CHECK(json_object_get(root, "RedisMemoryUsedPercent") == NULL);
	dir =
	    json_array_get(json_object_get(json_object_get(root, "_aws"), "CloudWatchMetrics"), 0);
	CHECK_INT_EQ(json_array_size(json_object_get(dir, "Metrics")), 5);
	CHECK(unit_of(json_object_get(dir, "Metrics"), "RedisMemoryUsedPercent") == NULL);
	json_decref(root);
}

TEST(emf, leader_key_shares_the_stream_slot)
{
	char *k = keys_emf_leader("haink");

	CHECK_STR_EQ(k, "docket:{haink}:emf-leader");
	free(k);
}
