#include "common.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

/*
 * HMAC-SHA256 by hand over EVP digests. A one-shot HMAC() in OpenSSL 3 fetches
 * the digest and builds and frees a MAC context on every call, about half of
 * the instructions of a request; here each thread keeps the SHA-256 states
 * after the ipad and opad key blocks and only copies them per request.
 *
 * The cache is keyed by the secret's length and a 64-bit fingerprint of its
 * bytes, never by a copy of it. The contexts are freed at thread exit by a
 * pthread key destructor (the main thread's at exit is left to the OS).
 */
#define SIGN_BLOCK 64 /* SHA-256 block size */

struct sign_cache {
	int ready;
	size_t key_len;
	uint64_t key_fp;
	EVP_MD *md;	   /* fetched once per thread */
	EVP_MD_CTX *inner; /* SHA-256 after (key ^ ipad) */
	EVP_MD_CTX *outer; /* SHA-256 after (key ^ opad) */
	EVP_MD_CTX *work;
};

static _Thread_local struct sign_cache sign_tls;
static pthread_key_t sign_key;
static pthread_once_t sign_once = PTHREAD_ONCE_INIT;

static void cache_clear(struct sign_cache *c)
{
	EVP_MD_CTX_free(c->inner);
	EVP_MD_CTX_free(c->outer);
	EVP_MD_CTX_free(c->work);
	EVP_MD_free(c->md);
	memset(c, 0, sizeof(*c));
}

static void cache_destroy(void *p)
{
	cache_clear(p);
}

static void sign_key_setup(void)
{
	if (pthread_key_create(&sign_key, cache_destroy))
		abort();
}

/* FNV-1a over the secret, mixed at the end; identifies a key without storing it. */
static uint64_t key_fingerprint(const unsigned char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ n;

	for (size_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* Starts a SHA-256 state over the key block XORed with pad. */
static int pad_state(EVP_MD_CTX *ctx, const EVP_MD *md, const unsigned char *key, size_t klen,
		     unsigned char pad)
{
	unsigned char block[SIGN_BLOCK];
	int ok;

	for (size_t i = 0; i < SIGN_BLOCK; i++)
		block[i] = (unsigned char)((i < klen ? key[i] : 0) ^ pad);
	ok = EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, block, SIGN_BLOCK);
	OPENSSL_cleanse(block, sizeof(block));
	return ok ? 0 : -1;
}

/* Returns this thread's cache keyed by secret, or NULL when OpenSSL fails. */
static struct sign_cache *cache_get(const char *secret)
{
	struct sign_cache *c = &sign_tls;
	size_t slen = strlen(secret);
	uint64_t fp = key_fingerprint((const unsigned char *)secret, slen);
	unsigned char hashed[32];
	const unsigned char *key = (const unsigned char *)secret;
	size_t klen = slen;

	if (c->ready && c->key_len == slen && c->key_fp == fp)
		return c;
	if (!c->md) {
		pthread_once(&sign_once, sign_key_setup);
		c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
		c->inner = EVP_MD_CTX_new();
		c->outer = EVP_MD_CTX_new();
		c->work = EVP_MD_CTX_new();
		if (!c->md || !c->inner || !c->outer || !c->work) {
			cache_clear(c);
			return NULL;
		}
		pthread_setspecific(sign_key, c);
	}
	c->ready = 0;
	if (slen > SIGN_BLOCK) {
		/* RFC 2104: a key longer than a block is hashed first */
		unsigned int hl = 0;
		if (!EVP_Digest(secret, slen, hashed, &hl, c->md, NULL) || hl != sizeof(hashed))
			return NULL;
		key = hashed;
		klen = hl;
	}
	if (pad_state(c->inner, c->md, key, klen, 0x36) < 0 ||
	    pad_state(c->outer, c->md, key, klen, 0x5c) < 0) {
		OPENSSL_cleanse(hashed, sizeof(hashed));
		return NULL;
	}
	OPENSSL_cleanse(hashed, sizeof(hashed));
	c->key_len = slen;
	c->key_fp = fp;
	c->ready = 1;
	return c;
}

/* HMAC-SHA256(secret, "v0:" ts ":" body) into md. Returns 0 or -1. */
static int sign_hmac(const char *secret, const char *timestamp, const char *body, size_t body_len,
		     unsigned char md[32])
{
	struct sign_cache *c = cache_get(secret);
	unsigned char inner[EVP_MAX_MD_SIZE];
	unsigned int ilen = 0, olen = 0;

	if (!c)
		return -1;
	if (!EVP_MD_CTX_copy_ex(c->work, c->inner) || !EVP_DigestUpdate(c->work, "v0:", 3) ||
	    !EVP_DigestUpdate(c->work, timestamp, strlen(timestamp)) ||
	    !EVP_DigestUpdate(c->work, ":", 1) ||
	    (body_len && !EVP_DigestUpdate(c->work, body, body_len)) ||
	    !EVP_DigestFinal_ex(c->work, inner, &ilen) || ilen != 32)
		return -1;
	if (!EVP_MD_CTX_copy_ex(c->work, c->outer) || !EVP_DigestUpdate(c->work, inner, ilen) ||
	    !EVP_DigestFinal_ex(c->work, md, &olen) || olen != 32)
		return -1;
	return 0;
}

int slack_sign_compute(const char *secret, const char *timestamp, const char *body, size_t body_len,
		       char out[SLACK_SIGN_LEN + 1])
{
	unsigned char md[32];

	if (sign_hmac(secret, timestamp, body, body_len, md) < 0)
		return -1;
	memcpy(out, "v0=", 3);
	hex_encode(out + 3, md, sizeof(md)); /* and the NUL at out[SLACK_SIGN_LEN] */
	return 0;
}

enum slack_sign_result slack_sign_verify(const char *secret, const char *timestamp,
					 const char *signature, const char *body, size_t body_len,
					 int64_t now_s)
{
	char want[SLACK_SIGN_LEN + 1];
	char got[SLACK_SIGN_LEN + 1];
	long long ts = 0;
	size_t len;

	if (!timestamp || !*timestamp || !signature || !*signature || !secret)
		return SLACK_SIGN_MISSING;
	len = strlen(timestamp);
	if (len > 12)
		return SLACK_SIGN_BAD_TS;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)timestamp[i]))
			return SLACK_SIGN_BAD_TS;
		ts = ts * 10 + (timestamp[i] - '0');
	}
	if (llabs((long long)now_s - ts) > SLACK_SIGN_MAX_SKEW_S)
		return SLACK_SIGN_STALE;
	if (strncmp(signature, "v0=", 3))
		return SLACK_SIGN_BAD_VERSION;
	if (strlen(signature) != SLACK_SIGN_LEN)
		return SLACK_SIGN_MALFORMED;
	for (size_t i = 0; i < SLACK_SIGN_LEN; i++)
		got[i] = (char)tolower((unsigned char)signature[i]);
	got[SLACK_SIGN_LEN] = '\0';
	for (size_t i = 3; i < SLACK_SIGN_LEN; i++)
		if (!isxdigit((unsigned char)got[i]))
			return SLACK_SIGN_MALFORMED;
	if (slack_sign_compute(secret, timestamp, body, body_len, want) < 0)
		return SLACK_SIGN_MISMATCH;
	return CRYPTO_memcmp(want, got, SLACK_SIGN_LEN) ? SLACK_SIGN_MISMATCH : SLACK_SIGN_OK;
}

const char *slack_sign_result_str(enum slack_sign_result r)
{
	switch (r) {
	case SLACK_SIGN_OK:
		return "ok";
	case SLACK_SIGN_MISSING:
		return "missing signature headers";
	case SLACK_SIGN_BAD_TS:
		return "malformed timestamp";
	case SLACK_SIGN_STALE:
		return "stale timestamp";
	case SLACK_SIGN_BAD_VERSION:
		return "unsupported signature version";
	case SLACK_SIGN_MALFORMED:
		return "malformed signature";
	case SLACK_SIGN_MISMATCH:
		return "signature mismatch";
	}
	return "unknown";
}
