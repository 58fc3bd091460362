/* The model's Markdown to Slack mrkdwn and Block Kit blocks (worker/slack/mrkdwn.c). */
#include "fuzz.h"
#include "slack/mrkdwn.h"
#include "agent/tools.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *md = fuzz_str(data, size);
	struct mrkdwn_sections s;
	struct tool_source src = {(char *)"T", (char *)"https://x.test/a", 0.5};

	free(mrkdwn_render(md));
	memset(&s, 0, sizeof(s));
	mrkdwn_sections(md, 300, 1200, &s);
	mrkdwn_sections_release(&s);
	json_decref(mrkdwn_answer_blocks(md, &src, 1, "a1", MRKDWN_FOOTER_BUTTONS));
	free(mrkdwn_fallback_text(md, 200));
	free(md);
	return 0;
}
