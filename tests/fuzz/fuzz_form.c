/* Form bodies (common/form.c): lookups and both decoders. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	int bad = 0;

	free(form_get(s, size, "payload", &bad));
	free(form_get(s, size, "text", &bad));
	free(form_decode(s, size));
	free(form_pct_decode(s, size));
	return 0;
}
