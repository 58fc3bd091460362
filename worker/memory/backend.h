/*
 * backend.h - what a long-term memory backend is, and the types every part of
 * memory/ shares. Two backends implement struct mem_backend_ops:
 *  - mem_backend_local (memory_local.c): Redis without the Query Engine;
 *  - mem_backend_ft (memory_ft.c): the Query Engine's memory_idx.
 * memory.c picks one per call (mem_backend_pick()) and only ever calls it
 * through this struct, so the backends never include memory.h and memory.c
 * never includes a backend's header. Both rank with rank.h, so they return the
 * same order. Thread rules: every op takes the calling thread's struct rds.
 */
#ifndef HAINK_MEMORY_BACKEND_H
#define HAINK_MEMORY_BACKEND_H

#include <stddef.h>
#include <stdint.h>

struct rds;
struct err;

#define MEM_SCAN_MAX	500		    /* newest memories of a scope considered */
#define MEM_CONTENT_MAX 1200		    /* bytes of stored content */
#define MEM_LINE_MAX	300		    /* bytes of one "## Memories" line */
#define MEM_FACT_BONUS	0.05		    /* facts first when scores tie */
#define MEM_CACHE_BYTES (64u * 1024 * 1024) /* default in-process row cache budget */

struct mem_scope {
	const char *app;
	const char *agent;
	const char *user;
	const char *thread; /* NULL: all threads; else only memories of this thread */
};

/* Hex characters of a scope tag, before its NUL. */
#define MEM_FT_TAG_LEN 32

/*
 * The TAG values that isolate scopes in memory_idx: out gets 32 lowercase hex
 * digits of SHA-256 over the scope set's key (memory:<app>:<agent>:<user>),
 * and, when thread is not NULL, a NUL byte and the thread. TAG fields fold
 * case and split on commas, so raw ids would let "alice" see "ALICE"'s
 * memories and "bob" those of "bob,eve"; a digest has neither problem and
 * needs no escaping. Written into every memory hash as scope and tscope by either backend
 * (memory.c); defined in memory_ft.c, which reads them.
 */
void mem_ft_scope_tag(const struct mem_scope *s, const char *thread, char out[MEM_FT_TAG_LEN + 1]);

struct mem_hit {
	char *id;
	char *agent; /* set by mem_list only */
	char *content;
	char *kind;
	char *thread;
	int64_t created_ms;
	double score, vscore, tscore;
};

struct mem_hits {
	struct mem_hit *v;
	size_t n, cap;
};

void mem_hits_release(struct mem_hits *h);
/* Appends a zeroed hit and returns it (borrowed, valid until the next add). */
struct mem_hit *mem_hits_add(struct mem_hits *h);

struct mem_query {
	const char *text;
	const float *vec; /* dim floats, L2-normalised; NULL searches by text only */
	int dim;
	int top_k;
	double w_vector, w_text;
};

struct mem_backend_ops {
	const char *name; /* "local" or "ft" */
	/* Gets the backend ready to be searched for memories of dim floats
	 * (creates memory_idx once per process for ft). Returns 0 or -1 with err. */
	int (*prepare)(struct rds *r, int dim, struct err *err);
	/* Appends the top q->top_k memories of the scope to out, best first.
	 * The scope is complete (app, agent and user set). Returns 0 or -1 with err. */
	int (*search)(struct rds *r, const struct mem_scope *s, const struct mem_query *q,
		      struct mem_hits *out, struct err *err);
};

extern const struct mem_backend_ops mem_backend_local;
extern const struct mem_backend_ops mem_backend_ft;

/*
 * Empties the row cache; budget sets its size in bytes (0 disables caching,
 * (size_t)-1 keeps the current budget).
 */
void mem_cache_reset(size_t budget);

#endif
