/*
 * mrkdwn.c - Markdown to Slack mrkdwn and answer blocks (see mrkdwn.h).
 *
 * The renderer walks the cmark-gfm tree itself rather than using cmark's
 * CommonMark renderer: Slack's mrkdwn is its own dialect (single-character
 * emphasis, <url|text> links, no headings or tables), so each node maps to
 * what Slack can show.
 */
#include "common.h"
#include "slack/mrkdwn.h"
#include "slack/source.h"

#include <pthread.h>
#include <cmark-gfm.h>
#include <cmark-gfm-core-extensions.h>
#include <stdlib.h>

/* Deeper nesting than this is rendered as plain text (bounds the recursion). */
#define MRKDWN_MAX_DEPTH 40

struct rctx {
	int depth;   /* block nesting depth */
	int list;    /* list nesting level */
	int in_bold; /* inside *…*: no nested bold markers */
	int in_emph;
	int in_strike;
	int plain; /* link text and table cells: no markup at all */
};

static pthread_once_t ext_once = PTHREAD_ONCE_INIT;

static void ext_register(void)
{
	cmark_gfm_core_extensions_ensure_registered();
}

static cmark_node *md_parse(const char *md)
{
	static const char *const exts[] = {"table", "strikethrough", "autolink"};
	cmark_parser *p;
	cmark_node *doc;

	pthread_once(&ext_once, ext_register);
	p = cmark_parser_new(CMARK_OPT_DEFAULT | CMARK_OPT_STRIKETHROUGH_DOUBLE_TILDE);
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		cmark_syntax_extension *e = cmark_find_syntax_extension(exts[i]);
		if (e)
			cmark_parser_attach_syntax_extension(p, e);
	}
	cmark_parser_feed(p, md, strlen(md));
	doc = cmark_parser_finish(p);
	cmark_parser_free(p);
	return doc;
}

void mrkdwn_escape(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&':
			buf_adds(out, "&amp;");
			break;
		case '<':
			buf_adds(out, "&lt;");
			break;
		case '>':
			buf_adds(out, "&gt;");
			break;
		default:
			buf_addch(out, s[i]);
		}
	}
}

static void escape_str(struct buf *out, const char *s)
{
	if (s)
		mrkdwn_escape(out, s, strlen(s));
}

static int type_is(cmark_node *n, const char *name)
{
	const char *t = cmark_node_get_type_string(n);
	return t && !strcmp(t, name);
}

static void render_inlines(cmark_node *parent, struct buf *out, struct rctx *c);
static void render_block(cmark_node *n, struct buf *out, struct rctx *c);

/* Wraps the children of n in marker unless already inside one or in plain mode. */
static void render_wrapped(cmark_node *n, struct buf *out, struct rctx *c, const char *marker,
			   int *flag)
{
	struct buf inner = BUF_INIT;

	if (c->plain || *flag) {
		render_inlines(n, out, c);
		return;
	}
	*flag = 1;
	render_inlines(n, &inner, c);
	*flag = 0;
	if (inner.len) {
		buf_adds(out, marker);
		buf_add(out, inner.s, inner.len);
		buf_adds(out, marker);
	}
	buf_release(&inner);
}

static void render_link(cmark_node *n, struct buf *out, struct rctx *c)
{
	const char *url = cmark_node_get_url(n);
	struct buf text = BUF_INIT, u = BUF_INIT;
	int saved = c->plain;

	c->plain = 1;
	render_inlines(n, &text, c);
	c->plain = saved;
	if (!url || !*url) {
		buf_add(out, text.s, text.len);
		goto out;
	}
	for (const char *p = url; *p; p++) {
		if (*p == '|')
			buf_adds(&u, "%7C");
		else
			mrkdwn_escape(&u, p, 1);
	}
	if (c->plain) {
		buf_add(out, text.s, text.len);
		if (strcmp(text.s, u.s))
			buf_addf(out, " (%s)", u.s);
		goto out;
	}
	buf_addch(out, '<');
	buf_add(out, u.s, u.len);
	if (text.len && strcmp(text.s, u.s)) {
		buf_addch(out, '|');
		buf_add(out, text.s, text.len);
	}
	buf_addch(out, '>');
out:
	buf_release(&text);
	buf_release(&u);
}

static void render_inline(cmark_node *n, struct buf *out, struct rctx *c)
{
	const char *lit;

	switch (cmark_node_get_type(n)) {
	case CMARK_NODE_TEXT:
	case CMARK_NODE_HTML_INLINE:
		escape_str(out, cmark_node_get_literal(n));
		break;
	case CMARK_NODE_SOFTBREAK:
	case CMARK_NODE_LINEBREAK:
		buf_addch(out, c->plain ? ' ' : '\n');
		break;
	case CMARK_NODE_CODE:
		lit = cmark_node_get_literal(n);
		if (!c->plain)
			buf_addch(out, '`');
		escape_str(out, lit);
		if (!c->plain)
			buf_addch(out, '`');
		break;
	case CMARK_NODE_EMPH:
		render_wrapped(n, out, c, "_", &c->in_emph);
		break;
	case CMARK_NODE_STRONG:
		render_wrapped(n, out, c, "*", &c->in_bold);
		break;
	case CMARK_NODE_LINK:
	case CMARK_NODE_IMAGE:
		render_link(n, out, c);
		break;
	case CMARK_NODE_FOOTNOTE_REFERENCE:
		break;
	default:
		if (type_is(n, "strikethrough"))
			render_wrapped(n, out, c, "~", &c->in_strike);
		else
			render_inlines(n, out, c);
		break;
	}
}

static void render_inlines(cmark_node *parent, struct buf *out, struct rctx *c)
{
	for (cmark_node *ch = cmark_node_first_child(parent); ch; ch = cmark_node_next(ch))
		render_inline(ch, out, c);
}

/* Appends text with prefix before each line after the first (or every line when all). */
static void add_prefixed(struct buf *out, const char *text, const char *prefix, int all)
{
	const char *p = text;
	int first = 1;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (all || !first)
			buf_adds(out, prefix);
		buf_add(out, p, n);
		first = 0;
		if (!nl)
			break;
		buf_addch(out, '\n');
		p = nl + 1;
	}
}

/* Renders the block children of parent joined by sep. */
static void render_children(cmark_node *parent, struct buf *out, struct rctx *c, const char *sep)
{
	for (cmark_node *ch = cmark_node_first_child(parent); ch; ch = cmark_node_next(ch)) {
		struct buf one = BUF_INIT;

		render_block(ch, &one, c);
		if (one.len) {
			if (out->len)
				buf_adds(out, sep);
			buf_add(out, one.s, one.len);
		}
		buf_release(&one);
	}
}

static void render_list(cmark_node *n, struct buf *out, struct rctx *c)
{
	static const char *const bullets[] = {"•", "◦", "▪"};
	int ordered = cmark_node_get_list_type(n) == CMARK_ORDERED_LIST;
	int num = cmark_node_get_list_start(n);
	const char *bullet = bullets[c->list < 3 ? c->list : 2];

	c->list++;
	for (cmark_node *it = cmark_node_first_child(n); it; it = cmark_node_next(it), num++) {
		struct buf item = BUF_INIT;

		render_children(it, &item, c, "\n");
		if (out->len)
			buf_addch(out, '\n');
		if (ordered)
			buf_addf(out, "%d. ", num);
		else
			buf_addf(out, "%s ", bullet);
		add_prefixed(out, item.s, "    ", 0);
		buf_release(&item);
	}
	c->list--;
}

static void render_code_block(cmark_node *n, struct buf *out)
{
	const char *lit = cmark_node_get_literal(n);
	size_t len = lit ? strlen(lit) : 0;

	while (len && lit[len - 1] == '\n')
		len--;
	buf_adds(out, "```\n");
	if (len)
		mrkdwn_escape(out, lit, len);
	buf_adds(out, "\n```");
}

/* Display width of escaped text: code points, with &amp; &lt; &gt; as one. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	while (*s) {
		if (*s == '&' &&
		    (!strncmp(s, "&amp;", 5) || !strncmp(s, "&lt;", 4) || !strncmp(s, "&gt;", 4))) {
			s = strchr(s, ';') + 1;
			w++;
			continue;
		}
		if (!utf8_continues((unsigned char)*s))
			w++;
		s++;
	}
	return w;
}

static void render_table(cmark_node *n, struct buf *out, struct rctx *c)
{
	char ***cells = NULL; /* rows of cells */
	size_t *ncells = NULL, nrows = 0, cap = 0, cap_n = 0, ncols = 0, *widths = NULL;
	int header = 0, saved = c->plain;

	c->plain = 1;
	for (cmark_node *row = cmark_node_first_child(n); row; row = cmark_node_next(row)) {
		size_t k = 0, ccap = 0;
		char **rc = NULL;

		if (nrows == 0)
			header = cmark_gfm_extensions_get_table_row_is_header(row);
		for (cmark_node *cell = cmark_node_first_child(row); cell;
		     cell = cmark_node_next(cell)) {
			struct buf t = BUF_INIT;

			render_inlines(cell, &t, c);
			while (t.len && t.s[t.len - 1] == ' ')
				buf_truncate(&t, t.len - 1);
			xgrow((void **)&rc, &ccap, k + 1, sizeof(*rc));
			rc[k++] = buf_detach(&t, NULL);
		}
		xgrow((void **)&cells, &cap, nrows + 1, sizeof(*cells));
		xgrow((void **)&ncells, &cap_n, nrows + 1, sizeof(*ncells));
		cells[nrows] = rc;
		ncells[nrows++] = k;
		if (k > ncols)
			ncols = k;
	}
	c->plain = saved;
	widths = xcalloc(ncols ? ncols : 1, sizeof(*widths));
	for (size_t r = 0; r < nrows; r++)
		for (size_t k = 0; k < ncells[r]; k++)
			if (text_width(cells[r][k]) > widths[k])
				widths[k] = text_width(cells[r][k]);
	buf_adds(out, "```\n");
	for (size_t r = 0; r < nrows; r++) {
		size_t start = out->len;

		for (size_t k = 0; k < ncols; k++) {
			const char *s = k < ncells[r] ? cells[r][k] : "";

			if (k)
				buf_adds(out, " | ");
			buf_adds(out, s);
			for (size_t w = text_width(s); w < widths[k]; w++)
				buf_addch(out, ' ');
		}
		while (out->len > start && out->s[out->len - 1] == ' ')
			buf_truncate(out, out->len - 1);
		buf_addch(out, '\n');
		if (r == 0 && header) {
			for (size_t k = 0; k < ncols; k++) {
				if (k)
					buf_adds(out, "-+-");
				for (size_t w = 0; w < widths[k]; w++)
					buf_addch(out, '-');
			}
			buf_addch(out, '\n');
		}
	}
	buf_adds(out, "```");
	for (size_t r = 0; r < nrows; r++) {
		for (size_t k = 0; k < ncells[r]; k++)
			free(cells[r][k]);
		free(cells[r]);
	}
	free(cells);
	free(ncells);
	free(widths);
}

static void render_block(cmark_node *n, struct buf *out, struct rctx *c)
{
	struct buf tmp = BUF_INIT;

	if (c->depth >= MRKDWN_MAX_DEPTH) {
		/* pathological nesting: flatten to its text */
		int saved = c->plain;
		c->plain = 1;
		render_inlines(n, out, c);
		c->plain = saved;
		return;
	}
	c->depth++;
	switch (cmark_node_get_type(n)) {
	case CMARK_NODE_PARAGRAPH:
		render_inlines(n, out, c);
		break;
	case CMARK_NODE_HEADING: {
		int saved = c->in_bold;
		c->in_bold = 1;
		render_inlines(n, &tmp, c);
		c->in_bold = saved;
		if (tmp.len)
			buf_addf(out, "*%s*", tmp.s);
		break;
	}
	case CMARK_NODE_BLOCK_QUOTE:
		render_children(n, &tmp, c, "\n\n");
		add_prefixed(out, tmp.s, "> ", 1);
		break;
	case CMARK_NODE_LIST:
		render_list(n, out, c);
		break;
	case CMARK_NODE_ITEM:
		render_children(n, out, c, "\n");
		break;
	case CMARK_NODE_CODE_BLOCK:
		render_code_block(n, out);
		break;
	case CMARK_NODE_HTML_BLOCK: {
		const char *lit = cmark_node_get_literal(n);
		size_t len = lit ? strlen(lit) : 0;
		while (len && (lit[len - 1] == '\n' || lit[len - 1] == ' '))
			len--;
		if (len)
			mrkdwn_escape(out, lit, len);
		break;
	}
	case CMARK_NODE_THEMATIC_BREAK:
		buf_adds(out, "———");
		break;
	case CMARK_NODE_FOOTNOTE_DEFINITION:
		break;
	default:
		if (type_is(n, "table"))
			render_table(n, out, c);
		else
			render_children(n, out, c, "\n\n");
		break;
	}
	c->depth--;
	buf_release(&tmp);
}

/* Renders each top-level block of md into its own owned string. */
static char **render_top_blocks(const char *md, size_t *nout)
{
	cmark_node *doc = md_parse(md ? md : "");
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct rctx c = {0};

	for (cmark_node *ch = cmark_node_first_child(doc); ch; ch = cmark_node_next(ch)) {
		struct buf one = BUF_INIT;

		render_block(ch, &one, &c);
		if (!one.len) {
			buf_release(&one);
			continue;
		}
		xgrow((void **)&v, &cap, n + 1, sizeof(*v));
		v[n++] = buf_detach(&one, NULL);
	}
	cmark_node_free(doc);
	*nout = n;
	return v;
}

char *mrkdwn_render(const char *md)
{
	size_t n = 0;
	char **v = render_top_blocks(md, &n);
	struct buf out = BUF_INIT;

	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_adds(&out, "\n\n");
		buf_adds(&out, v[i]);
		free(v[i]);
	}
	free(v);
	return buf_detach(&out, NULL);
}

/*
 * Where to cut s (len > max) so the first part is <= max bytes: the last line
 * break in the second half, else the last space, else a code point boundary.
 * *skip is 1 when the cut character is dropped.
 */
static size_t cut_point(const char *s, size_t max, int *skip)
{
	*skip = 1;
	for (size_t i = max; i > max / 2; i--)
		if (s[i] == '\n')
			return i;
	for (size_t i = max; i > max / 4; i--)
		if (s[i] == ' ')
			return i;
	*skip = 0;
	max = utf8_floor(s, max + 1, max); /* s is longer than max */
	return max ? max : 1;
}

static void push(char ***v, size_t *n, size_t *cap, char *s)
{
	xgrow((void **)v, cap, *n + 1, sizeof(**v));
	(*v)[(*n)++] = s;
}

/* Splits one rendered block into pieces of at most max bytes. */
static char **split_block(const char *b, size_t max, size_t *nout)
{
	size_t len = strlen(b), n = 0, cap = 0;
	char **v = NULL;
	int code = len >= 8 && !strncmp(b, "```\n", 4) && !strcmp(b + len - 4, "\n```");
	const char *p = b;
	size_t rest = len, room = max;

	if (len <= max) {
		push(&v, &n, &cap, xstrdup(b));
		*nout = n;
		return v;
	}
	if (code) {
		p = b + 4;
		rest = len - 8;
		room = max - 8;
	}
	while (rest > 0) {
		size_t take = rest;
		int skip = 0;

		if (rest > room)
			take = cut_point(p, room, &skip);
		if (code)
			push(&v, &n, &cap, xasprintf("```\n%.*s\n```", (int)take, p));
		else
			push(&v, &n, &cap, xstrndup(p, take));
		p += take + (size_t)skip;
		rest -= take + (size_t)skip > rest ? rest : take + (size_t)skip;
	}
	*nout = n;
	return v;
}

void mrkdwn_sections(const char *md, size_t section_max, size_t total_max,
		     struct mrkdwn_sections *out)
{
	size_t nblocks = 0, total = 0, cap = 0;
	char **blocks = render_top_blocks(md, &nblocks);
	size_t reserve = strlen(MRKDWN_TRUNCATED_NOTE) + 2;
	struct buf cur = BUF_INIT;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < nblocks; i++) {
		size_t np = 0;
		char **pieces = out->truncated ? NULL : split_block(blocks[i], section_max, &np);

		for (size_t j = 0; j < np; j++) {
			size_t plen = strlen(pieces[j]);
			size_t need = plen + (cur.len ? 2 : 0);

			if (!out->truncated && total + need + reserve > total_max)
				out->truncated = 1;
			if (!out->truncated) {
				if (cur.len + need > section_max) {
					push(&out->v, &out->n, &cap, buf_detach(&cur, NULL));
					need = plen;
				}
				if (cur.len)
					buf_adds(&cur, "\n\n");
				buf_add(&cur, pieces[j], plen);
				total += need;
			}
			free(pieces[j]);
		}
		free(pieces);
		free(blocks[i]);
	}
	free(blocks);
	if (out->truncated) {
		if (cur.len + 2 + reserve <= section_max) {
			buf_adds(&cur, "\n\n");
			buf_adds(&cur, MRKDWN_TRUNCATED_NOTE);
		} else {
			if (cur.len)
				push(&out->v, &out->n, &cap, buf_detach(&cur, NULL));
			buf_adds(&cur, MRKDWN_TRUNCATED_NOTE);
		}
	}
	if (cur.len)
		push(&out->v, &out->n, &cap, buf_detach(&cur, NULL));
	buf_release(&cur);
}

void mrkdwn_sections_release(struct mrkdwn_sections *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static json_t *mrkdwn_text(const char *s)
{
	return json_pack("{s:s, s:s}", "type", "mrkdwn", "text", s);
}

static int is_http_url(const char *u)
{
	return !strncmp(u, "http://", 7) || !strncmp(u, "https://", 8);
}

/* Appends at most max bytes of s, escaped, cut at a code point boundary. */
static void add_escaped_capped(struct buf *out, const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len > max) {
		mrkdwn_escape(out, s, utf8_floor(s, strlen(s), max));
		buf_adds(out, "…");
	} else {
		mrkdwn_escape(out, s, len);
	}
}

static json_t *sources_block(const struct tool_source *src, size_t n)
{
	struct buf t = BUF_INIT;
	json_t *b;

	buf_adds(&t, "*Sources:*");
	for (size_t i = 0; i < n && i < MRKDWN_SOURCES_MAX; i++) {
		const char *title = src[i].title && *src[i].title ? src[i].title : src[i].url;

		buf_adds(&t, i ? "  ·  " : " ");
		if (is_http_url(src[i].url)) {
			buf_addch(&t, '<');
			for (const char *p = src[i].url; *p && p - src[i].url < 1000; p++) {
				if (*p == '|')
					buf_adds(&t, "%7C");
				else
					mrkdwn_escape(&t, p, 1);
			}
			buf_addch(&t, '|');
			add_escaped_capped(&t, title, 150);
			buf_addch(&t, '>');
		} else {
			add_escaped_capped(&t, title, 150);
			if (strcmp(title, src[i].url)) {
				buf_adds(&t, " (");
				add_escaped_capped(&t, src[i].url, 300);
				buf_addch(&t, ')');
			}
		}
	}
	b = json_pack("{s:s, s:[o]}", "type", "context", "elements", mrkdwn_text(t.s));
	buf_release(&t);
	return b;
}

static json_t *button(const char *action_id, const char *label, const char *value)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "type", "button", "action_id", action_id,
			 "text", "type", "plain_text", "text", label, "value", value);
}

json_t *mrkdwn_answer_blocks(const char *md, const struct tool_source *sources, size_t nsources,
			     const char *answer_id, enum mrkdwn_footer footer)
{
	struct mrkdwn_sections s;
	json_t *blocks = json_array();

	mrkdwn_sections(md, MRKDWN_SECTION_MAX, MRKDWN_TOTAL_MAX, &s);
	for (size_t i = 0; i < s.n; i++)
		json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "section", "text",
							mrkdwn_text(s.v[i])));
	if (!s.n)
		json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "section", "text",
							mrkdwn_text("(no answer)")));
	mrkdwn_sections_release(&s);
	if (nsources)
		json_array_append_new(blocks, sources_block(sources, nsources));
	if (footer == MRKDWN_FOOTER_BUTTONS && answer_id && *answer_id) {
		json_array_append_new(
		    blocks,
		    json_pack("{s:s, s:s, s:[o, o]}", "type", "actions", "block_id", "feedback",
			      "elements", button("feedback_helpful", "Helpful", answer_id),
			      button("feedback_not_helpful", "Not helpful", answer_id)));
	} else if (footer == MRKDWN_FOOTER_NATIVE && answer_id && *answer_id) {
		char *up = xasprintf("helpful:%s", answer_id);
		char *down = xasprintf("not_helpful:%s", answer_id);
		json_array_append_new(
		    blocks,
		    json_pack("{s:s, s:s, s:[{s:s, s:s, s:{s:{s:s, s:s}, s:s, s:s}, "
			      "s:{s:{s:s, s:s}, s:s, s:s}}]}",
			      "type", "context_actions", "block_id", "feedback", "elements", "type",
			      "feedback_buttons", "action_id", "feedback", "positive_button",
			      "text", "type", "plain_text", "text", "Helpful",
			      "accessibility_label", "Mark this answer as helpful", "value", up,
			      "negative_button", "text", "type", "plain_text", "text",
			      "Not helpful", "accessibility_label",
			      "Mark this answer as not helpful", "value", down));
		free(up);
		free(down);
	} else if (footer == MRKDWN_FOOTER_THANKS) {
		json_array_append_new(blocks,
				      json_pack("{s:s, s:[o]}", "type", "context", "elements",
						mrkdwn_text("Thanks for the feedback!")));
	}
	return blocks;
}

char *mrkdwn_fallback_text(const char *md, size_t max)
{
	char *r = mrkdwn_render(md);
	size_t len = strlen(r), cut;
	int skip;
	struct buf out = BUF_INIT;

	if (len <= max || max < 8)
		return r;
	cut = cut_point(r, max - 4, &skip);
	buf_add(&out, r, cut);
	buf_adds(&out, "…");
	free(r);
	return buf_detach(&out, NULL);
}
