/* OpenAI-compatible Chat Completions replies (worker/agent/llm.c). */
#include "fuzz.h"
#include "agent/llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct llm_reply r;
	struct err e = {0};

	llm_reply_init(&r);
	if (llm_parse_reply((const char *)data, size, &r, &e) == 0)
		json_decref(llm_assistant_message(&r));
	llm_reply_release(&r);
	return 0;
}
