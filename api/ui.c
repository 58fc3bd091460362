#include "common.h"
#include "agents.h"
#include "enqueue.h"
#include "form.h"
#include "ui.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdlib.h>

#define UI_TEXT_MAX	4000 /* bytes of a question */
#define UI_EVENTS_BATCH 100  /* stream entries per poll */
#define UI_DEFAULT_USER "ui-user"

int ui_route(const char *uri)
{
	return !strncmp(uri, "/ui", 3) && (uri[3] == '\0' || uri[3] == '/');
}

int ui_authorized(const char *token, const char *header)
{
	unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];

	if (!token || !*token || !header || strncasecmp(header, "Bearer ", 7))
		return 0;
	header += 7;
	/* digests of equal length: the comparison leaks neither content nor length */
	SHA256((const unsigned char *)token, strlen(token), want);
	SHA256((const unsigned char *)header, strlen(header), got);
	return CRYPTO_memcmp(want, got, sizeof(want)) == 0;
}

static void fail(struct ui_reply *rp, int code, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct ui_reply *rp, int code, const char *error, const char *fmt, ...)
{
	va_list ap;

	rp->code = code;
	rp->error = error;
	rp->reason[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(rp->reason, sizeof(rp->reason), fmt, ap);
		va_end(ap);
	}
}

static void ok_json(struct ui_reply *rp, struct buf *body, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);

	rp->code = 200;
	rp->ctype = "application/json";
	buf_adds(body, s);
	free(s);
	json_decref(v);
}

/* Returns 1 when s is 1..max characters, each alphanumeric or in extra. */
static int plain_word(const char *s, size_t min, size_t max, const char *extra)
{
	size_t n = s ? strlen(s) : 0;

	if (n < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
			return 0;
	return 1;
}

static int valid_session(const char *s)
{
	return plain_word(s, 8, 64, "-_");
}

/* The body as a JSON object, or NULL with rp filled. */
static json_t *body_object(const struct ui_request *rq, struct ui_reply *rp)
{
	json_error_t je;
	json_t *root = json_loadb(rq->body ? rq->body : "", rq->body_len, 0, &je);

	if (!root) {
		fail(rp, 400, "bad_request", "malformed JSON: %s", je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		fail(rp, 400, "bad_request", "the body must be a JSON object");
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Field name of root as a string: NULL when absent; -1 with rp filled when not a string. */
static int get_str(json_t *root, const char *name, const char **out, struct ui_reply *rp)
{
	json_t *v = json_object_get(root, name);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		fail(rp, 400, "bad_request", "'%s' must be a string", name);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* Reads session and user, both checked; fills rp and returns -1 when either is bad. */
static int session_and_user(json_t *root, const char **session, const char **user,
			    struct ui_reply *rp)
{
	if (get_str(root, "session", session, rp) < 0 || get_str(root, "user", user, rp) < 0)
		return -1;
	if (!valid_session(*session)) {
		fail(rp, 400, "bad_request", "'session' must be 8-64 letters, digits, '-' or '_'");
		return -1;
	}
	if (!*user || !**user) {
		*user = UI_DEFAULT_USER;
	} else if (!plain_word(*user, 1, 64, "-_.")) {
		fail(rp, 400, "bad_request",
		     "'user' must be 1-64 letters, digits, '-', '_' or '.'");
		return -1;
	}
	return 0;
}

static const struct agent *default_agent(const struct ui_env *env)
{
	return env->agents ? agents_route(env->agents, NULL) : NULL;
}

/* Fields every task from the UI carries: the session is its channel and its thread. */
static void ui_task(struct task *t, enum task_type type, const char *id, const char *session,
		    const char *user, const char *agent)
{
	t->type = type;
	t->id = xstrdup(id);
	t->team = xstrdup("ui");
	t->channel = xstrdup(session);
	t->user = xstrdup(user);
	t->ts = xstrdup("");
	t->thread_ts = xstrdup(session);
	t->channel_type = xstrdup("im");
	t->agent = xstrdup(agent);
	t->source = xstrdup("ui");
}

static void enqueue(const struct ui_env *env, struct task *t, struct ui_reply *rp, struct buf *body)
{
	struct err e = {0};

	if (enqueue_batch_task(env->batcher, t, NULL, &e) == ENQUEUE_FAILED) {
		log_kv(LOG_ERROR, "cannot queue ui task", "task_id", t->id, "error", e.msg, NULL);
		fail(rp, 503, "unavailable", "the queue is unavailable; retry later");
		return;
	}
	log_kv(LOG_DEBUG, "ui task queued", "task_id", t->id, "agent", t->agent, NULL);
	ok_json(rp, body, json_pack("{s:b, s:s}", "ok", 1, "task_id", t->id));
}

static void route_ask(const struct ui_env *env, const struct ui_request *rq, struct ui_reply *rp,
		      struct buf *body)
{
	json_t *root = body_object(rq, rp);
	const char *session, *user, *text, *agent_id;
	const struct agent *ag;
	char hex[RANDID_HEX_LEN + 1], id[40], *clean = NULL;
	struct task t;
	size_t a, z;

	task_init(&t);
	if (!root || session_and_user(root, &session, &user, rp) < 0 ||
	    get_str(root, "text", &text, rp) < 0 || get_str(root, "agent", &agent_id, rp) < 0)
		goto out;
	for (a = 0, z = text ? strlen(text) : 0; a < z && isspace((unsigned char)text[a]); a++)
		;
	while (z > a && isspace((unsigned char)text[z - 1]))
		z--;
	if (z == a) {
		fail(rp, 400, "bad_request", "'text' is missing or empty");
		goto out;
	}
	if (z - a > UI_TEXT_MAX) {
		fail(rp, 400, "bad_request", "'text' is longer than %d bytes", UI_TEXT_MAX);
		goto out;
	}
	clean = xstrndup(text + a, z - a);
	if (agent_id && *agent_id) {
		ag = env->agents ? agents_find(env->agents, agent_id) : NULL;
		if (!ag) {
			fail(rp, 400, "bad_request", "unknown agent '%.64s'", agent_id);
			goto out;
		}
	} else {
		ag = default_agent(env);
	}
	randid_hex(hex);
	snprintf(id, sizeof(id), "ui:%s", hex);
	ui_task(&t, TASK_QUESTION, id, session, user, ag ? ag->id : AGENTS_DEFAULT_ID);
	t.text = clean;
	clean = NULL;
	enqueue(env, &t, rp, body);
out:
	free(clean);
	task_release(&t);
	json_decref(root);
}

static void route_feedback(const struct ui_env *env, const struct ui_request *rq,
			   struct ui_reply *rp, struct buf *body)
{
	json_t *root = body_object(rq, rp);
	const char *session, *user, *answer_id, *fb;
	const struct agent *ag;
	char hex[RANDID_HEX_LEN + 1], id[40];
	struct task t;

	task_init(&t);
	if (!root || session_and_user(root, &session, &user, rp) < 0 ||
	    get_str(root, "answer_id", &answer_id, rp) < 0 ||
	    get_str(root, "feedback", &fb, rp) < 0)
		goto out;
	if (!plain_word(answer_id, 1, 64, "-_")) {
		fail(rp, 400, "bad_request",
		     "'answer_id' must be 1-64 letters, digits, '-' or '_'");
		goto out;
	}
	if (!fb || (strcmp(fb, "helpful") && strcmp(fb, "not_helpful"))) {
		fail(rp, 400, "bad_request", "'feedback' must be \"helpful\" or \"not_helpful\"");
		goto out;
	}
	randid_hex(hex);
	snprintf(id, sizeof(id), "fb:ui-%s", hex);
	ag = default_agent(env);
	ui_task(&t, TASK_FEEDBACK, id, session, user, ag ? ag->id : AGENTS_DEFAULT_ID);
	t.answer_id = xstrdup(answer_id);
	t.feedback = xstrdup(fb);
	enqueue(env, &t, rp, body);
out:
	task_release(&t);
	json_decref(root);
}

/* One agent for the page: id, name, default, and the start screen's description and examples. */
static json_t *agent_object(const char *id, const char *name, const char *description,
			    char *const *examples, size_t nexamples, int is_default)
{
	json_t *ex = json_array();

	for (size_t j = 0; j < nexamples; j++)
		json_array_append_new(ex, json_string(examples[j]));
	return json_pack("{s:s, s:s, s:b, s:s, s:o}", "id", id, "name", name, "default", is_default,
			 "description", description ? description : "", "examples", ex);
}

static void route_agents(const struct ui_env *env, struct ui_reply *rp, struct buf *body)
{
	const struct agent *def = default_agent(env);
	json_t *list = json_array();

	for (size_t i = 0; env->agents && i < env->agents->n; i++) {
		const struct agent *ag = &env->agents->v[i];
		json_array_append_new(list, agent_object(ag->id, ag->name ? ag->name : ag->id,
							 ag->description, ag->examples,
							 ag->nexamples, ag == def));
	}
	if (!json_array_size(list))
		json_array_append_new(list,
				      agent_object(AGENTS_DEFAULT_ID, "Default", NULL, NULL, 0, 1));
	ok_json(rp, body, json_pack("{s:o}", "agents", list));
}

/* One stream entry [id, [field, value, …]] as an object; NULL when malformed. */
static json_t *event_object(const redisReply *entry)
{
	const redisReply *kv;
	json_t *o;

	if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
	    entry->element[0]->type != REDIS_REPLY_STRING ||
	    entry->element[1]->type != REDIS_REPLY_ARRAY)
		return NULL;
	kv = entry->element[1];
	o = json_object();
	for (size_t j = 0; j + 1 < kv->elements; j += 2) {
		const redisReply *f = kv->element[j], *v = kv->element[j + 1];
		json_t *val = NULL;
		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (!strcmp(f->str, "sources") || !strcmp(f->str, "memories"))
			val = json_loadb(v->str, v->len, 0, NULL);
		if (!val)
			val = json_stringn(v->str, v->len);
		if (!val) /* not UTF-8: left out rather than sent broken */
			continue;
		json_object_set_new(o, f->str, val);
	}
	/* last, so a field named "id" cannot hide the entry id */
	json_object_set_new(o, "id", json_string(entry->element[0]->str));
	return o;
}

static void route_events(const struct ui_env *env, const struct ui_request *rq, struct ui_reply *rp,
			 struct buf *body)
{
	const char *qs = rq->query ? rq->query : "";
	int bad = 0;
	char *session = form_get(qs, strlen(qs), "session", &bad);
	char *after = form_get(qs, strlen(qs), "after", &bad);
	char *key = NULL, start[48];
	struct err e = {0};
	redisReply *rep = NULL;
	struct rds *r;
	json_t *events;
	const char *last;

	if (bad || !valid_session(session)) {
		fail(rp, 400, "bad_request",
		     "'session' must be 8-64 letters, digits, '-' or '_' in the query string");
		goto out;
	}
	if (after && *after && !rds_stream_id_valid(after)) {
		fail(rp, 400, "bad_request", "'after' must be a stream id such as 1700000000000-0");
		goto out;
	}
	if (after && *after)
		snprintf(start, sizeof(start), "(%s", after);
	else
		snprintf(start, sizeof(start), "-");
	r = env->redis(env->redis_arg, &e);
	key = keys_ui_session(session);
	if (r)
		rep = rds_cmd(r, &e, "XRANGE %s %s + COUNT %d", key, start, UI_EVENTS_BATCH);
	if (!rep) {
		log_kv(LOG_WARN, "cannot read ui events", "error", e.msg, NULL);
		fail(rp, 503, "redis_unavailable", "%s", e.msg);
		goto out;
	}
	events = json_array();
	last = after ? after : "";
	for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
		json_t *o = event_object(rep->element[i]);
		if (o)
			json_array_append_new(events, o);
		if (rep->element[i]->type == REDIS_REPLY_ARRAY && rep->element[i]->elements)
			last = rep->element[i]->element[0]->str;
	}
	ok_json(rp, body, json_pack("{s:o, s:s}", "events", events, "last", last));
out:
	if (rep)
		freeReplyObject(rep);
	free(key);
	free(session);
	free(after);
}

void ui_handle(const struct ui_env *env, const struct ui_request *rq, struct ui_reply *rp,
	       struct buf *body)
{
	const char *uri = rq->uri;
	int get = !strcmp(rq->method, "GET"), post = !strcmp(rq->method, "POST");

	memset(rp, 0, sizeof(*rp));
	if (!env->cfg->ui_token || !*env->cfg->ui_token) {
		fail(rp, 404, "not_found", "the Dev UI is off (UI_TOKEN is not set)");
		return;
	}
	if (!strcmp(uri, "/ui") || !strcmp(uri, "/ui/")) {
		if (!get) {
			fail(rp, 405, "method_not_allowed", "use GET");
			return;
		}
		rp->code = 200;
		rp->ctype = "text/html; charset=utf-8";
		buf_adds(body, ui_page_html);
		return;
	}
	if (strncmp(uri, "/ui/api/", 8)) {
		fail(rp, 404, "not_found", NULL);
		return;
	}
	if (!ui_authorized(env->cfg->ui_token, rq->authorization)) {
		fail(rp, 401, "unauthorized", "send Authorization: Bearer <UI_TOKEN>");
		return;
	}
	uri += 8;
	if (!strcmp(uri, "agents") && get)
		route_agents(env, rp, body);
	else if (!strcmp(uri, "events") && get)
		route_events(env, rq, rp, body);
	else if (!strcmp(uri, "ask") && post)
		route_ask(env, rq, rp, body);
	else if (!strcmp(uri, "feedback") && post)
		route_feedback(env, rq, rp, body);
	else if (!strcmp(uri, "agents") || !strcmp(uri, "events"))
		fail(rp, 405, "method_not_allowed", "use GET");
	else if (!strcmp(uri, "ask") || !strcmp(uri, "feedback"))
		fail(rp, 405, "method_not_allowed", "use POST");
	else
		fail(rp, 404, "not_found", NULL);
}
