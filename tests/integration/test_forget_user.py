"""`haink-worker forget-user USER [--team T]` against a real redis-server: it
erases the person's memories (every agent and namespace, or one team's),
the answers to their questions, the thread histories and Dev UI session
streams of those answers, and their rate-limit keys; prints a count per kind;
and leaves every other user's data (including ids that share a prefix)
alone. Bad usage exits 2."""
import json

from haink import Stack


def seed(r):
    """U1 in Slack team T1 and in the Dev UI; U12 and U2 as neighbours."""
    def memory(ns, agent, user, i):
        key = "memory:haink:%s:%s:%s:1700000000000-%08d" % (ns, agent, user, i)
        r("HSET", key, "content", "%s %s %s" % (ns, agent, user), "kind", "fact",
          "created_ms", "1700000000000", "thread", "", "role", "user")
        r("ZADD", "memory:haink:%s:%s:%s" % (ns, agent, user), "1700000000000",
          key.rsplit(":", 1)[1])

    def answer(aid, user, team, channel, ts):
        r("HSET", "answer:" + aid, "question", "q from " + user, "answer", "a",
          "user", user, "team", team, "channel", channel, "thread_ts", ts)
        r("RPUSH", "chat:%s:%s:%s" % (team, channel, ts),
          json.dumps({"role": "user", "content": "q from " + user, "ts": 1}))

    for i, (ns, agent) in enumerate((("T1", "support"), ("T1", "sales"), ("ui", "support"),
                                     ("T9", "support"))):
        memory(ns, agent, "U1", i)
        memory(ns, agent, "U12", i)
    memory("T1", "support", "U2", 7)
    answer("a1", "U1", "T1", "C1", "1.1")
    answer("a2", "U1", "T9", "C9", "9.9")
    answer("a3", "U12", "T1", "C1", "2.2")
    answer("a4", "U2", "T1", "C1", "3.3")
    answer("a5", "U1", "ui", "sess1", "sess1")
    r("XADD", "ui:sess1", "*", "kind", "answer", "text", "a")
    r("XADD", "ui:sess2", "*", "kind", "answer", "text", "b")
    r("HSET", "answer:a6", "user", "U2", "team", "ui", "channel", "sess2",
      "thread_ts", "sess2")
    for team, user in (("T1", "U1"), ("T9", "U1"), ("ui", "U1"), ("T1", "U12"),
                       ("T1", "XU1")):
        r("SET", "rate_limit:user:%s:%s" % (team, user), "3")


def counts(out):
    return dict(line.split("\t") for line in out.splitlines() if "\t" in line)


def test_forget_user_in_one_team_leaves_other_teams_and_users():
    with Stack() as st:
        st.redis()
        r = st.r
        seed(r)
        code, out, err = st.run_worker("forget-user", "U1", "--team", "T1")
        assert code == 0, err
        c = counts(out)
        assert c == {"memories": "2", "answers": "1", "threads": "1", "rate_limits": "1",
                     "ui_sessions": "0"}, out
        def scope(pattern):
            return r("KEYS", pattern) + r("KEYS", pattern + ":*")
        assert scope("memory:haink:T1:*:U1") == []
        assert len(scope("memory:haink:T1:*:U12")) == 4
        assert len(scope("memory:haink:ui:support:U1")) == 2
        assert len(scope("memory:haink:T9:support:U1")) == 2
        assert r("EXISTS", "answer:a1", "chat:T1:C1:1.1") == 0
        assert r("EXISTS", "answer:a2", "answer:a5", "chat:T9:C9:9.9", "ui:sess1") == 4
        assert r("EXISTS", "rate_limit:user:T1:U1") == 0
        assert r("EXISTS", "rate_limit:user:T9:U1", "rate_limit:user:ui:U1") == 2


def test_forget_user_everywhere_erases_every_kind_and_only_that_user():
    with Stack() as st:
        st.redis()
        r = st.r
        seed(r)
        before_others = sorted(k for k in r("KEYS", "*") if "U12" in k or "U2" in k
                               or "XU1" in k or k in ("answer:a3", "answer:a4", "answer:a6",
                                                      "chat:T1:C1:2.2", "chat:T1:C1:3.3",
                                                      "ui:sess2"))
        code, out, err = st.run_worker("forget-user", "U1")
        assert code == 0, err
        c = counts(out)
        assert c == {"memories": "4", "answers": "3", "threads": "3", "rate_limits": "3",
                     "ui_sessions": "1"}, out
        left = sorted(r("KEYS", "*"))
        assert left == before_others, left
        # a rerun finds nothing left
        code, out, err = st.run_worker("forget-user", "U1")
        assert code == 0, err
        assert set(counts(out).values()) == {"0"}, out


def test_forget_user_bad_usage_exits_2():
    with Stack() as st:
        st.redis()
        for args in (["forget-user"], ["forget-user", "U:1"], ["forget-user", "U1", "--team"],
                     ["forget-user", "U1", "--team", "T:1"], ["forget-user", "U1", "U2"],
                     ["forget-user", "--bogus", "U1"]):
            code, _, err = st.run_worker(*args)
            assert code == 2, (args, code, err)
            assert "usage" in err, args
