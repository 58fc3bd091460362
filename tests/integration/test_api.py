"""Integration tests of haink-api: the real binary against a real redis-server.

Each test starts its own Stack (redis-server + haink-api on free loopback
ports) and checks what Slack would see (status, body, headers) and what landed
on the stream (docs/architecture.md, "The path of a question").
"""
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse

from haink import BIN, Stack, app_mention, request, slack_headers, wait_until

EVENTS = "/slack/events"


def stream_len(st):
    return st.r("XLEN", st.stream)


def entries(st):
    return st.r.xrange(st.stream)


def metric(api, name, labels=None):
    """Returns the value of one sample of /metrics (0 when absent)."""
    status, _, body = request("127.0.0.1", api.metrics_port, "GET", "/metrics")
    assert status == 200, status
    want = name + ("{%s}" % labels if labels else "")
    for line in body.decode().splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


def jbody(data):
    return json.loads(data.decode())


def test_url_verification():
    with Stack() as st:
        st.redis()
        api = st.api()
        challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        status, hdrs, body = st.post_event(api, {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
                                                 "challenge": challenge,
                                                 "type": "url_verification"})
        assert status == 200, body
        assert jbody(body) == {"challenge": challenge}
        assert hdrs["content-type"].startswith("application/json")
        assert stream_len(st) == 0


def test_app_mention_queues_one_entry_with_every_field():
    with Stack() as st:
        st.redis()
        api = st.api()
        before_ms = int(time.time() * 1000)
        ev = app_mention("Ev0MENTION1", text="<@UBOT>  how do I rotate the keys? \u00e9",
                         channel="C0CHAN", user="U0ASKER", ts="1700000000.000100", team="T0TEAM")
        status, _, body = st.post_event(api, ev)
        assert status == 200, body
        es = entries(st)
        assert len(es) == 1, es
        f = es[0][1]
        assert f["type"] == "question"
        assert f["id"] == "Ev0MENTION1"
        assert f["team"] == "T0TEAM"
        assert f["channel"] == "C0CHAN"
        assert f["user"] == "U0ASKER"
        assert f["text"] == "how do I rotate the keys? \u00e9"
        assert f["ts"] == "1700000000.000100"
        assert f["thread_ts"] == "1700000000.000100"  # no thread: its own ts
        assert f["channel_type"] == "channel"
        assert f["agent"] == "default"
        assert f["source"] == "slack"
        assert f["attempt"] == "1"
        assert before_ms <= int(f["enqueued_ms"]) <= int(time.time() * 1000)
        assert "answer_id" not in f and "feedback" not in f
        # the dedupe mark carries the same hash tag and a TTL
        ttl = st.r("TTL", "docket:{haink}:seen:Ev0MENTION1")
        assert 0 < ttl <= 86400, ttl


def test_mention_in_thread_keeps_thread_ts():
    with Stack() as st:
        st.redis()
        api = st.api()
        ev = app_mention("Ev0THREAD1", ts="1700000050.000200", thread_ts="1700000000.000100")
        status, _, _ = st.post_event(api, ev)
        assert status == 200
        f = entries(st)[0][1]
        assert f["ts"] == "1700000050.000200"
        assert f["thread_ts"] == "1700000000.000100"


def test_slack_retries_are_deduplicated():
    with Stack() as st:
        st.redis()
        api = st.api()
        ev = app_mention("Ev0RETRY01")
        dup0 = metric(api, "haink_events_duplicate_total")
        status, _, _ = st.post_event(api, ev)
        assert status == 200
        for n in (1, 2):
            status, _, body = st.post_event(api, ev, headers={"X-Slack-Retry-Num": str(n),
                                                              "X-Slack-Retry-Reason": "http_timeout"})
            assert status == 200, body
        assert stream_len(st) == 1
        assert metric(api, "haink_events_duplicate_total") == dup0 + 2
        assert metric(api, "haink_tasks_enqueued_total", 'type="question"') == 1


def test_bad_signatures_are_rejected_and_nothing_queued():
    with Stack() as st:
        st.redis()
        api = st.api()
        payload = json.dumps(app_mention("Ev0BADSIG1")).encode()
        now = int(time.time())
        good = slack_headers(st.secret, payload, now)
        cases = {
            "wrong secret": slack_headers("not-the-secret", payload, now),
            "stale timestamp": slack_headers(st.secret, payload, now - 301),
            "future timestamp": slack_headers(st.secret, payload, now + 400),
            "wrong version": dict(good, **{"X-Slack-Signature": "v1=" + good["X-Slack-Signature"][3:]}),
            "truncated signature": dict(good, **{"X-Slack-Signature": good["X-Slack-Signature"][:-1]}),
            "no signature": {k: v for k, v in good.items() if k != "X-Slack-Signature"},
            "no timestamp": {k: v for k, v in good.items() if k != "X-Slack-Request-Timestamp"},
            "no headers": {"Content-Type": "application/json"},
            "tampered body": good,
        }
        fails0 = metric(api, "haink_slack_signature_failures_total")
        for name, hdrs in cases.items():
            body = payload.replace(b"what is", b"WHAT IS") if name == "tampered body" else payload
            status, rh, data = request("127.0.0.1", api.port, "POST", EVENTS, body, hdrs)
            assert status == 401, (name, status, data)
            assert jbody(data) == {"error": "invalid_signature"}, (name, data)
            assert rh.get("x-request-id"), name
        for path in ("/slack/interactive", "/slack/commands"):
            status, _, data = request("127.0.0.1", api.port, "POST", path, b"payload=%7B%7D",
                                      {"Content-Type": "application/x-www-form-urlencoded"})
            assert status == 401, (path, data)
        assert stream_len(st) == 0
        assert metric(api, "haink_slack_signature_failures_total") == fails0 + len(cases) + 2
        assert st.secret not in api.output()
        # the same request, correctly signed, goes through
        status, _, _ = request("127.0.0.1", api.port, "POST", EVENTS, payload, good)
        assert status == 200
        assert stream_len(st) == 1


def test_body_over_limit_is_413():
    with Stack() as st:
        st.redis()
        api = st.api()
        big = b'{"type":"event_callback","pad":"' + b"x" * (2 * 1024 * 1024) + b'"}'
        hdrs = slack_headers(st.secret, big)
        # the server may answer before reading the whole body: send what it takes
        s = socket.create_connection(("127.0.0.1", api.port), timeout=10)
        head = "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n" % (
            EVENTS, len(big), "".join("%s: %s\r\n" % kv for kv in hdrs.items()))
        s.sendall(head.encode())
        try:
            s.sendall(big)
        except OSError:
            pass
        resp = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                resp += chunk
                if b"\r\n\r\n" in resp and b"payload_too_large" in resp:
                    break
        except OSError:
            pass
        s.close()
        assert resp.startswith(b"HTTP/1.1 413"), resp[:200]
        assert b"x-request-id:" in resp.lower()
        assert stream_len(st) == 0
        # the API still serves afterwards
        status, _, _ = st.post_event(api, app_mention("Ev0AFTER413"))
        assert status == 200


def test_malformed_json_with_valid_signature_is_400():
    with Stack() as st:
        st.redis()
        api = st.api()
        for body in (b'{"type": "event_callback", "event": ', b"[1, 2]", b"not json at all"):
            status, _, data = st.post_event(api, body)
            assert status == 400, (body, data)
            j = jbody(data)
            assert j["error"] == "bad_request"
            assert j["reason"] and "\n" not in j["reason"], j
        status, _, data = st.post_signed(api, "/slack/interactive", "payload=%7Bnope",
                                         content_type="application/x-www-form-urlencoded")
        assert status == 400, data
        assert jbody(data)["reason"]
        assert stream_len(st) == 0


def test_bot_edited_and_other_events_are_acknowledged_not_queued():
    with Stack() as st:
        st.redis()
        api = st.api()

        def wrap(eid, event):
            env = app_mention(eid)
            env["event"] = event
            return env

        events = [
            wrap("Ev0BOT0001", {"type": "message", "subtype": "bot_message", "bot_id": "B1",
                                "text": "beep", "ts": "1.1", "channel": "D1",
                                "channel_type": "im"}),
            wrap("Ev0BOT0002", {"type": "message", "user": "U9", "bot_id": "B1", "text": "beep",
                                "ts": "1.1", "channel": "D1", "channel_type": "im"}),
            wrap("Ev0OWN0001", {"type": "message", "user": "UBOT", "text": "my own answer",
                                "ts": "1.1", "channel": "D1", "channel_type": "im"}),
            wrap("Ev0EDIT001", {"type": "message", "subtype": "message_changed", "hidden": True,
                                "channel": "D1", "ts": "1.2", "channel_type": "im",
                                "message": {"type": "message", "user": "U2", "text": "edited",
                                            "ts": "1.1"}}),
            wrap("Ev0DEL0001", {"type": "message", "subtype": "message_deleted", "hidden": True,
                                "channel": "D1", "ts": "1.2", "deleted_ts": "1.1",
                                "channel_type": "im"}),
            wrap("Ev0EMPTY01", {"type": "app_mention", "user": "U2", "text": "<@UBOT>",
                                "ts": "1.1", "channel": "C1"}),
            wrap("Ev0REACT01", {"type": "reaction_added", "user": "U2", "reaction": "+1",
                                "item": {"type": "message", "channel": "C1", "ts": "1.1"}}),
            {"token": "x", "type": "app_rate_limited", "team_id": "T1",
             "minute_rate_limited": 1518467820, "api_app_id": "A1"},
        ]
        for ev in events:
            status, _, data = st.post_event(api, ev)
            assert status == 200, (ev, data)
        assert stream_len(st) == 0
        # a direct message is a question
        status, _, _ = st.post_event(api, wrap("Ev0DM00001", {
            "type": "message", "user": "U2", "text": "hello in a DM", "ts": "1.3",
            "channel": "D1", "channel_type": "im"}))
        assert status == 200
        f = entries(st)[0][1]
        assert (f["id"], f["channel_type"], f["text"]) == ("Ev0DM00001", "im", "hello in a DM")


def block_actions_body(action_id, value, action_ts="1548426417.840180"):
    payload = {
        "type": "block_actions", "user": {"id": "U0CA5", "username": "amy", "team_id": "T0CAG"},
        "api_app_id": "A0CA5", "token": "x",
        "container": {"type": "message", "message_ts": "1700000100.000200", "channel_id": "C0CA5"},
        "trigger_id": "12466734323.1395872398", "team": {"id": "T0CAG", "domain": "acme"},
        "channel": {"id": "C0CA5", "name": "support"},
        "message": {"type": "message", "ts": "1700000100.000200",
                    "thread_ts": "1700000000.000100", "text": "the answer"},
        "response_url": "https://hooks.slack.com/actions/T0CAG/1/x",
        "actions": [{"action_id": action_id, "block_id": "fb", "value": value, "type": "button",
                     "text": {"type": "plain_text", "text": "Helpful"}, "action_ts": action_ts}],
    }
    return "payload=" + urllib.parse.quote_plus(json.dumps(payload))


def test_feedback_button_queues_one_feedback_task():
    with Stack() as st:
        st.redis()
        api = st.api()
        form = "application/x-www-form-urlencoded"
        status, _, data = st.post_signed(api, "/slack/interactive",
                                         block_actions_body("feedback_not_helpful", "ans-123"),
                                         content_type=form)
        assert status == 200, data
        # a retry of the same click, and an unrelated action: nothing more
        st.post_signed(api, "/slack/interactive",
                       block_actions_body("feedback_not_helpful", "ans-123"), content_type=form)
        status, _, _ = st.post_signed(api, "/slack/interactive",
                                      block_actions_body("approve", "x", "1548426499.000001"),
                                      content_type=form)
        assert status == 200
        es = entries(st)
        assert len(es) == 1, es
        f = es[0][1]
        assert f["type"] == "feedback"
        assert f["id"] == "fb:1548426417.840180"
        assert f["answer_id"] == "ans-123"
        assert f["feedback"] == "not_helpful"
        assert (f["team"], f["channel"], f["user"]) == ("T0CAG", "C0CA5", "U0CA5")
        assert f["thread_ts"] == "1700000000.000100"
        assert f["source"] == "slack"
        assert metric(api, "haink_tasks_enqueued_total", 'type="feedback"') == 1


def test_ask_slash_command_replies_ephemeral_and_queues():
    with Stack() as st:
        st.redis()
        api = st.api()
        form = "application/x-www-form-urlencoded"
        body = urllib.parse.urlencode({
            "token": "x", "team_id": "T0001", "team_domain": "example", "channel_id": "C2147483705",
            "channel_name": "test", "user_id": "U2147483697", "user_name": "Steve",
            "command": "/ask", "text": "how do I deploy?",
            "response_url": "https://hooks.slack.com/commands/1234/5678",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0", "api_app_id": "A1"})
        status, hdrs, data = st.post_signed(api, "/slack/commands", body, content_type=form)
        assert status == 200, data
        assert hdrs["content-type"].startswith("application/json")
        j = jbody(data)
        assert j["response_type"] == "ephemeral" and j["text"], j
        es = entries(st)
        assert len(es) == 1
        f = es[0][1]
        assert f["type"] == "question"
        assert f["id"] == "cmd:13345224609.738474920.8088930838d88f008e0"
        assert f["text"] == "how do I deploy?"
        assert (f["team"], f["channel"], f["user"]) == ("T0001", "C2147483705", "U2147483697")
        assert f["response_url"] == "https://hooks.slack.com/commands/1234/5678", f
        # /ask with nothing to ask: a usage hint, nothing queued
        empty = body.replace("how+do+I+deploy%3F", "").replace("8088930838d88f008e0", "ffff")
        status, _, data = st.post_signed(api, "/slack/commands", empty, content_type=form)
        assert status == 200
        assert jbody(data)["response_type"] == "ephemeral"
        assert stream_len(st) == 1


def test_ssl_check():
    with Stack() as st:
        st.redis()
        api = st.api()
        status, hdrs, _ = request("127.0.0.1", api.port, "POST", EVENTS + "?ssl_check=1", b"", {})
        assert status == 200
        assert hdrs.get("x-request-id")
        # as Slack sends it to a slash command URL: a form body
        status, _, _ = request("127.0.0.1", api.port, "POST", "/slack/commands",
                               b"ssl_check=1&token=abc",
                               {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200
        assert stream_len(st) == 0


def test_redis_outage_gives_503_then_recovers_without_restart():
    with Stack() as st:
        st.redis()
        api = st.api()
        status, _, _ = request("127.0.0.1", api.port, "GET", "/readyz")
        assert status == 200
        st.r.close()
        st.rs.stop()
        ev = app_mention("Ev0OUTAGE1")
        status, _, data = st.post_event(api, ev)
        assert status == 503, data
        assert jbody(data)["error"] == "unavailable"
        status, _, data = request("127.0.0.1", api.port, "GET", "/readyz")
        assert status == 503, data
        status, _, _ = request("127.0.0.1", api.port, "GET", "/healthz")
        assert status == 200  # alive, just not ready
        st.rs.start()  # same port
        st.r = st.rs.client()
        wait_until(lambda: request("127.0.0.1", api.port, "GET", "/readyz")[0] == 200, 10,
                   "/readyz to recover")
        # Slack's retry of the event that got a 503 is accepted now: it was never stored
        status = wait_until(lambda: st.post_event(api, ev, headers={"X-Slack-Retry-Num": "1"})[0]
                            == 200 or None, 10, "events to be accepted again")
        assert status
        assert stream_len(st) == 1
        assert api.alive()
        assert metric(api, "haink_http_requests_total", 'route="/slack/events",code="503"') >= 1


def test_metrics_move():
    with Stack() as st:
        st.redis()
        api = st.api()
        ok_label = 'route="/slack/events",code="200"'
        r0 = metric(api, "haink_http_requests_total", ok_label)
        q0 = metric(api, "haink_tasks_enqueued_total", 'type="question"')
        h0 = metric(api, "haink_http_request_seconds_count", 'route="/slack/events"')
        for i in range(3):
            status, _, _ = st.post_event(api, app_mention("Ev0METRIC%d" % i))
            assert status == 200
        assert metric(api, "haink_tasks_enqueued_total", 'type="question"') == q0 + 3
        # the HTTP series are recorded just after the answer is written (so the latency
        # includes the write): the last request's update may trail its answer briefly
        wait_until(lambda: metric(api, "haink_http_requests_total", ok_label) == r0 + 3, 5,
                   "3 more 200s on /slack/events counted")
        wait_until(lambda: metric(api, "haink_http_request_seconds_count",
                                  'route="/slack/events"') == h0 + 3, 5, "3 more latencies")
        status, hdrs, body = request("127.0.0.1", api.metrics_port, "GET", "/metrics")
        assert hdrs["content-type"].startswith("text/plain; version=0.0.4")
        text = body.decode()
        assert "# TYPE haink_http_request_seconds histogram" in text
        assert 'haink_http_request_seconds_bucket{route="/slack/events",le="+Inf"}' in text


def test_request_ids_and_routes():
    with Stack() as st:
        st.redis()
        api = st.api()
        seen = set()
        for method, path in (("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
                             ("GET", "/nope"), ("GET", EVENTS), ("POST", EVENTS)):
            status, hdrs, _ = request("127.0.0.1", api.port, method, path, b"" if method == "POST"
                                      else None, {})
            rid = hdrs.get("x-request-id")
            assert rid and re.fullmatch(r"[0-9a-f]{32}", rid), (path, rid)
            seen.add(rid)
            if path in ("/nope", "/metrics"):
                assert status == 404  # /metrics lives on API_METRICS_PORT only
            if method == "GET" and path == EVENTS:
                assert status == 405
        assert len(seen) == 6  # unique per request
        # a sane client id is echoed; anything else is replaced
        status, hdrs, _ = request("127.0.0.1", api.port, "GET", "/healthz", None,
                                  {"X-Request-Id": "lb-7f3a.9_x"})
        assert hdrs["x-request-id"] == "lb-7f3a.9_x"
        for bad in ("has space", "x" * 80, "quote\"d", "semi;colon"):
            status, hdrs, _ = request("127.0.0.1", api.port, "GET", "/healthz", None,
                                      {"X-Request-Id": bad})
            assert hdrs["x-request-id"] != bad and re.fullmatch(r"[0-9a-f]{32}", hdrs["x-request-id"])
        # the id is in the access log line of a Slack request
        status, hdrs, _ = st.post_event(api, app_mention("Ev0LOGID01"),
                                        headers={"X-Request-Id": "trace-123"})
        assert hdrs["x-request-id"] == "trace-123"
        # the access line is written just after the reply is sent
        def access_lines():
            return [l for l in api.output().splitlines() if '"request_id":"trace-123"' in l
                    and '"msg":"request"' in l]
        line = wait_until(access_lines, 5, "the access log line")
        j = json.loads(line[0])
        assert j["route"] == EVENTS and j["code"] == "200" and j["level"] == "info"


def test_keep_alive_serves_many_requests_on_one_connection():
    import http.client
    with Stack() as st:
        st.redis()
        api = st.api()
        c = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
        for i in range(20):
            body = json.dumps(app_mention("Ev0KA%04d" % i)).encode()
            c.request("POST", EVENTS, body, slack_headers(st.secret, body))
            r = c.getresponse()
            r.read()
            assert r.status == 200
        c.close()
        assert stream_len(st) == 20


def test_sigterm_exits_zero():
    with Stack() as st:
        st.redis()
        api = st.api()
        status, _, _ = st.post_event(api, app_mention("Ev0BEFORETERM"))
        assert status == 200
        api.signal(signal.SIGTERM)
        assert api.wait(timeout=15) == 0
        out = api.output()
        assert '"msg":"stopped"' in out, out[-2000:]


def test_sigterm_finishes_an_in_flight_request():
    with Stack() as st:
        st.redis()
        api = st.api()
        body = json.dumps(app_mention("Ev0INFLIGHT")).encode()
        hdrs = slack_headers(st.secret, body)
        s = socket.create_connection(("127.0.0.1", api.port), timeout=10)
        head = "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n" % (
            EVENTS, len(body), "".join("%s: %s\r\n" % kv for kv in hdrs.items()))
        s.sendall(head.encode() + body[:10])
        # connections are accepted and handed to threads in order: once a later request
        # is answered, a handler thread is reading this one
        assert request("127.0.0.1", api.port, "GET", "/healthz")[0] == 200
        api.signal(signal.SIGTERM)
        s.sendall(body[10:])
        resp = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
        s.close()
        assert resp.startswith(b"HTTP/1.1 200"), resp[:300]
        assert api.wait(timeout=15) == 0
        assert stream_len(st) == 1


def test_invalid_configuration_exits_2_with_every_problem():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": "abc",
           "LOG_LEVEL": "chatty", "REDIS_URL": "redis://:pw@h:99999"}
    cp = subprocess.run([os.path.join(BIN, "haink-api")], env=env, capture_output=True,
                        timeout=20)
    assert cp.returncode == 2, (cp.returncode, cp.stderr)
    err = cp.stderr.decode()
    lines = [l for l in err.splitlines() if l and not l.startswith("haink-api:")]
    assert any(l.startswith("SLACK_SIGNING_SECRET: required") for l in lines), err
    assert "PORT: must be an integer from 1 to 65535, got 'abc'" in lines, err
    assert "LOG_LEVEL: must be one of debug|info|warn|error, got 'chatty'" in lines, err
    assert any(l.startswith("REDIS_URL: ") for l in lines), err
    assert len(lines) == 4, err
    assert "pw" not in err
    # --print-config redacts secrets and the Redis password
    env = {"PATH": env["PATH"], "SLACK_SIGNING_SECRET": "very-secret-value",
           "REDIS_URL": "redis://u:hunter2@127.0.0.1:6379/0"}
    cp = subprocess.run([os.path.join(BIN, "haink-api"), "--print-config"], env=env,
                        capture_output=True, timeout=20)
    out = cp.stdout.decode()
    assert cp.returncode == 0, cp.stderr
    assert "SLACK_SIGNING_SECRET=(set)" in out
    assert "REDIS_URL=redis://u:***@127.0.0.1:6379/0" in out
    assert "very-secret-value" not in out and "hunter2" not in out


def test_metrics_only_on_their_own_port():
    """/metrics is not served on the Slack-facing port; API_METRICS_PORT serves only it;
    0 turns it off; the same port as PORT is a configuration error."""
    with Stack() as st:
        st.redis()
        api = st.api()
        assert request("127.0.0.1", api.port, "GET", "/metrics")[0] == 404
        status, _, body = request("127.0.0.1", api.metrics_port, "GET", "/metrics")
        assert status == 200 and b"haink_http_requests_total" in body
        assert request("127.0.0.1", api.metrics_port, "GET", "/healthz")[0] == 404
        assert request("127.0.0.1", api.metrics_port, "POST", EVENTS, b"{}", {})[0] == 404
        off = st.api(API_METRICS_PORT=0)
        assert request("127.0.0.1", off.port, "GET", "/metrics")[0] == 404
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SLACK_SIGNING_SECRET": "x",
           "PORT": "8123", "API_METRICS_PORT": "8123"}
    cp = subprocess.run([os.path.join(BIN, "haink-api"), "--print-config"], env=env,
                        capture_output=True, timeout=20)
    assert cp.returncode == 2 and b"API_METRICS_PORT: must differ from PORT" in cp.stderr, cp


def _idle_clients(api, n, used):
    """n open connections; used: each made one keep-alive request first."""
    out = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", api.port), timeout=10)
        if used:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            c.recv(4096)
        out.append(c)
    return out


def test_idle_keep_alive_connections_cannot_starve_the_api():
    """civetweb parks a thread on each open connection. Wave 1 (16 threads) timed out a
    signed event behind 16 idle keep-alive connections. Now the pool is larger and, once
    3/4 full, every response closes its connection: an event is answered behind 64 idle
    connections on the default pool, and behind 32 on a pool of 8 threads."""
    with Stack() as st:
        st.redis()
        for threads, n in ((128, 64), (8, 32)):
            api = st.api(API_THREADS=threads)
            idle = _idle_clients(api, n, used=True)
            try:
                status, _, body = st.post_event(api, app_mention("EvIdle%d" % threads))
                assert status == 200, body
            finally:
                for c in idle:
                    c.close()


def test_silent_connections_wait_in_the_kernel_not_in_the_pool():
    """A connection that never sends a byte used to park a thread for the 10 s request
    timeout: 500 of them held every thread. The listening socket now defers accept until
    the first bytes arrive (TCP_DEFER_ACCEPT), so a signed event is answered behind 500
    silent connections even on a pool of 16 threads, and behind 500 idle keep-alive
    connections on the default pool. The 3 s client timeout is well under the 10 s a
    parked thread would hold (the latency itself is measured by make bench)."""
    with Stack() as st:
        st.redis()
        for threads, used in ((16, False), (128, True)):
            api = st.api(API_THREADS=threads)
            idle = _idle_clients(api, 500, used=used)
            try:
                status, _, body = st.post_event(
                    api, app_mention("EvSilent%d" % threads), timeout=3)
                assert status == 200, body
                assert request("127.0.0.1", api.port, "GET", "/healthz", timeout=3)[0] == 200
            finally:
                for c in idle:
                    c.close()


def test_slow_client_is_cut_off_by_the_request_timeout():
    """A client sending one byte a second never finishes its request: the API closes
    the connection after its request timeout (10 s) instead of holding a thread."""
    with Stack() as st:
        st.redis()
        api = st.api()
        c = socket.create_connection(("127.0.0.1", api.port), timeout=30)
        request_line = b"POST /slack/events HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n"
        t0 = time.monotonic()
        closed = False
        for i in range(25):
            try:
                c.sendall(request_line[i:i + 1] if i < len(request_line) else b"x")
                c.setblocking(False)
                try:
                    if c.recv(4096) == b"":
                        closed = True
                        break
                except BlockingIOError:
                    pass
                finally:
                    c.setblocking(True)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(1)
        c.close()
        assert closed, "still open after %.0f s" % (time.monotonic() - t0)
        # and the API still answers
        assert request("127.0.0.1", api.port, "GET", "/healthz")[0] == 200
