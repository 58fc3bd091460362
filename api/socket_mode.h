/*
 * socket_mode.h - Slack Socket Mode: events over WebSockets, no public URL.
 *
 * On when SLACK_APP_TOKEN (an app-level xapp- token) is set; HTTP mode keeps
 * running beside it. SLACK_SOCKET_CONNECTIONS connection slots each run one
 * thread that asks Slack for a URL (POST {SLACK_API_URL}/apps.connections.open
 * with the app token), connects (api/ws_client.h), waits for `hello`, and
 * then takes envelopes:
 * - events_api, slash_commands and interactive payloads go through the same
 *   parsing as the HTTP routes (api/slack_in.h) and the same enqueue script
 *   (api/enqueue.h: one dedupe, so Slack's redeliveries are duplicates);
 * - an envelope is acknowledged ({"envelope_id": …}) only once its task is
 *   stored (or it is a duplicate, or there is nothing to store); when Redis
 *   fails it is not acknowledged and Slack redelivers it;
 * - `disconnect` (refresh_requested, warning) opens the replacement
 *   connection first, then finishes what already arrived on the old one and
 *   closes it; link_disabled closes and retries with the longest backoff.
 * A lost connection is reopened with exponential backoff and full jitter;
 * with two or more slots another connection keeps taking events meanwhile.
 *
 * Thread rules: socket_mode_start()/socket_mode_stop() from main only;
 * socket_mode_open_connections() from any thread. cfg and agents are
 * borrowed, read-only, and must outlive the struct.
 */
#ifndef HAINK_SOCKET_MODE_H
#define HAINK_SOCKET_MODE_H

#include "common.h"

/* First reconnect delay ceiling and the cap of the backoff (ms). */
#define SOCKET_MODE_BACKOFF_BASE_MS 500
#define SOCKET_MODE_BACKOFF_MAX_MS  30000
/* A ping goes out after this much silence; no frame at all for the second value means dead. */
#define SOCKET_MODE_PING_MS 10000
#define SOCKET_MODE_DEAD_MS 30000

struct socket_mode;

/*
 * Starts cfg->slack_socket_connections connection threads (cfg->slack_app_token
 * must be set). Returns NULL with err when the enqueue pipeline cannot be set
 * up; connection failures are not errors here (the threads retry and log).
 */
struct socket_mode *socket_mode_start(const struct config *cfg, const struct agents *agents,
				      struct err *err);

/* Number of connections that are open (said hello) right now. Thread-safe. */
int socket_mode_open_connections(struct socket_mode *sm);

/*
 * For /readyz (struct api_ready_check): returns 1 when at least one
 * connection is open, else 0 with a reason in why. arg is the struct socket_mode.
 */
int socket_mode_ready(void *arg, struct buf *why);

/* Closes every connection (close frame), joins the threads and frees sm. Accepts NULL. */
void socket_mode_stop(struct socket_mode *sm);

/*
 * The delay before reconnect attempt `attempt` (1, 2, …): a uniform draw
 * from [0, min(max_ms, base_ms * 2^(attempt-1))] using rnd (full jitter).
 * For the threads and their unit test.
 */
long socket_mode_backoff_ms(int attempt, long base_ms, long max_ms, uint32_t rnd);

/*
 * Turns a Socket Mode envelope's payload into the body the HTTP route gets:
 * events_api -> the JSON itself; slash_commands -> a form body of its string
 * fields; interactive -> "payload=<percent-encoded JSON>". Appends to out (empty
 * before: form fields are joined with '&'); returns 0, or -1 for another type. For the threads and
 * their unit test.
 */
int socket_mode_body(const char *type, const char *payload_json, struct buf *out);

#endif
