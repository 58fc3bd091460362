/*
 * history.h - thread history: the list chat:<team>:<channel>:<thread_ts> of
 * JSON messages, one list element per message (docs/architecture.md, "Memory and history").
 *
 * Called by convo.c (load before each answer, append after it) and by the
 * `chat show|clear` verbs. Each element is a Chat Completions message plus a
 * "ts" (wall-clock ms) field:
 *   {"role":"user","content":"…","ts":1700000000123}
 *   {"role":"assistant","content":null,"tool_calls":[…],"ts":…}
 *   {"role":"tool","tool_call_id":"…","name":"…","content":"…","ts":…}
 *
 * Atomicity and the pair rule: history_append() runs one Lua script that
 * RPUSHes every message of a turn in one command, trims the list to at most
 * max messages and sets the TTL. The script looks at the first element it
 * would keep and moves the cut forward past "tool" messages, so the kept
 * window never starts with a tool result whose assistant tool_calls message
 * was trimmed; it never trims the newest message. A turn is always written
 * whole (an assistant tool_calls message followed by all its results), so
 * cutting only at non-tool elements never splits a pair, whatever other
 * threads append concurrently (a script runs alone on the server).
 *
 * Thread rules: pure functions over a caller-owned struct rds.
 */
#ifndef HAINK_HISTORY_H
#define HAINK_HISTORY_H

#include <jansson.h>
#include <stdint.h>

struct rds;
struct err;

/* Longest tool result kept in history, in bytes (cut on a UTF-8 boundary). */
#define HISTORY_TOOL_MAX 2048
/* Longest question or answer kept in history, in bytes. */
#define HISTORY_TEXT_MAX 16384
/* Most messages one turn may add (tool rounds beyond this are dropped whole). */
#define HISTORY_TURN_MAX 64

/*
 * Builds the messages of one turn (returns a new array; json_decref it):
 * the user question, then each assistant tool_calls message of
 * turn_messages (borrowed, may be NULL) whose every call has a tool result
 * in turn_messages, followed by those results (contents cut to
 * HISTORY_TOOL_MAX), then the assistant answer. Other messages of
 * turn_messages (plain assistant text, orphan results) are skipped. Every
 * message gets "ts" = now_ms.
 */
json_t *history_turn(const char *question, json_t *turn_messages, const char *answer,
		     int64_t now_ms);

/*
 * Appends msgs (array of message objects, borrowed) to the list key in one
 * atomic script: RPUSH all, trim to max messages without starting on a tool
 * result, EXPIRE ttl_s. Returns the list length after the trim, or -1 with
 * err (ERR_REDIS, ERR_INVALID for an empty array or max < 1).
 */
long history_append(struct rds *r, const char *key, json_t *msgs, int max, int ttl_s,
		    struct err *err);

/*
 * Appends the stored messages of key, oldest first, to out as Chat
 * Completions messages (without "ts"). Unparseable elements are skipped, a
 * leading tool result and any tool_calls message without all its results
 * are dropped, so the result is always valid to send. Returns the number
 * appended, or -1 with err.
 */
long history_load(struct rds *r, const char *key, json_t *out, struct err *err);

/* Appends the raw stored elements (with "ts") of key to out. Returns the count or -1. */
long history_raw(struct rds *r, const char *key, json_t *out, struct err *err);

/* Deletes the list. Returns 1 when it existed, 0 when not, -1 with err. */
int history_clear(struct rds *r, const char *key, struct err *err);

/*
 * Parses THREAD "<team>:<channel>:<thread_ts>" into three owned strings
 * (free each with free()). Returns 0, or -1 with ERR_INVALID.
 */
int history_thread_parse(const char *thread, char **team, char **channel, char **thread_ts,
			 struct err *err);

#endif
