/* Unit tests of worker/queue/retry.c: the backoff schedule and the retry member codec. */
#include "common.h"
#include "queue/retry.h"
#include "../harness/test.h"

#include <jansson.h>
#include <stdlib.h>

/* An RNG that always returns *(uint64_t *)ctx. */
static uint64_t fixed_rng(void *ctx)
{
	return *(uint64_t *)ctx;
}

TEST(retry, ceiling_doubles_from_base_and_caps_at_60s)
{
	CHECK_INT_EQ(retry_backoff_ceiling_ms(1, 1000, 0), 1000);
	CHECK_INT_EQ(retry_backoff_ceiling_ms(2, 1000, 0), 2000);
	CHECK_INT_EQ(retry_backoff_ceiling_ms(3, 1000, 0), 4000);
	CHECK_INT_EQ(retry_backoff_ceiling_ms(6, 1000, 0), 32000);
	CHECK_INT_EQ(retry_backoff_ceiling_ms(7, 1000, 0), RETRY_CAP_MS);
	CHECK_INT_EQ(retry_backoff_ceiling_ms(1000000, 1000, 0), RETRY_CAP_MS);
	CHECK_INT_EQ(retry_backoff_ceiling_ms(0, 1000, 0), 1000); /* attempt < 1 counts as 1 */
	CHECK_INT_EQ(retry_backoff_ceiling_ms(-5, 250, 0), 250);
	CHECK_INT_EQ(retry_backoff_ceiling_ms(1, 90000, 0), RETRY_CAP_MS); /* base above cap */
	CHECK_INT_EQ(retry_backoff_ceiling_ms(4, 100, 500), 500);	   /* explicit cap */
	CHECK_INT_EQ(retry_backoff_ceiling_ms(3, 0, 0), 0);
	CHECK_INT_EQ(retry_backoff_ceiling_ms(63, 1, 0), RETRY_CAP_MS); /* no overflow */
}

TEST(retry, draws_stay_within_the_ceiling_of_each_attempt)
{
	uint64_t state = 0x1234567887654321ULL;

	for (int attempt = 1; attempt <= 12; attempt++) {
		long ceil_ms = retry_backoff_ceiling_ms(attempt, 500, 0);
		long lo = ceil_ms, hi = 0;
		for (int i = 0; i < 2000; i++) {
			long d = retry_backoff_ms(attempt, 500, 0, retry_rng_xorshift, &state);
			CHECK(d >= 0);
			CHECK(d <= ceil_ms);
			if (d < lo)
				lo = d;
			if (d > hi)
				hi = d;
		}
		/* full jitter spreads over the whole range, not around the ceiling */
		CHECK(lo < ceil_ms / 4);
		CHECK(hi > ceil_ms * 3 / 4);
	}
}

TEST(retry, extremes_of_the_rng_give_zero_and_the_ceiling)
{
	uint64_t v = 4000; /* ceiling at attempt 3 from 1000 */

	CHECK_INT_EQ(retry_backoff_ms(3, 1000, 0, fixed_rng, &v), 4000);
	v = 4001;
	CHECK_INT_EQ(retry_backoff_ms(3, 1000, 0, fixed_rng, &v), 0);
	v = 0;
	CHECK_INT_EQ(retry_backoff_ms(9, 1000, 0, fixed_rng, &v), 0);
	v = RETRY_CAP_MS;
	CHECK_INT_EQ(retry_backoff_ms(30, 1000, 0, fixed_rng, &v), RETRY_CAP_MS);
	v = 12345;
	CHECK_INT_EQ(retry_backoff_ms(2, 0, 0, fixed_rng, &v), 0); /* no base, no wait */
}

TEST(retry, same_seed_same_schedule)
{
	uint64_t a = 42, b = 42, c = 43;
	int differs = 0;

	for (int attempt = 1; attempt <= 20; attempt++) {
		long da = retry_backoff_ms(attempt, 1000, 0, retry_rng_xorshift, &a);
		long db = retry_backoff_ms(attempt, 1000, 0, retry_rng_xorshift, &b);
		long dc = retry_backoff_ms(attempt, 1000, 0, retry_rng_xorshift, &c);
		CHECK_INT_EQ(da, db);
		differs |= da != dc;
	}
	CHECK(differs);
}

TEST(retry, default_rng_respects_bounds)
{
	for (int i = 0; i < 200; i++) {
		long d = retry_backoff_ms(2, 100, 0, NULL, NULL);
		CHECK(d >= 0 && d <= 200);
	}
}

TEST(retry, retry_after_wins_when_longer)
{
	uint64_t v = 1000; /* attempt 1 from base 1000: draws 1000 */

	CHECK_INT_EQ(retry_delay_ms(1, 1000, 5000, fixed_rng, &v), 5000);
	CHECK_INT_EQ(retry_delay_ms(1, 1000, 300, fixed_rng, &v), 1000);
	CHECK_INT_EQ(retry_delay_ms(1, 1000, 0, fixed_rng, &v), 1000);
	v = 7;
	CHECK_INT_EQ(retry_delay_ms(20, 1000, -1, fixed_rng, &v), 7);
}

TEST(retry, fields_set_get_remove)
{
	struct retry_fields f;
	const char *v;
	size_t len = 0;

	retry_fields_init(&f);
	retry_fields_add(&f, "type", 4, "question", 8);
	retry_fields_add(&f, "attempt", 7, "1", 1);
	retry_fields_add(&f, "id", 2, "Ev1", 3);
	retry_fields_set(&f, "attempt", "2");
	CHECK_INT_EQ(f.n, 3);
	v = retry_fields_get(&f, "attempt", &len);
	CHECK(v && len == 1 && v[0] == '2');
	retry_fields_set(&f, "note", "x");
	CHECK_INT_EQ(f.n, 4);
	retry_fields_remove(&f, "type");
	CHECK_INT_EQ(f.n, 3);
	CHECK(retry_fields_get(&f, "type", NULL) == NULL);
	v = retry_fields_get(&f, "id", &len);
	CHECK(v && len == 3 && !memcmp(v, "Ev1", 3));
	retry_fields_release(&f);
	CHECK_INT_EQ(f.n, 0);
}

TEST(retry, member_is_json_carrying_every_field)
{
	struct retry_fields f;
	const char text[] = "say \"hi\"\nand \\ bye";
	json_t *root = NULL, *arr;
	json_error_t je;
	size_t len = 0;
	char *m;

	retry_fields_init(&f);
	retry_fields_add(&f, "type", 4, "question", 8);
	retry_fields_add(&f, "text", 4, text, sizeof(text) - 1);
	retry_fields_add(&f, "attempt", 7, "2", 1);
	m = retry_member("1700000000000-3", &f, &len);
	retry_fields_release(&f);
	CHECK_INT_EQ(len, strlen(m));
	root = json_loads(m, 0, &je);
	free(m);
	CHECK(root != NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(root, "u")), "1700000000000-3");
	arr = json_object_get(root, "f");
	if (!json_is_array(arr) || json_array_size(arr) != 6) {
		json_decref(root);
		CHECK(!"f is an array of 6 strings");
	}
	CHECK_STR_EQ(json_string_value(json_array_get(arr, 1)), "question");
	CHECK_STR_EQ(json_string_value(json_array_get(arr, 3)), text);
	CHECK_STR_EQ(json_string_value(json_array_get(arr, 4)), "attempt");
	CHECK_STR_EQ(json_string_value(json_array_get(arr, 5)), "2");
	json_decref(root);
}

TEST(retry, delay_fits_the_task_state_life)
{
	int64_t enq = 1700000000000LL, life = 3600 * 1000;

	/* time left: the delay as asked */
	CHECK_INT_EQ(retry_delay_within(5000, enq + 1000, enq, life), 5000);
	/* a Retry-After past the state's life is brought forward to what is left */
	CHECK_INT_EQ(retry_delay_within(900000, enq + life - 60000, enq, life), 60000);
	/* nothing left, or already past: give up */
	CHECK_INT_EQ(retry_delay_within(1000, enq + life, enq, life), -1);
	CHECK_INT_EQ(retry_delay_within(0, enq + life + 5, enq, life), -1);
	/* unknown enqueue time: unchanged */
	CHECK_INT_EQ(retry_delay_within(900000, enq, 0, life), 900000);
}
