/*
 * handler.h - what the queue runtime calls for each task, and when a task
 * is given up: admin/runtime_cli.c hands these two to runtime_start() as its
 * struct runtime_ops (queue/runtime.h), so queue/ never includes agent/.
 * Implemented by the answering side (answer.c): questions run the agent and reply; feedback tasks
 * record the click and edit the message.
 *
 * Contract with the runtime:
 *  - handler_run() returns 0 when the task is finished (answered, refused by a
 *    rate limit, already answered before, or ignored): the runtime XACKs it.
 *  - It returns -1 with err set otherwise. err_retryable(err->code) and
 *    attempt < MAX_ATTEMPTS: the runtime XACKs and schedules attempt+1;
 *    otherwise it dead-letters the entry and calls handler_give_up().
 *  - It must be idempotent across redeliveries: the task state hash
 *    (taskstate.h) holds the placeholder ts and answer id, so a retried or
 *    reclaimed task edits the same placeholder and never posts twice.
 * Thread-safe: called concurrently from task threads, each with its own worker_ctx.
 */
#ifndef HAINK_HANDLER_H
#define HAINK_HANDLER_H

struct worker_ctx;
struct task;
struct err;

int handler_run(struct worker_ctx *w, struct task *t, struct err *err);

/* Tells the user, briefly and without raw error text, that the question failed. */
void handler_give_up(struct worker_ctx *w, const struct task *t, const struct err *why);

#endif
