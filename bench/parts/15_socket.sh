#!/bin/sh
# Socket Mode benchmark, beside 10_api.sh's HTTP numbers: bench/socket_bench.js
# plays Slack (apps.connections.open and the WebSocket), sends
# BENCH_SOCKET_EVENTS (50000) app_mention envelopes with unique event ids over
# the API's SLACK_SOCKET_CONNECTIONS (2) connections, at most 64 unacked per
# connection, against a real haink-api and redis-server started here on free
# loopback ports. Prints events/s (acks), p50/p99/max from envelope sent to ack
# received, the API's CPU per event, and checks that the stream holds exactly
# one entry per envelope (every ack means a stored task). Exit 1 on a mismatch.
set -eu
cd "$(dirname "$0")/../.."
B=${BUILD_DIR:-build}
API=$B/bin/haink-api
EVENTS=${BENCH_SOCKET_EVENTS:-50000}
CONNS=${BENCH_SOCKET_CONNECTIONS:-2}
for tool in redis-server redis-cli node; do
	command -v $tool >/dev/null || { echo "15_socket: $tool is not installed (make deps)"; exit 1; }
done
[ -x "$API" ] || { echo "15_socket: $API is missing (make B=$B)"; exit 1; }

TMP=$(mktemp -d /tmp/haink-bench-socket-XXXXXX)
REDIS_PID=
API_PID=
SRC_PID=
cleanup() {
	[ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
	[ -n "$SRC_PID" ] && kill "$SRC_PID" 2>/dev/null && wait "$SRC_PID" 2>/dev/null
	[ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() {
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 200 ] || { echo "15_socket: timed out waiting for: $*"; exit 1; }
		sleep 0.05
	done
}

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" \
	--logfile "$TMP/redis.log" &
REDIS_PID=$!
wait_for redis-cli -p "$RPORT" ping

node bench/socket_bench.js --conns "$CONNS" --events "$EVENTS" --window 64 >"$TMP/src.out" 2>"$TMP/src.err" &
SRC_PID=$!
wait_for grep -q '^LISTENING ' "$TMP/src.out"
SPORT=$(awk '/^LISTENING /{print $2; exit}' "$TMP/src.out")

TICK=$(getconf CLK_TCK)
cpu_s() { awk -v t="$TICK" '{printf "%.3f", ($14 + $15) / t}' "/proc/$1/stat"; }

PORT=$(free_port) API_METRICS_PORT=$(free_port) REDIS_URL="redis://127.0.0.1:$RPORT/0" \
	SLACK_APP_TOKEN=xapp-bench SLACK_API_URL="http://127.0.0.1:$SPORT/api" \
	SLACK_SOCKET_CONNECTIONS=$CONNS STREAM_MAXLEN=1000000000 LOG_LEVEL=warn \
	"$API" 2>"$TMP/api.log" &
API_PID=$!
api0=$(cpu_s "$API_PID")
wait "$SRC_PID" || true
SRC_PID=
api1=$(cpu_s "$API_PID")
line=$(grep '^RESULT ' "$TMP/src.out" || true)
[ -n "$line" ] || { echo "15_socket: the load source failed:"; cat "$TMP/src.err"; exit 1; }
kill "$API_PID"
wait "$API_PID" || { echo "15_socket: haink-api exited with an error"; tail -5 "$TMP/api.log"; }
API_PID=
xlen=$(redis-cli -p "$RPORT" xlen 'docket:{haink}:tasks')
eval "$(echo "$line" | sed 's/^RESULT //')"
status=0
if [ "$xlen" -eq "$events" ] && [ "$acked" -eq "$events" ]; then
	check="MATCH ($xlen)"
else
	check="MISMATCH (stream $xlen, acked $acked of $events)"
	status=1
fi
echo "API ingest over Socket Mode: $EVENTS app_mention envelopes, $CONNS connections, window 64 each; $(nproc) cores shared by source, Redis and API"
printf '%-9s | %9s | %7s | %7s | %7s | %-11s | %s\n' "mode" "events/s" "p50" "p99" "max" "API us/evt" "stream = acks"
printf '%s\n' "----------+-----------+---------+---------+---------+-------------+--------------"
awk -v n="$acked" -v d="$duration_us" -v p50="$p50_us" -v p99="$p99_us" -v mx="$max_us" \
	-v a0="$api0" -v a1="$api1" -v chk="$check" 'BEGIN {
	printf "%-9s | %9.0f | %4.2f ms | %4.2f ms | %4.1f ms | %11.0f | %s\n", "socket", n / (d / 1e6),
		p50 / 1000, p99 / 1000, mx / 1000, (a1 - a0) * 1e6 / n, chk }'
exit $status
