#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LOG_CTX_MAX 4

static const char *log_component = "haink";
static enum log_level log_threshold = LOG_INFO;
static int log_json = 1;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

struct log_ctx_field {
	char key[24];
	char value[128];
};

static _Thread_local struct log_ctx_field log_ctx[LOG_CTX_MAX];

void log_setup(const char *component, enum log_level level, int json)
{
	log_component = component;
	log_threshold = level;
	log_json = json;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, level_names[i]))
			return i;
	return -1;
}

int log_enabled(enum log_level lvl)
{
	return lvl >= log_threshold && lvl < LOG_OFF;
}

void log_ctx_set(const char *key, const char *value)
{
	struct log_ctx_field *free_slot = NULL;

	for (int i = 0; i < LOG_CTX_MAX; i++) {
		struct log_ctx_field *f = &log_ctx[i];
		if (f->key[0] && !strcmp(f->key, key)) {
			if (!value)
				f->key[0] = '\0';
			else
				snprintf(f->value, sizeof(f->value), "%s", value);
			return;
		}
		if (!f->key[0] && !free_slot)
			free_slot = f;
	}
	if (value && free_slot) {
		snprintf(free_slot->key, sizeof(free_slot->key), "%s", key);
		snprintf(free_slot->value, sizeof(free_slot->value), "%s", value);
	}
}

void log_ctx_clear(void)
{
	for (int i = 0; i < LOG_CTX_MAX; i++)
		log_ctx[i].key[0] = '\0';
}

/*
 * Text logs: control characters are escaped like JSON does (\n, \t, \u00XX),
 * so a newline in a question can never forge a second log line. quote: a
 * value with a space, '=' or '"' is written "…" (logfmt), with \" and \\.
 */
static void add_text(struct buf *b, const char *s, int quote)
{
	int q = 0;

	if (quote)
		for (const char *p = s; *p && !q; p++)
			q = *p == ' ' || *p == '=' || *p == '"' || (unsigned char)*p < 0x20 ||
			    *p == 0x7f;
	if (q || !*s) {
		if (!quote && !*s)
			return;
		buf_addch(b, '"');
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n')
			buf_adds(b, "\\n");
		else if (*p == '\r')
			buf_adds(b, "\\r");
		else if (*p == '\t')
			buf_adds(b, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			buf_addf(b, "\\u%04x", *p);
		else if (q && (*p == '"' || *p == '\\'))
			buf_addf(b, "\\%c", *p);
		else
			buf_addch(b, (char)*p);
	}
	if (q || (quote && !*s))
		buf_addch(b, '"');
}

static void add_field(struct buf *b, const char *k, const char *v)
{
	if (log_json) {
		buf_addch(b, ',');
		buf_add_json_str(b, k, strlen(k));
		buf_addch(b, ':');
		buf_add_json_str(b, v, strlen(v));
	} else {
		buf_addch(b, ' ');
		add_text(b, k, 0);
		buf_addch(b, '=');
		add_text(b, v, 1);
	}
}

static void emit(enum log_level lvl, const char *msg, va_list *kv)
{
	struct buf b = BUF_INIT;
	char ts[25];

	clock_utc_iso(clock_wall_ms(), ts);
	if (log_json) {
		buf_addf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", ts,
			 level_names[lvl]);
		buf_add_json_str(&b, log_component, strlen(log_component));
		buf_adds(&b, ",\"msg\":");
		buf_add_json_str(&b, msg, strlen(msg));
	} else {
		buf_addf(&b, "%s %-5s %s: ", ts, level_names[lvl], log_component);
		add_text(&b, msg, 0);
	}
	for (int i = 0; i < LOG_CTX_MAX; i++)
		if (log_ctx[i].key[0])
			add_field(&b, log_ctx[i].key, log_ctx[i].value);
	if (kv) {
		const char *k, *v;
		while ((k = va_arg(*kv, const char *))) {
			v = va_arg(*kv, const char *);
			if (v)
				add_field(&b, k, v);
		}
	}
	buf_adds(&b, log_json ? "}\n" : "\n");
	if (write(STDERR_FILENO, b.s, b.len) < 0) {
		/* nowhere left to report a failing stderr */
	}
	buf_release(&b);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(lvl, msg, NULL);
}

void log_kv(enum log_level lvl, const char *msg, ...)
{
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, msg);
	emit(lvl, msg, &ap);
	va_end(ap);
}
