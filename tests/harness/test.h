/*
 * test.h - the in-repo test harness.
 *
 * A test is a function registered by TEST(suite, name); the runner
 * (tests/harness/test.c) runs every registered test, or those whose
 * "suite.name" contains the first command-line argument, and ends with the
 * line "N passed, N failed" (exit 1 on any failure).
 *
 * Assertions print file:line and both values, mark the test failed and return
 * from the test function (so they are used in the test body, or in helpers
 * returning void). Single-threaded: call assertions from the test's thread.
 */
#ifndef HAINK_TEST_H
#define HAINK_TEST_H

#include <stdio.h>
#include <string.h>

struct test_case {
	const char *suite;
	const char *name;
	void (*fn)(void);
	struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Returns 1 when the current test has failed so far. */
int test_failed(void);

#define TEST(suite, name)                                                                          \
	static void test_##suite##_##name(void);                                                   \
	static struct test_case tc_##suite##_##name = {#suite, #name, test_##suite##_##name,       \
						       NULL};                                      \
	__attribute__((constructor)) static void reg_##suite##_##name(void)                        \
	{                                                                                          \
		test_register(&tc_##suite##_##name);                                               \
	}                                                                                          \
	static void test_##suite##_##name(void)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                  \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_INT_EQ(a, b)                                                                         \
	do {                                                                                       \
		long long va_ = (long long)(a), vb_ = (long long)(b);                              \
		if (va_ != vb_) {                                                                  \
			test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, va_, vb_); \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                                         \
	do {                                                                                       \
		const char *sa_ = (a), *sb_ = (b);                                                 \
		if (!sa_ || !sb_ || strcmp(sa_, sb_)) {                                            \
			test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,        \
				  sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                     \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                            \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_)) {                                                      \
			test_fail(__FILE__, __LINE__, "%s contains \"%s\": got \"%.400s\"", #hay,  \
				  n_, h_ ? h_ : "(null)");                                         \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_NEAR(a, b, eps)                                                                      \
	do {                                                                                       \
		double da_ = (double)(a), db_ = (double)(b);                                       \
		if (!(da_ - db_ <= (eps) && db_ - da_ <= (eps))) {                                 \
			test_fail(__FILE__, __LINE__, "%s ~= %s: %.9g != %.9g", #a, #b, da_, db_); \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/*
 * A throwaway redis-server for integration tests: started on first use in a
 * temporary directory on a free loopback port, stopped when the runner exits.
 * Returns its redis:// URL (borrowed), or NULL (and fails the test) when it
 * cannot start.
 */
const char *test_redis_url(void);
/* Returns the port of the throwaway server (0 when not started). */
int test_redis_port(void);
struct rds;
struct task;
/*
 * Fills t (not yet initialised) as a question from U1 in channel C1 of team
 * T1 (ts and thread_ts "1.1", agent "default", source "slack"); release with
 * task_release().
 */
void test_task_question(struct task *t, const char *id, const char *text);
/*
 * Returns a connection (common/rds.h) to the throwaway server with a 500 ms
 * connect and reply_ms reply timeout, or NULL (and fails the test).
 */
struct rds *test_redis_connect(int reply_ms);
/* Runs FLUSHALL on the throwaway server. */
void test_redis_flush(void);
/* Stops and restarts the throwaway server on the same port (for reconnect tests). */
void test_redis_stop(void);
void test_redis_start_again(void);

#endif
