/*
 * embed_offline.c - the offline feature-hashing embedder (LLM_PROVIDER=offline).
 *
 * The offline embedder turns text into a bag of hashed features: normalised
 * word unigrams (weight 1), word bigrams (0.7) and character trigrams of each
 * word padded with spaces (0.25), each added with a sign taken from the hash
 * so collisions cancel out on average. A few very common English words are
 * left out of unigrams and bigrams, otherwise "how do I" would dominate short
 * questions. Texts sharing words therefore get a high dot product.
 */
#include "common.h"
#include "queue/worker_ctx.h"
#include "kb/embedder.h"

#include <stdlib.h>

#define W_UNIGRAM 1.0f
#define W_BIGRAM  0.7f
#define W_TRIGRAM 0.25f
#define MAX_WORD  64 /* bytes of one normalised word kept for features */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Adds one feature (kind tag + bytes) with weight wt. */
static void add_feature(float *out, int dim, char kind, const char *s, size_t n, float wt)
{
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, &kind, 1);
	h = fnv1a(h, s, n);
	h ^= h >> 29; /* mix the high bits into the bucket choice */
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	out[h % (uint64_t)dim] += (h >> 63) ? -wt : wt;
}

/* Word characters: ASCII letters and digits, and non-ASCII letters (roughly). */
static int is_word_cp(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
		       (cp >= '0' && cp <= '9');
	if (cp < 0xc0 || cp == 0xd7 || cp == 0xf7)
		return 0; /* Latin-1 punctuation, nbsp, signs */
	if ((cp >= 0x2000 && cp <= 0x2bff) || (cp >= 0x3000 && cp <= 0x303f) || cp == 0xfeff)
		return 0; /* general punctuation, symbols, arrows, CJK punctuation */
	return 1;
}

static uint32_t lower_cp(uint32_t cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)
		return cp + 32;
	if (cp >= 0x391 && cp <= 0x3a9)
		return cp + 32; /* Greek capitals */
	if (cp >= 0x410 && cp <= 0x42f)
		return cp + 32; /* Cyrillic capitals */
	return cp;
}

struct word {
	char s[MAX_WORD + 8];
	size_t len;
	int stop;
};

/* Character trigrams over code points of " word ". */
static void add_trigrams(float *out, int dim, const struct word *w)
{
	char pad[MAX_WORD + 16];
	size_t starts[MAX_WORD + 16], ns = 0, n = 0;

	pad[n++] = ' ';
	memcpy(pad + n, w->s, w->len);
	n += w->len;
	pad[n++] = ' ';
	for (size_t i = 0; i < n; i++)
		if (!utf8_continues((unsigned char)pad[i]))
			starts[ns++] = i;
	starts[ns] = n;
	for (size_t i = 0; i + 3 <= ns; i++)
		add_feature(out, dim, 'c', pad + starts[i], starts[i + 3] - starts[i], W_TRIGRAM);
}

void embed_offline(const char *text, size_t len, float *out, int dim)
{
	const unsigned char *s = (const unsigned char *)text;
	struct word cur, prev;
	int have_prev = 0, any_content = 0, pass;
	size_t i;

	memset(out, 0, (size_t)dim * sizeof(float));
	/* pass 0 skips stop words; pass 1 (only when pass 0 found nothing) keeps them */
	for (pass = 0; pass < 2 && !any_content; pass++) {
		have_prev = 0;
		cur.len = 0;
		for (i = 0; i <= len; i++) {
			uint32_t cp = ' ';
			size_t k = 1;
			if (i < len) {
				k = utf8_decode((const char *)s + i, len - i, &cp);
				if (!k) {
					cp = ' '; /* invalid byte: a separator */
					k = 1;
				}
			}
			if (i < len && is_word_cp(cp)) {
				char enc[4];
				size_t m = utf8_encode(lower_cp(cp), enc);
				if (cur.len + m <= MAX_WORD) {
					memcpy(cur.s + cur.len, enc, m);
					cur.len += m;
				}
				i += k - 1;
				continue;
			}
			i += k - 1;
			if (!cur.len)
				continue;
			cur.stop = pass == 0 && stopword_is(cur.s, cur.len);
			if (!cur.stop) {
				any_content = 1;
				add_feature(out, dim, 'u', cur.s, cur.len, W_UNIGRAM);
				add_trigrams(out, dim, &cur);
				if (have_prev) {
					char bg[2 * MAX_WORD + 24];
					memcpy(bg, prev.s, prev.len);
					bg[prev.len] = ' ';
					memcpy(bg + prev.len + 1, cur.s, cur.len);
					add_feature(out, dim, 'b', bg, prev.len + 1 + cur.len,
						    W_BIGRAM);
				}
				prev = cur;
				have_prev = 1;
			}
			cur.len = 0;
		}
	}
	if (!any_content) {
		out[0] = 1.0f; /* no words at all: a fixed unit vector, never NaN downstream */
		return;
	}
	embed_normalize(out, dim);
}

static int offline_embed(struct worker_ctx *w, const char *const *texts, size_t n, float *out,
			 struct embed_stats *stats, struct err *err)
{
	int dim = w->env->cfg->embedding_dim;

	for (size_t i = 0; i < n; i++)
		embed_offline(texts[i], strlen(texts[i]), out + i * (size_t)dim, dim);
	return 0;
}

const struct embedder embedder_offline = {"offline", offline_embed};
