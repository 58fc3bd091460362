/*
 * Unit tests of the Redis URL parser and redaction of common/rds.c: a table of
 * good URLs with every field they set, and bad URLs with the error they give.
 */
#include <stdlib.h>

#include "common.h"

#include "../harness/test.h"

struct url_case {
	const char *url;
	enum rds_url_kind kind;
	const char *host; /* or path for RDS_UNIX */
	int port;
	const char *user;
	const char *password;
	int db;
};

static const struct url_case good[] = {
    {"redis://localhost", RDS_TCP, "localhost", 6379, NULL, NULL, 0},
    {"redis://127.0.0.1:6380", RDS_TCP, "127.0.0.1", 6380, NULL, NULL, 0},
    {"redis://cache.internal:7000/3", RDS_TCP, "cache.internal", 7000, NULL, NULL, 3},
    {"redis://h/5", RDS_TCP, "h", 6379, NULL, NULL, 5},
    {"redis://h/", RDS_TCP, "h", 6379, NULL, NULL, 0},
    {"redis://h:1", RDS_TCP, "h", 1, NULL, NULL, 0},
    {"redis://h:65535/15", RDS_TCP, "h", 65535, NULL, NULL, 15},
    {"redis://alice:s3cret@h:6379/1", RDS_TCP, "h", 6379, "alice", "s3cret", 1},
    {"redis://:onlypass@h", RDS_TCP, "h", 6379, NULL, "onlypass", 0},
    {"redis://legacy@h", RDS_TCP, "h", 6379, NULL, "legacy", 0},
    /* percent-escaped specials in user and password */
    {"redis://al%40ice:p%40ss%3Aw%2Ford%25@h:6379/2", RDS_TCP, "h", 6379, "al@ice", "p@ss:w/ord%",
     2},
    {"redis://u:%7e%7E@h", RDS_TCP, "h", 6379, "u", "~~", 0},
    /* a raw '@' in the password: userinfo ends at the last '@' */
    {"redis://u:p@ss@word@db.example:6390/4", RDS_TCP, "db.example", 6390, "u", "p@ss@word", 4},
    /* a raw ':' in the password belongs to the password */
    {"redis://u:a:b@h", RDS_TCP, "h", 6379, "u", "a:b", 0},
    {"redis://u:@h", RDS_TCP, "h", 6379, "u", "", 0},
    {"redis://[::1]", RDS_TCP, "::1", 6379, NULL, NULL, 0},
    {"redis://[::1]:6391/7", RDS_TCP, "::1", 6391, NULL, NULL, 7},
    {"redis://u:p@[fe80::1]:7001", RDS_TCP, "fe80::1", 7001, "u", "p", 0},
    {"unix:///var/run/redis.sock", RDS_UNIX, "/var/run/redis.sock", 6379, NULL, NULL, 0},
    {"unix:///tmp/r.sock?db=2", RDS_UNIX, "/tmp/r.sock", 6379, NULL, NULL, 2},
};

struct bad_case {
	const char *url;
	const char *msg_part;
};

static const struct bad_case bad[] = {
    {"", "empty"},
    {"http://h:6379", "unsupported redis url scheme"},
    {"redis:/h", "unsupported redis url scheme"},
    {"localhost:6379", "unsupported redis url scheme"},
    {"redis://", "no host"},
    {"redis://:6379", "no host"},
    {"redis://u:p@", "no host"},
    {"redis://h:", "empty port"},
    {"redis://h:abc", "bad port"},
    {"redis://h:63 79", "bad port"},
    {"redis://h:0", "port out of range"},
    {"redis://h:65536", "port out of range"},
    {"redis://h:99999999999999", "port"},
    {"redis://h:-1", "bad port"},
    {"redis://h/x", "bad database"},
    {"redis://h/-1", "bad database"},
    {"redis://h/1/2", "bad database"},
    {"redis://h/123456", "bad database"},
    {"redis://[::1", "unterminated IPv6"},
    {"redis://[::1]x", "unexpected text after host"},
    {"redis://u:p%zz@h", "percent-escape"},
    {"redis://u:p%4@h", "percent-escape"},
    {"redis://u%@h", "percent-escape"},
    {"unix://relative.sock", "absolute path"},
    {"unix:///tmp/r.sock?db=x", "?db=N"},
    {"unix:///tmp/r.sock?database=1", "?db=N"},
};

TEST(rds_url, good_table)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct url_case *c = &good[i];
		struct rds_url u;
		struct err e = {0};
		int rc = rds_url_parse(c->url, &u, &e);

		if (rc != 0) {
			test_fail(__FILE__, __LINE__, "'%s' rejected: %s", c->url, e.msg);
			return;
		}
		if (u.kind != c->kind || u.port != c->port || u.db != c->db || u.tls ||
		    strcmp(c->kind == RDS_UNIX ? u.path : u.host, c->host) ||
		    (c->kind == RDS_UNIX && u.host) ||
		    (c->user ? !u.user || strcmp(u.user, c->user) : u.user != NULL) ||
		    (c->password ? !u.password || strcmp(u.password, c->password)
				 : u.password != NULL)) {
			test_fail(
			    __FILE__, __LINE__,
			    "'%s': got kind=%d host=%s path=%s port=%d user=%s password=%s db=%d",
			    c->url, u.kind, u.host ? u.host : "(null)", u.path ? u.path : "(null)",
			    u.port, u.user ? u.user : "(null)", u.password ? u.password : "(null)",
			    u.db);
			rds_url_release(&u);
			return;
		}
		rds_url_release(&u);
	}
}

TEST(rds_url, bad_table)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rds_url u;
		struct err e = {0};

		if (rds_url_parse(bad[i].url, &u, &e) == 0) {
			test_fail(__FILE__, __LINE__, "'%s' accepted (host=%s port=%d db=%d)",
				  bad[i].url, u.host ? u.host : "(null)", u.port, u.db);
			rds_url_release(&u);
			return;
		}
		CHECK_INT_EQ(e.code, ERR_INVALID);
		if (!strstr(e.msg, bad[i].msg_part)) {
			test_fail(__FILE__, __LINE__, "'%s': message \"%s\" lacks \"%s\"",
				  bad[i].url, e.msg, bad[i].msg_part);
			return;
		}
		/* messages never echo credentials */
		CHECK(!strstr(e.msg, "p%zz"));
	}
	{
		struct rds_url u;
		struct err e = {0};
		CHECK_INT_EQ(rds_url_parse(NULL, &u, &e), -1);
		CHECK_STR_CONTAINS(e.msg, "empty");
	}
}

TEST(rds_url, rediss_depends_on_tls_build)
{
	struct rds_url u;
	struct err e = {0};
	int rc = rds_url_parse("rediss://u:p@secure.example:6380/1", &u, &e);

	if (rds_tls_supported()) {
		CHECK_INT_EQ(rc, 0);
		CHECK_INT_EQ(u.tls, 1);
		CHECK_STR_EQ(u.host, "secure.example");
		CHECK_INT_EQ(u.port, 6380);
		rds_url_release(&u);
	} else {
		/* Debian 12's hiredis 0.14 has no TLS: a clear error, not a silent plaintext link
		 */
		CHECK_INT_EQ(rc, -1);
		CHECK_INT_EQ(e.code, ERR_INVALID);
		CHECK_STR_CONTAINS(e.msg, "rediss://");
		CHECK_STR_CONTAINS(e.msg, "TLS");
	}
}

TEST(rds_url, rds_new_rejects_bad_url)
{
	struct err e = {0};

	CHECK(rds_new("memcached://h", 0, 0, &e) == NULL);
	CHECK_INT_EQ(e.code, ERR_INVALID);
	CHECK_STR_CONTAINS(e.msg, "scheme");
}

static void check_redact(const char *in, const char *want)
{
	char *got = rds_url_redact(in);

	if (strcmp(got, want))
		test_fail(__FILE__, __LINE__, "redact('%s') = '%s', want '%s'", in, got, want);
	free(got);
}

TEST(rds_url, redact)
{
	check_redact("redis://alice:s3cret@h:6379/1", "redis://alice:***@h:6379/1");
	check_redact("redis://:s3cret@h", "redis://:***@h");
	check_redact("redis://s3cret@h/0", "redis://***@h/0");
	check_redact("redis://u:p@ss@word@h:1/2", "redis://u:***@h:1/2");
	check_redact("redis://u:p%40ss@h", "redis://u:***@h");
	check_redact("rediss://u:p@h:6380", "rediss://u:***@h:6380");
	check_redact("redis://h:6379/0", "redis://h:6379/0");
	check_redact("redis://[::1]:6379", "redis://[::1]:6379");
	check_redact("unix:///tmp/r.sock?db=2", "unix:///tmp/r.sock?db=2");
	check_redact("not a url", "not a url");
	check_redact("", "");
}

TEST(rds_url, stream_ids_from_users)
{
	CHECK(rds_stream_id_valid("1700000000000-0"));
	CHECK(rds_stream_id_valid("1700000000000"));
	CHECK(rds_stream_id_valid("0-0"));
	CHECK(rds_stream_id_valid("18446744073709551615-18446744073709551615"));
	CHECK(!rds_stream_id_valid(""));
	CHECK(!rds_stream_id_valid("-1"));
	CHECK(!rds_stream_id_valid("1-"));
	CHECK(!rds_stream_id_valid("1-2-3"));
	CHECK(!rds_stream_id_valid("abc"));
	CHECK(!rds_stream_id_valid("1 -2"));
	CHECK(!rds_stream_id_valid("123456789012345678901-0")); /* 21 digits */
	CHECK(!rds_stream_id_valid("(1-0"));
}
