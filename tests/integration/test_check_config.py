"""`haink-api --check-config` and `haink-worker --check-config`: the
configuration and the agents file load, nothing starts (no port is bound, no
Redis is reached), exit 0; any problem exits 2 with it on stderr. make
check-deploy relies on this to prove each deployment's services start.
"""
import os
import subprocess

from haink import BIN, ROOT


def _run(binary, **env):
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            # nothing listens here: --check-config must not connect
            "REDIS_URL": "redis://127.0.0.1:1/0"}
    base.update(env)
    cp = subprocess.run([os.path.join(BIN, binary), "--check-config"], env=base,
                        capture_output=True, timeout=30, cwd=ROOT)
    return cp.returncode, cp.stdout.decode(), cp.stderr.decode()


def test_api_check_config():
    agents = os.path.join(ROOT, "deploy", "agents.json")
    code, out, err = _run("haink-api", SLACK_SIGNING_SECRET="s3cret", AGENTS_FILE=agents)
    assert code == 0 and "configuration ok" in out, (code, out, err)
    code, out, err = _run("haink-api", AGENTS_FILE=agents)
    assert code == 2 and "SLACK_SIGNING_SECRET" in err, (code, err)
    code, out, err = _run("haink-api", SLACK_SIGNING_SECRET="s3cret", AGENTS_FILE="/nonexistent.json")
    assert code == 2 and "/nonexistent.json" in err, (code, err)
    code, out, err = _run("haink-api", SLACK_SIGNING_SECRET="s3cret", PORT="nope")
    assert code == 2 and "PORT" in err, (code, err)


def test_worker_check_config():
    agents = os.path.join(ROOT, "deploy", "agents.json")
    code, out, err = _run("haink-worker", AGENTS_FILE=agents, LLM_PROVIDER="offline")
    assert code == 0 and "configuration ok" in out, (code, out, err)
    code, out, err = _run("haink-worker", AGENTS_FILE="/nonexistent.json")
    assert code == 2 and "/nonexistent.json" in err, (code, err)
    code, out, err = _run("haink-worker", WORKER_CONCURRENCY="0")
    assert code == 2 and "WORKER_CONCURRENCY" in err, (code, err)
