/*
 * fake_http.h - a scripted struct http_transport and a worker environment
 * for the answering side's tests (test_llm.c, test_agent.c, test_tools.c,
 * test_slack_api.c, tests/integration/test_answer.c).
 *
 * Responses come from a FIFO script (fake_http_push()) or, when a route
 * function is set, from it. Every request is recorded (url, body, headers
 * joined by "\n"). Single-threaded.
 */
#ifndef HAINK_TEST_FAKE_HTTP_H
#define HAINK_TEST_FAKE_HTTP_H

#include <stdlib.h>

#include "common.h"
#include "queue/worker_ctx.h"

#define FAKE_HTTP_MAX 64

struct fake_resp {
	long status;
	long retry_after_s;
	const char *body;
	int io_error; /* 1: no status, ERR_IO */
};

struct fake_http {
	struct fake_resp script[FAKE_HTTP_MAX];
	size_t nscript, next;
	/* when set, answers every request instead of the script */
	void (*route)(struct fake_http *f, const struct http_request *req, struct fake_resp *out);
	void *route_ctx;
	char *url[FAKE_HTTP_MAX];
	char *body[FAKE_HTTP_MAX];
	char *headers[FAKE_HTTP_MAX];
	size_t nreq;
};

static inline void fake_http_push(struct fake_http *f, long status, long retry_after_s,
				  const char *body)
{
	if (f->nscript < FAKE_HTTP_MAX)
		f->script[f->nscript++] = (struct fake_resp){status, retry_after_s, body, 0};
}

static inline int fake_http_perform(void *ctx, const struct http_request *req,
				    struct http_response *resp, struct err *err)
{
	struct fake_http *f = ctx;
	struct fake_resp r = {500, -1, "{\"error\":{\"message\":\"script exhausted\"}}", 0};
	struct buf h = BUF_INIT;

	if (f->nreq < FAKE_HTTP_MAX) {
		for (const char *const *p = req->headers; p && *p; p++) {
			buf_adds(&h, *p);
			buf_addch(&h, '\n');
		}
		f->url[f->nreq] = xstrdup(req->url);
		f->body[f->nreq] =
		    xstrndup(req->body ? req->body : "", req->body ? req->body_len : 0);
		f->headers[f->nreq] = buf_detach(&h, NULL);
		f->nreq++;
	}
	if (f->route)
		f->route(f, req, &r);
	else if (f->next < f->nscript)
		r = f->script[f->next++];
	if (r.io_error) {
		err_set(err, ERR_IO, "fake transport: connection refused");
		return -1;
	}
	resp->status = r.status;
	resp->retry_after_s = r.retry_after_s;
	buf_reset(&resp->body);
	buf_adds(&resp->body, r.body ? r.body : "");
	/* a streamed 2xx body reaches on_data in small pieces, as a network splits it */
	if (req->on_data && r.status >= 200 && r.status < 300) {
		if (req->on_data(req->data_ctx, NULL, 0) < 0)
			goto abort;
		for (size_t i = 0; i < resp->body.len; i += 7)
			if (req->on_data(req->data_ctx, resp->body.s + i,
					 i + 7 > resp->body.len ? resp->body.len - i : 7) < 0)
				goto abort;
	}
	return 0;
abort:
	err_set(err, ERR_INVALID, "fake transport: stopped by the receiver");
	return -1;
}

static inline void fake_http_reset(struct fake_http *f)
{
	for (size_t i = 0; i < f->nreq; i++) {
		free(f->url[i]);
		free(f->body[i]);
		free(f->headers[i]);
	}
	f->nreq = 0;
	f->nscript = 0;
	f->next = 0;
}

/* A worker environment over a config read from vars ("NAME=value", NULL-terminated). */
struct fake_env {
	struct config cfg;
	struct agents agents;
	struct worker_env env;
	struct worker_ctx w;
	struct fake_http http;
	const char *const *vars;
};

static inline const char *fake_env_get(const char *name, void *ctx)
{
	const char *const *vars = ctx;
	size_t n = strlen(name);

	for (; vars && *vars; vars++)
		if (!strncmp(*vars, name, n) && (*vars)[n] == '=')
			return *vars + n + 1;
	return NULL;
}

/*
 * Fills fe (zeroed by the caller) from vars; w->r is NULL unless redis_url is
 * given. Returns 0, or -1 after printing the configuration problems.
 */
static inline int fake_env_init(struct fake_env *fe, const char *const *vars, const char *redis_url)
{
	struct buf problems = BUF_INIT;
	struct err e = {0};

	memset(fe, 0, sizeof(*fe));
	fe->vars = vars;
	if (config_load(&fe->cfg, CONFIG_WORKER, fake_env_get, (void *)vars, &problems) < 0) {
		fprintf(stderr, "fake_env: %s", problems.s);
		buf_release(&problems);
		config_release(&fe->cfg);
		return -1;
	}
	buf_release(&problems);
	agents_load(&fe->agents, NULL, &e);
	fe->env.cfg = &fe->cfg;
	fe->env.agents = &fe->agents;
	snprintf(fe->env.hostname, sizeof(fe->env.hostname), "test");
	fe->w.env = &fe->env;
	fe->w.http.perform = fake_http_perform;
	fe->w.http.ctx = &fe->http;
	fe->w.side_http = fe->w.http; /* the fake is re-entrant: one record of every request */
	if (redis_url)
		fe->w.r = rds_new(redis_url, 1000, 5000, &e);
	return 0;
}

static inline void fake_env_release(struct fake_env *fe)
{
	fake_http_reset(&fe->http);
	rds_free(fe->w.r);
	agents_release(&fe->agents);
	config_release(&fe->cfg);
}

#endif
