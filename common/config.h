/*
 * config.h - every setting of haink-api and haink-worker, read from the
 * environment through one table (config.c), validated at start.
 *
 * config_load() reports every problem at once (one line each) so an operator
 * fixes them in one pass; main() prints them and exits 2. Secrets are never
 * printed: config_dump() shows "(set)" for them. After loading, a struct config
 * is read-only and shared by all threads.
 */
#ifndef HAINK_CONFIG_H
#define HAINK_CONFIG_H

#include <stddef.h>

struct buf;

enum config_role { CONFIG_API = 1, CONFIG_WORKER = 2 };
enum llm_provider { LLM_OPENAI = 0, LLM_OFFLINE };
enum vector_backend { VECTOR_AUTO = 0, VECTOR_REDIS, VECTOR_LOCAL };
enum vector_algorithm { VECTOR_HNSW = 0, VECTOR_FLAT };
enum memory_scope { MEMORY_SCOPE_USER = 0, MEMORY_SCOPE_THREAD };
/*
 * auto: Slack's native stream (chat.startStream), chat.update edits where Slack
 * refuses it; on: the native stream only; edits: chat.update edits only; off:
 * the answer when it is done.
 */
enum slack_streaming {
	SLACK_STREAMING_AUTO = 0,
	SLACK_STREAMING_OFF,
	SLACK_STREAMING_ON,
	SLACK_STREAMING_EDITS
};
enum slack_feedback { SLACK_FEEDBACK_NATIVE = 0, SLACK_FEEDBACK_BUTTONS };

struct config {
	char *redis_url;
	char *redis_tls_ca_file;
	char *redis_tls_cert_file;
	char *redis_tls_key_file;
	char *redis_tls_server_name;
	char *docket_name;
	char *app_id;
	char *slack_signing_secret;
	char *slack_bot_token;
	char *slack_api_url;
	char *slack_app_token;	      /* SLACK_APP_TOKEN: Socket Mode on (api/socket_mode.h) */
	int slack_socket_connections; /* SLACK_SOCKET_CONNECTIONS: concurrent Socket Mode links */
	int slack_streaming;	      /* enum slack_streaming: auto types the answer out */
	int slack_stream_interval_ms; /* SLACK_STREAM_INTERVAL_MS: least time between edits */
	int slack_feedback;	      /* enum slack_feedback: Slack's element or classic buttons */
	int llm_provider;	      /* enum llm_provider */
	char *openai_api_key;
	char *openai_base_url;
	char *chat_model;
	char *embedding_model;
	int embedding_dim;
	char *tavily_api_key;
	char *tavily_api_url;
	int port;
	int api_metrics_port; /* API_METRICS_PORT: the API's /metrics (0 = off) */
	int api_threads;
	long max_body_bytes;
	int dedupe_ttl_s;
	long stream_maxlen;
	int worker_concurrency;
	int metrics_port;
	int queue_metrics_emf; /* QUEUE_METRICS_EMF: worker/queue/emf.h publisher on */
	int redelivery_timeout_ms;
	int max_attempts;
	int retry_base_ms;
	int shutdown_grace_s;
	int agent_max_iterations;
	int llm_timeout_s;
	long upstream_max_body_bytes;
	int vector_backend;    /* enum vector_backend */
	int vector_algorithm;  /* enum vector_algorithm */
	int vector_ef_runtime; /* HNSW EF_RUNTIME per KNN query; 0 = the server's default */
	int kb_top_k;
	int embed_cache_ttl_s;
	int answer_ttl_s; /* ANSWER_TTL_S: answer:<id> expiry, 0 = kept forever */
	int chat_max_messages;
	int chat_ttl_s;
	int memory_top_k;
	int memory_store_turns;
	int memory_scope; /* enum memory_scope */
	double memory_vector_weight;
	double memory_text_weight;
	char *agents_file;
	int answers_per_thread_hour;
	int answers_per_user_hour;
	int web_search_per_thread_hour;
	char *ui_token;
	int log_level;	/* enum log_level */
	int log_format; /* 0 json, 1 text */
};

/* Looks a variable up; returns borrowed or NULL. The default reads the process environment. */
typedef const char *config_getenv_fn(const char *name, void *ctx);

/*
 * Fills cfg from the environment for the given role (CONFIG_API, CONFIG_WORKER
 * or both or'ed). Returns 0, or -1 after appending one line per problem
 * ("PORT: must be an integer from 1 to 65535, got 'abc'") to problems.
 * getenv_fn NULL uses getenv(). cfg owns its strings; release with
 * config_release() in either case.
 */
int config_load(struct config *cfg, int role, config_getenv_fn *getenv_fn, void *ctx,
		struct buf *problems);

void config_release(struct config *cfg);

/* Appends NAME=value lines for every setting, secrets shown as "(set)" or "(unset)". */
void config_dump(const struct config *cfg, struct buf *out);

/* Number of known variables and the name of the i-th (for tests and `doctor`). */
size_t config_var_count(void);
const char *config_var_name(size_t i);

#endif
