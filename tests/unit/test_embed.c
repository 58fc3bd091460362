/* Unit tests of embed.c, embed_cache.c and embed_openai.c (fake HTTP transport). */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/embed.h"
#include "kb/embed_cache.h"
#include "../harness/test.h"

#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>

#define DIM 64

TEST(embed, offline_is_deterministic_and_normalised)
{
	float a[DIM], b[DIM];
	double norm = 0;
	const char *t = "Deploy Haink on Kubernetes with kubectl apply";

	embed_offline(t, strlen(t), a, DIM);
	embed_offline(t, strlen(t), b, DIM);
	CHECK(!memcmp(a, b, sizeof(a)));
	for (int i = 0; i < DIM; i++)
		norm += (double)a[i] * a[i];
	CHECK_NEAR(norm, 1.0, 1e-5);
	/* case and punctuation do not matter */
	embed_offline("deploy, HAINK on kubernetes -- with KUBECTL apply!", 50, b, DIM);
	CHECK_NEAR(embed_dot(a, b, DIM), 1.0, 1e-5);
}

TEST(embed, shared_words_score_higher)
{
	float q[384], near[384], far[384];
	const char *tq = "how do I deploy haink on kubernetes";
	const char *tn = "Deploying Haink to a Kubernetes cluster with kubectl";
	const char *tf = "The signing secret verifies every Slack request signature";

	embed_offline(tq, strlen(tq), q, 384);
	embed_offline(tn, strlen(tn), near, 384);
	embed_offline(tf, strlen(tf), far, 384);
	CHECK(embed_dot(q, near, 384) > embed_dot(q, far, 384) + 0.2f);
}

TEST(embed, offline_handles_unicode_and_garbage)
{
	float a[DIM], b[DIM];
	const char bad[] = "caf\xc3\xa9 \xff\xfe\xc3 na\xc3\xafve";

	embed_offline("Café", strlen("Café"), a, DIM);
	embed_offline("CAFÉ", strlen("CAFÉ"), b, DIM); /* Latin-1 capitals lowercase too */
	CHECK_NEAR(embed_dot(a, b, DIM), 1.0, 1e-5);
	embed_offline(bad, sizeof(bad) - 1, a, DIM);
	CHECK(!isnan(a[0]));
	embed_offline("", 0, a, DIM); /* no words: a fixed unit vector, never NaN */
	CHECK_NEAR(embed_dot(a, a, DIM), 1.0, 1e-6);
}

TEST(embed, cache_key_is_sha256_of_model_nul_text)
{
	unsigned char md[32], in[64];
	unsigned int mdlen = 0;
	char want[80] = "embedding:";
	char *k = keys_embedding("m1", "hello", 5), *k2 = keys_embedding("m2", "hello", 5);

	memcpy(in, "m1\0hello", 8);
	EVP_Digest(in, 8, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(want + 10 + 2 * i, 3, "%02x", md[i]);
	CHECK_STR_EQ(k, want);
	CHECK(strcmp(k, k2) != 0); /* the model is part of the key */
	free(k);
	free(k2);
}

TEST(embed, f32_little_endian_round_trip)
{
	float v[3] = {1.0f, -2.5f, 0.0f}, back[3];
	unsigned char b[12];

	embed_f32_encode(v, 3, b);
	CHECK_INT_EQ(b[0], 0x00);
	CHECK_INT_EQ(b[2], 0x80);
	CHECK_INT_EQ(b[3], 0x3f); /* 1.0f = 0x3f800000 */
	embed_f32_decode(b, 3, back);
	CHECK(!memcmp(v, back, sizeof(v)));
}

/* --- the OpenAI-compatible client against a fake transport --- */

struct fake {
	int calls;
	int max_inputs;
	size_t max_body;
	int total_inputs;
	int fail_status[4]; /* statuses for the first calls (0 = succeed) */
	long retry_after;
	int reply_dim;
	char url[256];
	char auth[128];
};

static int fake_perform(void *ctx, const struct http_request *req, struct http_response *resp,
			struct err *err)
{
	struct fake *f = ctx;
	json_t *body = json_loadb(req->body, req->body_len, 0, NULL), *in, *it;
	int call = f->calls++;
	size_t i;

	(void)err;
	buf_reset(&resp->body); /* like the curl transport: a response starts empty */
	snprintf(f->url, sizeof(f->url), "%s", req->url);
	for (const char *const *h = req->headers; h && *h; h++)
		if (!strncmp(*h, "Authorization:", 14))
			snprintf(f->auth, sizeof(f->auth), "%s", *h);
	if (req->body_len > f->max_body)
		f->max_body = req->body_len;
	if (call < 4 && f->fail_status[call]) {
		resp->status = f->fail_status[call];
		resp->retry_after_s = f->retry_after;
		buf_adds(&resp->body, "{\"error\":{\"message\":\"Incorrect API key provided\"}}");
		json_decref(body);
		return 0;
	}
	in = json_object_get(body, "input");
	if ((int)json_array_size(in) > f->max_inputs)
		f->max_inputs = (int)json_array_size(in);
	f->total_inputs += (int)json_array_size(in);
	resp->status = 200;
	buf_adds(&resp->body, "{\"object\":\"list\",\"data\":[");
	/* answer in reverse order: the client must place vectors by index */
	for (i = json_array_size(in); i-- > 0;) {
		const char *t;
		float v[DIM];
		it = json_array_get(in, i);
		t = json_string_value(it);
		embed_offline(t, strlen(t), v, DIM);
		buf_addf(&resp->body, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":[",
			 i + 1 == json_array_size(in) ? "" : ",", i);
		for (int d = 0; d < f->reply_dim; d++)
			buf_addf(&resp->body, "%s%.9g", d ? "," : "", d < DIM ? v[d] : 0.0);
		buf_adds(&resp->body, "]}");
	}
	buf_adds(&resp->body,
		 "],\"model\":\"m\",\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}}");
	json_decref(body);
	return 0;
}

struct env {
	struct config cfg;
	struct worker_env wenv;
	struct worker_ctx w;
	struct fake f;
};

static void env_init(struct env *e, int provider)
{
	memset(e, 0, sizeof(*e));
	e->cfg.llm_provider = provider;
	e->cfg.embedding_model = (char *)"fake-embed";
	e->cfg.embedding_dim = DIM;
	e->cfg.openai_base_url = (char *)"http://fake.test/v1/";
	e->cfg.openai_api_key = (char *)"test-key";
	e->cfg.llm_timeout_s = 5;
	e->cfg.embed_cache_ttl_s = 60;
	e->wenv.cfg = &e->cfg;
	e->w.env = &e->wenv;
	e->w.r = NULL; /* no cache in unit tests */
	e->f.reply_dim = DIM;
	e->w.http.perform = fake_perform;
	e->w.http.ctx = &e->f;
}

TEST(embed, openai_batches_by_count_and_places_by_index)
{
	struct env e;
	enum { N = 300 };
	char *texts[N];
	float *out = xmalloc((size_t)N * DIM * sizeof(float)), want[DIM];
	struct embed_stats st = {0};
	struct err err = {0};
	int rc;

	env_init(&e, LLM_OPENAI);
	for (int i = 0; i < N; i++)
		texts[i] = xasprintf("document number %d about topic %d", i, i % 7);
	rc = embed_texts(&e.w, (const char *const *)texts, N, out, &st, &err);
	CHECK_INT_EQ(rc, 0);
	CHECK(e.f.calls >= 3);
	CHECK(e.f.max_inputs <= EMBED_BATCH_MAX);
	CHECK_INT_EQ(e.f.total_inputs, N);
	CHECK_INT_EQ(st.requests, (size_t)e.f.calls);
	CHECK_STR_EQ(e.f.url, "http://fake.test/v1/embeddings");
	CHECK_STR_EQ(e.f.auth, "Authorization: Bearer test-key");
	for (int i = 0; i < N; i += 37) {
		embed_offline(texts[i], strlen(texts[i]), want, DIM);
		CHECK_NEAR(embed_dot(out + (size_t)i * DIM, want, DIM), 1.0, 1e-4);
	}
	for (int i = 0; i < N; i++)
		free(texts[i]);
	free(out);
}

TEST(embed, openai_batches_by_bytes)
{
	struct env e;
	enum { N = 6 };
	char *texts[N];
	float *out = xmalloc((size_t)N * DIM * sizeof(float));
	struct err err = {0};

	env_init(&e, LLM_OPENAI);
	for (int i = 0; i < N; i++) {
		texts[i] = xmalloc(100 * 1024 + 1);
		for (int j = 0; j < 100 * 1024; j++)
			texts[i][j] = j % 6 == 5 ? ' ' : (char)('a' + (i + j) % 26);
		texts[i][100 * 1024] = '\0';
	}
	CHECK_INT_EQ(embed_openai(&e.w, (const char *const *)texts, N, out, NULL, &err), 0);
	CHECK(e.f.calls >= 3); /* 2 x 100 KiB fit in 256 KiB, 3 do not */
	CHECK(e.f.max_body <= EMBED_BATCH_BYTES + 4096);
	for (int i = 0; i < N; i++)
		free(texts[i]);
	free(out);
}

TEST(embed, openai_retries_429_honouring_retry_after)
{
	struct env e;
	const char *t = "hello";
	float out[DIM];
	struct err err = {0};
	int64_t t0 = clock_mono_ms();

	env_init(&e, LLM_OPENAI);
	e.f.fail_status[0] = 429;
	e.f.retry_after = 1;
	CHECK_INT_EQ(embed_texts(&e.w, &t, 1, out, NULL, &err), 0);
	CHECK_INT_EQ(e.f.calls, 2);
	/* the client waited what Retry-After asked (a lower bound, not a timing race) */
	CHECK(clock_mono_ms() - t0 >= 950);
}

TEST(embed, openai_401_is_auth_error_without_retry)
{
	struct env e;
	const char *t = "hello";
	float out[DIM];
	struct err err = {0};

	env_init(&e, LLM_OPENAI);
	e.f.fail_status[0] = 401;
	CHECK_INT_EQ(embed_texts(&e.w, &t, 1, out, NULL, &err), -1);
	CHECK_INT_EQ(err.code, ERR_AUTH);
	CHECK_INT_EQ(e.f.calls, 1);
	CHECK_STR_CONTAINS(err.msg, "Incorrect API key provided");
}

TEST(embed, openai_wrong_dimension_is_parse_error)
{
	struct env e;
	const char *t = "hello";
	float out[DIM];
	struct err err = {0};

	env_init(&e, LLM_OPENAI);
	e.f.reply_dim = 32;
	CHECK_INT_EQ(embed_texts(&e.w, &t, 1, out, NULL, &err), -1);
	CHECK_INT_EQ(err.code, ERR_PARSE);
	CHECK_STR_CONTAINS(err.msg, "32");
	CHECK_STR_CONTAINS(err.msg, "64");
}

TEST(embed, offline_provider_makes_no_requests)
{
	struct env e;
	const char *t[2] = {"alpha beta", "gamma"};
	float out[2 * DIM], want[DIM];
	struct err err = {0};

	env_init(&e, LLM_OFFLINE);
	CHECK_INT_EQ(embed_texts(&e.w, t, 2, out, NULL, &err), 0);
	CHECK_INT_EQ(e.f.calls, 0);
	embed_offline("gamma", 5, want, DIM);
	CHECK(!memcmp(out + DIM, want, sizeof(want)));
}
