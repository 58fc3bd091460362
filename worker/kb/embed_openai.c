/*
 * embed_openai.c - the OpenAI-compatible embeddings client.
 *
 * Requests carry as many inputs as the count and byte bounds allow; the reply's
 * data[].index places each vector, so a server answering out of order is fine.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/embedder.h"

#include <jansson.h>
#include <stdlib.h>

static int parse_reply(const struct http_response *resp, size_t n, int dim, float *out,
		       struct err *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(resp->body.s, resp->body.len, 0, &jerr);
	json_t *data, *item;
	unsigned char *seen = NULL;
	size_t i;
	int rc = -1;

	if (!root) {
		err_set(err, ERR_PARSE, "cannot parse the embeddings reply: %s", jerr.text);
		goto out;
	}
	data = json_object_get(root, "data");
	if (!json_is_array(data) || json_array_size(data) != n) {
		err_set(err, ERR_PARSE, "embeddings reply has %zu vectors for %zu inputs",
			json_is_array(data) ? json_array_size(data) : (size_t)0, n);
		goto out;
	}
	seen = xcalloc(n, 1);
	json_array_foreach(data, i, item)
	{
		json_t *vec = json_object_get(item, "embedding");
		json_t *jidx = json_object_get(item, "index");
		size_t at = json_is_integer(jidx) ? (size_t)json_integer_value(jidx) : i;
		float *dst;

		if (at >= n || seen[at]) {
			err_set(err, ERR_PARSE, "embeddings reply has a bad index %zu", at);
			goto out;
		}
		seen[at] = 1;
		if (!json_is_array(vec)) {
			err_set(err, ERR_PARSE,
				"embeddings reply item %zu has no float array (base64 is not asked "
				"for)",
				at);
			goto out;
		}
		if (json_array_size(vec) != (size_t)dim) {
			err_set(err, ERR_PARSE,
				"embeddings have %zu dimensions but EMBEDDING_DIM is %d: set "
				"EMBEDDING_DIM=%zu or use a matching model",
				json_array_size(vec), dim, json_array_size(vec));
			goto out;
		}
		dst = out + at * (size_t)dim;
		for (int d = 0; d < dim; d++) {
			json_t *x = json_array_get(vec, (size_t)d);
			if (!json_is_number(x)) {
				err_set(err, ERR_PARSE,
					"embeddings reply item %zu has a non-number", at);
				goto out;
			}
			dst[d] = (float)json_number_value(x);
		}
		embed_normalize(dst, dim);
	}
	rc = 0;
out:
	free(seen);
	json_decref(root);
	return rc;
}

/* One request for texts[0..n). */
static int embed_batch(struct worker_ctx *w, const char *url, const char *const *hdrs,
		       const char *const *texts, size_t n, float *out, struct embed_stats *stats,
		       struct err *err)
{
	const struct config *cfg = w->env->cfg;
	struct buf body = BUF_INIT;
	struct http_response resp;
	struct http_request req = {0};
	struct http_retry policy = {0};
	int rc = -1;

	buf_adds(&body, "{\"model\":");
	buf_add_json_str(&body, cfg->embedding_model, strlen(cfg->embedding_model));
	/* only the text-embedding-3 family accepts a requested dimension */
	if (!strncmp(cfg->embedding_model, "text-embedding-3", 16))
		buf_addf(&body, ",\"dimensions\":%d", cfg->embedding_dim);
	buf_adds(&body, ",\"encoding_format\":\"float\",\"input\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addch(&body, ',');
		/* an empty input is rejected by the API: send one space instead */
		buf_add_json_str(&body, *texts[i] ? texts[i] : " ",
				 *texts[i] ? strlen(texts[i]) : 1);
	}
	buf_adds(&body, "]}");

	req.method = "POST";
	req.url = url;
	req.headers = hdrs;
	req.body = body.s;
	req.body_len = body.len;
	req.timeout_ms = (long)cfg->llm_timeout_s * 1000;
	policy.max_tries = 6;
	policy.base_delay_ms = 250;
	policy.max_delay_ms = 30000;
	policy.deadline_ms = clock_mono_ms() + 4L * cfg->llm_timeout_s * 1000;

	http_response_init(&resp);
	if (stats)
		stats->requests++;
	if (http_perform_retry(&w->http, &req, &resp, &policy, "embeddings", err) < 0) {
		if (resp.status >= 400)
			http_append_error_message(&resp, err);
		goto out;
	}
	rc = parse_reply(&resp, n, cfg->embedding_dim, out, err);
out:
	http_response_release(&resp);
	buf_release(&body);
	return rc;
}

int embed_openai(struct worker_ctx *w, const char *const *texts, size_t n, float *out,
		 struct embed_stats *stats, struct err *err)
{
	const struct config *cfg = w->env->cfg;
	const char *base =
	    cfg->openai_base_url ? cfg->openai_base_url : "https://api.openai.com/v1";
	size_t blen = strlen(base);
	char *url, *auth = NULL;
	const char *hdrs[3];
	int nh = 0, rc = 0;
	size_t i = 0;

	while (blen && base[blen - 1] == '/')
		blen--;
	url = xasprintf("%.*s/embeddings", (int)blen, base);
	hdrs[nh++] = "Content-Type: application/json";
	if (cfg->openai_api_key && *cfg->openai_api_key) {
		auth = xasprintf("Authorization: Bearer %s", cfg->openai_api_key);
		hdrs[nh++] = auth;
	}
	hdrs[nh] = NULL;
	while (i < n && rc == 0) {
		size_t cnt = 0, bytes = 0;
		while (i + cnt < n && cnt < EMBED_BATCH_MAX) {
			size_t l = strlen(texts[i + cnt]);
			if (cnt && bytes + l > EMBED_BATCH_BYTES)
				break;
			bytes += l;
			cnt++;
		}
		rc = embed_batch(w, url, hdrs, texts + i, cnt, out + i * (size_t)cfg->embedding_dim,
				 stats, err);
		i += cnt;
	}
	free(url);
	free(auth);
	return rc;
}

const struct embedder embedder_openai = {"openai", embed_openai};
