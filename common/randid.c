#include "common.h"

#include <sys/random.h>

void randid_hex(char out[RANDID_HEX_LEN + 1])
{
	unsigned char raw[RANDID_HEX_LEN / 2];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(raw)) {
		uint64_t x = (uint64_t)clock_mono_ns() ^ (uint64_t)(uintptr_t)out;
		for (size_t i = got; i < sizeof(raw); i++, x = x * 6364136223846793005ULL + 1)
			raw[i] = (unsigned char)(x >> 56);
	}
	hex_encode(out, raw, sizeof(raw));
}
