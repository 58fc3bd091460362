#include "common.h"
#include "enqueue.h"
#include "slack_in.h"
#include "socket_mode.h"
#include "ws_client.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SM_CONNECT_TIMEOUT_MS 10000 /* apps.connections.open, connect, TLS, upgrade, hello */
#define SM_SEND_TIMEOUT_MS    5000
#define SM_POLL_MS	      500 /* how often a slot looks at the stop flag while idle */

/* What a message asks the connection's thread to do next. */
enum sm_action {
	SM_NONE = 0,
	SM_HELLO,	  /* the connection is ready */
	SM_REPLACE,	  /* disconnect: open a replacement, then close this one */
	SM_LINK_DISABLED, /* Socket Mode was turned off for the app: close, retry slowly */
	SM_DEAD,	  /* the ack could not be sent: the connection is gone */
};

struct socket_mode;

struct sm_slot {
	struct socket_mode *sm;
	int idx;
	pthread_t thread;
	int started;
	struct http_client *http;
	struct buf msg;	 /* the message received, reused */
	struct buf body; /* the HTTP-style body built from a payload, reused */
	struct buf ack;	 /* the ack being sent, reused */
};

struct socket_mode {
	const struct config *cfg;
	const struct agents *agents;
	struct enqueue_batcher *batcher;
	struct sm_slot *slots;
	int nslots;
	atomic_int stop;
	atomic_int open; /* connections that said hello and are not closed */
};

long socket_mode_backoff_ms(int attempt, long base_ms, long max_ms, uint32_t rnd)
{
	long ceil = base_ms;

	if (attempt < 1)
		return 0;
	for (int i = 1; i < attempt && ceil < max_ms; i++)
		ceil *= 2;
	if (ceil > max_ms)
		ceil = max_ms;
	return (long)(rnd % (uint32_t)(ceil + 1));
}

static uint32_t rnd32(void)
{
	uint32_t v = 0;

	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = (uint32_t)clock_mono_ns();
	return v;
}

/* Sleeps ms, waking early when the stop flag is set. Returns 1 when stopping. */
static int nap(struct socket_mode *sm, long ms)
{
	int64_t until = clock_mono_ms() + ms;

	while (!atomic_load(&sm->stop)) {
		int64_t left = until - clock_mono_ms();
		if (left <= 0)
			return 0;
		clock_sleep_ms(left < 50 ? left : 50);
	}
	return 1;
}

int socket_mode_body(const char *type, const char *payload_json, struct buf *out)
{
	json_t *p = NULL;
	const char *key;
	json_t *v;
	int rc = -1;

	if (!strcmp(type, "events_api")) {
		buf_adds(out, payload_json);
		return 0;
	}
	if (!strcmp(type, "interactive")) {
		form_add(out, "payload", payload_json);
		return 0;
	}
	if (strcmp(type, "slash_commands"))
		return -1;
	p = json_loads(payload_json, 0, NULL);
	if (!json_is_object(p))
		goto out;
	json_object_foreach(p, key, v)
	{
		if (json_is_string(v))
			form_add(out, key, json_string_value(v));
	}
	rc = 0;
out:
	json_decref(p);
	return rc;
}

/*
 * Asks Slack for a Socket Mode URL. Returns owned (free()) or NULL with err:
 * ERR_AUTH for a rejected token, ERR_RATE_LIMITED (retry_after_ms), others.
 */
static char *connections_open(struct sm_slot *sl, struct err *err)
{
	const struct config *cfg = sl->sm->cfg;
	struct http_transport t;
	struct http_response resp;
	struct buf url = BUF_INIT, auth = BUF_INIT;
	const char *headers[3];
	struct http_request req = {0};
	json_t *j = NULL;
	char *out = NULL;
	const char *u;

	if (!sl->http)
		sl->http = http_client_new();
	if (!sl->http) {
		err_set(err, ERR_IO, "cannot create an HTTP client");
		return NULL;
	}
	buf_addf(&url, "%s/apps.connections.open", cfg->slack_api_url);
	buf_addf(&auth, "Authorization: Bearer %s", cfg->slack_app_token);
	headers[0] = auth.s;
	headers[1] = "Content-Type: application/x-www-form-urlencoded";
	headers[2] = NULL;
	req.method = "POST";
	req.url = url.s;
	req.headers = headers;
	req.body = "";
	req.timeout_ms = SM_CONNECT_TIMEOUT_MS;
	http_response_init(&resp);
	t = http_client_transport(sl->http);
	if (t.perform(t.ctx, &req, &resp, err) < 0 ||
	    http_status_check(&resp, "apps.connections.open", err) < 0)
		goto out;
	j = json_loadb(resp.body.s, resp.body.len, 0, NULL);
	if (!json_is_object(j)) {
		err_set(err, ERR_PARSE, "apps.connections.open: reply is not a JSON object");
		goto out;
	}
	if (!json_is_true(json_object_get(j, "ok"))) {
		const char *e = json_string_value(json_object_get(j, "error"));
		int auth_err = e && (!strcmp(e, "invalid_auth") || !strcmp(e, "not_authed") ||
				     !strcmp(e, "not_allowed_token_type") ||
				     !strcmp(e, "account_inactive") || !strcmp(e, "token_revoked"));
		err_set(err, auth_err ? ERR_AUTH : ERR_UPSTREAM, "apps.connections.open: %s",
			e ? e : "ok is false");
		goto out;
	}
	u = json_string_value(json_object_get(j, "url"));
	if (!u || (strncmp(u, "wss://", 6) && strncmp(u, "ws://", 5))) {
		err_set(err, ERR_PARSE,
			"apps.connections.open: no ws:// or wss:// url in the reply");
		goto out;
	}
	out = xstrdup(u);
out:
	json_decref(j);
	http_response_release(&resp);
	buf_release(&url);
	buf_release(&auth);
	return out;
}

/* Sends {"envelope_id": id[, "payload": payload]}. Returns 0 or -1. */
static int send_ack(struct sm_slot *sl, struct ws_client *ws, const char *id, const char *payload,
		    struct err *err)
{
	struct buf *a = &sl->ack;

	buf_reset(a);
	buf_adds(a, "{\"envelope_id\":");
	buf_add_json_str(a, id, strlen(id));
	if (payload) {
		buf_adds(a, ",\"payload\":");
		buf_adds(a, payload);
	}
	buf_addch(a, '}');
	return ws_client_send_text(ws, a->s, a->len, SM_SEND_TIMEOUT_MS, err);
}

/*
 * Parses and queues one envelope's payload like the HTTP route would.
 * Returns 1 to acknowledge (reply_payload set for slash commands), 0 to
 * leave it unacknowledged (the task could not be stored).
 */
static int take_envelope(struct sm_slot *sl, const char *type, json_t *payload, const char *id,
			 const char **reply_payload)
{
	struct socket_mode *sm = sl->sm;
	int is_cmd = !strcmp(type, "slash_commands");
	struct slack_in in;
	struct err e = {0};
	char *pj = json_dumps(payload, JSON_COMPACT);
	int rc, ack = 1;

	slack_in_init(&in);
	buf_reset(&sl->body);
	if (!pj || socket_mode_body(type, pj, &sl->body) < 0) {
		log_kv(LOG_DEBUG, "socket mode envelope ignored", "type", type, "envelope_id", id,
		       NULL);
		goto out;
	}
	if (!strcmp(type, "events_api"))
		rc = slack_in_event(sl->body.s, sl->body.len, sm->agents, &in, &e);
	else if (!strcmp(type, "interactive"))
		rc = slack_in_interactive(sl->body.s, sl->body.len, sm->agents, &in, &e);
	else
		rc = slack_in_command(sl->body.s, sl->body.len, sm->agents, &in, &e);
	if (rc < 0) {
		/* redelivery cannot make it valid: acknowledge, as HTTP's 400 ends it */
		log_kv(LOG_WARN, "bad socket mode envelope", "type", type, "envelope_id", id,
		       "reason", e.msg, NULL);
		goto out;
	}
	if (in.kind != SLACK_IN_TASK) {
		log_kv(LOG_DEBUG, "slack request ignored", "reason",
		       in.kind == SLACK_IN_IGNORE ? in.reason : "url_verification", "envelope_id",
		       id, NULL);
		if (is_cmd && in.kind == SLACK_IN_IGNORE)
			*reply_payload =
			    !strcmp(in.reason, "empty text")
				? "{\"response_type\":\"ephemeral\",\"text\":\"Usage: "
				  "/ask <your question>\"}"
				: "{\"response_type\":\"ephemeral\",\"text\":\"Unknown "
				  "command.\"}";
		goto out;
	}
	log_ctx_set("event_id", in.task.id);
	switch (enqueue_batch_task(sm->batcher, &in.task, NULL, &e)) {
	case ENQUEUE_ADDED:
		log_kv(LOG_DEBUG, "task queued", "task_id", in.task.id, "agent", in.task.agent,
		       "envelope_id", id, NULL);
		break;
	case ENQUEUE_DUPLICATE:
		metrics_inc(NULL, M_EVENTS_DUPLICATE, NULL, 1);
		log_kv(LOG_INFO, "duplicate event acknowledged", "task_id", in.task.id,
		       "envelope_id", id, NULL);
		break;
	case ENQUEUE_FAILED:
		/* no ack: Slack redelivers the envelope, maybe to another connection */
		log_kv(LOG_ERROR, "cannot queue task; envelope left unacknowledged", "task_id",
		       in.task.id, "envelope_id", id, "error", e.msg, NULL);
		ack = 0;
		break;
	}
	log_ctx_set("event_id", NULL);
	if (ack && is_cmd)
		*reply_payload = "{\"response_type\":\"ephemeral\",\"text\":\"Working on it… the "
				 "answer will appear in this channel.\"}";
out:
	free(pj);
	slack_in_release(&in);
	return ack;
}

/* Handles one message from Slack on ws. */
static enum sm_action take_message(struct sm_slot *sl, struct ws_client *ws)
{
	json_t *j = json_loadb(sl->msg.s, sl->msg.len, 0, NULL);
	const char *type = json_string_value(json_object_get(j, "type"));
	const char *id = json_string_value(json_object_get(j, "envelope_id"));
	const char *reply = NULL;
	json_t *payload = json_object_get(j, "payload");
	enum sm_action act = SM_NONE;
	struct err e = {0};

	if (!type) {
		log_kv(LOG_WARN, "socket mode message without a type ignored", NULL);
		goto out;
	}
	if (!strcmp(type, "hello")) {
		act = SM_HELLO;
		goto out;
	}
	if (!strcmp(type, "disconnect")) {
		const char *reason = json_string_value(json_object_get(j, "reason"));
		log_kv(LOG_INFO, "socket mode disconnect requested", "reason",
		       reason ? reason : "unknown", NULL);
		act = reason && !strcmp(reason, "link_disabled") ? SM_LINK_DISABLED : SM_REPLACE;
		goto out;
	}
	if (!id)
		goto out; /* nothing to acknowledge, nothing Slack expects */
	if (json_is_object(payload) && !take_envelope(sl, type, payload, id, &reply))
		goto out;
	if (send_ack(sl, ws, id, reply, &e) < 0) {
		log_kv(LOG_WARN, "socket mode ack not sent", "envelope_id", id, "error", e.msg,
		       NULL);
		act = SM_DEAD;
	}
out:
	json_decref(j);
	return act;
}

/*
 * Opens a connection and waits for its hello (envelopes arriving first are
 * handled). Returns it, or NULL with err.
 */
static struct ws_client *sm_connect(struct sm_slot *sl, struct err *err)
{
	struct socket_mode *sm = sl->sm;
	int64_t deadline = clock_mono_ms() + SM_CONNECT_TIMEOUT_MS;
	struct ws_client *ws;
	char *url = connections_open(sl, err);

	if (!url)
		return NULL;
	ws = ws_client_connect(url, SM_CONNECT_TIMEOUT_MS, err);
	free(url); /* it carries a ticket: never logged */
	if (!ws)
		return NULL;
	while (!atomic_load(&sm->stop)) {
		int64_t left = deadline - clock_mono_ms();
		int rc;
		enum sm_action act;

		if (left <= 0) {
			err_set(err, ERR_TIMEOUT, "no hello from slack within %d ms",
				SM_CONNECT_TIMEOUT_MS);
			break;
		}
		rc = ws_client_recv(ws, left < SM_POLL_MS ? (int)left : SM_POLL_MS, &sl->msg, err);
		if (rc < 0)
			break;
		if (rc == 0)
			continue;
		act = take_message(sl, ws);
		if (act == SM_HELLO)
			return ws;
		if (act != SM_NONE) {
			err_set(err, ERR_IO, "connection ended before hello");
			break;
		}
	}
	if (atomic_load(&sm->stop))
		err_set(err, ERR_IO, "stopping");
	ws_client_close(ws);
	return NULL;
}

/* Takes every message already received on ws (no waiting). Returns -1 when ws broke. */
static int drain(struct sm_slot *sl, struct ws_client *ws)
{
	int rc;

	while ((rc = ws_client_recv(ws, 0, &sl->msg, NULL)) == 1)
		if (take_message(sl, ws) == SM_DEAD)
			return -1;
	return rc;
}

static void log_slot(enum log_level lvl, const char *msg, struct sm_slot *sl, const char *error)
{
	char idx[12], open[12];

	snprintf(idx, sizeof(idx), "%d", sl->idx);
	snprintf(open, sizeof(open), "%d", atomic_load(&sl->sm->open));
	log_kv(lvl, msg, "connection", idx, "open", open, error ? "error" : NULL, error, NULL);
}

/*
 * Long on purpose: one connection slot's state machine (connect with
 * backoff, replace on a disconnect request, receive, keep alive, close),
 * whose locals carry from turn to turn; split, they would become a struct
 * passed around for no reader's benefit.
 */
static void *slot_main(void *arg)
{
	struct sm_slot *sl = arg;
	struct socket_mode *sm = sl->sm;
	struct ws_client *ws = NULL;
	int attempt = 0, replace_attempt = 0;
	int64_t replace_at = 0, last_ping = 0;

	while (!atomic_load(&sm->stop)) {
		struct err e = {0};
		enum sm_action act;
		int rc;

		if (!ws) {
			long delay = socket_mode_backoff_ms(attempt, SOCKET_MODE_BACKOFF_BASE_MS,
							    SOCKET_MODE_BACKOFF_MAX_MS, rnd32());
			if (nap(sm, delay))
				break;
			ws = sm_connect(sl, &e);
			if (!ws) {
				attempt++;
				if (atomic_load(&sm->stop))
					break;
				log_slot(e.code == ERR_AUTH ? LOG_ERROR : LOG_WARN,
					 "socket mode connect failed", sl, e.msg);
				if (e.code == ERR_RATE_LIMITED && e.retry_after_ms > 0 &&
				    nap(sm, e.retry_after_ms))
					break;
				continue;
			}
			attempt = 0;
			replace_at = 0;
			last_ping = clock_mono_ms();
			atomic_fetch_add(&sm->open, 1);
			log_slot(LOG_INFO, "socket mode connected", sl, NULL);
		}
		if (replace_at && clock_mono_ms() >= replace_at) {
			struct ws_client *next = sm_connect(sl, &e);
			if (next) {
				/* the new one is open: finish what came on the old one, close it */
				drain(sl, ws);
				ws_client_close(ws);
				ws = next;
				replace_at = 0;
				replace_attempt = 0;
				last_ping = clock_mono_ms();
				log_slot(LOG_INFO, "socket mode connection replaced", sl, NULL);
				continue;
			}
			log_slot(LOG_WARN, "socket mode replacement failed", sl, e.msg);
			replace_at =
			    clock_mono_ms() +
			    socket_mode_backoff_ms(++replace_attempt, SOCKET_MODE_BACKOFF_BASE_MS,
						   SOCKET_MODE_BACKOFF_MAX_MS, rnd32()) +
			    1;
		}
		rc = ws_client_recv(ws, SM_POLL_MS, &sl->msg, &e);
		act = SM_NONE;
		if (rc == 1) {
			act = take_message(sl, ws);
		} else if (rc == 0) {
			int64_t now = clock_mono_ms();
			if (now - ws_client_last_rx_ms(ws) > SOCKET_MODE_DEAD_MS) {
				err_set(&e, ERR_TIMEOUT, "nothing received for %d ms",
					SOCKET_MODE_DEAD_MS);
				rc = -1;
			} else if (now - last_ping >= SOCKET_MODE_PING_MS &&
				   now - ws_client_last_rx_ms(ws) >= SOCKET_MODE_PING_MS) {
				last_ping = now;
				if (ws_client_ping(ws, SM_SEND_TIMEOUT_MS, &e) < 0)
					rc = -1;
			}
		}
		if (act == SM_REPLACE && !replace_at)
			replace_at = clock_mono_ms(); /* right away, on the next turn */
		if (rc < 0 || act == SM_DEAD || act == SM_LINK_DISABLED) {
			ws_client_close(ws);
			ws = NULL;
			atomic_fetch_sub(&sm->open, 1);
			log_slot(act == SM_LINK_DISABLED ? LOG_ERROR : LOG_WARN,
				 act == SM_LINK_DISABLED
				     ? "socket mode disabled for the app; retrying slowly"
				     : "socket mode connection lost",
				 sl, act == SM_LINK_DISABLED ? NULL : e.msg);
			/* first retry soon (jittered); link_disabled waits the longest */
			attempt = act == SM_LINK_DISABLED ? 30 : 1;
		}
	}
	if (ws) {
		ws_client_close(ws);
		atomic_fetch_sub(&sm->open, 1);
	}
	return NULL;
}

struct socket_mode *socket_mode_start(const struct config *cfg, const struct agents *agents,
				      struct err *err)
{
	struct socket_mode *sm = xcalloc(1, sizeof(*sm));

	sm->cfg = cfg;
	sm->agents = agents;
	sm->batcher = enqueue_batcher_new(cfg, cfg->redis_url, 500, 1000, err);
	if (!sm->batcher) {
		free(sm);
		return NULL;
	}
	sm->nslots = cfg->slack_socket_connections > 0 ? cfg->slack_socket_connections : 1;
	sm->slots = xcalloc((size_t)sm->nslots, sizeof(*sm->slots));
	for (int i = 0; i < sm->nslots; i++) {
		struct sm_slot *sl = &sm->slots[i];
		sl->sm = sm;
		sl->idx = i;
		buf_init(&sl->msg);
		buf_init(&sl->body);
		buf_init(&sl->ack);
		if (pthread_create(&sl->thread, NULL, slot_main, sl) != 0) {
			err_set(err, ERR_IO, "cannot start a socket mode thread");
			socket_mode_stop(sm);
			return NULL;
		}
		sl->started = 1;
	}
	return sm;
}

int socket_mode_open_connections(struct socket_mode *sm)
{
	return atomic_load(&sm->open);
}

int socket_mode_ready(void *arg, struct buf *why)
{
	struct socket_mode *sm = arg;

	if (atomic_load(&sm->open) > 0)
		return 1;
	buf_adds(why, "no socket mode connection is open");
	return 0;
}

void socket_mode_stop(struct socket_mode *sm)
{
	if (!sm)
		return;
	atomic_store(&sm->stop, 1);
	for (int i = 0; i < sm->nslots; i++) {
		struct sm_slot *sl = &sm->slots[i];
		if (sl->started)
			pthread_join(sl->thread, NULL);
		http_client_free(sl->http);
		buf_release(&sl->msg);
		buf_release(&sl->body);
		buf_release(&sl->ack);
	}
	free(sm->slots);
	enqueue_batcher_free(sm->batcher);
	free(sm);
}
