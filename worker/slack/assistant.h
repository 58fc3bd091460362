/*
 * assistant.h - Slack's assistant threads (the AI app split view).
 *
 * When a user opens the app's assistant view Slack sends
 * assistant_thread_started; when they move to another channel with the view
 * open, assistant_thread_context_changed. The API queues both as tasks of
 * type "assistant" (task.h). Here:
 * - thread_started: remember the channel the user is viewing and show
 *   suggested prompts: the routed agent's examples (agents file), at most 4;
 * - context_changed: remember the new channel.
 * The thread's record is the hash assistant:<team>:<channel>:<thread_ts>
 * (context_channel, titled), kept CHAT_TTL_S like the thread history.
 *
 * Messages in an assistant thread arrive as DMs (message.im with thread_ts)
 * and are answered like DMs; assistant_question_start() adds what the view
 * offers: a status line while the worker runs, the thread title from the
 * first question, and the channel being viewed for the agent.
 * Thread-safe with one worker_ctx per thread.
 */
#ifndef HAINK_ASSISTANT_H
#define HAINK_ASSISTANT_H

struct worker_ctx;
struct task;
struct err;

/* Suggested prompts shown at most (Slack's limit). */
#define ASSISTANT_PROMPTS_MAX 4
/* Longest thread title set from a question, in bytes (cut on a character). */
#define ASSISTANT_TITLE_MAX 80

/*
 * Runs a TASK_ASSISTANT task. Returns 0, or -1 with err (retryable for Redis
 * and Slack 429/5xx; an unknown event is ERR_INVALID).
 */
int assistant_run(struct worker_ctx *w, const struct task *t, struct err *err);

/*
 * For a question in a DM thread: when the thread is an assistant thread,
 * sets its status ("is thinking…") and, on its first question, its title;
 * returns 1 with *viewing (owned; NULL when Slack gave no channel) the
 * channel the user is viewing. Returns 0 for any other thread. Slack or
 * Redis failures are logged and never fail the question.
 */
int assistant_question_start(struct worker_ctx *w, const struct task *t, char **viewing);

/* Sets the status line of t's assistant thread (progress; "" clears); failures logged only. */
void assistant_status(struct worker_ctx *w, const struct task *t, const char *status);

#endif
