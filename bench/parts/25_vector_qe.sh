#!/bin/sh
# Vector benchmark, Query Engine backend: recall@5 against exact search and
# latency for HNSW at several EF_RUNTIME values and FLAT, on clustered and
# uniform vectors, plus ingestion time and the longest stall Redis's latency
# monitor saw. Needs a search module: HAINK_QE_MODULE=/path/redisearch.so
# (HAINK_QE_SERVER: a redis-server that can load it); skipped without.
# BENCH_QE_SIZES="NxD,NxD" changes the corpora (default 10000x384).
# See bench/bench_qe.c.
set -eu
cd "$(dirname "$0")/../.."
B=${BUILD_DIR:-build}
BIN=$B/bin/bench_qe
if [ -z "${HAINK_QE_MODULE:-}" ]; then
	echo "25_vector_qe: skipped: no Query Engine module (set HAINK_QE_MODULE=/path/redisearch.so)"
	exit 0
fi
SERVER=${HAINK_QE_SERVER:-redis-server}
[ -x "$BIN" ] || { echo "25_vector_qe: $BIN is missing (make B=$B bench)"; exit 1; }

TMP=$(mktemp -d /tmp/haink-bench-qe-XXXXXX)
REDIS_PID=
cleanup() {
	[ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SERVER" --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" \
	--logfile "$TMP/redis.log" --loadmodule "$HAINK_QE_MODULE" &
REDIS_PID=$!
i=0
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "25_vector_qe: $SERVER did not start"; cat "$TMP/redis.log"; exit 1; }
	sleep 0.05
done
nice -n 10 "$BIN" "redis://127.0.0.1:$PORT/0"
