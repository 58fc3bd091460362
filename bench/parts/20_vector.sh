#!/bin/sh
# Vector benchmark: the local backend (10,000 x 1,536 and 100,000 x 384 random
# normalised vectors written as rag_doc:* hashes to a throwaway redis-server,
# loaded with the production loader, KNN-5 on one calling thread: the old BLAS
# sgemv scan, the float32 scan and the int8 filter with exact rerank, warm and
# cold cache) and the embedding-cache hit latency through embed_texts().
# See bench/bench_vector.c.
# BENCH_VECTOR_SIZES="NxD,NxD" changes the corpora.
set -eu
cd "$(dirname "$0")/../.."
B=${BUILD_DIR:-build}
BIN=$B/bin/bench_vector
for tool in redis-server redis-cli; do
	command -v $tool >/dev/null || { echo "20_vector: $tool is not installed (make deps)"; exit 1; }
done
[ -x "$BIN" ] || { echo "20_vector: $BIN is missing (make B=$B bench)"; exit 1; }

TMP=$(mktemp -d /tmp/haink-bench-vector-XXXXXX)
REDIS_PID=
cleanup() {
	[ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" \
	--logfile "$TMP/redis.log" &
REDIS_PID=$!
i=0
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "20_vector: redis-server did not start"; exit 1; }
	sleep 0.05
done
"$BIN" "redis://127.0.0.1:$PORT/0"
