/*
 * offline.c - the extractive responder (see offline.h).
 *
 * Scoring is deliberately simple and deterministic: a sentence scores the
 * number of distinct question words it contains (a word matches exactly, or
 * on its first five letters so "rotate" finds "rotation"); ties go to the
 * better-ranked hit, then to the earlier sentence.
 */
#include <stdint.h>

#include "common.h"
#include "jfield.h"
#include "queue/worker_ctx.h"
#include "agent/offline.h"
#include "agent/agent.h"
#include "slack/reply.h"
#include "agent/tools.h"
#include "agent/convo.h"

#include <ctype.h>
#include <stdlib.h>

#define OFFLINE_MAX_WORDS    32
#define OFFLINE_MAX_HITS     5
#define OFFLINE_SENTENCE_MAX 400

struct sentence {
	char *text;	   /* whitespace collapsed, owned */
	const char *title; /* the hit's title (borrowed): its words count for the sentence */
	int hit;
	int pos;
	int score;  /* question words in the sentence */
	int tscore; /* question words in the title and the sentence */
};

/* Words a question is padded with, dropped on top of the common stopwords. */
static const char *const fillers[] = {"all",   "her",	"one",	   "out",    "did",   "them",
				      "those", "yours", "it's",	   "any",    "some",  "please",
				      "tell",  "know",	"explain", "get",    "use",   "using",
				      "way",   "need",	"want",	   "thanks", "hello", NULL};

static int is_stopword(const char *w)
{
	if (stopword_is(w, strlen(w)))
		return 1;
	for (const char *const *s = fillers; *s; s++)
		if (!strcmp(*s, w))
			return 1;
	return 0;
}

/*
 * Light English stemming in place: strips one plural or verb ending so
 * "crashes", "crashed", "crashing" and "crash" compare equal. Deliberately
 * crude (no dictionary); the stem only has to be the same on both sides.
 */
static void stem(char *w)
{
	size_t n = strlen(w);

	if (n > 5 && !strcmp(w + n - 3, "ing"))
		w[n - 3] = '\0';
	else if (n > 4 && !strcmp(w + n - 2, "ed"))
		w[n - 2] = '\0';
	else if (n > 4 && !strcmp(w + n - 2, "es") && strchr("sxhz", w[n - 3]))
		w[n - 2] = '\0';
	else if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u')
		w[n - 1] = '\0';
}

/* Splits text into stemmed lowercase alphanumeric words of 3+ letters (distinct, no stopwords). */
static size_t words_of(const char *text, char words[][32], size_t max)
{
	size_t n = 0;
	const char *p = text;

	while (*p && n < max) {
		char w[32];
		size_t len = 0;

		while (*p && !isalnum((unsigned char)*p))
			p++;
		while (*p && isalnum((unsigned char)*p)) {
			if (len < sizeof(w) - 1)
				w[len++] = (char)tolower((unsigned char)*p);
			p++;
		}
		w[len] = '\0';
		if (len < 3 || is_stopword(w))
			continue;
		stem(w);
		for (size_t i = 0; i < n; i++)
			if (!strcmp(words[i], w))
				goto next;
		snprintf(words[n++], 32, "%s", w);
	next:;
	}
	return n;
}

static int word_match(const char *a, const char *b)
{
	if (!strcmp(a, b))
		return 1;
	return strlen(a) >= 5 && strlen(b) >= 5 && !strncmp(a, b, 5);
}

/* Counts the question words the sentence contains; sets covered[i] for each. */
static int score_of(const char *sentence, char qwords[][32], size_t nq, unsigned char *covered)
{
	char sw[64][32];
	size_t ns = words_of(sentence, sw, 64);
	int score = 0;

	for (size_t i = 0; i < nq; i++)
		for (size_t j = 0; j < ns; j++)
			if (word_match(qwords[i], sw[j])) {
				score++;
				if (covered)
					covered[i] = 1;
				break;
			}
	return score;
}

/*
 * The kept sentences answer the question only when they cover most of its
 * content words (two thirds, rounded up): a passage that shares "Haink" and
 * "support" with "Does Haink support Microsoft Teams?" does not answer it.
 */
static int covers(const struct sentence *v, size_t keep, char qwords[][32], size_t nq)
{
	unsigned char covered[OFFLINE_MAX_WORDS] = {0};
	size_t got = 0;

	for (size_t i = 0; i < keep; i++) {
		char *both = xasprintf("%s %s", v[i].title, v[i].text);

		score_of(both, qwords, nq, covered);
		free(both);
	}
	for (size_t i = 0; i < nq; i++)
		got += covered[i];
	return nq && 3 * got >= 2 * nq;
}

/* Copies s[0..n) collapsing whitespace and dropping leading Markdown markers. */
static char *clean_sentence(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	size_t i = 0;
	int space = 0;

	while (i < n && (isspace((unsigned char)s[i]) || strchr("#>*-+|", s[i])))
		i++;
	for (; i < n; i++) {
		if (isspace((unsigned char)s[i])) {
			space = 1;
			continue;
		}
		if (space && b.len)
			buf_addch(&b, ' ');
		space = 0;
		buf_addch(&b, s[i]);
	}
	return buf_detach(&b, NULL);
}

/* A line that starts a block of its own (heading, list item, quote, table, fence). */
static int starts_block(const char *line)
{
	while (*line == ' ')
		line++;
	if (strchr("#-*+>|", *line) && *line)
		return 1;
	if (!strncmp(line, "```", 3))
		return 1;
	while (isdigit((unsigned char)*line))
		line++;
	return *line == '.' && line[1] == ' ';
}

/*
 * Joins the hard-wrapped lines of each paragraph with spaces, so a sentence
 * running over several lines stays whole; block starts and blank lines keep
 * their line break. Returns owned.
 */
static char *unwrap(const char *content)
{
	struct buf b = BUF_INIT;
	const char *p = content;
	int prev_text = 0; /* the previous line was paragraph text */

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		int blank = 1, block = starts_block(p);

		for (size_t i = 0; i < len; i++)
			if (!isspace((unsigned char)p[i]))
				blank = 0;
		if (b.len)
			buf_addch(&b, prev_text && !blank && !block ? ' ' : '\n');
		buf_add(&b, p, len);
		prev_text = !blank && !(block && *p == '#');
		if (!nl)
			break;
		p = nl + 1;
	}
	return buf_detach(&b, NULL);
}

static void add_sentences(const char *raw, const char *title, int hit, struct sentence **v,
			  size_t *n, size_t *cap, char qwords[][32], size_t nq)
{
	char *content = unwrap(raw);
	const char *p = content, *start = content;
	int pos = 0, in_code = 0;

	for (;; p++) {
		int end = !*p || *p == '\n' ||
			  ((*p == '.' || *p == '!' || *p == '?') &&
			   (!p[1] || isspace((unsigned char)p[1])));

		if (!end)
			continue;
		{
			size_t len = (size_t)(p - start) + (*p && *p != '\n' ? 1 : 0);
			char *text = clean_sentence(start, len);

			if (!strncmp(text, "```", 3))
				in_code = !in_code;
			else if (!in_code && strlen(text) >= 12 &&
				 strlen(text) <= OFFLINE_SENTENCE_MAX && strchr(text, ' ')) {
				char *both = xasprintf("%s %s", title, text);
				int sc = score_of(text, qwords, nq, NULL);
				int tsc = score_of(both, qwords, nq, NULL);

				free(both);
				if (tsc > 0) {
					xgrow((void **)v, cap, *n + 1, sizeof(**v));
					(*v)[(*n)++] =
					    (struct sentence){text, title, hit, pos++, sc, tsc};
					text = NULL;
				}
			}
			free(text);
		}
		if (!*p)
			break;
		start = p + 1;
	}
	free(content);
}

static int by_score(const void *a, const void *b)
{
	const struct sentence *x = a, *y = b;

	if (x->score != y->score)
		return y->score - x->score;
	if (x->tscore != y->tscore)
		return y->tscore - x->tscore;
	if (x->hit != y->hit)
		return x->hit - y->hit;
	return x->pos - y->pos;
}

static int by_place(const void *a, const void *b)
{
	const struct sentence *x = a, *y = b;

	if (x->hit != y->hit)
		return x->hit - y->hit;
	return x->pos - y->pos;
}

static void cite(struct buf *b, json_t *hit)
{
	const char *title = jfield_str(hit, "title", ""), *src = jfield_str(hit, "source", "");

	if (!*title)
		title = src;
	if (!strncmp(src, "http://", 7) || !strncmp(src, "https://", 8))
		buf_addf(b, "[%s](%s)", title, src);
	else if (strcmp(title, src))
		buf_addf(b, "%s, `%s`", title, src);
	else
		buf_addf(b, "`%s`", src);
}

/*
 * Composes the answer; marks in used[i] (OFFLINE_MAX_HITS) the hits cited.
 * memories (a search_memory result's "memories" array, or NULL) that share a
 * question word are quoted first; their contents go to mem_used (owned list).
 */
static char *compose(const char *question, json_t *kb_result, int *used, json_t *memories,
		     json_t *mem_used)
{
	json_t *results = kb_result ? json_object_get(kb_result, "results") : NULL;
	char qwords[OFFLINE_MAX_WORDS][32];
	size_t nq = words_of(question ? question : "", qwords, OFFLINE_MAX_WORDS);
	struct sentence *v = NULL;
	size_t n = 0, cap = 0, keep = 0;
	struct buf b = BUF_INIT;
	int last_hit = -1;

	buf_adds(&b, OFFLINE_LABEL "\n\n");
	for (size_t i = 0; json_is_array(memories) && i < json_array_size(memories); i++) {
		json_t *mem = json_array_get(memories, i);
		const char *m = jfield_str(mem, "content", "");

		/* facts only: stored turns ("Q: … / A: …") would repeat old extracts */
		if (strcmp(jfield_str(mem, "kind", ""), "fact") || !*m ||
		    !score_of(m, qwords, nq, NULL))
			continue;
		if (!json_array_size(mem_used))
			buf_adds(&b, "From what you told me before:\n\n");
		buf_addf(&b, "- %s\n", m);
		json_array_append_new(mem_used, json_string(m));
	}
	if (json_array_size(mem_used))
		buf_adds(&b, "\n");
	for (size_t i = 0;
	     json_is_array(results) && i < json_array_size(results) && i < OFFLINE_MAX_HITS; i++)
		add_sentences(jfield_str(json_array_get(results, i), "content", ""),
			      jfield_str(json_array_get(results, i), "title", ""), (int)i, &v, &n,
			      &cap, qwords, nq);
	if (n) {
		qsort(v, n, sizeof(*v), by_score);
		/*
		 * keep the strong matches only: at least half the best score; when
		 * no sentence names a question word itself, the sentences under the
		 * best-matching title ("## What does the feedback button do?")
		 */
		while (keep < n && keep < OFFLINE_MAX_SENTENCES &&
		       (v[0].score ? 2 * v[keep].score >= v[0].score
				   : 2 * v[keep].tscore >= v[0].tscore))
			keep++;
		qsort(v, keep, sizeof(*v), by_place);
		if (!covers(v, keep, qwords, nq))
			keep = 0;
	}
	if (!keep && json_array_size(mem_used))
		goto out;
	if (!keep) {
		buf_adds(&b, "I couldn't find anything about that in the knowledge base. Try "
			     "rephrasing the question, or ask someone on the team.");
		goto out;
	}
	buf_adds(&b, "Here is what the knowledge base says:\n");
	for (size_t i = 0; i < keep; i++) {
		json_t *hit = json_array_get(results, (size_t)v[i].hit);

		if (v[i].hit != last_hit) {
			buf_adds(&b, "\nFrom ");
			cite(&b, hit);
			buf_adds(&b, ":\n\n");
			last_hit = v[i].hit;
			if (used)
				used[v[i].hit] = 1;
		}
		buf_addf(&b, "- %s\n", v[i].text);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(v[i].text);
	free(v);
	return buf_detach(&b, NULL);
}

char *offline_compose(const char *question, json_t *kb_result)
{
	json_t *none = json_array();
	char *a = compose(question, kb_result, NULL, NULL, none);

	json_decref(none);
	return a;
}

/*
 * "remember X", "remember that X", "please remember: X" -> X (owned), else NULL.
 * Only an explicit request stores a fact offline.
 */
char *offline_remember_request(const char *q)
{
	static const char *const prefixes[] = {"please remember", "remember", NULL};
	const char *p = q ? q : "";
	size_t n;

	while (isspace((unsigned char)*p))
		p++;
	for (const char *const *pre = prefixes; *pre; pre++) {
		size_t len = strlen(*pre);

		if (strncasecmp(p, *pre, len) || !(isspace((unsigned char)p[len]) || p[len] == ':'))
			continue;
		p += len;
		while (isspace((unsigned char)*p) || *p == ':' || *p == ',')
			p++;
		if (!strncasecmp(p, "that ", 5))
			p += 5;
		while (isspace((unsigned char)*p))
			p++;
		n = strlen(p);
		while (n && (isspace((unsigned char)p[n - 1]) || p[n - 1] == '.'))
			n--;
		return n ? xstrndup(p, n) : NULL;
	}
	return NULL;
}

/* Runs tool name with args through find (the test seam). Returns 0, or -1 with err. */
static int run_tool(struct worker_ctx *w, struct agent_run *r, offline_tool_find_fn *find,
		    const char *name, json_t *args, json_t **result, struct err *err)
{
	const struct tool_def *def = find(name);
	struct tool_call_ctx ctx = {w, &r->scope, &r->trace};
	struct buf out = BUF_INIT;
	char labels[96];
	int64_t t0;
	int rc;

	*result = NULL;
	if (!def) {
		err_set(err, ERR_NOT_FOUND, "no tool %s", name);
		return -1;
	}
	metrics_labels(labels, sizeof(labels), 1, "tool", name);
	metrics_inc(NULL, M_TOOL_CALLS, labels, 1);
	tool_trace_add_tool(&r->trace, name);
	/* no model reads the result: it is taken whole (never truncated), so it parses */
	t0 = clock_mono_ms();
	rc = def->run(&ctx, args, &out, err);
	if (rc == 0)
		*result = json_loadb(out.s, out.len, 0, NULL);
	else
		log_kv(LOG_WARN, "offline: tool failed", "tool", name, "error", err->msg, NULL);
	if (reply_traces(r->sink)) {
		char *a = json_dumps(args, JSON_COMPACT);
		const char *res = rc == 0 ? (out.s ? out.s : "") : err->msg;
		agent_trace_tool(r, name, a, res, rc == 0 ? out.len : strlen(res), rc == 0,
				 clock_mono_ms() - t0);
		free(a);
	}
	buf_release(&out);
	return rc;
}

static int may_use(const struct agent_run *r, const char *tool)
{
	return !r->agent || agent_has_tool(r->agent, tool);
}

/* The last user question of the thread's history (borrowed from messages), or NULL. */
static const char *previous_question(json_t *messages)
{
	for (size_t i = json_array_size(messages); i > 0; i--) {
		json_t *m = json_array_get(messages, i - 1);

		if (!strcmp(jfield_str(m, "role", ""), "user") && *jfield_str(m, "content", ""))
			return jfield_str(m, "content", "");
	}
	return NULL;
}

/*
 * Long on purpose: the responder's steps in order (an explicit remember,
 * history, memories, knowledge base, the composed answer), each a few lines
 * sharing the run's trace and progress reports.
 */
int offline_answer_with(struct worker_ctx *w, struct agent_run *r, offline_tool_find_fn *find,
			struct err *err)
{
	const char *question = r->question ? r->question : "";
	char *fact = offline_remember_request(question), *query = NULL;
	json_t *history = json_array(), *mem_used = json_array();
	json_t *args = NULL, *result = NULL, *memories = NULL;
	int used[OFFLINE_MAX_HITS] = {0};
	struct err e = {0};
	int rc = -1;

	r->iterations = 1;
	if (fact && may_use(r, "remember")) {
		reply_progress(r->sink, agent_progress_text("remember"));
		args = json_pack("{s:s}", "text", fact);
		if (run_tool(w, r, find, "remember", args, &result, &e) < 0) {
			if (err_retryable(e.code))
				goto fail;
			free(r->answer);
			r->answer =
			    xasprintf(OFFLINE_LABEL "\n\nI could not remember that: %s.", e.msg);
		} else {
			free(r->answer);
			r->answer = xasprintf(OFFLINE_LABEL "\n\nNoted. I will remember: %s", fact);
		}
		rc = 0;
		goto out;
	}
	/* the thread so far: a follow-up ("and its default?") searches with the previous question
	 */
	if (w->r && convo_history(w, &r->scope, history, &e) < 0) {
		if (err_retryable(e.code))
			goto fail;
		log_kv(LOG_WARN, "offline: answering without thread history", "error", e.msg, NULL);
	}
	err_clear(&e);
	{
		const char *prev = previous_question(history);
		char qwords[OFFLINE_MAX_WORDS][32];

		query = prev && words_of(question, qwords, OFFLINE_MAX_WORDS) < 3
			    ? xasprintf("%s %s", prev, question)
			    : xstrdup(question);
	}
	if (r->scope.user && *r->scope.user && w->env->cfg->memory_top_k > 0 &&
	    may_use(r, "search_memory")) {
		reply_progress(r->sink, agent_progress_text("search_memory"));
		args = json_pack("{s:s}", "query", query);
		if (run_tool(w, r, find, "search_memory", args, &result, &e) < 0) {
			if (err_retryable(e.code))
				goto fail;
		} else {
			memories = json_incref(json_object_get(result, "memories"));
		}
		json_decref(result);
		result = NULL;
		json_decref(args);
		args = NULL;
		err_clear(&e);
	}
	reply_progress(r->sink, agent_progress_text("search_knowledge_base"));
	args = json_pack("{s:s, s:i}", "query", query, "k", w->env->cfg->kb_top_k);
	if (run_tool(w, r, find, "search_knowledge_base", args, &result, &e) < 0 &&
	    err_retryable(e.code))
		goto fail; /* retried by the runtime, never answered "not found" */
	free(r->answer);
	r->answer = compose(query, result, used, memories, mem_used);
	/* cite only the hits the answer used; show only the memories it quoted */
	for (size_t i = 0; i < r->trace.nsources; i++) {
		free(r->trace.sources[i].title);
		free(r->trace.sources[i].url);
	}
	r->trace.nsources = 0;
	for (size_t i = 0; i < r->trace.nmemories; i++)
		free(r->trace.memories[i]);
	r->trace.nmemories = 0;
	for (size_t i = 0; i < json_array_size(mem_used); i++)
		tool_trace_add_memory(&r->trace, json_string_value(json_array_get(mem_used, i)));
	for (size_t i = 0;
	     json_is_array(json_object_get(result, "results")) && i < OFFLINE_MAX_HITS; i++) {
		json_t *hit = json_array_get(json_object_get(result, "results"), i);
		json_t *sc = json_object_get(hit, "score");
		if (hit && used[i])
			tool_trace_add_source(&r->trace, jfield_str(hit, "title", ""),
					      jfield_str(hit, "source", ""),
					      json_is_number(sc) ? json_number_value(sc) : 0);
	}
	rc = 0;
	goto out;
fail:
	log_kv(LOG_WARN, "offline: transient failure, the task will be retried", "error", e.msg,
	       NULL);
	if (err)
		*err = e;
out:
	free(fact);
	free(query);
	json_decref(history);
	json_decref(mem_used);
	json_decref(memories);
	json_decref(result);
	json_decref(args);
	return rc;
}

int offline_answer(struct worker_ctx *w, struct agent_run *r, struct err *err)
{
	return offline_answer_with(w, r, tools_find, err);
}

static const struct agent_responder offline_responder = {
    LLM_OFFLINE, "offline", "the extractive responder: no model call", offline_answer};
AGENT_RESPONDER_REGISTER(offline_responder)
