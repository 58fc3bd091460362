/* The agents file (common/agents.c). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agents a;
	struct err e = {0};
	char *json = fuzz_str(data, size);

	memset(&a, 0, sizeof(a));
	if (agents_parse(&a, json, "fuzz", &e) == 0)
		(void)agents_route(&a, "C1");
	agents_release(&a);
	free(json);
	return 0;
}
