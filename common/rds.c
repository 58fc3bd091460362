#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <sys/time.h>

#if defined(HAINK_HAVE_HIREDIS_SSL) && HIREDIS_MAJOR >= 1
#include <hiredis/hiredis_ssl.h>
#define RDS_TLS 1
#else
#define RDS_TLS 0
#endif

#define RDS_BACKOFF_MIN_MS 50
#define RDS_BACKOFF_MAX_MS 2000

struct rds {
	struct rds_url url;
	redisContext *c;
	int connect_timeout_ms;
	int command_timeout_ms;
	int64_t next_attempt_ms; /* monotonic; reconnects wait until then */
	int backoff_ms;
#if RDS_TLS
	redisSSLContext *ssl;
#endif
};

int rds_tls_supported(void)
{
	return RDS_TLS;
}

static int parse_db(const char *s, size_t n, int *db)
{
	long v = 0;

	if (!n || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*db = (int)v;
	return 0;
}

int rds_url_parse(const char *url, struct rds_url *out, struct err *err)
{
	const char *p, *at, *hostend, *slash;

	memset(out, 0, sizeof(*out));
	out->port = 6379;
	if (!url || !*url) {
		err_set(err, ERR_INVALID, "redis url is empty");
		return -1;
	}
	if (!strncmp(url, "unix://", 7)) {
		const char *q;
		out->kind = RDS_UNIX;
		p = url + 7;
		if (*p != '/') {
			err_set(err, ERR_INVALID,
				"unix socket url needs an absolute path: unix:///path");
			return -1;
		}
		q = strchr(p, '?');
		out->path = q ? xstrndup(p, (size_t)(q - p)) : xstrdup(p);
		if (q) {
			if (strncmp(q, "?db=", 4) || parse_db(q + 4, strlen(q + 4), &out->db)) {
				err_set(err, ERR_INVALID, "bad database in '%s': use ?db=N", url);
				goto fail;
			}
		}
		return 0;
	}
	if (!strncmp(url, "redis://", 8)) {
		p = url + 8;
	} else if (!strncmp(url, "rediss://", 9)) {
		if (!RDS_TLS) {
			err_set(err, ERR_INVALID,
				"rediss:// needs hiredis with TLS, which this build lacks");
			return -1;
		}
		out->tls = 1;
		p = url + 9;
	} else {
		err_set(err, ERR_INVALID,
			"unsupported redis url scheme (want redis://, rediss:// or unix://)");
		return -1;
	}

	/* userinfo ends at the last '@' before the path, so a raw '@' in a password works */
	slash = strchr(p, '/');
	at = NULL;
	for (const char *s = p; *s && (!slash || s < slash); s++)
		if (*s == '@')
			at = s;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			if (colon > p) {
				out->user = form_pct_decode(p, (size_t)(colon - p));
				if (!out->user)
					goto badesc;
			}
			out->password = form_pct_decode(colon + 1, (size_t)(at - colon - 1));
			if (!out->password)
				goto badesc;
		} else if (at > p) {
			/* redis://secret@host: a lone userinfo is a password (legacy AUTH) */
			out->password = form_pct_decode(p, (size_t)(at - p));
			if (!out->password)
				goto badesc;
		}
		p = at + 1;
	}
	hostend = slash ? slash : p + strlen(p);
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(hostend - p));
		if (!rb) {
			err_set(err, ERR_INVALID, "unterminated IPv6 address in redis url");
			goto fail;
		}
		out->host = xstrndup(p + 1, (size_t)(rb - p - 1));
		p = rb + 1;
	} else {
		const char *colon = memchr(p, ':', (size_t)(hostend - p));
		const char *e = colon ? colon : hostend;
		out->host = xstrndup(p, (size_t)(e - p));
		p = e;
	}
	if (!out->host[0]) {
		err_set(err, ERR_INVALID, "redis url has no host");
		goto fail;
	}
	if (*p == ':') {
		long port = 0;
		const char *s = p + 1;
		if (s == hostend) {
			err_set(err, ERR_INVALID, "redis url has an empty port");
			goto fail;
		}
		for (; s < hostend; s++) {
			if (!isdigit((unsigned char)*s) || port > 65535) {
				err_set(err, ERR_INVALID, "bad port in redis url");
				goto fail;
			}
			port = port * 10 + (*s - '0');
		}
		if (port < 1 || port > 65535) {
			err_set(err, ERR_INVALID, "port out of range in redis url");
			goto fail;
		}
		out->port = (int)port;
	} else if (p != hostend) {
		err_set(err, ERR_INVALID, "unexpected text after host in redis url");
		goto fail;
	}
	if (slash && slash[1]) {
		if (parse_db(slash + 1, strlen(slash + 1), &out->db)) {
			err_set(err, ERR_INVALID, "bad database number in redis url (want /N)");
			goto fail;
		}
	}
	return 0;
badesc:
	err_set(err, ERR_INVALID, "bad percent-escape in redis url credentials");
fail:
	rds_url_release(out);
	return -1;
}

void rds_url_release(struct rds_url *u)
{
	free(u->host);
	free(u->path);
	free(u->user);
	free(u->password);
	memset(u, 0, sizeof(*u));
}

char *rds_url_redact(const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *p, *at = NULL, *slash, *colon;
	struct buf b = BUF_INIT;

	if (!scheme)
		return xstrdup(url);
	p = scheme + 3;
	slash = strchr(p, '/');
	for (const char *s = p; *s && (!slash || s < slash); s++)
		if (*s == '@')
			at = s;
	if (!at)
		return xstrdup(url);
	colon = memchr(p, ':', (size_t)(at - p));
	buf_add(&b, url, (size_t)(p - url));
	if (colon) {
		buf_add(&b, p, (size_t)(colon - p));
		buf_adds(&b, ":***");
	} else {
		buf_adds(&b, "***");
	}
	buf_adds(&b, at);
	return buf_detach(&b, NULL);
}

struct rds *rds_new(const char *url, int connect_timeout_ms, int command_timeout_ms,
		    struct err *err)
{
	struct rds *r = xcalloc(1, sizeof(*r));

	if (rds_url_parse(url, &r->url, err) < 0) {
		free(r);
		return NULL;
	}
	r->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 1000;
	r->command_timeout_ms = command_timeout_ms > 0 ? command_timeout_ms : 5000;
	r->backoff_ms = 0;
	return r;
}

void rds_free(struct rds *r)
{
	if (!r)
		return;
	if (r->c)
		redisFree(r->c);
#if RDS_TLS
	if (r->ssl)
		redisFreeSSLContext(r->ssl);
#endif
	rds_url_release(&r->url);
	free(r);
}

void rds_disconnect(struct rds *r)
{
	if (r->c) {
		redisFree(r->c);
		r->c = NULL;
	}
	r->next_attempt_ms = 0;
	r->backoff_ms = 0;
}

static struct timeval ms_tv(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	return tv;
}

void rds_set_timeout(struct rds *r, int command_timeout_ms)
{
	r->command_timeout_ms = command_timeout_ms;
	if (r->c)
		redisSetTimeout(r->c, ms_tv(command_timeout_ms));
}

static void drop(struct rds *r)
{
	if (r->c) {
		redisFree(r->c);
		r->c = NULL;
	}
}

static void conn_failed(struct rds *r)
{
	drop(r);
	r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : RDS_BACKOFF_MIN_MS;
	if (r->backoff_ms > RDS_BACKOFF_MAX_MS)
		r->backoff_ms = RDS_BACKOFF_MAX_MS;
	r->next_attempt_ms = clock_mono_ms() + r->backoff_ms;
}

/* Sends one setup command (AUTH, SELECT) on a fresh connection. */
static int setup_cmd(struct rds *r, struct err *err, int argc, const char **argv)
{
	redisReply *rep = redisCommandArgv(r->c, argc, argv, NULL);

	if (!rep) {
		err_set(err, ERR_REDIS, "redis %s failed: %s", argv[0], r->c->errstr);
		return -1;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		err_set(err,
			strstr(rep->str, "WRONGPASS") || strstr(rep->str, "NOAUTH") ||
				strstr(rep->str, "invalid password")
			    ? ERR_AUTH
			    : ERR_REDIS,
			"redis %s rejected: %s", argv[0], rep->str);
		freeReplyObject(rep);
		return -1;
	}
	freeReplyObject(rep);
	return 0;
}

int rds_connect(struct rds *r, struct err *err)
{
	struct timeval ctv;
	char dbs[16];

	if (r->c)
		return 0;
	if (r->next_attempt_ms && clock_mono_ms() < r->next_attempt_ms) {
		err_set(err, ERR_REDIS, "redis unreachable (reconnect backing off)");
		return -1;
	}
	ctv = ms_tv(r->connect_timeout_ms);
	if (r->url.kind == RDS_UNIX)
		r->c = redisConnectUnixWithTimeout(r->url.path, ctv);
	else
		r->c = redisConnectWithTimeout(r->url.host, r->url.port, ctv);
	if (!r->c || r->c->err) {
		if (r->url.kind == RDS_UNIX)
			err_set(err, ERR_REDIS, "cannot connect to redis at %s: %s", r->url.path,
				r->c ? r->c->errstr : "out of memory");
		else
			err_set(err, ERR_REDIS, "cannot connect to redis at %s:%d: %s", r->url.host,
				r->url.port, r->c ? r->c->errstr : "out of memory");
		conn_failed(r);
		return -1;
	}
#if RDS_TLS
	if (r->url.tls) {
		redisSSLContextError serr = REDIS_SSL_CTX_NONE;
		if (!r->ssl)
			r->ssl = redisCreateSSLContext(NULL, NULL, NULL, NULL, r->url.host, &serr);
		if (!r->ssl || redisInitiateSSLWithContext(r->c, r->ssl) != REDIS_OK) {
			err_set(err, ERR_REDIS, "tls handshake with redis failed: %s",
				r->ssl ? r->c->errstr : redisSSLContextGetError(serr));
			conn_failed(r);
			return -1;
		}
	}
#endif
	redisSetTimeout(r->c, ms_tv(r->command_timeout_ms));
	redisEnableKeepAlive(r->c);
	if (r->url.password) {
		const char *argv[3] = {"AUTH", r->url.user ? r->url.user : r->url.password,
				       r->url.password};
		if (setup_cmd(r, err, r->url.user ? 3 : 2, argv) < 0)
			goto fail;
	}
	if (r->url.db) {
		const char *argv[2] = {"SELECT", dbs};
		snprintf(dbs, sizeof(dbs), "%d", r->url.db);
		if (setup_cmd(r, err, 2, argv) < 0)
			goto fail;
	}
	r->backoff_ms = 0;
	r->next_attempt_ms = 0;
	return 0;
fail:
	conn_failed(r);
	return -1;
}

/* Turns a NULL from hiredis or an error reply into err; returns rep or NULL. */
static redisReply *check_reply(struct rds *r, redisReply *rep, struct err *err)
{
	if (!rep) {
		int timed_out = r->c && (r->c->err == REDIS_ERR_IO) &&
				(errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT);
		err_set(err, timed_out ? ERR_TIMEOUT : ERR_REDIS, "redis connection lost: %s",
			r->c && r->c->errstr[0] ? r->c->errstr : "unknown error");
		conn_failed(r);
		/* a lost connection is usually a restart: try again promptly once */
		r->next_attempt_ms = 0;
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		err_set(err, ERR_REDIS, "%s", rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

redisReply *rds_cmd(struct rds *r, struct err *err, const char *fmt, ...)
{
	va_list ap;
	redisReply *rep;

	if (rds_connect(r, err) < 0)
		return NULL;
	va_start(ap, fmt);
	rep = redisvCommand(r->c, fmt, ap);
	va_end(ap);
	return check_reply(r, rep, err);
}

redisReply *rds_cmdv(struct rds *r, struct err *err, int argc, const char **argv,
		     const size_t *lens)
{
	redisReply *rep;

	if (rds_connect(r, err) < 0)
		return NULL;
	rep = redisCommandArgv(r->c, argc, argv, lens);
	return check_reply(r, rep, err);
}

int rds_append(struct rds *r, struct err *err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (rds_connect(r, err) < 0)
		return -1;
	va_start(ap, fmt);
	rc = redisvAppendCommand(r->c, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK) {
		err_set(err, ERR_INVALID, "cannot format redis command");
		return -1;
	}
	return 0;
}

int rds_appendv(struct rds *r, struct err *err, int argc, const char **argv, const size_t *lens)
{
	if (rds_connect(r, err) < 0)
		return -1;
	if (redisAppendCommandArgv(r->c, argc, argv, lens) != REDIS_OK) {
		err_set(err, ERR_INVALID, "cannot format redis command");
		return -1;
	}
	return 0;
}

redisReply *rds_reply(struct rds *r, struct err *err)
{
	void *rep = NULL;

	if (!r->c) {
		err_set(err, ERR_REDIS, "redis connection lost during pipeline");
		return NULL;
	}
	if (redisGetReply(r->c, &rep) != REDIS_OK || !rep) {
		check_reply(r, NULL, err);
		return NULL;
	}
	return rep;
}

int rds_err_is(const struct err *err, const char *prefix)
{
	return err && err->code == ERR_REDIS && !strncmp(err->msg, prefix, strlen(prefix));
}

void rds_script_init(struct rds_script *s, const char *body)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	static const char hex[] = "0123456789abcdef";

	s->body = body;
	SHA1((const unsigned char *)body, strlen(body), md);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
		s->sha[2 * i] = hex[md[i] >> 4];
		s->sha[2 * i + 1] = hex[md[i] & 15];
	}
	s->sha[40] = '\0';
}

redisReply *rds_eval(struct rds *r, const struct rds_script *s, int nkeys, int argc,
		     const char **argv, const size_t *lens, struct err *err)
{
	const char **av = xmalloc(sizeof(*av) * (size_t)(argc + 3));
	size_t *lv = xmalloc(sizeof(*lv) * (size_t)(argc + 3));
	char nk[16];
	redisReply *rep;

	snprintf(nk, sizeof(nk), "%d", nkeys);
	av[0] = "EVALSHA";
	lv[0] = 7;
	av[1] = s->sha;
	lv[1] = 40;
	av[2] = nk;
	lv[2] = strlen(nk);
	for (int i = 0; i < argc; i++) {
		av[i + 3] = argv[i];
		lv[i + 3] = lens ? lens[i] : strlen(argv[i]);
	}
	rep = rds_cmdv(r, err, argc + 3, av, lv);
	if (!rep && rds_err_is(err, "NOSCRIPT")) {
		av[0] = "EVAL";
		lv[0] = 4;
		av[1] = s->body;
		lv[1] = strlen(s->body);
		rep = rds_cmdv(r, err, argc + 3, av, lv);
	}
	free(av);
	free(lv);
	return rep;
}

long long rds_reply_int(const redisReply *rep, long long def)
{
	if (!rep)
		return def;
	if (rep->type == REDIS_REPLY_INTEGER)
		return rep->integer;
	if (rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS) {
		char *end;
		long long v = strtoll(rep->str, &end, 10);
		if (end != rep->str && !*end)
			return v;
	}
	return def;
}

int rds_stream_id_valid(const char *id)
{
	const char *p = id;
	int digits = 0;

	while (isdigit((unsigned char)*p)) {
		p++;
		digits++;
	}
	if (!digits || digits > 20)
		return 0;
	if (!*p)
		return 1;
	if (*p++ != '-')
		return 0;
	digits = 0;
	while (isdigit((unsigned char)*p)) {
		p++;
		digits++;
	}
	return digits && digits <= 20 && !*p;
}
