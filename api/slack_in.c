#include "common.h"
#include "jfield.h"
#include "form.h"
#include "jdoc.h"
#include "slack_in.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>

void slack_in_init(struct slack_in *in)
{
	memset(in, 0, sizeof(*in));
	task_init(&in->task);
}

void slack_in_release(struct slack_in *in)
{
	free(in->challenge);
	task_release(&in->task);
	slack_in_init(in);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static json_t *parse_json(const char *body, size_t len, struct err *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr);

	if (!root) {
		err_set(err, ERR_PARSE, "body is not valid JSON at line %d: %s", jerr.line,
			jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		err_set(err, ERR_PARSE, "body is not a JSON object");
		json_decref(root);
		return NULL;
	}
	return root;
}

/*
 * Removes a leading "<@U…>" mention (and the spaces after it) and trims the
 * text. Returns an owned string, possibly empty.
 */
static char *strip_mention(const char *text)
{
	const char *p = text, *end;

	while (isspace((unsigned char)*p))
		p++;
	if (!strncmp(p, "<@", 2)) {
		const char *gt = strchr(p, '>');
		if (gt)
			p = gt + 1;
	}
	while (isspace((unsigned char)*p))
		p++;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	return xstrndup(p, (size_t)(end - p));
}

static const char *own_user_id(const struct jdoc *d, int root)
{
	int first = jdoc_at(d, jdoc_get(d, root, "authorizations"), 0);

	return first >= 0 ? jdoc_get_str(d, first, "user_id") : NULL;
}

/*
 * Parses an event body into d: the fast parser when it handles the body, else
 * jansson (whose message explains a rejection), converted to the same form.
 * Returns 0 with the root object at node 0, or -1 with err.
 */
static int parse_event_doc(const char *body, size_t len, struct jdoc *d, struct err *err)
{
	json_t *root;

	if (jdoc_parse(d, body, len) == 0)
		return 0;
	root = parse_json(body, len, err);
	if (!root)
		return -1;
	jdoc_from_jansson(d, root);
	json_decref(root);
	return 0;
}

static int ignore(struct slack_in *in, const char *reason)
{
	in->kind = SLACK_IN_IGNORE;
	in->reason = reason;
	return 0;
}

static void route(struct task *t, const struct agents *agents)
{
	const struct agent *ag = agents ? agents_route(agents, t->channel) : NULL;

	t->agent = xstrdup(ag ? ag->id : AGENTS_DEFAULT_ID);
}

/*
 * An assistant-thread event (Slack's AI app split view): a task of type
 * "assistant" naming the thread (assistant_thread.channel_id / thread_ts),
 * the user and the channel the user is viewing (context.channel_id, may be
 * absent), for the worker to show suggested prompts or remember the context.
 */
static int assistant_event(struct slack_in *in, const struct agents *agents, const struct jdoc *d,
			   int root, int ev, const char *event_id, const char *etype,
			   struct err *err)
{
	int at = jdoc_get(d, ev, "assistant_thread"), ctx;
	const char *channel, *thread_ts, *user, *viewing, *team;
	struct task *t = &in->task;

	if (at < 0 || jdoc_type(d, at) != JDOC_OBJECT) {
		err_set(err, ERR_INVALID, "%s without assistant_thread", etype);
		return -1;
	}
	channel = jdoc_get_str(d, at, "channel_id");
	thread_ts = jdoc_get_str(d, at, "thread_ts");
	user = jdoc_get_str(d, at, "user_id");
	if (!channel || !*channel || !thread_ts || !*thread_ts || !user || !*user) {
		err_set(err, ERR_INVALID, "%s without channel_id, thread_ts or user_id", etype);
		return -1;
	}
	ctx = jdoc_get(d, at, "context");
	viewing = ctx >= 0 ? jdoc_get_str(d, ctx, "channel_id") : NULL;
	team = jdoc_get_str(d, root, "team_id");
	if (!team && ctx >= 0)
		team = jdoc_get_str(d, ctx, "team_id");
	in->kind = SLACK_IN_TASK;
	t->type = TASK_ASSISTANT;
	t->id = xstrdup(event_id);
	t->team = xstrdup(team ? team : "");
	t->channel = xstrdup(channel);
	t->thread_ts = xstrdup(thread_ts);
	t->ts = xstrdup(thread_ts);
	t->user = xstrdup(user);
	t->channel_type = xstrdup("im");
	t->source = xstrdup("slack");
	t->event = xstrdup(!strcmp(etype, "assistant_thread_started") ? "thread_started"
								      : "context_changed");
	t->context_channel = xstrdup(viewing ? viewing : "");
	route(t, agents);
	return 0;
}

/*
 * Why an app_mention / message event is not a question for the bot (another
 * event type, a channel message that is not a mention, a bot's or our own
 * message, an edit, a subtype without a question), or NULL when it is one.
 */
static const char *skip_reason(const struct jdoc *d, int ev, const char *etype, const char *user,
			       const char *own)
{
	const char *subtype = jdoc_get_str(d, ev, "subtype");
	const char *channel_type = jdoc_get_str(d, ev, "channel_type");

	if (strcmp(etype, "app_mention") && strcmp(etype, "message"))
		return "unsupported event type";
	if (!strcmp(etype, "message") && (!channel_type || strcmp(channel_type, "im")))
		return "message outside a direct message";
	if (jdoc_get(d, ev, "bot_id") >= 0 || jdoc_get(d, ev, "bot_profile") >= 0 ||
	    (subtype && !strcmp(subtype, "bot_message")))
		return "bot message";
	if (subtype && (!strcmp(subtype, "message_changed") || !strcmp(subtype, "message_deleted")))
		return "edited or deleted message";
	if (subtype && strcmp(subtype, "file_share") && strcmp(subtype, "thread_broadcast"))
		return "message subtype";
	if (!user)
		return "event without user";
	if (own && !strcmp(own, user))
		return "own message";
	return NULL;
}

int slack_in_event(const char *body, size_t len, const struct agents *agents, struct slack_in *in,
		   struct err *err)
{
	struct jdoc d = JDOC_INIT;
	const int root = 0;
	int ev;
	const char *type, *etype, *event_id, *text, *user, *own, *channel_type, *why;
	struct task *t = &in->task;
	char *clean = NULL;
	int rc = -1;

	if (parse_event_doc(body, len, &d, err) < 0) {
		jdoc_release(&d);
		return -1;
	}
	type = jdoc_get_str(&d, root, "type");
	if (!type) {
		err_set(err, ERR_INVALID, "body has no \"type\" field");
		goto out;
	}
	if (!strcmp(type, "url_verification")) {
		const char *ch = jdoc_get_str(&d, root, "challenge");
		if (!ch) {
			err_set(err, ERR_INVALID, "url_verification without challenge");
			goto out;
		}
		in->kind = SLACK_IN_CHALLENGE;
		in->challenge = xstrdup(ch);
		rc = 0;
		goto out;
	}
	if (!strcmp(type, "app_rate_limited")) {
		rc = ignore(in, "app_rate_limited");
		goto out;
	}
	if (strcmp(type, "event_callback")) {
		rc = ignore(in, "unsupported callback type");
		goto out;
	}
	event_id = jdoc_get_str(&d, root, "event_id");
	ev = jdoc_get(&d, root, "event");
	if (!event_id || !*event_id || jdoc_type(&d, ev) != JDOC_OBJECT) {
		err_set(err, ERR_INVALID, "event_callback without event_id or event");
		goto out;
	}
	etype = jdoc_get_str(&d, ev, "type");
	user = jdoc_get_str(&d, ev, "user");
	own = own_user_id(&d, root);
	channel_type = jdoc_get_str(&d, ev, "channel_type");
	if (!etype) {
		err_set(err, ERR_INVALID, "event without type");
		goto out;
	}
	if (!strcmp(etype, "assistant_thread_started") ||
	    !strcmp(etype, "assistant_thread_context_changed")) {
		rc = assistant_event(in, agents, &d, root, ev, event_id, etype, err);
		goto out;
	}
	if ((why = skip_reason(&d, ev, etype, user, own))) {
		rc = ignore(in, why);
		goto out;
	}
	text = jdoc_get_str(&d, ev, "text");
	clean = strip_mention(text ? text : "");
	if (!*clean) {
		rc = ignore(in, "empty text");
		goto out;
	}
	if (!jdoc_get_str(&d, ev, "channel") || !jdoc_get_str(&d, ev, "ts")) {
		err_set(err, ERR_INVALID, "event without channel or ts");
		goto out;
	}
	in->kind = SLACK_IN_TASK;
	t->type = TASK_QUESTION;
	t->id = xstrdup(event_id);
	t->team = dup_or_null(jdoc_get_str(&d, root, "team_id"));
	if (!t->team)
		t->team = dup_or_null(jdoc_get_str(&d, ev, "team"));
	if (!t->team)
		t->team = xstrdup("");
	t->channel = xstrdup(jdoc_get_str(&d, ev, "channel"));
	t->user = xstrdup(user);
	t->text = clean;
	clean = NULL;
	t->ts = xstrdup(jdoc_get_str(&d, ev, "ts"));
	t->thread_ts =
	    xstrdup(jdoc_get_str(&d, ev, "thread_ts") ? jdoc_get_str(&d, ev, "thread_ts") : t->ts);
	t->channel_type = xstrdup(channel_type ? channel_type : "channel");
	t->source = xstrdup("slack");
	route(t, agents);
	rc = 0;
out:
	free(clean);
	jdoc_release(&d);
	return rc;
}

/*
 * The verdict of a native feedback_buttons value "<verdict>:<answer id>",
 * moving *value past the prefix to the id; NULL when it is neither form or
 * names no id.
 */
static const char *native_verdict(const char **value)
{
	static const char *const verdicts[] = {"helpful", "not_helpful"};

	for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
		size_t n = strlen(verdicts[i]);
		if (!strncmp(*value, verdicts[i], n) && (*value)[n] == ':' && (*value)[n + 1]) {
			*value += n + 1;
			return verdicts[i];
		}
	}
	return NULL;
}

int slack_in_interactive(const char *body, size_t len, const struct agents *agents,
			 struct slack_in *in, struct err *err)
{
	int bad = 0, rc = -1;
	char *payload = form_get(body, len, "payload", &bad);
	json_t *root = NULL, *actions, *action, *obj;
	const char *type, *action_id, *value, *action_ts, *msg_ts = NULL, *thread_ts = NULL;
	const char *verdict = NULL; /* helpful / not_helpful */
	struct task *t = &in->task;
	int native;

	if (bad || !payload) {
		err_set(err, ERR_PARSE,
			bad ? "form body has a bad %%-escape" : "form body has no payload field");
		goto out;
	}
	root = parse_json(payload, strlen(payload), err);
	if (!root)
		goto out;
	type = jfield_str(root, "type", NULL);
	if (!type || strcmp(type, "block_actions")) {
		rc = ignore(in, "unsupported interaction type");
		goto out;
	}
	actions = json_object_get(root, "actions");
	action = json_is_array(actions) ? json_array_get(actions, 0) : NULL;
	action_id = action ? jfield_str(action, "action_id", NULL) : NULL;
	/*
	 * Two forms: the classic buttons (action_id feedback_helpful /
	 * feedback_not_helpful, value = the answer id) and Slack's native
	 * feedback_buttons (action_id "feedback", value = "<verdict>:<answer id>").
	 */
	native = action_id && !strcmp(action_id, "feedback");
	if (!action_id || (!native && strcmp(action_id, "feedback_helpful") &&
			   strcmp(action_id, "feedback_not_helpful"))) {
		rc = ignore(in, "unknown action");
		goto out;
	}
	value = jfield_str(action, "value", NULL);
	action_ts = jfield_str(action, "action_ts", NULL);
	if (!value || !*value || !action_ts) {
		err_set(err, ERR_INVALID, "feedback action without value or action_ts");
		goto out;
	}
	if (native) {
		if (!(verdict = native_verdict(&value))) {
			err_set(err, ERR_INVALID,
				"feedback_buttons value is not helpful:<id> or not_helpful:<id>");
			goto out;
		}
	} else {
		verdict = strcmp(action_id, "feedback_helpful") ? "not_helpful" : "helpful";
	}
	obj = json_object_get(root, "message");
	if (json_is_object(obj)) {
		msg_ts = jfield_str(obj, "ts", NULL);
		thread_ts = jfield_str(obj, "thread_ts", NULL);
	}
	obj = json_object_get(root, "container");
	if (!msg_ts && json_is_object(obj))
		msg_ts = jfield_str(obj, "message_ts", NULL);
	in->kind = SLACK_IN_TASK;
	t->type = TASK_FEEDBACK;
	t->id = xasprintf("fb:%s", action_ts);
	obj = json_object_get(root, "team");
	t->team = xstrdup(jfield_str(obj, "id", ""));
	obj = json_object_get(root, "channel");
	t->channel = xstrdup(jfield_str(obj, "id", ""));
	obj = json_object_get(root, "user");
	t->user = xstrdup(jfield_str(obj, "id", ""));
	t->ts = xstrdup(msg_ts ? msg_ts : "");
	t->thread_ts = xstrdup(thread_ts ? thread_ts : (msg_ts ? msg_ts : ""));
	t->answer_id = xstrdup(value);
	t->feedback = xstrdup(verdict);
	t->source = xstrdup("slack");
	route(t, agents);
	rc = 0;
out:
	json_decref(root);
	free(payload);
	return rc;
}

int slack_in_command(const char *body, size_t len, const struct agents *agents, struct slack_in *in,
		     struct err *err)
{
	static const char *const names[] = {"command",	    "text",	   "team_id",
					    "channel_id",   "user_id",	   "trigger_id",
					    "channel_name", "response_url"};
	char *v[8] = {0};
	int bad = 0, rc = -1;
	struct task *t = &in->task;
	char *clean = NULL;

	for (int i = 0; i < 8; i++)
		v[i] = form_get(body, len, names[i], &bad);
	if (bad) {
		err_set(err, ERR_PARSE, "form body has a bad %%-escape");
		goto out;
	}
	if (!v[0] || !v[5] || !v[3] || !v[4]) {
		err_set(err, ERR_INVALID,
			"slash command without command, trigger_id, channel_id or user_id");
		goto out;
	}
	if (strcmp(v[0], "/ask")) {
		rc = ignore(in, "unknown command");
		goto out;
	}
	clean = strip_mention(v[1] ? v[1] : "");
	if (!*clean) {
		rc = ignore(in, "empty text");
		goto out;
	}
	in->kind = SLACK_IN_TASK;
	t->type = TASK_QUESTION;
	t->id = xasprintf("cmd:%s", v[5]);
	t->team = xstrdup(v[2] ? v[2] : "");
	t->channel = xstrdup(v[3]);
	t->user = xstrdup(v[4]);
	t->text = clean;
	clean = NULL;
	t->ts = xstrdup("");
	t->thread_ts = xstrdup("");
	t->channel_type = xstrdup(v[6] && !strcmp(v[6], "directmessage") ? "im" : "channel");
	t->source = xstrdup("slack");
	/* from the signed request: the worker POSTs the answer there when it cannot post */
	if (v[7] && (!strncmp(v[7], "https://", 8) || !strncmp(v[7], "http://", 7)))
		t->response_url = xstrdup(v[7]);
	route(t, agents);
	rc = 0;
out:
	free(clean);
	for (int i = 0; i < 8; i++)
		free(v[i]);
	return rc;
}
