#include "common.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const char *const agents_known_tools[] = {"search_knowledge_base", "web_search", "search_memory",
					  "remember", NULL};

static const char default_instructions[] =
    "You are Haink, a helpful assistant in Slack. Answer the user's question "
    "accurately and concisely. Use the knowledge base for questions about the "
    "product or the team's documents and cite the sources you used with their links. "
    "Use what you remember about the user when it helps. If you do not know, say so.";

static const char default_description[] =
    "Answers questions about the product and your team's documents from the knowledge "
    "base, cites its sources, and remembers what you ask it to.";

static const char *const default_examples[] = {"How do I rotate the Slack signing secret?",
					       "What does REDELIVERY_TIMEOUT_MS do?",
					       "Remember that I work on the billing team.", NULL};

static void set_default(struct agents *a)
{
	struct agent *ag;

	a->v = xcalloc(1, sizeof(*a->v));
	a->n = 1;
	a->default_idx = 0;
	ag = &a->v[0];
	ag->id = xstrdup(AGENTS_DEFAULT_ID);
	ag->name = xstrdup("Haink");
	ag->instructions = xstrdup(default_instructions);
	for (ag->ntools = 0; agents_known_tools[ag->ntools]; ag->ntools++)
		;
	ag->tools = xcalloc(ag->ntools, sizeof(char *));
	for (size_t i = 0; i < ag->ntools; i++)
		ag->tools[i] = xstrdup(agents_known_tools[i]);
	ag->description = xstrdup(default_description);
	for (ag->nexamples = 0; default_examples[ag->nexamples]; ag->nexamples++)
		;
	ag->examples = xcalloc(ag->nexamples, sizeof(char *));
	for (size_t i = 0; i < ag->nexamples; i++)
		ag->examples[i] = xstrdup(default_examples[i]);
}

int agents_valid_id(const char *s, size_t n)
{
	if (!n || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-')
			return 0;
	return 1;
}

static int known_tool(const char *t)
{
	for (int i = 0; agents_known_tools[i]; i++)
		if (!strcmp(agents_known_tools[i], t))
			return 1;
	return 0;
}

/* Reads an array of strings; returns 0 or -1 with the message naming field[i]. */
static int str_array(json_t *arr, char ***out, size_t *n, const char *name, size_t ai,
		     const char *field, struct err *err)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr)) {
		err_set(err, ERR_INVALID,
			"agents file '%s': agents[%zu].%s: must be an array of strings", name, ai,
			field);
		return -1;
	}
	*out = xcalloc(json_array_size(arr) + 1, sizeof(char *));
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v) || !json_string_length(v)) {
			err_set(err, ERR_INVALID,
				"agents file '%s': agents[%zu].%s[%zu]: must be a non-empty string",
				name, ai, field, i);
			return -1;
		}
		(*out)[(*n)++] = xstrdup(json_string_value(v));
	}
	return 0;
}

static int opt_string(json_t *obj, const char *key, char **out, int required, const char *name,
		      size_t ai, struct err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		if (required) {
			err_set(err, ERR_INVALID, "agents file '%s': agents[%zu].%s: missing", name,
				ai, key);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v) || !json_string_length(v)) {
		err_set(err, ERR_INVALID,
			"agents file '%s': agents[%zu].%s: must be a non-empty string", name, ai,
			key);
		return -1;
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int blank(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return !*s;
}

/* The optional Dev UI fields: description and examples, each bounded. */
static int ui_fields(json_t *obj, struct agent *ag, const char *name, size_t ai, struct err *err)
{
	json_t *t;

	if (opt_string(obj, "description", &ag->description, 0, name, ai, err) < 0)
		return -1;
	if (ag->description && strlen(ag->description) > AGENTS_DESCRIPTION_MAX) {
		err_set(err, ERR_INVALID,
			"agents file '%s': agents[%zu].description: longer than %d bytes", name, ai,
			AGENTS_DESCRIPTION_MAX);
		return -1;
	}
	t = json_object_get(obj, "examples");
	if (!t || json_is_null(t))
		return 0;
	if (str_array(t, &ag->examples, &ag->nexamples, name, ai, "examples", err) < 0)
		return -1;
	if (ag->nexamples > AGENTS_EXAMPLES_MAX) {
		err_set(err, ERR_INVALID, "agents file '%s': agents[%zu].examples: more than %d",
			name, ai, AGENTS_EXAMPLES_MAX);
		return -1;
	}
	for (size_t j = 0; j < ag->nexamples; j++)
		if (blank(ag->examples[j]) || strlen(ag->examples[j]) > AGENTS_EXAMPLE_MAX) {
			err_set(err, ERR_INVALID,
				"agents file '%s': agents[%zu].examples[%zu]: must be a prompt of "
				"1-%d bytes, not only spaces",
				name, ai, j, AGENTS_EXAMPLE_MAX);
			return -1;
		}
	return 0;
}

/*
 * Long on purpose: one check per field of an agent, each one line with its own
 * error text naming the field; splitting would only scatter the list.
 */
int agents_parse(struct agents *a, const char *text, const char *name, struct err *err)
{
	json_error_t jerr;
	json_t *root = NULL, *arr, *obj;
	size_t i;
	int have_default = 0, rc = -1;

	memset(a, 0, sizeof(*a));
	root = json_loads(text, 0, &jerr);
	if (!root) {
		err_set(err, ERR_PARSE, "agents file '%s': line %d: %s", name, jerr.line,
			jerr.text);
		goto out;
	}
	arr = json_is_array(root) ? root : json_object_get(root, "agents");
	if (!json_is_array(arr) || !json_array_size(arr)) {
		err_set(err, ERR_INVALID, "agents file '%s': agents: must be a non-empty array",
			name);
		goto out;
	}
	a->v = xcalloc(json_array_size(arr), sizeof(*a->v));
	json_array_foreach(arr, i, obj)
	{
		struct agent *ag = &a->v[a->n++];
		json_t *t;

		if (!json_is_object(obj)) {
			err_set(err, ERR_INVALID,
				"agents file '%s': agents[%zu]: must be an object", name, i);
			goto out;
		}
		if (opt_string(obj, "id", &ag->id, 1, name, i, err) < 0)
			goto out;
		if (!agents_valid_id(ag->id, strlen(ag->id))) {
			err_set(
			    err, ERR_INVALID,
			    "agents file '%s': agents[%zu].id: '%s' must be 1-32 of a-z 0-9 _ -",
			    name, i, ag->id);
			goto out;
		}
		for (size_t j = 0; j + 1 < a->n; j++)
			if (!strcmp(a->v[j].id, ag->id)) {
				err_set(err, ERR_INVALID,
					"agents file '%s': agents[%zu].id: duplicate '%s'", name, i,
					ag->id);
				goto out;
			}
		if (opt_string(obj, "name", &ag->name, 0, name, i, err) < 0 ||
		    opt_string(obj, "instructions", &ag->instructions, 1, name, i, err) < 0 ||
		    opt_string(obj, "model", &ag->model, 0, name, i, err) < 0)
			goto out;
		if (!ag->name)
			ag->name = xstrdup(ag->id);
		if (ui_fields(obj, ag, name, i, err) < 0)
			goto out;
		t = json_object_get(obj, "tools");
		if (t) {
			if (str_array(t, &ag->tools, &ag->ntools, name, i, "tools", err) < 0)
				goto out;
			for (size_t j = 0; j < ag->ntools; j++)
				if (!known_tool(ag->tools[j])) {
					err_set(err, ERR_INVALID,
						"agents file '%s': agents[%zu].tools[%zu]: unknown "
						"tool '%s'",
						name, i, j, ag->tools[j]);
					goto out;
				}
		} else {
			for (ag->ntools = 0; agents_known_tools[ag->ntools]; ag->ntools++)
				;
			ag->tools = xcalloc(ag->ntools, sizeof(char *));
			for (size_t j = 0; j < ag->ntools; j++)
				ag->tools[j] = xstrdup(agents_known_tools[j]);
		}
		t = json_object_get(obj, "channels");
		if (t && str_array(t, &ag->channels, &ag->nchannels, name, i, "channels", err) < 0)
			goto out;
		for (size_t c = 0; c < ag->nchannels; c++)
			for (size_t j = 0; j + 1 < a->n; j++)
				for (size_t k = 0; k < a->v[j].nchannels; k++)
					if (!strcmp(a->v[j].channels[k], ag->channels[c])) {
						err_set(
						    err, ERR_INVALID,
						    "agents file '%s': agents[%zu].channels[%zu]: "
						    "'%s' is already routed to '%s'",
						    name, i, c, ag->channels[c], a->v[j].id);
						goto out;
					}
		t = json_object_get(obj, "default");
		if (t && !json_is_boolean(t)) {
			err_set(err, ERR_INVALID,
				"agents file '%s': agents[%zu].default: must be true or false",
				name, i);
			goto out;
		}
		if (json_is_true(t)) {
			if (have_default) {
				err_set(err, ERR_INVALID,
					"agents file '%s': agents[%zu].default: only one agent may "
					"be the default",
					name, i);
				goto out;
			}
			have_default = 1;
			a->default_idx = a->n - 1;
		}
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int agents_load(struct agents *a, const char *path, struct err *err)
{
	FILE *f;
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	int rc;

	memset(a, 0, sizeof(*a));
	if (!path || !*path) {
		set_default(a);
		return 0;
	}
	f = fopen(path, "rb");
	if (!f) {
		err_set(err, ERR_IO, "agents file '%s': cannot open: %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	rc = agents_parse(a, b.s, path, err);
	buf_release(&b);
	return rc;
}

static void free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void agents_release(struct agents *a)
{
	for (size_t i = 0; i < a->n; i++) {
		struct agent *ag = &a->v[i];
		free(ag->id);
		free(ag->name);
		free(ag->instructions);
		free(ag->model);
		free_strs(ag->tools, ag->ntools);
		free_strs(ag->channels, ag->nchannels);
		free(ag->description);
		free_strs(ag->examples, ag->nexamples);
	}
	free(a->v);
	memset(a, 0, sizeof(*a));
}

const struct agent *agents_route(const struct agents *a, const char *channel)
{
	if (channel)
		for (size_t i = 0; i < a->n; i++)
			for (size_t j = 0; j < a->v[i].nchannels; j++)
				if (!strcmp(a->v[i].channels[j], channel))
					return &a->v[i];
	return a->n ? &a->v[a->default_idx] : NULL;
}

const struct agent *agents_find(const struct agents *a, const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->v[i].id, id))
			return &a->v[i];
	return NULL;
}

int agent_has_tool(const struct agent *ag, const char *tool)
{
	for (size_t i = 0; i < ag->ntools; i++)
		if (!strcmp(ag->tools[i], tool))
			return 1;
	return 0;
}

const struct agent *agents_find_or_default(const struct agents *a, const char *id)
{
	const struct agent *ag = a && id ? agents_find(a, id) : NULL;

	if (!ag && a && a->n)
		ag = &a->v[a->default_idx];
	return ag;
}
