/*
 * html.h - turns an HTML page into Markdown-ish text for the chunker.
 *
 * Tags are stripped; script, style, head, noscript, template, svg and
 * comments are dropped with their content; h1-h6 become "#"-headings so the
 * chunker keeps the page's structure; block elements (p, div, li, tr, br, …)
 * become line or paragraph breaks; pre becomes a fenced code block with its
 * whitespace kept; elsewhere runs of whitespace collapse to one space. Common
 * named entities and all numeric ones are decoded to UTF-8. Never fails on
 * malformed input. Pure function, thread-safe.
 */
#ifndef HAINK_HTML_H
#define HAINK_HTML_H

#include <stddef.h>

struct buf;

/* Appends the text of html[0..len) to out. */
void html_to_markdown(const char *html, size_t len, struct buf *out);

/*
 * Decodes the entity starting at s[0] == '&' (n bytes available) into out.
 * Returns the number of bytes consumed, or 0 when it is not a known entity.
 */
size_t html_entity(const char *s, size_t n, struct buf *out);

#endif
