/*
 * chunk.c - structure-aware chunking of Markdown and plain text.
 *
 * Each section (the text between two headings) is collected into one buffer
 * with its paragraphs separated by blank lines and the byte ranges of its
 * fenced code blocks remembered; the section is then cut into windows of
 * about target bytes, preferring a paragraph break, then a line break, then
 * any space, and never inside a code block that would fit in one chunk.
 */
#include "common.h"
#include "kb/chunk.h"

#include <ctype.h>
#include <stdlib.h>

struct range {
	size_t lo, hi;
};

struct section {
	struct buf text;
	struct range *code;
	size_t ncode, capcode;
	char *heads[6]; /* heading text per level, NULL when absent */
	int level;	/* level of the nearest heading, 0 before any */
};

static int is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

void chunk_slug(const char *h, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];
		if (c >= 0x80 || isalnum(c) || c == '_' || c == '-')
			buf_addch(out, (char)(c < 0x80 ? tolower(c) : c));
		else if (c == ' ')
			buf_addch(out, '-');
	}
}

void chunk_list_release(struct chunk_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].title);
		free(l->v[i].anchor);
		free(l->v[i].text);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void emit(struct chunk_list *out, const struct section *sec, const char *s, size_t n)
{
	struct buf title = BUF_INIT, anchor = BUF_INIT;
	struct chunk *c;

	while (n && is_space(*s)) {
		s++;
		n--;
	}
	while (n && is_space(s[n - 1]))
		n--;
	if (!n)
		return;
	for (int l = 0; l < 6; l++) {
		if (!sec->heads[l])
			continue;
		if (title.len)
			buf_adds(&title, " > ");
		buf_adds(&title, sec->heads[l]);
	}
	if (sec->level)
		chunk_slug(sec->heads[sec->level - 1], strlen(sec->heads[sec->level - 1]), &anchor);
	xgrow((void **)&out->v, &out->cap, out->n + 1, sizeof(*out->v));
	c = &out->v[out->n++];
	c->title = buf_detach(&title, NULL);
	c->anchor = buf_detach(&anchor, NULL);
	c->text = xstrndup(s, n);
}

/* Returns the fitting code block strictly containing p, or NULL. */
static const struct range *inside_code(const struct section *sec, size_t p, size_t target)
{
	for (size_t i = 0; i < sec->ncode; i++) {
		const struct range *r = &sec->code[i];
		if (r->lo < p && p < r->hi && r->hi - r->lo <= target)
			return r;
	}
	return NULL;
}

/* Picks where the chunk starting at s (with more than target bytes left) ends. */
static size_t choose_cut(const struct section *sec, size_t s, size_t target)
{
	const char *t = sec->text.s;
	size_t e = s + target, half = s + target / 2, p;
	const struct range *r = inside_code(sec, e, target);

	if (r && r->lo > s)
		return r->lo;	   /* the code block goes whole into the next chunk */
	for (p = e; p > half; p--) /* a paragraph break */
		if (t[p] == '\n' && t[p - 1] == '\n' && !inside_code(sec, p, target))
			return p;
	for (p = e; p > half; p--) /* a line break */
		if (t[p] == '\n' && !inside_code(sec, p, target))
			return p;
	for (p = e; p > s; p--) /* any space */
		if (is_space(t[p]) && !inside_code(sec, p, target))
			return p;
	/* one huge word: cut at a character boundary */
	for (p = e; p > s + 1 && utf8_continues((unsigned char)t[p]); p--)
		;
	return p;
}

static void flush_section(struct section *sec, const struct chunk_opts *o, struct chunk_list *out)
{
	const char *t = sec->text.s;
	size_t len = sec->text.len, s = 0;

	while (len && is_space(t[len - 1]))
		len--;
	while (s < len) {
		size_t cut, next;
		const struct range *r;

		while (s < len && is_space(t[s]))
			s++;
		if (s >= len)
			break;
		if (len - s <= o->target) {
			emit(out, sec, t + s, len - s);
			break;
		}
		cut = choose_cut(sec, s, o->target);
		emit(out, sec, t + s, cut - s);
		next = cut;
		if (o->overlap && cut - s > o->overlap) {
			next = cut - o->overlap;
			/* start the overlap at the beginning of a word */
			if (next > s && !is_space(t[next - 1]))
				while (next < cut && !is_space(t[next]))
					next++;
			while (next < cut && is_space(t[next]))
				next++;
			r = inside_code(sec, next, o->target);
			if (r)
				next = r->hi < cut ? r->hi : cut;
		}
		s = next > s ? next : cut;
	}
	buf_reset(&sec->text);
	sec->ncode = 0;
}

/* Returns the fence length when line opens (or closes) a fence of ch, else 0. */
static size_t fence_len(const char *line, size_t n, char *ch)
{
	size_t i = 0, k = 0;

	while (i < n && i < 3 && line[i] == ' ')
		i++;
	if (i >= n || (line[i] != '`' && line[i] != '~'))
		return 0;
	if (*ch && line[i] != *ch)
		return 0;
	while (i + k < n && line[i + k] == line[i])
		k++;
	if (k < 3)
		return 0;
	if (!*ch)
		*ch = line[i];
	return k;
}

/* ATX heading: returns its level (1-6) and sets text/tlen, else 0. */
static int atx_heading(const char *line, size_t n, const char **text, size_t *tlen)
{
	size_t i = 0, lvl = 0;

	while (i < n && i < 3 && line[i] == ' ')
		i++;
	while (i + lvl < n && line[i + lvl] == '#')
		lvl++;
	if (lvl < 1 || lvl > 6 || (i + lvl < n && line[i + lvl] != ' ' && line[i + lvl] != '\t'))
		return 0;
	i += lvl;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (n > i && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	while (n > i && line[n - 1] == '#') /* closing hashes */
		n--;
	while (n > i && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	*text = line + i;
	*tlen = n - i;
	return (int)lvl;
}

static int all_of(const char *line, size_t n, char c, size_t min)
{
	size_t k = 0;
	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < n; i++) {
		if (line[i] != c)
			return 0;
		k++;
	}
	return k >= min;
}

static void set_heading(struct section *sec, int level, const char *text, size_t n)
{
	struct buf h = BUF_INIT;

	for (size_t i = 0; i < n; i++) /* inline code and emphasis marks add nothing to a title */
		if (text[i] != '`' && text[i] != '*')
			buf_addch(&h, text[i] == '\t' ? ' ' : text[i]);
	for (int l = level - 1; l < 6; l++) {
		free(sec->heads[l]);
		sec->heads[l] = NULL;
	}
	sec->heads[level - 1] = buf_detach(&h, NULL);
	sec->level = level;
}

static void para_break(struct section *sec)
{
	if (sec->text.len && !(sec->text.len >= 2 && sec->text.s[sec->text.len - 1] == '\n' &&
			       sec->text.s[sec->text.len - 2] == '\n'))
		buf_addch(&sec->text, '\n');
}

/*
 * Long on purpose: one pass over the lines (headings, code fences, paragraphs)
 * whose state (heading path, fence, section) every branch updates.
 */
void chunk_document(const char *text, size_t len, enum chunk_format fmt,
		    const struct chunk_opts *opts, struct chunk_list *out)
{
	struct chunk_opts o = {CHUNK_TARGET, CHUNK_OVERLAP};
	struct section sec;
	size_t pos = 0, last_line = 0;
	int md = fmt == CHUNK_MARKDOWN, prev_text = 0;
	char fch = 0;
	size_t flen = 0;

	if (opts) {
		o = *opts;
		if (!o.target)
			o.target = CHUNK_TARGET;
		if (o.overlap >= o.target / 2)
			o.overlap = o.target / 2;
	}
	memset(&sec, 0, sizeof(sec));
	buf_init(&sec.text);
	/* YAML front matter is metadata, not content */
	if (md && len >= 4 && !memcmp(text, "---", 3) && (text[3] == '\n' || text[3] == '\r')) {
		const char *end = memmem(text + 3, len - 3, "\n---", 4);
		if (end) {
			const char *nl = memchr(end + 4, '\n', len - (size_t)(end + 4 - text));
			pos = nl ? (size_t)(nl + 1 - text) : len;
		}
	}
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos, hl;
		const char *ht;
		int lvl;

		pos += n + (nl ? 1 : 0);
		if (n && line[n - 1] == '\r')
			n--;
		if (flen) { /* inside a fence */
			char c = fch;
			buf_add(&sec.text, line, n);
			buf_addch(&sec.text, '\n');
			if (fence_len(line, n, &c) >= flen && all_of(line, n, fch, flen)) {
				sec.code[sec.ncode - 1].hi = sec.text.len;
				flen = 0;
			}
			continue;
		}
		if (md && (fch = 0, (flen = fence_len(line, n, &fch)) > 0)) {
			para_break(&sec);
			xgrow((void **)&sec.code, &sec.capcode, sec.ncode + 1, sizeof(*sec.code));
			sec.code[sec.ncode].lo = sec.text.len;
			buf_add(&sec.text, line, n);
			buf_addch(&sec.text, '\n');
			sec.code[sec.ncode++].hi = sec.text.len; /* until closed: to the end */
			prev_text = 0;
			continue;
		}
		if (md && (lvl = atx_heading(line, n, &ht, &hl)) > 0) {
			flush_section(&sec, &o, out);
			set_heading(&sec, lvl, ht, hl);
			prev_text = 0;
			continue;
		}
		if (md && prev_text && (all_of(line, n, '=', 1) || all_of(line, n, '-', 2))) {
			/* setext heading: the previous line was its text */
			char *h = xstrndup(sec.text.s + last_line, sec.text.len - last_line - 1);
			buf_truncate(&sec.text, last_line);
			flush_section(&sec, &o, out);
			set_heading(&sec, line[0] == '=' ? 1 : 2, h, strlen(h));
			free(h);
			prev_text = 0;
			continue;
		}
		if (all_of(line, n, ' ', 0) ||
		    (md && (all_of(line, n, '-', 3) || all_of(line, n, '*', 3)))) {
			para_break(&sec); /* blank line or thematic break */
			prev_text = 0;
			continue;
		}
		last_line = sec.text.len;
		buf_add(&sec.text, line, n);
		buf_addch(&sec.text, '\n');
		prev_text = 1;
	}
	if (flen && sec.ncode) /* an unclosed fence runs to the end */
		sec.code[sec.ncode - 1].hi = sec.text.len;
	flush_section(&sec, &o, out);
	buf_release(&sec.text);
	free(sec.code);
	for (int l = 0; l < 6; l++)
		free(sec.heads[l]);
}
