/*
 * llm.h - an OpenAI-compatible Chat Completions client (OpenAI, Azure
 * OpenAI, Ollama, vLLM, llama.cpp server) with function tools.
 *
 * One call is POST {OPENAI_BASE_URL}/chat/completions through w->http (so
 * unit tests plug a fake transport in), with Authorization: Bearer
 * OPENAI_API_KEY, a per-request timeout of LLM_TIMEOUT_S, and retries on
 * transport failures, 429 and 5xx honouring Retry-After, all within a
 * deadline. Metrics: haink_llm_requests_total{outcome}, llm_tokens_total{kind},
 * llm_seconds. Called by the agent loop (agent.c) and `doctor`.
 * Thread-safe with one worker_ctx per thread.
 */
#ifndef HAINK_LLM_H
#define HAINK_LLM_H

#include <stddef.h>
#include <jansson.h>

struct worker_ctx;
struct err;
struct agent;
struct http_retry;

struct llm_tool_call {
	char *id;
	char *name;
	char *arguments; /* the model's arguments as JSON text (may be invalid JSON) */
};

struct llm_reply {
	char *content; /* NULL when the model sent none */
	struct llm_tool_call *calls;
	size_t ncalls;
	char *finish_reason; /* NULL when absent */
	long prompt_tokens;
	long completion_tokens;
};

struct llm_call {
	const char *model; /* NULL: CHAT_MODEL */
	json_t *messages;  /* borrowed: the Chat Completions messages array */
	json_t *tools;	   /* borrowed: function tools array, NULL or empty for none */
	/* retries; NULL: up to 3 tries, backoff from 500 ms, one wait <= 20 s */
	const struct http_retry *retry;
	/*
	 * Optional: stream the reply ("stream": true, usage included) and hand
	 * each piece of answer text to on_text as the model writes it;
	 * on_text(text_ctx, NULL, 0) means "start over" (a retried request
	 * streams from the beginning). Return -1 to abort the call. The reply
	 * llm_chat() returns is the same either way.
	 */
	int (*on_text)(void *ctx, const char *text, size_t n);
	void *text_ctx;
};

void llm_reply_init(struct llm_reply *r);
void llm_reply_release(struct llm_reply *r);

/*
 * Runs one chat completion. Returns 0 with out filled (release with
 * llm_reply_release()), or -1 with err: ERR_RATE_LIMITED / ERR_UPSTREAM /
 * ERR_TIMEOUT / ERR_IO (transient, after the retries), ERR_AUTH (401/403),
 * ERR_INVALID (other 4xx: the message quotes the API's error message),
 * ERR_PARSE (a reply without choices[0].message).
 */
int llm_chat(struct worker_ctx *w, const struct llm_call *call, struct llm_reply *out,
	     struct err *err);

/*
 * Parses a Chat Completions response body into out (llm_reply_init()ed):
 * choices[0].message content and every tool call (arguments kept as text;
 * an object is serialised; a missing id gets "call_<n>"), finish_reason and
 * usage. Returns 0, or -1 with ERR_PARSE.
 */
int llm_parse_reply(const char *body, size_t len, struct llm_reply *out, struct err *err);

/*
 * Returns the "tools" array for ag (owned; json_decref): one function tool
 * per registered tool the agent may use, with its JSON Schema parameters.
 * An agent with no usable tool gets an empty array.
 */
json_t *llm_tools_json(const struct agent *ag);

/*
 * Returns the assistant message for reply r as it goes back into the
 * conversation: {"role":"assistant","content":…,"tool_calls":[…]} (owned).
 */
json_t *llm_assistant_message(const struct llm_reply *r);

/* GET {OPENAI_BASE_URL}/models: 0 when the API answers 2xx, else -1 with err. */
int llm_ping(struct worker_ctx *w, struct err *err);

#endif
