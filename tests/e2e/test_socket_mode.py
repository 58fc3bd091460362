"""End-to-end: Slack Socket Mode (SLACK_APP_TOKEN). Real redis-server and
binaries; tests/fakes/fake_slack_socket.js hands out the WebSocket, delivers
envelopes, records acks, and redelivers what is not acked (as Slack does)."""
import json
import urllib.parse

from haink import Stack, app_mention, fake_llm_env, has_buttons, request, wait_until

APP_TOKEN = "xapp-1-A0FAKE-1-test"


def socket_api(st, sock, connections=2, **extra):
    """Starts haink-api in Socket Mode against the fake (HTTP stays on too)."""
    return st.api(SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=sock.base + "/api",
                  SLACK_SOCKET_CONNECTIONS=connections, **extra)


def readyz(api):
    return request("127.0.0.1", api.port, "GET", "/readyz", timeout=2)[0]


def open_conns(sock):
    return [c for c in sock.ctl("GET", "/_fake/connections") if c["hello"] and not c["closing"]]


def wait_connected(sock, n):
    wait_until(lambda: len(open_conns(sock)) >= n, 15, "%d socket mode connection(s)" % n)


def send(sock, envelopes):
    return sock.ctl("POST", "/_fake/envelopes", {"envelopes": envelopes})["envelope_ids"]


def event(event_id, **kw):
    return {"type": "events_api", "payload": app_mention(event_id, **kw)}


def envelopes(sock):
    return sock.ctl("GET", "/_fake/envelopes")


def all_acked(sock, n):
    envs = envelopes(sock)
    return len(envs) == n and all(e["acked"] for e in envs)


def task_ids(st):
    return [f["id"] for _, f in st.r.xrange(st.stream)]


def test_events_reach_the_queue_and_the_worker_answers_in_slack():
    with Stack() as st:
        st.redis()
        sock = st.fake("fake_slack_socket.js")
        slack = st.fake("fake_slack.js")
        llm = st.fake("fake_openai.js", {"embedding_dim": 64})
        api = socket_api(st, sock)
        wait_connected(sock, 2)
        wait_until(lambda: readyz(api) == 200, 10, "/readyz 200 with sockets open")
        opens = sock.requests("/api/apps.connections.open")
        assert len(opens) >= 2
        assert opens[0]["headers"]["authorization"] == "Bearer " + APP_TOKEN
        st.worker(**fake_llm_env(slack, llm, 64))
        send(sock, [event("EvSock1", ts="1700000100.000100")])
        wait_until(lambda: all_acked(sock, 1), 10, "the envelope acked")
        assert task_ids(st) == ["EvSock1"]

        def answered():
            msgs = slack.ctl("GET", "/_fake/messages")
            return [m for m in msgs if has_buttons(m)]
        msg = wait_until(answered, 30, "the answer in the fake Slack")[0]
        assert msg["channel"] == "C100" and msg["thread_ts"] == "1700000100.000100"


def test_slash_command_and_interactive_envelopes_use_the_http_parsing():
    with Stack() as st:
        st.redis()
        sock = st.fake("fake_slack_socket.js")
        socket_api(st, sock, connections=1)
        wait_connected(sock, 1)
        send(sock, [
            {"type": "slash_commands",
             "payload": {"command": "/ask", "text": "what is a runbook?", "team_id": "T300",
                         "channel_id": "C100", "user_id": "U200", "trigger_id": "1337.42",
                         "response_url": "https://hooks.example/1"}},
            {"type": "slash_commands",
             "payload": {"command": "/ask", "text": "", "team_id": "T300",
                         "channel_id": "C100", "user_id": "U200", "trigger_id": "1337.43"}},
            {"type": "interactive",
             "payload": {"type": "block_actions", "user": {"id": "U200"},
                         "team": {"id": "T300"}, "channel": {"id": "C100"},
                         "container": {"type": "message", "message_ts": "1.2"},
                         "message": {"ts": "1.2", "thread_ts": "1.1"},
                         "actions": [{"action_id": "feedback_helpful", "value": "ans1",
                                      "type": "button", "action_ts": "1700000200.5"}]}},
            # Slack's assistant view opening: an assistant task, as over HTTP
            {"type": "events_api",
             "payload": dict(app_mention("EvSockAs1"), event={
                 "type": "assistant_thread_started", "event_ts": "1729999327.200000",
                 "assistant_thread": {"user_id": "U200", "channel_id": "D500",
                                      "thread_ts": "1729999327.187299",
                                      "context": {"team_id": "T300", "channel_id": "C777"}}})},
            # a bot's own message: acknowledged, nothing queued
            {"type": "events_api",
             "payload": dict(app_mention("EvBot1"), event={
                 "type": "message", "channel_type": "im", "bot_id": "B1", "text": "hi",
                 "channel": "D1", "user": "UBOT", "ts": "1.3"})},
        ])
        wait_until(lambda: all_acked(sock, 5), 10, "every envelope acked")
        envs = envelopes(sock)
        assert "Working on it" in json.dumps(envs[0]["acks"][0]["payload"])
        assert "Usage: /ask" in json.dumps(envs[1]["acks"][0]["payload"])
        assert envs[2]["acks"][0]["payload"] is None
        entries = [f for _, f in st.r.xrange(st.stream)]
        assert [(e["type"], e["id"]) for e in entries] == [
            ("question", "cmd:1337.42"), ("feedback", "fb:1700000200.5"),
            ("assistant", "EvSockAs1")], entries
        assert entries[0]["text"] == "what is a runbook?"


def test_forced_disconnect_mid_burst_loses_and_duplicates_nothing():
    with Stack() as st:
        st.redis()
        sock = st.fake("fake_slack_socket.js", {"ack_timeout_ms": 1500})
        api = socket_api(st, sock, connections=2)
        wait_connected(sock, 2)
        n = 150
        burst = [event("EvBurst%03d" % i, ts="1700000300.%06d" % i) for i in range(n)]
        send(sock, burst[:50])
        # mid-burst: every connection is asked to refresh and is closed 200 ms later
        sock.ctl("POST", "/_fake/disconnect", {"reason": "refresh_requested",
                                               "connection": "all", "close_after_ms": 200})
        send(sock, burst[50:100])
        wait_until(lambda: len(open_conns(sock)) >= 2 and all(
            c["id"] not in ("c1", "c2") for c in open_conns(sock)), 10,
            "two replacement connections")
        # then each connection is cut without a close frame right after an envelope
        # reaches it, before it can be acked: those must come again, and be queued once
        sock.ctl("POST", "/_fake/drop", {"connection": "all", "after_deliveries": 7})
        send(sock, burst[100:])
        wait_until(lambda: all_acked(sock, n), 30, "all %d envelopes acked" % n)
        ids = task_ids(st)
        assert sorted(ids) == sorted("EvBurst%03d" % i for i in range(n)), (len(ids), n)
        assert len(ids) == len(set(ids)), "a task was queued twice"
        wait_connected(sock, 2)
        # 2 first, 2 replacements after the refresh, 2 after the cuts
        stats = sock.ctl("GET", "/_fake/stats")
        assert stats["connections_opened"] >= 6, stats
        assert stats["redeliveries"] >= 2, stats
        assert readyz(api) == 200


def test_unacked_envelopes_are_redelivered_and_queued_once():
    with Stack() as st:
        st.redis()
        sock = st.fake("fake_slack_socket.js", {"ack_timeout_ms": 500, "max_deliveries": 100})
        socket_api(st, sock, connections=1)
        wait_connected(sock, 1)
        # Redis goes away: the task cannot be stored, so the envelope is not acked
        st.rs.stop()
        send(sock, [event("EvRedeliver1")])
        wait_until(lambda: len(envelopes(sock)[0]["deliveries"]) >= 2, 15,
                   "a redelivery of the unacked envelope")
        assert not envelopes(sock)[0]["acks"]
        st.rs.start()
        st.r = st.rs.client()
        wait_until(lambda: all_acked(sock, 1), 20, "the envelope acked once Redis is back")
        # a redelivery after the ack (Slack's at-least-once) is a duplicate, not a second task
        send(sock, [dict(event("EvRedeliver1"), envelope_id="again-1")])
        wait_until(lambda: all_acked(sock, 2), 10, "the repeat acked")
        assert task_ids(st) == ["EvRedeliver1"]


def test_readyz_follows_the_socket_and_http_mode_still_works():
    with Stack() as st:
        st.redis()
        sock = st.fake("fake_slack_socket.js")
        sock.fault(path="/api/apps.connections.open", status=500, count=-1)
        api = socket_api(st, sock, connections=1)
        # no connection can open: not ready, but HTTP events are still taken
        wait_until(lambda: len(sock.requests("/api/apps.connections.open")) >= 2, 10,
                   "connection attempts with backoff")
        assert readyz(api) == 503
        status, _, _ = st.post_event(api, app_mention("EvHttp1"))
        assert status == 200
        assert task_ids(st) == ["EvHttp1"]
        sock.ctl("DELETE", "/_fake/faults")
        wait_connected(sock, 1)
        wait_until(lambda: readyz(api) == 200, 10, "/readyz 200 once connected")
        sock.ctl("POST", "/_fake/drop", {"connection": "all"})
        wait_connected(sock, 1)
        wait_until(lambda: readyz(api) == 200, 10, "/readyz 200 after the reconnect")


def test_rejected_app_token_is_reported_and_retried():
    with Stack() as st:
        st.redis()
        sock = st.fake("fake_slack_socket.js", {"token_prefix": "xapp-9-"})
        api = socket_api(st, sock, connections=1)
        wait_until(lambda: "not_allowed_token_type" in api.output(), 10, "the auth error logged")
        assert readyz(api) == 503
        assert APP_TOKEN not in api.output(), "the app token must never be logged"
        assert "ticket" not in urllib.parse.unquote(api.output())
