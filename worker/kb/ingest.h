/*
 * ingest.h - `haink-worker ingest`: files and folders into rag_doc:* chunks.
 *
 * Walks the given paths (folders recursively, hidden entries skipped, entries
 * sorted so runs are reproducible), reads .md .markdown .txt .html .htm files,
 * chunks them (chunk.h; HTML through html.h), embeds the chunks in batches
 * through embed_texts() (so through the cache) and writes each source in one
 * MULTI/EXEC: its new chunks, the deletion of old chunks past the new count,
 * its kb:sources count and a kb:meta version bump. Bad files (binary,
 * unreadable, not regular, empty) are skipped with a warning on stderr.
 * Links are followed only inside the folder given: a link out of it is
 * skipped, and every folder and file is read once (device and inode are
 * remembered), so a link loop or a second link to the same place is skipped
 * with a warning. More than max_files files or max_bytes bytes stop the run
 * with an error naming the flag to raise.
 * Progress goes to stderr about once a second. Single-threaded; uses one worker_ctx.
 */
#ifndef HAINK_INGEST_H
#define HAINK_INGEST_H

#include <stddef.h>
#include <stdio.h>

struct worker_ctx;
struct err;

struct ingest_opts {
	const char *const *paths;
	size_t npaths;
	const char *source_url; /* NULL: sources are the file paths */
	int reindex;		/* drop the whole knowledge base first */
	FILE *progress;		/* warnings, progress and summary; NULL = silent */
	size_t max_files;	/* more files is an error; 0 = 100,000 */
	size_t max_bytes;	/* more bytes read is an error; 0 = 2 GiB */
};

struct ingest_summary {
	size_t files;	      /* files ingested */
	size_t skipped;	      /* files skipped with a warning */
	size_t skipped_links; /* links out of the tree, around a loop or to a path seen already */
	size_t chunks;	      /* chunks written */
	size_t requests, cache_hits, cache_misses;
	size_t dropped; /* chunks removed by --reindex */
};

/*
 * Runs an ingest. Returns 0 (even when some files were skipped), or -1 with
 * err: ERR_INVALID for a knowledge base built with another model or dimension
 * (the one-line --reindex message) or a path that does not exist; Redis and
 * embedding errors as their modules report them.
 */
int ingest_run(struct worker_ctx *w, const struct ingest_opts *o, struct ingest_summary *sum,
	       struct err *err);

/* Writes the 16 hex characters identifying a source (sha256 prefix) and a NUL into out. */
void ingest_source_id(const char *source, char out[17]);

/*
 * Writes the source of a file into out: the path itself (leading "./" and
 * repeated slashes removed) without url; with url, url itself for a file
 * argument, or url + "/" + the path relative to the folder argument root.
 */
void ingest_source_of(const char *root, int root_is_dir, const char *file, const char *url,
		      struct buf *out);

#endif
