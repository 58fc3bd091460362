#!/bin/sh
# API benchmark: signed Slack app_mention events with unique event_ids, driven
# by wrk (bench/api_events.lua) from 16 connections for BENCH_SECONDS (10)
# against a real haink-api and redis-server started here on free loopback
# ports. Prints events/s, p50/p99/max latency, non-2xx answers and the API's
# peak RSS, and checks that the stream holds exactly one entry per 2xx answer
# the API sent (its own counter; wrk abandons the few replies in flight when
# it stops, so wrk's count may be lower by at most the connection count).
# Exit 1 on a mismatch. One run per LOG_LEVEL in BENCH_API_LOG_LEVELS.
set -eu
cd "$(dirname "$0")/../.."
B=${BUILD_DIR:-build}
API=$B/bin/haink-api
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-16}
LEVELS=${BENCH_API_LOG_LEVELS:-"warn info"}
for tool in wrk redis-server redis-cli; do
	command -v $tool >/dev/null || { echo "10_api: $tool is not installed (make deps)"; exit 1; }
done
[ -x "$API" ] || { echo "10_api: $API is missing (make B=$B)"; exit 1; }

TMP=$(mktemp -d /tmp/haink-bench-api-XXXXXX)
REDIS_PID=
API_PID=
cleanup() {
	[ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
	[ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# waits up to 10 s for a command to succeed
wait_for() {
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 200 ] || { echo "10_api: timed out waiting for: $*"; exit 1; }
		sleep 0.05
	done
}

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" \
	--logfile "$TMP/redis.log" &
REDIS_PID=$!
wait_for redis-cli -p "$RPORT" ping

SECRET=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
echo "API ingest: signed app_mention events, unique event_ids, $CONNS connections, ${SECS} s, wrk 2 threads"
printf '%-9s | %10s | %8s | %8s | %8s | %7s | %8s | %s\n' "LOG_LEVEL" "events/s" "p50" "p99" "max" \
	"non-2xx" "API RSS" "stream = 2xx"
printf '%s\n' "----------+------------+----------+----------+----------+---------+----------+-------------"
status=0
for level in $LEVELS; do
	redis-cli -p "$RPORT" flushall >/dev/null
	APORT=$(free_port)
	PORT=$APORT REDIS_URL="redis://127.0.0.1:$RPORT/0" SLACK_SIGNING_SECRET=$SECRET \
		STREAM_MAXLEN=1000000000 API_THREADS=$CONNS LOG_LEVEL=$level LOG_FORMAT=json \
		"$API" 2>"$TMP/api-$level.log" &
	API_PID=$!
	wait_for curl -fsS "http://127.0.0.1:$APORT/healthz"

	BENCH_SECRET=$SECRET BENCH_TS=$(date +%s) BENCH_RUN=$level \
		wrk -t 2 -c "$CONNS" -d "${SECS}s" --timeout 5s -s bench/api_events.lua \
		"http://127.0.0.1:$APORT" >"$TMP/wrk-$level.out" 2>&1 || true
	line=$(grep '^RESULT ' "$TMP/wrk-$level.out" || true)
	if [ -z "$line" ]; then
		echo "10_api: wrk failed:"; cat "$TMP/wrk-$level.out"; exit 1
	fi
	rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$API_PID/status")
	# the 2xx answers the API sent; wrk drops the replies still in flight when it stops
	api2xx=$(curl -fsS "http://127.0.0.1:$APORT/metrics" |
		awk '/^haink_http_requests_total\{route="\/slack\/events",code="2/ {n += $NF} END {printf "%d", n}')
	kill "$API_PID"
	wait "$API_PID" || { echo "10_api: haink-api exited with an error"; tail -5 "$TMP/api-$level.log"; status=1; }
	API_PID=
	xlen=$(redis-cli -p "$RPORT" xlen 'docket:{haink}:tasks')

	# RESULT requests=N duration_us=N non2xx=N connect=N read=N write=N timeout=N p50_us=N p99_us=N max_us=N
	eval "$(echo "$line" | sed 's/^RESULT //')"
	ok2xx=$((requests - non2xx))
	socket_errors=$((connect + read + write + timeout))
	inflight=$((api2xx - ok2xx))
	if [ "$xlen" -eq "$api2xx" ] && [ "$inflight" -ge 0 ] && [ "$inflight" -le "$CONNS" ]; then
		check="MATCH ($xlen; wrk got $ok2xx, $inflight in flight at stop)"
	else
		check="MISMATCH (stream $xlen, API 2xx $api2xx, wrk 2xx $ok2xx)"
		status=1
	fi
	awk -v lvl="$level" -v n="$requests" -v d="$duration_us" -v p50="$p50_us" -v p99="$p99_us" \
		-v mx="$max_us" -v bad="$non2xx" -v se="$socket_errors" -v rss="$rss_kb" -v chk="$check" 'BEGIN {
		bad_s = bad; if (se > 0) bad_s = bad "+" se "e";
		printf "%-9s | %10.0f | %5.2f ms | %5.2f ms | %5.1f ms | %7s | %5.1f MB | %s\n",
			lvl, n / (d / 1e6), p50 / 1000, p99 / 1000, mx / 1000, bad_s, rss / 1024, chk }'
done
echo "targets: >= 30000 events/s, p99 < 3 ms, API RSS < 16 MB (load generator and Redis on the same machine)"
exit $status
