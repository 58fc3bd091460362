/*
 * memory_ft.c - FT.CREATE / FT.SEARCH for memories (see memory_ft.h).
 */
#include "common.h"
#include "memory/backend.h"
#include "memory/memory_ft.h"
#include "memory/rank.h"

#include <stdatomic.h>
#include <stdlib.h>

static void cmd_add(struct mem_cmd *c, const char *s, size_t n)
{
	c->argv = xrealloc(c->argv, sizeof(*c->argv) * (size_t)(c->argc + 1));
	c->lens = xrealloc(c->lens, sizeof(*c->lens) * (size_t)(c->argc + 1));
	c->argv[c->argc] = xmalloc(n + 1);
	memcpy(c->argv[c->argc], s, n);
	c->argv[c->argc][n] = '\0';
	c->lens[c->argc] = n;
	c->argc++;
}

static void cmd_adds(struct mem_cmd *c, const char *s)
{
	cmd_add(c, s, strlen(s));
}

void mem_cmd_release(struct mem_cmd *c)
{
	for (int i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	free(c->lens);
	memset(c, 0, sizeof(*c));
}

char *mem_cmd_text(const struct mem_cmd *c)
{
	struct buf b = BUF_INIT;

	for (int i = 0; i < c->argc; i++) {
		if (i)
			buf_addch(&b, ' ');
		if (strlen(c->argv[i]) != c->lens[i])
			buf_addf(&b, "<%zu bytes>", c->lens[i]);
		else
			buf_add(&b, c->argv[i], c->lens[i]);
	}
	return buf_detach(&b, NULL);
}

void mem_ft_create_cmd(struct mem_cmd *c, int dim)
{
	static const char *const head[] = {"FT.CREATE",
					   KEYS_MEMORY_INDEX,
					   "ON",
					   "HASH",
					   "PREFIX",
					   "1",
					   KEYS_MEMORY_PREFIX,
					   "SCHEMA",
					   "app",
					   "TAG",
					   "agent",
					   "TAG",
					   "user",
					   "TAG",
					   "thread",
					   "TAG",
					   "kind",
					   "TAG",
					   "content",
					   "TEXT",
					   "created_ms",
					   "NUMERIC",
					   "SORTABLE",
					   "embedding",
					   "VECTOR",
					   "FLAT",
					   "6",
					   "TYPE",
					   "FLOAT32",
					   "DIM"};
	char d[16];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		cmd_adds(c, head[i]);
	snprintf(d, sizeof(d), "%d", dim);
	cmd_adds(c, d);
	cmd_adds(c, "DISTANCE_METRIC");
	cmd_adds(c, "COSINE");
}

/* Appends @field:{value} with every character that is not [A-Za-z0-9_] escaped. */
static void add_tag(struct buf *b, const char *field, const char *value)
{
	buf_addf(b, "@%s:{", field);
	for (const char *p = value; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
		    !(ch >= '0' && ch <= '9') && ch != '_' && ch < 0x80)
			buf_addch(b, '\\');
		buf_addch(b, (char)ch);
	}
	buf_addch(b, '}');
}

void mem_ft_search_cmd(struct mem_cmd *c, const struct mem_scope *s, const struct mem_query *q,
		       int pool)
{
	struct buf f = BUF_INIT;
	char n[16];

	memset(c, 0, sizeof(*c));
	snprintf(n, sizeof(n), "%d", pool);
	buf_addch(&f, '(');
	add_tag(&f, "app", s->app);
	buf_addch(&f, ' ');
	add_tag(&f, "agent", s->agent);
	buf_addch(&f, ' ');
	add_tag(&f, "user", s->user);
	if (s->thread) {
		buf_addch(&f, ' ');
		add_tag(&f, "thread", s->thread);
	}
	buf_addch(&f, ')');
	if (q->vec)
		buf_addf(&f, "=>[KNN %d @embedding $v AS vscore]", pool);
	cmd_adds(c, "FT.SEARCH");
	cmd_adds(c, KEYS_MEMORY_INDEX);
	cmd_add(c, f.s, f.len);
	if (q->vec) {
		cmd_adds(c, "PARAMS");
		cmd_adds(c, "2");
		cmd_adds(c, "v");
		cmd_add(c, (const char *)q->vec, sizeof(float) * (size_t)q->dim);
		cmd_adds(c, "RETURN");
		cmd_adds(c, "5");
	} else {
		cmd_adds(c, "RETURN");
		cmd_adds(c, "4");
	}
	cmd_adds(c, "content");
	cmd_adds(c, "kind");
	cmd_adds(c, "thread");
	cmd_adds(c, "created_ms");
	if (q->vec)
		cmd_adds(c, "vscore");
	cmd_adds(c, "SORTBY");
	cmd_adds(c, q->vec ? "vscore" : "created_ms");
	cmd_adds(c, q->vec ? "ASC" : "DESC");
	cmd_adds(c, "LIMIT");
	cmd_adds(c, "0");
	cmd_adds(c, n);
	cmd_adds(c, "DIALECT");
	cmd_adds(c, "2");
	buf_release(&f);
}

static int is_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

int mem_ft_parse(const redisReply *rep, struct mem_hits *out, struct err *err)
{
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER || rep->elements % 2 != 1) {
		err_set(err, ERR_PARSE, "memory search: unexpected FT.SEARCH reply");
		return -1;
	}
	for (size_t i = 1; i + 1 < rep->elements; i += 2) {
		const redisReply *key = rep->element[i], *f = rep->element[i + 1];
		const char *colon;
		struct mem_hit *h;

		if (!is_str(key) || f->type != REDIS_REPLY_ARRAY || f->elements % 2) {
			err_set(err, ERR_PARSE, "memory search: malformed result %zu", i / 2);
			return -1;
		}
		colon = strrchr(key->str, ':');
		h = mem_hits_add(out);
		h->id = xstrdup(colon ? colon + 1 : key->str);
		h->vscore = 0;
		for (size_t k = 0; k + 1 < f->elements; k += 2) {
			const redisReply *name = f->element[k], *val = f->element[k + 1];
			if (!is_str(name) || !is_str(val))
				continue;
			if (!strcmp(name->str, "content"))
				h->content = xstrndup(val->str, val->len);
			else if (!strcmp(name->str, "kind"))
				h->kind = xstrndup(val->str, val->len);
			else if (!strcmp(name->str, "thread"))
				h->thread = xstrndup(val->str, val->len);
			else if (!strcmp(name->str, "created_ms"))
				h->created_ms = strtoll(val->str, NULL, 10);
			else if (!strcmp(name->str, "vscore"))
				h->vscore = 1.0 - strtod(val->str, NULL);
		}
		if (!h->content)
			h->content = xstrdup("");
		if (!h->kind)
			h->kind = xstrdup("turn");
		if (!h->thread)
			h->thread = xstrdup("");
	}
	return 0;
}

static atomic_int ensured;

int mem_ft_ensure(struct rds *r, int dim, struct err *err)
{
	struct mem_cmd c;
	redisReply *rep;
	struct err e = {0};

	if (atomic_load(&ensured))
		return 0;
	mem_ft_create_cmd(&c, dim);
	rep = rds_cmdv(r, &e, c.argc, (const char **)c.argv, c.lens);
	mem_cmd_release(&c);
	if (rep)
		freeReplyObject(rep);
	else if (!strstr(e.msg, "already exists")) {
		err_set(err, e.code, "cannot create %s: %s", KEYS_MEMORY_INDEX, e.msg);
		return -1;
	}
	atomic_store(&ensured, 1);
	return 0;
}

int mem_ft_search(struct rds *r, const struct mem_scope *s, const struct mem_query *q,
		  struct mem_hits *out, struct err *err)
{
	struct mem_cmd c;
	redisReply *rep;
	int pool = q->top_k * 5 > MEM_FT_POOL_MIN ? q->top_k * 5 : MEM_FT_POOL_MIN, rc;

	if (mem_ft_ensure(r, q->dim, err) < 0)
		return -1;
	mem_ft_search_cmd(&c, s, q, pool);
	rep = rds_cmdv(r, err, c.argc, (const char **)c.argv, c.lens);
	mem_cmd_release(&c);
	if (!rep)
		return -1;
	rc = mem_ft_parse(rep, out, err);
	freeReplyObject(rep);
	return rc;
}

/* The backend: the Query Engine's candidates, ranked like the local ones. */
static int ft_search_ranked(struct rds *r, const struct mem_scope *s, const struct mem_query *q,
			    struct mem_hits *out, struct err *err)
{
	struct mem_hits cand = {0};
	int rc = mem_ft_search(r, s, q, &cand, err);

	if (rc == 0)
		mem_rank_candidates(&cand, q, out);
	mem_hits_release(&cand);
	return rc;
}

const struct mem_backend_ops mem_backend_ft = {"ft", mem_ft_ensure, ft_search_ranked};
