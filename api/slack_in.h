/*
 * slack_in.h - what an incoming Slack request asks for.
 *
 * Turns the raw (already signature-verified) body of /slack/events,
 * /slack/interactive or /slack/commands into a decision: answer a URL
 * verification, queue a task, or ignore the request (with the reason, for
 * logs). Parsing is separate from I/O so realistic payloads are unit-tested.
 * Thread-safe (pure functions over their arguments).
 */
#ifndef HAINK_SLACK_IN_H
#define HAINK_SLACK_IN_H

#include <stddef.h>
#include "common.h"

enum slack_in_kind {
	SLACK_IN_IGNORE = 0, /* 200, nothing queued; reason says why */
	SLACK_IN_CHALLENGE,  /* url_verification: reply {"challenge": …} */
	SLACK_IN_TASK,	     /* queue task */
};

struct slack_in {
	enum slack_in_kind kind;
	const char *reason; /* IGNORE: static string ("bot message", …) */
	char *challenge;    /* CHALLENGE */
	struct task task;   /* TASK */
};

void slack_in_init(struct slack_in *in);
void slack_in_release(struct slack_in *in);

/*
 * Parses an Events API body. Returns 0 (in filled), or -1 with ERR_PARSE /
 * ERR_INVALID and a one-line reason for a 400 ("body is not valid JSON at
 * line 1: …", "event_callback without event_id"). The task's agent comes from
 * routing its channel through agents.
 */
int slack_in_event(const char *body, size_t len, const struct agents *agents, struct slack_in *in,
		   struct err *err);

/* Parses an interactive body (form field payload=<json>); only feedback buttons make tasks. */
int slack_in_interactive(const char *body, size_t len, const struct agents *agents,
			 struct slack_in *in, struct err *err);

/* Parses a slash command body (form); /ask with text makes a question task. */
int slack_in_command(const char *body, size_t len, const struct agents *agents, struct slack_in *in,
		     struct err *err);

#endif
