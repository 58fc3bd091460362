"""End-to-end conversation memory (issue 5): real redis-server, haink-api and
haink-worker with the Slack and OpenAI-compatible fakes.

(a) A thread resumes after a worker restart: the second question's LLM
    request carries the first exchange from Redis.
(b) A preference taught in one thread through a scripted `remember` tool call
    reaches the "## Memories" message of another thread of the same user and
    agent, and never the same user's requests under another agent.
"""
import json
import os

from haink import Stack, app_mention, fake_llm_env, has_buttons, wait_until

DIM = 64
AGENTS = {"agents": [
    {"id": "support", "name": "Support", "default": True, "channels": ["CSUP"],
     "instructions": "You are the support agent.",
     "tools": ["search_memory", "remember"]},
    {"id": "sales", "name": "Sales", "channels": ["CSALES"],
     "instructions": "You are the sales agent.",
     "tools": ["search_memory", "remember"]},
]}


class MemStack:
    def __init__(self):
        self.st = Stack()
        try:
            self.st.redis()
            self.slack = self.st.fake("fake_slack.js")
            self.llm = self.st.fake("fake_openai.js", {"embedding_dim": DIM})
            self.agents_file = os.path.join(self.st.tmp, "agents.json")
            with open(self.agents_file, "w") as f:
                json.dump(AGENTS, f)
            self.env = fake_llm_env(self.slack, self.llm, DIM, AGENTS_FILE=self.agents_file)
            self.api = self.st.api(AGENTS_FILE=self.agents_file)
        except Exception:
            self.st.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.st.close()

    def worker(self):
        return self.st.worker(**self.env)

    def answered(self, channel, thread_ts):
        msgs = self.slack.ctl("GET", "/_fake/messages?channel=%s&thread_ts=%s" % (channel, thread_ts))
        return [m for m in msgs if has_buttons(m) and m.get("thread_ts") == thread_ts]

    def ask(self, event_id, text, channel, ts, thread_ts=None, user="U200"):
        """Posts a mention and waits for its answer; returns the LLM requests made for it."""
        seq0 = max([r["seq"] for r in self.llm.requests()] or [0])
        before = len(self.answered(channel, thread_ts or ts))
        status, _, body = self.st.post_event(
            self.api, app_mention(event_id, text=text, channel=channel, user=user, ts=ts,
                                  thread_ts=thread_ts))
        assert status == 200, (status, body)
        wait_until(lambda: len(self.answered(channel, thread_ts or ts)) > before, 30,
                   "the answer to %r" % text)
        return [r for r in self.llm.requests("/v1/chat/completions") if r["seq"] > seq0]


def contents(req):
    return [m.get("content") or "" for m in req["json"]["messages"]]


def memories_message(req):
    ms = [m["content"] for m in req["json"]["messages"]
          if m.get("role") == "system" and (m.get("content") or "").startswith("## Memories")]
    return ms[0] if ms else None


def test_thread_resumes_after_worker_restart():
    with MemStack() as s:
        w = s.worker()
        s.llm.script([{"content": "The staging cluster is called aurora-7."}])
        s.ask("Ev1", "<@UBOT> what is the staging cluster called?", "CSUP", "1700000000.000100")
        assert w.stop() == 0
        s.worker()
        s.llm.script([{"content": "It runs in eu-west-1."}])
        reqs = s.ask("Ev2", "<@UBOT> and where does it run?", "CSUP", "1700000001.000200",
                     thread_ts="1700000000.000100")
        assert reqs, "no LLM request for the second question"
        text = contents(reqs[0])
        assert any("what is the staging cluster called" in c for c in text), text
        assert any("aurora-7" in c for c in text), text
        roles = [m["role"] for m in reqs[0]["json"]["messages"]]
        # history comes before the new question, oldest first
        first_q = next(i for i, c in enumerate(text) if "staging cluster called" in c)
        new_q = max(i for i, c in enumerate(text) if "where does it run" in c)
        assert first_q < new_q and roles[new_q] == "user", roles
        # the worker saves the turn just after the answer reaches Slack: wait for it
        stored = wait_until(
            lambda: (lambda v: len(v) == 4 and v)(
                s.st.r("LRANGE", "chat:T300:CSUP:1700000000.000100", 0, -1)),
            10, "the second turn saved to the thread history")
        assert json.loads(stored[-1])["content"].startswith("It runs in eu-west-1")


def test_preference_reaches_other_threads_of_the_same_agent_only():
    with MemStack() as s:
        s.worker()
        s.llm.script([
            {"tool_calls": [{"name": "remember",
                             "arguments": {"text": "The user prefers answers in French",
                                           "user": "U999"}}]},
            {"content": "D'accord, je répondrai en français."},
        ])
        s.ask("Ev10", "<@UBOT> remember that I prefer answers in French", "CSUP",
              "1700000100.000100")
        keys = s.st.r("KEYS", "memory:haink:support:T300/U200:*")
        facts = [k for k in keys if s.st.r("HGET", k, "kind") == "fact"]
        assert len(facts) == 1, keys
        assert s.st.r("KEYS", "memory:*:U999*") == []

        # another thread, days later, same user and agent
        s.llm.script([{"content": "Rome."}])
        reqs = s.ask("Ev11", "<@UBOT> what is the capital of Italy?", "CSUP",
                     "1700500000.000100")
        mem = memories_message(reqs[0])
        assert mem is not None, contents(reqs[0])
        assert "prefers answers in French" in mem, mem
        msgs = reqs[0]["json"]["messages"]
        assert msgs[0]["role"] == "system" and "support agent" in msgs[0]["content"], msgs[0]

        # same user under the sales agent: nothing of support's memories
        s.llm.script([{"content": "Our plans start at 10 EUR."}])
        reqs = s.ask("Ev12", "<@UBOT> what do your plans cost? answer in my language",
                     "CSALES", "1700500100.000100")
        for r in reqs:
            blob = json.dumps(r["json"]["messages"])
            assert "French" not in blob and "français" not in blob, blob

        # another user of the support agent does not see it either
        s.llm.script([{"content": "Hello."}])
        reqs = s.ask("Ev13", "<@UBOT> which language do I prefer?", "CSUP",
                     "1700500200.000100", user="U201")
        for r in reqs:
            assert "French" not in json.dumps(r["json"]["messages"])
