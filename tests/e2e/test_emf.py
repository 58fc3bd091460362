"""End-to-end check of the queue-metrics publisher (worker/queue/emf.c) through the
real haink-worker binary: with QUEUE_METRICS_EMF set, of two `run` processes
exactly one (the holder of the Redis lease) writes CloudWatch Embedded Metric
Format lines, with the queue's figures; its clean stop releases the lease.
"""
import json

from haink import Stack, wait_until


def _emf_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and '"_aws"' in line:
            out.append(json.loads(line))
    return out


def test_one_of_two_workers_publishes_emf_and_releases_on_stop():
    with Stack(docket="e2e-emf") as st:
        st.redis()
        a = st.worker(LLM_PROVIDER="offline", WORKER_CONCURRENCY=1, QUEUE_METRICS_EMF="true")
        b = st.worker(LLM_PROVIDER="offline", WORKER_CONCURRENCY=1, QUEUE_METRICS_EMF="true")
        key = "docket:{e2e-emf}:emf-leader"
        holder = wait_until(lambda: st.r("GET", key), 15, "an EMF lease holder")
        pid = int(holder.split(":")[1])
        leader, other = (a, b) if pid == a.proc.pid else (b, a)
        assert pid == leader.proc.pid, (holder, a.proc.pid, b.proc.pid)

        lines = wait_until(lambda: _emf_lines(leader.output()), 15, "an EMF line from the lease holder")
        line = lines[0]
        directive = line["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "Haink"
        assert directive["Dimensions"] == [["Docket"]]
        names = {m["Name"] for m in directive["Metrics"]}
        assert {"QueueDepth", "Pending", "StreamLength", "OldestPendingAgeSeconds",
                "DeadLetters"} <= names, names
        assert line["Docket"] == "e2e-emf"
        assert line["QueueDepth"] == 0 and line["Pending"] == 0, line
        assert isinstance(line["_aws"]["Timestamp"], int)
        # the other worker holds no lease, so it never publishes
        assert _emf_lines(other.output()) == [], other.output()[-2000:]
        assert st.r("GET", key) == holder

        leader.stop()
        wait_until(lambda: st.r("GET", key) is None, 10, "the lease released on a clean stop")
        assert other.alive()
