/* The task codec (common/task.c): NUL-separated field/value pairs from a stream entry. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *f[TASK_MAX_FIELDS + 8], *v[TASK_MAX_FIELDS + 8];
	size_t fl[TASK_MAX_FIELDS + 8], vl[TASK_MAX_FIELDS + 8], n = 0, i = 0;
	struct task t, *copy;
	struct err e = {0};

	while (i < size && n < TASK_MAX_FIELDS + 8) {
		const uint8_t *a = data + i, *z = memchr(a, 0, size - i);
		size_t alen = z ? (size_t)(z - a) : size - i;
		const uint8_t *b;
		size_t blen;

		i += alen + 1;
		if (i > size)
			break;
		b = data + i;
		z = memchr(b, 0, size - i);
		blen = z ? (size_t)(z - b) : size - i;
		i += blen + 1;
		f[n] = (const char *)a;
		fl[n] = alen;
		v[n] = (const char *)b;
		vl[n] = blen;
		n++;
	}
	task_init(&t);
	if (task_decode(&t, n, f, fl, v, vl, &e) == 0) {
		const char *ef[TASK_MAX_FIELDS], *ev[TASK_MAX_FIELDS];
		char nbuf[48];
		(void)task_encode(&t, ef, ev, nbuf);
		copy = task_dup(&t);
		task_release(copy);
		free(copy);
	}
	task_release(&t);
	return 0;
}
