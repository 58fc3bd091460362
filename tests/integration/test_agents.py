"""AGENTS_FILE validation at start: the real haink-worker (and haink-api)
binaries exit 2 with one line on stderr naming the file and the field; the
sample deploy/agents.json loads; memory/chat verbs report bad usage with 2."""
import json
import os

from haink import ROOT, Stack

SAMPLE = os.path.join(ROOT, "deploy", "agents.json")

BAD = [
    ("not json", "{\"agents\": [", "line"),
    ("no agents", json.dumps({"agents": []}), "agents: must be a non-empty array"),
    ("missing id", json.dumps({"agents": [{"instructions": "x"}]}), "agents[0].id: missing"),
    ("bad id", json.dumps({"agents": [{"id": "Sales Team", "instructions": "x"}]}),
     "agents[0].id"),
    ("missing instructions", json.dumps({"agents": [{"id": "a"}]}),
     "agents[0].instructions: missing"),
    ("unknown tool", json.dumps({"agents": [{"id": "a", "instructions": "x",
                                             "tools": ["search_knowledge_base", "rm_rf"]}]}),
     "agents[0].tools[1]: unknown tool 'rm_rf'"),
    ("channel twice", json.dumps({"agents": [
        {"id": "a", "instructions": "x", "channels": ["C1"]},
        {"id": "b", "instructions": "y", "channels": ["C2", "C1"]}]}),
     "agents[1].channels[1]"),
    ("duplicate id", json.dumps({"agents": [{"id": "a", "instructions": "x"},
                                            {"id": "a", "instructions": "y"}]}),
     "agents[1].id: duplicate 'a'"),
    ("two defaults", json.dumps({"agents": [{"id": "a", "instructions": "x", "default": True},
                                            {"id": "b", "instructions": "y", "default": True}]}),
     "agents[1].default"),
]


def _write(st, name, text):
    path = os.path.join(st.tmp, name.replace(" ", "_") + ".json")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_malformed_agents_file_is_one_line_naming_the_field():
    with Stack() as st:
        for name, text, want in BAD:
            path = _write(st, name, text)
            code, out, err = st.run_worker("memory", "list", "--user", "U1", AGENTS_FILE=path,
                                           LLM_PROVIDER="offline")
            lines = [l for l in err.splitlines() if l.strip()]
            assert code == 2, (name, code, err)
            assert len(lines) == 1, (name, err)
            assert path in lines[0] and want in lines[0], (name, lines[0])


def test_missing_agents_file_names_the_path():
    with Stack() as st:
        path = os.path.join(st.tmp, "nope.json")
        code, _, err = st.run_worker("chat", "show", "T:C:1.1", AGENTS_FILE=path)
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and path in err, err


def test_sample_agents_file_loads_and_verbs_run():
    with open(SAMPLE) as f:
        ids = [a["id"] for a in json.load(f)["agents"]]
    assert ids == ["support", "sales", "engineering"]
    with Stack() as st:
        st.redis()
        code, out, err = st.run_worker("memory", "list", "--user", "U1", AGENTS_FILE=SAMPLE)
        assert code == 0, err
        assert "0 memories" in out, out
        code, out, err = st.run_worker("chat", "show", "T1:C1:1700000000.000100",
                                       AGENTS_FILE=SAMPLE)
        assert code == 0, err
        assert "0 messages" in out, out


def test_memory_and_chat_verbs_bad_usage_exit_2():
    with Stack() as st:
        st.redis()
        for args in (["memory", "list"], ["memory", "forget", "--agent", "support"],
                     ["memory", "wipe", "--user", "U1"], ["chat", "show"],
                     ["chat", "show", "T1:C1"], ["memory", "forget", "--user", "U1",
                                                 "--agent", "Bad:Agent"]):
            code, _, err = st.run_worker(*args)
            assert code == 2, (args, code, err)
            assert err.strip(), args


def test_chat_and_memory_verbs_on_real_data():
    with Stack() as st:
        st.redis()
        r = st.r
        msgs = [{"role": "user", "content": "hello", "ts": 1},
                {"role": "assistant", "content": "hi there", "ts": 2}]
        r("RPUSH", "chat:T1:C1:1.5", *[json.dumps(m) for m in msgs])
        code, out, err = st.run_worker("chat", "show", "T1:C1:1.5")
        assert code == 0, err
        assert "hi there" in out and "2 messages" in out, out
        code, out, err = st.run_worker("chat", "clear", "T1:C1:1.5")
        assert code == 0 and "cleared" in out, (out, err)
        assert r("EXISTS", "chat:T1:C1:1.5") == 0

        # memories live per source namespace: a Slack team id, or "ui" for the Dev UI
        for agent, user in (("support", "T1/U1"), ("sales", "T1/U1"), ("support", "T1/U12"),
                            ("support", "ui/U1")):
            for i in range(2):
                key = "memory:haink:%s:%s:%d-0000000%d" % (agent, user, 1700000000000 + i, i)
                r("HSET", key, "content", "%s %s memory %d" % (agent, user, i), "kind", "fact",
                  "created_ms", str(1700000000000 + i), "thread", "", "role", "user")
                r("ZADD", "memory:haink:%s:%s" % (agent, user), str(1700000000000 + i),
                  key.rsplit(":", 1)[1])
        code, out, err = st.run_worker("memory", "list", "--user", "U1")
        assert code == 0, err
        assert "6 memories" in out and "U12" not in out, out
        assert "2023-11-14T22:13:20" in out, out
        code, out, err = st.run_worker("memory", "list", "--user", "U1", "--team", "ui")
        assert code == 0 and "2 memories" in out and "T1" not in out, out
        code, out, err = st.run_worker("memory", "forget", "--user", "U1", "--agent", "sales")
        assert code == 0 and "forgot 2 memories" in out, (out, err)
        code, out, err = st.run_worker("memory", "forget", "--user", "U1", "--team", "ui")
        assert code == 0 and "forgot 2 memories" in out, (out, err)
        code, out, err = st.run_worker("memory", "forget", "--user", "U1")
        assert code == 0 and "forgot 2 memories" in out, (out, err)
        code, out, err = st.run_worker("memory", "forget", "--user", "U1/x")
        assert code == 2, (out, err)
        left = sorted(r("KEYS", "memory:*"))
        assert left and all(k.startswith("memory:haink:support:T1/U12") for k in left), left
        assert len(left) == 3, left


def test_forget_user_erases_a_person_everywhere():
    """A deletion request: forget-user removes the person's memories in every agent and
    namespace, answers, thread-history turns, rate-limit counters, Dev UI sessions and
    dead letters, prints the counts, and leaves everybody else's data alone."""
    with Stack() as st:
        st.redis()
        r = st.r
        for agent, user in (("support", "T1/U1"), ("sales", "T2/U1"), ("support", "ui/U1"),
                            ("support", "T1/U2")):
            key = "memory:haink:%s:%s:1700000000000-00000001" % (agent, user)
            r("HSET", key, "content", "memory of " + user, "kind", "fact",
              "created_ms", "1700000000000", "thread", "", "role", "user")
            r("ZADD", "memory:haink:%s:%s" % (agent, user), "1700000000000",
              "1700000000000-00000001")
        answers = {"a1": ("U1", "T1", "C1", "1.1", "what is my salary?"),
                   "a2": ("U1", "ui", "s-sess1", "s-sess1", "my address?"),
                   "a3": ("U2", "T1", "C1", "1.1", "what is the time?")}
        for aid, (u, t, c, ts, q) in answers.items():
            r("HSET", "answer:" + aid, "user", u, "team", t, "channel", c, "thread_ts", ts,
              "question", q, "answer", "secret answer to " + q)
        hist = [{"role": "user", "content": "what is my salary?", "ts": 1},
                {"role": "assistant", "content": "it is 10", "ts": 2},
                {"role": "user", "content": "what is the time?", "ts": 3},
                {"role": "assistant", "content": "noon", "ts": 4}]
        r("RPUSH", "chat:T1:C1:1.1", *[json.dumps(m) for m in hist])
        r("EXPIRE", "chat:T1:C1:1.1", 5000)
        r("RPUSH", "chat:ui:s-sess1:s-sess1",
          json.dumps({"role": "user", "content": "my address?", "ts": 1}))
        r("SET", "rate_limit:user:T1:U1", "3")
        r("SET", "rate_limit:user:T2:U1", "1")
        r("SET", "rate_limit:user:T1:U2", "5")
        r("XADD", "ui:s-sess1", "*", "kind", "placeholder", "text", "my address?")
        r("XADD", "docket:{haink}:dead", "*", "id", "Ev1", "user", "U1", "team", "T1",
          "text", "a failed question", "error", "x")
        r("XADD", "docket:{haink}:dead", "*", "id", "Ev2", "user", "U2", "team", "T1",
          "text", "another", "error", "x")

        code, out, err = st.run_worker("forget-user", "U1")
        assert code == 0, (out, err)
        assert ("forgot user U1 (all teams): 3 memories, 2 answers, 3 thread messages, "
                "2 rate-limit counters, 1 dev ui sessions, 1 dead letters") in out, out

        assert sorted(r("KEYS", "memory:*")) == ["memory:haink:support:T1/U2",
                                                 "memory:haink:support:T1/U2:1700000000000-00000001"]
        assert sorted(r("KEYS", "answer:*")) == ["answer:a3"]
        left = [json.loads(x)["content"] for x in r("LRANGE", "chat:T1:C1:1.1", 0, -1)]
        assert left == ["what is the time?", "noon"], left
        assert r("TTL", "chat:T1:C1:1.1") > 0
        assert r("EXISTS", "chat:ui:s-sess1:s-sess1") == 0
        assert r("KEYS", "rate_limit:*") == ["rate_limit:user:T1:U2"]
        assert r("EXISTS", "ui:s-sess1") == 0
        dead = [e[1]["user"] for e in r.xrange("docket:{haink}:dead")]
        assert dead == ["U2"], dead

        # --team limits it; bad usage is exit 2
        code, out, err = st.run_worker("forget-user", "U2", "--team", "T9")
        assert code == 0 and "0 memories, 0 answers" in out, (out, err)
        for args in (["forget-user"], ["forget-user", "a:b"], ["forget-user", "U1", "--bogus"]):
            code, out, err = st.run_worker(*args)
            assert code == 2, (args, code, out, err)
