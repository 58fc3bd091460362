/*
 * stopwords.h - the one list of English words too common to carry meaning
 * ("the", "how", "should"…), left out of the offline embedder's features and
 * of the memory text score. The offline responder drops these and its own
 * question fillers ("please", "explain"…).
 * Pure functions; thread-safe.
 */
#ifndef HAINK_STOPWORDS_H
#define HAINK_STOPWORDS_H

#include <stddef.h>

/* 1 when w[0..n) is a stopword. w must be lowercase ASCII to match. */
int stopword_is(const char *w, size_t n);

#endif
