/*
 * haink-worker: consumes the task stream and answers questions; also the
 * operators' admin verbs. See worker/admin/cli.h and `haink-worker help`.
 */
#include "common.h"
#include "admin/cli.h"
#include "queue/emf.h"
#include "queue/worker_ctx.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

struct verb {
	const char *name;
	int (*fn)(int, char **, struct worker_env *);
	const char *usage;
};

static const struct verb verbs[] = {
    {"run", cli_run, "run                                   consume tasks (the worker process)"},
    {"ingest", cli_ingest, "ingest PATH... [--source-url URL] [--reindex]"},
    {"ask", cli_ask, "ask \"question\" [--user U] [--agent A]"},
    {"kb", cli_kb, "kb stats | search \"query\" [-k N] | drop"},
    {"dlq", cli_dlq, "dlq list [--limit N] | replay ID | replay --all | purge"},
    {"memory", cli_memory, "memory list|forget --user U [--team T] [--agent A]"},
    {"chat", cli_chat, "chat show THREAD | clear THREAD"},
    {"forget-user", cli_forget_user,
     "forget-user USER [--team T]         erase a person everywhere"},
    {"stats", cli_stats, "stats [--days N]"},
    {"doctor", cli_doctor, "doctor"},
    {"healthcheck", cli_healthcheck,
     "healthcheck                           GET /healthz on METRICS_PORT"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: haink-worker VERB [ARGS]\n\nverbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %s\n", verbs[i].usage);
	fprintf(
	    f,
	    "  print-config                          show the configuration (secrets redacted)\n");
	fprintf(f,
		"  --check-config                        validate configuration and agents file, "
		"exit 0/2\n");
	fprintf(f, "\nverbs other than run log warnings and errors only; -v logs at LOG_LEVEL\n");
}

/*
 * Long on purpose: configuration, logging and the agents file, then the verb
 * table; main() only dispatches, every verb lives in admin/.
 */
int main(int argc, char **argv)
{
	static struct worker_env env;
	struct config cfg;
	struct agents agents;
	struct buf problems = BUF_INIT;
	struct err e = {0};
	const char *name = argc > 1 ? argv[1] : NULL;
	const struct verb *v = NULL;
	int verbose = 0;
	int rc;

	if (!name) { /* no verb: say how to start, never join a queue by accident */
		usage(stderr);
		return 2;
	}
	if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].name, name))
			v = &verbs[i];
	if (!v && strcmp(name, "print-config") && strcmp(name, "--check-config")) {
		fprintf(stderr, "haink-worker: unknown verb '%s'\n", name);
		usage(stderr);
		return 2;
	}
	if (config_load(&cfg, CONFIG_WORKER, NULL, NULL, &problems) < 0) {
		fprintf(stderr, "haink-worker: invalid configuration:\n%s", problems.s);
		buf_release(&problems);
		config_release(&cfg);
		return 2;
	}
	buf_release(&problems);
	if (rds_tls_configure(cfg.redis_tls_ca_file, cfg.redis_tls_cert_file,
			      cfg.redis_tls_key_file, cfg.redis_tls_server_name, &e) < 0) {
		fprintf(stderr, "haink-worker: invalid configuration:\n%s\n", e.msg);
		config_release(&cfg);
		return 2;
	}
	if (!v && strcmp(name, "--check-config")) {
		config_dump(&cfg, &problems);
		fputs(problems.s, stdout);
		buf_release(&problems);
		config_release(&cfg);
		return 0;
	}
	/* admin verbs print results, not info logs, unless -v (dropped from argv here) */
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			verbose = 1;
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	log_setup("worker",
		  (v && v->fn == cli_run) || verbose || cfg.log_level > LOG_WARN
		      ? (enum log_level)cfg.log_level
		      : LOG_WARN,
		  cfg.log_format == 0);
	if (agents_load(&agents, cfg.agents_file, &e) < 0) {
		fprintf(stderr, "haink-worker: %s\n", e.msg);
		agents_release(&agents);
		config_release(&cfg);
		return 2;
	}
	if (!v) { /* --check-config: configuration and agents file load, nothing started */
		printf("haink-worker: configuration ok\n");
		agents_release(&agents);
		config_release(&cfg);
		return 0;
	}
	http_global_init();
	http_set_max_body((size_t)cfg.upstream_max_body_bytes);
	signal(SIGPIPE, SIG_IGN);
	env.cfg = &cfg;
	env.agents = &agents;
	if (gethostname(env.hostname, sizeof(env.hostname) - 1) < 0)
		snprintf(env.hostname, sizeof(env.hostname), "worker");
	atomic_init(&env.stopping, 0);

	/* queue-depth EMF publisher (worker/queue/emf.h): `run` only, when QUEUE_METRICS_EMF is set
	 */
	struct emf *emf = v->fn == cli_run ? emf_start(&env, &e) : NULL;
	if (!emf && e.code)
		log_kv(LOG_WARN, "queue metrics (EMF) not started", "error", e.msg, NULL);
	rc = v->fn(argc - 1, argv + 1, &env);
	emf_stop(emf);

	agents_release(&agents);
	config_release(&cfg);
	return rc;
}
