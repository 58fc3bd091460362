#!/bin/sh
# Memory part of `make bench`: conversation memory search and history load on
# a throwaway redis-server (bench/bench_memory.c). Two populations:
# 1,000 users x 200 memories at 384 dims (the offline embedder's size) and at
# 1,536 dims (OpenAI's size; ~1.3 GB in Redis, loaded pipelined). Set
# BENCH_MEM_USERS to shrink the population on small machines.
set -eu
BIN="$BUILD_DIR/bin/bench_memory"
USERS="${BENCH_MEM_USERS:-1000}"
PER=200
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# VECTOR_BACKEND=redis measures the Query Engine's memory search instead: the
# server loads HAINK_QE_MODULE (HAINK_QE_SERVER: a server binary that can)
server=redis-server
set --
if [ "${VECTOR_BACKEND:-local}" = redis ]; then
	[ -n "${HAINK_QE_MODULE:-}" ] || { echo "memory bench: VECTOR_BACKEND=redis needs HAINK_QE_MODULE"; exit 1; }
	server=${HAINK_QE_SERVER:-redis-server}
	set -- --loadmodule "$HAINK_QE_MODULE"
fi
"$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
	--daemonize no "$@" >"$tmp/redis.log" 2>&1 &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
i=0
until redis-cli -p "$port" ping >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "memory bench: redis-server did not start"; exit 1; }
	sleep 0.05
done
echo "## Conversation memory (one user's scope of $PER memories; p50 / p99; backend ${VECTOR_BACKEND:-local})"
echo
echo "| measurement | p50 | p99 | target |"
echo "|---|---|---|---|"
for dim in 384 1536; do
	redis-cli -p "$port" flushall >/dev/null
	"$BIN" "redis://127.0.0.1:$port/0" "$USERS" "$PER" "$dim"
	echo "| redis used_memory after load | $(redis-cli -p "$port" info memory | awk -F: '/^used_memory_human/{print $2}' | tr -d '\r') | | |"
done
