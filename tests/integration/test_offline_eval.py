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
            if code != 0 or NOT_FOUND in out or not any(s in out for s in item["sources"]):
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


def test_api_print_config_without_secret():
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "SLACK_SIGNING_SECRET"}
    cp = subprocess.run([os.path.join(BIN, "haink-api"), "--print-config"], env=env,
                        capture_output=True)
    assert cp.returncode == 0, cp.stderr
    assert b"SLACK_SIGNING_SECRET=(unset)" in cp.stdout, cp.stdout
    # every other check still applies
    env.update(PORT="8123", API_THREADS="0")
    cp = subprocess.run([os.path.join(BIN, "haink-api"), "--print-config"], env=env,
                        capture_output=True)
    assert cp.returncode == 2 and b"API_THREADS" in cp.stderr, cp
    assert b"SLACK_SIGNING_SECRET" not in cp.stderr, cp


def test_cli_verbs_log_warnings_only_unless_verbose():
    with Stack() as st:
        st.redis()
        assert st.run_worker("ingest", "kb/sample", LLM_PROVIDER="offline")[0] == 0
        for args in (("ask", "Which language models work?"), ("kb", "search", "redis"),
                     ("doctor",)):
            code, out, err = st.run_worker(*args, LLM_PROVIDER="offline", LOG_LEVEL="info")
            assert '"level":"info"' not in err and "Which language models" not in err, (args, err)
        code, out, err = st.run_worker("ask", "Which language models work?", "-v",
                                       LLM_PROVIDER="offline", LOG_LEVEL="info")
        assert code == 0 and '"level":"info"' in err, err
        assert "OPENAI_BASE_URL" in out, out


def test_readme_lists_every_verb_and_the_demo_redis():
    import re
    import subprocess
    cp = subprocess.run([os.path.join(BIN, "haink-worker"), "--help"], capture_output=True,
                        text=True)
    verbs = re.findall(r"^  ([a-z-]+)", cp.stdout, re.M)
    assert "run" in verbs and "healthcheck" in verbs and "print-config" in verbs, cp.stdout
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    for v in verbs:
        assert "haink-worker " + v in readme, v
    assert "dlq list [--limit N]" in readme
    assert "REDIS_URL=redis://127.0.0.1:6380/0" in readme and 'PATH="$PWD/build/bin:$PATH"' in readme
    with open(os.path.join(ROOT, "tests/tools/demo.sh")) as f:
        demo = f.read()
    assert "6380" in demo and "000100" not in demo
    for dirpath, _, files in os.walk(os.path.join(ROOT, "kb/sample")):
        for name in files:
            with open(os.path.join(dirpath, name)) as f:
                assert "github.com/haink/haink" not in f.read(), name
    assert "github.com/haink/haink" not in demo
