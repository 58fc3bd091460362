"""The Slack app manifests in deploy/: the Socket Mode variant is the HTTP one
(which tests/deploy/check_deploy.sh checks against the API's routes) without
request URLs, and subscribes what the API takes."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HTTP = os.path.join(ROOT, "deploy", "slack-app-manifest.yaml")
SOCKET = os.path.join(ROOT, "deploy", "slack-app-manifest-socket.yaml")


def load(path):
    """Parses YAML with PyYAML (this python, else Debian's, where deps.sh installs it)."""
    code = "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"
    for py in (sys.executable, "/usr/bin/python3"):
        cp = subprocess.run([py, "-c", code, path], capture_output=True)
        if cp.returncode == 0:
            return json.loads(cp.stdout)
    raise AssertionError("cannot parse %s: %s" % (path, cp.stderr.decode()[-300:]))


def without_urls(m):
    m = json.loads(json.dumps(m))
    for c in m["features"]["slash_commands"]:
        c.pop("url", None)
    m["settings"]["event_subscriptions"].pop("request_url", None)
    m["settings"]["interactivity"].pop("request_url", None)
    m["settings"].pop("socket_mode_enabled")
    return m


def test_http_and_socket_manifests_are_the_same_app():
    h, s = load(HTTP), load(SOCKET)
    assert h["settings"]["socket_mode_enabled"] is False
    assert s["settings"]["socket_mode_enabled"] is True
    assert without_urls(h) == without_urls(s)
    assert "request_url" not in s["settings"]["event_subscriptions"]
    assert all("url" not in c for c in s["features"]["slash_commands"])


def test_socket_manifest_subscribes_what_the_api_takes():
    m = load(SOCKET)
    events = set(m["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "assistant_thread_started",
            "assistant_thread_context_changed"} <= events
    scopes = set(m["oauth_config"]["scopes"]["bot"])
    assert {"assistant:write", "chat:write", "im:history", "app_mentions:read",
            "commands"} <= scopes
    assert [c["command"] for c in m["features"]["slash_commands"]] == ["/ask"]
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["features"]["assistant_view"]["assistant_description"]
