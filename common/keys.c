#include "common.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

char *keys_tasks(const char *docket)
{
	return xasprintf("docket:{%s}:tasks", docket);
}

char *keys_seen(const char *docket, const char *event_id)
{
	return xasprintf("docket:{%s}:seen:%s", docket, event_id);
}

char *keys_scheduled(const char *docket)
{
	return xasprintf("docket:{%s}:scheduled", docket);
}

char *keys_dead(const char *docket)
{
	return xasprintf("docket:{%s}:dead", docket);
}

char *keys_task_state(const char *docket, const char *task_id)
{
	return xasprintf("task:{%s}:%s", docket, task_id);
}

char *keys_answer(const char *answer_id)
{
	return xasprintf("answer:%s", answer_id);
}

char *keys_rag_doc(const char *source_id, int n)
{
	return xasprintf(KEYS_RAG_PREFIX "%s:%d", source_id, n);
}

char *keys_rag_source_pattern(const char *source_id)
{
	return xasprintf(KEYS_RAG_PREFIX "%s:*", source_id);
}

const char *keys_kb_meta(void)
{
	return "kb:meta";
}

const char *keys_kb_sources(void)
{
	return "kb:sources";
}

char *keys_embedding(const char *model, const char *text, size_t text_len)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char out[sizeof(KEYS_EMBEDDING_PREFIX) + 2 * SHA256_DIGEST_LENGTH];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t off = strlen(KEYS_EMBEDDING_PREFIX);

	if (!ctx)
		abort();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, model, strlen(model) + 1); /* the model name and its NUL */
	EVP_DigestUpdate(ctx, text, text_len);
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	memcpy(out, KEYS_EMBEDDING_PREFIX, off);
	hex_encode(out + off, md, sizeof(md));
	return xstrdup(out);
}

char *keys_chat(const char *team, const char *channel, const char *thread_ts)
{
	return xasprintf("chat:%s:%s:%s", team, channel, thread_ts);
}

char *keys_assistant(const char *team, const char *channel, const char *thread_ts)
{
	return xasprintf("assistant:%s:%s:%s", team, channel, thread_ts);
}

char *keys_memory(const char *app, const char *agent, const char *user, const char *id)
{
	return xasprintf(KEYS_MEMORY_PREFIX "%s:%s:%s:%s", app, agent, user, id);
}

char *keys_memory_scope(const char *app, const char *agent, const char *user)
{
	return xasprintf(KEYS_MEMORY_PREFIX "%s:%s:%s", app, agent, user);
}

char *keys_rl_web(const char *team, const char *channel, const char *thread_ts)
{
	return xasprintf("rate_limit:web:%s:%s:%s", team, channel, thread_ts);
}

char *keys_rl_thread(const char *team, const char *channel, const char *thread_ts)
{
	return xasprintf("rate_limit:thread:%s:%s:%s", team, channel, thread_ts);
}

char *keys_rl_user(const char *team, const char *user)
{
	return xasprintf("rate_limit:user:%s:%s", team, user);
}

char *keys_metrics_day(const char *date)
{
	return xasprintf("metrics:%s", date);
}

char *keys_ui_session(const char *session)
{
	return xasprintf("ui:%s", session);
}

char *keys_emf_leader(const char *docket)
{
	return xasprintf("docket:{%s}:emf-leader", docket);
}

/* Appends s with the glob metacharacters of SCAN MATCH escaped. */
static void glob_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (strchr("*?[]\\^-", *s))
			buf_addch(b, '\\');
		buf_addch(b, *s);
	}
}

static char *memory_match(const char *app, const char *agent, const char *user, int hashes)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, KEYS_MEMORY_PREFIX);
	glob_escape(&b, app);
	buf_addch(&b, ':');
	if (agent)
		glob_escape(&b, agent);
	else
		buf_addch(&b, '*');
	buf_addch(&b, ':');
	glob_escape(&b, user);
	if (hashes)
		buf_adds(&b, ":*");
	return buf_detach(&b, NULL);
}

char *keys_memory_scope_match(const char *app, const char *agent, const char *user)
{
	return memory_match(app, agent, user, 0);
}

char *keys_memory_hash_match(const char *app, const char *agent, const char *user)
{
	return memory_match(app, agent, user, 1);
}

char *keys_memory_scope_match_all_ns(const char *app, const char *user)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, KEYS_MEMORY_PREFIX);
	glob_escape(&b, app);
	buf_adds(&b, ":*:*/"); /* every agent, every namespace */
	glob_escape(&b, user);
	return buf_detach(&b, NULL);
}

const char *keys_answer_match(void)
{
	return "answer:*";
}

char *keys_rl_user_match(const char *user)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, "rate_limit:user:*:");
	glob_escape(&b, user);
	return buf_detach(&b, NULL);
}
