/*
 * loadgen - a small closed-loop HTTP load generator for the API benchmark
 * (bench/parts/10_api.sh), cheaper on the shared CPU than wrk + LuaJIT.
 *
 *   loadgen -h HOST -p PORT [-c CONNS] [-d SECONDS] [-n MAX_REQUESTS] [-P PATH]
 *           [-I SILENT]
 *
 * PATH (default /slack/events) lets a run measure the HTTP floor, e.g.
 * /slack/events?ssl_check=1, which the API answers before any signature
 * check or Redis call. SILENT opens that many more connections before the
 * clock starts that never send a byte (a scanner, an idle pool) and keeps them
 * open for the whole run: the latency then shows whether they take threads.
 *
 * Environment: BENCH_SECRET (the API's SLACK_SIGNING_SECRET), BENCH_TS (the
 * request timestamp; default now), BENCH_RUN (an event id prefix unique per
 * run). Before the clock starts it builds every request it may send: a Slack
 * app_mention event with its own event_id, signed with HMAC-SHA256 exactly as
 * Slack signs (slack_sign_compute). Then one thread drives CONNS keep-alive
 * connections with epoll, one request in flight per connection, for SECONDS;
 * the requests still in flight at the end are awaited (up to 5 s), so every
 * request sent has its answer counted. Latency is kept per request in a 1 µs
 * histogram. Prints one line:
 *   RESULT requests=N duration_us=N non2xx=N connect=N read=N write=N timeout=N
 *          p50_us=N p99_us=N max_us=N
 * Exit 1 when it cannot run at all.
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LG_HIST_US  1000000 /* 1 µs buckets up to 1 s; slower answers count at the top */
#define LG_RBUF	    8192
#define LG_DRAIN_MS 5000

struct lg_conn {
	int fd;
	int64_t sent_ns; /* when the current request's first byte went out */
	size_t req;	 /* index of the request in flight */
	size_t woff;	 /* bytes of it written */
	int busy;	 /* a request is in flight */
	char rbuf[LG_RBUF];
	size_t rlen;
};

struct lg {
	const char *host;
	const char *path;
	int port;
	int nconns;
	int secs;
	size_t max_req;
	char *reqs;  /* every request, back to back */
	size_t *off; /* off[i]..off[i + 1] is request i */
	size_t nreq; /* requests built */
	size_t next; /* next request to send */
	uint32_t *hist;
	int64_t max_us;
	long long done, non2xx, e_connect, e_read, e_write, e_timeout;
	struct lg_conn *conns;
	int ep;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int build_requests(struct lg *g, const char *secret, const char *ts, const char *run)
{
	struct buf all = BUF_INIT, body = BUF_INIT;
	char sig[SLACK_SIGN_LEN + 1];

	g->off = xmalloc(sizeof(*g->off) * (g->max_req + 1));
	buf_grow(&all, g->max_req * 720);
	for (size_t i = 0; i < g->max_req; i++) {
		buf_reset(&body);
		buf_addf(&body,
			 "{\"token\":\"bench\",\"team_id\":\"T0BENCH\",\"api_app_id\":\"A0BENCH\","
			 "\"type\":\"event_callback\",\"event_time\":%s,"
			 "\"authorizations\":[{\"team_id\":\"T0BENCH\",\"user_id\":\"U0BOT\","
			 "\"is_bot\":true}],\"event\":{\"type\":\"app_mention\",\"user\":"
			 "\"U0ASKER\",\"channel\":\"C0BENCH\",\"text\":\"<@U0BOT> how do I rotate "
			 "the signing secret of our Slack app?\",\"ts\":\"%s.000100\","
			 "\"event_ts\":\"%s.000100\"},\"event_id\":\"Ev%s-%zu\"}",
			 ts, ts, ts, run, i);
		if (slack_sign_compute(secret, ts, body.s, body.len, sig) < 0) {
			fprintf(stderr, "loadgen: cannot sign a request\n");
			buf_release(&all);
			buf_release(&body);
			return -1;
		}
		g->off[i] = all.len;
		buf_addf(&all,
			 "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
			 "Content-Type: application/json\r\nX-Slack-Request-Timestamp: %s\r\n"
			 "X-Slack-Signature: %s\r\nContent-Length: %zu\r\n\r\n",
			 g->path, g->host, g->port, ts, sig, body.len);
		buf_add(&all, body.s, body.len);
	}
	g->off[g->max_req] = all.len;
	g->nreq = g->max_req;
	g->reqs = buf_detach(&all, NULL);
	buf_release(&body);
	return 0;
}

static int conn_open(struct lg *g, struct lg_conn *c)
{
	struct sockaddr_in sa;
	struct epoll_event ev;
	int one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)g->port);
	if (inet_pton(AF_INET, g->host, &sa.sin_addr) != 1)
		return -1;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	/* a blocking connect on loopback: it completes at once */
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	c->rlen = 0;
	c->busy = 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	return epoll_ctl(g->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_reset(struct lg *g, struct lg_conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->busy = 0;
	c->rlen = 0;
	if (conn_open(g, c) < 0)
		g->e_connect++;
}

static void want_out(struct lg *g, struct lg_conn *c, int yes)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (yes ? EPOLLOUT : 0);
	ev.data.ptr = c;
	epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is left of c's request. Returns 0, or -1 after a write error. */
static int conn_write(struct lg *g, struct lg_conn *c)
{
	const char *p = g->reqs + g->off[c->req];
	size_t len = g->off[c->req + 1] - g->off[c->req];

	while (c->woff < len) {
		ssize_t n = write(c->fd, p + c->woff, len - c->woff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			want_out(g, c, 1);
			return 0;
		}
		if (n <= 0) {
			g->e_write++;
			return -1;
		}
		c->woff += (size_t)n;
	}
	return 0;
}

/* Starts the next request on c, if any is left. */
static void conn_send(struct lg *g, struct lg_conn *c)
{
	if (g->next >= g->nreq)
		return;
	c->req = g->next++;
	c->woff = 0;
	c->busy = 1;
	c->sent_ns = now_ns();
	if (conn_write(g, c) < 0)
		conn_reset(g, c);
}

static void record(struct lg *g, int64_t us, int status)
{
	if (us < 0)
		us = 0;
	g->hist[us < LG_HIST_US ? us : LG_HIST_US - 1]++;
	if (us > g->max_us)
		g->max_us = us;
	g->done++;
	if (status < 200 || status > 299)
		g->non2xx++;
}

static long header_value(const char *h, size_t hlen, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = h; p + n < h + hlen; p++) {
		if ((p == h || p[-1] == '\n') && !strncasecmp(p, name, n))
			return strtol(p + n, NULL, 10);
	}
	return -1;
}

/*
 * Consumes complete answers from c's read buffer. Returns 1 when one answer
 * was complete (the next request may go), 0 when more bytes are needed, -1 on
 * a malformed answer.
 */
static int conn_parse(struct lg *g, struct lg_conn *c)
{
	char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	size_t hlen, total;
	long clen;
	int status;

	if (!end)
		return c->rlen == sizeof(c->rbuf) ? -1 : 0;
	hlen = (size_t)(end - c->rbuf) + 4;
	if (c->rlen < 12 || strncmp(c->rbuf, "HTTP/1.", 7))
		return -1;
	status = atoi(c->rbuf + 9);
	clen = header_value(c->rbuf, hlen, "Content-Length:");
	if (clen < 0 || hlen + (size_t)clen > sizeof(c->rbuf))
		return -1;
	total = hlen + (size_t)clen;
	if (c->rlen < total)
		return 0;
	record(g, (now_ns() - c->sent_ns) / 1000, status);
	memmove(c->rbuf, c->rbuf + total, c->rlen - total);
	c->rlen -= total;
	c->busy = 0;
	return 1;
}

static void conn_readable(struct lg *g, struct lg_conn *c, int sending)
{
	for (;;) {
		ssize_t n = read(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
		int rc;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			g->e_read++;
			conn_reset(g, c);
			if (sending)
				conn_send(g, c);
			return;
		}
		c->rlen += (size_t)n;
		while ((rc = conn_parse(g, c)) == 1) {
			if (sending)
				conn_send(g, c);
		}
		if (rc < 0) {
			g->e_read++;
			conn_reset(g, c);
			if (sending)
				conn_send(g, c);
			return;
		}
		if (c->rlen < sizeof(c->rbuf))
			return; /* short read: the socket is drained */
	}
}

static int64_t percentile(const struct lg *g, double p)
{
	long long want = (long long)(p / 100.0 * (double)g->done + 0.5), seen = 0;

	if (want < 1)
		want = 1;
	for (int64_t i = 0; i < LG_HIST_US; i++) {
		seen += g->hist[i];
		if (seen >= want)
			return i;
	}
	return LG_HIST_US;
}

static int run(struct lg *g)
{
	struct epoll_event evs[64];
	struct rusage ru0, ru1;
	int64_t start, stop, last = 0, drain_end;
	int sending = 1;

	g->ep = epoll_create1(0);
	g->conns = xcalloc((size_t)g->nconns, sizeof(*g->conns));
	for (int i = 0; i < g->nconns; i++) {
		g->conns[i].fd = -1;
		if (conn_open(g, &g->conns[i]) < 0) {
			fprintf(stderr, "loadgen: cannot connect to %s:%d: %s\n", g->host, g->port,
				strerror(errno));
			return -1;
		}
	}
	fprintf(stderr, "loadgen: running %d connections for %d s\n", g->nconns, g->secs);
	getrusage(RUSAGE_SELF, &ru0);
	start = now_ns();
	stop = start + (int64_t)g->secs * 1000000000;
	drain_end = stop + (int64_t)LG_DRAIN_MS * 1000000;
	for (int i = 0; i < g->nconns; i++)
		conn_send(g, &g->conns[i]);
	for (;;) {
		int64_t t = now_ns();
		int busy = 0, n;

		if (sending && (t >= stop || g->next >= g->nreq))
			sending = 0;
		for (int i = 0; !sending && i < g->nconns; i++)
			busy |= g->conns[i].busy;
		if (!sending && !busy)
			break;
		if (t >= drain_end) {
			for (int i = 0; i < g->nconns; i++)
				g->e_timeout += g->conns[i].busy;
			break;
		}
		n = epoll_wait(g->ep, evs, 64, 100);
		for (int i = 0; i < n; i++) {
			struct lg_conn *c = evs[i].data.ptr;
			if ((evs[i].events & EPOLLOUT) && c->busy) {
				if (conn_write(g, c) < 0) {
					conn_reset(g, c);
					if (sending)
						conn_send(g, c);
					continue;
				}
				if (c->woff == g->off[c->req + 1] - g->off[c->req])
					want_out(g, c, 0);
			}
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_readable(g, c, sending && now_ns() < stop);
		}
		last = now_ns();
	}
	getrusage(RUSAGE_SELF, &ru1);
	fprintf(stderr, "loadgen: cpu during the run: user %.3f s, system %.3f s\n",
		(double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
		    (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6,
		(double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		    (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6);
	if (g->next >= g->nreq)
		fprintf(stderr, "loadgen: used all %zu prebuilt requests before the time was up\n",
			g->nreq);
	printf("RESULT requests=%lld duration_us=%lld non2xx=%lld connect=%lld read=%lld "
	       "write=%lld timeout=%lld p50_us=%lld p99_us=%lld max_us=%lld\n",
	       g->done, (long long)((last - start) / 1000), g->non2xx, g->e_connect, g->e_read,
	       g->e_write, g->e_timeout, (long long)percentile(g, 50), (long long)percentile(g, 99),
	       (long long)g->max_us);
	for (int i = 0; i < g->nconns; i++)
		if (g->conns[i].fd >= 0)
			close(g->conns[i].fd);
	close(g->ep);
	return 0;
}

/* Opens n connections that stay silent; returns their fds (n of them) or NULL. */
static int *open_silent(const char *host, int port, int n)
{
	int *fds = xcalloc((size_t)n ? (size_t)n : 1, sizeof(*fds));
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "loadgen: -h must be an IPv4 address\n");
		free(fds);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "loadgen: silent connection %d: %s\n", i, strerror(errno));
			for (int j = 0; j <= i; j++)
				if (fds[j] >= 0)
					close(fds[j]);
			free(fds);
			return NULL;
		}
	}
	return fds;
}

int main(int argc, char **argv)
{
	struct lg g;
	int nsilent = 0, *silent = NULL;
	const char *secret = getenv("BENCH_SECRET");
	const char *ts = getenv("BENCH_TS");
	const char *runid = getenv("BENCH_RUN");
	char tsbuf[24];
	int opt, rc;

	memset(&g, 0, sizeof(g));
	g.host = "127.0.0.1";
	g.path = "/slack/events";
	g.nconns = 16;
	g.secs = 10;
	while ((opt = getopt(argc, argv, "h:p:c:d:n:P:I:")) != -1) {
		switch (opt) {
		case 'h':
			g.host = optarg;
			break;
		case 'p':
			g.port = atoi(optarg);
			break;
		case 'c':
			g.nconns = atoi(optarg);
			break;
		case 'd':
			g.secs = atoi(optarg);
			break;
		case 'n':
			g.max_req = (size_t)atoll(optarg);
			break;
		case 'P':
			g.path = optarg;
			break;
		case 'I':
			nsilent = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: loadgen -h HOST -p PORT [-c CONNS] [-d SECONDS] "
					"[-n MAX_REQUESTS] [-P PATH] [-I SILENT]\n");
			return 2;
		}
	}
	if (g.port <= 0 || g.nconns <= 0 || g.secs <= 0 || nsilent < 0) {
		fprintf(stderr, "loadgen: need -p PORT, positive -c and -d, and -I >= 0\n");
		return 2;
	}
	if (!g.max_req)
		g.max_req = (size_t)g.secs * 60000; /* 3x what the API answers on 2 cores */
	if (!secret || !*secret)
		secret = "bench-secret";
	if (!ts || !*ts) {
		snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)time(NULL));
		ts = tsbuf;
	}
	if (!runid || !*runid)
		runid = "r";
	if (build_requests(&g, secret, ts, runid) < 0)
		return 1;
	if (nsilent && !(silent = open_silent(g.host, g.port, nsilent)))
		return 1;
	g.hist = xcalloc(LG_HIST_US, sizeof(*g.hist));
	rc = run(&g);
	for (int i = 0; i < nsilent; i++)
		close(silent[i]);
	free(silent);
	free(g.hist);
	free(g.conns);
	free(g.reqs);
	free(g.off);
	return rc < 0 ? 1 : 0;
}
