"""Nothing acknowledged is lost, a given-up question can be asked again: the
real haink-api and haink-worker with a real redis-server and the fakes.

- STREAM_MAXLEN caps the backlog without deleting work: past the cap the API
  answers 503 (Slack retries), and every event that got a 200, or was retried
  after a 503, is answered exactly once (wave 1 trimmed unread entries with
  MAXLEN ~ and their seen marks made Slack's retries duplicates).
- `dlq replay` runs a dead-lettered question again with a fresh attempt
  budget and it is answered once (wave 1 only acknowledged the replayed entry,
  because the task state was final under the same id); `dlq replay --all`.
"""
import json
import signal
import threading

from haink import Stack, app_mention, fake_llm_env, has_buttons, wait_until


def _answered(st, ids):
    return [i for i in ids
            if st.r("HGET", "task:{%s}:%s" % (st.docket, i), "state") == "answered"]


def test_backlog_cap_refuses_with_503_and_loses_nothing():
    n = 150
    with Stack(docket="e2e-backlog") as st:
        st.redis()
        api = st.api(STREAM_MAXLEN=100)
        ids = ["EvBL%04d" % i for i in range(n)]
        codes = {}
        lock = threading.Lock()

        def post(chunk):
            for i in chunk:
                ev = app_mention(i, text="<@UBOT> question %s" % i, channel="C%s" % i,
                                 user="U%s" % i, ts="1700000001.%06d" % int(i[4:]))
                status, _, _ = st.post_event(api, ev)
                with lock:
                    codes[i] = status
        threads = [threading.Thread(target=post, args=(ids[k::4],)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted = [i for i in ids if codes[i] == 200]
        refused = [i for i in ids if codes[i] == 503]
        assert len(accepted) == 100 and len(refused) == 50, codes
        assert st.r("XLEN", st.stream) == 100

        # workers arrive; the trimmer makes room as they acknowledge
        st.worker(LLM_PROVIDER="offline", WORKER_CONCURRENCY=4, ANSWERS_PER_THREAD_HOUR=0,
                  ANSWERS_PER_USER_HOUR=0)
        wait_until(lambda: len(_answered(st, accepted)) == 100, 60, "the 100 accepted answered")
        # acknowledged entries are trimmed (every ~5 s): room below the cap again, for all
        # of the refused (a trim that ran while some were still pending made less room)
        wait_until(lambda: st.r("XLEN", st.stream) + len(refused) <= 100, 20,
                   "acknowledged entries trimmed")
        # Slack's retries of the refused events are now stored and answered
        for i in refused:
            ev = app_mention(i, text="<@UBOT> question %s" % i, channel="C%s" % i,
                             user="U%s" % i, ts="1700000001.%06d" % int(i[4:]))
            status, _, body = st.post_event(api, ev, headers={"X-Slack-Retry-Num": "1"})
            assert status == 200, (i, status, body)
        wait_until(lambda: len(_answered(st, ids)) == n, 60, "every event answered")
        # exactly once: one answer record per question, nothing dead, nothing pending
        answers = [k for k in st.r("KEYS", "answer:*")]
        assert len(answers) == n, len(answers)
        assert st.r("XLEN", "docket:{e2e-backlog}:dead") == 0
        wait_until(lambda: st.r("XPENDING", st.stream, "workers")[0] == 0, 10, "nothing pending")


def test_dlq_replay_answers_a_given_up_question_once():
    with Stack(docket="e2e-replay") as st:
        st.redis()
        slack = st.fake("fake_slack.js")
        llm = st.fake("fake_openai.js")
        # the model rejects the first two questions for good (400: dead at once)
        llm.fault(path="/v1/chat/completions", status=400, count=2)
        api = st.api()
        # edits: the answer must land in the apology's own message (with native streams
        # it lands in the stream and the apology is deleted; test_answer checks that)
        w = st.worker(**fake_llm_env(slack, llm, 64, ANSWERS_PER_THREAD_HOUR=0,
                                     ANSWERS_PER_USER_HOUR=0, MEMORY_TOP_K=0,
                                     MEMORY_STORE_TURNS="false", SLACK_STREAMING="edits"))
        for k, ev_id in enumerate(("EvRP1", "EvRP2")):
            status, _, _ = st.post_event(api, app_mention(ev_id, channel="CR%d" % k,
                                                          ts="1700000002.00010%d" % k))
            assert status == 200
        dead = "docket:{e2e-replay}:dead"
        wait_until(lambda: st.r("XLEN", dead) == 2, 30, "two dead letters")
        for ev_id in ("EvRP1", "EvRP2"):
            wait_until(lambda: st.r("HGET", "task:{e2e-replay}:%s" % ev_id, "state") == "failed",
                       10, "task state failed")

        entries = st.r.xrange(dead)
        one = [e for e in entries if e[1].get("id") == "EvRP1"][0][0]
        code, out, err = st.run_worker("dlq", "replay", one)
        assert code == 0, (out, err)
        wait_until(lambda: _answered(st, ["EvRP1"]), 30, "the replayed question answered")
        code, out, err = st.run_worker("dlq", "replay", "--all")
        assert code == 0 and "replayed 1 dead-letter entry" in out, (code, out, err)
        wait_until(lambda: _answered(st, ["EvRP2"]) and st.r("XLEN", dead) == 0, 30,
                   "--all replays the rest")
        # one final answer per question in Slack (an update of each thread's message)
        finals = [r for r in slack.requests("/api/chat.update") if has_buttons(r["json"])]
        chans = sorted(r["json"]["channel"] for r in finals)
        assert chans == ["CR0", "CR1"], chans
        # the answer replaced the apology: one message per thread, no apology left behind
        for chan in ("CR0", "CR1"):
            msgs = slack.ctl("GET", "/_fake/messages?channel=" + chan)
            assert len(msgs) == 1, msgs
            assert has_buttons(msgs[0]), msgs
            assert any("Sorry" in h for h in msgs[0]["history"]), msgs[0]["history"]
        assert w.alive()


def test_crash_between_placeholder_and_record_leaves_one_message():
    """The worker dies while chat.postMessage is in flight: Slack stores the
    "Thinking..." message, the task state never learns its ts. The next worker
    finds that message by its metadata and edits it: one message in the thread,
    the rate limits counted once (wave 1 posted a second placeholder and left
    the first one as an orphan)."""
    with Stack(docket="e2e-once") as st:
        st.redis()
        slack = st.fake("fake_slack.js")
        llm = st.fake("fake_openai.js")
        api = st.api()
        env = fake_llm_env(slack, llm, 64, REDELIVERY_TIMEOUT_MS=1000, MEMORY_TOP_K=0,
                           MEMORY_STORE_TURNS="false", WORKER_CONCURRENCY=1)
        # the post reaches Slack, which answers only after 1.5 s
        slack.fault(path="/api/chat.postMessage", status=0, delay_ms=1500, count=1)
        w1 = st.worker(**env)
        ev = app_mention("EvOnce1", channel="CONCE", user="UONCE", ts="1700000003.000100")
        assert st.post_event(api, ev)[0] == 200
        got = slack.wait("/api/chat.postMessage", count=1, timeout_ms=15000)
        assert got["ok"], got
        w1.kill9()

        def thread():
            return slack.ctl("GET", "/_fake/messages?channel=CONCE")
        wait_until(lambda: len(thread()) == 1, 10, "the orphan-to-be stored by Slack")
        state = st.r.hgetall("task:{e2e-once}:EvOnce1")
        assert state.get("placeholder") == "posting" and "placeholder_ts" not in state, state

        st.worker(**env)
        wait_until(lambda: st.r("HGET", "task:{e2e-once}:EvOnce1", "state") == "answered", 30,
                   "answered by the second worker")
        msgs = thread()
        assert len(msgs) == 1, msgs
        assert msgs[0]["update_count"] >= 1 and has_buttons(msgs[0]), msgs
        assert len(slack.requests("/api/chat.postMessage")) == 1
        assert len(slack.requests("/api/conversations.replies")) == 1
        # counted once although the task ran twice
        assert st.r("HGET", "rate_limit:user:T300:UONCE", "n") == "1"
        assert st.r("HGET", "rate_limit:thread:T300:CONCE:1700000003.000100", "n") == "1"


def test_drain_deadline_releases_the_task_and_exits_non_zero():
    """SIGTERM with a task that outlasts SHUTDOWN_GRACE_S: the worker releases the entry
    for immediate redelivery and exits 1 (wave 1 exited 0 and the task waited out a whole
    redelivery timeout); another worker answers it once, well before that timeout."""
    with Stack(docket="e2e-drain") as st:
        st.redis()
        slack = st.fake("fake_slack.js")
        llm = st.fake("fake_openai.js")
        api = st.api()
        env = fake_llm_env(slack, llm, 64, REDELIVERY_TIMEOUT_MS=60000, SHUTDOWN_GRACE_S=1,
                           MEMORY_TOP_K=0, MEMORY_STORE_TURNS="false", WORKER_CONCURRENCY=1)
        # the model takes 8 s on the first call: longer than the grace
        llm.fault(path="/v1/chat/completions", status=0, delay_ms=8000, count=1)
        w1 = st.worker(**env)
        assert st.post_event(api, app_mention("EvDrain1", channel="CDR",
                                              ts="1700000016.000100"))[0] == 200
        llm.wait("/v1/chat/completions", count=1, timeout_ms=15000)
        w1.signal(signal.SIGTERM)
        assert w1.wait(timeout=30) == 1, w1.output()[-2000:]
        assert "released" in w1.output(), w1.output()[-2000:]
        # released, not waiting out the 60 s lease: a second worker answers it now
        st.worker(**env)
        wait_until(lambda: st.r("HGET", "task:{e2e-drain}:EvDrain1", "state") == "answered", 40,
                   "answered by the second worker well before the 60 s redelivery timeout")
        msgs = slack.ctl("GET", "/_fake/messages?channel=CDR")
        assert len(msgs) == 1 and has_buttons(msgs[0]), msgs
