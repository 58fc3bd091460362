/*
 * Weak fallbacks for verbs whose module has not landed yet: each reports that
 * the verb is unavailable (exit 1). A module defining the verb overrides its
 * fallback at link time. This file goes away once every verb exists.
 */
#include "common.h"
#include "cli.h"

#define PENDING(fn, verb)                                                                  \
	__attribute__((weak)) int fn(int argc, char **argv, struct worker_env *env)        \
	{                                                                                  \
		(void)argc;                                                                \
		(void)argv;                                                                \
		(void)env;                                                                 \
		fprintf(stderr, "haink-worker: '%s' is not available in this build\n",     \
			verb);                                                             \
		return 1;                                                                  \
	}

PENDING(cli_run, "run")
PENDING(cli_healthcheck, "healthcheck")
PENDING(cli_dlq, "dlq")
PENDING(cli_stats, "stats")
PENDING(cli_ingest, "ingest")
PENDING(cli_kb, "kb")
PENDING(cli_ask, "ask")
PENDING(cli_doctor, "doctor")
PENDING(cli_memory, "memory")
PENDING(cli_chat, "chat")
