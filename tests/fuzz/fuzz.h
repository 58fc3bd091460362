/*
 * fuzz.h - shared bits of the libFuzzer harnesses (make fuzz): each
 * fuzz_<name>.c defines LLVMFuzzerTestOneInput for one parser of outside
 * input. Inputs are arbitrary bytes; a harness never asserts on results, it
 * only feeds the parser and releases what it returned, so ASan/UBSan and
 * LeakSanitizer find what is wrong.
 */
#ifndef HAINK_FUZZ_H
#define HAINK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Returns an owned NUL-terminated copy of the input; free(). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Logs off: the parsers log at warn on bad input, which only slows the fuzzer. */
static inline void fuzz_quiet(void)
{
	static int done;
	if (!done) {
		log_setup("fuzz", LOG_OFF, 1);
		done = 1;
	}
}

#endif
