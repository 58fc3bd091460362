#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum cfg_type { CT_STR, CT_SECRET, CT_URL, CT_INT, CT_LONG, CT_BOOL, CT_ENUM, CT_DOUBLE };

/*
 * One row per environment variable. def NULL means "no default" (the field
 * stays NULL / 0, or a derived default is filled in by derive_defaults()).
 * For CT_ENUM, choices is a '|'-separated list and the field gets the index.
 */
struct cfg_var {
	const char *name;
	enum cfg_type type;
	size_t offset;
	const char *def;
	long min, max;
	const char *choices;
	int roles;
};

#define OFF(f) offsetof(struct config, f)
#define BOTH   (CONFIG_API | CONFIG_WORKER)
#define CFG_STR(n, f, d, r)                                                                        \
	{                                                                                          \
		n, CT_STR, OFF(f), d, 0, 0, NULL, r                                                \
	}
#define CFG_SECRET(n, f, r)                                                                        \
	{                                                                                          \
		n, CT_SECRET, OFF(f), NULL, 0, 0, NULL, r                                          \
	}
#define CFG_URL(n, f, d, r)                                                                        \
	{                                                                                          \
		n, CT_URL, OFF(f), d, 0, 0, NULL, r                                                \
	}
#define CFG_INT(n, f, d, lo, hi, r)                                                                \
	{                                                                                          \
		n, CT_INT, OFF(f), d, lo, hi, NULL, r                                              \
	}
#define CFG_LONG(n, f, d, lo, hi, r)                                                               \
	{                                                                                          \
		n, CT_LONG, OFF(f), d, lo, hi, NULL, r                                             \
	}
#define CFG_BOOL(n, f, d, r)                                                                       \
	{                                                                                          \
		n, CT_BOOL, OFF(f), d, 0, 1, NULL, r                                               \
	}
#define CFG_ENUM(n, f, d, ch, r)                                                                   \
	{                                                                                          \
		n, CT_ENUM, OFF(f), d, 0, 0, ch, r                                                 \
	}
#define CFG_DOUBLE(n, f, d, lo, hi, r)                                                             \
	{                                                                                          \
		n, CT_DOUBLE, OFF(f), d, lo, hi, NULL, r                                           \
	}

static const struct cfg_var vars[] = {
    CFG_STR("REDIS_URL", redis_url, "redis://127.0.0.1:6379/0", BOTH),
    CFG_STR("REDIS_TLS_CA_FILE", redis_tls_ca_file, NULL, BOTH),
    CFG_STR("REDIS_TLS_CERT_FILE", redis_tls_cert_file, NULL, BOTH),
    CFG_STR("REDIS_TLS_KEY_FILE", redis_tls_key_file, NULL, BOTH),
    CFG_STR("REDIS_TLS_SERVER_NAME", redis_tls_server_name, NULL, BOTH),
    CFG_STR("DOCKET_NAME", docket_name, "haink", BOTH),
    CFG_STR("APP_ID", app_id, "haink", BOTH),
    CFG_SECRET("SLACK_SIGNING_SECRET", slack_signing_secret, CONFIG_API),
    CFG_SECRET("SLACK_BOT_TOKEN", slack_bot_token, CONFIG_WORKER),
    CFG_URL("SLACK_API_URL", slack_api_url, "https://slack.com/api", BOTH),
    CFG_SECRET("SLACK_APP_TOKEN", slack_app_token, CONFIG_API),
    CFG_INT("SLACK_SOCKET_CONNECTIONS", slack_socket_connections, "2", 1, 10, CONFIG_API),
    CFG_ENUM("SLACK_STREAMING", slack_streaming, "auto", "auto|off|on|edits", CONFIG_WORKER),
    CFG_ENUM("SLACK_FEEDBACK", slack_feedback, "native", "native|buttons", CONFIG_WORKER),
    CFG_INT("SLACK_STREAM_INTERVAL_MS", slack_stream_interval_ms, "1000", 200, 60000,
	    CONFIG_WORKER),
    CFG_ENUM("LLM_PROVIDER", llm_provider, NULL, "openai|offline", CONFIG_WORKER),
    CFG_SECRET("OPENAI_API_KEY", openai_api_key, CONFIG_WORKER),
    CFG_URL("OPENAI_BASE_URL", openai_base_url, "https://api.openai.com/v1", CONFIG_WORKER),
    CFG_STR("CHAT_MODEL", chat_model, "gpt-4o-mini", CONFIG_WORKER),
    CFG_STR("EMBEDDING_MODEL", embedding_model, NULL, CONFIG_WORKER),
    CFG_INT("EMBEDDING_DIM", embedding_dim, NULL, 8, 8192, CONFIG_WORKER),
    CFG_SECRET("TAVILY_API_KEY", tavily_api_key, CONFIG_WORKER),
    CFG_URL("TAVILY_API_URL", tavily_api_url, "https://api.tavily.com", CONFIG_WORKER),
    CFG_INT("PORT", port, "8080", 1, 65535, CONFIG_API),
    CFG_INT("API_METRICS_PORT", api_metrics_port, "9091", 0, 65535, CONFIG_API),
    CFG_INT("API_THREADS", api_threads, "128", 1, 1024, CONFIG_API),
    CFG_LONG("MAX_BODY_BYTES", max_body_bytes, "1048576", 1024, 64L * 1024 * 1024, CONFIG_API),
    CFG_INT("DEDUPE_TTL_S", dedupe_ttl_s, "86400", 1, 30 * 86400, CONFIG_API),
    CFG_LONG("STREAM_MAXLEN", stream_maxlen, "100000", 100, 1000000000L, BOTH),
    CFG_INT("WORKER_CONCURRENCY", worker_concurrency, "8", 1, 1024, CONFIG_WORKER),
    CFG_INT("METRICS_PORT", metrics_port, "9090", 0, 65535, CONFIG_WORKER),
    CFG_BOOL("QUEUE_METRICS_EMF", queue_metrics_emf, "false", CONFIG_WORKER),
    CFG_INT("REDELIVERY_TIMEOUT_MS", redelivery_timeout_ms, "60000", 400, 86400000, CONFIG_WORKER),
    CFG_INT("MAX_ATTEMPTS", max_attempts, "5", 1, 100, CONFIG_WORKER),
    CFG_INT("RETRY_BASE_MS", retry_base_ms, "1000", 1, 600000, CONFIG_WORKER),
    CFG_INT("SHUTDOWN_GRACE_S", shutdown_grace_s, "25", 0, 3600, BOTH),
    CFG_INT("AGENT_MAX_ITERATIONS", agent_max_iterations, "25", 1, 200, CONFIG_WORKER),
    CFG_INT("LLM_TIMEOUT_S", llm_timeout_s, "60", 1, 3600, CONFIG_WORKER),
    CFG_LONG("UPSTREAM_MAX_BODY_BYTES", upstream_max_body_bytes, "8388608", 65536,
	     1024L * 1024 * 1024, CONFIG_WORKER),
    CFG_ENUM("VECTOR_BACKEND", vector_backend, "auto", "auto|redis|local", CONFIG_WORKER),
    CFG_ENUM("VECTOR_ALGORITHM", vector_algorithm, "HNSW", "HNSW|FLAT", CONFIG_WORKER),
    CFG_INT("VECTOR_EF_RUNTIME", vector_ef_runtime, "200", 0, 100000, CONFIG_WORKER),
    CFG_INT("KB_TOP_K", kb_top_k, "5", 1, 100, CONFIG_WORKER),
    CFG_INT("EMBED_CACHE_TTL_S", embed_cache_ttl_s, "86400", 1, 365 * 86400, CONFIG_WORKER),
    CFG_INT("ANSWER_TTL_S", answer_ttl_s, "7776000", 0, 10 * 365 * 86400, CONFIG_WORKER),
    CFG_INT("CHAT_MAX_MESSAGES", chat_max_messages, "50", 2, 10000, CONFIG_WORKER),
    CFG_INT("CHAT_TTL_S", chat_ttl_s, "604800", 60, 365 * 86400, CONFIG_WORKER),
    CFG_INT("MEMORY_TOP_K", memory_top_k, "5", 0, 100, CONFIG_WORKER),
    CFG_BOOL("MEMORY_STORE_TURNS", memory_store_turns, "true", CONFIG_WORKER),
    CFG_ENUM("MEMORY_SCOPE", memory_scope, "user", "user|thread", CONFIG_WORKER),
    CFG_DOUBLE("MEMORY_VECTOR_WEIGHT", memory_vector_weight, "0.7", 0, 1, CONFIG_WORKER),
    CFG_DOUBLE("MEMORY_TEXT_WEIGHT", memory_text_weight, "0.3", 0, 1, CONFIG_WORKER),
    CFG_STR("AGENTS_FILE", agents_file, NULL, BOTH),
    CFG_INT("ANSWERS_PER_THREAD_HOUR", answers_per_thread_hour, "20", 0, 1000000, CONFIG_WORKER),
    CFG_INT("ANSWERS_PER_USER_HOUR", answers_per_user_hour, "60", 0, 1000000, CONFIG_WORKER),
    CFG_INT("WEB_SEARCH_PER_THREAD_HOUR", web_search_per_thread_hour, "3", 0, 1000000,
	    CONFIG_WORKER),
    CFG_SECRET("UI_TOKEN", ui_token, CONFIG_API),
    CFG_ENUM("LOG_LEVEL", log_level, "info", "debug|info|warn|error", BOTH),
    CFG_ENUM("LOG_FORMAT", log_format, "json", "json|text", BOTH),
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

size_t config_var_count(void)
{
	return NVARS;
}

const char *config_var_name(size_t i)
{
	return i < NVARS ? vars[i].name : NULL;
}

static const char *env_getenv(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

/* Returns the index of value in the '|'-list choices, or -1. */
static int enum_index(const char *choices, const char *value)
{
	size_t n = strlen(value);
	int i = 0;

	for (const char *p = choices; *p; i++) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && !strncasecmp(p, value, n))
			return i;
		if (!bar)
			break;
		p = bar + 1;
	}
	return -1;
}

static const char *enum_name(const char *choices, int idx, char *out, size_t outsz)
{
	const char *p = choices;

	for (int i = 0; i < idx && p; i++) {
		p = strchr(p, '|');
		if (p)
			p++;
	}
	if (!p)
		return "?";
	size_t len = strcspn(p, "|");
	if (len >= outsz)
		len = outsz - 1;
	memcpy(out, p, len);
	out[len] = '\0';
	return out;
}

static int parse_long(const char *s, long *out)
{
	char *end;

	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	if (!strcasecmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
	    !strcasecmp(s, "on"))
		*out = 1;
	else if (!strcasecmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
		 !strcasecmp(s, "off"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int set_var(struct config *cfg, const struct cfg_var *v, const char *value,
		   struct buf *problems)
{
	char *base = (char *)cfg + v->offset;
	long l;
	double d;
	char *end;
	int i;

	switch (v->type) {
	case CT_STR:
	case CT_SECRET:
		*(char **)base = xstrdup(value);
		return 0;
	case CT_URL:
		if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8)) {
			buf_addf(problems, "%s: must be an http:// or https:// URL, got '%s'\n",
				 v->name, value);
			return -1;
		}
		*(char **)base = xstrndup(value, strlen(value) - (value[strlen(value) - 1] == '/'));
		return 0;
	case CT_INT:
	case CT_LONG:
		if (parse_long(value, &l) || l < v->min || l > v->max) {
			buf_addf(problems, "%s: must be an integer from %ld to %ld, got '%s'\n",
				 v->name, v->min, v->max, value);
			return -1;
		}
		if (v->type == CT_INT)
			*(int *)base = (int)l;
		else
			*(long *)base = l;
		return 0;
	case CT_BOOL:
		if (parse_bool(value, &i)) {
			buf_addf(problems, "%s: must be true or false, got '%s'\n", v->name, value);
			return -1;
		}
		*(int *)base = i;
		return 0;
	case CT_ENUM:
		i = enum_index(v->choices, value);
		if (i < 0) {
			buf_addf(problems, "%s: must be one of %s, got '%s'\n", v->name, v->choices,
				 value);
			return -1;
		}
		*(int *)base = i;
		return 0;
	case CT_DOUBLE:
		errno = 0;
		d = strtod(value, &end);
		if (errno || end == value || *end || d < (double)v->min || d > (double)v->max) {
			buf_addf(problems, "%s: must be a number from %ld to %ld, got '%s'\n",
				 v->name, v->min, v->max, value);
			return -1;
		}
		*(double *)base = d;
		return 0;
	}
	return -1;
}

/* REDIS_TLS_*: only with rediss://, on a TLS build, readable, cert and key together. */
static void check_tls_vars(const struct config *cfg, int tls, struct buf *problems)
{
	const struct {
		const char *name, *value;
	} v[] = {
	    {"REDIS_TLS_CA_FILE", cfg->redis_tls_ca_file},
	    {"REDIS_TLS_CERT_FILE", cfg->redis_tls_cert_file},
	    {"REDIS_TLS_KEY_FILE", cfg->redis_tls_key_file},
	    {"REDIS_TLS_SERVER_NAME", cfg->redis_tls_server_name},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (!v[i].value)
			continue;
		if (!rds_tls_supported())
			buf_addf(problems,
				 "%s: this build has no TLS (hiredis without TLS support)\n",
				 v[i].name);
		else if (!tls)
			buf_addf(problems, "%s: set, but REDIS_URL is not rediss://\n", v[i].name);
		else if (i < 3 && access(v[i].value, R_OK) != 0)
			buf_addf(problems, "%s: cannot read '%s': %s\n", v[i].name, v[i].value,
				 strerror(errno));
	}
	if (!cfg->redis_tls_cert_file != !cfg->redis_tls_key_file)
		buf_addf(problems,
			 "REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE: set both or neither\n");
}

int config_load(struct config *cfg, int role, config_getenv_fn *getenv_fn, void *ctx,
		struct buf *problems)
{
	size_t before = problems->len;
	int provider_set = 0;

	memset(cfg, 0, sizeof(*cfg));
	if (!getenv_fn)
		getenv_fn = env_getenv;
	for (size_t i = 0; i < NVARS; i++) {
		const struct cfg_var *v = &vars[i];
		const char *value = getenv_fn(v->name, ctx);
		if (value && !*value)
			value = NULL; /* an empty variable means "use the default" */
		if (value && !strcmp(v->name, "LLM_PROVIDER"))
			provider_set = 1;
		if (!value)
			value = v->def;
		if (value)
			set_var(cfg, v, value, problems);
	}

	/* Derived defaults: offline mode is the default without an API key. */
	if (!provider_set)
		cfg->llm_provider = cfg->openai_api_key ? LLM_OPENAI : LLM_OFFLINE;
	if (!cfg->embedding_model)
		cfg->embedding_model = xstrdup(
		    cfg->llm_provider == LLM_OFFLINE ? "haink-hash-v1" : "text-embedding-3-small");
	if (!cfg->embedding_dim)
		cfg->embedding_dim = cfg->llm_provider == LLM_OFFLINE ? 384 : 1536;

	if ((role & CONFIG_API) && !cfg->slack_signing_secret && !cfg->slack_app_token)
		buf_addf(problems, "SLACK_SIGNING_SECRET: required by haink-api (the Slack app's "
				   "signing secret)\n");
	if ((role & CONFIG_API) && cfg->slack_app_token &&
	    strncmp(cfg->slack_app_token, "xapp-", 5))
		buf_addf(problems, "SLACK_APP_TOKEN: must be an app-level token (xapp-…) with the "
				   "connections:write scope\n");
	if ((role & CONFIG_WORKER) && cfg->llm_provider == LLM_OPENAI && provider_set &&
	    !cfg->openai_api_key &&
	    strstr(cfg->openai_base_url ? cfg->openai_base_url : "", "api.openai.com"))
		buf_addf(problems, "OPENAI_API_KEY: required when LLM_PROVIDER=openai talks to "
				   "api.openai.com\n");
	if (cfg->docket_name && strpbrk(cfg->docket_name, "{}: "))
		buf_addf(problems,
			 "DOCKET_NAME: must not contain '{', '}', ':' or spaces, got '%s'\n",
			 cfg->docket_name);
	if (cfg->redis_url) {
		struct rds_url u;
		struct err e;
		if (rds_url_parse(cfg->redis_url, &u, &e) < 0) {
			buf_addf(problems, "REDIS_URL: %s\n", e.msg);
		} else {
			check_tls_vars(cfg, u.tls, problems);
			rds_url_release(&u);
		}
	}
	if ((role & CONFIG_API) && cfg->api_metrics_port && cfg->api_metrics_port == cfg->port)
		buf_addf(problems,
			 "API_METRICS_PORT: must differ from PORT (%d), or be 0 for no "
			 "/metrics\n",
			 cfg->port);
	if (cfg->memory_vector_weight + cfg->memory_text_weight <= 0)
		buf_addf(problems, "MEMORY_VECTOR_WEIGHT, MEMORY_TEXT_WEIGHT: at least one must be "
				   "above 0\n");
	return problems->len == before ? 0 : -1;
}

void config_release(struct config *cfg)
{
	for (size_t i = 0; i < NVARS; i++) {
		enum cfg_type t = vars[i].type;
		if (t == CT_STR || t == CT_SECRET || t == CT_URL) {
			char **p = (char **)((char *)cfg + vars[i].offset);
			free(*p);
			*p = NULL;
		}
	}
}

void config_dump(const struct config *cfg, struct buf *out)
{
	char name[32];

	for (size_t i = 0; i < NVARS; i++) {
		const struct cfg_var *v = &vars[i];
		const char *base = (const char *)cfg + v->offset;
		const char *s;

		buf_addf(out, "%s=", v->name);
		switch (v->type) {
		case CT_SECRET:
			buf_adds(out, *(char *const *)base ? "(set)" : "(unset)");
			break;
		case CT_STR:
		case CT_URL:
			s = *(char *const *)base;
			if (s && !strcmp(v->name, "REDIS_URL")) {
				char *r = rds_url_redact(s);
				buf_adds(out, r);
				free(r);
			} else {
				buf_adds(out, s ? s : "");
			}
			break;
		case CT_INT:
		case CT_BOOL:
			if (v->type == CT_BOOL)
				buf_adds(out, *(const int *)base ? "true" : "false");
			else
				buf_addf(out, "%d", *(const int *)base);
			break;
		case CT_LONG:
			buf_addf(out, "%ld", *(const long *)base);
			break;
		case CT_ENUM:
			buf_adds(out,
				 enum_name(v->choices, *(const int *)base, name, sizeof(name)));
			break;
		case CT_DOUBLE:
			buf_addf(out, "%g", *(const double *)base);
			break;
		}
		buf_addch(out, '\n');
	}
}
