#!/usr/bin/env python3
"""make soak: the real haink-api and haink-worker binaries, a real redis-server
(AOF, fsync always) and the Slack and OpenAI fakes, under faults:

- questions arrive like Slack sends them (a 503 is retried with the same
  event id and X-Slack-Retry-Num, as Slack does);
- one of two workers is killed with SIGKILL every few seconds and replaced;
- Redis is killed and restarted once in the middle;
- the model answers 500 in short bursts, Slack answers 429 in bursts.

Then it checks what a user would see: every question answered exactly once
(one message per thread, carrying the feedback buttons; no orphan "Thinking…",
no apology), nothing dead-lettered, nothing pending, the queue drained.

    SOAK_QUESTIONS=500 python3 tests/soak/soak.py   (make soak; CI runs a short form)

Ends with "N passed, N failed" (one line per check above). Bounded in time:
every wait has a deadline.
"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from haink import (Stack, app_mention, fake_llm_env, feedback_answer_id, has_buttons,  # noqa: E402
                   wait_until)

N = int(os.environ.get("SOAK_QUESTIONS", "500"))
SEED = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
KILL_EVERY_S = float(os.environ.get("SOAK_KILL_EVERY_S", "2"))
# questions are spread over this long, so the faults land among them
SECONDS = float(os.environ.get("SOAK_SECONDS", str(max(20.0, N / 8.0))))
DOCKET = "soak"

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + name, flush=True)
    else:
        failed += 1
        print("not ok - %s %s" % (name, detail), flush=True)


def answer_ids(body):
    """The answer ids on a request's feedback control (none: not a final answer)."""
    aid = feedback_answer_id(body)
    return {aid} if aid else set()


def main():
    rng = random.Random(SEED)
    print("soak: %d questions, seed %d" % (N, SEED), flush=True)
    t0 = time.monotonic()
    with Stack(docket=DOCKET) as st:
        st.redis(appendonly=True)
        slack = st.fake("fake_slack.js")
        llm = st.fake("fake_openai.js")
        api = st.api()
        env = fake_llm_env(slack, llm, 64, WORKER_CONCURRENCY=4, REDELIVERY_TIMEOUT_MS=2000,
                           RETRY_BASE_MS=100, MAX_ATTEMPTS=10, MEMORY_TOP_K=0,
                           MEMORY_STORE_TURNS="false", ANSWERS_PER_THREAD_HOUR=0,
                           ANSWERS_PER_USER_HOUR=0, SHUTDOWN_GRACE_S=5, LOG_LEVEL="warn")
        workers = [st.worker(**env), st.worker(**env)]
        stop = threading.Event()
        lock = threading.Lock()
        stats = {"kills": 0, "posts": 0, "retries503": 0, "gave_up": []}

        def event(i):
            return app_mention("EvSoak%05d" % i, text="<@UBOT> soak question %d" % i,
                               channel="CS%05d" % i, user="US%05d" % i,
                               ts="1700100000.%06d" % i)

        def post_all():
            for i in range(N):
                deadline = time.monotonic() + 60
                tries = 0
                while True:
                    hdrs = {"X-Slack-Retry-Num": str(tries)} if tries else None
                    try:
                        status = st.post_event(api, event(i), headers=hdrs)[0]
                    except OSError:
                        status = 0
                    with lock:
                        stats["posts"] += 1
                    if status == 200:
                        break
                    tries += 1
                    with lock:
                        stats["retries503"] += 1
                    if time.monotonic() > deadline:
                        with lock:
                            stats["gave_up"].append(i)
                        break
                    time.sleep(0.2)
                time.sleep(rng.uniform(0.5, 1.5) * SECONDS / N)

        def chaos():
            burst = 0
            while not stop.is_set():
                if stop.wait(KILL_EVERY_S):
                    return
                k = rng.randrange(len(workers))
                workers[k].kill9()
                workers[k] = st.worker(wait_healthy=False, **env)
                with lock:
                    stats["kills"] += 1
                # fault bursts while questions arrive; once they are all in, only the kills
                # go on: a burst every 4 s aimed at the last one or two retried questions
                # alone would fail their every attempt until MAX_ATTEMPTS (a dead letter for
                # a model that was down for minutes, which is right, but not this test)
                if not poster.is_alive():
                    continue
                burst += 1
                if burst % 2 == 0:
                    llm.fault(path="/v1/chat/completions", status=500, count=3)
                else:
                    slack.fault(path="/api/chat.update", status=429, retry_after=0, count=3)

        poster = threading.Thread(target=post_all)
        chaos_t = threading.Thread(target=chaos)
        poster.start()
        chaos_t.start()
        # Redis dies and comes back while questions are flowing
        wait_until(lambda: stats["posts"] >= N // 2, 120, "half the questions posted")
        st.redis_restart(down_s=1.0)
        poster.join(timeout=600)
        check("every question accepted by the API (503s retried like Slack)",
              not poster.is_alive() and not stats["gave_up"], stats["gave_up"][:10])

        def answered():
            try:
                return st.r("XLEN", st.stream) is not None and \
                    st.r("XPENDING", st.stream, "workers")[0] == 0 and \
                    st.r("ZCARD", "docket:{%s}:scheduled" % DOCKET) == 0 and \
                    all_threads_done()
            except Exception:
                return False

        def all_threads_done():
            msgs = slack.ctl("GET", "/_fake/messages")
            done = {m["channel"] for m in msgs if has_buttons(m)}
            return len(done) >= N

        try:
            wait_until(answered, 300, "every question answered and the queue drained")
        except AssertionError as e:
            print("soak: " + str(e), flush=True)
        stop.set()
        chaos_t.join(timeout=30)
        # one stable worker finishes anything the last kill left behind
        for w in workers:
            w.kill9()
        st.worker(**env)
        try:
            wait_until(answered, 60, "drained after the chaos")
        except AssertionError:
            pass

        msgs = slack.ctl("GET", "/_fake/messages")
        by_channel = {}
        for m in msgs:
            by_channel.setdefault(m["channel"], []).append(m)
        want = {"CS%05d" % i for i in range(N)}
        missing = sorted(want - {c for c, v in by_channel.items() if any(has_buttons(m) for m in v)})
        check("every question answered", not missing, "%d unanswered, e.g. %s" % (len(missing), missing[:5]))
        extra = {c: len(v) for c, v in by_channel.items() if len(v) != 1}
        check("exactly one message per question (no second answer, no orphan placeholder)",
              not extra, json.dumps(dict(list(extra.items())[:5])))
        for c in list(extra)[:2]:  # what the extra messages are, to tell the causes apart
            for m in by_channel[c]:
                print("  %s ts %s buttons %s stream %s metadata %s updates %s text %r" % (
                    c, m["ts"], has_buttons(m), (m.get("stream") or {}).get("state"),
                    bool(m.get("metadata")), m.get("update_count"), (m.get("text") or "")[:60]))
            print("  task state: %s" % st.r.hgetall("task:{%s}:EvSoak%s" % (DOCKET, c[2:])))
        finals = sum(1 for v in by_channel.values() for m in v if has_buttons(m))
        check("exactly %d final answers" % N, finals == N, "got %d" % finals)
        # what Slack was sent, not only what it shows: every request that carried a final
        # answer (a 429-refused one included), per thread, names one answer id (a second run
        # that answered again would show a second id even when it edited the same message)
        sent = {}
        for path in ("/api/chat.update", "/api/chat.postMessage"):
            for rq in slack.requests(path):
                body = rq.get("json") or {}
                ids = answer_ids(body)
                if ids:
                    sent.setdefault(body.get("channel"), set()).update(ids)
        multi = {c: sorted(v) for c, v in sent.items() if len(v) != 1}
        check("one answer id per thread in every final answer sent to Slack",
              not multi and set(sent) == want,
              "%d threads with several, %d with none: %s" %
              (len(multi), len(want - set(sent)), json.dumps(dict(list(multi.items())[:3]))))
        answers = len(st.r("KEYS", "answer:*"))
        check("exactly %d answer records" % N, answers == N, "got %d" % answers)
        dead = st.r("XLEN", "docket:{%s}:dead" % DOCKET)
        check("nothing dead-lettered", dead == 0, "%s dead" % dead)
        for _, f in (st.r.xrange("docket:{%s}:dead" % DOCKET) if dead else [])[:3]:
            print("  dead: %s attempt %s: %s" % (f.get("id"), f.get("attempt"), f.get("error")))
        pend = st.r("XPENDING", st.stream, "workers")[0]
        check("nothing pending", pend == 0, "%s pending" % pend)
        groups = st.r("XINFO", "GROUPS", st.stream)
        lag = None
        for g in groups:
            d = dict(zip(g[::2], g[1::2]))
            if d.get("name") == "workers":
                lag = d.get("lag")
        check("queue drained (lag 0)", lag in (0, None), "lag %s" % lag)
        states = [st.r("HGET", "task:{%s}:EvSoak%05d" % (DOCKET, i), "state") for i in range(N)]
        check("every task state 'answered'", all(s == "answered" for s in states),
              "%d not answered" % sum(1 for s in states if s != "answered"))
        print("soak: %d kills, one Redis restart, %d posts (%d retried after 503), %.0f s" %
              (stats["kills"], stats["posts"], stats["retries503"], time.monotonic() - t0),
              flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
