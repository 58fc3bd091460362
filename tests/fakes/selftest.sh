#!/usr/bin/env bash
# Self-test for the Haink test fakes: starts each fake on a free port, exercises every
# route and the fault injection with curl, checks the answers with `node -e`, stops
# the fakes, and ends with "N passed, N failed" (exit 1 on any failure).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
PASS=0
FAIL=0
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

command -v node >/dev/null || { echo "node not found"; exit 1; }
command -v curl >/dev/null || { echo "curl not found"; exit 1; }

# start NAME: runs tests/fakes/NAME.js on port 0; sets PORT, PID, BASE.
start() {
  local name=$1 i
  node "$HERE/$name.js" --port 0 >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PID=$!
  PIDS+=("$PID")
  for i in $(seq 1 200); do
    grep -q '^LISTENING ' "$TMP/$name.out" 2>/dev/null && break
    sleep 0.05
  done
  PORT=$(awk '/^LISTENING /{print $2; exit}' "$TMP/$name.out")
  BASE="http://127.0.0.1:$PORT"
}

# stop: SIGTERM the current fake and record its exit status in STOP_RC.
stop() {
  kill -TERM "$PID" 2>/dev/null
  wait "$PID"
  STOP_RC=$?
}

# req METHOD PATH [BODY [curl args...]] -> STATUS; body in $TMP/body, headers in $TMP/hdr,
# elapsed milliseconds in ELAPSED.
req() {
  local method=$1 path=$2 data=""
  shift 2
  if [ $# -gt 0 ]; then data=$1; shift; fi
  local args=(-s -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' -X "$method" --max-time 10)
  if [ -n "$data" ]; then args+=(--data-binary "$data"); fi
  : >"$TMP/body"
  : >"$TMP/hdr"
  local t0 t1
  t0=$(date +%s%3N)
  STATUS=$(curl "${args[@]}" "$@" "$BASE$path")
  t1=$(date +%s%3N)
  ELAPSED=$((t1 - t0))
}

# Shorthands with a JSON content type.
jpost() { local p=$1 d=$2; shift 2; req POST "$p" "$d" -H 'Content-Type: application/json; charset=utf-8' "$@"; }

# check DESCRIPTION JS_EXPR: evaluates JS_EXPR with s (status), b (parsed JSON body or
# raw string), raw (body text), h (lowercased response headers), ms (elapsed ms).
check() {
  local desc=$1 expr=$2 out
  if out=$(node -e '
    const fs = require("fs");
    const [file, hfile, status, ms, expr] = process.argv.slice(1);
    const raw = fs.readFileSync(file, "utf8");
    let b; try { b = JSON.parse(raw); } catch (e) { b = raw; }
    const h = {};
    for (const l of fs.readFileSync(hfile, "utf8").split(/\r?\n/)) {
      const i = l.indexOf(":"); if (i > 0) h[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    let ok;
    try { ok = new Function("s", "b", "raw", "h", "ms", "return (" + expr + ");")(Number(status), b, raw, h, Number(ms)); }
    catch (e) { console.log("exception: " + e.message); process.exit(1); }
    if (!ok) process.exit(1);
  ' "$TMP/body" "$TMP/hdr" "$STATUS" "$ELAPSED" "$expr" 2>&1); then
    PASS=$((PASS + 1))
  else
    FAIL=$((FAIL + 1))
    echo "FAIL [$CURRENT] $desc"
    echo "     expr:   $expr"
    echo "     status: $STATUS  body: $(head -c 400 "$TMP/body")"
    [ -n "$out" ] && echo "     $out"
  fi
}

# ok DESCRIPTION CONDITION(shell test)
ok() {
  local desc=$1; shift
  if "$@"; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); echo "FAIL [$CURRENT] $desc"; fi
}

# Tests shared by every fake. $1 = an API path, $2 = a curl-ready JSON body for it,
# $3.. = extra curl args (auth header) for a successful call.
common_tests() {
  local path=$1 body=$2; shift 2
  ok "exactly one LISTENING line" test "$(grep -c . "$TMP/$CURRENT.out")" = 1
  ok "LISTENING line format" grep -qE '^LISTENING [0-9]+$' "$TMP/$CURRENT.out"

  req GET /_fake/health
  check "health" 's === 200 && b.ok === true && b.name === "'"$CURRENT"'"'

  req POST /_fake/reset
  check "reset" 's === 200 && b.ok === true'

  # a normal call is recorded
  jpost "$path" "$body" "$@"
  check "baseline call succeeds" 's === 200'
  req GET "/_fake/requests?path=$path"
  check "request recorded with json" 'Array.isArray(b) && b.length === 1 && b[0].seq >= 1 && b[0].method === "POST" && b[0].path === "'"$path"'" && typeof b[0].ts_ms === "number" && typeof b[0].body === "string" && b[0].json !== null && typeof b[0].headers["content-type"] === "string"'
  local seq1
  seq1=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))[0].seq)' "$TMP/body")

  # fault: 500 x2 then normal
  jpost /_fake/faults '{"path":"'"$path"'","status":500,"count":2}'
  check "queue fault" 's === 200 && b.ok === true && b.faults.length === 1 && b.faults[0].count === 2'
  req GET /_fake/faults
  check "list faults" 's === 200 && b.length === 1 && b[0].status === 500'
  jpost "$path" "$body" "$@"
  check "fault 1/2 -> 500" 's === 500'
  jpost "$path" "$body" "$@"
  check "fault 2/2 -> 500" 's === 500'
  jpost "$path" "$body" "$@"
  check "after faults -> normal" 's === 200'
  req GET /_fake/faults
  check "faults consumed" 's === 200 && b.length === 0'

  # fault on another path does not apply
  jpost /_fake/faults '{"path":"/nope","status":503,"count":1}'
  jpost "$path" "$body" "$@"
  check "fault for other path ignored" 's === 200'
  req DELETE /_fake/faults
  check "delete faults" 's === 200 && b.ok === true'

  # 429 with retry_after
  jpost /_fake/faults '{"path":"'"$path"'","status":429,"count":1,"retry_after":2}'
  jpost "$path" "$body" "$@"
  check "429 with Retry-After" 's === 429 && h["retry-after"] === "2" && typeof b === "object"'

  # custom fault body
  jpost /_fake/faults '{"path":"'"$path"'","status":502,"body":"upstream broke"}'
  jpost "$path" "$body" "$@"
  check "custom fault body" 's === 502 && raw === "upstream broke"'

  # delay only
  jpost /_fake/faults '{"path":"'"$path"'","status":0,"delay_ms":300,"count":1}'
  jpost "$path" "$body" "$@"
  check "delay-only fault answers normally after delay" 's === 200 && ms >= 290'
  jpost "$path" "$body" "$@"
  check "delay fault consumed" 's === 200 && ms < 290'

  # forever
  jpost /_fake/faults '{"path":"'"$path"'","status":503,"count":-1}'
  jpost "$path" "$body" "$@"
  check "forever fault 1" 's === 503'
  jpost "$path" "$body" "$@"
  check "forever fault 2" 's === 503'
  jpost "$path" "$body" "$@"
  check "forever fault 3" 's === 503'
  req GET /_fake/faults
  check "forever fault still listed" 'b.length === 1 && b[0].count === -1 && b[0].hits === 3'
  req DELETE /_fake/faults

  # wildcard path + drop connection
  jpost /_fake/faults '{"status":0,"drop":true}'
  jpost "$path" "$body" "$@"
  ok "drop fault closes connection without response" test "$STATUS" = 000

  # bad fault specs
  jpost /_fake/faults '{"path":"'"$path"'","status":700}'
  check "invalid fault status rejected" 's === 400 && b.ok === false'
  jpost /_fake/faults '{"path":"'"$path"'","status":500,"count":0}'
  check "invalid fault count rejected" 's === 400'
  jpost /_fake/faults '{not json'
  check "malformed control JSON -> 400" 's === 400 && b.ok === false'

  # requests filters
  req GET "/_fake/requests?since=$seq1"
  check "since filter" 'Array.isArray(b) && b.length > 0 && b.every(r => r.seq > '"$seq1"')'
  req GET "/_fake/requests?path=/nothing/here"
  check "path filter (no match)" 'Array.isArray(b) && b.length === 0'
  req GET "/_fake/requests?path=$path&limit=2"
  check "limit" 'b.length === 2'

  # wait: already satisfied, and timeout
  req GET "/_fake/wait?path=$path&count=3&timeout_ms=1000"
  check "wait satisfied" 's === 200 && b.ok === true && b.count >= 3'
  req GET "/_fake/wait?path=/never&count=1&timeout_ms=200"
  check "wait times out" 's === 200 && b.ok === false && b.count === 0 && ms >= 190'
  req GET "/_fake/requests?limit=1"
  local last
  last=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))[0].seq)' "$TMP/body")
  curl -s --max-time 10 "$BASE/_fake/wait?path=$path&count=1&since=$last&timeout_ms=5000" >"$TMP/wait.out" &
  local wpid=$!
  sleep 0.3
  jpost "$path" "$body" "$@"
  wait "$wpid"
  cp "$TMP/wait.out" "$TMP/body"
  STATUS=200
  check "wait wakes up on a new request" 'b.ok === true && b.count === 1 && b.requests[0].seq === '"$last"' + 1'

  # stats
  req GET /_fake/stats
  check "stats" 's === 200 && b.count >= 10 && b.by_path["'"$path"'"] >= 10 && b.faults_injected >= 8'

  # config basics
  req GET /_fake/config
  check "get config" 's === 200 && typeof b === "object"'
  jpost /_fake/config '{"no_such_option":1}'
  check "unknown config option rejected" 's === 400 && b.ok === false'

  # unknown control route
  req GET /_fake/nope
  check "unknown control route -> 404" 's === 404'

  # reset clears recordings, faults, counters
  jpost /_fake/faults '{"path":"'"$path"'","status":500,"count":-1}'
  req POST /_fake/reset
  req GET /_fake/requests
  check "reset clears requests" 'Array.isArray(b) && b.length === 0'
  req GET /_fake/stats
  check "reset clears stats" 'b.count === 0 && Object.keys(b.by_path).length === 0'
  jpost "$path" "$body" "$@"
  check "reset clears faults" 's === 200'
  req POST /_fake/reset
}

########################################################################################
CURRENT=fake_slack
start fake_slack
if [ -z "$PORT" ]; then echo "fake_slack did not start"; cat "$TMP/fake_slack.err"; exit 1; fi
AUTH=(-H 'Authorization: Bearer xoxb-test-token')

common_tests /api/chat.postMessage '{"channel":"C1","text":"hello"}' "${AUTH[@]}"

req POST /api/auth.test
check "auth.test without token -> not_authed" 's === 200 && b.ok === false && b.error === "not_authed"'
req POST /api/auth.test "" -H 'Authorization: Bearer xoxp-user'
check "auth.test with non-bot token -> invalid_auth" 's === 200 && b.ok === false && b.error === "invalid_auth"'
req POST /api/auth.test "" "${AUTH[@]}"
check "auth.test" 's === 200 && b.ok === true && b.team_id === "T0FAKE" && b.user_id === "U0BOT" && b.bot_id === "B0FAKE" && b.user === "haink" && b.url === "https://fake.slack.com/"'

jpost /api/chat.postMessage '{"channel":"C1","text":"Thinking…","thread_ts":"1699999999.000001"}' "${AUTH[@]}"
check "postMessage (JSON)" 's === 200 && b.ok === true && b.channel === "C1" && /^\d{10}\.\d{6}$/.test(b.ts) && b.message.text === "Thinking…" && b.message.thread_ts === "1699999999.000001" && b.message.bot_id === "B0FAKE" && b.message.user === "U0BOT"'
TS1=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).ts)' "$TMP/body")

req POST /api/chat.postMessage 'channel=C2&text=form+text&blocks=%5B%7B%22type%22%3A%22divider%22%7D%5D' "${AUTH[@]}"
check "postMessage (form, blocks string)" 's === 200 && b.ok === true && b.ts > "'"$TS1"'" && b.message.text === "form text" && Array.isArray(b.message.blocks) && b.message.blocks[0].type === "divider" && b.message.thread_ts === undefined'
TS2=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).ts)' "$TMP/body")
ok "ts strictly increasing" test "$TS2" \> "$TS1"

jpost /api/chat.postMessage '{"text":"x"}' "${AUTH[@]}"
check "postMessage without channel" 'b.ok === false && b.error === "channel_not_found"'
jpost /api/chat.postMessage '{"channel":"C1"}' "${AUTH[@]}"
check "postMessage without text/blocks" 'b.ok === false && b.error === "no_text"'
jpost /api/chat.postMessage '{"channel":"C1","text":"hi"}'
check "postMessage without auth" 's === 200 && b.ok === false && b.error === "not_authed"'
LONG=$(node -e 'process.stdout.write("a".repeat(3001))')
jpost /api/chat.postMessage '{"channel":"C1","text":"t","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"'"$LONG"'"}}]}' "${AUTH[@]}"
check "section over 3000 chars -> invalid_blocks" 'b.ok === false && b.error === "invalid_blocks" && b.errors[0].includes("/blocks/0/text/text")'
jpost /api/chat.postMessage '{"channel":"C1","text":"t","blocks":"[not json"}' "${AUTH[@]}"
check "unparseable blocks -> invalid_blocks_format" 'b.ok === false && b.error === "invalid_blocks_format"'

BLOCKS='[{"type":"section","text":{"type":"mrkdwn","text":"*Answer*"}},{"type":"actions","elements":[{"type":"button","action_id":"feedback_helpful","text":{"type":"plain_text","text":"Helpful"},"value":"a1"},{"type":"button","action_id":"feedback_not_helpful","text":{"type":"plain_text","text":"Not helpful"},"value":"a1"}]}]'
jpost /api/chat.update '{"channel":"C1","ts":"'"$TS1"'","text":"Searching the knowledge base…"}' "${AUTH[@]}"
check "chat.update progress" 's === 200 && b.ok === true && b.channel === "C1" && b.ts === "'"$TS1"'" && b.text === "Searching the knowledge base…"'
jpost /api/chat.update '{"channel":"C1","ts":"'"$TS1"'","text":"Answer","blocks":'"$BLOCKS"'}' "${AUTH[@]}"
check "chat.update with blocks" 'b.ok === true && b.text === "Answer" && b.message.blocks.length === 2'
jpost /api/chat.update '{"channel":"C1","ts":"1.000000","text":"x"}' "${AUTH[@]}"
check "chat.update unknown ts" 'b.ok === false && b.error === "message_not_found"'
jpost /api/chat.update '{"ts":"'"$TS1"'","text":"x"}' "${AUTH[@]}"
check "chat.update without channel" 'b.ok === false && b.error === "message_not_found"'

req GET /_fake/messages
check "messages store" 's === 200 && b.length === 2 && b[0].ts === "'"$TS1"'" && b[0].channel === "C1" && b[0].thread_ts === "1699999999.000001" && b[0].text === "Answer" && b[0].blocks.length === 2 && b[0].update_count === 2 && b[0].history.join("|") === "Thinking…|Searching the knowledge base…|Answer" && b[1].thread_ts === null'
req GET "/_fake/messages?channel=C1&thread_ts=1699999999.000001"
check "messages filter" 'b.length === 1 && b[0].ts === "'"$TS1"'"'

req POST /api/chat.update "channel=C1&ts=$TS1&text=Thanks+for+the+feedback" "${AUTH[@]}"
check "chat.update (form) text only" 'b.ok === true && b.text === "Thanks for the feedback"'
req GET "/_fake/messages?channel=C1"
check "text-only update removes blocks" 'b[0].blocks === null && b[0].update_count === 3'

jpost /api/chat.postEphemeral '{"channel":"C1","user":"U1","text":"slow down"}' "${AUTH[@]}"
check "postEphemeral" 'b.ok === true && /^\d{10}\.\d{6}$/.test(b.message_ts)'
jpost /api/chat.postEphemeral '{"channel":"C1","text":"x"}' "${AUTH[@]}"
check "postEphemeral without user" 'b.ok === false && b.error === "user_not_in_channel"'

jpost /api/chat.delete '{"channel":"C2","ts":"'"$TS2"'"}' "${AUTH[@]}"
check "chat.delete" 'b.ok === true && b.ts === "'"$TS2"'"'
jpost /api/chat.delete '{"channel":"C2","ts":"'"$TS2"'"}' "${AUTH[@]}"
check "chat.delete twice" 'b.ok === false && b.error === "message_not_found"'

jpost /api/chat.postMessage '{"channel":' "${AUTH[@]}"
check "malformed JSON -> 400 invalid_json" 's === 400 && b.ok === false && b.error === "invalid_json"'
jpost /api/conversations.nope '{}' "${AUTH[@]}"
check "unknown method" 's === 404 && b.ok === false && b.error === "unknown_method"'

jpost /_fake/faults '{"path":"/api/chat.update","status":429,"count":1}'
jpost /api/chat.update '{"channel":"C1","ts":"'"$TS1"'","text":"x"}' "${AUTH[@]}"
check "429 fault: default Retry-After 1 and ratelimited body" 's === 429 && h["retry-after"] === "1" && b.ok === false && b.error === "ratelimited"'

jpost /_fake/config '{"ok_false_error":"ratelimited","ok_false_count":2}'
check "config ok_false" 's === 200 && b.ok === true && b.config.ok_false_count === 2'
jpost /api/chat.postMessage '{"channel":"C1","text":"a"}' "${AUTH[@]}"
check "ok_false 1/2" 's === 200 && b.ok === false && b.error === "ratelimited"'
jpost /api/chat.postMessage '{"channel":"C1","text":"a"}' "${AUTH[@]}"
check "ok_false 2/2" 's === 200 && b.ok === false && b.error === "ratelimited"'
jpost /api/chat.postMessage '{"channel":"C1","text":"a"}' "${AUTH[@]}"
check "after ok_false" 'b.ok === true'
jpost /_fake/config '{"ok_false_error":"channel_not_found","ok_false_count":1,"ok_false_method":"chat.update"}'
jpost /api/chat.postMessage '{"channel":"C1","text":"a"}' "${AUTH[@]}"
check "ok_false_method: other method unaffected" 'b.ok === true'
jpost /api/chat.update '{"channel":"C1","ts":"'"$TS1"'","text":"x"}' "${AUTH[@]}"
check "ok_false_method: chat.update fails" 'b.ok === false && b.error === "channel_not_found"'
jpost /_fake/config '{"ok_false_count":-7}'
check "bad ok_false_count rejected" 's === 400'

jpost /_fake/config '{"latency_ms":250}'
req POST /api/auth.test "" "${AUTH[@]}"
check "latency_ms" 'b.ok === true && ms >= 240'
req POST '/_fake/reset?config=1'
check "reset with config" 'b.ok === true && b.config_reset === true'
req GET /_fake/config
check "config back to defaults" 'b.latency_ms === 0 && b.ok_false_count === 0 && b.ok_false_method === null'
req GET /_fake/messages
check "reset clears messages" 'Array.isArray(b) && b.length === 0'
jpost /api/chat.postMessage '{"channel":"C1","text":"after reset"}' "${AUTH[@]}"
check "ts keeps increasing after reset" 'b.ok === true && b.ts > "'"$TS2"'"'

stop
ok "fake_slack exits 0 on SIGTERM" test "$STOP_RC" = 0

########################################################################################
CURRENT=fake_openai
start fake_openai
if [ -z "$PORT" ]; then echo "fake_openai did not start"; cat "$TMP/fake_openai.err"; exit 1; fi
AUTH=(-H 'Authorization: Bearer sk-test')

common_tests /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' "${AUTH[@]}"

jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"hi"}]}'
check "no key -> 401 invalid_api_key" 's === 401 && b.error.code === "invalid_api_key" && b.error.type === "invalid_request_error" && typeof b.error.message === "string"'
req GET /v1/models "" "${AUTH[@]}"
check "models" 's === 200 && b.object === "list" && b.data[0].id === "gpt-4o-mini" && b.data[0].object === "model"'
req GET /v1/nope "" "${AUTH[@]}"
check "unknown URL -> 404" 's === 404 && b.error.message.includes("Invalid URL")'

# --- embeddings
jpost /v1/embeddings '{"model":"text-embedding-3-small","input":"How do I reset my password?"}' "${AUTH[@]}"
check "embedding single" 's === 200 && b.object === "list" && b.data.length === 1 && b.data[0].object === "embedding" && b.data[0].index === 0 && b.data[0].embedding.length === 1536 && Math.abs(Math.hypot(...b.data[0].embedding) - 1) < 1e-4 && b.model === "text-embedding-3-small" && b.usage.prompt_tokens > 0 && b.usage.total_tokens === b.usage.prompt_tokens'
cp "$TMP/body" "$TMP/emb1"
jpost /v1/embeddings '{"model":"text-embedding-3-small","input":["How do I reset my password?","password reset steps for my account","banana smoothie recipe with oats"]}' "${AUTH[@]}"
check "embedding batch deterministic and similar" '(() => {
  const e1 = JSON.parse(require("fs").readFileSync("'"$TMP/emb1"'", "utf8")).data[0].embedding;
  const d = b.data; const dot = (x, y) => x.reduce((a, v, i) => a + v * y[i], 0);
  return s === 200 && d.length === 3 && d.map(x => x.index).join() === "0,1,2" &&
    JSON.stringify(d[0].embedding) === JSON.stringify(e1) &&
    dot(d[0].embedding, d[1].embedding) > 0.2 && dot(d[0].embedding, d[1].embedding) > dot(d[0].embedding, d[2].embedding) + 0.15;
})()'
jpost /v1/embeddings '{"model":"m","input":"abc","dimensions":64}' "${AUTH[@]}"
check "embedding dimensions" 'b.data[0].embedding.length === 64'
jpost /_fake/config '{"embedding_dim":256}'
check "config embedding_dim" 's === 200 && b.config.embedding_dim === 256'
jpost /v1/embeddings '{"model":"m","input":"abc"}' "${AUTH[@]}"
check "embedding uses config dim" 'b.data[0].embedding.length === 256'
jpost /v1/embeddings '{"model":"m","input":"abc","encoding_format":"base64"}' "${AUTH[@]}"
check "embedding base64" 'typeof b.data[0].embedding === "string" && Buffer.from(b.data[0].embedding, "base64").length === 1024'
jpost /v1/embeddings '{"model":"m","input":[]}' "${AUTH[@]}"
check "empty input array -> 400" 's === 400 && b.error.type === "invalid_request_error"'
jpost /v1/embeddings '{"model":"m","input":""}' "${AUTH[@]}"
check "empty input string -> 400" 's === 400'
jpost /v1/embeddings '{"model":"m"}' "${AUTH[@]}"
check "missing input -> 400" 's === 400'
jpost /v1/embeddings '{"input":"x"}' "${AUTH[@]}"
check "missing model -> 400" 's === 400'
BIG=$(node -e 'process.stdout.write(JSON.stringify({model:"m",input:Array(2049).fill("x")}))')
jpost /v1/embeddings "$BIG" "${AUTH[@]}"
check "2049 inputs -> 400" 's === 400 && b.error.message.includes("2048")'
BIG=$(node -e 'process.stdout.write(JSON.stringify({model:"m",input:Array(2048).fill("x")}))')
jpost /v1/embeddings "$BIG" "${AUTH[@]}"
check "2048 inputs ok" 's === 200 && b.data.length === 2048'
jpost /v1/embeddings '{"model":"m","input":"x"' "${AUTH[@]}"
check "malformed JSON -> 400" 's === 400 && b.error.type === "invalid_request_error" && b.error.message.includes("parse the JSON")'
req GET /_fake/stats
check "embedding stats" 'b.embedding_requests === 6 && b.embedding_inputs_total === 1 + 3 + 1 + 1 + 1 + 2048'

# --- chat: validation
jpost /v1/chat/completions '{"model":"m","messages":[]}' "${AUTH[@]}"
check "empty messages -> 400" 's === 400 && b.error.param === "messages"'
jpost /v1/chat/completions '{"model":"m"}' "${AUTH[@]}"
check "missing messages -> 400" 's === 400'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"q"},{"role":"tool","tool_call_id":"call_x","content":"r"}]}' "${AUTH[@]}"
check "orphan tool message -> 400" 's === 400 && b.error.message.includes("tool_calls")'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"user","content":"again"}]}' "${AUTH[@]}"
check "unanswered tool_call -> 400" 's === 400 && b.error.message.includes("call_1")'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"q"}],"tools":[]}' "${AUTH[@]}"
check "empty tools -> 400" 's === 400'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"q"}],"stream_options":{"include_usage":true}}' "${AUTH[@]}"
check "stream_options without stream -> 400" 's === 400 && b.error.param === "stream_options"'
# streamed: the pieces join to the non-streamed answer; usage chunk; [DONE]
EV='const ev = raw.split("\n\n").filter(Boolean).map(e => e.replace(/^data: /, "")); const js = ev.slice(0, -1).map(JSON.parse)'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"What is Haink?"}],"stream":true,"stream_options":{"include_usage":true}}' "${AUTH[@]}"
check "stream: text in chunks, usage, [DONE]" "s === 200 && h['content-type'].startsWith('text/event-stream') && (() => { $EV; return ev[ev.length - 1] === '[DONE]' && js.every(j => j.object === 'chat.completion.chunk') && js.map(j => (j.choices[0] && j.choices[0].delta.content) || '').join('') === 'Echo: What is Haink?' && js.filter(j => j.choices[0] && j.choices[0].delta.content).length > 3 && js[js.length - 2].choices[0].finish_reason === 'stop' && js[js.length - 1].choices.length === 0 && js[js.length - 1].usage.completion_tokens > 0; })()"
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"rotate"}],"stream":true,"tools":[{"type":"function","function":{"name":"search_knowledge_base","parameters":{"type":"object","properties":{"query":{"type":"string"}}}}}]}' "${AUTH[@]}"
check "stream: tool call id+name, then arguments in fragments" "s === 200 && (() => { $EV; const d = js.map(j => j.choices[0] && j.choices[0].delta.tool_calls).filter(Boolean).flat(); return d.length === 3 && d[0].id && d[0].function.name === 'search_knowledge_base' && JSON.parse(d.map(x => x.function.arguments).join('')).query === 'rotate' && js[js.length - 1].choices[0].finish_reason === 'tool_calls' && !js.some(j => j.usage); })()"
jpost /_fake/config '{"stream_cut_after":2}'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"What is Haink?"}],"stream":true}' "${AUTH[@]}"
check "stream_cut_after: connection dropped, no [DONE]" '!String(raw).includes("[DONE]")'
jpost /_fake/config '{"stream_cut_after":0}'

# --- chat: default agent
TOOLS='[{"type":"function","function":{"name":"search_knowledge_base","description":"search","parameters":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}}}]'
jpost /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be nice"},{"role":"user","content":"What is Haink?"}]}' "${AUTH[@]}"
check "default: echo without tools" 's === 200 && b.object === "chat.completion" && /^chatcmpl-/.test(b.id) && typeof b.created === "number" && b.model === "gpt-4o-mini" && b.choices.length === 1 && b.choices[0].index === 0 && b.choices[0].message.role === "assistant" && b.choices[0].message.content === "Echo: What is Haink?" && b.choices[0].message.tool_calls === undefined && b.choices[0].finish_reason === "stop" && b.usage.prompt_tokens > 0 && b.usage.completion_tokens > 0 && b.usage.total_tokens === b.usage.prompt_tokens + b.usage.completion_tokens'
jpost /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is Haink?"}],"tools":'"$TOOLS"'}' "${AUTH[@]}"
check "default: tool call search_knowledge_base" 's === 200 && b.choices[0].finish_reason === "tool_calls" && b.choices[0].message.content === null && b.choices[0].message.tool_calls.length === 1 && /^call_/.test(b.choices[0].message.tool_calls[0].id) && b.choices[0].message.tool_calls[0].type === "function" && b.choices[0].message.tool_calls[0].function.name === "search_knowledge_base" && JSON.parse(b.choices[0].message.tool_calls[0].function.arguments).query === "What is Haink?"'
CALLID=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).choices[0].message.tool_calls[0].id)' "$TMP/body")
TOOLRES='{\"results\":[{\"title\":\"Haink\",\"source\":\"https://docs.example.com/haink\",\"score\":0.91,\"content\":\"Haink is a Slack assistant.\"}]}'
jpost /v1/chat/completions '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is Haink?"},{"role":"assistant","content":null,"tool_calls":[{"id":"'"$CALLID"'","type":"function","function":{"name":"search_knowledge_base","arguments":"{\"query\":\"What is Haink?\"}"}}]},{"role":"tool","tool_call_id":"'"$CALLID"'","content":"'"$TOOLRES"'"}],"tools":'"$TOOLS"'}' "${AUTH[@]}"
check "default: answer from tool result with source" 's === 200 && b.choices[0].finish_reason === "stop" && b.choices[0].message.content.startsWith("Based on the knowledge base: {\"results\"") && b.choices[0].message.content.endsWith("\n\nSource: https://docs.example.com/haink")'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"search_knowledge_base","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"plain text result"}],"tools":'"$TOOLS"'}' "${AUTH[@]}"
check "default: tool result without source" 'b.choices[0].message.content === "Based on the knowledge base: plain text result"'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"q"}],"tools":'"$TOOLS"',"tool_choice":"none"}' "${AUTH[@]}"
check "default: tool_choice none -> echo" 'b.choices[0].message.content === "Echo: q"'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"parts "},{"type":"text","text":"question"}]}]}' "${AUTH[@]}"
check "default: content parts" 'b.choices[0].message.content === "Echo: parts question"'

# --- chat: scripted
jpost /_fake/script '{"responses":[{"match":"special","content":"B"},{"content":"A"},{"tool_calls":[{"name":"search_knowledge_base","arguments":"{bad json"},{"name":"web_search","arguments":{"query":"w"}}]}]}'
check "script queued" 's === 200 && b.ok === true && b.queued === 3 && b.pending === 3'
req GET /_fake/script
check "script listed" 'b.length === 3'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"hello"}]}' "${AUTH[@]}"
check "script: unmatched item skipped, first eligible used" 'b.choices[0].message.content === "A" && b.choices[0].finish_reason === "stop"'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"a special question"}]}' "${AUTH[@]}"
check "script: match item" 'b.choices[0].message.content === "B"'
jpost /_fake/faults '{"path":"/v1/chat/completions","status":500,"count":1}'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"x"}]}' "${AUTH[@]}"
check "fault before script" 's === 500 && b.error.type === "server_error"'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"x"}]}' "${AUTH[@]}"
check "script: tool calls, raw args kept" 's === 200 && b.choices[0].finish_reason === "tool_calls" && b.choices[0].message.tool_calls.length === 2 && b.choices[0].message.tool_calls[0].function.arguments === "{bad json" && JSON.parse(b.choices[0].message.tool_calls[1].function.arguments).query === "w" && b.choices[0].message.tool_calls[0].id !== b.choices[0].message.tool_calls[1].id'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"x"}]}' "${AUTH[@]}"
check "script exhausted -> default" 'b.choices[0].message.content === "Echo: x"'
jpost /_fake/script '{"responses":[{"match":"zzz","content":"Z"}]}'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"x"}]}' "${AUTH[@]}"
check "no eligible script item -> default" 'b.choices[0].message.content === "Echo: x"'
req GET /_fake/stats
check "script_pending / chat stats" 'b.script_pending === 1 && b.chat_scripted === 3 && b.chat_requests >= 10'
req DELETE /_fake/script
req GET /_fake/stats
check "delete script" 'b.script_pending === 0'
jpost /_fake/script '{"responses":[{"nothing":1}]}'
check "invalid script item rejected" 's === 400'
jpost /_fake/script '{"responses":[{"content":"late","delay_ms":200,"finish_reason":"length"}]}'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"x"}]}' "${AUTH[@]}"
check "script item delay_ms and finish_reason" 'b.choices[0].message.content === "late" && b.choices[0].finish_reason === "length" && ms >= 190'

jpost /_fake/config '{"latency_ms":300}'
jpost /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"x"}]}' "${AUTH[@]}"
check "latency_ms delays chat" 's === 200 && ms >= 290'
jpost /v1/embeddings '{"model":"m","input":"x"}' "${AUTH[@]}"
check "latency_ms does not delay embeddings" 's === 200 && ms < 290'
req POST /_fake/reset
req GET /_fake/config
check "plain reset keeps config" 'b.latency_ms === 300 && b.embedding_dim === 256'
req POST /_fake/reset '{"config":true}' -H 'Content-Type: application/json'
req GET /_fake/config
check "reset with config restores defaults" 'b.latency_ms === 0 && b.embedding_dim === 1536'
req GET /_fake/stats
check "reset clears embedding counters" 'b.embedding_requests === 0 && b.embedding_inputs_total === 0'

stop
ok "fake_openai exits 0 on SIGTERM" test "$STOP_RC" = 0

########################################################################################
CURRENT=fake_tavily
start fake_tavily
if [ -z "$PORT" ]; then echo "fake_tavily did not start"; cat "$TMP/fake_tavily.err"; exit 1; fi

common_tests /search '{"api_key":"tvly-test","query":"redis streams"}'

jpost /search '{"query":"redis streams"}'
check "no key -> 401" 's === 401 && b.detail.error === "Unauthorized: missing or invalid API key."'
jpost /search '{"query":"Redis Streams!"}' -H 'Authorization: Bearer tvly-abc'
check "bearer key, default 5 results" 's === 200 && b.query === "Redis Streams!" && b.answer === null && b.results.length === 5 && b.results[0].title === "Result about Redis Streams!" && b.results[0].url === "https://example.com/redis-streams" && b.results[0].content.includes("Redis Streams!") && b.results[0].score === 0.9 && b.results[1].score < 0.9 && new Set(b.results.map(r => r.url)).size === 5 && typeof b.response_time === "number"'
jpost /search '{"api_key":"tvly-abc","query":"q","max_results":2,"include_answer":true}'
check "max_results and include_answer" 'b.results.length === 2 && typeof b.answer === "string"'
jpost /search '{"api_key":"tvly-abc"}'
check "missing query -> 400" 's === 400 && typeof b.detail.error === "string"'
jpost /search '{"api_key":"tvly-abc","query":"q","max_results":"x"}'
check "bad max_results -> 400" 's === 400'
jpost /search '{"api_key":' 
check "malformed JSON -> 400" 's === 400 && typeof b.detail.error === "string"'
req GET /search
check "GET /search -> 405" 's === 405'
req POST /nope '{}'
check "unknown path -> 404" 's === 404'
jpost /_fake/config '{"key_prefix":"tvly-"}'
jpost /search '{"api_key":"abc","query":"q"}'
check "key_prefix enforced" 's === 401'
jpost /_fake/config '{"results":[{"title":"Fixed","url":"https://fixed.example/","content":"c","score":0.5}]}'
jpost /search '{"api_key":"tvly-x","query":"q"}'
check "fixed results" 'b.results.length === 1 && b.results[0].title === "Fixed"'
jpost /_fake/faults '{"path":"/search","status":429,"count":1}'
jpost /search '{"api_key":"tvly-x","query":"q"}'
check "429 fault in Tavily style" 's === 429 && typeof b.detail.error === "string"'
req GET /_fake/stats
check "tavily stats" 'b.searches >= 3 && b.count >= 4'

stop
ok "fake_tavily exits 0 on SIGTERM" test "$STOP_RC" = 0

########################################################################################
# Bad arguments exit 2.
node "$HERE/fake_slack.js" --port nope >/dev/null 2>&1
RC=$?
CURRENT=args
ok "bad --port exits 2" test "$RC" = 2

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
