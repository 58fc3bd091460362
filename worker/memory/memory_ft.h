/*
 * memory_ft.h - the Query Engine side of long-term memory (Redis 8, or any
 * Redis with the search module): the memory_idx index over the memory:
 * hashes and the FT.SEARCH that retrieves one scope's candidates.
 *
 * mem_backend_ft (backend.h) wraps it for memory.c. Commands are built as
 * argument vectors (struct mem_cmd) so unit tests check them exactly and
 * parse recorded replies on machines without the Query Engine.
 * Thread-safe: pure functions, plus a process-wide "index usable" flag.
 */
#ifndef HAINK_MEMORY_FT_H
#define HAINK_MEMORY_FT_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "memory/backend.h"

struct mem_scope;
struct mem_query;
struct mem_hits;
struct rds;
struct err;

/*
 * Candidates: like the local backend, the newest MEM_SCAN_MAX memories of
 * the scope (the scope set's MEM_SCAN_MAX-th entry gives the created_ms
 * cutoff), all fetched with their vector score, so the client-side hybrid
 * ranking sees exactly the rows the local backend scores. MEM_FT_TIE_SLACK
 * extra rows cover memories sharing the cutoff millisecond.
 */
#define MEM_FT_TIE_SLACK 16
#define MEM_FT_POOL	 (MEM_SCAN_MAX + MEM_FT_TIE_SLACK)

struct mem_cmd {
	int argc;
	char **argv;  /* owned */
	size_t *lens; /* owned */
};

void mem_cmd_release(struct mem_cmd *c);
/* Space-joined arguments (binary ones shown as <N bytes>); returns owned. */
char *mem_cmd_text(const struct mem_cmd *c);

/*
 * FT.CREATE memory_idx ON HASH PREFIX 1 memory: SCHEMA scope TAG
 * CASESENSITIVE tscope TAG CASESENSITIVE kind TAG content TEXT created_ms
 * NUMERIC SORTABLE embedding VECTOR FLAT 6 TYPE FLOAT32 DIM <dim>
 * DISTANCE_METRIC COSINE
 */
void mem_ft_create_cmd(struct mem_cmd *c, int dim);

/*
 * FT.SEARCH memory_idx "(@scope:{<tag>} [@tscope:{<tag>}] [@created_ms:[<since>
 * +inf]])=>[KNN <pool> @embedding $v AS vscore]" PARAMS 2 v <blob> RETURN 5
 * content kind thread created_ms vscore SORTBY vscore ASC LIMIT 0 <pool>
 * DIALECT 2; without a query vector, the filter alone sorted by created_ms
 * DESC. since < 0 leaves out the created_ms clause.
 */
void mem_ft_search_cmd(struct mem_cmd *c, const struct mem_scope *s, const struct mem_query *q,
		       int pool, long long since);

/*
 * Parses an FT.SEARCH reply of mem_ft_search_cmd() into out (appending
 * hits with id, content, kind, thread, created_ms, and vscore = 1 - cosine
 * distance). Returns 0 or -1 with ERR_PARSE.
 */
int mem_ft_parse(const redisReply *rep, struct mem_hits *out, struct err *err);

/*
 * Makes memory_idx usable for a query vector of dim floats: creates it when
 * missing (also after FLUSHALL or a drop: checked again whenever it was not
 * usable or a search found it gone), then reads FT.INFO. Returns 1 when it can
 * be trusted; 0 when it cannot yet (still indexing existing memories, built
 * for another dimension, or without the scope tags of this version: the last
 * two logged once, with `haink-worker memory reindex` as the remedy), and the
 * caller uses the local backend; -1 with err when Redis fails.
 */
int mem_ft_ready(struct rds *r, int dim, struct err *err);

/* Forgets what mem_ft_ready() learned (tests; `memory reindex`). */
void mem_ft_reset(void);

/*
 * Runs the search; appends unranked candidates (the newest MEM_SCAN_MAX of
 * the scope, thread-filtered) to out. Returns 0; 1 when memory_idx is not
 * usable now (see mem_ft_ready(): use the local backend); -1 with err.
 */
int mem_ft_search(struct rds *r, const struct mem_scope *s, const struct mem_query *q,
		  struct mem_hits *out, struct err *err);

#endif
