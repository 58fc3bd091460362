/*
 * bench_worker - the event sender of the worker benchmark
 * (bench/parts/30_worker.sh, driven by bench/worker_bench.py).
 *
 *   bench_worker -p PORT -n COUNT [-c CONNS] [-r RATE]
 *
 * Environment: BENCH_SECRET (the API's SLACK_SIGNING_SECRET), BENCH_RUN (an
 * event id prefix unique per run).
 *
 * Sends COUNT signed Slack app_mention events to haink-api on 127.0.0.1:PORT,
 * each with its own event_id and its own message ts, so every question starts
 * its own thread (no shared thread history, no per-thread rate limit) - like
 * COUNT different people asking at once. The asking user cycles over 1,000
 * ids. All requests are built and signed before the clock starts. CONNS
 * threads (default 8) each drive one keep-alive connection, one request in
 * flight. RATE 0 (default) sends as fast as the API answers; RATE > 0 paces
 * the sends to RATE events/s overall (request i is not sent before
 * start + i / RATE), for latency runs below saturation.
 *
 * Prints one line on stdout:
 *   RESULT sent=N ok=N non2xx=N errors=N start_us=N first_ok_us=N last_ok_us=N
 * (wall-clock microseconds since the epoch, comparable with the fakes' ts_ms
 * and the worker's created_ms on the same machine). Exit 1 when it cannot run.
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BW_RBUF 4096

struct bw {
	int port;
	size_t count;
	int conns;
	double rate;
	char *reqs;  /* every request, back to back */
	size_t *off; /* off[i]..off[i + 1] is request i */
	int64_t start_us;
	atomic_size_t next;
	atomic_llong ok, non2xx, errors;
	atomic_llong first_ok_us, last_ok_us;
};

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int build_requests(struct bw *g, const char *secret, const char *run)
{
	struct buf all = BUF_INIT, body = BUF_INIT;
	char sig[SLACK_SIGN_LEN + 1], ts[24];
	long long base = (long long)time(NULL);

	snprintf(ts, sizeof(ts), "%lld", base);
	g->off = xmalloc(sizeof(*g->off) * (g->count + 1));
	for (size_t i = 0; i < g->count; i++) {
		buf_reset(&body);
		/* message ts base.iiiiii: unique per event, so each question is its own thread */
		buf_addf(&body,
			 "{\"token\":\"bench\",\"team_id\":\"T0BENCH\",\"api_app_id\":\"A0BENCH\","
			 "\"type\":\"event_callback\",\"event_time\":%lld,"
			 "\"authorizations\":[{\"team_id\":\"T0BENCH\",\"user_id\":\"U0BOT\","
			 "\"is_bot\":true}],\"event\":{\"type\":\"app_mention\",\"user\":"
			 "\"U0A%04zu\",\"channel\":\"C0BENCH\",\"text\":\"<@U0BOT> how do I rotate "
			 "the signing secret of our Slack app?\",\"ts\":\"%lld.%06zu\","
			 "\"event_ts\":\"%lld.%06zu\"},\"event_id\":\"Ev%s-%zu\"}",
			 base, i % 1000, base - 1000, i % 1000000, base - 1000, i % 1000000, run,
			 i);
		if (slack_sign_compute(secret, ts, body.s, body.len, sig) < 0) {
			fprintf(stderr, "bench_worker: cannot sign a request\n");
			buf_release(&all);
			buf_release(&body);
			return -1;
		}
		g->off[i] = all.len;
		buf_addf(&all,
			 "POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Content-Type: application/json\r\nX-Slack-Request-Timestamp: %s\r\n"
			 "X-Slack-Signature: %s\r\nContent-Length: %zu\r\n\r\n",
			 g->port, ts, sig, body.len);
		buf_add(&all, body.s, body.len);
	}
	g->off[g->count] = all.len;
	g->reqs = buf_detach(&all, NULL);
	buf_release(&body);
	return 0;
}

static int conn_open(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one response; returns its status, 0 when the connection is to be reopened, -1 on error. */
static int read_response(int fd, char *rb, size_t *rlen)
{
	for (;;) {
		char *end = memmem(rb, *rlen, "\r\n\r\n", 4);
		if (end) {
			size_t head = (size_t)(end - rb) + 4, clen = 0, total;
			char *cl = memmem(rb, head, "Content-Length:", 15);
			int status = atoi(rb + 9);
			int closing = memmem(rb, head, "Connection: close", 17) != NULL;
			if (!cl)
				cl = memmem(rb, head, "content-length:", 15);
			if (cl)
				clen = (size_t)strtoul(cl + 15, NULL, 10);
			total = head + clen;
			if (total <= *rlen) {
				memmove(rb, rb + total, *rlen - total);
				*rlen -= total;
				return closing ? -status : status;
			}
		}
		if (*rlen >= BW_RBUF - 1)
			return -1;
		ssize_t n = read(fd, rb + *rlen, BW_RBUF - 1 - *rlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		*rlen += (size_t)n;
	}
}

static void note_ok(struct bw *g)
{
	long long now = wall_us(), cur = 0;

	atomic_fetch_add(&g->ok, 1);
	atomic_compare_exchange_strong(&g->first_ok_us, &cur, now);
	cur = atomic_load(&g->last_ok_us);
	while (now > cur && !atomic_compare_exchange_weak(&g->last_ok_us, &cur, now))
		;
}

static void *sender(void *arg)
{
	struct bw *g = arg;
	char rb[BW_RBUF];
	size_t rlen = 0;
	int fd = -1;

	for (;;) {
		size_t i = atomic_fetch_add(&g->next, 1);
		int st, tries;
		if (i >= g->count)
			break;
		if (g->rate > 0) {
			int64_t due = g->start_us + (int64_t)((double)i * 1e6 / g->rate);
			int64_t now = wall_us();
			if (due > now)
				usleep((useconds_t)(due - now));
		}
		/* one reconnect per request: the API may close an idle keep-alive connection */
		for (tries = 0; tries < 2; tries++) {
			if (fd < 0 && (fd = conn_open(g->port)) < 0)
				continue;
			if (write_all(fd, g->reqs + g->off[i], g->off[i + 1] - g->off[i]) == 0 &&
			    (st = read_response(fd, rb, &rlen)) != -1)
				break;
			close(fd);
			fd = -1;
			rlen = 0;
		}
		if (tries == 2) {
			atomic_fetch_add(&g->errors, 1);
			continue;
		}
		if (st < 0) { /* answered with Connection: close */
			close(fd);
			fd = -1;
			rlen = 0;
			st = -st;
		}
		if (st >= 200 && st < 300)
			note_ok(g);
		else
			atomic_fetch_add(&g->non2xx, 1);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct bw g;
	const char *secret = getenv("BENCH_SECRET"), *run = getenv("BENCH_RUN");
	pthread_t *thr;
	int opt;

	memset(&g, 0, sizeof(g));
	g.conns = 8;
	while ((opt = getopt(argc, argv, "p:n:c:r:")) != -1) {
		switch (opt) {
		case 'p':
			g.port = atoi(optarg);
			break;
		case 'n':
			g.count = (size_t)atoll(optarg);
			break;
		case 'c':
			g.conns = atoi(optarg);
			break;
		case 'r':
			g.rate = atof(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: bench_worker -p PORT -n COUNT [-c CONNS] [-r RATE]\n");
			return 2;
		}
	}
	if (g.port <= 0 || !g.count || g.conns <= 0 || g.conns > 1024 || g.rate < 0) {
		fprintf(stderr, "bench_worker: need -p PORT, -n COUNT > 0, -c 1..1024, -r >= 0\n");
		return 2;
	}
	if (!secret || !*secret)
		secret = "bench-secret";
	if (!run || !*run)
		run = "w";
	if (build_requests(&g, secret, run) < 0)
		return 1;
	thr = xcalloc((size_t)g.conns, sizeof(*thr));
	g.start_us = wall_us();
	for (int i = 0; i < g.conns; i++)
		if (pthread_create(&thr[i], NULL, sender, &g) != 0) {
			fprintf(stderr, "bench_worker: cannot start a sender thread\n");
			return 1;
		}
	for (int i = 0; i < g.conns; i++)
		pthread_join(thr[i], NULL);
	printf("RESULT sent=%zu ok=%lld non2xx=%lld errors=%lld start_us=%lld first_ok_us=%lld "
	       "last_ok_us=%lld\n",
	       g.count, (long long)atomic_load(&g.ok), (long long)atomic_load(&g.non2xx),
	       (long long)atomic_load(&g.errors), (long long)g.start_us,
	       (long long)atomic_load(&g.first_ok_us), (long long)atomic_load(&g.last_ok_us));
	free(thr);
	free(g.reqs);
	free(g.off);
	return 0;
}
