/*
 * haink-api: verifies Slack requests and queues them on the Redis stream.
 *
 *   haink-api                 serve (configuration from the environment)
 *   haink-api --healthcheck   GET this host's /healthz on PORT; exit 0 when 200
 *   haink-api sign [FILE]     print Slack signature headers for FILE (or stdin)
 *                             with SLACK_SIGNING_SECRET, for curl and the demo
 *   haink-api --print-config  print the effective configuration (secrets redacted)
 *   haink-api --check-config  validate the configuration and agents file; exit 0 or 2
 */
#include "common.h"
#include "server.h"
#include "socket_mode.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

/*
 * Debian's civetweb starts its worker threads with 100 KB stacks (a
 * compile-time USE_STACK_SIZE) and has no option to change it. A handler
 * needs more headroom than that leaves: civetweb itself uses ~25 KB, hiredis
 * keeps a 16 KB read buffer on the stack, jansson recurses, and under
 * AddressSanitizer the static TLS taken from each stack leaves only ~40 KB.
 * So this binary interposes pthread_attr_setstacksize() and raises any
 * explicit stack size to API_MIN_STACK (untouched pages cost no memory).
 */
#define API_MIN_STACK (512 * 1024)

typedef int setstacksize_fn(pthread_attr_t *, size_t);
static setstacksize_fn *real_setstacksize;
static pthread_once_t setstacksize_once = PTHREAD_ONCE_INIT;

static void find_setstacksize(void)
{
	real_setstacksize = (setstacksize_fn *)dlsym(RTLD_NEXT, "pthread_attr_setstacksize");
}

int pthread_attr_setstacksize(pthread_attr_t *attr, size_t size)
{
	pthread_once(&setstacksize_once, find_setstacksize);
	if (!real_setstacksize)
		return EINVAL;
	return real_setstacksize(attr, size < API_MIN_STACK ? API_MIN_STACK : size);
}

static int usage(void)
{
	fprintf(
	    stderr,
	    "usage: haink-api [--healthcheck | --print-config | --check-config | sign [FILE]]\n");
	return 2;
}

static int load_config(struct config *cfg, int role)
{
	struct buf problems = BUF_INIT;
	struct err e = {0};

	if (config_load(cfg, role, NULL, NULL, &problems) < 0) {
		fprintf(stderr, "haink-api: invalid configuration:\n%s", problems.s);
		buf_release(&problems);
		config_release(cfg);
		return -1;
	}
	buf_release(&problems);
	if (rds_tls_configure(cfg->redis_tls_ca_file, cfg->redis_tls_cert_file,
			      cfg->redis_tls_key_file, cfg->redis_tls_server_name, &e) < 0) {
		fprintf(stderr, "haink-api: invalid configuration:\n%s\n", e.msg);
		config_release(cfg);
		return -1;
	}
	return 0;
}

/* getenv() that answers a stand-in for a missing SLACK_SIGNING_SECRET (print-config only). */
static const char *secret_optional_getenv(const char *name, void *ctx)
{
	const char *v = getenv(name);

	(void)ctx;
	if (!strcmp(name, "SLACK_SIGNING_SECRET") && (!v || !*v))
		return "print-config-placeholder";
	return v;
}

/* Loads the API configuration for --print-config: a missing secret is shown, not refused. */
static int print_config_load(struct config *cfg)
{
	const char *secret = getenv("SLACK_SIGNING_SECRET");
	struct buf problems = BUF_INIT;

	if (config_load(cfg, CONFIG_API, secret_optional_getenv, NULL, &problems) < 0) {
		fprintf(stderr, "haink-api: invalid configuration:\n%s", problems.s);
		buf_release(&problems);
		config_release(cfg);
		return -1;
	}
	buf_release(&problems);
	if (!secret || !*secret) {
		free(cfg->slack_signing_secret);
		cfg->slack_signing_secret = NULL;
	}
	return 0;
}

static int cmd_sign(const char *path)
{
	FILE *f = path && strcmp(path, "-") ? fopen(path, "rb") : stdin;
	const char *secret = getenv("SLACK_SIGNING_SECRET");
	struct buf body = BUF_INIT;
	char chunk[4096], ts[24], sig[SLACK_SIGN_LEN + 1];
	size_t n;

	if (!secret || !*secret) {
		fprintf(stderr, "haink-api sign: set SLACK_SIGNING_SECRET\n");
		return 2;
	}
	if (!f) {
		fprintf(stderr, "haink-api sign: cannot open '%s': %s\n", path, strerror(errno));
		return 1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&body, chunk, n);
	if (f != stdin)
		fclose(f);
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if (slack_sign_compute(secret, ts, body.s, body.len, sig) < 0) {
		buf_release(&body);
		return 1;
	}
	printf("X-Slack-Request-Timestamp: %s\nX-Slack-Signature: %s\n", ts, sig);
	buf_release(&body);
	return 0;
}

static int cmd_healthcheck(void)
{
	const char *port = getenv("PORT");
	struct http_client *c;
	struct http_transport t;
	struct http_request req = {"GET", NULL, NULL, NULL, 0, 2000, NULL, NULL};
	struct http_response resp;
	struct err e = {0};
	char url[64];
	int ok;

	snprintf(url, sizeof(url), "http://127.0.0.1:%s/healthz", port && *port ? port : "8080");
	req.url = url;
	http_global_init();
	c = http_client_new();
	if (!c)
		return 1;
	t = http_client_transport(c);
	http_response_init(&resp);
	ok = t.perform(t.ctx, &req, &resp, &e) == 0 && resp.status == 200;
	if (!ok)
		fprintf(stderr, "haink-api: unhealthy: %s\n", e.msg[0] ? e.msg : "bad status");
	http_response_release(&resp);
	http_client_free(c);
	return ok ? 0 : 1;
}

/*
 * Long on purpose: the process's life in order (flags, configuration,
 * logging, agents file, signals, server, Socket Mode, wait, drain), each
 * step one short block with its own failure exit.
 */
int main(int argc, char **argv)
{
	struct config cfg;
	struct agents agents;
	struct api_server *srv;
	struct socket_mode *sm = NULL;
	struct api_ready_check sm_check;
	struct err e = {0};
	sigset_t set;
	int sig = 0, rc;

	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			printf("usage: haink-api [--healthcheck | --print-config | sign [FILE]]\n");
			return 0;
		}
		if (!strcmp(argv[1], "--healthcheck"))
			return cmd_healthcheck();
		if (!strcmp(argv[1], "sign"))
			return cmd_sign(argc > 2 ? argv[2] : NULL);
		if (!strcmp(argv[1], "--check-config")) {
			/* configuration and agents file load; nothing is started */
			if (load_config(&cfg, CONFIG_API) < 0)
				return 2;
			rc = agents_load(&agents, cfg.agents_file, &e) < 0 ? 2 : 0;
			if (rc)
				fprintf(stderr, "haink-api: %s\n", e.msg);
			else
				printf("haink-api: configuration ok\n");
			agents_release(&agents);
			config_release(&cfg);
			return rc;
		}
		if (!strcmp(argv[1], "--print-config")) {
			struct buf out = BUF_INIT;
			/* every API check except the required secret: it may be set later
			 * (SLACK_SIGNING_SECRET then reads "(unset)") */
			if (print_config_load(&cfg) < 0)
				return 2;
			config_dump(&cfg, &out);
			fputs(out.s, stdout);
			buf_release(&out);
			config_release(&cfg);
			return 0;
		}
		return usage();
	}
	if (load_config(&cfg, CONFIG_API) < 0)
		return 2;
	log_setup("api", (enum log_level)cfg.log_level, cfg.log_format == 0);
	if (agents_load(&agents, cfg.agents_file, &e) < 0) {
		fprintf(stderr, "haink-api: %s\n", e.msg);
		agents_release(&agents);
		config_release(&cfg);
		return 2;
	}
	http_global_init();
	/* block the stop signals in every thread; main waits for them below */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	srv = api_server_start(&cfg, &agents, &e);
	if (!srv) {
		log_kv(LOG_ERROR, "cannot start", "error", e.msg, NULL);
		fprintf(stderr, "haink-api: %s\n", e.msg);
		agents_release(&agents);
		config_release(&cfg);
		return 1;
	}
	{
		char port[16], threads[16];
		snprintf(port, sizeof(port), "%d", cfg.port);
		snprintf(threads, sizeof(threads), "%d", cfg.api_threads);
		log_kv(LOG_INFO, "listening", "port", port, "threads", threads, "docket",
		       cfg.docket_name, NULL);
	}
	if (cfg.slack_app_token) {
		/* Socket Mode beside HTTP; /readyz waits for one open connection */
		sm = socket_mode_start(&cfg, &agents, &e);
		if (!sm) {
			log_kv(LOG_ERROR, "cannot start socket mode", "error", e.msg, NULL);
			api_server_stop(srv);
			agents_release(&agents);
			config_release(&cfg);
			return 1;
		}
		sm_check.ready = socket_mode_ready;
		sm_check.arg = sm;
		api_server_set_ready_check(srv, &sm_check);
		{
			char n[16];
			snprintf(n, sizeof(n), "%d", cfg.slack_socket_connections);
			log_kv(LOG_INFO, "socket mode on", "connections", n, NULL);
		}
	}
	sigwait(&set, &sig);
	log_kv(LOG_INFO, "stopping: finishing in-flight requests", "signal",
	       sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
	api_server_stop(srv); /* joins every handler: nobody reads sm_check any more */
	socket_mode_stop(sm);
	log_kv(LOG_INFO, "stopped", NULL);
	agents_release(&agents);
	config_release(&cfg);
	return 0;
}
