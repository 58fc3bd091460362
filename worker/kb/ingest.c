/*
 * ingest.c - reading, chunking, embedding and writing documents.
 *
 * Documents are gathered until about INGEST_BATCH chunks are pending, so a
 * folder of small files still fills embedding requests; then the batch is
 * embedded in one embed_texts() call and each source is written in its own
 * MULTI/EXEC, read back from one pipeline. On the Query Engine every HSET also
 * inserts into the HNSW graph on Redis's main thread (a millisecond or two at
 * 1536 floats), so there a source is written in transactions of at most
 * INGEST_TX_FLOATS / EMBEDDING_DIM chunks (8 at 1536): no single EXEC holds Redis (and the task
 * queue) for more than a few tens of milliseconds; kb:meta's version moves with the last one.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/ingest.h"
#include "kb/chunk.h"
#include "kb/html.h"
#include "kb/embed.h"
#include "kb/embed_cache.h"
#include "kb/kb.h"
#include "kb/ft.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#define INGEST_BATCH		 256
#define INGEST_TX_FLOATS	 12288 /* vector floats per MULTI/EXEC on the Query Engine */
#define INGEST_MAX_FILE		 (32L * 1024 * 1024)
#define INGEST_MAX_DEPTH	 32
#define INGEST_DEFAULT_MAX_FILES 100000
#define INGEST_DEFAULT_MAX_BYTES (2048L * 1024 * 1024)

struct doc {
	char *source; /* base source, without anchor */
	char sid[17];
	char *name; /* file name without extension: the title before any heading */
	struct chunk_list chunks;
};

struct run {
	struct worker_ctx *w;
	const struct ingest_opts *o;
	struct ingest_summary *sum;
	struct doc *docs;
	size_t ndocs, capdocs, pending_chunks;
	int64_t t0, last_progress;
	struct embed_stats es;
	const char *backend; /* recorded in kb:meta with the first source written */
	int tx_chunks;	     /* chunks per transaction (0: a source in one) */
	/* every folder and file seen (device, inode): links never loop or repeat */
	struct seen {
		dev_t dev;
		ino_t ino;
	} * seen;
	size_t nseen, capseen;
	char *root_real; /* realpath of the root being walked: links may not leave it */
	size_t files_seen, max_files;
	size_t bytes_seen, max_bytes;
};

/* Records (dev, ino); returns 1 when it was seen before. */
static int seen_before(struct run *r, const struct stat *st)
{
	for (size_t i = 0; i < r->nseen; i++)
		if (r->seen[i].dev == st->st_dev && r->seen[i].ino == st->st_ino)
			return 1;
	xgrow((void **)&r->seen, &r->capseen, r->nseen + 1, sizeof(*r->seen));
	r->seen[r->nseen].dev = st->st_dev;
	r->seen[r->nseen].ino = st->st_ino;
	r->nseen++;
	return 0;
}

/* Returns 1 when the symlink at path resolves inside the root being walked. */
static int link_inside(const struct run *r, const char *path)
{
	char *real = realpath(path, NULL);
	size_t n = r->root_real ? strlen(r->root_real) : 0;
	int in = real && r->root_real && !strncmp(real, r->root_real, n) &&
		 (real[n] == '/' || real[n] == '\0' || (n == 1 && r->root_real[0] == '/'));

	free(real);
	return in;
}

void ingest_source_id(const char *source, char out[17])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	EVP_Digest(source, strlen(source), md, &mdlen, EVP_sha256(), NULL);
	hex_encode(out, md, 8);
}

static void clean_path(const char *p, struct buf *out)
{
	while (p[0] == '.' && p[1] == '/')
		for (p += 2; *p == '/'; p++)
			;
	for (; *p; p++)
		if (!(*p == '/' && out->len && out->s[out->len - 1] == '/'))
			buf_addch(out, *p);
}

void ingest_source_of(const char *root, int root_is_dir, const char *file, const char *url,
		      struct buf *out)
{
	size_t ul;

	if (!url) {
		clean_path(file, out);
		return;
	}
	ul = strlen(url);
	while (ul && url[ul - 1] == '/')
		ul--;
	buf_add(out, url, ul);
	if (root_is_dir) {
		size_t rl = strlen(root);
		const char *rel = file;
		while (rl && root[rl - 1] == '/')
			rl--;
		if (!strncmp(file, root, rl) && file[rl] == '/')
			rel = file + rl + 1;
		buf_addch(out, '/');
		clean_path(rel, out);
	}
}

static void warn(struct run *r, const char *path, const char *why)
{
	r->sum->skipped++;
	if (r->o->progress)
		fprintf(r->o->progress, "warning: skipping %s: %s\n", path, why);
}

static void progress(struct run *r, int force)
{
	int64_t now = clock_mono_ms();

	if (!r->o->progress || (!force && now - r->last_progress < 1000))
		return;
	r->last_progress = now;
	fprintf(r->o->progress,
		"ingest: %zu files, %zu chunks, %zu embeddings (%zu cache hits), %zu skipped\n",
		r->sum->files, r->sum->chunks, r->es.cache_hits + r->es.cache_misses,
		r->es.cache_hits, r->sum->skipped);
}

static const char *format_of(const char *path, enum chunk_format *fmt, int *html)
{
	const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');

	*html = 0;
	if (!dot || (slash && dot < slash))
		return NULL;
	if (!strcasecmp(dot, ".md") || !strcasecmp(dot, ".markdown")) {
		*fmt = CHUNK_MARKDOWN;
	} else if (!strcasecmp(dot, ".txt")) {
		*fmt = CHUNK_TEXT;
	} else if (!strcasecmp(dot, ".html") || !strcasecmp(dot, ".htm")) {
		*fmt = CHUNK_MARKDOWN;
		*html = 1;
	} else {
		return NULL;
	}
	return dot;
}

/* Reads a regular file whole. Returns 0, or -1 with why set (a static string). */
static int read_file(const char *path, struct buf *out, const char **why)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	char tmp[65536];
	ssize_t got;

	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		close(fd);
		return -1;
	}
	if (st.st_size > INGEST_MAX_FILE) {
		*why = "larger than 32 MiB";
		close(fd);
		return -1;
	}
	while ((got = read(fd, tmp, sizeof(tmp))) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			close(fd);
			return -1;
		}
		buf_add(out, tmp, (size_t)got);
		if (out->len > (size_t)INGEST_MAX_FILE) {
			*why = "larger than 32 MiB";
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

static void doc_release(struct doc *d)
{
	free(d->source);
	free(d->name);
	chunk_list_release(&d->chunks);
}

/* Queues the commands replacing one source; returns how many replies to read, or -1. */
static long queue_source(struct run *r, const struct doc *d, const float *vecs, long old_count,
			 struct err *err)
{
	struct rds *rd = r->w->r;
	int dim = r->w->env->cfg->embedding_dim;
	unsigned char *blob = xmalloc((size_t)dim * 4);
	char count[24];
	long q = 0;
	size_t i;

	if (rds_append(rd, err, "MULTI") < 0)
		goto fail;
	q++;
	for (i = 0; i < d->chunks.n; i++) {
		const struct chunk *c = &d->chunks.v[i];
		char *key, num[24];
		struct buf src = BUF_INIT;
		const char *argv[12];
		size_t lens[12];
		int rc;

		if (i && r->tx_chunks && i % (size_t)r->tx_chunks == 0) {
			/* end this transaction: the index insertions run inside EXEC */
			if (rds_append(rd, err, "EXEC") < 0 ||
			    (q++, rds_append(rd, err, "MULTI") < 0))
				goto fail;
			q++;
		}
		key = keys_rag_doc(d->sid, (int)i);
		buf_adds(&src, d->source);
		if (*c->anchor)
			buf_addf(&src, "#%s", c->anchor);
		snprintf(num, sizeof(num), "%zu", i);
		embed_f32_encode(vecs + i * (size_t)dim, dim, blob);
		argv[0] = "HSET";
		argv[1] = key;
		argv[2] = "content";
		argv[3] = c->text;
		argv[4] = "title";
		argv[5] = *c->title ? c->title : d->name;
		argv[6] = "source";
		argv[7] = src.s;
		argv[8] = "chunk";
		argv[9] = num;
		argv[10] = "embedding";
		argv[11] = (const char *)blob;
		for (int a = 0; a < 11; a++)
			lens[a] = strlen(argv[a]);
		lens[11] = (size_t)dim * 4;
		rc = rds_appendv(rd, err, 12, argv, lens);
		free(key);
		buf_release(&src);
		if (rc < 0)
			goto fail;
		q++;
	}
	/* the stale tail of a longer earlier version */
	for (long j = (long)d->chunks.n; j < old_count; j++) {
		char *key = keys_rag_doc(d->sid, (int)j);
		int rc = rds_append(rd, err, "UNLINK %s", key);
		free(key);
		if (rc < 0)
			goto fail;
		q++;
	}
	snprintf(count, sizeof(count), "%zu", d->chunks.n);
	if (rds_append(rd, err, "HSET %s %s %s", keys_kb_sources(), d->sid, count) < 0 ||
	    (q++, rds_append(rd, err, "HSET %s model %s dim %d backend %s", keys_kb_meta(),
			     r->w->env->cfg->embedding_model, dim, r->backend) < 0) ||
	    (q++, rds_append(rd, err, "HINCRBY %s version 1", keys_kb_meta()) < 0) ||
	    (q++, rds_append(rd, err, "EXEC") < 0))
		goto fail;
	q++;
	free(blob);
	return q;
fail:
	free(blob);
	/* q commands were queued; the caller cannot trust the connection: make it reconnect */
	rds_disconnect(rd);
	return -1;
}

/*
 * Reads n pipeline replies of queue_source(): none may be an error, and every
 * EXEC's (an array; nil when the transaction was aborted) must hold none.
 */
static int read_exec(struct rds *rd, long n, const char *source, struct err *err)
{
	int rc = 0;

	for (long i = 0; i < n; i++) {
		redisReply *rep = rds_reply(rd, err);
		if (!rep)
			return -1;
		if (rc == 0 && rep->type == REDIS_REPLY_ERROR) {
			err_set(err, ERR_REDIS, "writing %s failed: %s", source, rep->str);
			rc = -1;
		} else if (rc == 0 && rep->type == REDIS_REPLY_NIL) {
			err_set(err, ERR_REDIS, "writing %s failed: transaction aborted", source);
			rc = -1;
		} else if (rep->type == REDIS_REPLY_ARRAY) {
			for (size_t e = 0; e < rep->elements; e++)
				if (rep->element[e]->type == REDIS_REPLY_ERROR && rc == 0) {
					err_set(err, ERR_REDIS, "writing %s failed: %s", source,
						rep->element[e]->str);
					rc = -1;
				}
		}
		freeReplyObject(rep);
	}
	return rc;
}

static int flush(struct run *r, struct err *err)
{
	int dim = r->w->env->cfg->embedding_dim, rc = -1;
	size_t total = r->pending_chunks, at = 0, d;
	const char **texts = xmalloc((total ? total : 1) * sizeof(*texts));
	char **owned = xmalloc((total ? total : 1) * sizeof(*owned));
	float *vecs = xmalloc((total ? total : 1) * (size_t)dim * sizeof(float));

	/* the heading path goes into the embedded text: it says what the chunk is about */
	for (d = 0; d < r->ndocs; d++)
		for (size_t i = 0; i < r->docs[d].chunks.n; i++) {
			const struct chunk *c = &r->docs[d].chunks.v[i];
			owned[at] =
			    xasprintf("%s\n\n%s", *c->title ? c->title : r->docs[d].name, c->text);
			texts[at] = owned[at];
			at++;
		}
	if (total && embed_texts(r->w, texts, total, vecs, &r->es, err) < 0)
		goto out;
	at = 0;
	for (d = 0; d < r->ndocs; d++) {
		const struct doc *doc = &r->docs[d];
		redisReply *rep = rds_cmd(r->w->r, err, "HGET %s %s", keys_kb_sources(), doc->sid);
		long old, q;
		if (!rep)
			goto out;
		old = (long)rds_reply_int(rep, 0);
		freeReplyObject(rep);
		q = queue_source(r, doc, vecs + at * (size_t)dim, old, err);
		if (q < 0 || read_exec(r->w->r, q, doc->source, err) < 0)
			goto out;
		at += doc->chunks.n;
		r->sum->files++;
		r->sum->chunks += doc->chunks.n;
	}
	rc = 0;
out:
	for (size_t i = 0; i < total; i++)
		free(owned[i]);
	free(owned);
	free(texts);
	free(vecs);
	for (d = 0; d < r->ndocs; d++)
		doc_release(&r->docs[d]);
	r->ndocs = 0;
	r->pending_chunks = 0;
	progress(r, 0);
	return rc;
}

static int ingest_file(struct run *r, const char *root, int root_is_dir, const char *path,
		       struct err *err)
{
	struct buf raw = BUF_INIT, md = BUF_INIT, src = BUF_INIT;
	enum chunk_format fmt = CHUNK_TEXT;
	int html, rc = 0;
	const char *why = NULL, *dot = format_of(path, &fmt, &html), *base;
	struct doc *d;

	if (!dot) {
		warn(r, path, "not a .md, .markdown, .txt, .html or .htm file");
		return 0;
	}
	if (++r->files_seen > r->max_files) {
		err_set(err, ERR_INVALID,
			"more than %zu files to ingest (at %s): ingest fewer, or raise --max-files",
			r->max_files, path);
		rc = -1;
		goto out;
	}
	if (read_file(path, &raw, &why) < 0) {
		warn(r, path, why);
		goto out;
	}
	r->bytes_seen += raw.len;
	if (r->bytes_seen > r->max_bytes) {
		err_set(err, ERR_INVALID,
			"more than %zu bytes to ingest (at %s): ingest less, or raise --max-bytes",
			r->max_bytes, path);
		rc = -1;
		goto out;
	}
	if (memchr(raw.s, '\0', raw.len) || !utf8_valid(raw.s, raw.len)) {
		warn(r, path, "binary file (NUL bytes or invalid UTF-8)");
		goto out;
	}
	if (html)
		html_to_markdown(raw.s, raw.len, &md);
	else
		buf_add(&md, raw.s, raw.len);
	xgrow((void **)&r->docs, &r->capdocs, r->ndocs + 1, sizeof(*r->docs));
	d = &r->docs[r->ndocs];
	memset(d, 0, sizeof(*d));
	chunk_document(md.s, md.len, fmt, NULL, &d->chunks);
	if (!d->chunks.n) {
		warn(r, path, "no text");
		chunk_list_release(&d->chunks);
		goto out;
	}
	ingest_source_of(root, root_is_dir, path, r->o->source_url, &src);
	d->source = buf_detach(&src, NULL);
	ingest_source_id(d->source, d->sid);
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	d->name = xstrndup(base, (size_t)(dot > base ? dot - base : (long)strlen(base)));
	r->ndocs++;
	r->pending_chunks += d->chunks.n;
	if (r->pending_chunks >= INGEST_BATCH)
		rc = flush(r, err);
out:
	buf_release(&raw);
	buf_release(&md);
	buf_release(&src);
	return rc;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(struct run *r, const char *root, const char *dir, int depth, struct err *err)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!dh) {
		warn(r, dir, strerror(errno));
		return 0;
	}
	while ((de = readdir(dh)))
		if (de->d_name[0] != '.') { /* hidden entries, "." and ".." */
			xgrow((void **)&names, &cap, n + 1, sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	closedir(dh);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *path = xasprintf("%s/%s", dir, names[i]);
		struct stat lst, st;
		if (lstat(path, &lst) < 0 || stat(path, &st) < 0) {
			warn(r, path, strerror(errno)); /* e.g. a dangling symlink */
		} else if (S_ISLNK(lst.st_mode) && !link_inside(r, path)) {
			warn(r, path, "link leads outside the folder being ingested");
			r->sum->skipped_links++;
		} else if (S_ISDIR(st.st_mode)) {
			if (seen_before(r, &st)) {
				warn(r, path,
				     "folder already ingested (a link loop or a second link)");
				r->sum->skipped_links++;
			} else if (depth >= INGEST_MAX_DEPTH) {
				warn(r, path, "folders nested too deep");
			} else {
				rc = walk(r, root, path, depth + 1, err);
			}
		} else if (!S_ISREG(st.st_mode)) {
			warn(r, path, "not a regular file");
		} else {
			enum chunk_format f;
			int h;
			if (!format_of(path, &f, &h))
				; /* not a document: silently left out, as before */
			else if (seen_before(r, &st)) {
				warn(r, path, "file already ingested through another link");
				r->sum->skipped_links++;
			} else {
				rc = ingest_file(r, root, 1, path, err);
			}
		}
		free(path);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* Drops (--reindex), checks kb:meta and prepares the backend; kb:meta is written with the data. */
static int prepare(struct run *r, struct err *err)
{
	const struct config *cfg = r->w->env->cfg;
	int backend;

	if (r->o->reindex && kb_drop(r->w, &r->sum->dropped, err) < 0)
		return -1;
	if (kb_meta_check(r->w, err) < 0 || kb_resolve_backend(r->w, &backend, err) < 0)
		return -1;
	if (backend == VECTOR_REDIS &&
	    ft_ensure_index(r->w->r, cfg->embedding_dim, cfg->vector_algorithm, err) < 0)
		return -1;
	r->backend = backend == VECTOR_REDIS ? "redis" : "local";
	r->tx_chunks = 0;
	if (backend == VECTOR_REDIS)
		r->tx_chunks = cfg->embedding_dim < INGEST_TX_FLOATS
				   ? INGEST_TX_FLOATS / cfg->embedding_dim
				   : 1;
	return 0;
}

int ingest_run(struct worker_ctx *w, const struct ingest_opts *o, struct ingest_summary *sum,
	       struct err *err)
{
	struct run r;
	int rc = -1;
	size_t i;

	memset(sum, 0, sizeof(*sum));
	memset(&r, 0, sizeof(r));
	r.w = w;
	r.o = o;
	r.sum = sum;
	r.t0 = r.last_progress = clock_mono_ms();
	r.max_files = o->max_files ? o->max_files : INGEST_DEFAULT_MAX_FILES;
	r.max_bytes = o->max_bytes ? o->max_bytes : INGEST_DEFAULT_MAX_BYTES;
	for (i = 0; i < o->npaths; i++) {
		struct stat st;
		if (stat(o->paths[i], &st) < 0) {
			err_set(err, ERR_NOT_FOUND, "cannot read %s: %s", o->paths[i],
				strerror(errno));
			return -1;
		}
	}
	if (prepare(&r, err) < 0)
		return -1;
	for (i = 0; i < o->npaths; i++) {
		struct stat st;
		const char *p = o->paths[i];
		int ok;
		if (stat(p, &st) < 0) {
			warn(&r, p, strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			free(r.root_real);
			r.root_real = realpath(p, NULL);
			ok = seen_before(&r, &st) ? 0 : walk(&r, p, p, 0, err);
		} else {
			ok = seen_before(&r, &st) ? 0 : ingest_file(&r, p, 0, p, err);
		}
		if (ok < 0)
			goto out;
	}
	if (flush(&r, err) < 0)
		goto out;
	rc = 0;
out:
	for (i = 0; i < r.ndocs; i++)
		doc_release(&r.docs[i]);
	free(r.docs);
	free(r.seen);
	free(r.root_real);
	sum->requests = r.es.requests;
	sum->cache_hits = r.es.cache_hits;
	sum->cache_misses = r.es.cache_misses;
	if (o->progress && rc == 0)
		fprintf(
		    o->progress,
		    "ingested %zu files (%zu chunks) in %.1f s; skipped %zu (%zu links leaving "
		    "the tree, looping or repeating); embeddings: %zu requests, %zu cache hits, "
		    "%zu misses\n",
		    sum->files, sum->chunks, (double)(clock_mono_ms() - r.t0) / 1000.0,
		    sum->skipped, sum->skipped_links, sum->requests, sum->cache_hits,
		    sum->cache_misses);
	return rc;
}
