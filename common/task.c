#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct task_str_field {
	const char *name;
	size_t offset;
};

#define TF(n, f)                                                                                   \
	{                                                                                          \
		n, offsetof(struct task, f)                                                        \
	}
static const struct task_str_field str_fields[] = {
    TF("id", id),
    TF("team", team),
    TF("channel", channel),
    TF("user", user),
    TF("text", text),
    TF("ts", ts),
    TF("thread_ts", thread_ts),
    TF("channel_type", channel_type),
    TF("agent", agent),
    TF("source", source),
    TF("answer_id", answer_id),
    TF("feedback", feedback),
    TF("response_url", response_url),
    TF("event", event),
    TF("context_channel", context_channel),
};
#define NSTR (sizeof(str_fields) / sizeof(str_fields[0]))

static char **slot(struct task *t, size_t i)
{
	return (char **)((char *)t + str_fields[i].offset);
}

static char *const *cslot(const struct task *t, size_t i)
{
	return (char *const *)((const char *)t + str_fields[i].offset);
}

void task_init(struct task *t)
{
	memset(t, 0, sizeof(*t));
	t->attempt = 1;
}

void task_release(struct task *t)
{
	for (size_t i = 0; i < NSTR; i++)
		free(*slot(t, i));
	task_init(t);
}

const char *task_type_name(enum task_type type)
{
	return type == TASK_FEEDBACK	? "feedback"
	       : type == TASK_ASSISTANT ? "assistant"
					: "question";
}

size_t task_encode(const struct task *t, const char **fields, const char **values, char nbuf[48])
{
	size_t n = 0;
	int off;

	fields[n] = "type";
	values[n++] = task_type_name(t->type);
	for (size_t i = 0; i < NSTR; i++) {
		const char *v = *cslot(t, i);
		if (!v)
			continue;
		fields[n] = str_fields[i].name;
		values[n++] = v;
	}
	off = snprintf(nbuf, 48, "%lld", (long long)t->enqueued_ms);
	fields[n] = "enqueued_ms";
	values[n++] = nbuf;
	snprintf(nbuf + off + 1, (size_t)(48 - off - 1), "%d", t->attempt);
	fields[n] = "attempt";
	values[n++] = nbuf + off + 1;
	return n;
}

static int field_is(const char *f, size_t flen, const char *name)
{
	return strlen(name) == flen && !memcmp(f, name, flen);
}

static int parse_ll(const char *v, size_t len, long long *out)
{
	char tmp[32];
	char *end;

	if (!len || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	*out = strtoll(tmp, &end, 10);
	return *end ? -1 : 0;
}

int task_decode(struct task *t, size_t n, const char *const *fields, const size_t *flens,
		const char *const *values, const size_t *vlens, struct err *err)
{
	int have_type = 0;
	long long v;

	for (size_t i = 0; i < n; i++) {
		const char *f = fields[i];
		size_t fl = flens[i];

		if (field_is(f, fl, "type")) {
			if (field_is(values[i], vlens[i], "question"))
				t->type = TASK_QUESTION;
			else if (field_is(values[i], vlens[i], "feedback"))
				t->type = TASK_FEEDBACK;
			else if (field_is(values[i], vlens[i], "assistant"))
				t->type = TASK_ASSISTANT;
			else {
				err_set(err, ERR_INVALID, "task has unknown type '%.*s'",
					(int)(vlens[i] > 32 ? 32 : vlens[i]), values[i]);
				return -1;
			}
			have_type = 1;
			continue;
		}
		if (field_is(f, fl, "enqueued_ms")) {
			if (parse_ll(values[i], vlens[i], &v) == 0)
				t->enqueued_ms = v;
			continue;
		}
		if (field_is(f, fl, "attempt")) {
			if (parse_ll(values[i], vlens[i], &v) == 0 && v >= 1 && v < 1000000)
				t->attempt = (int)v;
			continue;
		}
		for (size_t j = 0; j < NSTR; j++) {
			if (field_is(f, fl, str_fields[j].name)) {
				char **s = slot(t, j);
				free(*s);
				*s = xmemdup(values[i], vlens[i]);
				break;
			}
		}
	}
	if (!have_type) {
		err_set(err, ERR_INVALID, "task has no type field");
		return -1;
	}
	if (!t->id || !t->id[0]) {
		err_set(err, ERR_INVALID, "task has no id field");
		return -1;
	}
	return 0;
}

struct task *task_dup(const struct task *src)
{
	struct task *t = xmalloc(sizeof(*t));

	*t = *src;
	for (size_t i = 0; i < NSTR; i++)
		*slot(t, i) = xstrdup(*cslot(src, i));
	return t;
}
