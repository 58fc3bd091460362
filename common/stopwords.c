/*
 * stopwords.c - the stopword list. See stopwords.h.
 */
#include "common.h"

#include <stdlib.h>

/* sorted (strcmp order), for bsearch */
static const char *const stopwords[] = {
    "a",    "about", "an",    "and",  "are",	"as",	"at",	"be",	 "but",	 "by",
    "can",  "could", "do",    "does", "for",	"from", "had",	"has",	 "have", "how",
    "i",    "if",    "in",    "into", "is",	"it",	"its",	"me",	 "my",	 "not",
    "of",   "on",    "or",    "our",  "should", "so",	"than", "that",	 "the",	 "their",
    "then", "there", "these", "they", "this",	"to",	"us",	"was",	 "we",	 "what",
    "when", "where", "which", "who",  "why",	"will", "with", "would", "you",	 "your",
};

struct word_key {
	const char *w;
	size_t n;
};

static int cmp_word(const void *k, const void *e)
{
	const struct word_key *key = k;
	const char *s = *(const char *const *)e;
	int c = strncmp(key->w, s, key->n);

	return c ? c : -(s[key->n] != '\0'); /* a proper prefix sorts first */
}

int stopword_is(const char *w, size_t n)
{
	struct word_key key = {w, n};

	if (!n || memchr(w, '\0', n))
		return 0;
	return bsearch(&key, stopwords, sizeof(stopwords) / sizeof(stopwords[0]),
		       sizeof(stopwords[0]), cmp_word) != NULL;
}
