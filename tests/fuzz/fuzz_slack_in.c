/* Slack event, interactive and slash-command bodies (api/slack_in.c); byte 0 picks which. */
#include "fuzz.h"
#include "slack_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct agents agents;
	static int loaded;
	struct slack_in in;
	struct err e = {0};
	char *body;

	fuzz_quiet();
	if (!loaded) {
		agents_parse(
		    &agents,
		    "[{\"id\":\"a\",\"name\":\"A\",\"instructions\":\"x\",\"channels\":[\"C1\"]}]",
		    "fuzz", &e);
		loaded = 1;
	}
	if (size < 1)
		return 0;
	body = fuzz_str(data + 1, size - 1);
	slack_in_init(&in);
	switch (data[0] % 3) {
	case 0:
		slack_in_event(body, size - 1, &agents, &in, &e);
		break;
	case 1:
		slack_in_interactive(body, size - 1, &agents, &in, &e);
		break;
	default:
		slack_in_command(body, size - 1, &agents, &in, &e);
		break;
	}
	slack_in_release(&in);
	free(body);
	return 0;
}
