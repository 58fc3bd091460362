/*
 * ws_client.h - a small WebSocket client (RFC 6455) for Slack's Socket Mode.
 *
 * Connects to a ws:// or wss:// URL, upgrades, and then sends text frames and
 * receives whole messages. wss:// runs over OpenSSL with the certificate
 * chain verified against the system trust store (OpenSSL's default paths,
 * so SSL_CERT_FILE / SSL_CERT_DIR apply) and the host name checked against
 * the certificate; nothing turns either check off. civetweb's client
 * (1.15 and 1.16) verifies the chain only when given a CA file and never the
 * host name, which is why this module exists.
 *
 * Control frames are handled inside ws_client_recv(): a ping is answered
 * with a pong, a close is answered and reported as the end of the
 * connection. Thread rules: a struct ws_client belongs to one thread.
 */
#ifndef HAINK_WS_CLIENT_H
#define HAINK_WS_CLIENT_H

#include <stddef.h>

#include "buf.h"

struct err;
struct ws_client;

/* The largest message ws_client_recv() accepts (all fragments together). */
#define WS_CLIENT_MAX_MESSAGE (16L * 1024 * 1024)

/*
 * Connects to url (ws://host[:port]/path?query or wss://…) and completes the
 * opening handshake within timeout_ms. Returns an owned client (free with
 * ws_client_close()) or NULL with ERR_INVALID (bad URL), ERR_IO (connect,
 * TLS or certificate failure, refused upgrade) or ERR_TIMEOUT.
 */
struct ws_client *ws_client_connect(const char *url, int timeout_ms, struct err *err);

/*
 * Waits up to timeout_ms (0: only what has already arrived) for the next
 * whole text or binary message and puts its payload into out (replacing
 * what out held). Returns 1 with a message, 0 when none came in time, or -1
 * with ERR_IO when the connection ended (closed by the peer, dropped,
 * protocol error) or ERR_PARSE for a message over WS_CLIENT_MAX_MESSAGE; the
 * client is then unusable but must still be closed.
 */
int ws_client_recv(struct ws_client *c, int timeout_ms, struct buf *out, struct err *err);

/* Sends s[0..n) as one text frame within timeout_ms. Returns 0, or -1 with ERR_IO / ERR_TIMEOUT. */
int ws_client_send_text(struct ws_client *c, const char *s, size_t n, int timeout_ms,
			struct err *err);

/* One frame as ws_frame_parse() found it. */
struct ws_frame {
	int fin;	     /* 1: the last frame of its message */
	int op;		     /* the opcode (1 text, 2 binary, 0 continuation, 8-10 control) */
	const char *payload; /* borrowed: inside the parsed buffer */
	size_t len;	     /* payload bytes */
	size_t used;	     /* header and payload bytes */
};

/*
 * Parses the server frame at the start of buf (avail bytes): 1 with f filled,
 * 0 when more bytes are needed, -1 with err for a protocol violation (masked,
 * reserved bits, a fragmented or long control frame, over
 * WS_CLIENT_MAX_MESSAGE). Pure; for ws_client_recv() and the fuzzer.
 */
int ws_frame_parse(const char *buf, size_t avail, struct ws_frame *f, struct err *err);

/* Sends a ping (the answer is consumed by ws_client_recv()). Returns 0 or -1 as above. */
int ws_client_ping(struct ws_client *c, int timeout_ms, struct err *err);

/* Monotonic ms of the last frame of any kind received (pongs included). */
long long ws_client_last_rx_ms(const struct ws_client *c);

/* Sends a close frame when the connection is still up (best effort), closes and frees c. Accepts
 * NULL. */
void ws_client_close(struct ws_client *c);

#endif
