/*
 * Socket Mode input (api/ws_client.c, api/socket_mode.c): any bytes as
 * WebSocket frames from the server, split anywhere, and each whole message as
 * an envelope whose payload becomes the body the HTTP routes parse.
 */
#include "fuzz.h"
#include "socket_mode.h"
#include "ws_client.h"

#include <jansson.h>

/* An envelope as socket_mode.c reads one: type and payload to the HTTP body. */
static void envelope(const char *msg, size_t n)
{
	json_t *j = json_loadb(msg, n, 0, NULL);
	const char *type = json_string_value(json_object_get(j, "type"));
	json_t *payload = json_object_get(j, "payload");
	struct buf body = BUF_INIT;

	if (type && json_is_object(payload)) {
		char *text = json_dumps(payload, JSON_COMPACT);
		if (text)
			socket_mode_body(type, text, &body);
		free(text);
	}
	buf_release(&body);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf rx = BUF_INIT, msg = BUF_INIT;
	struct err e = {0};
	size_t step, pos = 0;

	fuzz_quiet();
	if (size < 1)
		return 0;
	step = (size_t)data[0] % 23 + 1; /* TLS records split the frames anywhere */
	data++;
	size--;
	for (size_t i = 0; i < size; i += step) {
		struct ws_frame f;
		int rc;

		buf_add(&rx, (const char *)data + i, i + step > size ? size - i : step);
		while ((rc = ws_frame_parse(rx.s + pos, rx.len - pos, &f, &e)) == 1) {
			if (f.used > rx.len - pos || f.len > f.used)
				__builtin_trap(); /* a frame never claims bytes it does not have */
			if (f.op <= 2)
				buf_add(&msg, f.payload, f.len);
			if (f.op <= 2 && f.fin) {
				envelope(msg.s, msg.len);
				buf_reset(&msg);
			}
			pos += f.used;
		}
		if (rc < 0)
			break;
	}
	buf_release(&rx);
	buf_release(&msg);
	return 0;
}
