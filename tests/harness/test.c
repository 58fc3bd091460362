/*
 * The test runner: runs the registered tests, prints one line per failure
 * and, last, "N passed, N failed".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "log.h"

static struct test_case *head;
static int current_failed;

void test_register(struct test_case *tc)
{
	struct test_case **p = &head;

	/* keep file order stable: append (constructors run in link order) */
	while (*p)
		p = &(*p)->next;
	tc->next = NULL;
	*p = tc;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	current_failed = 1;
}

int test_failed(void)
{
	return current_failed;
}

int main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0;
	char full[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* the code under test logs to stderr; TEST_LOG=1 shows it */
	log_setup("test", getenv("TEST_LOG") ? LOG_DEBUG : LOG_OFF, 1);
	for (struct test_case *tc = head; tc; tc = tc->next) {
		snprintf(full, sizeof(full), "%s.%s", tc->suite, tc->name);
		if (filter && !strstr(full, filter))
			continue;
		current_failed = 0;
		tc->fn();
		if (current_failed) {
			failed++;
			printf("FAIL %s\n", full);
		} else {
			passed++;
			if (getenv("TEST_VERBOSE"))
				printf("ok   %s\n", full);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
