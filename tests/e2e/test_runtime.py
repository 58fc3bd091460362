"""End-to-end checks of the queue runtime through the real haink-worker binary:
undecodable entries are dead-lettered (never lost, never a crash), the dlq,
stats and healthcheck verbs, /metrics queue gauges, and a clean SIGTERM stop.

The answering path (LLM, Slack) is covered by test_answer.py; here no task
reaches the handler, so no fakes are needed.
"""
import json
import signal

from haink import RedisServer, Stack, free_port, request, wait_until


def _json_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def test_malformed_entries_dead_letter_and_dlq_verbs():
    with Stack(docket="e2e-rt") as st:
        st.redis()
        w = st.worker(LLM_PROVIDER="offline", WORKER_CONCURRENCY=2)
        dead = "docket:{e2e-rt}:dead"
        st.r("XADD", st.stream, "*", "foo", "bar")
        st.r("XADD", st.stream, "*", "type", "question")  # no id
        wait_until(lambda: st.r("XLEN", dead) == 2, 10, "two dead-letter entries")
        wait_until(lambda: st.r("XPENDING", st.stream, "workers")[0] == 0, 10, "nothing pending")
        assert w.alive(), w.output()[-2000:]

        entries = st.r.xrange(dead)
        # two task threads: the two entries may be dead-lettered in either order
        dead_id, fields = [e for e in entries if "foo" in e[1]][0]
        assert fields["foo"] == "bar"
        assert "no type" in fields["error"], fields
        assert int(fields["failed_ms"]) > 0
        assert fields["stream_id"].count("-") == 1

        code, out, err = st.run_worker("dlq", "list")
        assert code == 0, err
        assert "2 dead-letter entries" in out, out
        assert "task has no id field" in out, out
        assert dead_id in out

        code, out, err = st.run_worker("dlq", "replay", "1-1")
        assert code == 1 and "no dead-letter entry 1-1" in err, (code, err)
        code, out, err = st.run_worker("dlq", "replay", "nonsense")
        assert code == 2, (code, err)
        code, out, err = st.run_worker("dlq")
        assert code == 2, (code, err)

        # replaying puts it back on the stream; still undecodable, so it comes back dead
        code, out, err = st.run_worker("dlq", "replay", dead_id)
        assert code == 0 and "replayed " + dead_id in out, (code, out, err)
        wait_until(lambda: any(e[1].get("replayed") == dead_id for e in st.r.xrange(dead)),
                   10, "the replayed entry dead again")
        assert st.r("XLEN", dead) == 2

        code, out, err = st.run_worker("stats", "--days", "2")
        assert code == 0, err
        assert "dead-letter 2" in out, out
        today = [ln for ln in out.splitlines() if ln[:4].isdigit()][0].split()
        assert int(today[4]) >= 3, out  # DEAD column: two, then the replay
        code, out, err = st.run_worker("stats", "--days", "zero")
        assert code == 2

        code, out, err = st.run_worker("dlq", "purge")
        assert code == 0 and "purged 2 dead-letter entries" in out, (out, err)
        assert st.r("XLEN", dead) == 0

        w.signal(signal.SIGTERM)
        code = w.wait(30)
        assert code == 0, (code, w.output()[-2000:])


def test_dlq_replay_all_replays_what_is_dead_now_once():
    """`dlq replay --all` with a worker running: entries that fail again are
    dead-lettered anew and are not replayed once more by the same call (it
    would go round for ever with a poison task)."""
    with Stack(docket="e2e-rt-all") as st:
        st.redis()
        w = st.worker(LLM_PROVIDER="offline", WORKER_CONCURRENCY=2)
        dead = "docket:{e2e-rt-all}:dead"
        for k in range(3):
            st.r("XADD", st.stream, "*", "type", "question", "n", str(k))  # no id: undecodable
        wait_until(lambda: st.r("XLEN", dead) == 3, 10, "three dead-letter entries")
        first = {e[0] for e in st.r.xrange(dead)}

        code, out, err = st.run_worker("dlq", "replay", "--all")
        assert code == 0 and "replayed 3 dead-letter entries" in out, (code, out, err)

        def dead_again():
            entries = st.r.xrange(dead)
            return len(entries) == 3 and all(e[1].get("replayed") in first for e in entries) \
                and entries
        entries = wait_until(dead_again, 10, "each replayed entry dead once more")
        assert not first & {e[0] for e in entries}
        code, out, err = st.run_worker("dlq", "replay", "--all")
        assert code == 0 and "replayed 3 dead-letter entries" in out, (code, out, err)
        w.signal(signal.SIGTERM)
        assert w.wait(30) == 0, w.output()[-2000:]


def test_liveness_from_start_readiness_follows_redis():
    """The health server is up before Redis is: liveness passes (no restart loop),
    readiness says Redis is unreachable until it comes, then passes."""
    with Stack(docket="e2e-rt-live") as st:
        port = free_port()
        w = st.worker(wait_healthy=False, LLM_PROVIDER="offline", WORKER_CONCURRENCY=1,
                      REDIS_URL="redis://127.0.0.1:%d/0" % port)

        def answers(path):
            try:
                return request("127.0.0.1", w.port, "GET", path, timeout=2)
            except OSError:
                return None
        live = wait_until(lambda: answers("/livez"), 10, "/livez while Redis is down")
        assert live[0] == 200, live
        code, out, err = st.run_worker("healthcheck", METRICS_PORT=w.port)
        assert code == 0, (code, out, err)
        ready = answers("/readyz")
        assert ready[0] == 503 and json.loads(ready[2])["redis"] == "unreachable", ready
        assert answers("/healthz")[0] == 503
        # Redis arrives on that port: the worker becomes ready without a restart
        rs = RedisServer(st.tmp, port=port).start()
        try:
            wait_until(lambda: (answers("/readyz") or [0])[0] == 200, 20, "/readyz after Redis")
        finally:
            w.signal(signal.SIGTERM)
            w.wait(30)
            rs.stop()


def test_health_metrics_and_sigterm():
    with Stack(docket="e2e-rt2") as st:
        st.redis()
        st.r("XGROUP", "CREATE", st.stream, "workers", "0", "MKSTREAM")
        w = st.worker(LLM_PROVIDER="offline", WORKER_CONCURRENCY=1)

        code, out, err = st.run_worker("healthcheck", METRICS_PORT=w.port)
        assert code == 0 and out.strip() == "ok", (code, out, err)
        # readiness names each check; liveness and readiness both pass once running
        for path in ("/healthz", "/readyz", "/livez"):
            status, _, body = request("127.0.0.1", w.port, "GET", path)
            doc = json.loads(body)
            assert status == 200 and doc["status"] == "ok", (path, status, body)
            assert doc["redis"] == "ok" and doc["kb"] == "ok" and doc["threads"] == "ok", doc

        def gauges():
            status, _, body = request("127.0.0.1", w.port, "GET", "/metrics")
            text = body.decode() if isinstance(body, bytes) else body
            return status == 200 and "haink_queue_depth 0\n" in text and \
                "haink_queue_pending 0\n" in text and text
        text = wait_until(gauges, 10, "queue gauges on /metrics")
        assert "haink_tasks_dead_total" in text

        w.signal(signal.SIGTERM)
        code = w.wait(30)
        assert code == 0, (code, w.output()[-2000:])
        msgs = [ln.get("msg") for ln in _json_lines(w.output())]
        assert "worker started" in msgs, msgs
        assert "worker stopped" in msgs, msgs

        # nothing listens any more: the healthcheck fails
        code, out, err = st.run_worker("healthcheck", METRICS_PORT=w.port)
        assert code == 1, (code, out, err)
        code, out, err = st.run_worker("healthcheck", METRICS_PORT=0)
        assert code == 2, (code, out, err)
