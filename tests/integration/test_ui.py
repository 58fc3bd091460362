"""Integration tests of the Dev UI routes of haink-api (docs/architecture.md, "The path of a question", the Dev UI):
the real binary against a real redis-server. The worker's side (the ui reply
sink writing ui:<session>) is played here by writing that stream directly.
"""
import json
import os
import time

from haink import ROOT, Stack, request, wait_until

TOKEN = "ui-test-token-0123"
AUTH = {"Authorization": "Bearer " + TOKEN}
SESSION = "s-0123456789abcdef"


def call(api, method, path, body=None, headers=None):
    h = dict(AUTH if headers is None else headers)
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    status, hdrs, data = request("127.0.0.1", api.port, method, path, body=body, headers=h)
    return status, hdrs, json.loads(data.decode()) if hdrs.get("content-type", "").startswith(
        "application/json") else data


def test_ui_is_off_without_ui_token():
    with Stack() as st:
        st.redis()
        api = st.api()
        for method, path in (("GET", "/ui"), ("GET", "/ui/api/agents"), ("POST", "/ui/api/ask")):
            status, _, body = call(api, method, path, body={} if method == "POST" else None)
            assert status == 404, (path, status, body)
            assert body["error"] == "not_found"
            assert "UI_TOKEN" in body["reason"]
        assert st.r("XLEN", st.stream) == 0


def test_page_is_served_and_api_needs_the_token():
    with Stack() as st:
        st.redis()
        api = st.api(UI_TOKEN=TOKEN)
        status, hdrs, page = call(api, "GET", "/ui", headers={})
        assert status == 200
        assert hdrs["content-type"] == "text/html; charset=utf-8"
        assert b"<title>Haink Dev UI</title>" in page
        assert b'id="question"' in page and b"/ui/api/ask" in page
        assert hdrs["x-request-id"]
        status, _, _ = call(api, "GET", "/ui/", headers={})
        assert status == 200
        status, _, body = call(api, "POST", "/ui", body="x", headers={})
        assert status == 405, body

        ask = {"session": SESSION, "text": "hello"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                         {"Authorization": "Bearer " + TOKEN + "x"},
                         {"Authorization": "Bearer " + TOKEN[:-1]}):
            status, _, body = call(api, "POST", "/ui/api/ask", body=ask, headers=headers)
            assert status == 401, (headers, status, body)
            # a body the page can show: what failed and how to fix it
            assert body == {"error": "unauthorized",
                            "reason": "send Authorization: Bearer <UI_TOKEN>"}, body
        assert st.r("XLEN", st.stream) == 0
        # the scheme is case-insensitive, as HTTP says
        status, _, body = call(api, "POST", "/ui/api/ask", body=ask,
                               headers={"Authorization": "bearer " + TOKEN})
        assert status == 200, body
        status, _, body = call(api, "GET", "/ui/api/nothing")
        assert status == 404, body
        status, _, body = call(api, "GET", "/ui/api/ask")
        assert status == 405, body
        status, _, body = call(api, "POST", "/ui/api/events", body={})
        assert status == 405, body


def test_agents_lists_the_agents_file_with_its_default():
    with Stack() as st:
        st.redis()
        path = st.tmp + "/agents.json"
        with open(path, "w") as f:
            json.dump({"agents": [
                {"id": "support", "name": "Support", "instructions": "Help.", "default": True,
                 "description": "Helps <you>.", "examples": ["How do I log in?", "Why \u00e9?"]},
                {"id": "sales", "name": "Sales", "instructions": "Sell.", "channels": ["C1"]}]}, f)
        api = st.api(UI_TOKEN=TOKEN, AGENTS_FILE=path)
        status, _, body = call(api, "GET", "/ui/api/agents")
        assert status == 200, body
        # the start screen's fields as written ("" and [] when the file has none)
        assert body == {"agents": [
            {"id": "support", "name": "Support", "default": True, "description": "Helps <you>.",
             "examples": ["How do I log in?", "Why \u00e9?"]},
            {"id": "sales", "name": "Sales", "default": False, "description": "",
             "examples": []}]}
        # a question for a named agent goes to that agent, else to the default
        status, _, body = call(api, "POST", "/ui/api/ask",
                               body={"session": SESSION, "text": "q1", "agent": "sales"})
        assert status == 200, body
        status, _, body = call(api, "POST", "/ui/api/ask", body={"session": SESSION, "text": "q2"})
        assert status == 200, body
        agents = [f["agent"] for _, f in st.r.xrange(st.stream)]
        assert agents == ["sales", "support"]


def test_agents_of_the_sample_file_and_the_builtin_agent_have_a_start_screen():
    with Stack() as st:
        st.redis()
        for agents_file in (os.path.join(ROOT, "deploy", "agents.json"), None):
            api = st.api(UI_TOKEN=TOKEN, AGENTS_FILE=agents_file)
            status, _, body = call(api, "GET", "/ui/api/agents")
            assert status == 200, body
            assert body["agents"], body
            for a in body["agents"]:
                assert len(a["description"]) >= 40, a
                assert 2 <= len(a["examples"]) <= 6, a
                for ex in a["examples"]:
                    assert ex.strip() and len(ex.encode()) <= 300, ex
                # each example is a question the API accepts for its agent
                status, _, out = call(api, "POST", "/ui/api/ask",
                                      body={"session": SESSION, "text": a["examples"][0],
                                            "agent": a["id"]})
                assert status == 200, out
            api.stop()


def test_ask_queues_one_question_task_with_the_ui_fields():
    with Stack() as st:
        st.redis()
        api = st.api(UI_TOKEN=TOKEN)
        before = int(time.time() * 1000)
        status, _, body = call(api, "POST", "/ui/api/ask",
                               body={"session": SESSION, "text": "  how do I deploy? \u00e9 \n",
                                     "user": "alice.b"})
        assert status == 200, body
        assert body["ok"] is True
        tid = body["task_id"]
        assert tid.startswith("ui:") and len(tid) == 35, tid
        es = st.r.xrange(st.stream)
        assert len(es) == 1, es
        f = es[0][1]
        assert f["type"] == "question"
        assert f["id"] == tid
        assert f["source"] == "ui"
        assert f["team"] == "ui"
        assert f["channel"] == SESSION and f["thread_ts"] == SESSION
        assert f["user"] == "alice.b"
        assert f["text"] == "how do I deploy? \u00e9"
        assert f["agent"] == "default"
        assert f["attempt"] == "1"
        assert before <= int(f["enqueued_ms"]) <= int(time.time() * 1000)
        # no user given: the shared dev user
        status, _, body2 = call(api, "POST", "/ui/api/ask", body={"session": SESSION, "text": "x"})
        assert status == 200
        assert body2["task_id"] != tid
        assert st.r.xrange(st.stream)[1][1]["user"] == "ui-user"


def test_bad_ask_and_feedback_bodies_are_400_and_queue_nothing():
    with Stack() as st:
        st.redis()
        api = st.api(UI_TOKEN=TOKEN)
        cases = [
            ("ask", "{not json", "malformed JSON"),
            ("ask", "[1, 2]", "JSON object"),
            ("ask", {"text": "hi"}, "'session'"),
            ("ask", {"session": "short", "text": "hi"}, "'session'"),
            ("ask", {"session": "s-0123456789/../x", "text": "hi"}, "'session'"),
            ("ask", {"session": SESSION}, "'text'"),
            ("ask", {"session": SESSION, "text": " \n\t "}, "'text'"),
            ("ask", {"session": SESSION, "text": 42}, "'text' must be a string"),
            ("ask", {"session": SESSION, "text": "x" * 4001}, "longer than 4000"),
            ("ask", {"session": SESSION, "text": "hi", "agent": "nobody"}, "unknown agent"),
            ("ask", {"session": SESSION, "text": "hi", "user": "a b"}, "'user'"),
            ("feedback", {"session": SESSION, "answer_id": "abc"}, "'feedback'"),
            ("feedback", {"session": SESSION, "answer_id": "abc", "feedback": "meh"}, "'feedback'"),
            ("feedback", {"session": SESSION, "feedback": "helpful"}, "'answer_id'"),
            ("feedback", {"session": SESSION, "answer_id": "a:b", "feedback": "helpful"},
             "'answer_id'"),
        ]
        for route, body, reason in cases:
            status, _, out = call(api, "POST", "/ui/api/" + route, body=body)
            assert status == 400, (route, body, status, out)
            assert out["error"] == "bad_request"
            assert reason in out["reason"], (reason, out)
        # exactly 4000 bytes is still fine
        status, _, out = call(api, "POST", "/ui/api/ask", body={"session": SESSION,
                                                                 "text": "y" * 4000})
        assert status == 200, out
        assert st.r("XLEN", st.stream) == 1


def test_oversized_ui_body_is_413():
    with Stack() as st:
        st.redis()
        api = st.api(UI_TOKEN=TOKEN, MAX_BODY_BYTES=4096)
        status, _, out = call(api, "POST", "/ui/api/ask",
                              body={"session": SESSION, "text": "z" * 5000})
        assert status == 413, out
        assert st.r("XLEN", st.stream) == 0


def test_feedback_queues_one_feedback_task():
    with Stack() as st:
        st.redis()
        api = st.api(UI_TOKEN=TOKEN)
        status, _, body = call(api, "POST", "/ui/api/feedback",
                               body={"session": SESSION, "answer_id": "0123abcd",
                                     "feedback": "not_helpful", "user": "bob"})
        assert status == 200, body
        assert body["task_id"].startswith("fb:ui-")
        es = st.r.xrange(st.stream)
        assert len(es) == 1
        f = es[0][1]
        assert f["type"] == "feedback" and f["id"] == body["task_id"]
        assert f["answer_id"] == "0123abcd" and f["feedback"] == "not_helpful"
        assert f["source"] == "ui" and f["channel"] == SESSION and f["user"] == "bob"
        # counted like Slack's tasks, by the enqueue path they share
        status, _, text = request("127.0.0.1", api.metrics_port, "GET", "/metrics")
        assert 'haink_tasks_enqueued_total{type="feedback"} 1\n' in text.decode(), text


def test_events_pages_through_the_session_stream():
    with Stack() as st:
        st.redis()
        api = st.api(UI_TOKEN=TOKEN)
        key = "ui:" + SESSION
        path = "/ui/api/events?session=" + SESSION
        status, _, body = call(api, "GET", path)
        assert status == 200, body
        assert body == {"events": [], "last": ""}
        id1 = st.r("XADD", key, "*", "kind", "placeholder", "text", "Thinking\u2026",
                   "task_id", "ui:1", "question", "q?")
        id2 = st.r("XADD", key, "*", "kind", "answer", "ref", id1, "answer_id", "a1",
                   "text", "**hi**", "sources", '[{"title":"T","url":"https://x/y"}]',
                   "memories", '["likes tea"]')
        # another session's stream is not visible here
        st.r("XADD", "ui:s-otherother", "*", "kind", "notice", "text", "no")
        status, _, body = call(api, "GET", path + "&after=")
        assert status == 200, body
        assert [e["id"] for e in body["events"]] == [id1, id2]
        assert body["last"] == id2
        assert body["events"][0] == {"id": id1, "kind": "placeholder", "text": "Thinking\u2026",
                                     "task_id": "ui:1", "question": "q?"}
        a = body["events"][1]
        assert a["sources"] == [{"title": "T", "url": "https://x/y"}]  # embedded, not a string
        assert a["memories"] == ["likes tea"]
        assert a["text"] == "**hi**" and a["ref"] == id1
        # after= is exclusive; nothing new keeps last where it was
        status, _, body = call(api, "GET", path + "&after=" + id1)
        assert [e["id"] for e in body["events"]] == [id2]
        status, _, body = call(api, "GET", path + "&after=" + id2)
        assert body == {"events": [], "last": id2}
        for bad in ("?session=short", "?session=" + SESSION + "&after=abc",
                    "?session=" + SESSION + "&after=1-2-3", "", "?session=%zz"):
            status, _, body = call(api, "GET", "/ui/api/events" + bad)
            assert status == 400, (bad, status, body)


def test_ui_routes_report_503_while_redis_is_down():
    with Stack() as st:
        st.redis()
        api = st.api(UI_TOKEN=TOKEN)
        st.r.close()
        st.rs.stop()
        status, _, body = call(api, "POST", "/ui/api/ask", body={"session": SESSION, "text": "hi"})
        assert status == 503, body
        # a body the page can show, not an empty answer
        assert body == {"error": "unavailable",
                        "reason": "the queue is unavailable; retry later"}, body
        status, _, body = call(api, "POST", "/ui/api/feedback",
                               body={"session": SESSION, "answer_id": "a1", "feedback": "helpful"})
        assert status == 503 and body["error"] == "unavailable", body
        status, _, body = call(api, "GET", "/ui/api/events?session=" + SESSION)
        assert status == 503, body
        assert body["error"] == "redis_unavailable"
        assert body["reason"], body
        st.rs.start()
        st.r = st.rs.client()
        deadline = time.time() + 10
        while True:
            status, _, body = call(api, "POST", "/ui/api/ask",
                                   body={"session": SESSION, "text": "hi"})
            if status == 200 or time.time() > deadline:
                break
            time.sleep(0.1)
        assert status == 200, body
        assert st.r("XLEN", st.stream) == 1


def answered_session(api):
    """The entries of SESSION's stream once they include the answer (waits up to 30 s)."""
    def events():
        _, _, out = call(api, "GET", "/ui/api/events?session=" + SESSION)
        ev = out["events"]
        return ev if any(e["kind"] == "answer" for e in ev) else None
    return wait_until(events, 30, "the answer on the session stream")


def test_offline_answers_carry_their_agent_and_a_trace_of_the_tool_calls():
    """The worker side for real, offline: a Dev UI question's entries on ui:<session>."""
    with Stack() as st:
        st.redis()
        env = dict(LLM_PROVIDER="offline", VECTOR_BACKEND="local", WORKER_CONCURRENCY=1,
                   SHUTDOWN_GRACE_S=5, AGENTS_FILE=os.path.join(ROOT, "deploy", "agents.json"))
        code, _, err = st.run_worker("ingest", "kb/sample", **env)
        assert code == 0, err
        api = st.api(UI_TOKEN=TOKEN, AGENTS_FILE=env["AGENTS_FILE"])
        st.worker(**env)
        status, _, body = call(api, "POST", "/ui/api/ask",
                               body={"session": SESSION, "agent": "engineering", "user": "ada",
                                     "text": "What does REDELIVERY_TIMEOUT_MS do?"})
        assert status == 200, body

        ev = answered_session(api)
        kinds = [e["kind"] for e in ev]
        assert kinds[0] == "placeholder" and kinds[-1] == "answer", kinds
        ph, ans = ev[0], ev[-1]
        assert ph["agent"] == "engineering" and ph["agent_name"] == "Engineering", ph
        assert ans["agent"] == "engineering" and ans["agent_name"] == "Engineering", ans
        steps = [e for e in ev if e["kind"] == "trace"]
        assert [s["step"] for s in steps] == [str(i + 1) for i in range(len(steps))], steps
        assert all(s["ref"] == ph["id"] for s in steps)
        tools = [s for s in steps if s["type"] == "tool"]
        assert [s["name"] for s in tools][-1] == "search_knowledge_base", steps
        kb = tools[-1]
        assert json.loads(kb["input"])["query"] == "What does REDELIVERY_TIMEOUT_MS do?"
        assert kb["ok"] == "1" and int(kb["ms"]) >= 0
        assert kb["output"].startswith('{"results":['), kb["output"][:100]
        out = kb["output"]  # the result, or its first 1,500 bytes and "\u2026"
        assert len(out.encode()) == int(kb["output_bytes"]) or (
            out.endswith("\u2026") and len(out.encode()) <= 1500 + 3), (len(out), kb)
        # the offline responder is the last step: no model call, the answer it wrote
        last = steps[-1]
        assert last["type"] == "model" and last["name"] == "offline", last
        out = last["output"]
        assert out == ans["text"] or (out.endswith("\u2026") and ans["text"].startswith(out[:-1]))
        assert last["prompt_tokens"] == "0" and last["completion_tokens"] == "0"
        assert kinds.index("trace") < kinds.index("answer")


def test_ui_answers_are_typed_out_as_the_model_streams():
    """With the OpenAI fake streaming slowly, the session stream gets "partial" entries
    (the answer so far, each longer than the last) between the placeholder and the
    answer, which holds the whole text."""
    answer = " ".join("part%d" % i for i in range(50))
    with Stack() as st:
        st.redis()
        llm = st.fake("fake_openai.js", {"embedding_dim": 64, "stream_chunk_ms": 25})
        env = dict(LLM_PROVIDER="openai", OPENAI_API_KEY="sk-test",
                   OPENAI_BASE_URL=llm.base + "/v1", EMBEDDING_MODEL="text-embedding-3-small",
                   EMBEDDING_DIM=64, VECTOR_BACKEND="local", WORKER_CONCURRENCY=1,
                   SHUTDOWN_GRACE_S=5, SLACK_STREAM_INTERVAL_MS=200)
        llm.script([{"content": answer}])
        api = st.api(UI_TOKEN=TOKEN)
        st.worker(**env)
        status, _, body = call(api, "POST", "/ui/api/ask",
                               body={"session": SESSION, "user": "ada", "text": "Type it out"})
        assert status == 200, body

        ev = answered_session(api)
        kinds = [e["kind"] for e in ev]
        parts = [e["text"] for e in ev if e["kind"] == "partial"]
        assert len(parts) >= 3, kinds
        assert all(answer.startswith(p) and p != answer for p in parts), parts
        assert all(len(a) < len(b) for a, b in zip(parts, parts[1:])), parts
        assert kinds.index("placeholder") < kinds.index("partial") < kinds.index("answer")
        assert ev[kinds.index("answer")]["text"] == answer
        assert all(e["ref"] == ev[0]["id"] for e in ev if e["kind"] == "partial")
