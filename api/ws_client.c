#include "common.h"
#include "ws_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define WS_GUID		 "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_HEADERS	 16384
#define WS_CLOSE_WAIT_MS 1000

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

struct ws_client {
	int fd;
	SSL_CTX *ctx; /* wss:// only */
	SSL *ssl;
	struct buf rx; /* bytes received, not yet parsed from rpos on */
	size_t rpos;
	struct buf msg; /* the message being reassembled from fragments */
	int in_msg;	/* a fragmented message is open */
	struct buf tx;
	int dead; /* closed or broken: send nothing more */
	long long last_rx_ms;
};

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - clock_mono_ms();

	return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

/* Waits until fd is ready for events; 1 ready, 0 deadline passed, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {fd, events, 0};
	int rc;

	for (;;) {
		rc = poll(&p, 1, remaining_ms(deadline));
		if (rc > 0)
			return 1;
		if (rc == 0) {
			if (clock_mono_ms() >= deadline)
				return 0;
			continue;
		}
		if (errno != EINTR)
			return -1;
	}
}

static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "tls error";
}

/*
 * Reads what is available into the free tail of c->rx, waiting until
 * deadline. Returns bytes read, 0 when the deadline passed, -1 with err.
 */
static int io_read(struct ws_client *c, int64_t deadline, struct err *err)
{
	for (;;) {
		size_t room;
		ssize_t n;
		short ev = POLLIN;
		int w;

		buf_grow(&c->rx, 16384);
		room = c->rx.cap - c->rx.len - 1;
		if (c->ssl) {
			int r, e;
			ERR_clear_error();
			r = SSL_read(c->ssl, c->rx.s + c->rx.len,
				     room > INT32_MAX ? INT32_MAX : (int)room);
			if (r > 0) {
				n = r;
				goto got;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_WRITE)
				ev = POLLOUT;
			else if (e != SSL_ERROR_WANT_READ) {
				err_set(err, ERR_IO, "websocket connection %s",
					e == SSL_ERROR_ZERO_RETURN || r == 0
					    ? "closed by the server"
					    : ssl_reason());
				return -1;
			}
		} else {
			n = recv(c->fd, c->rx.s + c->rx.len, room, MSG_DONTWAIT);
			if (n > 0)
				goto got;
			if (n == 0) {
				err_set(err, ERR_IO, "websocket connection closed by the server");
				return -1;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				err_set(err, ERR_IO, "websocket read failed: %s", strerror(errno));
				return -1;
			}
		}
		w = wait_fd(c->fd, ev, deadline);
		if (w < 0) {
			err_set(err, ERR_IO, "websocket poll failed: %s", strerror(errno));
			return -1;
		}
		if (w == 0)
			return 0;
		continue;
	got:
		c->rx.len += (size_t)n;
		c->rx.s[c->rx.len] = '\0';
		c->last_rx_ms = clock_mono_ms();
		return (int)n;
	}
}

/* Writes all of data before deadline. Returns 0, or -1 with ERR_IO / ERR_TIMEOUT. */
static int io_write(struct ws_client *c, const char *data, size_t n, int64_t deadline,
		    struct err *err)
{
	while (n > 0) {
		short ev = POLLOUT;
		ssize_t w;
		int rdy;

		if (c->ssl) {
			int r, e;
			ERR_clear_error();
			r = SSL_write(c->ssl, data, n > INT32_MAX ? INT32_MAX : (int)n);
			if (r > 0) {
				w = r;
				goto wrote;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				ev = POLLIN;
			else if (e != SSL_ERROR_WANT_WRITE) {
				err_set(err, ERR_IO, "websocket write failed: %s", ssl_reason());
				return -1;
			}
		} else {
			w = send(c->fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w >= 0)
				goto wrote;
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				err_set(err, ERR_IO, "websocket write failed: %s", strerror(errno));
				return -1;
			}
		}
		rdy = wait_fd(c->fd, ev, deadline);
		if (rdy <= 0) {
			err_set(err, rdy ? ERR_IO : ERR_TIMEOUT, "websocket write %s",
				rdy ? "failed" : "timed out");
			return -1;
		}
		continue;
	wrote:
		data += w;
		n -= (size_t)w;
	}
	return 0;
}

struct ws_url {
	int tls;
	char host[256];
	char port[8];
	struct buf target; /* path and query, starts with '/' */
};

static int parse_url(const char *url, struct ws_url *u, struct err *err)
{
	const char *p, *end;
	size_t hn;

	if (!strncmp(url, "wss://", 6)) {
		u->tls = 1;
		p = url + 6;
	} else if (!strncmp(url, "ws://", 5)) {
		u->tls = 0;
		p = url + 5;
	} else {
		err_set(err, ERR_INVALID, "websocket url must start with ws:// or wss://");
		return -1;
	}
	snprintf(u->port, sizeof(u->port), "%s", u->tls ? "443" : "80");
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end) {
			err_set(err, ERR_INVALID, "websocket url has a bad IPv6 host");
			return -1;
		}
		hn = (size_t)(end - p - 1);
		p++;
		end++;
	} else {
		end = p + strcspn(p, ":/?#");
		hn = (size_t)(end - p);
	}
	if (hn == 0 || hn >= sizeof(u->host)) {
		err_set(err, ERR_INVALID, "websocket url has no host");
		return -1;
	}
	memcpy(u->host, p, hn);
	u->host[hn] = '\0';
	if (*end == ':') {
		size_t pn = strspn(end + 1, "0123456789");
		if (pn == 0 || pn >= sizeof(u->port) || atoi(end + 1) < 1 ||
		    atoi(end + 1) > 65535) {
			err_set(err, ERR_INVALID, "websocket url has a bad port");
			return -1;
		}
		memcpy(u->port, end + 1, pn);
		u->port[pn] = '\0';
		end += 1 + pn;
	}
	if (*end && *end != '/' && *end != '?') {
		err_set(err, ERR_INVALID, "websocket url has a bad host part");
		return -1;
	}
	if (*end != '/')
		buf_addch(&u->target, '/');
	buf_add(&u->target, end, strcspn(end, "#"));
	for (size_t i = 0; i < u->target.len; i++)
		if ((unsigned char)u->target.s[i] <= ' ') {
			err_set(err, ERR_INVALID, "websocket url has a space or control character");
			return -1;
		}
	return 0;
}

static int tcp_connect(const struct ws_url *u, int64_t deadline, struct err *err)
{
	struct addrinfo hints, *res = NULL;
	int fd = -1, rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc) {
		err_set(err, ERR_IO, "cannot resolve '%s': %s", u->host, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) > 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
			break;
		err_set(err, clock_mono_ms() >= deadline ? ERR_TIMEOUT : ERR_IO,
			"cannot connect to %s:%s: %s", u->host, u->port,
			soerr			      ? strerror(soerr)
			: clock_mono_ms() >= deadline ? "timed out"
						      : strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	else if (!err || !err->code)
		err_set(err, ERR_IO, "cannot connect to %s:%s", u->host, u->port);
	return fd;
}

static int tls_start(struct ws_client *c, const struct ws_url *u, int64_t deadline, struct err *err)
{
	unsigned char addr[16];
	int is_ip =
	    inet_pton(AF_INET, u->host, addr) == 1 || inet_pton(AF_INET6, u->host, addr) == 1;

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx || SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
		err_set(err, ERR_IO, "cannot set up TLS: %s", ssl_reason());
		return -1;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		err_set(err, ERR_IO, "cannot set up TLS for '%s': %s", u->host, ssl_reason());
		return -1;
	}
	/* an address literal is matched against the certificate's IP entries and sent
	 * without SNI (RFC 6066); a name is matched against its DNS names */
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), u->host) != 1
		  : SSL_set_tlsext_host_name(c->ssl, u->host) != 1 ||
			SSL_set1_host(c->ssl, u->host) != 1) {
		err_set(err, ERR_IO, "cannot set up TLS for '%s': %s", u->host, ssl_reason());
		return -1;
	}
	for (;;) {
		int r, e, w;

		ERR_clear_error();
		r = SSL_connect(c->ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(c->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			long v = SSL_get_verify_result(c->ssl);
			if (v != X509_V_OK)
				err_set(err, ERR_IO, "TLS to %s: certificate rejected: %s", u->host,
					X509_verify_cert_error_string(v));
			else
				err_set(err, ERR_IO, "TLS to %s failed: %s", u->host, ssl_reason());
			return -1;
		}
		w = wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
		if (w <= 0) {
			err_set(err, w ? ERR_IO : ERR_TIMEOUT, "TLS handshake with %s %s", u->host,
				w ? "failed" : "timed out");
			return -1;
		}
	}
}

static void base64(const unsigned char *in, int n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, n);
}

/* Finds header name (case-insensitive, at a line start) in the head; returns its trimmed value. */
static int header_value(const char *head, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		const char *v, *e;
		if (strncasecmp(p + 2, name, nl) || p[2 + nl] != ':')
			continue;
		v = p + 3 + nl;
		while (*v == ' ' || *v == '\t')
			v++;
		e = strstr(v, "\r\n");
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - v) >= outsz)
			return -1;
		memcpy(out, v, (size_t)(e - v));
		out[e - v] = '\0';
		return 0;
	}
	return -1;
}

static int upgrade(struct ws_client *c, const struct ws_url *u, int64_t deadline, struct err *err)
{
	unsigned char key[16], digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char key64[32], want[64], got[64], keyguid[80];
	struct buf req = BUF_INIT;
	char *end;
	int rc = -1, defport = !strcmp(u->port, u->tls ? "443" : "80");
	int v6 = strchr(u->host, ':') != NULL;

	if (RAND_bytes(key, sizeof(key)) != 1) {
		err_set(err, ERR_IO, "cannot make a websocket key");
		goto out;
	}
	base64(key, sizeof(key), key64);
	buf_addf(&req, "GET %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n", u->target.s, v6 ? "[" : "",
		 u->host, v6 ? "]" : "", defport ? "" : ":", defport ? "" : u->port);
	buf_addf(&req,
		 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		 "Sec-WebSocket-Version: 13\r\nUser-Agent: haink-api\r\n\r\n",
		 key64);
	if (io_write(c, req.s, req.len, deadline, err) < 0)
		goto out;
	/* memmem, not strstr: the first frame may follow the head in the same read */
	while (!(end = memmem(c->rx.s, c->rx.len, "\r\n\r\n", 4))) {
		int n;
		if (c->rx.len > WS_MAX_HEADERS) {
			err_set(err, ERR_IO, "websocket upgrade reply headers are too long");
			goto out;
		}
		n = io_read(c, deadline, err);
		if (n <= 0) {
			if (n == 0)
				err_set(err, ERR_TIMEOUT, "websocket upgrade timed out");
			goto out;
		}
	}
	if (memchr(c->rx.s, '\0', (size_t)(end - c->rx.s))) {
		err_set(err, ERR_IO, "websocket upgrade reply is not HTTP");
		goto out;
	}
	end[2] = '\0'; /* the head, with its last line's CRLF */
	c->rpos = (size_t)(end - c->rx.s) + 4;
	if (strncmp(c->rx.s, "HTTP/1.1 101", 12)) {
		size_t l = strcspn(c->rx.s, "\r\n");
		err_set(err, ERR_IO, "websocket upgrade refused: %.*s", (int)(l > 80 ? 80 : l),
			c->rx.s);
		goto out;
	}
	snprintf(keyguid, sizeof(keyguid), "%s%s", key64, WS_GUID);
	if (EVP_Digest(keyguid, strlen(keyguid), digest, &dlen, EVP_sha1(), NULL) != 1) {
		err_set(err, ERR_IO, "cannot hash the websocket key");
		goto out;
	}
	base64(digest, (int)dlen, want);
	if (header_value(c->rx.s, "Sec-WebSocket-Accept", got, sizeof(got)) < 0 ||
	    strcmp(got, want)) {
		err_set(err, ERR_IO, "websocket upgrade reply has a wrong Sec-WebSocket-Accept");
		goto out;
	}
	rc = 0;
out:
	buf_release(&req);
	return rc;
}

struct ws_client *ws_client_connect(const char *url, int timeout_ms, struct err *err)
{
	int64_t deadline = clock_mono_ms() + timeout_ms;
	struct ws_url u = {0};
	struct ws_client *c = NULL;

	buf_init(&u.target);
	if (parse_url(url, &u, err) < 0)
		goto fail;
	c = xcalloc(1, sizeof(*c));
	buf_init(&c->rx);
	buf_init(&c->msg);
	buf_init(&c->tx);
	c->fd = tcp_connect(&u, deadline, err);
	if (c->fd < 0)
		goto fail;
	if (u.tls && tls_start(c, &u, deadline, err) < 0)
		goto fail;
	if (upgrade(c, &u, deadline, err) < 0)
		goto fail;
	c->last_rx_ms = clock_mono_ms();
	buf_release(&u.target);
	return c;
fail:
	if (c)
		c->dead = 1;
	ws_client_close(c);
	buf_release(&u.target);
	return NULL;
}

static int send_frame(struct ws_client *c, int opcode, const char *data, size_t n, int timeout_ms,
		      struct err *err)
{
	unsigned char mask[4];
	struct buf *t = &c->tx;
	char hdr[14];
	size_t hl = 2;

	if (c->dead) {
		err_set(err, ERR_IO, "websocket connection is closed");
		return -1;
	}
	if (RAND_bytes(mask, sizeof(mask)) != 1) {
		err_set(err, ERR_IO, "cannot make a websocket mask");
		return -1;
	}
	hdr[0] = (char)(0x80 | opcode);
	if (n < 126) {
		hdr[1] = (char)(0x80 | n);
	} else if (n <= 0xffff) {
		hdr[1] = (char)(0x80 | 126);
		hdr[2] = (char)(n >> 8);
		hdr[3] = (char)n;
		hl = 4;
	} else {
		hdr[1] = (char)(0x80 | 127);
		for (int i = 0; i < 8; i++)
			hdr[2 + i] = (char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	memcpy(hdr + hl, mask, 4);
	hl += 4;
	buf_reset(t);
	buf_add(t, hdr, hl);
	buf_grow(t, n);
	for (size_t i = 0; i < n; i++)
		t->s[hl + i] = (char)(data[i] ^ (char)mask[i & 3]);
	t->len = hl + n;
	t->s[t->len] = '\0';
	if (io_write(c, t->s, t->len, clock_mono_ms() + timeout_ms, err) < 0) {
		c->dead = 1;
		return -1;
	}
	if (t->cap > 65536)
		buf_release(t);
	return 0;
}

int ws_client_send_text(struct ws_client *c, const char *s, size_t n, int timeout_ms,
			struct err *err)
{
	return send_frame(c, OP_TEXT, s, n, timeout_ms, err);
}

int ws_client_ping(struct ws_client *c, int timeout_ms, struct err *err)
{
	return send_frame(c, OP_PING, "haink", 5, timeout_ms, err);
}

long long ws_client_last_rx_ms(const struct ws_client *c)
{
	return c->last_rx_ms;
}

int ws_frame_parse(const char *buf, size_t avail, struct ws_frame *f, struct err *err)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t hl = 2;
	uint64_t len;

	if (avail < 2)
		return 0;
	if (p[0] & 0x70) {
		err_set(err, ERR_IO, "websocket frame with reserved bits set");
		return -1;
	}
	if (p[1] & 0x80) {
		err_set(err, ERR_IO, "websocket frame from the server is masked");
		return -1;
	}
	f->fin = p[0] >> 7;
	f->op = p[0] & 0x0f;
	len = p[1] & 0x7f;
	if (len == 126) {
		if (avail < 4)
			return 0;
		len = (uint64_t)p[2] << 8 | p[3];
		hl = 4;
	} else if (len == 127) {
		if (avail < 10)
			return 0;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		hl = 10;
	}
	if (len > (uint64_t)WS_CLIENT_MAX_MESSAGE) {
		err_set(err, ERR_PARSE, "websocket frame of %llu bytes is too large",
			(unsigned long long)len);
		return -1;
	}
	if (f->op >= 8 && (!f->fin || len > 125)) {
		err_set(err, ERR_IO, "websocket control frame is fragmented or too long");
		return -1;
	}
	if (avail - hl < len)
		return 0;
	f->payload = buf + hl;
	f->len = (size_t)len;
	f->used = hl + (size_t)len;
	return 1;
}

/* Handles one parsed frame. Returns 1 when a message is complete in c->msg, 0 to go on, -1. */
static int take_frame(struct ws_client *c, int fin, int op, const char *payload, size_t plen,
		      struct err *err)
{
	switch (op) {
	case OP_PING:
		return send_frame(c, OP_PONG, payload, plen, WS_CLOSE_WAIT_MS, err) < 0 ? -1 : 0;
	case OP_PONG:
		return 0;
	case OP_CLOSE: {
		int code =
		    plen >= 2 ? ((unsigned char)payload[0] << 8 | (unsigned char)payload[1]) : 1005;
		int rl = plen > 2 ? (int)(plen - 2) : 0;
		/* echo the status code back, then the connection is over */
		send_frame(c, OP_CLOSE, payload, plen >= 2 ? 2 : 0, WS_CLOSE_WAIT_MS, NULL);
		c->dead = 1;
		err_set(err, ERR_IO, "websocket closed by the server (%d%s%.*s)", code,
			rl ? ": " : "", rl > 100 ? 100 : rl, payload + 2);
		return -1;
	}
	case OP_TEXT:
	case OP_BINARY:
		if (c->in_msg) {
			err_set(err, ERR_IO, "websocket message started inside another");
			return -1;
		}
		buf_reset(&c->msg);
		c->in_msg = 1;
		break;
	case OP_CONT:
		if (!c->in_msg) {
			err_set(err, ERR_IO, "websocket continuation without a message");
			return -1;
		}
		break;
	default:
		err_set(err, ERR_IO, "websocket frame with unknown opcode %d", op);
		return -1;
	}
	if (c->msg.len + plen > (size_t)WS_CLIENT_MAX_MESSAGE) {
		err_set(err, ERR_PARSE, "websocket message over %ld bytes", WS_CLIENT_MAX_MESSAGE);
		return -1;
	}
	buf_add(&c->msg, payload, plen);
	if (!fin)
		return 0;
	c->in_msg = 0;
	return 1;
}

int ws_client_recv(struct ws_client *c, int timeout_ms, struct buf *out, struct err *err)
{
	int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	if (c->dead) {
		err_set(err, ERR_IO, "websocket connection is closed");
		return -1;
	}
	for (;;) {
		struct ws_frame f;
		int rc, n;

		while ((rc = ws_frame_parse(c->rx.s + c->rpos, c->rx.len - c->rpos, &f, err)) ==
		       1) {
			rc = take_frame(c, f.fin, f.op, f.payload, f.len, err);
			c->rpos += f.used;
			if (rc < 0)
				goto dead;
			if (rc == 1) {
				struct buf tmp = *out;
				*out = c->msg;
				c->msg = tmp;
				buf_reset(&c->msg);
				return 1;
			}
		}
		if (rc < 0)
			goto dead;
		/* keep only the unparsed tail */
		if (c->rpos) {
			memmove(c->rx.s, c->rx.s + c->rpos, c->rx.len - c->rpos);
			c->rx.len -= c->rpos;
			c->rx.s[c->rx.len] = '\0';
			c->rpos = 0;
		}
		n = io_read(c, deadline, err);
		if (n == 0)
			return 0;
		if (n < 0)
			goto dead;
	}
dead:
	c->dead = 1;
	return -1;
}

void ws_client_close(struct ws_client *c)
{
	if (!c)
		return;
	if (!c->dead) {
		static const char normal[2] = {0x03, (char)0xe8}; /* 1000 */
		send_frame(c, OP_CLOSE, normal, 2, WS_CLOSE_WAIT_MS, NULL);
	}
	if (c->ssl) {
		if (!c->dead)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	buf_release(&c->rx);
	buf_release(&c->msg);
	buf_release(&c->tx);
	free(c);
}
