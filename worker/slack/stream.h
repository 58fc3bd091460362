/*
 * stream.h - Slack's native streams (chat.startStream / appendStream /
 * stopStream) for the Slack reply sink (reply.c): the answer typed out in
 * its thread while the model writes it, then edited into the answer.
 *
 * The sink's stream_ts and streamed (reply.h) carry the state; the stream's
 * ts goes into the task state (stream_ts) as soon as Slack returns it, so a
 * new attempt of the task finds and deletes a half-typed stream
 * (reply_slack_clean_up()). Calls made while the LLM transfer runs use the
 * side seam, tried once. Thread-safe with one worker_ctx per thread; one
 * process-wide flag remembers that Slack refused streams.
 */
#ifndef HAINK_SLACK_STREAM_H
#define HAINK_SLACK_STREAM_H

/* The most markdown_text one chat.*Stream call takes (Slack's limit: 12,000 characters). */
#define SLACK_STREAM_TEXT_MAX 12000

struct reply_sink;
struct worker_ctx;
struct err;

/* 1 when this answer should be typed in a native stream (SLACK_STREAMING auto/on). */
int slack_stream_wanted(const struct reply_sink *s);

/*
 * Starts s's stream with the text so far and records its ts. Returns 0, 1
 * when Slack refuses streams (auto: type out with edits; remembered), or -1
 * with err.
 */
int slack_stream_start(struct reply_sink *s, const char *markdown, struct err *err);

/*
 * Appends what markdown adds to what the stream showed. A 429 skips the turn
 * (0); a text that no longer continues what was shown, or another failure,
 * is -1 with err (no more typing; final() still ends the stream).
 */
int slack_stream_append(struct reply_sink *s, const char *markdown, struct err *err);

/*
 * chat.stopStream of ts with tail (may be NULL) as its last text, on w's main
 * seam. 0 also when Slack says it is not streaming any more; -1 with err when
 * the failure is worth retrying the task for.
 */
int slack_stream_stop(struct worker_ctx *w, const char *channel, const char *ts, const char *tail,
		      struct err *err);

/*
 * After final() edited the stopped stream into the answer: records it as the
 * task's placeholder_ts (thinking_ts, the replaced "Thinking…", as stale_ts)
 * and deletes thinking_ts (may be NULL). Returns 0, or -1 with err when the
 * record failed.
 */
int slack_stream_settle(struct reply_sink *s, char *thinking_ts, struct err *err);

#endif
