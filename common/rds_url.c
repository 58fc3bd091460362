/*
 * rds_url.c - REDIS_URL parsing and redaction for rds.h: redis:// and
 * rediss:// URLs and unix: sockets, with user, password and database.
 * Pure functions; thread-safe.
 */
#include "common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * Long on purpose: one pass over the URL, a branch per part (scheme, userinfo,
 * host, port, db, socket path, query) sharing one cursor and one error path;
 * read top to bottom it is easier to check than split into pieces.
 */
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
		if (!rds_tls_supported()) {
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
	} else if (slash && strchr(slash, '@')) {
		/* redis://:pa/ss@host: the '/' ended the authority early; the
		 * host:port parse would only say "bad port" */
		err_set(err, ERR_INVALID,
			"redis url credentials contain a reserved character such as '/': "
			"percent-encode them in REDIS_URL (for example '/' as %%2F, '@' as %%40)");
		goto fail;
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
	err_set(err, ERR_INVALID,
		"bad percent-escape in redis url credentials (write a literal '%%' as %%25)");
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
