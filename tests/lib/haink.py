"""Test library for Haink's integration and end-to-end tests.

Starts real processes (redis-server, haink-api, haink-worker, the Node fakes
under tests/fakes/) on free loopback ports in a temporary directory, talks to
them over their real protocols, and always stops them. Standard library only.

Typical use:

    with Stack() as st:
        st.redis()                    # throwaway redis-server
        api = st.api()                # real haink-api, signing secret st.secret
        status, hdrs, body = st.post_event(api, {...event payload...})
        entries = st.r.xrange(st.stream)
"""
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD_DIR", "build"))
BIN = os.path.join(BUILD, "bin")
FAKES = os.path.join(ROOT, "tests", "fakes")


def free_port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, what="condition", interval=0.02):
    """Polls pred() until it returns a truthy value; returns it, or raises AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


# --- a small RESP client (no redis-py on the machines) ----------------------

class RedisError(Exception):
    pass


class Resp:
    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def close(self):
        with contextlib.suppress(Exception):
            self.f.close()
            self.sock.close()

    def __call__(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            try:
                return data.decode()
            except UnicodeDecodeError:
                return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError("unexpected reply %r" % line)

    # helpers
    def xrange(self, key):
        """Returns [(id, {field: value})] of a stream."""
        return [(e[0], dict(zip(e[1][::2], e[1][1::2]))) for e in self("XRANGE", key, "-", "+")]

    def hgetall(self, key):
        r = self("HGETALL", key)
        return dict(zip(r[::2], r[1::2]))


# REDIS_SERVER names another server binary (valkey-server) for the whole run;
# HAINK_QE_MODULE (make test-qe) a search module every server loads, so the
# workers' VECTOR_BACKEND=auto runs the knowledge base and memory on the Query Engine
REDIS_SERVER = os.environ.get("REDIS_SERVER") or "redis-server"
QE_MODULE = os.environ.get("HAINK_QE_MODULE") or ""


class RedisServer:
    def __init__(self, tmpdir, port=None, appendonly=False):
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=tmpdir)
        self.port = port or free_port()
        self.appendonly = appendonly
        self.proc = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
             "--dir", self.dir] + (["--loadmodule", QE_MODULE] if QE_MODULE else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            try:
                c = Resp(self.port, timeout=0.5)
                try:
                    return c("PING") == "PONG"
                finally:
                    c.close()
            except (OSError, RedisError):  # not listening yet, or LOADING the AOF
                return False
        wait_until(up, 10, "redis-server to answer PING")
        return self

    def stop(self, graceful=False):
        if self.proc and self.proc.poll() is None:
            if graceful:
                self.proc.terminate()
            else:
                self.proc.kill()
            self.proc.wait()
        self.proc = None

    def client(self):
        return Resp(self.port)


# --- processes ---------------------------------------------------------------

class Proc:
    """A child process with its stderr in a log file."""

    def __init__(self, name, argv, env, tmpdir):
        self.name = name
        self.log_path = os.path.join(tmpdir, "%s.log" % name)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=self.log,
                                     cwd=ROOT)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout=30):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class Fake:
    """A Node fake from tests/fakes/, with helpers for its control routes."""

    def __init__(self, script, tmpdir, config=None):
        argv = ["node", os.path.join(FAKES, script), "--port", "0"]
        if config:
            argv += ["--config", json.dumps(config)]
        self.name = script
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(tmpdir, script + ".log"), "ab"))
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("LISTENING "):
            raise RuntimeError("%s did not start: %r" % (script, line))
        self.port = int(line.split()[1])

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def ctl(self, method, path, body=None):
        status, _, data = request("127.0.0.1", self.port, method, path,
                                  json.dumps(body).encode() if body is not None else None,
                                  {"Content-Type": "application/json"})
        if status >= 400:
            raise AssertionError("%s %s -> %d %s" % (method, path, status, data[:200]))
        return json.loads(data) if data else None

    def requests(self, path=None):
        q = "?path=" + urllib.parse.quote(path) if path else ""
        return self.ctl("GET", "/_fake/requests" + q)

    def wait(self, path, count=1, timeout_ms=10000, since=None):
        q = "/_fake/wait?path=%s&count=%d&timeout_ms=%d" % (urllib.parse.quote(path), count,
                                                           timeout_ms)
        if since is not None:
            q += "&since=%d" % since
        return self.ctl("GET", q)

    def reset(self):
        return self.ctl("POST", "/_fake/reset", {})

    def fault(self, **spec):
        return self.ctl("POST", "/_fake/faults", spec)

    def config(self, **cfg):
        return self.ctl("POST", "/_fake/config", cfg)

    def script(self, responses):
        return self.ctl("POST", "/_fake/script", {"responses": responses})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def request(host, port, method, path, body=None, headers=None, timeout=10):
    """One HTTP request; returns (status, {lowercased header: value}, body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def slack_headers(secret, body, ts=None, content_type="application/json"):
    ts = str(int(time.time()) if ts is None else ts)
    if isinstance(body, str):
        body = body.encode()
    sig = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body,
                           hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
            "Content-Type": content_type}


class Stack:
    """Owns a temporary directory and every process started through it."""

    def __init__(self, docket="haink"):
        self.tmp = tempfile.mkdtemp(prefix="haink-test-")
        self.secret = "test-signing-secret"
        self.docket = docket
        self.procs = []
        self.fakes = []
        self.rs = None
        self.r = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for p in self.procs:
            with contextlib.suppress(Exception):
                p.kill9() if p.alive() else None
                p.log.close()
        for f in self.fakes:
            f.stop()
        if self.r:
            self.r.close()
        if self.rs:
            self.rs.stop()
        if os.environ.get("KEEP_TMP"):
            sys.stderr.write("kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # redis
    def redis(self, appendonly=False):
        self.rs = RedisServer(self.tmp, appendonly=appendonly).start()
        self.r = self.rs.client()
        return self.rs

    def redis_restart(self, down_s=0.0, graceful=False):
        if self.r:
            self.r.close()
        self.rs.stop(graceful=graceful)
        time.sleep(down_s)
        self.rs.start()
        self.r = self.rs.client()

    @property
    def stream(self):
        return "docket:{%s}:tasks" % self.docket

    def fake(self, script, config=None):
        f = Fake(script, self.tmp, config)
        self.fakes.append(f)
        return f

    def base_env(self, **extra):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "REDIS_URL": self.rs.url if self.rs else "redis://127.0.0.1:1/0",
               "DOCKET_NAME": self.docket, "LOG_LEVEL": "debug", "LOG_FORMAT": "json",
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=1"),
               "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS", "print_stacktrace=1")}
        env.update({k: str(v) for k, v in extra.items() if v is not None})
        return env

    def api(self, **extra):
        port = free_port()
        extra.setdefault("API_METRICS_PORT", free_port())
        extra.setdefault("API_THREADS", 4)
        env = self.base_env(PORT=port, SLACK_SIGNING_SECRET=self.secret, **extra)
        p = Proc("api-%d" % len(self.procs), [os.path.join(BIN, "haink-api")], env, self.tmp)
        p.port = port
        p.metrics_port = int(env["API_METRICS_PORT"])
        self.procs.append(p)

        def up():
            if not p.alive():
                raise AssertionError("haink-api exited: " + p.output()[-2000:])
            try:
                return request("127.0.0.1", port, "GET", "/healthz", timeout=1)[0] == 200
            except OSError:
                return False
        wait_until(up, 10, "haink-api /healthz")
        return p

    def worker(self, args=("run",), wait_healthy=True, **extra):
        port = free_port()
        env = self.base_env(METRICS_PORT=port, **extra)
        p = Proc("worker-%d" % len(self.procs), [os.path.join(BIN, "haink-worker")] + list(args),
                 env, self.tmp)
        p.port = port
        self.procs.append(p)
        if wait_healthy:
            def up():
                if not p.alive():
                    raise AssertionError("haink-worker exited: " + p.output()[-2000:])
                try:
                    return request("127.0.0.1", port, "GET", "/healthz", timeout=1)[0] == 200
                except OSError:
                    return False
            wait_until(up, 15, "haink-worker /healthz")
        return p

    def run_worker(self, *args, timeout=60, **extra):
        """Runs a haink-worker verb to completion; returns (code, stdout, stderr)."""
        env = self.base_env(**extra)
        cp = subprocess.run([os.path.join(BIN, "haink-worker")] + list(args), env=env,
                            capture_output=True, timeout=timeout, cwd=ROOT)
        return cp.returncode, cp.stdout.decode(errors="replace"), cp.stderr.decode(errors="replace")

    # slack requests to the api
    def post_signed(self, api, path, body, content_type="application/json", ts=None,
                    headers=None, timeout=10):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        h = slack_headers(self.secret, body, ts, content_type)
        h.update(headers or {})
        return request("127.0.0.1", api.port, "POST", path, body, h, timeout=timeout)

    def post_event(self, api, payload, **kw):
        return self.post_signed(api, "/slack/events", payload, **kw)


def slack_blocks(msg):
    """The blocks of a fake-Slack message (stored as a list or a JSON string)."""
    blocks = msg.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def feedback_answer_id(msg):
    """The answer id a message's feedback control names (a final answer), else None:
    Slack's native feedback_buttons (values helpful:<id> / not_helpful:<id>) or both
    classic buttons (value <id>). msg: a stored message or a request's JSON."""
    try:
        blocks = slack_blocks(msg)
    except ValueError:
        return None
    for b in blocks:
        if not isinstance(b, dict):
            continue
        els = b.get("elements") or []
        if b.get("type") == "context_actions":
            for el in els:
                if el.get("type") == "feedback_buttons":
                    up = el["positive_button"]["value"]
                    down = el["negative_button"]["value"]
                    if up.startswith("helpful:") and down == "not_" + up:
                        return up[len("helpful:"):]
        if b.get("type") == "actions":
            vals = {el.get("action_id"): el.get("value") for el in els}
            if vals.get("feedback_helpful") and \
                    vals.get("feedback_helpful") == vals.get("feedback_not_helpful"):
                return vals["feedback_helpful"]
    return None


def has_buttons(msg):
    """True when a message carries its feedback control (a final answer)."""
    return feedback_answer_id(msg) is not None


def blocks_text(msg):
    """Everything a person would read in a message: its blocks and fallback text."""
    return json.dumps(slack_blocks(msg)) + (msg.get("text") or "")


def fake_llm_env(slack, llm, dim, **extra):
    """Worker environment pointing at the Slack and OpenAI fakes (LLM path, not offline)."""
    env = dict(SLACK_BOT_TOKEN="xoxb-test", SLACK_API_URL=slack.base + "/api",
               LLM_PROVIDER="openai", OPENAI_API_KEY="sk-test",
               OPENAI_BASE_URL=llm.base + "/v1", CHAT_MODEL="gpt-4o-mini",
               EMBEDDING_MODEL="text-embedding-3-small", EMBEDDING_DIM=dim,
               VECTOR_BACKEND="local", WORKER_CONCURRENCY=2, SHUTDOWN_GRACE_S=15)
    env.update(extra)
    return env


def app_mention(event_id, text="<@UBOT> what is haink?", channel="C100", user="U200",
                ts="1700000000.000100", thread_ts=None, team="T300"):
    ev = {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel,
          "event_ts": ts}
    if thread_ts:
        ev["thread_ts"] = thread_ts
    return {"token": "x", "team_id": team, "api_app_id": "A1", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()), "event": ev,
            "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}]}
