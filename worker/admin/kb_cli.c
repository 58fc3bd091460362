/*
 * kb_cli.c - the `ingest` and `kb` verbs of haink-worker.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "admin/cli.h"
#include "kb/kb.h"
#include "kb/ingest.h"

#include <stdlib.h>

#define KB_CLI_TIMEOUT_MS 30000

/* ERR_INVALID (bad input, model mismatch) and ERR_AUTH (a wrong key) are the operator's to fix:
 * exit 2. */
static int fail(const char *verb, const struct err *e)
{
	fprintf(stderr, "haink-worker %s: %s\n", verb, e->msg);
	return e->code == ERR_INVALID || e->code == ERR_AUTH ? 2 : 1;
}

int cli_ingest(int argc, char **argv, struct worker_env *env)
{
	struct ingest_opts o = {0};
	struct ingest_summary sum;
	const char **paths = xcalloc((size_t)argc + 1, sizeof(*paths));
	struct worker_ctx w;
	struct err e = {0};
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reindex")) {
			o.reindex = 1;
		} else if (!strcmp(argv[i], "--source-url") && i + 1 < argc) {
			o.source_url = argv[++i];
		} else if (!strncmp(argv[i], "--source-url=", 13)) {
			o.source_url = argv[i] + 13;
		} else if ((!strcmp(argv[i], "--max-files") || !strcmp(argv[i], "--max-bytes")) &&
			   i + 1 < argc) {
			char *end;
			unsigned long long v = strtoull(argv[i + 1], &end, 10);
			if (*end || !v || argv[i + 1][0] == '-') {
				fprintf(stderr, "haink-worker ingest: %s wants a positive number\n",
					argv[i]);
				free(paths);
				return 2;
			}
			if (argv[i][6] == 'f')
				o.max_files = (size_t)v;
			else
				o.max_bytes = (size_t)v;
			i++;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr,
				"haink-worker ingest: unknown option '%s'\nusage: "
				"haink-worker ingest PATH... [--source-url URL] [--reindex] "
				"[--max-files N] "
				"[--max-bytes N]\n",
				argv[i]);
			free(paths);
			return 2;
		} else {
			paths[o.npaths++] = argv[i];
		}
	}
	if (!o.npaths) {
		fprintf(stderr, "usage: haink-worker ingest PATH... [--source-url URL] [--reindex] "
				"[--max-files N] [--max-bytes N]\n");
		free(paths);
		return 2;
	}
	o.paths = paths;
	o.progress = stderr;
	if (worker_ctx_init(&w, env, 0, KB_CLI_TIMEOUT_MS, &e) < 0) {
		free(paths);
		return fail("ingest", &e);
	}
	rc = ingest_run(&w, &o, &sum, &e) < 0 ? fail("ingest", &e) : 0;
	worker_ctx_release(&w);
	free(paths);
	return rc;
}

static int kb_stats_verb(struct worker_ctx *w)
{
	struct kb_stats st;
	struct err e = {0};
	int backend = VECTOR_LOCAL;

	if (kb_stats_get(w, &st, &e) < 0)
		return fail("kb stats", &e);
	if (kb_resolve_backend(w, &backend, &e) < 0)
		return fail("kb stats", &e);
	printf("chunks:      %lld\n", st.chunks);
	printf("sources:     %lld\n", st.sources);
	printf("model:       %s\n", st.model[0] ? st.model : "(none)");
	printf("dim:         %d\n", st.dim);
	printf("backend:     %s (ingested with %s)\n", backend == VECTOR_REDIS ? "redis" : "local",
	       st.backend[0] ? st.backend : "-");
	printf("version:     %lld\n", st.version);
	printf("cache keys:  %lld\n", st.cache_keys);
	if (st.model[0] && (strcmp(st.model, w->env->cfg->embedding_model) ||
			    st.dim != w->env->cfg->embedding_dim))
		printf("warning:     configured %s (dim %d) differs: re-ingest with --reindex\n",
		       w->env->cfg->embedding_model, w->env->cfg->embedding_dim);
	return 0;
}

static void first_line(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	while (*s == '\n' || *s == ' ')
		s++;
	while (s[n] && s[n] != '\n')
		n++;
	if (n >= cap) { /* cut at a character boundary */
		n = utf8_floor(s, n, cap - 4);
		snprintf(out, cap, "%.*s...", (int)n, s);
	} else {
		snprintf(out, cap, "%.*s", (int)n, s);
	}
}

static int kb_search_verb(struct worker_ctx *w, int argc, char **argv)
{
	const char *query = NULL;
	int k = w->env->cfg->kb_top_k, rc = 0;
	struct kb *kb;
	struct kb_result res = {0};
	struct err e = {0};

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-k") && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 1 || v > 100) {
				fprintf(stderr, "haink-worker kb search: -k must be 1 to 100\n");
				return 2;
			}
			k = (int)v;
		} else if (!query) {
			query = argv[i];
		} else {
			fprintf(stderr, "usage: haink-worker kb search \"query\" [-k N]\n");
			return 2;
		}
	}
	if (!query || !*query) {
		fprintf(stderr, "usage: haink-worker kb search \"query\" [-k N]\n");
		return 2;
	}
	kb = kb_open(w, &e);
	if (!kb)
		return fail("kb search", &e);
	if (kb_search(kb, w, query, k, &res, &e) < 0) {
		rc = fail("kb search", &e);
	} else {
		if (!res.n)
			printf("no results (backend %s)\n", kb_backend_name(kb));
		for (size_t i = 0; i < res.n; i++) {
			char line[200];
			first_line(res.hits[i].content, line, sizeof(line));
			printf("%zu. %.4f  %s\n   %s\n   %s\n", i + 1, res.hits[i].score,
			       res.hits[i].title, res.hits[i].source, line);
		}
	}
	kb_result_release(&res);
	kb_close(kb);
	return rc;
}

int cli_kb(int argc, char **argv, struct worker_env *env)
{
	const char *sub = argc > 1 ? argv[1] : "";
	struct worker_ctx w;
	struct err e = {0};
	int rc;

	if (strcmp(sub, "stats") && strcmp(sub, "search") && strcmp(sub, "drop")) {
		fprintf(stderr, "usage: haink-worker kb stats | search \"query\" [-k N] | drop\n");
		return 2;
	}
	if (worker_ctx_init(&w, env, 0, KB_CLI_TIMEOUT_MS, &e) < 0)
		return fail("kb", &e);
	if (!strcmp(sub, "stats")) {
		rc = kb_stats_verb(&w);
	} else if (!strcmp(sub, "search")) {
		rc = kb_search_verb(&w, argc, argv);
	} else {
		size_t n = 0;
		if (kb_drop(&w, &n, &e) < 0) {
			rc = fail("kb drop", &e);
		} else {
			printf("dropped %zu chunks\n", n);
			rc = 0;
		}
	}
	worker_ctx_release(&w);
	return rc;
}
