"""`haink-worker doctor` against a real redis-server: what it reports when the
configured ACL user lacks permissions (issue: it said "does not exist yet")."""
from haink import Stack


def test_doctor_shows_noperm_for_a_limited_acl_user():
    with Stack() as st:
        st.redis()
        # may PING and read INFO, nothing else: no XINFO, no HMGET
        st.r("ACL", "SETUSER", "limited", "on", ">pw", "~*", "+ping", "+info", "+command")
        url = "redis://limited:pw@127.0.0.1:%d/0" % st.rs.port
        code, out, err = st.run_worker("doctor", REDIS_URL=url)
        text = out + err
        assert code == 1, (code, text)
        assert "reachable" in out, text
        assert "NOPERM" in text, text
        assert "does not exist yet" not in text, text
        assert "run haink-worker ingest" not in text, text
        # the same server with the full default user: no FAIL line from the stream check
        code, out, err = st.run_worker("doctor")
        assert "does not exist yet" in out, out + err
        assert "NOPERM" not in out + err
