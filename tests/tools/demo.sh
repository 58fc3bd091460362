#!/bin/sh
# The local demo: redis-server, haink-api, two haink-workers and the sample
# knowledge base, in offline mode unless OPENAI_API_KEY is set.
#
#   sh tests/tools/demo.sh start          (make demo)  start everything, ask one question
#   sh tests/tools/demo.sh ask "QUESTION"               send a signed Slack event, print the answer
#   sh tests/tools/demo.sh status                       what runs, queue and answers
#   sh tests/tools/demo.sh stop           (make demo-stop)
#
# Everything lives in .demo/ (logs, pids, Redis data). Ports: DEMO_REDIS_PORT
# (6380), DEMO_API_PORT (8080), DEMO_METRICS_PORT (9091 and the next two: the
# workers' /metrics, then the API's).
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${BUILD_DIR:-build}
D=$ROOT/.demo
RPORT=${DEMO_REDIS_PORT:-6380}
APORT=${DEMO_API_PORT:-8080}
MPORT=${DEMO_METRICS_PORT:-9091}

mkdir -p "$D"
if [ ! -f "$D/secret" ]; then
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$D/secret"
fi
SECRET=$(cat "$D/secret")
# the Dev UI's token: random per demo directory, like the signing secret
if [ ! -f "$D/ui_token" ]; then
	od -An -N12 -tx1 /dev/urandom | tr -d ' \n' > "$D/ui_token"
fi

export REDIS_URL="redis://127.0.0.1:$RPORT/0"
export SLACK_SIGNING_SECRET="$SECRET"
export PORT="$APORT"
export LOG_FORMAT="${LOG_FORMAT:-json}"
export UI_TOKEN="${UI_TOKEN:-$(cat "$D/ui_token")}"
[ -n "${AGENTS_FILE:-}" ] || export AGENTS_FILE="$ROOT/deploy/agents.json"
[ -f "$AGENTS_FILE" ] || unset AGENTS_FILE

running() { [ -f "$D/$1.pid" ] && kill -0 "$(cat "$D/$1.pid")" 2>/dev/null; }


wait_http() { # url, what
	i=0
	until curl -fsS -o /dev/null "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 150 ]; then echo "demo: $2 did not come up; see $D/*.log" >&2; exit 1; fi
		sleep 0.1
	done
}

start() {
	for name in redis api worker1 worker2; do
		if running $name; then echo "demo: already running (sh tests/tools/demo.sh stop first)"; exit 1; fi
	done
	for p in $RPORT $APORT $MPORT $((MPORT + 1)) $((MPORT + 2)); do
		if bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null; then
			echo "demo: port $p is in use; set DEMO_REDIS_PORT / DEMO_API_PORT / DEMO_METRICS_PORT" >&2
			exit 1
		fi
	done
	if [ -n "${OPENAI_API_KEY:-}" ]; then mode="openai ($OPENAI_BASE_URL)"; else mode="offline (no OPENAI_API_KEY: local embedder, extractive answers)"; fi
	echo "demo: starting redis-server on $RPORT"
	mkdir -p "$D/redis"
	redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$D/redis" --appendonly yes \
		--appendfsync everysec --save "" --daemonize no > "$D/redis.log" 2>&1 &
	echo $! > "$D/redis.pid"
	i=0
	until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "demo: redis did not start" >&2; exit 1; }
		sleep 0.1
	done
	echo "demo: ingesting the sample knowledge base (kb/sample)"
	# sources stay repo-relative file paths (kb/sample/faq.md#...), which resolve in this
	# checkout; DEMO_SOURCE_URL=https://.../kb/sample links them to where you host the KB
	"$B/bin/haink-worker" ingest kb/sample ${DEMO_SOURCE_URL:+--source-url "$DEMO_SOURCE_URL"} 2>> "$D/ingest.log" || {
		echo "demo: ingest failed; see $D/ingest.log" >&2; exit 1; }
	echo "demo: starting haink-api on $APORT"
	API_METRICS_PORT=$((MPORT + 2)) "$B/bin/haink-api" 2> "$D/api.log" &
	echo $! > "$D/api.pid"
	wait_http "http://127.0.0.1:$APORT/healthz" haink-api
	for n in 1 2; do
		METRICS_PORT=$((MPORT + n - 1)) WORKER_CONCURRENCY=4 "$B/bin/haink-worker" run 2> "$D/worker$n.log" &
		echo $! > "$D/worker$n.pid"
		wait_http "http://127.0.0.1:$((MPORT + n - 1))/healthz" "haink-worker $n"
	done
	echo "demo: LLM mode: $mode"
	echo
	ask "How do I deploy Haink to Kubernetes?"
	cat <<EOT

The system is running:
  haink-api      http://127.0.0.1:$APORT  (/healthz /readyz, Slack routes under /slack/; /metrics on :$((MPORT + 2)))
  Dev UI         http://127.0.0.1:$APORT/ui#token=$UI_TOKEN  (chat with the agents in a browser)
  haink-worker   x2, metrics on :$MPORT and :$((MPORT + 1))
  redis-server   127.0.0.1:$RPORT (data in .demo/redis)
  logs           .demo/*.log

Ask more (a signed Slack app_mention, answered by a worker):
  sh tests/tools/demo.sh ask "What does REDELIVERY_TIMEOUT_MS do?"
Or run the agent inline, without the queue:
  REDIS_URL=$REDIS_URL $B/bin/haink-worker ask "How are memories scoped?"
Stop everything:
  make demo-stop
EOT
}

ask() {
	q=$1
	running api || { echo "demo: not running (make demo)" >&2; exit 1; }
	id="EvDemo$(date +%s%N)"
	ts="$(date +%s.%6N)" # unique per message: each question starts its own thread
	body=$(printf '{"type":"event_callback","team_id":"TDEMO","api_app_id":"ADEMO","event_id":"%s","event_time":%s,"event":{"type":"app_mention","user":"UDEMO","text":"<@UHAINK> %s","ts":"%s","channel":"CDEMO","event_ts":"%s"},"authorizations":[{"user_id":"UHAINK","is_bot":true}]}' \
		"$id" "$(date +%s)" "$(printf '%s' "$q" | sed 's/\\/\\\\/g; s/"/\\"/g')" "$ts" "$ts")
	hdrs=$(printf '%s' "$body" | "$B/bin/haink-api" sign -)
	tsh=$(echo "$hdrs" | sed -n 's/^X-Slack-Request-Timestamp: //p')
	sig=$(echo "$hdrs" | sed -n 's/^X-Slack-Signature: //p')
	echo "Q: $q"
	code=$(curl -s -o "$D/last-response" -w '%{http_code}' -X POST "http://127.0.0.1:$APORT/slack/events" \
		-H "Content-Type: application/json" -H "X-Slack-Request-Timestamp: $tsh" \
		-H "X-Slack-Signature: $sig" --data-binary "$body")
	echo "   (signed POST /slack/events -> HTTP $code, event $id)"
	[ "$code" = 200 ] || { cat "$D/last-response"; echo; exit 1; }
	i=0
	while :; do
		aid=$(redis-cli -p "$RPORT" --raw hget "task:{haink}:$id" answer_id 2>/dev/null || true)
		state=$(redis-cli -p "$RPORT" --raw hget "task:{haink}:$id" state 2>/dev/null || true)
		if [ -n "$aid" ] && [ "$state" = answered ]; then break; fi
		i=$((i + 1))
		if [ $i -gt 600 ]; then echo "demo: no answer after 60 s; see .demo/worker*.log" >&2; exit 1; fi
		sleep 0.1
	done
	echo "A:"
	redis-cli -p "$RPORT" --raw hget "answer:$aid" answer | sed 's/^/   /'
	echo "   (answer:$aid, $(redis-cli -p "$RPORT" --raw hget "answer:$aid" latency_ms) ms, model $(redis-cli -p "$RPORT" --raw hget "answer:$aid" model))"
}

status() {
	for name in redis api worker1 worker2; do
		if running $name; then echo "$name: running (pid $(cat "$D/$name.pid"))"; else echo "$name: stopped"; fi
	done
	if running redis; then
		echo "stream length: $(redis-cli -p "$RPORT" xlen 'docket:{haink}:tasks')"
		echo "dead letters:  $(redis-cli -p "$RPORT" xlen 'docket:{haink}:dead')"
	fi
}

stop() {
	for name in api worker1 worker2 redis; do
		if running $name; then
			kill "$(cat "$D/$name.pid")" 2>/dev/null || true
		fi
	done
	for name in api worker1 worker2 redis; do
		i=0
		while running $name && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
		running $name && kill -9 "$(cat "$D/$name.pid")" 2>/dev/null || true
		rm -f "$D/$name.pid"
	done
	echo "demo: stopped (data kept in .demo/; rm -rf .demo to start afresh)"
}

case "${1:-start}" in
start) start ;;
ask) shift; ask "$*" ;;
status) status ;;
stop) stop ;;
*) echo "usage: demo.sh start|ask QUESTION|status|stop" >&2; exit 2 ;;
esac
