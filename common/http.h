/*
 * http.h - outgoing HTTP (Slack Web API, LLM, embeddings, Tavily) through a seam.
 *
 * Callers talk to a struct http_transport: a function pointer plus context.
 * Production uses http_client (one libcurl easy handle, kept alive between
 * requests); unit tests plug in a fake transport that records requests and
 * returns canned responses, no network and no linker tricks.
 *
 * Thread rules: an http_client (and a transport over it) belongs to one thread.
 * Call http_global_init() once in main() before threads start.
 */
#ifndef HAINK_HTTP_H
#define HAINK_HTTP_H

#include <stddef.h>
#include "buf.h"

struct err;

struct http_request {
	const char *method; /* "GET", "POST" */
	const char *url;
	const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
	const char *body;	    /* may be NULL */
	size_t body_len;
	long timeout_ms; /* whole request; 0 = 30 s */
	/*
	 * Optional, for streamed bodies (server-sent events): called with each
	 * piece of a 2xx response body as it arrives (the body is still
	 * collected in resp->body). Each attempt that gets a 2xx first calls
	 * on_data(ctx, NULL, 0): a retry starts the body over. Return 0 to go
	 * on, -1 to abort the transfer (the request fails with ERR_INVALID and
	 * is not retried).
	 */
	int (*on_data)(void *ctx, const char *bytes, size_t n);
	void *data_ctx;
};

struct http_response {
	long status;
	long retry_after_s; /* Retry-After in seconds (capped at HTTP_RETRY_AFTER_MAX_S), -1 when
			       absent */
	struct buf body;
};

/* The longest Retry-After honoured: 15 minutes; a larger value is read as this. */
#define HTTP_RETRY_AFTER_MAX_S 900L
/* The default cap on an upstream response body (UPSTREAM_MAX_BODY_BYTES). */
#define HTTP_MAX_BODY_DEFAULT (8L * 1024 * 1024)

/*
 * Sets the largest response body any http_client accepts (UPSTREAM_MAX_BODY_BYTES;
 * 0 restores HTTP_MAX_BODY_DEFAULT). A larger body aborts the transfer and the
 * request fails with ERR_PARSE "response from <url> is over N bytes" (not
 * retried: the same request would bring the same body). Call once at start,
 * before threads start.
 */
void http_set_max_body(size_t max);

/*
 * Parses a Retry-After header value in seconds (digits only; an HTTP date or
 * garbage gives -1), capped at HTTP_RETRY_AFTER_MAX_S; huge values do not
 * overflow. For the client and its tests.
 */
long http_parse_retry_after(const char *value);

struct http_transport {
	/* Performs req; fills resp (initialised by the caller). Returns 0 when an
	 * HTTP status was received (any status), -1 with ERR_IO / ERR_TIMEOUT
	 * when none was, or ERR_PARSE when the body was over the cap. */
	int (*perform)(void *ctx, const struct http_request *req, struct http_response *resp,
		       struct err *err);
	void *ctx;
};

void http_global_init(void);

void http_response_init(struct http_response *r);
void http_response_release(struct http_response *r);

struct http_client;
/* Returns a new client with its own curl handle; free with http_client_free(). */
struct http_client *http_client_new(void);
void http_client_free(struct http_client *c);
/* Returns a transport that performs requests with c (borrowed; c must outlive it). */
struct http_transport http_client_transport(struct http_client *c);

/*
 * Maps an HTTP status to an error: 2xx -> 0; 429 -> ERR_RATE_LIMITED with
 * retry_after_ms; 5xx and 408 -> ERR_UPSTREAM; 401/403 -> ERR_AUTH; other
 * 4xx -> ERR_INVALID. what names the service in the message. Returns 0 or -1.
 */
int http_status_check(const struct http_response *resp, const char *what, struct err *err);

/*
 * Appends ": <text>" to err->msg when the response body carries an error
 * message in the OpenAI style ({"error":{"message":…}} or {"error":"…"}),
 * as far as err->msg has room. Does nothing when err is NULL.
 */
void http_append_error_message(const struct http_response *resp, struct err *err);

struct http_retry {
	int max_tries;	    /* total attempts, >= 1 */
	long base_delay_ms; /* first backoff when no Retry-After, doubled each time */
	long max_delay_ms;  /* cap for one wait (Retry-After included) */
	long deadline_ms;   /* monotonic deadline for all attempts, 0 = none */
};

/*
 * Performs req through t, retrying transport failures, 429 (honouring
 * Retry-After) and 5xx up to policy->max_tries. On return resp holds the last
 * response. Returns 0 on a 2xx, or -1 with the error of the last attempt
 * (http_status_check() codes). what names the service for messages.
 */
int http_perform_retry(struct http_transport *t, const struct http_request *req,
		       struct http_response *resp, const struct http_retry *policy,
		       const char *what, struct err *err);

#endif
