#include "common.h"
#include "sse.h"

void sse_init(struct sse_parser *p, int (*on_event)(void *ctx, const char *data, size_t len),
	      void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->on_event = on_event;
	p->ctx = ctx;
	buf_init(&p->line);
	buf_init(&p->data);
}

void sse_release(struct sse_parser *p)
{
	buf_release(&p->line);
	buf_release(&p->data);
}

static int dispatch(struct sse_parser *p)
{
	int rc = 0;

	if (p->has_data)
		rc = p->on_event(p->ctx, p->data.s, p->data.len) < 0 ? -1 : 0;
	buf_reset(&p->data);
	p->has_data = 0;
	return rc;
}

/* One complete line (without its end). A blank line ends the event. */
static int take_line(struct sse_parser *p)
{
	const char *s = p->line.s, *colon;
	size_t n = p->line.len, name_len;
	int rc = 0;

	if (!n) {
		rc = dispatch(p);
	} else if (s[0] != ':') {
		colon = memchr(s, ':', n);
		name_len = colon ? (size_t)(colon - s) : n;
		if (name_len == 4 && !memcmp(s, "data", 4)) {
			const char *v = colon ? colon + 1 : s + n;
			size_t vn = (size_t)(s + n - v);
			if (vn && *v == ' ') {
				v++;
				vn--;
			}
			if (p->has_data)
				buf_addch(&p->data, '\n');
			buf_add(&p->data, v, vn);
			p->has_data = 1;
			if (p->data.len > SSE_MAX_EVENT) {
				p->too_long = 1;
				rc = -1;
			}
		}
	}
	buf_reset(&p->line);
	return rc;
}

int sse_feed(struct sse_parser *p, const char *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = bytes[i];

		if (c == '\n' && p->after_cr) {
			p->after_cr = 0;
			continue;
		}
		p->after_cr = c == '\r';
		if (c == '\n' || c == '\r') {
			if (take_line(p) < 0)
				return -1;
			continue;
		}
		if (p->line.len >= SSE_MAX_EVENT) {
			p->too_long = 1;
			return -1;
		}
		buf_addch(&p->line, c);
	}
	return 0;
}

int sse_finish(struct sse_parser *p)
{
	if (p->line.len && take_line(p) < 0)
		return -1;
	return dispatch(p);
}
