/* REDIS_URL parsing and redaction (common/rds.c). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = fuzz_str(data, size);
	struct rds_url u;
	struct err e = {0};

	if (rds_url_parse(url, &u, &e) == 0)
		rds_url_release(&u);
	free(rds_url_redact(url));
	free(url);
	return 0;
}
