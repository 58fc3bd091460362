/*
 * slack_sign.h - Slack request signing (v0), both directions.
 *
 * Slack signs each request with HMAC-SHA256 over "v0:<timestamp>:<raw body>"
 * keyed by the app's signing secret, sent as X-Slack-Signature: v0=<hex> with
 * X-Slack-Request-Timestamp. haink-api verifies every request; tests and the
 * demo's signer use slack_sign_compute(). Thread-safe; the secret is never
 * logged or copied.
 */
#ifndef HAINK_SLACK_SIGN_H
#define HAINK_SLACK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define SLACK_SIGN_MAX_SKEW_S 300
#define SLACK_SIGN_LEN	      67 /* "v0=" + 64 hex digits */

enum slack_sign_result {
	SLACK_SIGN_OK = 0,
	SLACK_SIGN_MISSING,	/* a header is absent or empty */
	SLACK_SIGN_BAD_TS,	/* timestamp is not a decimal number */
	SLACK_SIGN_STALE,	/* |now - timestamp| > 300 s */
	SLACK_SIGN_BAD_VERSION, /* signature does not start with "v0=" */
	SLACK_SIGN_MALFORMED,	/* wrong length or not hex */
	SLACK_SIGN_MISMATCH,	/* well-formed but wrong */
};

/*
 * Writes "v0=<64 hex>" and a NUL into out. Returns 0, or -1 when the HMAC
 * cannot be computed.
 */
int slack_sign_compute(const char *secret, const char *timestamp, const char *body, size_t body_len,
		       char out[SLACK_SIGN_LEN + 1]);

/*
 * Verifies a request: timestamp and signature are the raw header values (NULL
 * when absent), now_s the current Unix time. Compares in constant time.
 */
enum slack_sign_result slack_sign_verify(const char *secret, const char *timestamp,
					 const char *signature, const char *body, size_t body_len,
					 int64_t now_s);

/* Returns a short reason for logs and metrics ("stale timestamp", ...). */
const char *slack_sign_result_str(enum slack_sign_result r);

#endif
