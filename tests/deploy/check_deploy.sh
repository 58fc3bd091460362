#!/usr/bin/env bash
#
# Static checks of the deployment files: docker-compose.yml, the Dockerfiles,
# the kustomize base and production overlay, the Terraform module, and the
# environment variable names they use against the ones the binaries read
# (common/config.c).
#
#   bash tests/deploy/check_deploy.sh        # from the repository root
#
# Needs: bash, python3 with PyYAML (falls back to Debian's /usr/bin/python3
# and installs python3-yaml with apt-get when run as root), kubectl (for
# kustomize), terraform. Nothing here needs a Docker daemon, a cluster, or
# network access: checks that would need one (terraform validate fetching
# providers) print SKIP instead and are not counted as passed.
#
# Output: one line per check, "ok - <what>", "FAIL - <what>: <why>" or
# "SKIP - <what>: <why>". The last line is exactly "N passed, N failed".
# Exit status: 0 when nothing failed, 1 otherwise.

set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1

PASS=0
FAILED=0
SKIPPED=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

ok() {
	echo "ok - $1"
	PASS=$((PASS + 1))
}
fail() {
	echo "FAIL - $1: $2"
	FAILED=$((FAILED + 1))
}
skip() {
	echo "SKIP - $1: $2"
	SKIPPED=$((SKIPPED + 1))
}

# Runs one python check group; its lines are echoed and tallied. A crash
# with no FAIL line of its own still counts as one failure.
py_checks() {
	local label=$1 out rc n
	shift
	out=$("$PY" -c "$PYCODE" "$@" 2>&1)
	rc=$?
	[ -n "$out" ] && printf '%s\n' "$out"
	n=$(grep -c '^ok - ' <<<"$out")
	PASS=$((PASS + n))
	n=$(grep -c '^SKIP - ' <<<"$out")
	SKIPPED=$((SKIPPED + n))
	n=$(grep -c '^FAIL - ' <<<"$out")
	FAILED=$((FAILED + n))
	if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then
		fail "$label" "checker exited with status $rc"
	fi
}

find_python() {
	local py
	for py in python3 /usr/bin/python3; do
		if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import yaml' >/dev/null 2>&1; then
			PY=$py
			return 0
		fi
	done
	# Debian's python3-yaml is importable only by Debian's /usr/bin/python3.
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		{ apt-get install -y -qq python3-yaml ||
			{ apt-get update -qq && apt-get install -y -qq python3-yaml; }; } >/dev/null 2>&1
		if /usr/bin/python3 -c 'import yaml' >/dev/null 2>&1; then
			PY=/usr/bin/python3
			return 0
		fi
	fi
	return 1
}

# ---------------------------------------------------------------------------
# The python half: YAML, Dockerfile, HCL and C table parsing. Subcommands:
#   compose FILE | dockerfile FILE api|worker | dockerignore FILE |
#   dockerfiles API WORKER | k8s RENDERED base|production | terraform DIR |
#   env BASE PROD | start BINDIR BASE PROD JOB | docs FILE
# ---------------------------------------------------------------------------
PYCODE=$(
	cat <<'PY'
import glob
import json
import os
import re
import subprocess
import sys

import yaml


def ok(what):
    print(f"ok - {what}")


def fail(what, why):
    print(f"FAIL - {what}: {why}")


def skip(what, why):
    print(f"SKIP - {what}: {why}")


def check(cond, what, why):
    if cond:
        ok(what)
    else:
        fail(what, why)
    return bool(cond)


def as_words(cmd):
    if cmd is None:
        return []
    if isinstance(cmd, str):
        return cmd.split()
    return [str(c) for c in cmd]


def seconds(value):
    """Compose durations like 40s, 1m30s, or a bare number of seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    total, found = 0.0, False
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", str(value)):
        found = True
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[unit]
    return total if found else None


DEFAULT_GRACE_S = 25  # SHUTDOWN_GRACE_S default (docs/architecture.md, "Durability": shutdown)
DEPLOY_GRACE_S = 100  # what every deployment sets (longer than one LLM call; CONTRACTS.md)
HARD_KILL_S = 120  # ECS stopTimeout (Fargate's maximum) and k8s terminationGracePeriodSeconds
API_METRICS_PORT = 9091  # the API's /metrics port (default of API_METRICS_PORT)
DEV_SECRET_PREFIX = "dev-only-"  # the public development signing secret starts with this
DEV_SECRET_NAME = "haink-dev-only-signing-secret"  # its k8s Secret (base only)


def api_keep_alive_ms():
    """API_KEEP_ALIVE_MS from api/server.h, or the keep_alive_timeout_ms
    literal in api/server.c where the define is not there (yet)."""
    try:
        with open("api/server.h") as f:
            m = re.search(r"#define\s+API_KEEP_ALIVE_MS\s+\(?\s*(\d+)", f.read())
        if m:
            return int(m.group(1)), "API_KEEP_ALIVE_MS in api/server.h"
    except OSError:
        pass
    try:
        with open("api/server.c") as f:
            m = re.search(r'"keep_alive_timeout_ms",\s*"(\d+)"', f.read())
        if m:
            return int(m.group(1)), "keep_alive_timeout_ms in api/server.c"
    except OSError:
        pass
    return None, "neither API_KEEP_ALIVE_MS in api/server.h nor keep_alive_timeout_ms in api/server.c"


def env_file_values(path):
    """KEY=value lines of an env file (compose semantics: # comments, no export)."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            out[k.strip()] = v
    return out

# ------------------------------------------------------------------ compose


def compose(path):
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        fail("compose: parse", str(e).splitlines()[0])
        return
    services = (doc or {}).get("services") or {}
    volumes = (doc or {}).get("volumes") or {}
    names = set(services)
    want = {"redis", "api", "worker", "ingest"}
    if not check(want <= names, "compose: services redis, api, worker, ingest",
                 f"missing {sorted(want - names)}"):
        return
    redis, api, worker, ingest = (services[n] for n in ("redis", "api", "worker", "ingest"))

    image = str(redis.get("image", ""))
    check(re.match(r"^redis:8(\.|-|$)", image), "compose: redis image is Redis 8",
          f"image is '{image}'")
    words = " ".join(as_words(redis.get("command")))
    check("--appendonly yes" in words and "--appendfsync everysec" in words,
          "compose: redis runs with AOF (appendonly yes, appendfsync everysec)",
          f"command is '{words}'")
    named = [v.split(":")[0] for v in redis.get("volumes", []) if isinstance(v, str)
             and v.split(":")[1:2] == ["/data"]]
    named += [v.get("source") for v in redis.get("volumes", []) if isinstance(v, dict)
              and v.get("target") == "/data" and v.get("type", "volume") == "volume"]
    check(any(n in volumes for n in named), "compose: redis /data is a named volume",
          f"/data sources {named}, declared volumes {sorted(volumes)}")
    test = " ".join(as_words((redis.get("healthcheck") or {}).get("test")))
    check("redis-cli" in test and "ping" in test, "compose: redis healthcheck is redis-cli ping",
          f"healthcheck test '{test}'")

    def dockerfile_of(svc):
        b = svc.get("build")
        if isinstance(b, dict):
            return b.get("dockerfile")
        return None

    def healthy_redis(svc):
        dep = svc.get("depends_on") or {}
        return isinstance(dep, dict) and (dep.get("redis") or {}).get("condition") == "service_healthy"

    def has_healthcheck(svc):
        hc = svc.get("healthcheck") or {}
        t = as_words(hc.get("test"))
        return bool(t) and not hc.get("disable") and t[0] != "NONE"

    def env_files(svc):
        out = []
        for e in svc.get("env_file") or []:
            out.append(e if isinstance(e, str) else (e or {}).get("path"))
        return out if svc.get("env_file") is not None else []

    check(dockerfile_of(api) == "deploy/Dockerfile.api", "compose: api builds deploy/Dockerfile.api",
          f"dockerfile is {dockerfile_of(api)!r}")
    ports = []
    for p in api.get("ports") or []:
        if isinstance(p, dict):
            ports.append(str(p.get("target")))
        else:
            ports.append(str(p).split("/")[0].split(":")[-1])
    check("8080" in ports, "compose: api publishes container port 8080", f"ports {api.get('ports')}")
    check(has_healthcheck(api), "compose: api has a healthcheck", "no healthcheck test")
    check(healthy_redis(api), "compose: api depends on redis being healthy",
          f"depends_on {api.get('depends_on')}")

    check(dockerfile_of(worker) == "deploy/Dockerfile.worker",
          "compose: worker builds deploy/Dockerfile.worker", f"dockerfile is {dockerfile_of(worker)!r}")
    replicas = (worker.get("deploy") or {}).get("replicas")
    check(replicas == 2, "compose: worker runs 2 replicas", f"deploy.replicas is {replicas!r}")
    check(has_healthcheck(worker), "compose: worker has a healthcheck", "no healthcheck test")
    check(healthy_redis(worker), "compose: worker depends on redis being healthy",
          f"depends_on {worker.get('depends_on')}")

    check("tools" in (ingest.get("profiles") or []), "compose: ingest is under the tools profile",
          f"profiles {ingest.get('profiles')}")
    cmd = as_words(ingest.get("command"))
    check(cmd[:2] == ["ingest", "/opt/haink/kb"], "compose: ingest runs 'ingest /opt/haink/kb'",
          f"command {cmd}")
    check(dockerfile_of(ingest) == "deploy/Dockerfile.worker" or ingest.get("image") == worker.get("image"),
          "compose: ingest uses the worker image", "neither the worker Dockerfile nor its image")

    bad = [n for n in ("api", "worker", "ingest") if "deploy/haink.env" not in env_files(services[n])]
    check(not bad, "compose: api, worker, ingest read deploy/haink.env", f"missing in {bad}")
    bad = []
    for n in ("api", "worker"):
        e = services[n].get("environment") or {}
        grace = int(e.get("SHUTDOWN_GRACE_S", DEFAULT_GRACE_S)) if isinstance(e, dict) else DEFAULT_GRACE_S
        g = seconds(services[n].get("stop_grace_period", "10s"))
        if grace != DEPLOY_GRACE_S:
            bad.append(f"{n}: SHUTDOWN_GRACE_S {grace}")
        if g is None or g <= grace:
            bad.append(f"{n}: stop_grace_period {services[n].get('stop_grace_period', '10s (default)')}")
    check(not bad, f"compose: SHUTDOWN_GRACE_S {DEPLOY_GRACE_S} and stop_grace_period above it", ", ".join(bad))

    # API_METRICS_PORT: published on loopback only, never next to 8080 on all interfaces
    pub = [str(p) for p in api.get("ports") or []]
    metrics = [p for p in pub if p.split("/")[0].split(":")[-1] == str(API_METRICS_PORT)]
    check(metrics and all(p.startswith("127.0.0.1:") for p in metrics),
          f"compose: api metrics port {API_METRICS_PORT} published on 127.0.0.1 only", f"ports {pub}")

    # offline start: a dev-only signing secret first, deploy/haink.env after it (it wins)
    bad = []
    for n in ("api", "worker", "ingest"):
        files = env_files(services[n])
        if files[:1] != ["deploy/compose-dev.env"] or "deploy/haink.env" not in files[1:]:
            bad.append(f"{n}: env_file {files}")
    try:
        dev = env_file_values("deploy/compose-dev.env")
    except OSError as e:
        dev = {}
        bad.append(str(e))
    if set(dev) != {"SLACK_SIGNING_SECRET"} or not dev.get("SLACK_SIGNING_SECRET", "").startswith(DEV_SECRET_PREFIX):
        bad.append(f"deploy/compose-dev.env sets {sorted(dev)} (only a {DEV_SECRET_PREFIX}... SLACK_SIGNING_SECRET allowed)")
    check(not bad, "compose: dev-only signing secret (deploy/compose-dev.env) read first, deploy/haink.env overrides it",
          "; ".join(bad))


# ---------------------------------------------------------------- dockerfile


def dockerfile_instructions(path):
    logical, buf = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not buf and line.strip().startswith("#"):
                continue
            if buf and line.strip().startswith("#"):
                continue  # comment lines inside a continued instruction
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            if buf.strip():
                logical.append(buf.strip())
            buf = ""
    if buf.strip():
        logical.append(buf.strip())
    out = []
    for l in logical:
        parts = l.split(None, 1)
        out.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
    return out


def global_args(ins):
    """Defaults of the ARGs declared before the first FROM (usable in FROM lines)."""
    out = {}
    for k, a in ins:
        if k == "FROM":
            break
        if k == "ARG" and "=" in a:
            name, _, val = a.partition("=")
            out[name.strip()] = val.strip().strip('"')
    return out


def expand_args(text, args):
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m.group(1), m.group(0)), text)


def dockerfile(path, kind):
    tag = f"{os.path.basename(path)}:"
    try:
        ins = dockerfile_instructions(path)
    except OSError as e:
        fail(f"{tag} readable", str(e))
        return
    gargs = global_args(ins)
    ins = [(k, expand_args(a, gargs)) if k == "FROM" else (k, a) for k, a in ins]
    froms = [(i, a) for i, (k, a) in enumerate(ins) if k == "FROM"]
    check(len(froms) >= 2, f"{tag} multi-stage (2 or more FROM)", f"{len(froms)} FROM")
    stages, bad = set(), []
    for _, args in froms:
        words = [w for w in args.split() if not w.startswith("--")]
        image = words[0] if words else ""
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2].lower())
        if image.lower() in stages:
            continue
        name, _, digest = image.partition("@")
        last = name.rsplit("/", 1)[-1]
        t = last.split(":", 1)[1] if ":" in last else ""
        if digest:
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                bad.append(f"{image} (malformed digest)")
            continue
        if not t or t == "latest" or "$" in image or not re.search(r"\d{8}", t):
            bad.append(image)
    check(froms and not bad, f"{tag} base images pinned (dated tag or digest, never latest)",
          f"unpinned {bad}")
    final = ins[froms[-1][0]:] if froms else []
    build = ins[froms[0][0]:froms[-1][0]] if len(froms) > 1 else []
    users = [a.strip() for k, a in final if k == "USER"]
    uid = users[-1].split(":")[0] if users else ""
    check(uid == "10001", f"{tag} runs as non-root uid 10001", f"final USER is {users[-1] if users else 'unset'}")
    vols = " ".join(a for k, a in final if k == "VOLUME")
    check(re.search(r'(^|[\s\["])/tmp(["\]\s]|$)', vols), f"{tag} VOLUME [\"/tmp\"] (ECS bind mount gets the image's 1777 /tmp)",
          f"VOLUME {vols or 'none'}")
    hcs = [a for k, a in final if k == "HEALTHCHECK"]
    check(hcs and "NONE" not in hcs[-1].split(), f"{tag} HEALTHCHECK present", "none in the final stage")
    expected_hc = "haink-api\", \"--healthcheck" if kind == "api" else "haink-worker\", \"healthcheck"
    check(hcs and expected_hc in hcs[-1], f"{tag} HEALTHCHECK uses the binary's own health check",
          f"HEALTHCHECK is {hcs[-1] if hcs else None!r}")
    adds = [a for k, a in ins if k == "ADD" and re.search(r"(https?|ftp)://|git@", a)]
    check(not adds, f"{tag} no ADD of URLs", f"{adds}")
    apt = [a for k, a in ins if k == "RUN" and re.search(r"apt-get (install|update)", a)]
    dirty = [a[:60] for a in apt if "rm -rf /var/lib/apt/lists" not in a]
    check(apt and not dirty, f"{tag} apt lists removed in the same RUN", f"{dirty or 'no apt-get RUN'}")
    recs = [a[:60] for a in apt if "apt-get install" in a and "--no-install-recommends" not in a]
    check(not recs, f"{tag} apt-get install uses --no-install-recommends", f"{recs}")
    dev = [a for k, a in final if k == "RUN" for p in a.split() if p.endswith("-dev") or p == "build-essential"]
    check(not dev, f"{tag} runtime stage has no compilers or -dev packages", "found build packages")
    runs = " ".join(a for k, a in build if k == "RUN")
    check(re.search(r"\bmake\b[^&;|]*\binstall\b[^&;|]*\bPREFIX=", runs),
          f"{tag} build stage builds and installs with make install PREFIX=", f"RUN {runs[:80]!r}")
    port = "8080" if kind == "api" else "9090"
    exposes = " ".join(a for k, a in final if k == "EXPOSE").split()
    check(port in [e.split("/")[0] for e in exposes], f"{tag} EXPOSE {port}", f"EXPOSE {exposes}")
    labels = " ".join(a for k, a in final if k == "LABEL")
    need = ["org.opencontainers.image.title", "org.opencontainers.image.version",
            "org.opencontainers.image.revision", "org.opencontainers.image.source",
            "org.opencontainers.image.description"]
    missing = [n for n in need if n not in labels]
    # source is optional until the project has a public URL
    missing = [n for n in missing if n != "org.opencontainers.image.source"]
    check(not missing, f"{tag} OCI labels", f"missing {missing}")
    ep = [a for k, a in final if k == "ENTRYPOINT"]
    check(ep and ep[-1].startswith("["), f"{tag} exec-form ENTRYPOINT", f"ENTRYPOINT {ep}")
    copies = [a for k, a in final if k == "COPY" and "--from" not in a]
    if kind == "worker":
        check(any(re.match(r"kb/?\s+/opt/haink/kb/?$", c) for c in copies),
              f"{tag} ships kb/ at /opt/haink/kb", f"COPY {copies}")
    check(any(re.match(r"deploy/agents\.json\s+/opt/haink/agents\.json$", c) for c in copies),
          f"{tag} ships deploy/agents.json at /opt/haink/agents.json", f"COPY {copies}")
    missing = []
    for k, a in ins:
        if k not in ("COPY", "ADD") or "--from" in a:
            continue
        srcs = [w for w in a.split() if not w.startswith("--")][:-1]
        for s in srcs:
            if re.match(r"(https?|ftp)://|git@", s):
                continue  # reported by the ADD check
            if not glob.glob(s.rstrip("/") or "."):
                missing.append(s)
    check(not missing, f"{tag} COPY sources exist in the build context",
          f"not in the repository yet: {missing}")


def dockerfiles(api_path, worker_path):
    """Both images build on the same base, named once per file (ARG BASE_IMAGE)."""
    bases = []
    for p in (api_path, worker_path):
        try:
            bases.append(global_args(dockerfile_instructions(p)).get("BASE_IMAGE"))
        except OSError:
            bases.append(None)
    check(bases[0] and bases[0] == bases[1], "Dockerfiles: api and worker share one BASE_IMAGE",
          f"BASE_IMAGE {bases}")
    digest = (bases[0] or "").partition("@")[2]
    if digest:
        check(re.fullmatch(r"sha256:[0-9a-f]{64}", digest), "Dockerfiles: base image pinned by digest", digest)
    else:
        skip("Dockerfiles: base image pinned by digest",
             "dated tag only; run deploy/pin-base-image.sh where the registry is reachable")


def dockerignore(path):
    try:
        lines = [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]
    except OSError:
        fail(".dockerignore: present", "missing at the repository root")
        return
    check(".git" in lines and any(l.rstrip("/") == "build" for l in lines),
          ".dockerignore: excludes .git and build/", f"entries {lines}")
    check("deploy/haink.env" in lines, ".dockerignore: excludes deploy/haink.env (local secrets)", "not listed")
    shipped = [l for l in lines if l.rstrip("/*") in ("kb", "deploy", "deploy/agents.json", "common", "api", "worker")]
    check(not shipped, ".dockerignore: keeps sources, kb/ and deploy/agents.json", f"excludes {shipped}")


# ----------------------------------------------------------------------- k8s


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def index(docs):
    return {(d.get("kind"), (d.get("metadata") or {}).get("name")): d for d in docs}


def pod_of(obj):
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def resolve_port(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return port


def k8s(path, variant):
    tag = f"k8s {variant}:"
    try:
        docs = load_docs(path)
    except (OSError, yaml.YAMLError) as e:
        fail(f"{tag} rendered YAML parses", str(e).splitlines()[0])
        return
    idx = index(docs)
    want = [("Namespace", "haink"), ("ConfigMap", "haink-config"), ("Deployment", "haink-api"),
            ("Service", "haink-api"), ("HorizontalPodAutoscaler", "haink-api"),
            ("PodDisruptionBudget", "haink-api"), ("Deployment", "haink-worker"),
            ("PodDisruptionBudget", "haink-worker"), ("ScaledObject", "haink-worker")]
    if variant == "base":
        want += [("StatefulSet", "haink-redis"), ("Service", "haink-redis")]
    else:
        want += [("TriggerAuthentication", "haink-redis")]
    missing = [f"{k}/{n}" for k, n in want if (k, n) not in idx]
    check(not missing, f"{tag} renders the expected objects", f"missing {missing}")
    wrong_ns = [f"{d['kind']}/{d['metadata']['name']}" for d in docs
                if d.get("kind") != "Namespace" and (d.get("metadata") or {}).get("namespace") != "haink"]
    check(not wrong_ns, f"{tag} every object in namespace haink", f"{wrong_ns}")
    secrets = [d for d in docs if d.get("kind") == "Secret"]
    if variant == "base":
        # exactly one: the public development-only signing secret, so the base starts with no keys
        dev = [d for d in secrets if d["metadata"]["name"] == DEV_SECRET_NAME]
        others = [d["metadata"]["name"] for d in secrets if d["metadata"]["name"] != DEV_SECRET_NAME]
        data = (dev[0].get("stringData") or {}) if dev else {}
        labels = (dev[0]["metadata"].get("labels") or {}) if dev else {}
        check(dev and not others and set(data) == {"SLACK_SIGNING_SECRET"}
              and str(data["SLACK_SIGNING_SECRET"]).startswith(DEV_SECRET_PREFIX)
              and labels.get("haink.dev/development-only") == "true",
              f"{tag} only Secret rendered is the labelled dev-only signing secret (real ones are created out of band)",
              f"dev {bool(dev)}, others {others}, keys {sorted(data)}, labels {labels}")
    else:
        names = [d["metadata"]["name"] for d in secrets]
        check(not names, f"{tag} no Secret objects rendered (secrets are created out of band)", f"{names}")
        refs = []
        for w in docs:
            spec = pod_of(w) if w.get("kind") in ("Deployment", "StatefulSet", "Job") else {}
            for c in spec.get("containers") or []:
                for ef in c.get("envFrom") or []:
                    if (ef.get("secretRef") or {}).get("name") == DEV_SECRET_NAME:
                        refs.append(f"{w['metadata']['name']}/{c['name']}")
                for e in c.get("env") or []:
                    if ((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name") == DEV_SECRET_NAME:
                        refs.append(f"{w['metadata']['name']}/{c['name']}")
        check(not refs, f"{tag} no container reads the dev-only signing secret", f"{refs}")
        api = idx.get(("Deployment", "haink-api")) or {}
        c = (pod_of(api).get("containers") or [{}])[0]
        req = [ef["secretRef"] for ef in c.get("envFrom") or [] if (ef.get("secretRef") or {}).get("name") == "haink-secrets"]
        check(req and all(r.get("optional") is False or "optional" not in r for r in req),
              f"{tag} haink-api requires Secret haink-secrets (a real signing secret)", f"secretRef {req}")

    cm = (idx.get(("ConfigMap", "haink-config")) or {}).get("data") or {}
    docket = cm.get("DOCKET_NAME")
    check(docket == "haink", f"{tag} ConfigMap DOCKET_NAME is haink", f"DOCKET_NAME is {docket!r}")
    grace = int(cm.get("SHUTDOWN_GRACE_S", DEFAULT_GRACE_S))

    workloads = [d for d in docs if d.get("kind") in ("Deployment", "StatefulSet")]
    probe_bad, res_bad, sc_bad, img_bad = [], [], [], []
    for w in workloads:
        pod = pod_of(w)
        psc = pod.get("securityContext") or {}
        for c in pod.get("containers") or []:
            where = f"{w['metadata']['name']}/{c['name']}"
            if not c.get("livenessProbe") or not c.get("readinessProbe"):
                probe_bad.append(where)
            r = c.get("resources") or {}
            for part in ("requests", "limits"):
                have = r.get(part) or {}
                if "cpu" not in have or "memory" not in have:
                    res_bad.append(f"{where} {part}")
            sc = c.get("securityContext") or {}
            if sc.get("allowPrivilegeEscalation") is not False:
                sc_bad.append(f"{where} allowPrivilegeEscalation")
            if sc.get("readOnlyRootFilesystem") is not True:
                sc_bad.append(f"{where} readOnlyRootFilesystem")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                sc_bad.append(f"{where} capabilities.drop ALL")
            if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
                sc_bad.append(f"{where} runAsNonRoot")
            seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                sc_bad.append(f"{where} seccompProfile RuntimeDefault")
            image = str(c.get("image", ""))
            last = image.split("@")[0].rsplit("/", 1)[-1]
            if "@" not in image and (":" not in last or last.endswith(":latest")):
                img_bad.append(f"{where} {image}")
    check(workloads and not probe_bad, f"{tag} every container has liveness and readiness probes", f"{probe_bad}")
    check(workloads and not res_bad, f"{tag} every container sets cpu/memory requests and limits", f"{res_bad}")
    check(workloads and not sc_bad, f"{tag} every container is locked down (securityContext)", f"{sc_bad}")
    check(workloads and not img_bad, f"{tag} every image has a pinned tag (not latest)", f"{img_bad}")

    expect = {"haink-api": ("/healthz", "/readyz", 8080), "haink-worker": ("/livez", "/readyz", 9090)}
    for name, (live, ready, port) in expect.items():
        d = idx.get(("Deployment", name))
        if not d:
            continue
        pod = pod_of(d)
        c = (pod.get("containers") or [{}])[0]
        lp = (c.get("livenessProbe") or {}).get("httpGet") or {}
        rp = (c.get("readinessProbe") or {}).get("httpGet") or {}
        got = (lp.get("path"), resolve_port(c, lp.get("port")), rp.get("path"), resolve_port(c, rp.get("port")))
        check(got == (live, port, ready, port),
              f"{tag} {name} probes: liveness {live}, readiness {ready} on {port}", f"got {got}")
        if name == "haink-worker":
            sp = c.get("startupProbe") or {}
            sg = sp.get("httpGet") or {}
            budget = sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3)
            check(sg.get("path") == "/livez" and resolve_port(c, sg.get("port")) == port and budget >= 30,
                  f"{tag} {name} startupProbe on /livez with at least 30 s to start",
                  f"startupProbe {sp}")
        psc = pod.get("securityContext") or {}
        csc = c.get("securityContext") or {}
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        check(uid == 10001, f"{tag} {name} runs as uid 10001", f"runAsUser {uid!r}")
        vols = {v["name"]: v for v in pod.get("volumes") or []}
        tmp = [m for m in c.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
        check(tmp and "emptyDir" in vols.get(tmp[0]["name"], {}), f"{tag} {name} mounts an emptyDir at /tmp",
              "no emptyDir volume at /tmp")
        tgp = pod.get("terminationGracePeriodSeconds", 30)
        check(tgp > grace and tgp == HARD_KILL_S and grace == DEPLOY_GRACE_S,
              f"{tag} {name} terminationGracePeriodSeconds {HARD_KILL_S} above SHUTDOWN_GRACE_S {DEPLOY_GRACE_S}",
              f"terminationGracePeriodSeconds {tgp}, SHUTDOWN_GRACE_S {grace}")
        ru = (((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {})
        check(str(ru.get("maxUnavailable")) in ("0", "0%"), f"{tag} {name} rolling update maxUnavailable 0",
              f"maxUnavailable {ru.get('maxUnavailable')!r}")
        labels = (((d.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        pdb = idx.get(("PodDisruptionBudget", name)) or {}
        sel = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        check(sel and all(labels.get(k) == v for k, v in sel.items()), f"{tag} {name} PDB selects its pods",
              f"selector {sel} vs labels {labels}")
        if variant == "production":
            env = {e["name"]: e for e in c.get("env") or []}
            ref = ((env.get("REDIS_URL") or {}).get("valueFrom") or {}).get("secretKeyRef")
            check(ref, f"{tag} {name} reads REDIS_URL from a Secret", "REDIS_URL is not a secretKeyRef")

    # API_METRICS_PORT: a container port of its own, scraped there, not on the Service
    api = idx.get(("Deployment", "haink-api")) or {}
    c = (pod_of(api).get("containers") or [{}])[0]
    mport = int(cm.get("API_METRICS_PORT", API_METRICS_PORT))
    cports = {p.get("containerPort") for p in c.get("ports") or []}
    ann = ((((api.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {})
    svc_ports = {resolve_port(c, p.get("targetPort")) for p in ((idx.get(("Service", "haink-api")) or {}).get("spec") or {}).get("ports") or []}
    check(mport == API_METRICS_PORT and mport in cports and str(ann.get("prometheus.io/port")) == str(mport)
          and mport not in svc_ports,
          f"{tag} haink-api /metrics on API_METRICS_PORT {API_METRICS_PORT}: container port, scrape annotation, not on the Service",
          f"API_METRICS_PORT {mport}, container ports {sorted(p for p in cports if p)}, "
          f"annotation {ann.get('prometheus.io/port')}, Service target ports {svc_ports}")

    svc = idx.get(("Service", "haink-api")) or {}
    labels = (((api.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    sel = (svc.get("spec") or {}).get("selector") or {}
    check(sel and all(labels.get(k) == v for k, v in sel.items()), f"{tag} Service haink-api selects the API pods",
          f"selector {sel}")
    hpa = idx.get(("HorizontalPodAutoscaler", "haink-api")) or {}
    hs = hpa.get("spec") or {}
    cpu = [m for m in hs.get("metrics") or [] if (m.get("resource") or {}).get("name") == "cpu"]
    check((hs.get("scaleTargetRef") or {}).get("name") == "haink-api" and cpu and hs.get("minReplicas", 1) >= 2,
          f"{tag} HPA scales haink-api on CPU with at least 2 replicas", f"spec {hs}")

    so = idx.get(("ScaledObject", "haink-worker")) or {}
    ss = so.get("spec") or {}
    check((ss.get("scaleTargetRef") or {}).get("name") == "haink-worker", f"{tag} ScaledObject targets haink-worker",
          f"scaleTargetRef {ss.get('scaleTargetRef')}")
    stream = f"docket:{{{docket}}}:tasks"
    trig = [t for t in ss.get("triggers") or [] if t.get("type") == "redis-streams"]
    bad = []
    for t in trig:
        m = t.get("metadata") or {}
        if m.get("stream") != stream or m.get("stream") != "docket:{haink}:tasks":
            bad.append(f"stream {m.get('stream')!r}")
        if m.get("consumerGroup") != "workers":
            bad.append(f"consumerGroup {m.get('consumerGroup')!r}")
        if not ("pendingEntriesCount" in m or "lagCount" in m):
            bad.append("neither pendingEntriesCount nor lagCount")
        auth = (t.get("authenticationRef") or {}).get("name")
        if not (m.get("address") or m.get("addressFromEnv") or m.get("host") or auth):
            bad.append("no Redis address")
        if auth:
            ta = idx.get(("TriggerAuthentication", auth)) or {}
            params = [r.get("parameter") for r in (ta.get("spec") or {}).get("secretTargetRef") or []]
            if "address" not in params and not m.get("address"):
                bad.append(f"TriggerAuthentication {auth} gives no address")
    check(trig and not bad,
          f"{tag} KEDA redis-streams triggers use stream docket:{{haink}}:tasks, group workers, and a Redis address",
          f"{bad or 'no redis-streams trigger'}")
    if variant == "base":
        ns = (so.get("metadata") or {}).get("namespace")
        addrs = [(t.get("metadata") or {}).get("address", "") for t in trig]
        try:
            with open("k8s/base/worker.yaml") as f:
                literal = re.findall(r"address:\s*(\S+)", f.read())
        except OSError:
            literal = []
        check(addrs and all(a == f"haink-redis.{ns}.svc.cluster.local:6379" for a in addrs)
              and literal and not any(f".{ns}." in a for a in literal),
              f"{tag} KEDA address follows the kustomization namespace (not hard-coded in worker.yaml)",
              f"rendered {addrs}, namespace {ns}, in worker.yaml {literal}")
    else:
        bad = []
        for t in trig:
            auth = (t.get("authenticationRef") or {}).get("name")
            ta = idx.get(("TriggerAuthentication", auth)) or {}
            params = {r.get("parameter"): r for r in (ta.get("spec") or {}).get("secretTargetRef") or []}
            if not {"address", "password", "tls"} <= set(params):
                bad.append(f"{t.get('name')}: TriggerAuthentication {auth} parameters {sorted(params)}")
            if (t.get("metadata") or {}).get("address"):
                bad.append(f"{t.get('name')}: literal address")
        try:
            ex = load_docs("k8s/overlays/production/secret.example.yaml")
            sd = (index(ex).get(("Secret", "haink-redis")) or {}).get("stringData") or {}
        except (OSError, yaml.YAMLError):
            sd = {}
        if str(sd.get("REDIS_URL", "")).startswith("rediss://") and sd.get("tls") != "enable":
            bad.append(f"secret.example.yaml: rediss:// REDIS_URL but tls {sd.get('tls')!r}")
        check(trig and not bad, f"{tag} KEDA TriggerAuthentication carries address, password and tls for rediss://",
              f"{bad}")
        ing = [d for d in docs if d.get("kind") == "Ingress"]
        bad = []
        for d in ing:
            for rule in (d.get("spec") or {}).get("rules") or []:
                for pth in ((rule.get("http") or {}).get("paths")) or []:
                    path = pth.get("path", "")
                    be = (pth.get("backend") or {}).get("service") or {}
                    if not (path.startswith("/slack") or path.startswith("/ui")):
                        bad.append(f"path {path}")
                    if be.get("name") != "haink-api" or (be.get("port") or {}).get("name") != "http":
                        bad.append(f"backend {be}")
            if not (d.get("spec") or {}).get("tls"):
                bad.append(f"{d['metadata']['name']}: no tls")
        check(ing and not bad, f"{tag} Ingress example routes only /slack (and /ui) to haink-api over TLS",
              f"{bad or 'no Ingress rendered'}")

    if variant == "base":
        check(str(cm.get("REDIS_URL", "")).startswith("redis://haink-redis:"),
              f"{tag} REDIS_URL points at the in-cluster Redis", f"REDIS_URL {cm.get('REDIS_URL')!r}")
        sts = idx.get(("StatefulSet", "haink-redis")) or {}
        c = (pod_of(sts).get("containers") or [{}])[0]
        words = " ".join(as_words(c.get("command")) + as_words(c.get("args")))
        check("--appendonly yes" in words and "--appendfsync everysec" in words
              and (sts.get("spec") or {}).get("volumeClaimTemplates"),
              f"{tag} dev Redis runs AOF everysec on a persistent volume", f"args '{words}'")
    else:
        check("REDIS_URL" not in cm, f"{tag} ConfigMap carries no REDIS_URL", "REDIS_URL still in the ConfigMap")
        check(("StatefulSet", "haink-redis") not in idx and ("Service", "haink-redis") not in idx,
              f"{tag} development Redis removed", "haink-redis still rendered")


# ----------------------------------------------------------------- terraform


def strip_hcl_comments(text):
    out = []
    for line in text.splitlines():
        s = line.lstrip()
        if s.startswith("#") or s.startswith("//"):
            continue
        out.append(line)
    return "\n".join(out)


def balanced(text, start):
    """Index just past the bracketed expression opening at text[start]."""
    pairs = {"{": "}", "(": ")", "[": "]"}
    stack, i, in_str = [], start, False
    while i < len(text):
        ch = text[i]
        if in_str:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in pairs:
            stack.append(pairs[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
            if not stack:
                return i + 1
        i += 1
    return len(text)


def hcl_blocks(text, rtype):
    blocks = {}
    for m in re.finditer(r'resource\s+"%s"\s+"([^"]+)"\s*{' % re.escape(rtype), text):
        blocks[m.group(1)] = text[m.end() - 1:balanced(text, m.end() - 1)]
    return blocks


def read_tf(directory):
    text = ""
    for p in sorted(glob.glob(os.path.join(directory, "*.tf"))):
        with open(p) as f:
            text += strip_hcl_comments(f.read()) + "\n"
    return text


def terraform(directory):
    text = read_tf(directory)
    if not text.strip():
        fail("terraform: configuration present", f"no .tf files in {directory}")
        return
    m = re.search(r'aws\s*=\s*{[^}]*version\s*=\s*"([^"]+)"', text)
    check(m and re.match(r"~>\s*5(\.|$)", m.group(1)), "terraform: aws provider pinned to ~> 5.x",
          f"version {m.group(1) if m else None!r}")
    services = hcl_blocks(text, "aws_ecs_service")
    bad = []
    for name in ("api", "worker"):
        body = services.get(name, "")
        if not body:
            bad.append(f"{name}: missing")
            continue
        cb = re.search(r"deployment_circuit_breaker\s*{([^}]*)}", body)
        if not (cb and re.search(r"enable\s*=\s*true", cb.group(1)) and re.search(r"rollback\s*=\s*true", cb.group(1))):
            bad.append(f"{name}: circuit breaker with rollback")
        if not re.search(r"deployment_minimum_healthy_percent\s*=\s*100\b", body):
            bad.append(f"{name}: minimum healthy 100")
    check(not bad, "terraform: ECS services api and worker roll out safely (circuit breaker + rollback, min healthy 100%)",
          f"{bad}")
    tds = hcl_blocks(text, "aws_ecs_task_definition")
    bad = []
    for name in ("api", "worker"):
        body = tds.get(name, "")
        st = re.search(r"stopTimeout\s*=\s*(\d+)", body)
        if not st or int(st.group(1)) <= DEFAULT_GRACE_S:
            bad.append(f"{name}: stopTimeout {st.group(1) if st else 'unset'}")
        if "readonlyRootFilesystem = true" not in re.sub(r"\s+", " ", body):
            bad.append(f"{name}: readonlyRootFilesystem")
        if not re.search(r"healthCheck\s*=", body):
            bad.append(f"{name}: healthCheck")
    check(not bad, f"terraform: task definitions stop after SHUTDOWN_GRACE_S, read-only root, health checks", f"{bad}")
    tg = " ".join(hcl_blocks(text, "aws_lb_target_group").values())
    check(re.search(r'path\s*=\s*"/(healthz|readyz)"', tg), "terraform: target group health check on /healthz or /readyz",
          "no such health_check path")
    lg = hcl_blocks(text, "aws_cloudwatch_log_group")
    check(lg and all("retention_in_days" in b for b in lg.values()), "terraform: log groups have a retention",
          f"{sorted(lg)}")
    alarms = " ".join(hcl_blocks(text, "aws_cloudwatch_metric_alarm").values())
    need = ["HTTPCode_Target_5XX_Count", "UnHealthyHostCount", "CPUUtilization", "RunningTaskCount"]
    missing = [n for n in need if n not in alarms]
    check(not missing, "terraform: alarms for 5xx, unhealthy hosts, CPU high, running task count", f"missing {missing}")
    check(hcl_blocks(text, "aws_ecr_lifecycle_policy"), "terraform: ECR lifecycle policies", "none")
    terraform_rules(text)
    check(len(hcl_blocks(text, "aws_appautoscaling_target")) >= 2, "terraform: autoscaling targets for api and worker",
          "fewer than two aws_appautoscaling_target")


def tf_var_default(text, name):
    m = re.search(r'variable\s+"%s"\s*{' % re.escape(name), text)
    if not m:
        return None
    body = text[m.end() - 1:balanced(text, m.end() - 1)]
    d = re.search(r"^\s*default\s*=\s*(.+)$", body, re.M)
    return d.group(1).strip().strip('"') if d else None


def tf_locals_map(text, name):
    """Flat KEY = value pairs of a locals map `name = merge(..., { ... })` or `name = { ... }`."""
    m = re.search(r"\b%s\s*=\s*" % re.escape(name), text)
    if not m:
        return {}
    end = balanced(text, text.index("(" if text[m.end():].startswith("merge") else "{", m.end()))
    body = text[m.end():end]
    return dict(re.findall(r'^\s*"?([A-Za-z_][A-Za-z0-9_]*)"?\s*=\s*(.+?)\s*$', body, re.M))


def emf_metric_names():
    try:
        with open("worker/queue/emf.c") as f:
            src = f.read()
    except OSError:
        return set()
    return set(re.findall(r'add_metric\(defs,\s*root,\s*"([A-Za-z]+)"', src))


def terraform_rules(text):
    """Issue 18's rules for the ECS module, each checked statically."""
    flat = re.sub(r"\s+", " ", text)
    # 1. ALB idle timeout below the API's keep-alive
    ka_ms, where = api_keep_alive_ms()
    lb = hcl_blocks(text, "aws_lb").get("api", "")
    m = re.search(r"idle_timeout\s*=\s*(\d+)", lb)
    idle = int(m.group(1)) if m else 60  # the ALB default
    check(ka_ms and idle * 1000 < ka_ms, "terraform: ALB idle_timeout below the API keep-alive (else the ALB answers 502)",
          f"idle_timeout {idle} s, API keep-alive {ka_ms} ms ({where})")

    # 2. services wait for the REDIS_URL secret version; task definitions name that version
    services = hcl_blocks(text, "aws_ecs_service")
    bad = [n for n in ("api", "worker")
           if not re.search(r"depends_on\s*=\s*\[[^\]]*aws_secretsmanager_secret_version\.redis_url", services.get(n, ""))]
    pinned = re.search(r'aws_secretsmanager_secret\.app\[name\]\.arn\}:::\$\{aws_secretsmanager_secret_version\.redis_url\[0\]\.version_id\}', text)
    check(not bad and pinned, "terraform: ECS services depend on the REDIS_URL secret version (first apply with ElastiCache)",
          f"no depends_on in {bad}" if bad else "task definitions do not name the REDIS_URL version id")

    # 3. queue depth published and scaled on
    env = tf_locals_map(text, "worker_environment")
    emitted = emf_metric_names()
    used = set(re.findall(r'namespace\s*=\s*"Haink"\s*metric_name\s*=\s*"([A-Za-z]+)"', flat))
    used |= set(re.findall(r'namespace\s*=\s*"Haink"\s*,?\s*metric_name\s*=\s*"([A-Za-z]+)"', flat))
    check(env.get("QUEUE_METRICS_EMF", "").strip('"') in ("true", "1") and tf_var_default(text, "worker_queue_depth_scaling") == "true"
          and "QueueDepth" in used and used and used <= emitted,
          "terraform: workers publish the queue as EMF and the step policy (on by default) scales on Haink/QueueDepth",
          f"QUEUE_METRICS_EMF {env.get('QUEUE_METRICS_EMF')}, scaling default {tf_var_default(text, 'worker_queue_depth_scaling')}, "
          f"Haink metrics used {sorted(used)}, emitted by worker/queue/emf.c {sorted(emitted)}")

    # 5 and 7. health check start period, drain that fits the work
    tds = hcl_blocks(text, "aws_ecs_task_definition")
    bad = []
    for n in ("api", "worker"):
        st = re.search(r"stopTimeout\s*=\s*(\d+)", tds.get(n, ""))
        if not st or int(st.group(1)) != HARD_KILL_S:
            bad.append(f"{n}: stopTimeout {st.group(1) if st else 'unset'}")
    grace = tf_var_default(text, "shutdown_grace_s")
    if grace != str(DEPLOY_GRACE_S):
        bad.append(f"shutdown_grace_s default {grace}")
    hc = re.search(r"healthCheck\s*=\s*{([^}]*)}", tds.get("worker", ""))
    sp = re.search(r"startPeriod\s*=\s*(\d+)", hc.group(1)) if hc else None
    if not (hc and '"haink-worker", "healthcheck"' in hc.group(1) and sp and 30 <= int(sp.group(1)) <= 300):
        bad.append(f"worker healthCheck {hc.group(1).split() if hc else None}")
    check(not bad, f"terraform: stopTimeout {HARD_KILL_S}, SHUTDOWN_GRACE_S {DEPLOY_GRACE_S}, worker health check with a 30-300 s startPeriod",
          f"{bad}")

    # 6. only /slack/* (and /ui with enable_dev_ui) reach the API; default action a fixed 404
    listeners = hcl_blocks(text, "aws_lb_listener")
    bad = []
    for n, body in listeners.items():
        da = re.search(r"default_action\s*{", body)
        dbody = body[da.end() - 1:balanced(body, da.end() - 1)] if da else ""
        if "forward" in dbody or "target_group_arn" in dbody:
            bad.append(f"{n}: default action forwards")
        if "fixed_response" not in dbody or '"404"' not in dbody:
            bad.append(f"{n}: default action is not a fixed 404")
    rules = hcl_blocks(text, "aws_lb_listener_rule")
    patterns = re.search(r"public_path_patterns\s*=\s*(.+)", text)
    pat = patterns.group(1) if patterns else ""
    allowed = set(re.findall(r'"(/[^"]*)"', pat))
    if not rules or not any("local.public_path_patterns" in b and "forward" in b for b in rules.values()):
        bad.append("no forward rule on local.public_path_patterns")
    if allowed - {"/slack/*", "/ui", "/ui/*"} or "/slack/*" not in allowed:
        bad.append(f"patterns {sorted(allowed)}")
    if ("/ui" in pat) and "var.enable_dev_ui ?" not in pat:
        bad.append("/ui not behind var.enable_dev_ui")
    check(not bad, "terraform: ALB forwards only /slack/* (and /ui with enable_dev_ui); default action fixed 404", f"{bad}")

    # 13.3 API metrics on their own port, not reachable through the ALB
    api_env = tf_locals_map(text, "api_environment")
    ports = re.findall(r"containerPort\s*=\s*(\d+)", tds.get("api", ""))
    sg_ports = re.findall(r"from_port\s*=\s*(\d+)", " ".join(hcl_blocks(text, "aws_vpc_security_group_ingress_rule").values()))
    check(api_env.get("API_METRICS_PORT", "").strip('"') == str(API_METRICS_PORT) and str(API_METRICS_PORT) in ports
          and str(API_METRICS_PORT) not in sg_ports and "/metrics" not in pat,
          f"terraform: API /metrics on API_METRICS_PORT {API_METRICS_PORT}, no ALB path or security group rule to it",
          f"API_METRICS_PORT {api_env.get('API_METRICS_PORT')}, container ports {ports}, ingress ports {sg_ports}")

    # 8. alarms
    alarms = " ".join(hcl_blocks(text, "aws_cloudwatch_metric_alarm").values())
    need = {"Redis memory": "RedisMemoryUsedPercent", "dead-letter growth": "DeadLetters",
            "oldest pending age": "OldestPendingAgeSeconds"}
    missing = [k for k, v in need.items() if f'"{v}"' not in alarms]
    if "DIFF(dead)" not in alarms:
        missing.append("dead-letter growth is not a DIFF")
    check(not missing and tf_var_default(text, "alarm_redis_memory_percent") == "80",
          "terraform: alarms on Redis memory above 80 %, dead-letter growth, oldest pending task age", f"missing {missing}")

    # 9. UI_TOKEN as a secret; IAM names per environment
    check(re.search(r'var\.enable_dev_ui\s*\?\s*{\s*UI_TOKEN\s*=\s*\["api"\]', text),
          "terraform: UI_TOKEN settable on ECS as a Secrets Manager secret (enable_dev_ui)", "no UI_TOKEN in secret_env")
    roles = hcl_blocks(text, "aws_iam_role")
    bad = [n for n, b in roles.items() if "${var.environment}" not in (re.search(r'name\s*=\s*"([^"]*)"', b) or [None, ""])[1]]
    check(roles and not bad, "terraform: IAM role names include the environment (account-wide names)", f"{bad}")

    # 9b. your own knowledge base: kb_s3_uri -> a one-off task that syncs, then ingests
    ing = hcl_blocks(text, "aws_ecs_task_definition").get("ingest", "")
    m = re.search(r'data\s+"aws_iam_policy_document"\s+"ingest_read_kb"\s*{', text)
    pol = text[m.end() - 1:balanced(text, m.end() - 1)] if m else ""
    bad = []
    if not re.search(r'command\s*=\s*\["ingest",\s*"/kb"\]', ing):
        bad.append("no ingest container running `ingest /kb`")
    if not re.search(r'dependsOn\s*=\s*\[\{\s*containerName\s*=\s*"kb-sync",\s*condition\s*=\s*"SUCCESS"', ing):
        bad.append("ingest does not wait for kb-sync SUCCESS")
    if not re.search(r'sourceVolume\s*=\s*"kb",\s*containerPath\s*=\s*"/kb",\s*readOnly\s*=\s*true', ing):
        bad.append("ingest does not mount /kb read-only")
    if not re.search(r'"s3",\s*"sync",\s*var\.kb_s3_uri', ing):
        bad.append("kb-sync does not sync var.kb_s3_uri")
    if not pol or re.search(r'"s3:\*"|arn:aws:s3:::\*', pol) or "s3:PutObject" in pol:
        bad.append("the ingest task role is not limited to reading the kb prefix")
    check(not bad, "terraform: kb_s3_uri gives a one-off ingest task (S3 sync, then ingest read-only; role reads only that prefix)",
          f"{bad}")


# ------------------------------------------------------------------------ env


def c_code_only(src):
    """C source with comments removed (string and char literals kept)."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def env_example_names(path):
    names = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"^#?([A-Z][A-Z0-9_]*)=", line)
            if m:
                names.add(m.group(1))
    return names


def k8s_env_names(rendered_paths):
    """Variable names the haink containers get: env entries plus every key of
    the ConfigMaps and Secrets they load with envFrom. Secrets are out of
    band, so their keys come from k8s/**/secret*.example.yaml."""
    docs = []
    for p in rendered_paths:
        docs += load_docs(p)
    for p in glob.glob("k8s/**/secret*.example.yaml", recursive=True):
        docs += load_docs(p)
    idx = index(docs)
    names, configmap_keys = set(), set()
    for w in docs:
        if w.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        for c in pod_of(w).get("containers") or []:
            if "haink" not in str(c.get("image", "")):
                continue
            names |= {e["name"] for e in c.get("env") or []}
            for ef in c.get("envFrom") or []:
                if "configMapRef" in ef:
                    keys = set(((idx.get(("ConfigMap", ef["configMapRef"]["name"])) or {}).get("data") or {}))
                    names |= keys
                    configmap_keys |= keys
                if "secretRef" in ef:
                    s = idx.get(("Secret", ef["secretRef"]["name"])) or {}
                    names |= set(s.get("stringData") or {}) | set(s.get("data") or {})
    return names, configmap_keys


def terraform_env_names(directory):
    """All-caps map keys in the .tf files are container variable names (the
    only all-caps identifiers the module uses). Returns (all, plain), plain
    being those outside the secret_env map."""
    text = read_tf(directory)
    key = re.compile(r'(?:^|[{,])\s*"?([A-Z][A-Z0-9_]+)"?\s*=(?!=)', re.M)
    names = set(key.findall(text))
    m = re.search(r"\bsecret_env\s*=\s*", text)
    plain_text = text
    if m:
        end = balanced(text, m.end())
        plain_text = text[:m.start()] + text[end:]
    return names, set(key.findall(plain_text))


def env(base_render, prod_render):
    what = "env: names the binaries read, from common/config.c"
    try:
        with open("common/config.c") as f:
            src = c_code_only(f.read())
    except OSError:
        fail(what, "common/config.c does not exist yet (the config module has not been written), "
                   "so no variable name can be verified")
        for s in ("docker-compose.yml", "deploy/haink.env.example", "k8s/", "terraform/"):
            skip(f"env: {s} uses only known names", "no names to compare against")
        skip("env: deploy/haink.env.example documents every known name", "no names to compare against")
        skip("env: secrets stay out of ConfigMap, compose environment and terraform environment",
             "no names to compare against")
        return
    known = set(re.findall(r'CFG_[A-Z]+\(\s*"([A-Z0-9_]+)"', src))
    secret = set(re.findall(r'CFG_SECRET\(\s*"([A-Z0-9_]+)"', src))
    if not check(known, what, "no CFG_...(\"NAME\", ...) rows found"):
        return
    print(f"# {len(known)} known names ({len(secret)} secret)")

    def compare(label, names):
        unknown = sorted(names - known)
        check(not unknown, f"env: {label} uses only known names ({len(names)} names)",
              f"unknown to the binaries: {', '.join(unknown)}")

    compose_env = set()
    try:
        with open("docker-compose.yml") as f:
            services = (yaml.safe_load(f) or {}).get("services") or {}
        for name, svc in services.items():
            e = svc.get("environment") or {}
            if isinstance(e, list):
                e = dict((x.split("=", 1) + [""])[:2] for x in e)
            if name != "redis":
                compose_env |= set(e)
        compare("docker-compose.yml", compose_env)
    except (OSError, yaml.YAMLError) as e:
        fail("env: docker-compose.yml uses only known names", f"cannot read it: {e}")

    example = set()
    try:
        example = env_example_names("deploy/haink.env.example")
        compare("deploy/haink.env.example", example)
        missing = sorted(known - example)
        check(not missing, "env: deploy/haink.env.example documents every known name",
              f"not documented: {', '.join(missing)}")
    except OSError as e:
        fail("env: deploy/haink.env.example uses only known names", str(e))

    configmap_keys = set()
    try:
        names, configmap_keys = k8s_env_names([p for p in (base_render, prod_render) if os.path.getsize(p)])
        compare("k8s/", names)
    except (OSError, yaml.YAMLError) as e:
        fail("env: k8s/ uses only known names", f"cannot read the rendered manifests: {e}")

    tf_all, tf_plain = terraform_env_names("terraform")
    compare("terraform/", tf_all)

    leaks = sorted(secret & configmap_keys) + sorted(f"compose:{n}" for n in secret & compose_env) + \
        sorted(f"terraform:{n}" for n in secret & tf_plain)
    check(not leaks, "env: secrets stay out of ConfigMap, compose environment and terraform environment",
          f"secret names set in plain configuration: {', '.join(leaks)}")


# --------------------------------------------------------------------- start
#
# Runs each service's command, with exactly the environment compose or a
# kustomize render gives it, as `<binary> --check-config`: configuration and
# agents file load, nothing is started, exit 0 means the service starts. The
# image's files are found where its Dockerfile copies them from (e.g.
# /opt/haink/agents.json is deploy/agents.json).


def image_of(image):
    return "worker" if "haink-worker" in str(image) else "api" if "haink-api" in str(image) else None


def image_spec(kind):
    """(entrypoint, cmd, {container path: repo path}) of deploy/Dockerfile.<kind>'s final stage."""
    ins = dockerfile_instructions(f"deploy/Dockerfile.{kind}")
    last = max(i for i, (k, _) in enumerate(ins) if k == "FROM")
    final = ins[last:]

    def exec_form(key):
        vals = [a for k, a in final if k == key]
        return json.loads(vals[-1]) if vals and vals[-1].startswith("[") else []

    files = {}
    for k, a in final:
        if k == "COPY" and "--from" not in a:
            words = a.split()
            for src in words[:-1]:
                files[words[-1].rstrip("/")] = src.rstrip("/")
    return exec_form("ENTRYPOINT"), exec_form("CMD"), files


def localize(value, files):
    for dst, src in files.items():
        if value == dst or value.startswith(dst + "/"):
            return src + value[len(dst):]
    return value


_verbs = {}


def known_verb(bindir, binary, verb):
    if binary != "haink-worker":
        return True
    if binary not in _verbs:
        out = subprocess.run([os.path.join(bindir, binary), "help"], capture_output=True, text=True, timeout=20)
        _verbs[binary] = {l.split()[0] for l in (out.stdout + out.stderr).splitlines()
                          if l.startswith("  ") and l.split()}
    if not _verbs[binary]:
        return False  # reported as an unknown verb: the usage text lists none
    return verb in _verbs[binary]


def try_start(bindir, label, kind, command, args, env, expect=True):
    """command/args as the orchestrator gives them (None: the image's)."""
    entry, cmd, files = image_spec(kind)
    words = (command if command is not None else entry) + (args if args is not None else (cmd if command is None else []))
    if not words:
        fail(label, "no command")
        return
    binary = os.path.basename(words[0])
    path = os.path.join(bindir, binary)
    if not os.access(path, os.X_OK):
        fail(label, f"{path} is not built (run make first)")
        return
    problems = []
    if len(words) > 1 and not known_verb(bindir, binary, words[1]):
        problems.append(f"unknown verb {words[1]!r}")
    for w in words[2:]:
        if w.startswith("/") and localize(w, files) != w and not os.path.exists(localize(w, files)):
            problems.append(f"{w} is not in the image")
    local = {k: localize(str(v), files) for k, v in env.items()}
    proc = subprocess.run([path, "--check-config"], env=local, capture_output=True, text=True, timeout=30)
    started = proc.returncode == 0 and not problems
    why = "; ".join(problems + [l for l in (proc.stderr or proc.stdout).splitlines()[:3]]) or f"exit {proc.returncode}"
    if expect:
        check(started, label, f"`{' '.join(words)}`: {why}")
    else:
        check(not started, label, f"`{' '.join(words)}` would start: {sorted(env)}")


def compose_env(doc, name):
    svc = doc["services"][name]
    env = {}
    for e in svc.get("env_file") or []:
        path, required = (e, True) if isinstance(e, str) else (e.get("path"), e.get("required", True))
        if not required:
            continue  # the documented first run: no deploy/haink.env
        env.update(env_file_values(path))
    e = svc.get("environment") or {}
    if isinstance(e, list):
        e = dict((x.split("=", 1) + [""])[:2] for x in e)
    env.update({k: "" if v is None else str(v) for k, v in e.items()})
    return env


def pod_env(c, idx):
    """(env, missing required sources) of a container, as the kubelet builds it."""
    import base64
    env, missing = {}, []

    def obj_data(kind, name):
        o = idx.get((kind, name))
        if o is None:
            return None
        d = dict(o.get("data") or {})
        if kind == "Secret":
            d = {k: base64.b64decode(v).decode() for k, v in d.items()}
            d.update(o.get("stringData") or {})
        return {k: str(v) for k, v in d.items()}

    for ef in c.get("envFrom") or []:
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if key in ef:
                d = obj_data(kind, ef[key]["name"])
                if d is None:
                    if not ef[key].get("optional"):
                        missing.append(f"{kind} {ef[key]['name']}")
                else:
                    env.update(d)
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = str(e["value"])
            continue
        vf = e.get("valueFrom") or {}
        for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            if key in vf:
                d = obj_data(kind, vf[key]["name"])
                if d is not None and vf[key]["key"] in d:
                    env[e["name"]] = d[vf[key]["key"]]
                elif not vf[key].get("optional"):
                    missing.append(f"{kind} {vf[key]['name']} key {vf[key]['key']}")
    return env, missing


def k8s_start(bindir, label, docs, extra=(), expect=True):
    idx = index(list(docs) + list(extra))
    for w in docs:
        if w.get("kind") not in ("Deployment", "Job"):
            continue
        for c in pod_of(w).get("containers") or []:
            kind = image_of(c.get("image"))
            if not kind:
                continue
            env, missing = pod_env(c, idx)
            what = f"{label} {w['metadata']['name']}"
            if expect:
                if missing:
                    fail(f"{what} starts with what the render gives it", f"required but not rendered: {missing}")
                    continue
                try_start(bindir, f"{what} starts with what the render gives it (--check-config)", kind,
                          c.get("command"), c.get("args"), env)
            elif kind == "api":
                if missing:
                    ok(f"{what} does not start without a real secret (required {', '.join(missing)})")
                else:
                    try_start(bindir, f"{what} does not start without a real signing secret", kind,
                              c.get("command"), c.get("args"), env, expect=False)


def start(bindir, base_render, prod_render, job_render):
    try:
        with open("docker-compose.yml") as f:
            doc = yaml.safe_load(f)
        for name in ("api", "worker", "ingest"):
            svc = doc["services"][name]
            kind = "api" if (svc.get("build") or {}).get("dockerfile", "").endswith(".api") else "worker"
            cmd = svc.get("command")
            try_start(bindir, f"start: compose {name} starts with no keys (--check-config)", kind,
                      as_words(svc.get("entrypoint")) or None, as_words(cmd) if cmd is not None else None,
                      compose_env(doc, name))
    except (OSError, yaml.YAMLError, KeyError) as e:
        fail("start: compose services", str(e))
    base = load_docs(base_render) if os.path.getsize(base_render) else []
    prod = load_docs(prod_render) if os.path.getsize(prod_render) else []
    job = load_docs(job_render) if os.path.getsize(job_render) else []
    if not base or not prod or not job:
        fail("start: k8s renders", "a kustomize render is missing (see above)")
        return
    k8s_start(bindir, "start: k8s base", base)
    k8s_start(bindir, "start: k8s jobs/ingest (with the base)", job, extra=base)
    # production: nothing development-only to fall back on; with the real
    # Secrets (here: the examples) it starts
    k8s_start(bindir, "start: k8s production", prod, expect=False)
    examples = []
    for p in ("k8s/base/secret.example.yaml", "k8s/overlays/production/secret.example.yaml"):
        examples += load_docs(p)
    label = "start: k8s production with its Secrets (secret.example.yaml)"
    if subprocess.run(["pkg-config", "--exists", "hiredis_ssl"]).returncode != 0:
        # The images build with hiredis' TLS (trixie); a host build without
        # hiredis_ssl refuses rediss:// at start, so check the rest of the
        # configuration with the scheme swapped.
        for d in examples:
            sd = d.get("stringData") or {}
            if str(sd.get("REDIS_URL", "")).startswith("rediss://"):
                sd["REDIS_URL"] = "redis://" + sd["REDIS_URL"][len("rediss://"):]
        label += " [rediss:// read as redis://: this host's hiredis has no TLS]"
    k8s_start(bindir, label, prod, extra=examples)


# ---------------------------------------------------------------------- docs


def docs(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        fail(f"docs: {path}", str(e))
        return
    need = {
        "the idle-timeout rule for any load balancer": ["API_KEEP_ALIVE_MS", "upstream-keepalive-timeout"],
        "an Ingress example": ["k8s/overlays/production/ingress.yaml"],
        "getting the image into a cluster": ["kind load docker-image", "minikube image load", "k3s ctr images import"],
        "a terraform plan walkthrough with pinned providers": ["terraform plan", "required_providers", "~> 5."],
        "deploying your own knowledge base (ECS and k8s)": ["k8s/jobs/ingest", "run-task"],
        "KEDA over TLS": ["tls=enable"],
        "the API metrics port": ["API_METRICS_PORT"],
    }
    for what, words in need.items():
        missing = [w for w in words if w not in text]
        check(not missing, f"docs: {path} covers {what}", f"does not mention {missing}")
    # terraform/README.md: commands take names from the outputs; jq is a prerequisite
    try:
        with open("terraform/README.md") as f:
            tf = f.read()
    except OSError as e:
        fail("docs: terraform/README.md", str(e))
        return
    bad = [w for w in ("terraform output -json task_network", "worker_task_definition_family",
                       "terraform output -json secret_arns", "`jq`") if w not in tf]
    bad += [f"hard-coded {w!r}" for w in ("--secret-id \"haink/", "--task-definition haink-worker",
                                          "assignPublicIp=DISABLED") if w in tf]
    check(not bad, "docs: terraform/README.md reads names from the outputs (task_network, secret_arns) and lists jq",
          f"{bad}")


def manifest(path):
    """deploy/slack-app-manifest.yaml: parses; its URLs are the API's routes; its events,
    scopes and settings are the ones the code handles."""
    try:
        with open(path) as f:
            m = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        fail(f"manifest: {path} parses", str(e))
        return
    ok(f"manifest: {path} parses")
    st = m.get("settings") or {}
    urls = {
        "events": (st.get("event_subscriptions") or {}).get("request_url"),
        "interactive": (st.get("interactivity") or {}).get("request_url"),
        "commands": ((m.get("features") or {}).get("slash_commands") or [{}])[0].get("url"),
    }
    with open("api/server.c") as f:
        server = f.read()
    bad = [f"{k}: {u}" for k, u in urls.items()
           if not u or not u.startswith("https://HOST/slack/") or f'"{u[len("https://HOST"):]}"' not in server]
    check(not bad, "manifest: request URLs are https://HOST + the API's /slack/* routes", f"{bad}")
    events = set((st.get("event_subscriptions") or {}).get("bot_events") or [])
    check(events == {"app_mention", "message.im", "assistant_thread_started", "assistant_thread_context_changed"},
          "manifest: bot events are the ones the API handles",
          f"{sorted(events)}")
    scopes = set(((m.get("oauth_config") or {}).get("scopes") or {}).get("bot") or [])
    need = {"app_mentions:read", "chat:write", "commands", "im:history", "channels:history", "groups:history",
            "assistant:write"}
    check(need <= scopes, "manifest: bot scopes cover events, posting, /ask and finding placeholders",
          f"missing {sorted(need - scopes)}")
    cmds = [c.get("command") for c in (m.get("features") or {}).get("slash_commands") or []]
    check(cmds == ["/ask"] and st.get("interactivity", {}).get("is_enabled") is True
          and st.get("socket_mode_enabled") is False
          and ((m.get("features") or {}).get("assistant_view") or {}).get("assistant_description"),
          "manifest: /ask, interactivity on, the assistant view, socket mode off (HTTP mode)", f"{cmds} {st}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"manifest": manifest, "compose": compose, "dockerfile": dockerfile, "dockerignore": dockerignore, "k8s": k8s,
     "terraform": terraform, "env": env, "dockerfiles": dockerfiles, "start": start,
     "docs": docs}[cmd](*args)
PY
)

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
echo "# deployment checks in $ROOT"

if ! find_python; then
	fail "python3 with PyYAML" "none found and python3-yaml could not be installed"
	echo "$PASS passed, $FAILED failed"
	exit 1
fi

# docker-compose.yml ---------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
	if err=$(docker compose -f docker-compose.yml config -q 2>&1); then
		ok "compose: docker compose config accepts docker-compose.yml"
	else
		fail "compose: docker compose config accepts docker-compose.yml" "$(head -n 3 <<<"$err" | tr '\n' ' ')"
	fi
else
	if err=$("$PY" -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' docker-compose.yml 2>&1); then
		ok "compose: docker-compose.yml parses (YAML; the docker compose plugin is not installed)"
	else
		fail "compose: docker-compose.yml parses" "$(tail -n 1 <<<"$err")"
	fi
fi
py_checks compose compose docker-compose.yml

# Dockerfiles ------------------------------------------------------------------
py_checks dockerignore dockerignore .dockerignore
py_checks Dockerfile.api dockerfile deploy/Dockerfile.api api
py_checks Dockerfile.worker dockerfile deploy/Dockerfile.worker worker
py_checks Dockerfiles dockerfiles deploy/Dockerfile.api deploy/Dockerfile.worker

# YAML style -------------------------------------------------------------------
if command -v yamllint >/dev/null 2>&1; then
	yl_conf='{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}}}'
	if err=$(yamllint -f parsable -d "$yl_conf" docker-compose.yml k8s deploy/slack-app-manifest.yaml 2>&1); then
		ok "yamllint: docker-compose.yml, k8s/ and the Slack app manifest"
	else
		fail "yamllint: docker-compose.yml and k8s/" "$(head -n 3 <<<"$err" | tr '\n' ' ')"
	fi
else
	skip "yamllint: docker-compose.yml and k8s/" "yamllint is not installed (apt-get install yamllint)"
fi

# Kubernetes -------------------------------------------------------------------
: >"$TMP/base.yaml"
: >"$TMP/production.yaml"
: >"$TMP/ingest-job.yaml"
if ! command -v kubectl >/dev/null 2>&1; then
	fail "k8s: kubectl kustomize" "kubectl is not installed"
else
	for variant in base production; do
		dir=k8s
		[ "$variant" = production ] && dir=k8s/overlays/production
		if err=$(kubectl kustomize "$dir" 2>&1 >"$TMP/$variant.yaml"); then
			ok "k8s $variant: kubectl kustomize $dir renders"
			py_checks "k8s $variant" k8s "$TMP/$variant.yaml" "$variant"
		else
			: >"$TMP/$variant.yaml"
			fail "k8s $variant: kubectl kustomize $dir renders" "$(head -n 3 <<<"$err" | tr '\n' ' ')"
		fi
	done
	if err=$(kubectl kustomize k8s/jobs/ingest 2>&1 >"$TMP/ingest-job.yaml"); then
		ok "k8s jobs/ingest: kubectl kustomize k8s/jobs/ingest renders"
	else
		: >"$TMP/ingest-job.yaml"
		fail "k8s jobs/ingest: kubectl kustomize k8s/jobs/ingest renders" "$(head -n 3 <<<"$err" | tr '\n' ' ')"
	fi
	# Socket Mode example: renders, no Ingress, API replicas fixed within Slack's 10 connections
	if out=$(kubectl kustomize k8s/overlays/socket-mode 2>&1); then
		if grep -q '^kind: Ingress' <<<"$out"; then
			fail "k8s socket-mode: renders without an Ingress" "an Ingress is still there"
		elif ! grep -q 'SLACK_SOCKET_CONNECTIONS: "2"' <<<"$out" || ! grep -q 'maxReplicas: 2' <<<"$out"; then
			fail "k8s socket-mode: renders without an Ingress" "SLACK_SOCKET_CONNECTIONS or the API replicas are not pinned"
		else
			ok "k8s socket-mode: kubectl kustomize k8s/overlays/socket-mode renders without an Ingress"
		fi
	else
		fail "k8s socket-mode: kubectl kustomize k8s/overlays/socket-mode renders" "$(head -n 3 <<<"$out" | tr '\n' ' ')"
	fi
fi

# Terraform --------------------------------------------------------------------
if ! command -v terraform >/dev/null 2>&1; then
	skip "terraform: fmt -check" "terraform is not installed"
	skip "terraform: validate" "terraform is not installed"
else
	if err=$(terraform fmt -check -recursive terraform/ 2>/dev/null); then
		ok "terraform: fmt -check -recursive terraform/"
	else
		fail "terraform: fmt -check -recursive terraform/" "needs formatting: $(tr '\n' ' ' <<<"$err")"
	fi
	# validate needs the providers; work on a copy so no .terraform/ or lock
	# file lands in the tree.
	cp -r terraform "$TMP/tf"
	rm -rf "$TMP/tf/.terraform"
	if err=$(cd "$TMP/tf" && timeout 120 terraform init -backend=false -input=false -no-color 2>&1); then
		if err=$(cd "$TMP/tf" && terraform validate -no-color 2>&1); then
			ok "terraform: validate"
		else
			fail "terraform: validate" "$(grep -m 3 -i 'error' <<<"$err" | tr '\n' ' ')"
		fi
	elif grep -qiE 'registry\.terraform\.io|could not connect|no such host|dial tcp|timeout|Failed to query available provider packages' <<<"$err" ||
		[ -z "$err" ]; then
		skip "terraform: validate" "providers cannot be downloaded here (no registry access); terraform init -backend=false failed"
	else
		fail "terraform: init -backend=false" "$(grep -m 3 -i 'error' <<<"$err" | tr '\n' ' ')"
	fi
fi
state=$(find terraform \( -name '*.tfstate' -o -name '*.tfstate.*' -o -name '*.tfplan' -o -name 'terraform.tfvars' \) -print 2>/dev/null)
tracked=""
if git rev-parse --git-dir >/dev/null 2>&1; then
	tracked=$(git ls-files -- terraform | grep -E '\.tfstate|\.tfplan$|/\.terraform/|terraform\.tfvars$' || true)
fi
if [ -z "$tracked" ]; then
	ok "terraform: no state, plan or tfvars files tracked by git"
else
	fail "terraform: no state, plan or tfvars files tracked by git" "$(tr '\n' ' ' <<<"$tracked")"
fi
[ -n "$state" ] && echo "# note: untracked local files present: $(tr '\n' ' ' <<<"$state")"
py_checks terraform terraform terraform

# Environment variable names -----------------------------------------------------
py_checks env env "$TMP/base.yaml" "$TMP/production.yaml"

# Each service starts with the environment it is given -----------------------------
py_checks start start "${BUILD_DIR:-build}/bin" "$TMP/base.yaml" "$TMP/production.yaml" "$TMP/ingest-job.yaml"

# The operator's guide ------------------------------------------------------------
py_checks docs docs docs/deploy.md
py_checks manifest manifest deploy/slack-app-manifest.yaml

echo "# $SKIPPED skipped (not counted)"
echo "$PASS passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
