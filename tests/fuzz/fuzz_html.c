/* HTML pages to Markdown for the chunker (worker/kb/html.c). */
#include "fuzz.h"
#include "kb/html.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT;

	html_to_markdown((const char *)data, size, &out);
	buf_release(&out);
	return 0;
}
