#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <sys/time.h>

#if defined(HAINK_HAVE_HIREDIS_SSL) && HIREDIS_MAJOR >= 1
#include <arpa/inet.h>
#include <pthread.h>
#include <hiredis/hiredis_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#define RDS_TLS 1
#else
#define RDS_TLS 0
#endif

/*
 * Process-wide TLS settings (REDIS_TLS_*), set once by rds_tls_configure()
 * before any thread connects; read-only afterwards.
 */
static struct {
	char *ca_file, *cert_file, *key_file, *server_name;
} tls_opts;

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
	SSL_CTX *ssl_ctx; /* built on the first TLS connect, kept for reconnects */
#endif
};

int rds_tls_supported(void)
{
	return RDS_TLS;
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
	SSL_CTX_free(r->ssl_ctx);
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

static void set_opt(char **slot, const char *v)
{
	free(*slot);
	*slot = v && *v ? xstrdup(v) : NULL;
}

int rds_tls_configure(const char *ca_file, const char *cert_file, const char *key_file,
		      const char *server_name, struct err *err)
{
	int any = (ca_file && *ca_file) || (cert_file && *cert_file) || (key_file && *key_file) ||
		  (server_name && *server_name);

	if (any && !RDS_TLS) {
		err_set(err, ERR_INVALID,
			"REDIS_TLS_* settings need hiredis with TLS, which this "
			"build lacks");
		return -1;
	}
	if (!(cert_file && *cert_file) != !(key_file && *key_file)) {
		err_set(
		    err, ERR_INVALID,
		    "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together: set both or neither");
		return -1;
	}
	set_opt(&tls_opts.ca_file, ca_file);
	set_opt(&tls_opts.cert_file, cert_file);
	set_opt(&tls_opts.key_file, key_file);
	set_opt(&tls_opts.server_name, server_name);
	return 0;
}

#if RDS_TLS
/*
 * TLS to Redis, done here rather than with redisCreateSSLContext() because
 * hiredis only sends SNI: it never checks that the certificate names the
 * host. We build the SSL_CTX (CA file or the system store, optional client
 * certificate), ask OpenSSL to check the host name or IP address against the
 * certificate, bound the handshake by what is left of the connect timeout,
 * and hand the SSL object to hiredis. Nothing turns verification off.
 */
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_names_idx = -1; /* SSL ex_data slot: struct buf of the peer's names */

static void tls_init_once(void)
{
	tls_names_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static void openssl_reason(char *out, size_t n)
{
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, out, n);
	else
		snprintf(out, n, "%s", "no detail from OpenSSL");
	ERR_clear_error();
}

/* Collects the leaf certificate's subjectAltNames (or its CN) for error messages. */
static void cert_names(X509 *cert, struct buf *out)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int n = gens ? sk_GENERAL_NAME_num(gens) : 0;

	for (int i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[64];

		if (out->len)
			buf_adds(out, ", ");
		if (g->type == GEN_DNS) {
			buf_add(out, ASN1_STRING_get0_data(g->d.dNSName),
				(size_t)ASN1_STRING_length(g->d.dNSName));
		} else if (g->type == GEN_IPADD) {
			int len = ASN1_STRING_length(g->d.iPAddress);
			const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);
			if (inet_ntop(len == 16 ? AF_INET6 : AF_INET, a, ip, sizeof(ip)))
				buf_adds(out, ip);
		} else {
			buf_adds(out, "(other name)");
		}
	}
	GENERAL_NAMES_free(gens);
	if (!n) {
		char cn[256];
		if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
					      sizeof(cn)) > 0)
			buf_addf(out, "CN=%s", cn);
		else
			buf_adds(out, "(no names)");
	}
}

static int tls_verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct buf *names = ssl ? SSL_get_ex_data(ssl, tls_names_idx) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(xs);

	if (names && cert && X509_STORE_CTX_get_error_depth(xs) == 0 && !names->len)
		cert_names(cert, names);
	return ok;
}

static SSL_CTX *tls_ctx_new(struct err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char why[256];

	if (!ctx) {
		openssl_reason(why, sizeof(why));
		err_set(err, ERR_IO, "cannot create a TLS context: %s", why);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_cb);
	if (tls_opts.ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, tls_opts.ca_file, NULL) != 1) {
			openssl_reason(why, sizeof(why));
			err_set(err, ERR_INVALID, "cannot load REDIS_TLS_CA_FILE '%s': %s",
				tls_opts.ca_file, why);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		openssl_reason(why, sizeof(why));
		err_set(err, ERR_INVALID, "cannot load the system CA store: %s", why);
		goto fail;
	}
	if (tls_opts.cert_file) {
		if (SSL_CTX_use_certificate_chain_file(ctx, tls_opts.cert_file) != 1) {
			openssl_reason(why, sizeof(why));
			err_set(err, ERR_INVALID, "cannot load REDIS_TLS_CERT_FILE '%s': %s",
				tls_opts.cert_file, why);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, tls_opts.key_file, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			openssl_reason(why, sizeof(why));
			err_set(err, ERR_INVALID,
				"cannot use REDIS_TLS_KEY_FILE '%s' with the certificate: %s",
				tls_opts.key_file, why);
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Returns 1 when s is an IPv4 or IPv6 literal. */
static int is_ip_literal(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static int tls_start(struct rds *r, int64_t started_ms, struct err *err)
{
	const char *name = tls_opts.server_name ? tls_opts.server_name : r->url.host;
	int64_t left = r->connect_timeout_ms - (clock_mono_ms() - started_ms);
	struct buf names = BUF_INIT;
	SSL *ssl = NULL;
	int rc = -1;
	long verify;

	pthread_once(&tls_once, tls_init_once);
	if (!r->ssl_ctx && !(r->ssl_ctx = tls_ctx_new(err)))
		goto out;
	ssl = SSL_new(r->ssl_ctx);
	if (!ssl) {
		err_set(err, ERR_IO, "cannot create a TLS session");
		goto out;
	}
	SSL_set_ex_data(ssl, tls_names_idx, &names);
	if (is_ip_literal(name)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1) {
			err_set(err, ERR_INVALID, "cannot verify redis tls against address '%s'",
				name);
			goto out;
		}
	} else if (SSL_set_tlsext_host_name(ssl, name) != 1 || SSL_set1_host(ssl, name) != 1) {
		err_set(err, ERR_INVALID, "cannot verify redis tls against host name '%s'", name);
		goto out;
	}
	/* hiredis sets no socket timeout before the handshake: a silent server would hang it */
	redisSetTimeout(r->c, ms_tv(left > 1 ? (int)left : 1));
	ERR_clear_error();
	if (redisInitiateSSL(r->c, ssl) == REDIS_OK) {
		ssl = NULL; /* hiredis owns it now */
		rc = 0;
		goto out;
	}
	verify = SSL_get_verify_result(ssl);
	if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
		err_set(err, ERR_AUTH,
			"redis tls: the certificate of %s:%d is for %s, not '%s' (fix REDIS_URL's "
			"host, or set REDIS_TLS_SERVER_NAME to a name the certificate lists)",
			r->url.host, r->url.port, names.len ? names.s : "(no names)", name);
	} else if (verify != X509_V_OK) {
		err_set(err, ERR_AUTH,
			"redis tls: cannot verify the certificate of %s:%d: %s (set "
			"REDIS_TLS_CA_FILE to the CA that signed it)",
			r->url.host, r->url.port, X509_verify_cert_error_string(verify));
	} else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT) {
		err_set(err, ERR_TIMEOUT,
			"redis tls: handshake with %s:%d timed out (connect timeout %d ms)",
			r->url.host, r->url.port, r->connect_timeout_ms);
	} else {
		char why[256];
		openssl_reason(why, sizeof(why));
		err_set(err, ERR_REDIS, "redis tls: handshake with %s:%d failed: %s (%s)",
			r->url.host, r->url.port, r->c->errstr, why);
	}
out:
	SSL_free(ssl);
	buf_release(&names);
	return rc;
}

/*
 * With TLS 1.3 a server that wants a client certificate accepts the handshake
 * and closes the connection right after: hiredis then says only "Server closed
 * the connection". Called when the first command on a fresh TLS connection
 * fails, to say what is likely wrong.
 */
static void tls_explain_first_failure(struct rds *r, struct err *err)
{
	char why[256];

	openssl_reason(why, sizeof(why));
	if (!tls_opts.cert_file)
		err_set(err, ERR_AUTH,
			"redis tls: %s:%d closed the connection after the handshake (%s); if the "
			"server requires client certificates (tls-auth-clients), set "
			"REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE",
			r->url.host, r->url.port, why);
	else
		err_set(err, ERR_AUTH,
			"redis tls: %s:%d closed the connection after the handshake (%s); check "
			"that REDIS_TLS_CERT_FILE is signed by a CA the server trusts",
			r->url.host, r->url.port, why);
}
#endif

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
	int64_t started_ms;
	struct timeval ctv;
	char dbs[16];

	if (r->c)
		return 0;
	started_ms = clock_mono_ms();
	if (r->next_attempt_ms && started_ms < r->next_attempt_ms) {
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
	if (r->url.tls && tls_start(r, started_ms, err) < 0) {
		conn_failed(r);
		return -1;
	}
#endif
	redisSetTimeout(r->c, ms_tv(r->command_timeout_ms));
	redisEnableKeepAlive(r->c);
#if RDS_TLS
	if (r->url.tls) {
		/* one round trip now, so a server that drops us after the handshake
		 * (client certificate required) gets a clear error here */
		redisReply *rep = redisCommand(r->c, "PING");
		if (!rep) {
			tls_explain_first_failure(r, err);
			goto fail;
		}
		freeReplyObject(rep); /* NOAUTH is fine: AUTH follows */
	}
#endif
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

	s->body = body;
	SHA1((const unsigned char *)body, strlen(body), md);
	hex_encode(s->sha, md, sizeof(md));
}

redisReply *rds_eval(struct rds *r, const struct rds_script *s, int nkeys, int argc,
		     const char **argv, const size_t *lens, struct err *err)
{
	const char **av = xmalloc(sizeof(*av) * (size_t)(argc + 3));
	size_t *lv = xmalloc(sizeof(*lv) * (size_t)(argc + 3));
	char nk[16];
	struct err local = {0};
	redisReply *rep;

	if (!err)
		err = &local; /* NOSCRIPT must be seen to fall back to EVAL */
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

long long rds_eval_key_int(struct rds *r, const struct rds_script *s, const char *key,
			   struct err *err)
{
	const char *argv[1] = {key};
	redisReply *rep = rds_eval(r, s, 1, 1, argv, NULL, err);
	long long n;

	if (!rep)
		return -1;
	n = rds_reply_int(rep, 0);
	freeReplyObject(rep);
	return n;
}

int rds_scan(struct rds *r, const char *pattern, const char *type, rds_scan_fn *fn, void *ctx,
	     struct err *err)
{
	char cursor[32] = "0";

	do {
		const char *av[] = {"SCAN",  cursor, "MATCH", pattern,
				    "COUNT", "1000", "TYPE",  type};
		redisReply *rep = rds_cmdv(r, err, type ? 8 : 6, av, NULL);
		int rc;

		if (!rep)
			return -1;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(rep);
			err_set(err, ERR_REDIS, "unexpected SCAN reply");
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		rc = fn(r, rep->element[1], ctx, err);
		freeReplyObject(rep);
		if (rc < 0)
			return -1;
	} while (strcmp(cursor, "0"));
	return 0;
}

struct scan_each {
	rds_scan_key_fn *fn;
	void *ctx;
};

static int scan_each_key(struct rds *r, const redisReply *keys, void *vctx, struct err *err)
{
	const struct scan_each *e = vctx;

	for (size_t i = 0; i < keys->elements; i++)
		if (e->fn(r, keys->element[i]->str, e->ctx, err) < 0)
			return -1;
	return 0;
}

int rds_scan_keys(struct rds *r, const char *pattern, const char *type, rds_scan_key_fn *fn,
		  void *ctx, struct err *err)
{
	struct scan_each e = {fn, ctx};

	return rds_scan(r, pattern, type, scan_each_key, &e, err);
}
