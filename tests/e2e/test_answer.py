"""End-to-end: real redis-server, haink-api and haink-worker, with the Slack and
OpenAI-compatible fakes. Each test builds its own stack and asserts on what the
fakes recorded and what Redis holds (issue 4's "what it must show")."""
import json
import os
import signal
import time
import urllib.parse

from haink import (Stack, app_mention, blocks_text, fake_llm_env, feedback_answer_id,
                   has_buttons, request, slack_blocks, wait_until)

KB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kb")
DIM = 64
QUESTION = "<@UBOT> How do I rotate the signing secret?"


class E2E:
    """A stack with fakes, the sample fixture knowledge base ingested, and the api."""

    def __init__(self, aof=False, api_env=None, **worker_env):
        self.st = Stack()
        try:
            self.st.redis(appendonly=aof)
            self.slack = self.st.fake("fake_slack.js")
            self.llm = self.st.fake("fake_openai.js", {"embedding_dim": DIM})
            self.wenv = fake_llm_env(self.slack, self.llm, DIM, RETRY_BASE_MS=100,
                                     REDELIVERY_TIMEOUT_MS=2000, MAX_ATTEMPTS=3)
            self.wenv.update(worker_env)
            code, _, err = self.st.run_worker("ingest", KB, "--source-url",
                                              "https://docs.example.com/kb", **self.wenv)
            assert code == 0, "ingest failed: " + err[-2000:]
            self.api = self.st.api(**(api_env or {}))
            self.llm.reset()
        except Exception:
            self.st.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.st.close()

    @property
    def r(self):
        return self.st.r

    def worker(self, **extra):
        env = dict(self.wenv)
        env.update(extra)
        return self.st.worker(**env)

    def ask(self, event_id, text=QUESTION, **kw):
        status, hdrs, body = self.st.post_event(self.api, app_mention(event_id, text=text, **kw))
        assert status == 200, (status, body)
        return hdrs

    def ask_like_slack(self, event_id, text=QUESTION, timeout=15, **kw):
        """Posts like Slack does: a 503 is retried (same event id) until accepted."""
        n = [0]

        def accepted():
            status, _, _ = self.st.post_event(
                self.api, app_mention(event_id, text=text, **kw),
                headers={"X-Slack-Retry-Num": str(n[0])} if n[0] else None)
            n[0] += 1
            assert status in (200, 503), status
            return status == 200
        wait_until(accepted, timeout, "the api to accept " + event_id, interval=0.2)

    def messages(self):
        return self.slack.ctl("GET", "/_fake/messages")

    def click(self, message_ts, thread_ts, answer_id, action="feedback_helpful",
              action_ts="1700000010.123456"):
        """Posts a signed block_actions payload: U200 clicks a feedback button. action
        "native_helpful" / "native_not_helpful" clicks Slack's feedback_buttons element."""
        act = {"action_id": action, "value": answer_id, "type": "button", "action_ts": action_ts}
        if action.startswith("native_"):
            act = {"action_id": "feedback", "type": "feedback_buttons", "block_id": "feedback",
                   "value": action[len("native_"):] + ":" + answer_id, "action_ts": action_ts}
        payload = {"type": "block_actions", "user": {"id": "U200"}, "team": {"id": "T300"},
                   "channel": {"id": "C100"},
                   "container": {"type": "message", "message_ts": message_ts},
                   "message": {"ts": message_ts, "thread_ts": thread_ts},
                   "actions": [act]}
        body = "payload=" + urllib.parse.quote(json.dumps(payload))
        status, _, _ = self.st.post_signed(self.api, "/slack/interactive", body,
                                           content_type="application/x-www-form-urlencoded")
        assert status == 200

    def thanked(self, message_ts):
        """True when the message's buttons were replaced by the thank-you line."""
        m = [x for x in self.messages() if x["ts"] == message_ts][0]
        return not has_buttons(m) and "thank" in blocks_text(m).lower()

    def answered(self, thread_ts=None):
        """Messages carrying the feedback buttons (final answers)."""
        return [m for m in self.messages() if has_buttons(m)
                and (thread_ts is None or m.get("thread_ts") == thread_ts)]

    def wait_answers(self, n=1, timeout=30):
        return wait_until(lambda: len(self.answered()) >= n and self.answered(), timeout,
                          "%d answered message(s)" % n)

    def answers(self):
        return {k: self.r.hgetall(k) for k in self.r("KEYS", "answer:*")}

    def chat_requests(self):
        return self.llm.requests("/v1/chat/completions")

    def group_idle(self):
        """True when every stream entry was delivered to the group and acknowledged."""
        groups = self.r("XINFO", "GROUPS", self.st.stream)
        if not groups:
            return False
        g = dict(zip(groups[0][::2], groups[0][1::2]))
        last = self.r("XREVRANGE", self.st.stream, "+", "-", "COUNT", 1)
        return g["pending"] == 0 and (not last or g["last-delivered-id"] == last[0][0])


def test_mention_is_answered_once_in_its_thread_with_sources_and_buttons():
    with E2E() as e:
        e.worker()
        e.ask("EvHappy1", ts="1700000001.000100")
        msg = e.wait_answers(1)[0]
        assert msg["channel"] == "C100"
        assert msg["thread_ts"] == "1700000001.000100"
        posts = e.slack.requests("/api/chat.postMessage")
        assert len(posts) == 1, "one placeholder only, got %d posts" % len(posts)
        assert posts[0]["json"]["thread_ts"] == "1700000001.000100"
        assert posts[0]["headers"]["authorization"] == "Bearer xoxb-test"
        # the answer was typed out in a native stream in the thread, which became the
        # answer; "Thinking..." (edited with progress meanwhile) was deleted
        starts = e.slack.requests("/api/chat.startStream")
        assert len(starts) == 1 and starts[0]["json"]["thread_ts"] == "1700000001.000100"
        assert starts[0]["json"]["recipient_user_id"] == "U200"
        assert e.slack.requests("/api/chat.stopStream")
        placeholder = [u for u in e.slack.requests("/api/chat.update")
                       if u["json"]["ts"] != msg["ts"]]
        assert all(u["json"]["ts"] == placeholder[0]["json"]["ts"] for u in placeholder)
        deleted = [d["json"]["ts"] for d in e.slack.requests("/api/chat.delete")]
        assert placeholder and deleted == [placeholder[0]["json"]["ts"]], deleted
        assert [m["ts"] for m in e.messages()] == [msg["ts"]]
        assert msg["stream"]["state"] == "stopped"
        text = blocks_text(msg)
        assert "rotation" in text, "answer should cite the rotation document: " + text[:500]
        answers = e.answers()
        assert len(answers) == 1
        a = list(answers.values())[0]
        for field in ("question", "answer", "user", "team", "channel", "thread_ts", "agent",
                      "model", "prompt_tokens", "completion_tokens", "tools", "latency_ms",
                      "created_ms"):
            assert field in a, "answer hash lacks %s: %r" % (field, a)
        assert a["user"] == "U200" and a["channel"] == "C100"
        assert "search_knowledge_base" in a["tools"]
        assert int(a["prompt_tokens"]) > 0
        # the knowledge base really reached the model as a tool result
        last = e.chat_requests()[-1]["json"]["messages"]
        tool_msgs = [m for m in last if m.get("role") == "tool"]
        assert tool_msgs and "rotation" in tool_msgs[0]["content"]
        assert last[0]["role"] == "system"


TYPED = " ".join("word%d" % i for i in range(60))


def _typed_prefixes(e):
    """The texts the placeholder showed that were a growing part of TYPED (edits)."""
    texts = [u["json"].get("text") or "" for u in e.slack.requests("/api/chat.update")]
    return [t for t in texts if t and TYPED.startswith(t) and t != TYPED]


def _streamed_prefixes(e):
    """What the native stream showed after its start and each append, in order."""
    shown, acc = [], ""
    for r in e.slack.requests("/api/chat.startStream") + \
            e.slack.requests("/api/chat.appendStream"):
        acc += r["json"].get("markdown_text") or ""
        shown.append(acc)
    return shown


def test_answer_is_typed_out_while_the_model_writes_it():
    """SLACK_STREAMING=auto (the default): the worker asks the model to stream and types
    the answer out in Slack's native stream (startStream, then only the new text in each
    appendStream, at most every SLACK_STREAM_INTERVAL_MS); the stream is stopped and
    edited into the whole answer with sources and buttons; the model was called once."""
    with E2E(SLACK_STREAM_INTERVAL_MS=200) as e:
        e.llm.config(stream_chunk_ms=25)  # ~110 pieces of 4 characters: about 3 s
        e.llm.script([{"content": TYPED}])
        e.worker()
        e.ask("EvTyped1", ts="1700000021.000100")
        msg = e.wait_answers(1)[0]
        shown = _streamed_prefixes(e)
        assert len(shown) >= 3, shown
        assert all(TYPED.startswith(t) for t in shown), shown
        assert all(len(a) < len(b) for a, b in zip(shown, shown[1:])), shown
        # typed out whole: the start, the appends and the stop's last piece are the answer
        assert "".join(msg["stream"]["chunks"]) == TYPED, msg["stream"]["chunks"]
        assert _typed_prefixes(e) == []  # no edits: the stream typed it
        assert TYPED in blocks_text(msg) and has_buttons(msg)
        assert [m["ts"] for m in e.messages()] == [msg["ts"]]
        chats = e.chat_requests()
        assert len(chats) == 1 and chats[0]["json"]["stream"] is True
        assert chats[0]["json"]["stream_options"] == {"include_usage": True}
        a = list(e.answers().values())[0]
        assert a["answer"] == TYPED and int(a["completion_tokens"]) > 0


def test_edits_type_the_answer_where_slack_refuses_streams():
    """A workspace without chat.startStream (the fake answers unknown_method): auto edits
    the placeholder with the answer so far instead, once the stream was refused; the
    same happens with SLACK_STREAMING=edits without asking for a stream."""
    for mode, refuse in (("auto", True), ("edits", False)):
        with E2E(SLACK_STREAM_INTERVAL_MS=200, SLACK_STREAMING=mode) as e:
            e.slack.config(native_streaming=not refuse)
            e.llm.config(stream_chunk_ms=25)
            e.llm.script([{"content": TYPED}])
            e.worker()
            e.ask("EvTypedE", ts="1700000023.000100")
            msg = e.wait_answers(1)[0]
            shown = _typed_prefixes(e)
            assert len(shown) >= 3, (mode, shown)
            assert all(len(a) < len(b) for a, b in zip(shown, shown[1:])), shown
            assert len(e.slack.requests("/api/chat.startStream")) == (1 if refuse else 0)
            assert e.slack.requests("/api/chat.appendStream") == []
            assert TYPED in blocks_text(msg) and has_buttons(msg) and "stream" not in msg
            assert [m["ts"] for m in e.messages()] == [msg["ts"]]


def test_a_half_typed_stream_of_a_killed_worker_is_deleted_before_the_answer():
    """The worker dies while its stream is typing the answer: the next attempt stops and
    deletes that stream (its text is half an answer), then answers in a stream of its own:
    one message in the thread, the whole answer, no half-typed stream left."""
    with E2E(SLACK_STREAM_INTERVAL_MS=200, WORKER_CONCURRENCY=1) as e:
        e.llm.config(stream_chunk_ms=40)  # ~4.5 s of typing
        e.llm.script([{"content": TYPED}, {"content": TYPED}])
        w1 = e.worker()
        e.ask("EvTypedK", ts="1700000024.000100")
        wait_until(lambda: len(e.slack.requests("/api/chat.appendStream")) >= 2, 20,
                   "the first stream typing")
        state = e.r.hgetall("task:{%s}:EvTypedK" % e.st.docket)
        first = state.get("stream_ts")
        assert first and first != state.get("placeholder_ts"), state
        w1.kill9()
        e.worker()
        msg = e.wait_answers(1, timeout=40)[0]
        assert msg["ts"] != first
        assert TYPED in blocks_text(msg) and has_buttons(msg)
        assert [m["ts"] for m in e.messages()] == [msg["ts"]], e.messages()
        deleted = [d["json"]["ts"] for d in e.slack.requests("/api/chat.delete")]
        assert first in deleted, (first, deleted)
        stops = [s["json"]["ts"] for s in e.slack.requests("/api/chat.stopStream")]
        assert first in stops and msg["ts"] in stops, stops
        wait_until(lambda: e.r("HGET", "task:{%s}:EvTypedK" % e.st.docket, "state")
                   == "answered", 10, "the task answered")
        state = e.r.hgetall("task:{%s}:EvTypedK" % e.st.docket)
        assert state.get("placeholder_ts") == msg["ts"] and not state.get("stream_ts"), state


def test_streaming_off_shows_the_answer_once_done():
    """SLACK_STREAMING=off: no streamed request and no partial edits; the same answer."""
    with E2E(SLACK_STREAMING="off") as e:
        e.llm.script([{"content": TYPED}])
        e.worker()
        e.ask("EvTyped2", ts="1700000022.000100")
        msg = e.wait_answers(1)[0]
        assert TYPED in blocks_text(msg) and has_buttons(msg)
        assert _typed_prefixes(e) == []
        assert "stream" not in e.chat_requests()[0]["json"]


def assistant_event(event_id, etype, channel="D500", thread_ts="1729999327.187299",
                    viewing="C777", user="U200", team="T300"):
    ctx = {"team_id": team, "enterprise_id": None}
    if viewing:
        ctx["channel_id"] = viewing
    return {"token": "x", "team_id": team, "api_app_id": "A1", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()),
            "event": {"type": etype, "event_ts": "1729999327.200000",
                      "assistant_thread": {"user_id": user, "context": ctx,
                                           "channel_id": channel, "thread_ts": thread_ts}}}


def test_assistant_thread_prompts_context_status_and_title():
    """Slack's assistant view: assistant_thread_started shows the agent's examples as
    suggested prompts; context_changed moves the viewed channel; a message in the thread
    is answered like a DM with a status line, the thread titled after the first question
    only, and the viewed channel given to the model."""
    with E2E() as e:
        e.worker()
        assert e.st.post_event(e.api, assistant_event("EvAs1", "assistant_thread_started",
                                                      viewing="C111"))[0] == 200
        got = e.slack.wait("/api/assistant.threads.setSuggestedPrompts", 1, 15000)
        assert got["ok"], got
        call = got["requests"][0]["json"]
        assert call["channel_id"] == "D500" and call["thread_ts"] == "1729999327.187299"
        prompts = call["prompts"]
        assert 1 <= len(prompts) <= 4 and all(p["title"] and p["message"] for p in prompts)
        assert e.st.post_event(e.api, assistant_event(
            "EvAs2", "assistant_thread_context_changed", viewing="C777"))[0] == 200
        wait_until(lambda: e.r("HGET", "assistant:T300:D500:1729999327.187299",
                               "context_channel") == "C777", 15, "the new context")
        for i, text in enumerate(("How do I rotate the signing secret?", "And the bot token?")):
            msg = {"token": "x", "team_id": "T300", "api_app_id": "A1",
                   "type": "event_callback", "event_id": "EvAsQ%d" % i,
                   "event_time": int(time.time()),
                   "event": {"type": "message", "channel_type": "im", "channel": "D500",
                             "user": "U200", "text": text, "ts": "17299994%02d.000100" % i,
                             "thread_ts": "1729999327.187299"}}
            assert e.st.post_event(e.api, msg)[0] == 200
            e.wait_answers(i + 1)
        titles = [r["json"] for r in e.slack.requests("/api/assistant.threads.setTitle")]
        assert [t["title"] for t in titles] == ["How do I rotate the signing secret?"], titles
        statuses = [r["json"]["status"] for r in
                    e.slack.requests("/api/assistant.threads.setStatus")]
        assert statuses.count("is thinking\u2026") == 2, statuses
        assert "is searching the knowledge base\u2026" in statuses, statuses
        assert statuses[-1] == "" and statuses.count("") == 2, statuses  # cleared per answer
        answers = [m for m in e.messages() if m["channel"] == "D500"]
        assert len(answers) == 2 and all(m["thread_ts"] == "1729999327.187299" for m in answers)
        system = [m["content"] for m in e.chat_requests()[-1]["json"]["messages"]
                  if m["role"] == "system"]
        assert any("<#C777>" in c for c in system), system


def test_slack_retries_of_one_event_give_one_answer():
    with E2E() as e:
        e.worker()
        for n in range(3):
            status, _, _ = e.st.post_event(
                e.api, app_mention("EvRetry1", text=QUESTION),
                headers={"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"}
                if n else None)
            assert status == 200
        e.wait_answers(1)
        wait_until(e.group_idle, 10, "queue drained")
        assert len(e.slack.requests("/api/chat.postMessage")) == 1
        assert len(e.answers()) == 1
        assert e.r("XLEN", e.st.stream) == 1


def test_llm_errors_then_success_give_one_answer():
    with E2E() as e:
        e.llm.fault(path="/v1/chat/completions", status=500, count=2)
        e.worker()
        e.ask("EvFlaky1")
        e.wait_answers(1)
        wait_until(e.group_idle, 10, "queue drained")
        assert len(e.answers()) == 1
        assert len(e.slack.requests("/api/chat.postMessage")) == 1
        assert e.r("XLEN", "docket:{haink}:dead") == 0


def test_llm_always_failing_dead_letters_with_a_short_apology():
    with E2E(MAX_ATTEMPTS=2, LLM_TIMEOUT_S=5) as e:
        e.llm.fault(path="/v1/chat/completions", status=500, count=-1)
        e.worker()
        e.ask("EvDead1", ts="1700000002.000100")
        wait_until(lambda: e.r("XLEN", "docket:{haink}:dead") == 1, 40, "a dead-letter entry")
        dead = e.r.xrange("docket:{haink}:dead")[0][1]
        assert dead["id"] == "EvDead1" and dead.get("error") and dead.get("failed_ms")

        def apology():
            msgs = [m for m in e.messages() if m.get("thread_ts") == "1700000002.000100"]
            return msgs and "sorry" in blocks_text(msgs[-1]).lower() and msgs
        msgs = wait_until(apology, 20, "an apology in the thread")
        text = blocks_text(msgs[-1])
        for raw in ("500", "HTTP", "chat/completions", "upstream"):
            assert raw not in text, "apology leaks %r: %s" % (raw, text)
        assert len(e.answers()) == 0
        assert len(msgs) == 1, "the placeholder is reused for the apology"


def test_slack_429_is_retried_after_retry_after():
    with E2E() as e:
        e.slack.fault(path="/api/chat.postMessage", status=429, retry_after=1, count=1)
        e.worker()
        e.ask("EvSlack429")
        e.wait_answers(1)
        posts = e.slack.requests("/api/chat.postMessage")
        assert len(posts) == 2, "one refused, one accepted: %d" % len(posts)
        assert posts[1]["ts_ms"] - posts[0]["ts_ms"] >= 900, "waited for Retry-After"
        assert len(e.answers()) == 1


def test_killed_worker_mid_answer_is_finished_by_another_exactly_once():
    with E2E(REDELIVERY_TIMEOUT_MS=1000) as e:
        e.llm.fault(path="/v1/chat/completions", status=0, delay_ms=5000, count=1)
        a = e.worker()
        e.ask("EvKill1")
        e.llm.wait("/v1/chat/completions", 1)
        wait_until(lambda: e.slack.requests("/api/chat.postMessage"), 10, "placeholder")
        a.kill9()
        e.worker()
        e.wait_answers(1, timeout=40)
        wait_until(e.group_idle, 20, "queue drained")
        assert len(e.answered()) == 1
        assert len(e.answers()) == 1
        assert len(e.slack.requests("/api/chat.postMessage")) == 1, "placeholder reused"


def test_long_run_is_not_stolen_while_its_lease_is_renewed():
    with E2E(REDELIVERY_TIMEOUT_MS=800) as e:
        e.llm.fault(path="/v1/chat/completions", status=0, delay_ms=2500, count=1)
        e.worker()
        e.worker()
        e.ask("EvLease1")
        e.wait_answers(1, timeout=30)
        wait_until(e.group_idle, 10, "queue drained")
        # one run: the tool-call turn and the final turn, nothing repeated elsewhere
        assert len(e.chat_requests()) == 2, len(e.chat_requests())
        assert len(e.slack.requests("/api/chat.postMessage")) == 1
        assert len(e.answers()) == 1


def test_sigterm_mid_answer_finishes_the_answer_and_exits_zero():
    with E2E() as e:
        e.llm.fault(path="/v1/chat/completions", status=0, delay_ms=1500, count=1)
        w = e.worker()
        e.ask("EvTerm1")
        e.llm.wait("/v1/chat/completions", 1)
        w.signal(signal.SIGTERM)
        assert w.wait(30) == 0, w.output()[-2000:]
        assert len(e.answered()) == 1
        assert len(e.answers()) == 1


def test_redis_restart_mid_run_workers_reconnect_and_drain():
    with E2E(aof=True) as e:
        e.llm.config(latency_ms=300)
        e.worker()
        for n in range(3):
            e.ask("EvRestart%d" % n, ts="17000001%02d.000100" % n)
        e.llm.wait("/v1/chat/completions", 1)
        e.st.redis_restart(graceful=True)
        for n in range(3, 5):
            e.ask_like_slack("EvRestart%d" % n, ts="17000001%02d.000100" % n)
        e.wait_answers(5, timeout=60)
        wait_until(e.group_idle, 20, "queue drained")
        for n in range(5):
            ts = "17000001%02d.000100" % n
            assert len(e.answered(ts)) == 1, "thread %s answered once" % ts
        assert len(e.answers()) == 5


def test_feedback_click_updates_the_answer_and_the_message():
    with E2E() as e:
        e.worker()
        e.ask("EvFb1", ts="1700000003.000100")
        msg = e.wait_answers(1)[0]
        answer_id = list(e.answers().keys())[0].split(":", 1)[1]
        e.click(msg["ts"], "1700000003.000100", answer_id)
        a = wait_until(lambda: e.r.hgetall("answer:" + answer_id).get("feedback") == "helpful"
                       and e.r.hgetall("answer:" + answer_id), 20, "feedback recorded")
        assert a["feedback_user"] == "U200" and int(a["feedback_ms"]) > 0
        wait_until(lambda: e.thanked(msg["ts"]), 20, "buttons replaced by a thank-you")


def test_native_feedback_buttons_recorded_once_with_classic_ones_where_refused():
    """Answers carry Slack's feedback_buttons element (context_actions) by default; a
    click on it is recorded once however often Slack sends it; where Slack refuses the
    element (invalid_blocks) the answer falls back to the classic buttons."""
    with E2E() as e:
        e.worker()
        e.ask("EvNf1", ts="1700000031.000100")
        msg = e.wait_answers(1)[0]
        types = [b["type"] for b in slack_blocks(msg)]
        assert "context_actions" in types and "actions" not in types, types
        answer_id = feedback_answer_id(msg)
        assert answer_id and e.r("EXISTS", "answer:" + answer_id) == 1
        for _ in range(2):  # Slack retries the same interaction: one vote
            e.click(msg["ts"], "1700000031.000100", answer_id, action="native_not_helpful",
                    action_ts="1700000032.000001")
        wait_until(lambda: e.thanked(msg["ts"]), 20, "the thank-you line")
        a = e.r.hgetall("answer:" + answer_id)
        assert a["feedback"] == "not_helpful" and a["feedback_user"] == "U200", a
        day = e.r("KEYS", "metrics:*")[0]
        wait_until(lambda: e.r("HGET", day, "tasks_feedback") == "1", 10, "one feedback task")

        e.slack.config(native_feedback=False)
        e.ask("EvNf2", ts="1700000033.000100")
        msg2 = wait_until(lambda: e.answered("1700000033.000100"), 30, "the second answer")[0]
        types = [b["type"] for b in slack_blocks(msg2)]
        assert "actions" in types and "context_actions" not in types, types
        assert has_buttons(msg2)


def test_feedback_counted_once_when_the_slack_confirmation_is_retried():
    with E2E(RETRY_BASE_MS=50) as e:
        e.worker()
        e.ask("EvFb2", ts="1700000013.000100")
        msg = e.wait_answers(1)[0]
        answer_id = list(e.answers().keys())[0].split(":", 1)[1]
        # the thank-you edit fails once with a transient Slack error: the task is retried
        e.slack.config(ok_false_error="internal_error", ok_false_count=1,
                       ok_false_method="chat.update")
        e.click(msg["ts"], "1700000013.000100", answer_id, action="feedback_not_helpful",
                action_ts="1700000020.123456")
        wait_until(lambda: e.thanked(msg["ts"]), 30, "thanked after the retry")
        day = [k for k in e.r("KEYS", "metrics:*")]
        assert len(day) == 1, day
        assert int(e.r("HGET", day[0], "tasks_retried") or 0) >= 1, e.r.hgetall(day[0])
        assert e.r("HGET", day[0], "feedback_not_helpful") == "1", e.r.hgetall(day[0])


def test_answers_expire_after_answer_ttl():
    for ttl in (1000, 0):
        with E2E(ANSWER_TTL_S=ttl) as e:
            e.worker()
            e.ask("EvTtl%d" % ttl, ts="1700000014.000100")
            e.wait_answers(1)
            key = list(e.answers().keys())[0]
            left = e.r("TTL", key)
            if ttl:
                assert 0 < left <= ttl, left
            else:
                assert left == -1, left  # 0 keeps answers forever


def test_thread_rate_limit_sends_one_notice_and_no_llm_call():
    with E2E(ANSWERS_PER_THREAD_HOUR=1) as e:
        e.worker()
        e.ask("EvRl1", ts="1700000004.000100")
        e.wait_answers(1)
        calls = len(e.chat_requests())
        e.ask("EvRl2", ts="1700000004.000200", thread_ts="1700000004.000100")
        e.ask("EvRl3", ts="1700000004.000300", thread_ts="1700000004.000100")
        wait_until(lambda: e.r("XLEN", e.st.stream) == 3 and e.group_idle(), 20, "queue drained")
        assert len(e.chat_requests()) == calls, "no LLM call over the limit"
        thread = [m for m in e.messages() if m.get("thread_ts") == "1700000004.000100"]
        notices = [m for m in thread if not has_buttons(m)]
        assert len(notices) == 1, "exactly one notice: %r" % [blocks_text(m)[:100] for m in thread]
        assert len(e.answers()) == 1


def test_iteration_cap_gives_a_non_empty_graceful_answer():
    with E2E(AGENT_MAX_ITERATIONS=2) as e:
        e.llm.script([{"tool_calls": [{"name": "search_knowledge_base",
                                       "arguments": {"query": "secret rotation %d" % i}}]}
                      for i in range(6)])
        e.worker()
        e.ask("EvCap1")
        msg = e.wait_answers(1)[0]
        a = list(e.answers().values())[0]
        assert a["answer"].strip(), "non-empty answer"
        assert len(blocks_text(msg)) > 50


def test_malformed_tool_arguments_are_reported_to_the_model_not_a_crash():
    with E2E() as e:
        e.llm.script([{"tool_calls": [{"name": "search_knowledge_base",
                                       "arguments": "{not json"}]},
                      {"content": "Recovered after a bad tool call."}])
        w = e.worker()
        e.ask("EvBadArgs1")
        msg = e.wait_answers(1)[0]
        assert "Recovered" in blocks_text(msg)
        second = e.chat_requests()[1]["json"]["messages"]
        tool = [m for m in second if m.get("role") == "tool"]
        assert tool and "argument" in tool[0]["content"].lower()
        assert w.alive()


def test_dev_ui_question_is_answered_on_its_session_and_feedback_lands():
    token, sess = "e2e-ui-token", "s-e2e000000000001"
    auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def post(path, body):
        status, _, data = request("127.0.0.1", e.api.port, "POST", path, json.dumps(body), auth)
        assert status == 200, (path, status, data)
        return json.loads(data)

    def events():
        status, _, data = request("127.0.0.1", e.api.port, "GET",
                                  "/ui/api/events?session=" + sess, headers=auth)
        assert status == 200, data
        return json.loads(data)["events"]

    def wait_kind(kind, n=1):
        return wait_until(lambda: len([x for x in events() if x["kind"] == kind]) >= n
                          and [x for x in events() if x["kind"] == kind], 30,
                          "%d %s event(s)" % (n, kind))

    with E2E(api_env={"UI_TOKEN": token}) as e:
        e.worker()
        tid = post("/ui/api/ask", {"session": sess, "user": "dana",
                                   "text": "How do I rotate the signing secret?"})["task_id"]
        ans = wait_kind("answer")[0]
        evs = events()
        ph = evs[0]
        assert ph["kind"] == "placeholder" and ph["task_id"] == tid, evs
        assert ph["question"] == "How do I rotate the signing secret?"
        assert ans["ref"] == ph["id"]
        assert "rotation" in ans["text"].lower(), ans["text"][:300]
        assert ans["sources"] and all(s["url"].startswith("https://docs.example.com/kb")
                                      for s in ans["sources"]), ans["sources"]
        assert isinstance(ans["memories"], list)
        # the answer is stored like a Slack one, and nothing went to Slack
        stored = e.r.hgetall("answer:" + ans["answer_id"])
        assert stored["user"] == "dana" and stored["channel"] == sess, stored
        assert e.messages() == [] and e.slack.requests("/api/chat.postMessage") == []

        post("/ui/api/feedback", {"session": sess, "answer_id": ans["answer_id"],
                                  "feedback": "helpful", "user": "dana"})
        fb = wait_kind("feedback")[0]
        assert fb["answer_id"] == ans["answer_id"] and fb["feedback"] == "helpful"
        assert e.r("HGET", "answer:" + ans["answer_id"], "feedback") == "helpful"

        # UI feedback cannot land on a Slack answer (wave 1 let it)
        e.ask("EvUiFb", ts="1700000015.000100")
        slack_answer = wait_until(
            lambda: [k for k, v in e.answers().items() if v.get("team") == "T300"], 30,
            "a Slack answer")[0].split(":", 1)[1]
        post("/ui/api/feedback", {"session": sess, "answer_id": slack_answer,
                                  "feedback": "not_helpful", "user": "dana"})
        wait_until(e.group_idle, 20, "the UI feedback task handled")
        assert e.r("HGET", "answer:" + slack_answer, "feedback") is None

        # a follow-up in the same session carries the first turn as history
        post("/ui/api/ask", {"session": sess, "user": "dana", "text": "And how often?"})
        wait_kind("answer", 2)
        last = e.chat_requests()[-1]["json"]["messages"]
        contents = [m.get("content") or "" for m in last]
        assert any("How do I rotate the signing secret?" in c for c in contents), contents
        wait_until(e.group_idle, 10, "every task acknowledged")


def test_feedback_only_lands_on_answers_from_its_own_source():
    """Issue 13: Dev UI feedback cannot mark a Slack answer, nor a Slack click a UI answer."""
    token, sess = "e2e-ui-token", "s-e2e000000000002"
    auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def post(path, body):
        status, _, data = request("127.0.0.1", e.api.port, "POST", path, json.dumps(body), auth)
        assert status == 200, (path, status, data)
        return json.loads(data)

    def drained(n):
        return wait_until(lambda: e.r("XLEN", e.st.stream) == n and e.group_idle(), 30,
                          "%d tasks handled" % n)

    with E2E(api_env={"UI_TOKEN": token}) as e:
        e.worker()
        e.ask("EvFbSrc1", ts="1700000013.000100")
        e.wait_answers(1)
        slack_id = list(e.answers().keys())[0].split(":", 1)[1]
        post("/ui/api/ask", {"session": sess, "user": "U200", "text": "How do I rotate?"})
        wait_until(lambda: len(e.answers()) == 2, 30, "the UI answer")
        ui_id = [k.split(":", 1)[1] for k in e.answers() if k.split(":", 1)[1] != slack_id][0]
        drained(2)

        # the Dev UI names the Slack answer: ignored
        post("/ui/api/feedback", {"session": sess, "answer_id": slack_id,
                                  "feedback": "not_helpful", "user": "U200"})
        drained(3)
        assert e.r("HGET", "answer:" + slack_id, "feedback") is None

        # a Slack click naming the UI answer: ignored
        e.click("1700000013.000200", "1700000013.000100", ui_id,
                action_ts="1700000014.123456")
        drained(4)
        assert e.r("HGET", "answer:" + ui_id, "feedback") is None

        # each source's own feedback still lands
        post("/ui/api/feedback", {"session": sess, "answer_id": ui_id,
                                  "feedback": "helpful", "user": "U200"})
        wait_until(lambda: e.r("HGET", "answer:" + ui_id, "feedback") == "helpful", 30,
                   "UI feedback on the UI answer")
