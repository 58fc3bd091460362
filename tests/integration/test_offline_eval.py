"""Offline mode on kb/sample, measured on tests/fixtures/offline_eval.json: every in-KB
question is answered citing its source, every out-of-KB question gets the honest
"not found" (issue 14 item 2)."""
import json
import os

from haink import BIN, Stack

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NOT_FOUND = "I couldn't find anything about that in the knowledge base"


def test_offline_eval_set():
    with open(os.path.join(ROOT, "tests/fixtures/offline_eval.json")) as f:
        fx = json.load(f)
    with Stack() as st:
        st.redis()
        code, out, err = st.run_worker("ingest", fx["kb"], LLM_PROVIDER="offline")
        assert code == 0, err
        wrong = []
        for item in fx["in_kb"]:
            code, out, err = st.run_worker("ask", item["q"], LLM_PROVIDER="offline")
            if code != 0 or NOT_FOUND in out or item["source"] not in out:
                wrong.append(("in-kb", item["q"], out))
        for q in fx["out_of_kb"]:
            code, out, err = st.run_worker("ask", q, LLM_PROVIDER="offline")
            if code != 0 or NOT_FOUND not in out:
                wrong.append(("out-of-kb", q, out))
        assert not wrong, wrong


def test_exit_code_rule():
    """--help 0, usage 2, runtime failure 1, for both binaries; no verb is usage."""
    with Stack() as st:
        st.redis()
        assert st.run_worker("--help")[0] == 0
        code, out, err = st.run_worker()
        assert code == 2 and "usage: haink-worker" in err, (code, err)
        assert st.run_worker("no-such-verb")[0] == 2
        code, out, err = st.run_worker("ingest", "/nonexistent", LLM_PROVIDER="offline")
        assert code == 1, (code, err)
        api = os.path.join(BIN, "haink-api")
        import subprocess
        cp = subprocess.run([api, "--help"], capture_output=True)
        assert cp.returncode == 0 and b"usage: haink-api" in cp.stdout
        cp = subprocess.run([api, "--bogus"], capture_output=True)
        assert cp.returncode == 2
