/*
 * memory_ft.h - the Query Engine side of long-term memory (Redis 8, or any
 * Redis with the search module): the memory_idx index over the memory:
 * hashes and the FT.SEARCH that retrieves one scope's candidates.
 *
 * mem_backend_ft (backend.h) wraps it for memory.c. Commands are built as
 * argument vectors (struct mem_cmd) so unit tests check them exactly and
 * parse recorded replies on machines without the Query Engine.
 * Thread-safe: pure functions, plus a once-per-process "index ensured" flag.
 */
#ifndef HAINK_MEMORY_FT_H
#define HAINK_MEMORY_FT_H

#include <stddef.h>
#include <hiredis/hiredis.h>

struct mem_scope;
struct mem_query;
struct mem_hits;
struct rds;
struct err;

/* Candidates fetched by KNN before the client-side hybrid re-ranking. */
#define MEM_FT_POOL_MIN 50

struct mem_cmd {
	int argc;
	char **argv;  /* owned */
	size_t *lens; /* owned */
};

void mem_cmd_release(struct mem_cmd *c);
/* Space-joined arguments (binary ones shown as <N bytes>); returns owned. */
char *mem_cmd_text(const struct mem_cmd *c);

/*
 * FT.CREATE memory_idx ON HASH PREFIX 1 memory: SCHEMA app TAG agent TAG
 * user TAG thread TAG kind TAG content TEXT created_ms NUMERIC SORTABLE
 * embedding VECTOR FLAT 6 TYPE FLOAT32 DIM <dim> DISTANCE_METRIC COSINE
 */
void mem_ft_create_cmd(struct mem_cmd *c, int dim);

/*
 * FT.SEARCH memory_idx "<tag filters>=>[KNN <pool> @embedding $v AS vscore]"
 * PARAMS 2 v <blob> RETURN 5 content kind thread created_ms vscore SORTBY
 * vscore ASC LIMIT 0 <pool> DIALECT 2; without a query vector, the tag
 * filter alone sorted by created_ms DESC. Tag values are escaped, so user
 * ids and agent ids with punctuation never widen the filter.
 */
void mem_ft_search_cmd(struct mem_cmd *c, const struct mem_scope *s, const struct mem_query *q,
		       int pool);

/*
 * Parses an FT.SEARCH reply of mem_ft_search_cmd() into out (appending
 * hits with id, content, kind, thread, created_ms, and vscore = 1 - cosine
 * distance). Returns 0 or -1 with ERR_PARSE.
 */
int mem_ft_parse(const redisReply *rep, struct mem_hits *out, struct err *err);

/* Creates memory_idx when missing (once per process). Returns 0 or -1 with err. */
int mem_ft_ensure(struct rds *r, int dim, struct err *err);

/* Runs the search; appends unranked candidates to out. Returns 0 or -1 with err. */
int mem_ft_search(struct rds *r, const struct mem_scope *s, const struct mem_query *q,
		  struct mem_hits *out, struct err *err);

#endif
