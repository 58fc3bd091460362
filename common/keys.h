/* clang-format off */
/*
 * keys.h - every Redis key name the project uses, built in one place.
 *
 * No other module writes a key literal. Each function returns an owned string
 * (free with free()) unless noted. Thread-safe (pure functions).
 *
 * Key                                   type    TTL                 written by        read by
 * docket:{D}:tasks                      stream  acked entries trimmed; STREAM_MAXLEN caps the backlog  api (enqueue), worker (retry mover, dlq replay)  worker
 * docket:{D}:seen:<event_id>            string  DEDUPE_TTL_S        api (enqueue script)  api
 * docket:{D}:scheduled                  zset    none                worker (retry)    worker (mover)
 * docket:{D}:dead                       stream  never trimmed       worker            worker (dlq verbs)
 * task:{D}:<task id>                    hash    24 h                worker            worker
 * answer:<answer_id>                    hash    ANSWER_TTL_S (90 d) worker            worker (feedback, stats), ui
 * rag_doc:<source_id>:<n>               hash    none                worker (ingest)   worker (kb search)
 * kb:meta                               hash    none                worker (ingest)   worker
 * kb:sources                            hash    none                worker (ingest: source_id -> chunk count)  worker
 * embedding:<sha256(model NUL text)>    string  EMBED_CACHE_TTL_S   worker            worker
 * chat:<team>:<channel>:<thread_ts>     list    CHAT_TTL_S          worker            worker
 * assistant:<team>:<channel>:<thread_ts> hash  CHAT_TTL_S          worker            worker
 *   (a Slack assistant thread: context_channel = the channel the user views, titled = 1)
 * memory:<app>:<agent>:<ns>/<user>:<id> hash    none                worker            worker
 * memory:<app>:<agent>:<ns>/<user>      zset    none                worker            worker
 *   (<ns>: the source namespace, a Slack team id or "ui"; see memory.h)
 * rate_limit:web:<team>:<channel>:<ts>  string  1 h                 worker            worker
 * rate_limit:thread:<team>:<channel>:<ts> hash 1 h                  worker            worker
 * rate_limit:user:<team>:<user>         hash    1 h                 worker            worker
 *   (n = the count, m:<task id> = the count each task got: counted once per task)
 * metrics:<YYYY-MM-DD>                  hash    90 days             worker            worker (stats)
 * ui:<session>                          stream  1 h                 worker (ui sink)  api (ui)
 * docket:{D}:emf-leader                 string  lease (PX)          worker (emf)      worker (emf)
 * memory:<app>:<agent|*>:<user>[:*]     SCAN MATCH patterns over the two memory keys above
 *                                       (memory forget/list; glob-escaped)      worker
 *
 * D is DOCKET_NAME; the braces are a hash tag so a stream and its dedupe keys
 * live in one Redis Cluster slot and the enqueue script stays valid there.
 */
/* clang-format on */
#ifndef HAINK_KEYS_H
#define HAINK_KEYS_H

#include <stddef.h>

#define KEYS_GROUP	      "workers"
#define KEYS_RAG_PREFIX	      "rag_doc:"
#define KEYS_EMBEDDING_PREFIX "embedding:"
#define KEYS_RAG_INDEX	      "rag_doc_idx"
#define KEYS_MEMORY_PREFIX    "memory:"
#define KEYS_MEMORY_INDEX     "memory_idx"
#define KEYS_TASK_TTL_S	      (24 * 3600)
#define KEYS_METRICS_TTL_S    (90 * 86400)

char *keys_tasks(const char *docket);
char *keys_seen(const char *docket, const char *event_id);
char *keys_scheduled(const char *docket);
char *keys_dead(const char *docket);
char *keys_task_state(const char *docket, const char *task_id);
char *keys_answer(const char *answer_id);
char *keys_rag_doc(const char *source_id, int n);
/* MATCH pattern for every chunk of one source: rag_doc:<source_id>:* */
char *keys_rag_source_pattern(const char *source_id);
const char *keys_kb_meta(void);	   /* borrowed, static */
const char *keys_kb_sources(void); /* borrowed, static */
/* embedding:<hex sha256 of model, a NUL byte, then text> */
char *keys_embedding(const char *model, const char *text, size_t text_len);
char *keys_chat(const char *team, const char *channel, const char *thread_ts);
char *keys_assistant(const char *team, const char *channel, const char *thread_ts);
char *keys_memory(const char *app, const char *agent, const char *user, const char *id);
char *keys_memory_scope(const char *app, const char *agent, const char *user);
char *keys_rl_web(const char *team, const char *channel, const char *thread_ts);
char *keys_rl_thread(const char *team, const char *channel, const char *thread_ts);
char *keys_rl_user(const char *team, const char *user);
char *keys_metrics_day(const char *date);
char *keys_ui_session(const char *session);
/* Leader lease of the queue-depth EMF publisher (worker/queue/emf.h): docket:{D}:emf-leader */
char *keys_emf_leader(const char *docket);
/*
 * SCAN MATCH patterns for memory forget/list, with app, agent and user
 * glob-escaped (so "U1" matches only U1, and a '*' in a user id is literal).
 * agent NULL matches every agent. keys_memory_scope_match: the scope sets
 * memory:<app>:<agent>:<user>; keys_memory_hash_match: the memory hashes
 * memory:<app>:<agent>:<user>:*. Callers still check each key exactly.
 */
char *keys_memory_scope_match(const char *app, const char *agent, const char *user);
char *keys_memory_hash_match(const char *app, const char *agent, const char *user);

/*
 * SCAN MATCH patterns for `forget-user` (user glob-escaped): the memory scope
 * sets of user in every agent and namespace (memory:<app>:<any agent>:<any ns>/<user>), every
 * answer record, and the user's rate-limit counters in every team.
 */
char *keys_memory_scope_match_all_ns(const char *app, const char *user);
const char *keys_answer_match(void);
char *keys_rl_user_match(const char *user);

#endif
