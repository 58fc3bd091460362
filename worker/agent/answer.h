/*
 * answer.h - the answering side of haink-worker: handler_run() and
 * handler_give_up() of handler.h, for question and feedback tasks, plus the
 * answer:<id> record they share.
 *
 * A question: rate limits (first delivery only), one placeholder recorded in
 * the task state before anything else, the agent loop, the answer stored in
 * answer:<id> and then shown (a retry after the answer was stored shows the
 * stored answer without asking the model again), state "answered", the turn
 * saved to conversation memory. A feedback task records the click on the
 * answer and replaces the buttons with a thank-you line.
 * Thread-safe with one worker_ctx per thread.
 */
#ifndef HAINK_ANSWER_H
#define HAINK_ANSWER_H

#include <stddef.h>
#include "agent/handler.h"

struct worker_ctx;
struct err;
struct agent_run;
struct task;

#define ANSWER_APOLOGY "Sorry, I couldn't answer this right now. Please try again in a few minutes."
#define ANSWER_LIMIT_NOTICE                                                                        \
	"I've answered a lot of questions here in the last hour, so I'm taking a short break. "    \
	"Please try again a little later."

/*
 * Stores the answer:<answer_id> hash of a finished run for task t (question,
 * answer, user, team, channel, thread_ts, agent, model, tokens, tools,
 * latency_ms, created_ms, sources as JSON). Returns 0 or -1 with err.
 */
int answer_store(struct worker_ctx *w, const char *answer_id, const struct task *t,
		 const char *thread_ts, const struct agent_run *r, long long latency_ms,
		 struct err *err);

#endif
