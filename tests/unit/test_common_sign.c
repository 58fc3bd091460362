/*
 * Unit tests of common/slack_sign.c: Slack's documented example, the 300 s
 * window at its edges, and every malformed header shape.
 */
#include "common.h"

#include "../harness/test.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>

/* The example of Slack's "Verifying requests from Slack" page (a slash command body). */
static const char doc_secret[] = "8f742231b10e8888abcd99yyyzzz85a5";
static const char doc_ts[] = "1531420618";
static const char doc_body[] =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
    "channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
    "command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
    "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id="
    "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
static const char doc_sig[] = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
#define DOC_NOW 1531420618LL

static enum slack_sign_result doc_verify(const char *ts, const char *sig, int64_t now)
{
	return slack_sign_verify(doc_secret, ts, sig, doc_body, strlen(doc_body), now);
}

TEST(sign, documented_example_computes)
{
	char out[SLACK_SIGN_LEN + 1];

	CHECK_INT_EQ(slack_sign_compute(doc_secret, doc_ts, doc_body, strlen(doc_body), out), 0);
	CHECK_STR_EQ(out, doc_sig);
	CHECK_INT_EQ(strlen(out), SLACK_SIGN_LEN);
}

TEST(sign, documented_example_verifies)
{
	CHECK_INT_EQ(doc_verify(doc_ts, doc_sig, DOC_NOW), SLACK_SIGN_OK);
}

TEST(sign, window_edges)
{
	CHECK_INT_EQ(doc_verify(doc_ts, doc_sig, DOC_NOW + 300), SLACK_SIGN_OK);
	CHECK_INT_EQ(doc_verify(doc_ts, doc_sig, DOC_NOW - 300), SLACK_SIGN_OK);
	CHECK_INT_EQ(doc_verify(doc_ts, doc_sig, DOC_NOW + 301), SLACK_SIGN_STALE);
	CHECK_INT_EQ(doc_verify(doc_ts, doc_sig, DOC_NOW - 301), SLACK_SIGN_STALE);
	CHECK_INT_EQ(doc_verify(doc_ts, doc_sig, 0), SLACK_SIGN_STALE);
}

TEST(sign, uppercase_hex_accepted)
{
	char up[SLACK_SIGN_LEN + 1];

	memcpy(up, doc_sig, sizeof(up));
	for (size_t i = 3; i < SLACK_SIGN_LEN; i++)
		if (up[i] >= 'a' && up[i] <= 'f')
			up[i] = (char)(up[i] - 'a' + 'A');
	CHECK(strcmp(up, doc_sig) != 0);
	CHECK_INT_EQ(doc_verify(doc_ts, up, DOC_NOW), SLACK_SIGN_OK);
}

TEST(sign, wrong_version_prefix)
{
	char s[SLACK_SIGN_LEN + 1];

	memcpy(s, doc_sig, sizeof(s));
	s[1] = '1'; /* v1= */
	CHECK_INT_EQ(doc_verify(doc_ts, s, DOC_NOW), SLACK_SIGN_BAD_VERSION);
	CHECK_INT_EQ(doc_verify(doc_ts, doc_sig + 3, DOC_NOW), SLACK_SIGN_BAD_VERSION);
	CHECK_INT_EQ(
	    doc_verify(doc_ts,
		       "V0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
		       DOC_NOW),
	    SLACK_SIGN_BAD_VERSION);
}

TEST(sign, missing_or_empty_headers)
{
	CHECK_INT_EQ(doc_verify(NULL, doc_sig, DOC_NOW), SLACK_SIGN_MISSING);
	CHECK_INT_EQ(doc_verify("", doc_sig, DOC_NOW), SLACK_SIGN_MISSING);
	CHECK_INT_EQ(doc_verify(doc_ts, NULL, DOC_NOW), SLACK_SIGN_MISSING);
	CHECK_INT_EQ(doc_verify(doc_ts, "", DOC_NOW), SLACK_SIGN_MISSING);
	CHECK_INT_EQ(doc_verify(NULL, NULL, DOC_NOW), SLACK_SIGN_MISSING);
	CHECK_INT_EQ(slack_sign_verify(NULL, doc_ts, doc_sig, doc_body, strlen(doc_body), DOC_NOW),
		     SLACK_SIGN_MISSING);
}

TEST(sign, truncated_and_malformed_signatures)
{
	char s[SLACK_SIGN_LEN + 2];

	/* one hex digit short */
	memcpy(s, doc_sig, SLACK_SIGN_LEN - 1);
	s[SLACK_SIGN_LEN - 1] = '\0';
	CHECK_INT_EQ(doc_verify(doc_ts, s, DOC_NOW), SLACK_SIGN_MALFORMED);
	/* one too many */
	memcpy(s, doc_sig, SLACK_SIGN_LEN);
	s[SLACK_SIGN_LEN] = '0';
	s[SLACK_SIGN_LEN + 1] = '\0';
	CHECK_INT_EQ(doc_verify(doc_ts, s, DOC_NOW), SLACK_SIGN_MALFORMED);
	CHECK_INT_EQ(doc_verify(doc_ts, "v0=", DOC_NOW), SLACK_SIGN_MALFORMED);
	/* right length, a non-hex digit */
	memcpy(s, doc_sig, SLACK_SIGN_LEN + 1);
	s[10] = 'g';
	CHECK_INT_EQ(doc_verify(doc_ts, s, DOC_NOW), SLACK_SIGN_MALFORMED);
}

TEST(sign, bad_timestamps)
{
	CHECK_INT_EQ(doc_verify("1531420618.5", doc_sig, DOC_NOW), SLACK_SIGN_BAD_TS);
	CHECK_INT_EQ(doc_verify("-1531420618", doc_sig, DOC_NOW), SLACK_SIGN_BAD_TS);
	CHECK_INT_EQ(doc_verify("abc", doc_sig, DOC_NOW), SLACK_SIGN_BAD_TS);
	CHECK_INT_EQ(doc_verify(" 1531420618", doc_sig, DOC_NOW), SLACK_SIGN_BAD_TS);
	CHECK_INT_EQ(doc_verify("99999999999999999999", doc_sig, DOC_NOW), SLACK_SIGN_BAD_TS);
}

TEST(sign, mismatch_on_any_change)
{
	char s[SLACK_SIGN_LEN + 1];
	char body[sizeof(doc_body)];

	memcpy(s, doc_sig, sizeof(s));
	s[SLACK_SIGN_LEN - 1] = s[SLACK_SIGN_LEN - 1] == '0' ? '1' : '0';
	CHECK_INT_EQ(doc_verify(doc_ts, s, DOC_NOW), SLACK_SIGN_MISMATCH);
	/* a different body */
	memcpy(body, doc_body, sizeof(body));
	body[0] = 'T';
	CHECK_INT_EQ(slack_sign_verify(doc_secret, doc_ts, doc_sig, body, strlen(body), DOC_NOW),
		     SLACK_SIGN_MISMATCH);
	/* a truncated body */
	CHECK_INT_EQ(
	    slack_sign_verify(doc_secret, doc_ts, doc_sig, doc_body, strlen(doc_body) - 1, DOC_NOW),
	    SLACK_SIGN_MISMATCH);
	/* another secret */
	CHECK_INT_EQ(
	    slack_sign_verify("other", doc_ts, doc_sig, doc_body, strlen(doc_body), DOC_NOW),
	    SLACK_SIGN_MISMATCH);
	/* another (fresh) timestamp signed by nobody */
	CHECK_INT_EQ(doc_verify("1531420619", doc_sig, DOC_NOW), SLACK_SIGN_MISMATCH);
}

TEST(sign, round_trip_binary_and_empty_body)
{
	static const char bin[] = {'a', '\0', 'b', '\xff', '\n'};
	char sig[SLACK_SIGN_LEN + 1];

	CHECK_INT_EQ(slack_sign_compute("s3cr3t", "1700000000", bin, sizeof(bin), sig), 0);
	CHECK_INT_EQ(slack_sign_verify("s3cr3t", "1700000000", sig, bin, sizeof(bin), 1700000000),
		     SLACK_SIGN_OK);
	/* the bytes after the NUL are signed too */
	CHECK_INT_EQ(slack_sign_verify("s3cr3t", "1700000000", sig, bin, 1, 1700000000),
		     SLACK_SIGN_MISMATCH);
	CHECK_INT_EQ(slack_sign_compute("s3cr3t", "1700000000", "", 0, sig), 0);
	CHECK_INT_EQ(slack_sign_verify("s3cr3t", "1700000000", sig, "", 0, 1700000000),
		     SLACK_SIGN_OK);
}

TEST(sign, result_strings)
{
	CHECK_STR_EQ(slack_sign_result_str(SLACK_SIGN_OK), "ok");
	CHECK_STR_EQ(slack_sign_result_str(SLACK_SIGN_STALE), "stale timestamp");
	for (int r = SLACK_SIGN_OK; r <= SLACK_SIGN_MISMATCH; r++)
		CHECK(strcmp(slack_sign_result_str((enum slack_sign_result)r), "unknown") != 0);
}

/* The reference: OpenSSL's one-shot HMAC over the whole base string. */
static void reference_sig(const char *secret, const char *ts, const char *body, char out[68])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;
	char *msg = xasprintf("v0:%s:%s", ts, body);

	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, strlen(msg), md,
	     &mdlen);
	free(msg);
	memcpy(out, "v0=", 3);
	for (int i = 0; i < 32; i++) {
		out[3 + 2 * i] = hex[md[i] >> 4];
		out[4 + 2 * i] = hex[md[i] & 15];
	}
	out[67] = '\0';
}

/*
 * The signer keeps per-thread keyed state: secrets around and beyond the
 * 64-byte block (hashed first), and switching secrets on one thread, must all
 * match a plain HMAC.
 */
TEST(sign, matches_plain_hmac_for_any_secret_length_and_switches)
{
	static const size_t lens[] = {1, 32, 63, 64, 65, 131, 200};
	char secret[256], other[] = "another-secret", got[SLACK_SIGN_LEN + 1], want[68];

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (size_t j = 0; j < lens[i]; j++)
			secret[j] = (char)('a' + (i * 7 + j) % 26);
		secret[lens[i]] = '\0';
		for (int round = 0; round < 2; round++) {
			CHECK_INT_EQ(slack_sign_compute(secret, "1700000000", "{\"a\":1}", 7, got),
				     0);
			reference_sig(secret, "1700000000", "{\"a\":1}", want);
			CHECK_STR_EQ(got, want);
			/* a different secret in between must not leak into the next call */
			CHECK_INT_EQ(slack_sign_compute(other, "1700000000", "x", 1, got), 0);
			reference_sig(other, "1700000000", "x", want);
			CHECK_STR_EQ(got, want);
		}
	}
}
