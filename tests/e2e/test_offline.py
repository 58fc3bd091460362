"""Offline mode end to end (issue 14 item 2): real redis-server, haink-api and an offline
haink-worker with the Slack fake. An explicit "remember that …" stores a fact that a later
question in another thread is answered from (and shown as a memory used), and a short
follow-up in a thread searches together with the thread's previous question.
"""
import json

from haink import Stack, app_mention, has_buttons, wait_until


class OfflineStack:
    def __init__(self):
        self.st = Stack(docket="e2e-off")
        try:
            self.st.redis()
            self.slack = self.st.fake("fake_slack.js")
            self.env = dict(SLACK_BOT_TOKEN="xoxb-test", SLACK_API_URL=self.slack.base + "/api",
                            LLM_PROVIDER="offline", VECTOR_BACKEND="local",
                            WORKER_CONCURRENCY=2, SHUTDOWN_GRACE_S=15)
            code, out, err = self.st.run_worker("ingest", "kb/sample", **self.env)
            assert code == 0, err
            self.api = self.st.api()
            self.worker = self.st.worker(**self.env)
        except Exception:
            self.st.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.st.close()

    def answers(self, channel, thread_ts):
        msgs = self.slack.ctl("GET", "/_fake/messages?channel=%s&thread_ts=%s"
                              % (channel, thread_ts))
        return [m for m in msgs if has_buttons(m) and m.get("thread_ts") == thread_ts]

    def ask(self, event_id, text, ts, thread_ts=None, channel="C100"):
        before = len(self.answers(channel, thread_ts or ts))
        status, _, body = self.st.post_event(
            self.api, app_mention(event_id, text="<@UBOT> " + text, channel=channel, ts=ts,
                                  thread_ts=thread_ts))
        assert status == 200, (status, body)
        wait_until(lambda: len(self.answers(channel, thread_ts or ts)) > before, 30,
                   "the answer to %r" % text)
        return json.dumps(self.answers(channel, thread_ts or ts)[-1])


def test_offline_remember_then_recall_in_another_thread():
    with OfflineStack() as s:
        a = s.ask("EvOff1", "remember that my team is on the Enterprise plan",
                  "1700000100.000100")
        assert "I will remember: my team is on the Enterprise plan" in a, a
        a = s.ask("EvOff2", "Which plan is my team on?", "1700000200.000100")
        assert "my team is on the Enterprise plan" in a, a
        assert "couldn't find anything" not in a, a


def test_offline_follow_up_uses_the_thread():
    with OfflineStack() as s:
        a = s.ask("EvOff3", "What does REDELIVERY_TIMEOUT_MS do?", "1700000300.000100")
        assert "REDELIVERY_TIMEOUT_MS" in a, a
        a = s.ask("EvOff4", "And its default?", "1700000301.000100",
                  thread_ts="1700000300.000100")
        assert "60000" in a, a
        # alone, "And its default?" also quotes unrelated defaults (agents, embeddings)
        assert "memory-and-agents.md" not in a and "#knowledge-base" not in a, a


def test_ask_command_replies_through_response_url_when_the_bot_is_not_in_the_channel():
    import urllib.parse
    with OfflineStack() as s:
        s.slack.config(not_in_channel=["CPRIV"])
        body = urllib.parse.urlencode({
            "team_id": "T300", "channel_id": "CPRIV", "channel_name": "private",
            "user_id": "U200", "command": "/ask", "text": "Which language models work?",
            "response_url": s.slack.base + "/response/cmd1", "trigger_id": "111.222.abc"})
        form = "application/x-www-form-urlencoded"
        for _ in range(2):  # Slack's retry of the same command is deduplicated
            status, _, data = s.st.post_signed(s.api, "/slack/commands", body, content_type=form)
            assert status == 200, data
        wait_until(lambda: len(s.slack.ctl("GET", "/_fake/responses")) >= 1, 30,
                   "the answer on the response_url")
        state = "task:{e2e-off}:cmd:111.222.abc"
        wait_until(lambda: s.st.r("HGET", state, "state") == "answered", 30, "answered state")
        posts = s.slack.ctl("GET", "/_fake/responses")
        assert len(posts) == 1, posts
        p = posts[0]
        assert p["path"] == "/response/cmd1"
        assert p["body"]["response_type"] == "ephemeral", p
        assert "OPENAI_BASE_URL" in json.dumps(p["body"]), p
        assert s.slack.ctl("GET", "/_fake/messages?channel=CPRIV") == []
        # stored like every other answer, under the answer_id the task state names
        answer_id = s.st.r("HGET", state, "answer_id")
        assert s.st.r("HGET", state, "placeholder_ts") == "response_url"
        assert s.st.r("EXISTS", "answer:" + answer_id) == 1, s.st.r("KEYS", "*")
