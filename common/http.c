#include "common.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct http_client {
	CURL *curl;
};

/* set once at start (http_set_max_body), read by every client */
static size_t max_body = HTTP_MAX_BODY_DEFAULT;

void http_set_max_body(size_t max)
{
	max_body = max ? max : (size_t)HTTP_MAX_BODY_DEFAULT;
}

long http_parse_retry_after(const char *p)
{
	long v = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > HTTP_RETRY_AFTER_MAX_S)
			return HTTP_RETRY_AFTER_MAX_S; /* and no overflow, however long */
	}
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return *p ? -1 : v;
}

/* Where the body goes: the response buffer, within the cap. */
struct body_sink {
	struct buf *b;
	size_t max;
	int over;
	const struct http_request *req; /* for on_data */
	CURL *curl;
	int started; /* on_data told that a 2xx body begins */
	int aborted; /* on_data returned -1 */
};

void http_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void http_response_init(struct http_response *r)
{
	r->status = 0;
	r->retry_after_s = -1;
	buf_init(&r->body);
}

void http_response_release(struct http_response *r)
{
	buf_release(&r->body);
	r->status = 0;
	r->retry_after_s = -1;
}

struct http_client *http_client_new(void)
{
	struct http_client *c = xcalloc(1, sizeof(*c));

	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return NULL;
	}
	return c;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct body_sink *bs = ud;
	size_t n = size * nmemb; /* curl guarantees this fits (CURL_MAX_WRITE_SIZE) */

	if (n > bs->max || bs->b->len > bs->max - n) {
		bs->over = 1;
		return 0; /* curl stops the transfer with CURLE_WRITE_ERROR */
	}
	buf_add(bs->b, data, n);
	if (bs->req->on_data) {
		long status = 0;

		curl_easy_getinfo(bs->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300) {
			if (!bs->started) {
				bs->started = 1;
				if (bs->req->on_data(bs->req->data_ctx, NULL, 0) < 0)
					goto abort;
			}
			if (bs->req->on_data(bs->req->data_ctx, data, n) < 0)
				goto abort;
		}
	}
	return n;
abort:
	bs->aborted = 1;
	return 0; /* curl stops the transfer with CURLE_WRITE_ERROR */
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http_response *r = ud;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";

	if (n > sizeof(name) - 1 && n < 256 && !strncasecmp(data, name, sizeof(name) - 1)) {
		char v[256];
		memcpy(v, data + sizeof(name) - 1, n - (sizeof(name) - 1));
		v[n - (sizeof(name) - 1)] = '\0';
		r->retry_after_s = http_parse_retry_after(v);
	}
	/* a new status line (redirect, 100-continue) resets what we saw */
	if (n >= 5 && !strncmp(data, "HTTP/", 5))
		r->retry_after_s = -1;
	return n;
}

static int curl_perform(void *ctx, const struct http_request *req, struct http_response *resp,
			struct err *err)
{
	struct http_client *c = ctx;
	struct curl_slist *hdrs = NULL;
	struct body_sink sink = {&resp->body, max_body, 0, req, c->curl, 0, 0};
	CURLcode rc;
	int ret = -1;

	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, req->url);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS,
			 req->timeout_ms > 0 ? req->timeout_ms : 30000L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "haink/1.0");
	curl_easy_setopt(c->curl, CURLOPT_ACCEPT_ENCODING, "");
	if (req->headers)
		for (const char *const *h = req->headers; *h; h++)
			hdrs = curl_slist_append(hdrs, *h);
	/* no "Expect: 100-continue" round trip for large POSTs */
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	if (!strcmp(req->method, "POST")) {
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(req->body ? req->body_len : 0));
	} else if (strcmp(req->method, "GET")) {
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, req->method);
	}
	buf_reset(&resp->body);
	resp->retry_after_s = -1;
	rc = curl_easy_perform(c->curl);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
		ret = 0;
	} else if (sink.aborted) {
		err_set(err, ERR_INVALID, "request to %s: stopped by the receiver", req->url);
	} else if (sink.over) {
		err_set(err, ERR_PARSE,
			"response from %s is over %zu bytes (UPSTREAM_MAX_BODY_BYTES)", req->url,
			sink.max);
		buf_reset(&resp->body);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		err_set(err, ERR_TIMEOUT, "request to %s timed out", req->url);
	} else {
		err_set(err, ERR_IO, "request to %s failed: %s", req->url, curl_easy_strerror(rc));
	}
	curl_slist_free_all(hdrs);
	return ret;
}

struct http_transport http_client_transport(struct http_client *c)
{
	struct http_transport t = {curl_perform, c};
	return t;
}

int http_status_check(const struct http_response *resp, const char *what, struct err *err)
{
	long s = resp->status;

	if (s >= 200 && s < 300)
		return 0;
	if (s == 429) {
		err_set(err, ERR_RATE_LIMITED, "%s rate limited (429)", what);
		if (err)
			err->retry_after_ms =
			    resp->retry_after_s > 0 ? resp->retry_after_s * 1000 : 0;
	} else if (s >= 500 || s == 408) {
		err_set(err, ERR_UPSTREAM, "%s failed with HTTP %ld", what, s);
	} else if (s == 401 || s == 403) {
		err_set(err, ERR_AUTH, "%s rejected the credentials (HTTP %ld)", what, s);
	} else {
		err_set(err, ERR_INVALID, "%s rejected the request (HTTP %ld)", what, s);
	}
	return -1;
}

void http_append_error_message(const struct http_response *resp, struct err *err)
{
	json_t *root, *e, *m;
	size_t used;

	if (!err || !resp->body.len)
		return;
	root = json_loadb(resp->body.s, resp->body.len, 0, NULL);
	e = root ? json_object_get(root, "error") : NULL;
	m = json_is_object(e) ? json_object_get(e, "message") : json_is_string(e) ? e : NULL;
	used = strlen(err->msg);
	if (json_is_string(m) && used + 4 < sizeof(err->msg))
		snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", json_string_value(m));
	json_decref(root);
}

int http_perform_retry(struct http_transport *t, const struct http_request *req,
		       struct http_response *resp, const struct http_retry *policy,
		       const char *what, struct err *err)
{
	long delay = policy->base_delay_ms > 0 ? policy->base_delay_ms : 200;
	struct err e;

	for (int attempt = 1;; attempt++) {
		long wait;

		err_clear(&e);
		if (t->perform(t->ctx, req, resp, &e) == 0 &&
		    http_status_check(resp, what, &e) == 0)
			return 0;
		if (!err_retryable(e.code) || attempt >= policy->max_tries)
			break;
		wait =
		    e.code == ERR_RATE_LIMITED && e.retry_after_ms > 0 ? e.retry_after_ms : delay;
		if (policy->max_delay_ms > 0 && wait > policy->max_delay_ms)
			wait = policy->max_delay_ms;
		if (policy->deadline_ms && clock_mono_ms() + wait >= policy->deadline_ms)
			break;
		log_kv(LOG_WARN, "retrying upstream request", "service", what, "error", e.msg,
		       NULL);
		clock_sleep_ms(wait);
		delay *= 2;
	}
	if (err)
		*err = e;
	return -1;
}
