/* The API's JSON fast path (api/jdoc.c): parse, then walk every node. */
#include "fuzz.h"
#include "jdoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jdoc d;

	memset(&d, 0, sizeof(d));
	if (jdoc_parse(&d, (const char *)data, size) == 0) {
		int root = 0;
		(void)jdoc_type(&d, root);
		(void)jdoc_get_str(&d, root, "type");
		(void)jdoc_get_str(&d, jdoc_get(&d, root, "event"), "text");
		(void)jdoc_str(&d, jdoc_at(&d, jdoc_get(&d, root, "authorizations"), 0));
	}
	jdoc_release(&d);
	return 0;
}
