#!/bin/sh
# API benchmark: signed Slack app_mention events, each with a unique event_id
# and its own signature, from 16 keep-alive connections for BENCH_SECONDS (10)
# against a real haink-api and redis-server started here on free loopback
# ports, everything on this machine's cores.
#
# Clients (BENCH_API_CLIENTS, default "loadgen silent wrk"):
# - loadgen (bench/loadgen.c, the headline): one epoll thread in C; it signs
#   every request before the clock starts, so during the run it costs the
#   shared CPU only its socket calls. It waits for the answers in flight when
#   the time is up, so its 2xx count must equal the API's exactly.
# - wrk with bench/api_events.lua: signs each request in LuaJIT during the
#   run (an HMAC per request on the shared cores); wrk abandons the replies
#   in flight when it stops, so its count may trail the API's by at most the
#   connection count.
# - silent: loadgen again (LOG_LEVEL warn only) with 500 more connections
#   open that never send a byte: events/s and latency must stay those of the
#   loadgen row (the kernel holds silent connections, not civetweb's threads).
# Prints events/s, p50/p99/max latency, non-2xx answers, the API's peak RSS,
# the CPU time per request of API, Redis and client, and checks that the
# stream holds exactly one entry per 2xx answer the API sent (its own
# counter). Exit 1 on a mismatch. One run per client and LOG_LEVEL in
# BENCH_API_LOG_LEVELS.
set -eu
cd "$(dirname "$0")/../.."
B=${BUILD_DIR:-build}
API=$B/bin/haink-api
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-16}
LEVELS=${BENCH_API_LOG_LEVELS:-"warn info"}
CLIENTS=${BENCH_API_CLIENTS:-"loadgen silent wrk"}
LOADGEN=$B/bin/loadgen
for tool in redis-server redis-cli; do
	command -v $tool >/dev/null || { echo "10_api: $tool is not installed (make deps)"; exit 1; }
done
[ -x "$API" ] || { echo "10_api: $API is missing (make B=$B)"; exit 1; }
case " $CLIENTS " in *" wrk "*) command -v wrk >/dev/null || { echo "10_api: wrk is not installed (make deps)"; exit 1; } ;; esac
case " $CLIENTS " in *" loadgen "*|*" silent "*) [ -x "$LOADGEN" ] || { echo "10_api: $LOADGEN is missing (make B=$B bench)"; exit 1; } ;; esac

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
TICK=$(getconf CLK_TCK)
# CPU seconds (user + system) a process has used so far
cpu_s() { awk -v t="$TICK" '{printf "%.3f", ($14 + $15) / t}' "/proc/$1/stat"; }

echo "API ingest: signed app_mention events, unique event_ids, $CONNS connections, ${SECS} s; $(nproc) cores shared by client, Redis and API"
printf '%-7s | %-5s | %9s | %7s | %7s | %7s | %7s | %7s | %-21s | %s\n' "client" "LOG" "events/s" "p50" "p99" "max" \
	"non-2xx" "API RSS" "CPU us/req api+rds+cl" "stream = 2xx"
printf '%s\n' "--------+-------+-----------+---------+---------+---------+---------+---------+-----------------------+-------------"
status=0
for client in $CLIENTS; do
for level in $LEVELS; do
	silent=0
	if [ "$client" = silent ]; then
		[ "$level" = "${LEVELS%% *}" ] || continue
		silent=500
	fi
	redis-cli -p "$RPORT" flushall >/dev/null
	APORT=$(free_port)
	MPORT=$(free_port)
	PORT=$APORT API_METRICS_PORT=$MPORT REDIS_URL="redis://127.0.0.1:$RPORT/0" SLACK_SIGNING_SECRET=$SECRET \
		STREAM_MAXLEN=1000000000 LOG_LEVEL=$level LOG_FORMAT=json \
		"$API" 2>"$TMP/api-$level.log" &
	API_PID=$!
	wait_for curl -fsS "http://127.0.0.1:$APORT/healthz"

	out="$TMP/$client-$level.out"
	run_id="$client-$level-$(date +%s)"
	if [ "$client" != wrk ]; then
		# the requests are built and signed first; CPU is read when the clock starts
		BENCH_SECRET=$SECRET BENCH_TS=$(date +%s) BENCH_RUN=$run_id \
			"$LOADGEN" -h 127.0.0.1 -p "$APORT" -c "$CONNS" -d "$SECS" -I "$silent" >"$out" 2>&1 &
		CL_PID=$!
		wait_for grep -q '^loadgen: running' "$out"
	else
		BENCH_SECRET=$SECRET BENCH_TS=$(date +%s) BENCH_RUN=$run_id \
			wrk -t 2 -c "$CONNS" -d "${SECS}s" --timeout 5s -s bench/api_events.lua \
			"http://127.0.0.1:$APORT" >"$out" 2>&1 &
		CL_PID=$!
	fi
	api0=$(cpu_s "$API_PID"); rds0=$(cpu_s "$REDIS_PID"); cl0=$(cpu_s "$CL_PID")
	# the client's own CPU is sampled just before it exits (it stays a zombie until waited)
	while kill -0 "$CL_PID" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$CL_PID/stat" 2>/dev/null)" != Z ]; do
		cl1=$(cpu_s "$CL_PID" 2>/dev/null || echo "$cl1")
		sleep 0.2
	done
	cl1=$(cpu_s "$CL_PID" 2>/dev/null || echo "${cl1:-$cl0}")
	api1=$(cpu_s "$API_PID"); rds1=$(cpu_s "$REDIS_PID")
	wait "$CL_PID" || true
	if [ "$client" != wrk ]; then
		# its own account of the run (getrusage), without the signing beforehand
		cl0=0
		cl1=$(awk '/^loadgen: cpu during the run/ {print $7 + $10}' "$out")
	fi
	line=$(grep '^RESULT ' "$out" || true)
	if [ -z "$line" ]; then
		echo "10_api: $client failed:"; cat "$out"; exit 1
	fi
	rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$API_PID/status")
	# the 2xx answers the API sent
	api2xx=$(curl -fsS "http://127.0.0.1:$MPORT/metrics" |
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
	if [ "$client" != wrk ]; then slack=0; else slack=$CONNS; fi
	if [ "$xlen" -eq "$api2xx" ] && [ "$inflight" -ge 0 ] && [ "$inflight" -le "$slack" ]; then
		check="MATCH ($xlen; client got $ok2xx)"
	else
		check="MISMATCH (stream $xlen, API 2xx $api2xx, client 2xx $ok2xx)"
		status=1
	fi
	awk -v cl="$client" -v lvl="$level" -v n="$requests" -v d="$duration_us" -v p50="$p50_us" -v p99="$p99_us" \
		-v mx="$max_us" -v bad="$non2xx" -v se="$socket_errors" -v rss="$rss_kb" -v chk="$check" \
		-v a0="$api0" -v a1="$api1" -v r0="$rds0" -v r1="$rds1" -v c0="$cl0" -v c1="$cl1" 'BEGIN {
		a = a1 - a0; r = r1 - r0; c = c1 - c0;
		bad_s = bad; if (se > 0) bad_s = bad "+" se "e";
		cpu = sprintf("%.0f+%.0f+%.0f = %.0f", a * 1e6 / n, r * 1e6 / n, c * 1e6 / n, (a + r + c) * 1e6 / n);
		printf "%-7s | %-5s | %9.0f | %4.2f ms | %4.2f ms | %4.1f ms | %7s | %4.1f MB | %-21s | %s\n",
			cl, lvl, n / (d / 1e6), p50 / 1000, p99 / 1000, mx / 1000, bad_s, rss / 1024, cpu, chk }'
done
done
echo "targets: >= 30000 events/s, p99 < 3 ms, API RSS < 16 MB (load generator and Redis on the same machine)"
exit $status
