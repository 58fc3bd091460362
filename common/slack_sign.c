#include "common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int slack_sign_compute(const char *secret, const char *timestamp, const char *body,
		       size_t body_len, char out[SLACK_SIGN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t tslen = strlen(timestamp);
	size_t n = 3 + tslen + 1 + body_len;
	unsigned char *msg = xmalloc(n);
	int rc = -1;

	memcpy(msg, "v0:", 3);
	memcpy(msg + 3, timestamp, tslen);
	msg[3 + tslen] = ':';
	if (body_len)
		memcpy(msg + 4 + tslen, body, body_len);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n, md, &mdlen) && mdlen == 32) {
		memcpy(out, "v0=", 3);
		for (unsigned i = 0; i < 32; i++) {
			out[3 + 2 * i] = hex[md[i] >> 4];
			out[3 + 2 * i + 1] = hex[md[i] & 15];
		}
		out[SLACK_SIGN_LEN] = '\0';
		rc = 0;
	}
	free(msg);
	return rc;
}

enum slack_sign_result slack_sign_verify(const char *secret, const char *timestamp,
					 const char *signature, const char *body,
					 size_t body_len, int64_t now_s)
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
	case SLACK_SIGN_OK: return "ok";
	case SLACK_SIGN_MISSING: return "missing signature headers";
	case SLACK_SIGN_BAD_TS: return "malformed timestamp";
	case SLACK_SIGN_STALE: return "stale timestamp";
	case SLACK_SIGN_BAD_VERSION: return "unsupported signature version";
	case SLACK_SIGN_MALFORMED: return "malformed signature";
	case SLACK_SIGN_MISMATCH: return "signature mismatch";
	}
	return "unknown";
}
