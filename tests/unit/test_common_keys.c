/*
 * Unit tests of common/keys.c: the exact name of every key, hash tags on the
 * docket keys, and the embedding cache key checked against digests computed
 * independently (Python hashlib) when this test was written.
 */
#include <stdlib.h>

#include "common.h"

#include "../harness/test.h"

#define CHECK_KEY(expr, want)                                                                      \
	do {                                                                                       \
		char *k_ = (expr);                                                                 \
		int ok_ = k_ && !strcmp(k_, want);                                                 \
		if (!ok_)                                                                          \
			test_fail(__FILE__, __LINE__, "%s = \"%s\", want \"%s\"", #expr,           \
				  k_ ? k_ : "(null)", want);                                       \
		free(k_);                                                                          \
		if (!ok_)                                                                          \
			return;                                                                    \
	} while (0)

TEST(keys, docket_keys_share_a_hash_tag)
{
	CHECK_KEY(keys_tasks("haink"), "docket:{haink}:tasks");
	CHECK_KEY(keys_seen("haink", "Ev0123ABC"), "docket:{haink}:seen:Ev0123ABC");
	CHECK_KEY(keys_seen("prod", "fb:1700000000.123456"),
		  "docket:{prod}:seen:fb:1700000000.123456");
	CHECK_KEY(keys_scheduled("haink"), "docket:{haink}:scheduled");
	CHECK_KEY(keys_dead("haink"), "docket:{haink}:dead");
	CHECK_KEY(keys_task_state("haink", "Ev1"), "task:{haink}:Ev1");
	CHECK_KEY(keys_task_state("d2", "cmd:123.456"), "task:{d2}:cmd:123.456");
}

/* Redis Cluster hashes only what is between the first '{' and the next '}'. */
static void hash_tag(const char *key, char *out, size_t outsz)
{
	const char *l = strchr(key, '{'), *r = l ? strchr(l + 1, '}') : NULL;

	snprintf(out, outsz, "%.*s", l && r ? (int)(r - l - 1) : 0, l ? l + 1 : "");
}

TEST(keys, enqueue_keys_land_in_one_slot)
{
	char *seen = keys_seen("team-a", "Ev{weird}"), *tasks = keys_tasks("team-a");
	char t1[64], t2[64];

	hash_tag(seen, t1, sizeof(t1));
	hash_tag(tasks, t2, sizeof(t2));
	free(seen);
	free(tasks);
	CHECK_STR_EQ(t1, "team-a");
	CHECK_STR_EQ(t2, "team-a");
}

TEST(keys, worker_keys)
{
	CHECK_KEY(keys_answer("a1b2"), "answer:a1b2");
	CHECK_KEY(keys_rag_doc("src9", 0), "rag_doc:src9:0");
	CHECK_KEY(keys_rag_doc("src9", 17), "rag_doc:src9:17");
	CHECK_KEY(keys_rag_source_pattern("src9"), "rag_doc:src9:*");
	CHECK_STR_EQ(keys_kb_meta(), "kb:meta");
	CHECK_STR_EQ(keys_kb_sources(), "kb:sources");
	CHECK_KEY(keys_chat("T1", "C2", "1700000000.000100"), "chat:T1:C2:1700000000.000100");
	CHECK_KEY(keys_memory("haink", "default", "U1", "m42"), "memory:haink:default:U1:m42");
	CHECK_KEY(keys_memory_scope("haink", "support", "U1"), "memory:haink:support:U1");
	CHECK_KEY(keys_rl_web("T1", "C2", "17.1"), "rate_limit:web:T1:C2:17.1");
	CHECK_KEY(keys_rl_thread("T1", "C2", "17.1"), "rate_limit:thread:T1:C2:17.1");
	CHECK_KEY(keys_rl_user("T1", "U3"), "rate_limit:user:T1:U3");
	CHECK_KEY(keys_metrics_day("2026-11-22"), "metrics:2026-11-22");
	CHECK_KEY(keys_ui_session("s-123"), "ui:s-123");
	CHECK_STR_EQ(KEYS_GROUP, "workers");
	CHECK(!strncmp(KEYS_RAG_PREFIX, "rag_doc:", 8));
	CHECK(!strncmp(KEYS_MEMORY_PREFIX, "memory:", 7));
}

TEST(keys, embedding_is_sha256_of_model_nul_text)
{
	/* python3: hashlib.sha256(b"text-embedding-3-small\0hello world").hexdigest() */
	CHECK_KEY(keys_embedding("text-embedding-3-small", "hello world", 11),
		  "embedding:b56dbf3cdc2f7cd7d222d2b98bf93c6e9f200857cab604b522b980baed0c06f2");
	/* empty text: sha256(b"m\0") */
	CHECK_KEY(keys_embedding("m", "", 0),
		  "embedding:187355b101e4d1f66c7948f93d109b63e1e0e5ec14eba8043e6428aff3a3e4ca");
	/* UTF-8 text: sha256("haink-hash-v1\0café ☃".encode()) */
	CHECK_KEY(keys_embedding("haink-hash-v1", "caf\xc3\xa9 \xe2\x98\x83", 9),
		  "embedding:2c3c634834275fd610633419a3d179f97d458f17afc067d33a8ade8e51ad77fb");
	/* only text_len bytes count */
	CHECK_KEY(keys_embedding("text-embedding-3-small", "hello world and more", 11),
		  "embedding:b56dbf3cdc2f7cd7d222d2b98bf93c6e9f200857cab604b522b980baed0c06f2");
}

TEST(keys, embedding_separates_model_from_text)
{
	/* "ab"+"c" and "a"+"bc" must differ: the NUL keeps the boundary */
	char *k1 = keys_embedding("ab", "c", 1), *k2 = keys_embedding("a", "bc", 2);
	int same = !strcmp(k1, k2);

	CHECK_INT_EQ(strlen(k1), strlen("embedding:") + 64);
	free(k1);
	free(k2);
	CHECK(!same);
}

TEST(keys, memory_scan_patterns_are_glob_escaped)
{
	CHECK_KEY(keys_memory_scope_match("haink", "default", "U1"), "memory:haink:default:U1");
	CHECK_KEY(keys_memory_hash_match("haink", "default", "U1"), "memory:haink:default:U1:*");
	/* agent NULL: every agent */
	CHECK_KEY(keys_memory_scope_match("haink", NULL, "U1"), "memory:haink:*:U1");
	CHECK_KEY(keys_memory_hash_match("haink", NULL, "U1"), "memory:haink:*:U1:*");
	/* glob metacharacters in ids are literal */
	CHECK_KEY(keys_memory_hash_match("my-app", "a?", "U*[1]"),
		  "memory:my\\-app:a\\?:U\\*\\[1\\]:*");
}
