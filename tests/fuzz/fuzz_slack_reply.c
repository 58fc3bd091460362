/* Slack Web API replies (worker/slack/slack_api.c) through the http seam: any body, any status. */
#include "fuzz.h"
#include "slack/slack_api.h"

#include "../unit/fake_http.h"

static const char *const vars[] = {"SLACK_BOT_TOKEN=xoxb-fuzz",
				   "SLACK_API_URL=http://slack.test/api", "LLM_PROVIDER=offline",
				   NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_retry once = {1, 1, 1, 0};
	struct fake_env fe;
	json_t *body, *reply = NULL;
	struct err e = {0};
	char *text, *ts = NULL;
	long status;

	fuzz_quiet();
	if (size < 1 || fake_env_init(&fe, vars, NULL) < 0)
		return 0;
	/* statuses that are never retried: a 429 or 5xx would sleep through backoffs */
	static const long statuses[] = {200, 200, 200, 400, 403, 404};
	status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
	text = fuzz_str(data + 1, size - 1);
	fake_http_push(&fe.http, status, -1, text);
	fake_http_push(&fe.http, status, -1, text);
	body = json_pack("{s:s}", "channel", "C1");
	if (slack_call(&fe.w, "chat.postMessage", body, &once, &reply, &e) == 0)
		json_decref(reply);
	(void)slack_find_task_message(&fe.w, "C1", data[0] % 4 ? "1.2" : "", "Ev1", &ts, &e);
	free(ts);
	json_decref(body);
	fake_env_release(&fe);
	free(text);
	return 0;
}
