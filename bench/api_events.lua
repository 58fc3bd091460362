-- wrk script for the API benchmark (bench/parts/10_api.sh): POSTs Slack
-- app_mention events to /slack/events, each with a unique event_id and its
-- own X-Slack-Signature computed per request, HMAC-SHA256 exactly as Slack
-- does it. LuaJIT has no crypto of its own, so the HMAC comes from OpenSSL's
-- libcrypto through LuaJIT's FFI (the same library haink-api verifies with).
--
-- Environment: BENCH_SECRET (the API's SLACK_SIGNING_SECRET), BENCH_TS (the
-- request timestamp, taken just before the run so it stays inside Slack's
-- 300 s window), BENCH_RUN (a prefix that keeps event ids unique across runs).
-- done() prints one "RESULT key=value ..." line for the shell to parse.
local ffi = require("ffi")

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]

local ok, crypto = pcall(ffi.load, "crypto")
if not ok then
  crypto = ffi.load("libcrypto.so.3")
end

local secret = os.getenv("BENCH_SECRET") or "bench-secret"
local ts = os.getenv("BENCH_TS") or tostring(os.time())
local run = os.getenv("BENCH_RUN") or "r"

local md = ffi.new("unsigned char[32]")
local mdlen = ffi.new("unsigned int[1]")
local hexbuf = ffi.new("char[64]")
local hexdigits = "0123456789abcdef"
local hexchar = ffi.new("char[16]")
ffi.copy(hexchar, hexdigits, 16)
local sha256 = crypto.EVP_sha256()

local function sign(body)
  local base = "v0:" .. ts .. ":" .. body
  crypto.HMAC(sha256, secret, #secret, base, #base, md, mdlen)
  for i = 0, 31 do
    local b = md[i]
    hexbuf[2 * i] = hexchar[bit.rshift(b, 4)]
    hexbuf[2 * i + 1] = hexchar[bit.band(b, 15)]
  end
  return "v0=" .. ffi.string(hexbuf, 64)
end

-- main state: number the threads so their event ids never collide
local threads = {}
local next_tid = 1

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local counter = 0
local headers = {
  ["Content-Type"] = "application/json",
  ["X-Slack-Request-Timestamp"] = ts,
}
local head = '{"token":"bench","team_id":"T0BENCH","api_app_id":"A0BENCH",' ..
  '"type":"event_callback","event_time":' .. ts .. ',' ..
  '"authorizations":[{"team_id":"T0BENCH","user_id":"U0BOT","is_bot":true}],' ..
  '"event":{"type":"app_mention","user":"U0ASKER","channel":"C0BENCH",' ..
  '"text":"<@U0BOT> how do I rotate the signing secret of our Slack app?",' ..
  '"ts":"' .. ts .. '.000100","event_ts":"' .. ts .. '.000100"},"event_id":"Ev'

function request()
  counter = counter + 1
  local body = head .. run .. "-" .. (tid or 0) .. "-" .. counter .. '"}'
  headers["X-Slack-Signature"] = sign(body)
  return wrk.format("POST", "/slack/events", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
    "p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
