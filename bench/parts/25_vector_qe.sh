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

# The real ingestion path on the same server: 100 Markdown files of 100
# sections (10,000 chunks) through `haink-worker ingest` at 1536 floats (the
# OpenAI size; offline embedder), with Redis's latency monitor reporting the
# longest single command (an EXEC of one transaction of chunks).
ING_FILES=${BENCH_QE_INGEST_FILES:-100}
python3 - "$TMP/kb" "$ING_FILES" <<'PY'
import os, random, sys
out, files = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
rnd = random.Random(1)
words = ("deploy billing refund invoice cluster queue latency index vector memory "
         "release budget handbook kubernetes postgres redis oncall review team docs").split()
for f in range(files):
    with open(os.path.join(out, "doc%03d.md" % f), "w") as o:
        o.write("# Document %d\n\n" % f)
        for s in range(100):
            o.write("## Section %d\n\n%s.\n\n" % (s, " ".join(rnd.choice(words) for _ in range(60))))
PY
redis-cli -p "$PORT" FLUSHALL >/dev/null
redis-cli -p "$PORT" CONFIG SET latency-monitor-threshold 1 >/dev/null
redis-cli -p "$PORT" LATENCY RESET >/dev/null
T0=$(date +%s.%N)
REDIS_URL="redis://127.0.0.1:$PORT/0" LLM_PROVIDER=offline EMBEDDING_DIM=1536 VECTOR_BACKEND=redis \
	"$B/bin/haink-worker" ingest "$TMP/kb" >"$TMP/ingest.log" 2>&1 ||
	{ echo "25_vector_qe: ingest failed"; cat "$TMP/ingest.log"; exit 1; }
T1=$(date +%s.%N)
STALL=$(redis-cli -p "$PORT" LATENCY LATEST |
	awk 'NR % 4 == 1 { ev = $0 } NR % 4 == 0 && ev == "command" { print $0 }')
echo
echo "haink-worker ingest, $((ING_FILES * 100)) chunks x 1536 (HNSW, transactions of 8 chunks):" \
	"$(python3 -c "print('%.1f' % ($T1 - $T0))") s, longest command ${STALL:-<1} ms" \
	"(Redis's latency monitor: the longest any other client, the task queue included, waited)"
