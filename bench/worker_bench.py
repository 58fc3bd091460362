#!/usr/bin/env python3
"""Worker part of `make bench` (issue 4): tasks/s through
API -> stream -> worker -> Slack, and the queue wait (enqueue -> pickup).

Everything is real except the outside world: redis-server, haink-api and
haink-worker binaries from BUILD_DIR, the Node fakes for Slack and the
OpenAI-compatible API (tests/fakes/). Events are signed Slack app_mention
events with unique event_ids and unique threads, sent by bench_worker
(bench/bench_worker.c) through the real API.

Measurements, per run:
- tasks/s end to end = tasks answered / (last final chat.update recorded by
  fake Slack - first event accepted by the API). Burst runs send every event
  as fast as the API takes them, so this is the pipeline's capacity.
- queue wait = the worker's haink_queue_wait_seconds histogram (enqueued_ms,
  the API's wall clock at XADD, to the moment a worker thread decoded the
  entry; both clocks are whole milliseconds). It is measured in separate
  paced runs below capacity (a queue wait under saturation is only backlog).
  p50/p99 are histogram bucket bounds; "0 ms share" is the share of tasks
  whose whole-ms difference was 0, and the mean (sum / count) is unbiased
  despite the ms rounding.
- CPU seconds per wall second of every process, so a saturated fake or
  Redis is visible rather than mistaken for the worker's limit.

Exit 1 only on a broken run (an event not accepted, a task not answered
exactly once, a process dying); a missed target prints MISSED.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from haink import Stack, fake_llm_env, request  # noqa: E402

BUILD = os.path.join(ROOT, os.environ.get("BUILD_DIR", "build"))
SENDER = os.path.join(BUILD, "bin", "bench_worker")
KB = os.path.join(ROOT, "tests", "e2e", "kb")
TICK = os.sysconf("SC_CLK_TCK")
N_BURST = int(os.environ.get("BENCH_WORKER_TASKS", "10000"))
N_FULL = int(os.environ.get("BENCH_WORKER_FULL_TASKS", "3000"))
RATE_PACED = float(os.environ.get("BENCH_WORKER_PACED_RATE", "500"))
N_PACED = int(os.environ.get("BENCH_WORKER_PACED_TASKS", "3000"))
CONC = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "16"))
LOG_LEVEL = os.environ.get("BENCH_WORKER_LOG_LEVEL", "info")
DIM = 256  # embedding dimension for the full-agent rows

# one agent, no tools: one LLM call per task (the "pipeline" rows)
PIPELINE_AGENTS = {"agents": [{"id": "default", "name": "Bench", "default": True, "tools": [],
                               "instructions": "You answer questions briefly."}]}


class Broken(Exception):
    pass


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return int(parts[11]) + int(parts[12])
    except OSError:
        return 0


def busy_ticks():
    """Busy jiffies of the whole machine (every CPU)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]  # all but idle and iowait


def own_cpu():
    """CPU seconds of this script and its reaped children (the sender)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def metrics(port):
    """Parses a /metrics page into {(name, labels): value}."""
    status, _, body = request("127.0.0.1", port, "GET", "/metrics", timeout=5)
    if status != 200:
        raise Broken("worker /metrics answered %d" % status)
    out = {}
    for line in body.decode().splitlines():
        if not line or line[0] == "#":
            continue
        key, _, val = line.rpartition(" ")
        name, _, labels = key.partition("{")
        out[(name, labels.rstrip("}"))] = float(val)
    return out


def summed(ms, name, labels=""):
    return sum(m.get((name, labels), 0.0) for m in ms)


def queue_wait(ms):
    """(p50 bound, p99 bound, zero-ms share, mean s, count) from the histogram."""
    name = "haink_queue_wait_seconds"
    buckets = {}
    for m in ms:
        for (n, lbl), v in m.items():
            if n == name + "_bucket":
                le = lbl.split('le="')[1].rstrip('"')
                buckets[le] = buckets.get(le, 0.0) + v
    count = summed(ms, name + "_count")
    total = summed(ms, name + "_sum")
    if not count:
        return None
    bounds = sorted(((float("inf") if k == "+Inf" else float(k)), v) for k, v in buckets.items())

    def pct(p):
        for le, cum in bounds:
            if cum >= p * count:
                return le
        return float("inf")
    zero = bounds[0][1] / count if bounds and bounds[0][0] <= 0.0005 else 0.0
    return pct(0.50), pct(0.99), zero, total / count, count


def fmt_bound(s):
    if s == float("inf"):
        return "> 10 s"
    return "<= %g ms" % (s * 1000)


class Bench:
    def __init__(self):
        self.st = Stack()
        try:
            self.st.redis()
            self.slack = self.st.fake("fake_slack.js", {"validate_blocks": False})
            self.llm = self.st.fake("fake_openai.js", {"embedding_dim": DIM})
            self.api = self.st.api(LOG_LEVEL="warn", STREAM_MAXLEN=1000000000)  # API_THREADS 4
        except Exception:
            self.st.close()  # never leave the fakes running
            raise
        self.agents_file = os.path.join(self.st.tmp, "agents.json")
        with open(self.agents_file, "w") as f:
            json.dump(PIPELINE_AGENTS, f)
        self.rows = []
        self.runs = 0

    def close(self):
        self.st.close()

    def worker_env(self, full, conc, streaming="off"):
        # the throughput rows measure the pipeline as before: the answer in one edit
        env = fake_llm_env(self.slack, self.llm, DIM, WORKER_CONCURRENCY=conc,
                           LOG_LEVEL=LOG_LEVEL, MAX_ATTEMPTS=5, SLACK_STREAMING=streaming)
        if not full:
            env.update(AGENTS_FILE=self.agents_file, MEMORY_TOP_K=0, MEMORY_STORE_TURNS="false")
        return env

    def reset(self, full):
        self.st.r("FLUSHALL")
        self.slack.reset()
        self.llm.reset()
        if full:
            env = self.worker_env(True, 1)
            code, _, err = self.st.run_worker("ingest", KB, "--source-url",
                                              "https://docs.example.com/kb", **env)
            if code != 0:
                raise Broken("ingest failed: " + err[-500:])
            self.llm.reset()

    def run(self, label, full, procs, conc, n, rate=0.0, llm_ms=0):
        """One run; returns a result dict."""
        self.reset(full)
        self.llm.config(latency_ms=llm_ms)
        workers = [self.st.worker(**self.worker_env(full, conc)) for _ in range(procs)]
        watched = {"worker": [w.proc.pid for w in workers], "api": [self.api.proc.pid],
                   "redis": [self.st.rs.proc.pid], "slack": [self.slack.proc.pid],
                   "llm": [self.llm.proc.pid]}
        t0 = {k: sum(cpu_ticks(p) for p in v) for k, v in watched.items()}
        b0, d0 = busy_ticks(), own_cpu()
        w0 = time.monotonic()
        self.runs += 1
        env = dict(os.environ, BENCH_SECRET=self.st.secret, BENCH_RUN="r%d" % self.runs)
        conns = 8 if rate == 0 else max(4, min(64, int(rate / 100)))
        if llm_ms and rate == 0:
            conns = 4
        cp = subprocess.run([SENDER, "-p", str(self.api.port), "-n", str(n), "-c", str(conns),
                             "-r", str(rate)], env=env, capture_output=True, timeout=600)
        line = [x for x in cp.stdout.decode().splitlines() if x.startswith("RESULT ")]
        if cp.returncode != 0 or not line:
            raise Broken("bench_worker failed: " + cp.stderr.decode()[-500:])
        res = dict(kv.split("=") for kv in line[0].split()[1:])
        res = {k: int(v) for k, v in res.items()}
        if res["ok"] != n:
            raise Broken("%s: the API accepted %d of %d events (non-2xx %d, errors %d)" %
                         (label, res["ok"], n, res["non2xx"], res["errors"]))
        deadline = time.monotonic() + 60 + n * (llm_ms / 1000.0) * 3 / max(1, conc * procs)
        answered = 0.0
        while time.monotonic() < deadline:
            for w in workers:
                if not w.alive():
                    raise Broken("a worker exited during %s: %s" % (label, w.output()[-800:]))
            ms = [metrics(w.port) for w in workers]
            answered = summed(ms, "haink_tasks_total", 'outcome="answered"')
            if answered >= n:
                break
            time.sleep(0.05)
        w1 = time.monotonic()
        t1 = {k: sum(cpu_ticks(p) for p in v) for k, v in watched.items()}
        b1, d1 = busy_ticks(), own_cpu()
        ms = [metrics(w.port) for w in workers]
        for w in workers:
            code = w.stop()
            if code != 0:
                raise Broken("a worker exited %s on SIGTERM after %s" % (code, label))
        self.check_exactly_once(label, n, ms)
        last = self.slack.ctl("GET", "/_fake/requests?path=/api/chat.update&limit=1")
        end_us = last[-1]["ts_ms"] * 1000
        secs = (end_us - res["first_ok_us"]) / 1e6
        cpu = {k: (t1[k] - t0[k]) / TICK / (w1 - w0) for k in watched}
        cpu["driver"] = (d1 - d0) / (w1 - w0)
        # whatever else ran on the machine meanwhile (other benchmarks, builds)
        cpu["other"] = max(0.0, (b1 - b0) / TICK / (w1 - w0) - sum(cpu.values()))
        stats = self.slack.ctl("GET", "/_fake/stats")
        out = dict(label=label, full=full, procs=procs, conc=conc, n=n, rate=rate,
                   llm_ms=llm_ms, tps=n / secs, secs=secs,
                   send_tps=n / max(1e-6, (res["last_ok_us"] - res["start_us"]) / 1e6),
                   qw=queue_wait(ms), cpu=cpu,
                   updates=stats["by_path"].get("/api/chat.update", 0) / n,
                   llm_calls=summed(ms, "haink_llm_requests_total", 'outcome="ok"') / n)
        self.rows.append(out)
        return out

    def first_word(self, n, first_ms, token_ms):
        """Streamed answers: the fake LLM sends its first piece after first_ms, then 4
        characters every token_ms. Per task, from the placeholder post to the native
        stream's start with the first answer text (both as fake Slack recorded them), minus the time the
        fake takes to its first text piece (first_ms + token_ms): what the worker adds
        to the model's first-token time. Events paced at 10/s."""
        self.reset(False)
        self.llm.config(latency_ms=first_ms, stream_chunk_ms=token_ms)
        text = " ".join("token%d" % i for i in range(40))
        self.llm.script([{"content": text} for _ in range(n)])
        w = self.st.worker(**self.worker_env(False, 8, streaming="auto"))
        self.runs += 1
        env = dict(os.environ, BENCH_SECRET=self.st.secret, BENCH_RUN="r%d" % self.runs)
        cp = subprocess.run([SENDER, "-p", str(self.api.port), "-n", str(n), "-c", "2",
                             "-r", "10"], env=env, capture_output=True, timeout=120)
        if cp.returncode != 0:
            raise Broken("bench_worker failed: " + cp.stderr.decode()[-500:])
        deadline = time.monotonic() + 60 + n * 0.5
        while summed([metrics(w.port)], "haink_tasks_total", 'outcome="answered"') < n:
            if time.monotonic() > deadline or not w.alive():
                raise Broken("first word: not every task was answered")
            time.sleep(0.05)
        w.stop()
        posted = {r["json"]["thread_ts"]: r["ts_ms"]
                  for r in self.slack.requests("/api/chat.postMessage")}
        # the first answer text Slack shows: the native stream's start (chat.startStream
        # with the text so far), per thread
        first = {}
        for r in self.slack.requests("/api/chat.startStream"):
            j = r["json"]
            if j["thread_ts"] not in first and text.startswith(j.get("markdown_text") or "-"):
                first[j["thread_ts"]] = r["ts_ms"]
        # the fake sends the role chunk at first_ms and the first text token_ms later
        extra = sorted(first[t] - posted[t] - first_ms - token_ms for t in first)
        if len(extra) != n:
            raise Broken("first word: %d of %d answers were shown while written" % (len(extra), n))
        return extra

    def check_exactly_once(self, label, n, ms):
        answered = summed(ms, "haink_tasks_total", 'outcome="answered"')
        others = sum(v for (name, lbl), v in sum((list(m.items()) for m in ms), [])
                     if name == "haink_tasks_total" and lbl != 'outcome="answered"')
        msgs = self.slack.ctl("GET", "/_fake/messages")
        finals = [m for m in msgs if m.get("update_count", 0) >= 1]
        threads = {m.get("thread_ts") for m in finals}
        answers = self.st.r("DBSIZE")
        if answered != n or others or len(msgs) != n or len(finals) != n or len(threads) != n:
            raise Broken("%s: tasks lost or doubled: sent %d, answered %d, other outcomes %d, "
                         "Slack messages %d, final edits %d in %d threads (keys %d)" %
                         (label, n, answered, others, len(msgs), len(finals), len(threads),
                          answers))


def cpu_text(c):
    return "wrk %.2f api %.2f rds %.2f slk %.2f llm %.2f drv %.2f" % (
        c["worker"], c["api"], c["redis"], c["slack"], c["llm"], c["driver"])


def main():
    if not os.access(SENDER, os.X_OK):
        print("30_worker: %s is missing (make B=%s bench)" % (SENDER, os.path.basename(BUILD)))
        return 1
    load = open("/proc/loadavg").read().split()[:3]
    print("## Worker: API -> stream -> worker -> Slack (fakes), %d cores, load before %s" %
          (os.cpu_count(), " ".join(load)))
    print()
    print("pipeline = agent without tools, MEMORY_TOP_K=0, MEMORY_STORE_TURNS=false: per task "
          "1 placeholder post, 1 LLM call, 1 final edit, the Redis bookkeeping;")
    print("full = default agent: KB tool call (2 LLM calls + 1 query embedding), memory recall "
          "and turn storage (2 more embeddings), progress edit, history.")
    print("fake Slack validate_blocks=false; worker LOG_LEVEL=%s, default rate limits (each "
          "question its own thread, 1,000 askers); events sent by bench_worker over 8 "
          "keep-alive connections." % LOG_LEVEL)
    print("tasks/s = tasks / (last final chat.update at fake Slack - first event accepted). "
          "CPU = CPU s per wall s over the run: wrk all worker processes, drv the sender and "
          "this script; other load = the rest of the machine (anything else running).")
    print()
    b = Bench()
    status = 0
    try:
        # warm-up, not reported: Node's JIT and the connection pools
        b.run("warm-up", False, 1, CONC, 2000)
        b.rows = []
        r1 = b.run("pipeline, 1 proc", False, 1, CONC, N_BURST)
        r2 = b.run("pipeline, 2 procs", False, 2, CONC, N_BURST)
        q1 = b.run("pipeline, 1 proc, paced", False, 1, CONC, N_PACED, rate=RATE_PACED)
        q2 = b.run("pipeline, 2 procs, paced", False, 2, CONC, N_PACED, rate=RATE_PACED)
        f1 = b.run("full agent, 1 proc", True, 1, CONC, N_FULL)
        s1 = b.run("pipeline, LLM 1 s, conc 1", False, 1, 1, 5, llm_ms=1000)
        s16 = b.run("pipeline, LLM 1 s, conc 16", False, 1, 16, 80, llm_ms=1000)
        s64 = b.run("pipeline, LLM 1 s, conc 64", False, 1, 64, 384, llm_ms=1000)
        sf = b.run("full agent, LLM 1 s, conc 64", True, 1, 64, 192, llm_ms=1000)
        fw = b.first_word(40, 300, 20)
    except Broken as e:
        print("30_worker: BROKEN RUN: %s" % e)
        status = 1
    finally:
        b.close()
    if status:
        return status

    print("| run | conc/proc | tasks | sent as | tasks/s | edits/task | LLM calls/task | "
          "CPU of the stack (s/s) | other load (s/s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in b.rows:
        sent = "burst" if not r["rate"] else "%d/s" % r["rate"]
        tps = "%.0f" % r["tps"] if r["tps"] >= 100 else "%.1f" % r["tps"]
        print("| %s | %d | %d | %s | %s | %.1f | %.1f | %s | %.2f |" % (
            r["label"], r["conc"], r["n"], sent, tps, r["updates"], r["llm_calls"],
            cpu_text(r["cpu"]), r["cpu"]["other"]))
    print()
    print("| queue wait (enqueue -> pickup) | p50 | p99 | 0 ms share | mean | other load |")
    print("|---|---|---|---|---|---|")
    for r in (q1, q2):
        p50, p99, zero, mean, _ = r["qw"]
        print("| %s, %d/s | %s | %s | %.0f %% | %.2f ms | %.2f |" % (
            r["label"].replace(", paced", ""), r["rate"], fmt_bound(p50), fmt_bound(p99),
            zero * 100, mean * 1000, r["cpu"]["other"]))
    print()

    def target(ok, text):
        print("- %s: %s" % ("MET" if ok else "MISSED", text))
    target(q1["qw"][0] <= 0.0005,
           "queue-wait p50 under 1 ms (1 proc, paced): %s" % fmt_bound(q1["qw"][0]))
    target(r1["tps"] >= 1000, ">= 1,000 tasks/s end to end, 1 worker process (pipeline): %.0f"
           % r1["tps"])
    pick = lambda q: fw[min(len(fw) - 1, int(q * len(fw)))]  # noqa: E731
    print("| first visible word (SLACK_STREAMING=auto), after the model's first token | p50 | "
          "p99 | max |")
    print("|---|---|---|---|")
    print("| placeholder post -> chat.startStream with the first answer text, minus the fake's "
          "320 ms to its first text | "
          "%d ms | %d ms | %d ms |" % (pick(0.5), pick(0.99), fw[-1]))
    print()
    target(pick(0.5) <= 20, "first visible word within 20 ms of the model's first token "
           "(p50): %d ms" % pick(0.5))
    target(s64["tps"] >= 55, ">= 55 tasks/s at 64 threads with a 1 s LLM (pipeline): %.1f"
           % s64["tps"])
    print("(full agent rows are for information: %.0f tasks/s with instant fakes; %.1f tasks/s "
          "at 64 threads with 2 LLM calls of 1 s each, bound 32/s)" % (f1["tps"], sf["tps"]))
    del r2, s1, s16
    return 0


if __name__ == "__main__":
    sys.exit(main())
