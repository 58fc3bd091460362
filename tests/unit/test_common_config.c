/*
 * Unit tests of common/config.c through a fake environment: defaults, every
 * problem reported at once, each kind of bad value, derived defaults, and the
 * redaction of secrets in config_dump().
 */
#include "common.h"

#include "../harness/test.h"

/* A fake environment: NULL-terminated name, value pairs. */
static const char *fake_getenv(const char *name, void *ctx)
{
	const char *const *kv = ctx;

	for (; kv && kv[0]; kv += 2)
		if (!strcmp(kv[0], name))
			return kv[1];
	return NULL;
}

static int load(struct config *cfg, int role, const char *const *env, struct buf *problems)
{
	return config_load(cfg, role, fake_getenv, (void *)env, problems);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

TEST(config, api_defaults)
{
	static const char *const env[] = {"SLACK_SIGNING_SECRET", "shh", NULL};
	struct config cfg;
	struct buf p = BUF_INIT;

	CHECK_INT_EQ(load(&cfg, CONFIG_API, env, &p), 0);
	CHECK_STR_EQ(p.s, "");
	CHECK_STR_EQ(cfg.redis_url, "redis://127.0.0.1:6379/0");
	CHECK_STR_EQ(cfg.docket_name, "haink");
	CHECK_STR_EQ(cfg.app_id, "haink");
	CHECK_STR_EQ(cfg.slack_signing_secret, "shh");
	CHECK_INT_EQ(cfg.port, 8080);
	CHECK_INT_EQ(cfg.api_threads,
		     128); /* a thread per open connection: room for idle keep-alive clients */
	CHECK_INT_EQ(cfg.max_body_bytes, 1048576);
	CHECK_INT_EQ(cfg.dedupe_ttl_s, 86400);
	CHECK_INT_EQ(cfg.stream_maxlen, 100000);
	CHECK_INT_EQ(cfg.log_level, LOG_INFO);
	CHECK_INT_EQ(cfg.log_format, 0);
	CHECK(cfg.agents_file == NULL);
	CHECK(cfg.ui_token == NULL);
	config_release(&cfg);
	CHECK(cfg.redis_url == NULL);
	buf_release(&p);
}

TEST(config, worker_defaults_offline_without_key)
{
	static const char *const env[] = {NULL};
	struct config cfg;
	struct buf p = BUF_INIT;

	CHECK_INT_EQ(load(&cfg, CONFIG_WORKER, env, &p), 0);
	CHECK_INT_EQ(cfg.llm_provider, LLM_OFFLINE);
	CHECK_STR_EQ(cfg.embedding_model, "haink-hash-v1");
	CHECK_INT_EQ(cfg.embedding_dim, 384);
	CHECK_STR_EQ(cfg.slack_api_url, "https://slack.com/api");
	CHECK_STR_EQ(cfg.openai_base_url, "https://api.openai.com/v1");
	CHECK_STR_EQ(cfg.chat_model, "gpt-4o-mini");
	CHECK(cfg.slack_bot_token == NULL);
	CHECK_INT_EQ(cfg.worker_concurrency, 8);
	CHECK_INT_EQ(cfg.metrics_port, 9090);
	CHECK_INT_EQ(cfg.redelivery_timeout_ms, 60000);
	CHECK_INT_EQ(cfg.max_attempts, 5);
	CHECK_INT_EQ(cfg.agent_max_iterations, 25);
	CHECK_INT_EQ(cfg.vector_backend, VECTOR_AUTO);
	CHECK_INT_EQ(cfg.vector_algorithm, VECTOR_HNSW);
	CHECK_INT_EQ(cfg.memory_store_turns, 1);
	CHECK_INT_EQ(cfg.web_search_per_thread_hour, 3);
	CHECK_NEAR(cfg.memory_vector_weight, 0.7, 1e-12);
	config_release(&cfg);
	buf_release(&p);
}

TEST(config, openai_when_key_set)
{
	static const char *const env[] = {"OPENAI_API_KEY", "sk-test", NULL};
	struct config cfg;
	struct buf p = BUF_INIT;

	CHECK_INT_EQ(load(&cfg, CONFIG_WORKER, env, &p), 0);
	CHECK_INT_EQ(cfg.llm_provider, LLM_OPENAI);
	CHECK_STR_EQ(cfg.embedding_model, "text-embedding-3-small");
	CHECK_INT_EQ(cfg.embedding_dim, 1536);
	config_release(&cfg);
	buf_release(&p);
}

TEST(config, explicit_values)
{
	static const char *const env[] = {"SLACK_SIGNING_SECRET",
					  "s",
					  "PORT",
					  "9000",
					  "API_THREADS",
					  "2",
					  "MAX_BODY_BYTES",
					  "2048",
					  "LOG_LEVEL",
					  "WARN",
					  "LOG_FORMAT",
					  "text",
					  "VECTOR_BACKEND",
					  "local",
					  "VECTOR_ALGORITHM",
					  "flat",
					  "MEMORY_STORE_TURNS",
					  "off",
					  "LLM_PROVIDER",
					  "offline",
					  "OPENAI_API_KEY",
					  "sk",
					  "EMBEDDING_DIM",
					  "64",
					  "OPENAI_BASE_URL",
					  "http://127.0.0.1:1234/v1/",
					  "MEMORY_TEXT_WEIGHT",
					  "0.25",
					  "DOCKET_NAME",
					  "", /* empty means default */
					  NULL};
	struct config cfg;
	struct buf p = BUF_INIT;

	CHECK_INT_EQ(load(&cfg, CONFIG_API | CONFIG_WORKER, env, &p), 0);
	CHECK_INT_EQ(cfg.port, 9000);
	CHECK_INT_EQ(cfg.api_threads, 2);
	CHECK_INT_EQ(cfg.max_body_bytes, 2048);
	CHECK_INT_EQ(cfg.log_level, LOG_WARN);
	CHECK_INT_EQ(cfg.log_format, 1);
	CHECK_INT_EQ(cfg.vector_backend, VECTOR_LOCAL);
	CHECK_INT_EQ(cfg.vector_algorithm, VECTOR_FLAT);
	CHECK_INT_EQ(cfg.memory_store_turns, 0);
	CHECK_INT_EQ(cfg.llm_provider, LLM_OFFLINE); /* explicit beats the key */
	CHECK_INT_EQ(cfg.embedding_dim, 64);
	CHECK_STR_EQ(cfg.openai_base_url, "http://127.0.0.1:1234/v1"); /* trailing '/' dropped */
	CHECK_NEAR(cfg.memory_text_weight, 0.25, 1e-12);
	CHECK_STR_EQ(cfg.docket_name, "haink");
	config_release(&cfg);
	buf_release(&p);
}

TEST(config, every_problem_reported_at_once)
{
	static const char *const env[] = {"PORT",
					  "abc",
					  "API_THREADS",
					  "0",
					  "MAX_BODY_BYTES",
					  "99999999999999999999",
					  "LOG_LEVEL",
					  "loud",
					  "MEMORY_STORE_TURNS",
					  "maybe",
					  "SLACK_API_URL",
					  "ftp://slack.example",
					  "REDIS_URL",
					  "http://127.0.0.1:6379",
					  "DOCKET_NAME",
					  "a{b}",
					  "MEMORY_VECTOR_WEIGHT",
					  "1.5",
					  NULL};
	struct config cfg;
	struct buf p = BUF_INIT;

	CHECK_INT_EQ(load(&cfg, CONFIG_API, env, &p), -1);
	CHECK_STR_CONTAINS(p.s, "PORT: must be an integer from 1 to 65535, got 'abc'\n");
	CHECK_STR_CONTAINS(p.s, "API_THREADS: must be an integer from 1 to 1024, got '0'\n");
	CHECK_STR_CONTAINS(p.s, "MAX_BODY_BYTES: must be an integer from 1024 to");
	CHECK_STR_CONTAINS(p.s, "LOG_LEVEL: must be one of debug|info|warn|error, got 'loud'\n");
	CHECK_STR_CONTAINS(p.s, "MEMORY_STORE_TURNS: must be true or false, got 'maybe'\n");
	CHECK_STR_CONTAINS(p.s, "SLACK_API_URL: must be an http:// or https:// URL");
	CHECK_STR_CONTAINS(p.s, "REDIS_URL: unsupported redis url scheme");
	CHECK_STR_CONTAINS(p.s, "DOCKET_NAME: must not contain");
	CHECK_STR_CONTAINS(p.s, "MEMORY_VECTOR_WEIGHT: must be a number from 0 to 1, got '1.5'\n");
	CHECK_STR_CONTAINS(p.s, "SLACK_SIGNING_SECRET: required");
	CHECK_INT_EQ(count_lines(p.s), 10);
	config_release(&cfg);
	buf_release(&p);
}

TEST(config, problems_never_echo_secrets)
{
	static const char *const env[] = {"REDIS_URL", "redis://u:hunter2@h:notaport",
					  "SLACK_SIGNING_SECRET", "topsecret", NULL};
	struct config cfg;
	struct buf p = BUF_INIT;

	CHECK_INT_EQ(load(&cfg, CONFIG_API, env, &p), -1);
	CHECK_STR_CONTAINS(p.s, "REDIS_URL: bad port");
	CHECK(!strstr(p.s, "hunter2"));
	CHECK(!strstr(p.s, "topsecret"));
	config_release(&cfg);
	buf_release(&p);
}

TEST(config, signing_secret_only_required_by_api)
{
	static const char *const env[] = {NULL};
	struct config cfg;
	struct buf p = BUF_INIT;

	CHECK_INT_EQ(load(&cfg, CONFIG_WORKER, env, &p), 0);
	config_release(&cfg);
	CHECK_INT_EQ(load(&cfg, CONFIG_API, env, &p), -1);
	CHECK_STR_EQ(
	    p.s, "SLACK_SIGNING_SECRET: required by haink-api (the Slack app's signing secret)\n");
	config_release(&cfg);
	buf_release(&p);
}

TEST(config, openai_provider_needs_key_for_openai_com)
{
	static const char *const env[] = {"LLM_PROVIDER", "openai", NULL};
	static const char *const local[] = {"LLM_PROVIDER", "openai", "OPENAI_BASE_URL",
					    "http://127.0.0.1:11434/v1", NULL};
	struct config cfg;
	struct buf p = BUF_INIT;

	CHECK_INT_EQ(load(&cfg, CONFIG_WORKER, env, &p), -1);
	CHECK_STR_CONTAINS(p.s, "OPENAI_API_KEY: required");
	config_release(&cfg);
	buf_reset(&p);
	/* a local OpenAI-compatible server (Ollama, vLLM) needs no key */
	CHECK_INT_EQ(load(&cfg, CONFIG_WORKER, local, &p), 0);
	CHECK_INT_EQ(cfg.llm_provider, LLM_OPENAI);
	config_release(&cfg);
	buf_release(&p);
}

TEST(config, dump_redacts_secrets)
{
	static const char *const env[] = {"SLACK_SIGNING_SECRET",
					  "sign-me-secret",
					  "OPENAI_API_KEY",
					  "sk-very-secret",
					  "REDIS_URL",
					  "redis://admin:p%40ssw0rd@redis.internal:6380/2",
					  NULL};
	struct config cfg;
	struct buf p = BUF_INIT, out = BUF_INIT;

	CHECK_INT_EQ(load(&cfg, CONFIG_API | CONFIG_WORKER, env, &p), 0);
	config_dump(&cfg, &out);
	CHECK_STR_CONTAINS(out.s, "SLACK_SIGNING_SECRET=(set)\n");
	CHECK_STR_CONTAINS(out.s, "OPENAI_API_KEY=(set)\n");
	CHECK_STR_CONTAINS(out.s, "SLACK_BOT_TOKEN=(unset)\n");
	CHECK_STR_CONTAINS(out.s, "UI_TOKEN=(unset)\n");
	CHECK_STR_CONTAINS(out.s, "REDIS_URL=redis://admin:***@redis.internal:6380/2\n");
	CHECK_STR_CONTAINS(out.s, "PORT=8080\n");
	CHECK_STR_CONTAINS(out.s, "LOG_LEVEL=info\n");
	CHECK_STR_CONTAINS(out.s, "MEMORY_STORE_TURNS=true\n");
	CHECK_STR_CONTAINS(out.s, "VECTOR_ALGORITHM=HNSW\n");
	CHECK_STR_CONTAINS(out.s, "MAX_BODY_BYTES=1048576\n");
	CHECK(!strstr(out.s, "sign-me-secret"));
	CHECK(!strstr(out.s, "sk-very-secret"));
	CHECK(!strstr(out.s, "p%40ssw0rd"));
	CHECK(!strstr(out.s, "p@ssw0rd"));
	/* one line per variable */
	CHECK_INT_EQ(count_lines(out.s), config_var_count());
	config_release(&cfg);
	buf_release(&p);
	buf_release(&out);
}

TEST(config, variable_table)
{
	int have_redis = 0, have_port = 0;

	CHECK(config_var_count() > 40);
	for (size_t i = 0; i < config_var_count(); i++) {
		have_redis |= !strcmp(config_var_name(i), "REDIS_URL");
		have_port |= !strcmp(config_var_name(i), "PORT");
	}
	CHECK(have_redis && have_port);
	CHECK(config_var_name(config_var_count()) == NULL);
}

TEST(config, app_token_makes_signing_secret_optional)
{
	static const char *const env[] = {"SLACK_APP_TOKEN", "xapp-1-A1-2-abc", NULL};
	static const char *const bad[] = {"SLACK_APP_TOKEN", "xoxb-bot-token",
					  "SLACK_SOCKET_CONNECTIONS", "0", NULL};
	struct config cfg;
	struct buf p = BUF_INIT;
	struct buf out = BUF_INIT;

	CHECK_INT_EQ(load(&cfg, CONFIG_API, env, &p), 0);
	CHECK_STR_EQ(cfg.slack_app_token, "xapp-1-A1-2-abc");
	CHECK_INT_EQ(cfg.slack_socket_connections, 2);
	CHECK_STR_EQ(cfg.slack_api_url, "https://slack.com/api");
	config_dump(&cfg, &out);
	CHECK_STR_CONTAINS(out.s, "SLACK_APP_TOKEN=(set)\n");
	CHECK(strstr(out.s, "xapp-1") == NULL);
	config_release(&cfg);
	CHECK_INT_EQ(load(&cfg, CONFIG_API, bad, &p), -1);
	CHECK_STR_CONTAINS(p.s, "SLACK_APP_TOKEN: must be an app-level token");
	CHECK_STR_CONTAINS(p.s, "SLACK_SOCKET_CONNECTIONS: must be an integer from 1 to 10");
	config_release(&cfg);
	buf_release(&p);
	buf_release(&out);
}
