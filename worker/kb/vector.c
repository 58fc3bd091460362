/*
 * vector.c - what both vector backends share. See vector.h.
 */
#include "common.h"
#include "kb/vector.h"

#include <stdlib.h>

void kb_result_release(struct kb_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->n; i++) {
		free(res->hits[i].key);
		free(res->hits[i].title);
		free(res->hits[i].source);
		free(res->hits[i].content);
	}
	free(res->hits);
	res->hits = NULL;
	res->n = 0;
}
