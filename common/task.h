/*
 * task.h - a unit of work on the stream, and its codec to and from the flat
 * field/value pairs of a stream entry (docs/architecture.md, "The path of a question").
 *
 * The API fills a struct task from a Slack request and encodes it for XADD;
 * the worker decodes XREADGROUP entries back. Every string field is owned by
 * the task (NULL = absent; "" is kept as an empty field and round-trips).
 * Not thread-safe; a task belongs to one thread.
 */
#ifndef HAINK_TASK_H
#define HAINK_TASK_H

#include <stddef.h>
#include <stdint.h>

struct err;

/*
 * TASK_ASSISTANT: a Slack assistant-thread event (the AI app split view):
 * event = "thread_started" or "context_changed", context_channel = the
 * channel the user is viewing (may be empty), channel/thread_ts = the thread.
 */
enum task_type { TASK_QUESTION = 0, TASK_FEEDBACK, TASK_ASSISTANT };

struct task {
	enum task_type type;
	char *id; /* event_id, ui:<uuid>, cmd:<trigger_id>, fb:<action_ts> */
	char *team;
	char *channel;
	char *user;
	char *text;
	char *ts;
	char *thread_ts;    /* the event's thread_ts, else its ts */
	char *channel_type; /* im, channel, group, mpim */
	char *agent;
	char *source;	    /* slack, ui, cli */
	char *answer_id;    /* feedback tasks */
	char *feedback;	    /* feedback tasks: helpful / not_helpful */
	char *response_url; /* slash commands: Slack's reply URL, used when the bot cannot post */
	char *event;	    /* assistant tasks: thread_started / context_changed */
	char *context_channel; /* assistant tasks: the channel the user is viewing */
	int64_t enqueued_ms;
	int attempt; /* 1 on first delivery */
};

/* Highest number of field/value pairs task_encode() produces. */
#define TASK_MAX_FIELDS 18

void task_init(struct task *t);
void task_release(struct task *t);

/* Returns "question", "feedback" or "assistant". */
const char *task_type_name(enum task_type type);

/*
 * Fills fields[]/values[] (each at least TASK_MAX_FIELDS long) with borrowed
 * pointers into t and into nbuf (a scratch of 48 bytes the caller keeps alive
 * while the arrays are used, for the numbers). Returns the number of pairs.
 */
size_t task_encode(const struct task *t, const char **fields, const char **values, char nbuf[48]);

/*
 * Decodes n field/value pairs (binary-safe, lengths given) into t (which must be
 * task_init()ed). Unknown fields are ignored. Returns 0, or -1 with ERR_INVALID
 * when type or id is missing or malformed; t is then partially filled and must
 * still be released.
 */
int task_decode(struct task *t, size_t n, const char *const *fields, const size_t *flens,
		const char *const *values, const size_t *vlens, struct err *err);

/* Returns an owned deep copy of src; free the result with task_release()+free(). */
struct task *task_dup(const struct task *src);

#endif
