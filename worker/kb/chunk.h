/*
 * chunk.h - splits a document into retrieval chunks that respect its structure.
 *
 * Markdown is cut at headings first (each chunk belongs to one section and
 * carries the section's heading path as its title), then at paragraph breaks
 * (blank lines), aiming at opts->target bytes per chunk with about
 * opts->overlap bytes repeated from the end of the previous chunk of the same
 * section. Fenced code blocks are kept whole when they fit in one chunk.
 * Cuts fall on whitespace, so never inside a word or a UTF-8 sequence; only a
 * single "word" longer than the target is cut, at a character boundary.
 * Plain text has no headings or fences: paragraphs only. Used by ingest.c
 * (HTML goes through html_to_markdown() first). Pure functions, thread-safe.
 */
#ifndef HAINK_CHUNK_H
#define HAINK_CHUNK_H

#include <stddef.h>

struct buf;

#define CHUNK_TARGET  1000
#define CHUNK_OVERLAP 150

enum chunk_format { CHUNK_MARKDOWN = 0, CHUNK_TEXT };

struct chunk_opts {
	size_t target;	/* bytes per chunk aimed at; 0 = CHUNK_TARGET */
	size_t overlap; /* bytes repeated between consecutive chunks; 0 = none */
};

struct chunk {
	char *title;  /* heading path "Deploy > Kubernetes > Scaling"; "" before any heading */
	char *anchor; /* slug of the nearest heading ("scaling"); "" before any heading */
	char *text;   /* the chunk's content, trimmed, never empty */
};

struct chunk_list {
	struct chunk *v;
	size_t n, cap;
};

/*
 * Appends the chunks of text (len bytes; need not be NUL-terminated) to out
 * (initialised with {0} or by an earlier call). opts NULL uses the defaults
 * with CHUNK_OVERLAP. Empty or whitespace-only input adds nothing.
 */
void chunk_document(const char *text, size_t len, enum chunk_format fmt,
		    const struct chunk_opts *opts, struct chunk_list *out);

/* Frees every chunk and leaves l empty. */
void chunk_list_release(struct chunk_list *l);

/*
 * Appends the GitHub-style anchor of a heading to out: lowercased, spaces to
 * '-', ASCII punctuation other than '-' and '_' dropped, non-ASCII kept.
 */
void chunk_slug(const char *heading, size_t len, struct buf *out);

#endif
