/*
 * rds.h - our wrapper over one hiredis connection.
 *
 * A struct rds is one lazily opened connection with its URL, timeouts and
 * reconnect state. It belongs to one thread at a time (civetweb handler thread,
 * worker task thread); never share one between threads.
 *
 * Every command reconnects first when the connection is down (AUTH and SELECT
 * replayed), backing off from 50 ms to 2 s between failed attempts so a dead
 * Redis costs callers one fast failure, not a connect timeout per call. A
 * command that fails on I/O drops the connection and returns NULL with
 * ERR_REDIS (ERR_TIMEOUT when the command timed out); an error reply returns
 * NULL with ERR_REDIS and the server's text in err->msg.
 *
 * Replies are hiredis redisReply trees: free the top-level reply once with
 * freeReplyObject(); never keep its elements after that.
 */
#ifndef HAINK_RDS_H
#define HAINK_RDS_H

#include <stddef.h>
#include <hiredis/hiredis.h>

struct err;

enum rds_url_kind { RDS_TCP = 0, RDS_UNIX };

struct rds_url {
	enum rds_url_kind kind;
	int tls;	/* rediss:// */
	char *host;	/* RDS_TCP */
	int port;	/* RDS_TCP, default 6379 */
	char *path;	/* RDS_UNIX */
	char *user;	/* NULL unless given */
	char *password; /* NULL unless given; percent-decoded */
	int db;
};

/*
 * Parses redis://[user[:pass]@]host[:port][/db], rediss://… (only where the
 * hiredis build has TLS) and unix:///path[?db=N]. Userinfo is percent-decoded.
 * Returns 0, or -1 with ERR_INVALID naming what is wrong. out owns its strings:
 * release with rds_url_release().
 */
int rds_url_parse(const char *url, struct rds_url *out, struct err *err);
void rds_url_release(struct rds_url *u);
/* Returns an owned copy of url with the password replaced by "***"; free with free(). */
char *rds_url_redact(const char *url);

/* Returns 1 when this build can speak TLS to Redis. */
int rds_tls_supported(void);

/*
 * Sets the TLS settings every later rediss:// connection uses (REDIS_TLS_*):
 * ca_file (PEM; NULL = the system store), cert_file + key_file (a client
 * certificate; both or neither), server_name (the name the certificate must
 * list; NULL = the URL's host, DNS name or IP address). Verification of the
 * chain and of the name is always on. Call once at start, before any thread
 * connects; arguments are copied. Returns 0, or -1 with ERR_INVALID (TLS
 * settings on a build without TLS, cert without key). Files are read at the
 * first TLS connect, whose error names a file that cannot be used.
 */
int rds_tls_configure(const char *ca_file, const char *cert_file, const char *key_file,
		      const char *server_name, struct err *err);

/*
 * Returns a new, not yet connected handle for url, or NULL with ERR_INVALID.
 * connect_timeout_ms and command_timeout_ms bound each connect and each reply
 * wait (0 = defaults of 1000 and 5000). Free with rds_free().
 */
struct rds *rds_new(const char *url, int connect_timeout_ms, int command_timeout_ms,
		    struct err *err);
void rds_free(struct rds *r);

/* Connects now if not connected (honouring the backoff). Returns 0 or -1. */
int rds_connect(struct rds *r, struct err *err);
/* Drops the connection; the next command reconnects without backoff. */
void rds_disconnect(struct rds *r);
/* Changes the reply timeout for the following commands (for blocking reads). */
void rds_set_timeout(struct rds *r, int command_timeout_ms);

/* Runs a printf-style hiredis command. Returns owned reply, or NULL (see above). */
redisReply *rds_cmd(struct rds *r, struct err *err, const char *fmt, ...);
/* Runs a command given as argc binary-safe strings (lens NULL = strlen). */
redisReply *rds_cmdv(struct rds *r, struct err *err, int argc, const char **argv,
		     const size_t *lens);

/*
 * Pipelining: queue commands with rds_append() or rds_appendv(), then read exactly
 * as many replies with rds_reply(). The first call of a pipeline connects if
 * needed. When any read fails the connection is dropped and the remaining
 * replies of that pipeline are lost: the caller must stop reading.
 */
int rds_append(struct rds *r, struct err *err, const char *fmt, ...);
int rds_appendv(struct rds *r, struct err *err, int argc, const char **argv, const size_t *lens);
/* Returns the next owned reply; an error reply is returned as is (type REDIS_REPLY_ERROR). */
redisReply *rds_reply(struct rds *r, struct err *err);

/* Returns 1 when err holds a Redis error reply starting with prefix ("NOSCRIPT", "BUSYGROUP"). */
int rds_err_is(const struct err *err, const char *prefix);

/*
 * Returns 1 when id is a stream entry id: <ms>-<seq>, or <ms> alone (Redis
 * fills the sequence), each part 1-20 digits. For ids taken from users.
 */
int rds_stream_id_valid(const char *id);

/*
 * Called by rds_scan() with one SCAN page: keys is the reply's array of key
 * names (borrowed, valid during the call). Return 0 to go on, -1 (with err
 * set) to stop the scan.
 */
typedef int rds_scan_fn(struct rds *r, const redisReply *keys, void *ctx, struct err *err);

/*
 * Iterates SCAN 0 MATCH pattern COUNT 1000 [TYPE type] to the end, calling fn
 * once per page (also for empty pages). type NULL means any type. fn may run
 * commands on r. Returns 0, or -1 with err (ERR_REDIS for a reply of another
 * shape, or whatever fn set). Keys may be seen twice, as SCAN guarantees.
 */
int rds_scan(struct rds *r, const char *pattern, const char *type, rds_scan_fn *fn, void *ctx,
	     struct err *err);

/* Called by rds_scan_keys() with one key (borrowed, valid during the call); 0 or -1 as above. */
typedef int rds_scan_key_fn(struct rds *r, const char *key, void *ctx, struct err *err);

/* rds_scan() calling fn once per key instead of once per page. */
int rds_scan_keys(struct rds *r, const char *pattern, const char *type, rds_scan_key_fn *fn,
		  void *ctx, struct err *err);

/* A server-side Lua script run with EVALSHA, falling back to EVAL on NOSCRIPT. */
struct rds_script {
	const char *body; /* borrowed; usually a string literal */
	char sha[41];
};
void rds_script_init(struct rds_script *s, const char *body);
/*
 * Runs script with nkeys keys followed by the other arguments (argv holds
 * keys then args, argc in total). Returns owned reply or NULL as rds_cmd().
 */
redisReply *rds_eval(struct rds *r, const struct rds_script *s, int nkeys, int argc,
		     const char **argv, const size_t *lens, struct err *err);

/*
 * Runs script with one key and no other argument and returns its integer
 * reply (rds_reply_int, 0 when not a number), or -1 with err.
 */
long long rds_eval_key_int(struct rds *r, const struct rds_script *s, const char *key,
			   struct err *err);

/* Small reply helpers: integer value of an integer or numeric string reply, else def. */
long long rds_reply_int(const redisReply *rep, long long def);

#endif
