/* The chunker (worker/kb/chunk.c) on Markdown and plain text, with small chunk sizes. */
#include "fuzz.h"
#include "kb/chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chunk_list l;
	struct chunk_opts o;

	if (size < 1)
		return 0;
	memset(&l, 0, sizeof(l));
	memset(&o, 0, sizeof(o));
	o.target = 64 + data[0];
	chunk_document((const char *)data + 1, size - 1, data[0] & 1 ? CHUNK_TEXT : CHUNK_MARKDOWN,
		       &o, &l);
	chunk_list_release(&l);
	return 0;
}
