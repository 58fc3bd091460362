/*
 * Unit tests of api/ui.c: the token check, route matching, and the Dev UI
 * routes' answers that need no Redis (the UI off, auth, methods, bad bodies).
 * The routes that queue or read Redis are covered by tests/integration/test_ui.py.
 */
#include "common.h"
#include "ui.h"

#include "../harness/test.h"

TEST(api_ui, token_check_is_exact)
{
	CHECK(ui_authorized("s3cret", "Bearer s3cret"));
	CHECK(ui_authorized("s3cret", "bearer s3cret")); /* the scheme is case-insensitive */
	CHECK(!ui_authorized("s3cret", "Bearer s3cre"));
	CHECK(!ui_authorized("s3cret", "Bearer s3cret "));
	CHECK(!ui_authorized("s3cret", "Bearer S3CRET"));
	CHECK(!ui_authorized("s3cret", "s3cret"));
	CHECK(!ui_authorized("s3cret", "Basic s3cret"));
	CHECK(!ui_authorized("s3cret", "Bearer "));
	CHECK(!ui_authorized("s3cret", NULL));
	CHECK(!ui_authorized("", "Bearer "));
	CHECK(!ui_authorized(NULL, "Bearer x"));
}

TEST(api_ui, routes_under_ui_only)
{
	CHECK(ui_route("/ui"));
	CHECK(ui_route("/ui/"));
	CHECK(ui_route("/ui/api/ask"));
	CHECK(!ui_route("/uix"));
	CHECK(!ui_route("/u"));
	CHECK(!ui_route("/slack/events"));
	CHECK(!ui_route("/api/ui"));
}

/* Runs one request against a server whose UI_TOKEN is token (NULL: the UI is off). */
static void run(const char *token, const char *method, const char *uri, const char *auth,
		const char *body, struct ui_reply *rp, struct buf *out)
{
	struct config cfg;
	struct ui_env env;
	struct ui_request rq = {method, uri, NULL, auth, body, body ? strlen(body) : 0};

	memset(&cfg, 0, sizeof(cfg));
	cfg.ui_token = (char *)token;
	memset(&env, 0, sizeof(env)); /* no batcher, no Redis: none of these calls reach them */
	env.cfg = &cfg;
	buf_reset(out);
	ui_handle(&env, &rq, rp, out);
}

TEST(api_ui, off_without_token_and_page_with_it)
{
	struct buf b = BUF_INIT;
	struct ui_reply rp;

	run(NULL, "GET", "/ui", NULL, NULL, &rp, &b);
	CHECK_INT_EQ(rp.code, 404);
	CHECK_STR_CONTAINS(rp.reason, "UI_TOKEN");
	run("", "GET", "/ui/api/agents", "Bearer ", NULL, &rp, &b);
	CHECK_INT_EQ(rp.code, 404);
	run("tok", "GET", "/ui", NULL, NULL, &rp, &b);
	CHECK_INT_EQ(rp.code, 200);
	CHECK(rp.error == NULL);
	CHECK_STR_EQ(rp.ctype, "text/html; charset=utf-8");
	CHECK_STR_CONTAINS(b.s, "<title>Haink Dev UI</title>");
	/* the page served is the file byte for byte: the Makefile's escaping lost nothing */
	{
		FILE *f = fopen("api/ui_page.html", "rb"); /* tests run from the repository root */
		struct buf file = BUF_INIT;
		char chunk[4096];
		size_t n;

		CHECK(f != NULL);
		while (f && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_add(&file, chunk, n);
		if (f)
			fclose(f);
		CHECK_INT_EQ((long long)b.len, (long long)file.len);
		CHECK(file.len > 0 && b.len == file.len && !memcmp(b.s, file.s, file.len));
		buf_release(&file);
	}
	run("tok", "DELETE", "/ui", NULL, NULL, &rp, &b);
	CHECK_INT_EQ(rp.code, 405);
	buf_release(&b);
}

TEST(api_ui, api_needs_token_and_right_method)
{
	struct buf b = BUF_INIT;
	struct ui_reply rp;

	run("tok", "POST", "/ui/api/ask", NULL, "{}", &rp, &b);
	CHECK_INT_EQ(rp.code, 401);
	CHECK_STR_EQ(rp.error, "unauthorized");
	run("tok", "POST", "/ui/api/ask", "Bearer nope", "{}", &rp, &b);
	CHECK_INT_EQ(rp.code, 401);
	run("tok", "GET", "/ui/api/ask", "Bearer tok", NULL, &rp, &b);
	CHECK_INT_EQ(rp.code, 405);
	run("tok", "POST", "/ui/api/agents", "Bearer tok", "{}", &rp, &b);
	CHECK_INT_EQ(rp.code, 405);
	run("tok", "GET", "/ui/api/other", "Bearer tok", NULL, &rp, &b);
	CHECK_INT_EQ(rp.code, 404);
	run("tok", "GET", "/ui/other", "Bearer tok", NULL, &rp, &b);
	CHECK_INT_EQ(rp.code, 404);
	CHECK_INT_EQ((long long)b.len, 0);
	buf_release(&b);
}

TEST(api_ui, bad_bodies_get_a_reason)
{
	static const struct {
		const char *route, *body, *reason;
	} cases[] = {
	    {"/ui/api/ask", "", "malformed JSON"},
	    {"/ui/api/ask", "{\"session\":", "malformed JSON"},
	    {"/ui/api/ask", "\"text\"", "malformed JSON"},
	    {"/ui/api/ask", "[\"text\"]", "JSON object"},
	    {"/ui/api/ask", "{\"session\":\"s-12345678\"}", "'text'"},
	    {"/ui/api/ask", "{\"session\":\"s-1234567\\u00e9\",\"text\":\"q\"}", "'session'"},
	    {"/ui/api/ask", "{\"session\":[],\"text\":\"q\"}", "'session' must be a string"},
	    {"/ui/api/ask", "{\"session\":\"s-12345678\",\"text\":\"q\",\"user\":\"x/y\"}",
	     "'user'"},
	    {"/ui/api/ask", "{\"session\":\"s-12345678\",\"text\":\"q\",\"agent\":7}", "'agent'"},
	    {"/ui/api/feedback", "{\"session\":\"s-12345678\",\"answer_id\":\"a\"}", "'feedback'"},
	    {"/ui/api/feedback", "{\"session\":\"s-12345678\",\"feedback\":\"helpful\"}",
	     "'answer_id'"},
	};
	struct buf b = BUF_INIT;
	struct ui_reply rp;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run("tok", "POST", cases[i].route, "Bearer tok", cases[i].body, &rp, &b);
		CHECK_INT_EQ(rp.code, 400);
		CHECK_STR_EQ(rp.error, "bad_request");
		CHECK_STR_CONTAINS(rp.reason, cases[i].reason);
	}
	buf_release(&b);
}
