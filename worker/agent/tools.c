/*
 * tools.c - the tool registry and the per-run trace (see tools.h).
 *
 * Tools register from constructors before main() runs, single-threaded, so
 * the table needs no lock: after start it is only read.
 */
#include "common.h"
#include "agent/tools.h"

#include <jansson.h>
#include <stdlib.h>

#define TOOLS_MAX 32

static const struct tool_def *registry[TOOLS_MAX];
static size_t nregistry;

void tools_register(const struct tool_def *def)
{
	size_t i;

	for (i = 0; i < nregistry; i++)
		if (!strcmp(registry[i]->name, def->name))
			return; /* registered twice: keep the first */
	if (nregistry == TOOLS_MAX) {
		fprintf(stderr, "tools: too many tools, '%s' not registered\n", def->name);
		return;
	}
	/* keep the table in name order, so the model sees a stable list */
	for (i = nregistry; i > 0 && strcmp(registry[i - 1]->name, def->name) > 0; i--)
		registry[i] = registry[i - 1];
	registry[i] = def;
	nregistry++;
}

const struct tool_def *tools_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < nregistry; i++)
		if (!strcmp(registry[i]->name, name))
			return registry[i];
	return NULL;
}

const struct tool_def *tools_at(size_t i)
{
	return i < nregistry ? registry[i] : NULL;
}

void tool_trace_init(struct tool_trace *t)
{
	memset(t, 0, sizeof(*t));
}

void tool_trace_release(struct tool_trace *t)
{
	for (size_t i = 0; i < t->nsources; i++) {
		free(t->sources[i].title);
		free(t->sources[i].url);
	}
	free(t->sources);
	for (size_t i = 0; i < t->nmemories; i++)
		free(t->memories[i]);
	free(t->memories);
	for (size_t i = 0; i < t->ntools; i++)
		free(t->tools_used[i]);
	free(t->tools_used);
	memset(t, 0, sizeof(*t));
}

void tool_trace_add_source(struct tool_trace *t, const char *title, const char *url, double score)
{
	if (!url || !*url)
		return;
	for (size_t i = 0; i < t->nsources; i++) {
		if (!strcmp(t->sources[i].url, url)) {
			if (score > t->sources[i].score)
				t->sources[i].score = score;
			return;
		}
	}
	xgrow((void **)&t->sources, &t->cap_sources, t->nsources + 1, sizeof(*t->sources));
	t->sources[t->nsources].title = xstrdup(title && *title ? title : url);
	t->sources[t->nsources].url = xstrdup(url);
	t->sources[t->nsources].score = score;
	t->nsources++;
}

void tool_trace_add_memory(struct tool_trace *t, const char *content)
{
	if (!content)
		return;
	xgrow((void **)&t->memories, &t->cap_memories, t->nmemories + 1, sizeof(*t->memories));
	t->memories[t->nmemories++] = xstrdup(content);
}

void tool_trace_add_tool(struct tool_trace *t, const char *name)
{
	if (!name)
		return;
	for (size_t i = 0; i < t->ntools; i++)
		if (!strcmp(t->tools_used[i], name))
			return;
	xgrow((void **)&t->tools_used, &t->cap_tools, t->ntools + 1, sizeof(*t->tools_used));
	t->tools_used[t->ntools++] = xstrdup(name);
}
