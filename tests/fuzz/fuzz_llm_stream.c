/* Streamed chat completions (common/sse.c, common/llm_stream.c): any bytes, any split. */
#include "fuzz.h"
#include "llm_stream.h"

static int count_text(void *ctx, const char *text, size_t n)
{
	size_t *total = ctx;

	*total += n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t total = 0, step;
	struct llm_stream *s;
	struct err e = {0};
	json_t *r = NULL;

	fuzz_quiet();
	if (size < 1)
		return 0;
	step = (size_t)data[0] % 17 + 1; /* the network splits the body anywhere */
	data++;
	size--;
	s = llm_stream_new(count_text, &total);
	for (size_t i = 0; i < size; i += step)
		if (llm_stream_feed(s, (const char *)data + i, i + step > size ? size - i : step,
				    &e) < 0)
			goto out;
	r = llm_stream_finish(s, &e);
	if (r && !json_is_object(
		     json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message")))
		__builtin_trap(); /* every assembled reply has choices[0].message */
out:
	json_decref(r);
	llm_stream_free(s);
	return 0;
}
