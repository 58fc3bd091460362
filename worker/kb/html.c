/*
 * html.c - a small tolerant HTML-to-text converter (not a full parser: good
 * enough for documentation pages, and safe on anything).
 */
#include "common.h"
#include "kb/html.h"

#include <ctype.h>

static const struct {
	const char *name;
	uint32_t cp;
} entities[] = {
    {"amp", '&'},      {"lt", '<'},	  {"gt", '>'},	     {"quot", '"'},	 {"apos", '\''},
    {"nbsp", ' '},     {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026}, {"copy", 0xa9},
    {"reg", 0xae},     {"trade", 0x2122}, {"rsquo", 0x2019}, {"lsquo", 0x2018},	 {"rdquo", 0x201d},
    {"ldquo", 0x201c}, {"laquo", 0xab},	  {"raquo", 0xbb},   {"middot", 0xb7},	 {"bull", 0x2022},
    {"eacute", 0xe9},  {"egrave", 0xe8},  {"agrave", 0xe0},  {"uuml", 0xfc},	 {"ouml", 0xf6},
    {"auml", 0xe4},    {"szlig", 0xdf},	  {"ccedil", 0xe7},  {"times", 0xd7},	 {"euro", 0x20ac},
    {"deg", 0xb0},     {"rarr", 0x2192},  {"larr", 0x2190},
};

static void add_cp(struct buf *out, uint32_t cp)
{
	char o[4];

	if (cp == 0)
		cp = 0xfffd;
	buf_add(out, o, utf8_encode(cp, o));
}

size_t html_entity(const char *s, size_t n, struct buf *out)
{
	size_t i = 1;

	if (n < 3 || s[0] != '&')
		return 0;
	if (s[1] == '#') {
		uint32_t cp = 0;
		int hex = i + 1 < n && (s[2] == 'x' || s[2] == 'X'), digits = 0;
		i = hex ? 3 : 2;
		for (; i < n && digits < 8; i++, digits++) {
			int c = (unsigned char)s[i], v;
			if (isdigit(c))
				v = c - '0';
			else if (hex && isxdigit(c))
				v = tolower(c) - 'a' + 10;
			else
				break;
			cp = cp * (hex ? 16 : 10) + (uint32_t)v;
		}
		if (!digits)
			return 0;
		add_cp(out, cp);
		return i < n && s[i] == ';' ? i + 1 : i;
	}
	while (i < n && i < 10 && isalnum((unsigned char)s[i]))
		i++;
	if (i >= n || s[i] != ';')
		return 0;
	for (size_t e = 0; e < sizeof(entities) / sizeof(entities[0]); e++)
		if (strlen(entities[e].name) == i - 1 && !memcmp(entities[e].name, s + 1, i - 1)) {
			add_cp(out, entities[e].cp);
			return i + 1;
		}
	return 0;
}

enum tag_kind { T_OTHER, T_SKIP, T_HEADING, T_BLOCK, T_BREAK, T_PRE, T_LI };

static const struct {
	const char *name;
	enum tag_kind kind;
} tags[] = {
    {"script", T_SKIP},	  {"style", T_SKIP},
    {"head", T_SKIP},	  {"noscript", T_SKIP},
    {"template", T_SKIP}, {"svg", T_SKIP},
    {"iframe", T_SKIP},	  {"h1", T_HEADING},
    {"h2", T_HEADING},	  {"h3", T_HEADING},
    {"h4", T_HEADING},	  {"h5", T_HEADING},
    {"h6", T_HEADING},	  {"p", T_BLOCK},
    {"div", T_BLOCK},	  {"section", T_BLOCK},
    {"article", T_BLOCK}, {"main", T_BLOCK},
    {"header", T_BLOCK},  {"footer", T_BLOCK},
    {"nav", T_BLOCK},	  {"aside", T_BLOCK},
    {"ul", T_BLOCK},	  {"ol", T_BLOCK},
    {"table", T_BLOCK},	  {"blockquote", T_BLOCK},
    {"dl", T_BLOCK},	  {"figure", T_BLOCK},
    {"form", T_BLOCK},	  {"hr", T_BLOCK},
    {"body", T_BLOCK},	  {"html", T_BLOCK},
    {"br", T_BREAK},	  {"tr", T_BREAK},
    {"dt", T_BREAK},	  {"dd", T_BREAK},
    {"pre", T_PRE},	  {"li", T_LI},
};

struct conv {
	struct buf *out;
	int in_heading;
	int in_pre;
	int pending_space;
};

static size_t trailing_newlines(const struct buf *b)
{
	size_t k = 0;
	while (k < b->len && b->s[b->len - 1 - k] == '\n')
		k++;
	return k;
}

/* Ends the current line; want = 1 for a line break, 2 for a paragraph break. */
static void newline(struct conv *c, size_t want)
{
	struct buf *o = c->out;

	c->pending_space = 0;
	while (o->len && o->s[o->len - 1] == ' ')
		buf_truncate(o, o->len - 1);
	if (!o->len)
		return;
	for (size_t k = trailing_newlines(o); k < want; k++)
		buf_addch(o, '\n');
}

static void text_char(struct conv *c, char ch)
{
	struct buf *o = c->out;

	if (c->in_pre) {
		buf_addch(o, ch);
		return;
	}
	if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r' || ch == '\f') {
		c->pending_space = 1;
		return;
	}
	if (c->pending_space && o->len && o->s[o->len - 1] != '\n' && o->s[o->len - 1] != ' ')
		buf_addch(o, ' ');
	c->pending_space = 0;
	buf_addch(o, ch);
}

/* Reads a tag name at s (n bytes) into name (lowercased); returns its length. */
static size_t tag_name(const char *s, size_t n, char *name, size_t cap)
{
	size_t i = 0;
	while (i < n && i + 1 < cap && (isalnum((unsigned char)s[i]) || s[i] == '-')) {
		name[i] = (char)tolower((unsigned char)s[i]);
		i++;
	}
	name[i] = '\0';
	return i;
}

static enum tag_kind kind_of(const char *name)
{
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (!strcmp(tags[i].name, name))
			return tags[i].kind;
	return T_OTHER;
}

/* Returns the position just after the end of the element <name ...>…</name>, from p. */
static size_t skip_element(const char *s, size_t n, size_t p, const char *name)
{
	size_t nl = strlen(name);
	for (; p + 2 + nl <= n; p++)
		if (s[p] == '<' && s[p + 1] == '/' && !strncasecmp(s + p + 2, name, nl)) {
			const char *gt = memchr(s + p, '>', n - p);
			return gt ? (size_t)(gt - s) + 1 : n;
		}
	return n;
}

/*
 * Long on purpose: one state machine over the tags (one case per tag kind);
 * the state (lists, pre, tables, links) is shared by every case.
 */
void html_to_markdown(const char *s, size_t n, struct buf *out)
{
	struct conv c = {out, 0, 0, 0};
	size_t p = 0, start = out->len;

	while (p < n) {
		char name[16];
		size_t q, nlen;
		int closing;
		enum tag_kind k;
		const char *gt;

		if (s[p] == '&') {
			struct buf ent = BUF_INIT;
			size_t used = html_entity(s + p, n - p, &ent);
			if (used) {
				for (size_t i = 0; i < ent.len; i++)
					text_char(&c, ent.s[i]);
				buf_release(&ent);
				p += used;
				continue;
			}
			buf_release(&ent);
		}
		if (s[p] != '<') {
			text_char(&c, s[p++]);
			continue;
		}
		if (p + 4 <= n && !memcmp(s + p, "<!--", 4)) {
			const char *end = memmem(s + p + 4, n - p - 4, "-->", 3);
			p = end ? (size_t)(end - s) + 3 : n;
			continue;
		}
		q = p + 1;
		closing = q < n && s[q] == '/';
		if (closing)
			q++;
		nlen = tag_name(s + q, n - q, name, sizeof(name));
		if (!nlen && !(q < n && (s[q] == '!' || s[q] == '?'))) {
			text_char(&c, s[p++]); /* a lone '<' is text */
			continue;
		}
		gt = memchr(s + q, '>', n - q);
		if (!gt)
			break; /* an unterminated tag ends the page */
		p = (size_t)(gt - s) + 1;
		k = kind_of(name);
		if (k == T_SKIP && !closing && gt[-1] != '/') {
			p = skip_element(s, n, p, name);
			continue;
		}
		switch (k) {
		case T_HEADING:
			newline(&c, 2);
			if (!closing) {
				for (int l = 0; l < name[1] - '0'; l++)
					buf_addch(out, '#');
				buf_addch(out, ' ');
				c.in_heading = 1;
			} else {
				c.in_heading = 0;
			}
			break;
		case T_BLOCK:
			newline(&c, 2);
			break;
		case T_BREAK:
			if (c.in_pre)
				buf_addch(out, '\n');
			else
				newline(&c, 1);
			break;
		case T_LI:
			newline(&c, 1);
			if (!closing)
				buf_adds(out, "- ");
			break;
		case T_PRE:
			if (closing) {
				if (out->len && out->s[out->len - 1] != '\n')
					buf_addch(out, '\n');
				buf_adds(out, "```");
				newline(&c, 2);
			} else {
				newline(&c, 2);
				buf_adds(out, "```\n");
				if (p < n && s[p] == '\n')
					p++; /* the newline right after <pre> is not content */
			}
			c.in_pre = !closing;
			break;
		default:
			break;
		}
	}
	if (c.in_pre) {
		if (out->len && out->s[out->len - 1] != '\n')
			buf_addch(out, '\n');
		buf_adds(out, "```\n");
	}
	/* the text ends with exactly one newline (none when there is no text) */
	while (out->len > start && (out->s[out->len - 1] == '\n' || out->s[out->len - 1] == ' '))
		buf_truncate(out, out->len - 1);
	if (out->len > start)
		buf_addch(out, '\n');
}
