/*
 * mrkdwn.h - the model's Markdown rendered for Slack: mrkdwn text and the
 * Block Kit blocks of an answer message (sections, sources, feedback buttons).
 *
 * Markdown is parsed with libcmark-gfm (tables, strikethrough and autolinks
 * enabled) and rendered by walking the tree: **bold** -> *bold*, _em_ ->
 * _em_, ~~del~~ -> ~del~, [t](u) -> <u|t>, `code` kept, fenced code kept as
 * ``` blocks, lists with "•" or numbers, headings as a bold line, tables as
 * a preformatted block with aligned columns, and & < > escaped as Slack
 * asks (&amp; &lt; &gt;). Lengths are counted in bytes, which never
 * undercounts Slack's character limits.
 *
 * Called by the reply sinks and the feedback handler. Thread-safe (the
 * extension registration is done once under pthread_once).
 */
#ifndef HAINK_MRKDWN_H
#define HAINK_MRKDWN_H

#include <stddef.h>
#include <jansson.h>

struct tool_source;

#define MRKDWN_SECTION_MAX    3000
#define MRKDWN_TOTAL_MAX      12000
#define MRKDWN_SOURCES_MAX    5
#define MRKDWN_TRUNCATED_NOTE "_(answer truncated: it was too long for Slack)_"

/* Returns md rendered as one mrkdwn string (owned; free with free()). */
char *mrkdwn_render(const char *md);

/* Section texts of an answer. */
struct mrkdwn_sections {
	char **v; /* owned strings, each <= the section limit */
	size_t n;
	int truncated; /* 1 when text was dropped to stay under the total */
};

/*
 * Renders md and packs its top-level blocks into sections of at most
 * section_max bytes, splitting between blocks (paragraphs, lists, code
 * blocks) and hard-splitting a longer block at a line break or space (a code
 * block is re-fenced on both sides of a cut). Stops before total_max bytes
 * in all and then appends MRKDWN_TRUNCATED_NOTE as the last section text.
 * An empty md gives no sections. Release with mrkdwn_sections_release().
 */
void mrkdwn_sections(const char *md, size_t section_max, size_t total_max,
		     struct mrkdwn_sections *out);
void mrkdwn_sections_release(struct mrkdwn_sections *s);

/* What the answer's last block says. */
enum mrkdwn_footer {
	MRKDWN_FOOTER_NONE = 0,
	MRKDWN_FOOTER_BUTTONS, /* actions: feedback_helpful / feedback_not_helpful, value answer_id
				*/
	MRKDWN_FOOTER_THANKS,  /* context: "Thanks for the feedback!" */
	MRKDWN_FOOTER_NATIVE,  /* context_actions: Slack's feedback_buttons element, action_id
				  "feedback", values "helpful:<answer_id>" /
				  "not_helpful:<answer_id>" */
};

/*
 * Returns the blocks of an answer message (owned; json_decref): its sections
 * (MRKDWN_SECTION_MAX / MRKDWN_TOTAL_MAX), a "Sources:" context block with up
 * to MRKDWN_SOURCES_MAX sources (<url|title> for http(s) URLs, paths shown
 * plainly), then the footer. answer_id is required for the buttons.
 */
json_t *mrkdwn_answer_blocks(const char *md, const struct tool_source *sources, size_t nsources,
			     const char *answer_id, enum mrkdwn_footer footer);

/*
 * Returns the plain `text` fallback of a message (owned): the mrkdwn of md
 * cut at a line or word boundary to at most max bytes (with "…").
 */
char *mrkdwn_fallback_text(const char *md, size_t max);

/* Appends s with & < > escaped for Slack. */
struct buf;
void mrkdwn_escape(struct buf *out, const char *s, size_t n);

#endif
