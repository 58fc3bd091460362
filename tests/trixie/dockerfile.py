#!/usr/bin/env python3
"""Runs one stage of a Dockerfile in a Debian root with chroot, so the images'
own instructions are what `make check-trixie` executes (one source of truth:
no package list or build command is repeated here).

    dockerfile.py DOCKERFILE --root DIR [--stage NAME] [--context DIR]
                  [--from NAME=DIR ...] [--apt-cache DIR] [--show]

The root must already hold the stage's base image (a debootstrap'd trixie
minbase stands in for debian:trixie-*-slim). Supported instructions: FROM,
ARG, ENV, WORKDIR, RUN (shell form, as root or as the current USER), COPY
(context or --from=stage, honouring .dockerignore), USER, and the metadata
instructions (LABEL, EXPOSE, VOLUME, HEALTHCHECK, ENTRYPOINT, CMD), which are
recorded. --show prints the recorded facts as JSON instead of running:
{"packages": [...], "run": [...], "user": "...", "healthcheck": [...]}.
"""
import argparse
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys


def logical_lines(text):
    """Joins backslash continuations; drops comments and blank lines."""
    out, cur = [], ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if cur and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        out.append(cur.strip())
        cur = ""
    if cur.strip():
        out.append(cur.strip())
    return out


def stages(path):
    """Returns [(name or None, [(instruction, args), ...]), ...]."""
    result = []
    for line in logical_lines(open(path).read()):
        ins, _, args = line.partition(" ")
        ins = ins.upper()
        if ins == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            result.append((m.group(2), [("FROM", m.group(1))]))
        elif result:
            result[-1][1].append((ins, args.strip()))
    return result


def pick(all_stages, name):
    if name:
        for n, body in all_stages:
            if n == name:
                return body
        sys.exit("dockerfile: no stage named %s" % name)
    return all_stages[-1][1]


def apt_packages(run):
    """The package names an `apt-get install` in a RUN line names."""
    pkgs = []
    for part in re.split(r"&&|;|\|\|", run):
        words = shlex.split(part)
        if len(words) >= 2 and words[0] == "apt-get" and "install" in words:
            for w in words[words.index("install") + 1:]:
                if not w.startswith("-"):
                    pkgs.append(w)
    return pkgs


def dockerignore(context):
    pats = []
    p = os.path.join(context, ".dockerignore")
    if os.path.exists(p):
        for line in open(p):
            line = line.strip()
            if line and not line.startswith("#"):
                pats.append(line.rstrip("/"))
    return pats


def ignored(rel, pats):
    for pat in pats:
        if pat.startswith("**/"):
            if fnmatch.fnmatch(os.path.basename(rel), pat[3:]):
                return True
        elif rel == pat or rel.startswith(pat + "/") or fnmatch.fnmatch(rel, pat):
            return True
    return False


def copy_context(context, srcs, dest, root):
    """COPY from the build context: a folder's contents into dest, a file to dest
    (or into it when dest ends with '/'); .dockerignore'd paths are left out."""
    pats = dockerignore(context)

    def put(src_abs, target):
        out = os.path.join(root, target.lstrip("/"))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copy2(src_abs, out, follow_symlinks=False)

    for src in srcs:
        base = os.path.normpath(os.path.join(context, src))
        if os.path.isfile(base):
            put(base, os.path.join(dest, os.path.basename(base)) if dest.endswith("/") else dest)
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            rel_dir = os.path.relpath(dirpath, context)
            rel_dir = "" if rel_dir == "." else rel_dir
            dirnames[:] = [d for d in dirnames if not ignored(os.path.join(rel_dir, d), pats)]
            for f in filenames:
                if ignored(os.path.join(rel_dir, f), pats):
                    continue
                inner = os.path.relpath(os.path.join(dirpath, f), base)
                put(os.path.join(dirpath, f), os.path.join(dest, inner))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dockerfile")
    ap.add_argument("--root")
    ap.add_argument("--stage")
    ap.add_argument("--context", default=".")
    ap.add_argument("--from", dest="froms", action="append", default=[])
    ap.add_argument("--show", action="store_true")
    a = ap.parse_args()

    body = pick(stages(a.dockerfile), a.stage)
    froms = dict(f.split("=", 1) for f in a.froms)
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8"}
    facts = {"base": body[0][1], "packages": [], "run": [], "user": None,
             "healthcheck": None, "workdir": "/"}
    workdir, user = "/", None
    for ins, args in body[1:]:
        if ins == "ARG":
            k, _, v = args.partition("=")
            env.setdefault(k, v)
        elif ins == "ENV":
            k, _, v = args.partition("=")
            env[k] = v.strip('"')
        elif ins == "WORKDIR":
            workdir = args
            facts["workdir"] = args
            if not a.show:
                os.makedirs(os.path.join(a.root, args.lstrip("/")), exist_ok=True)
        elif ins == "USER":
            user = args
            facts["user"] = args
        elif ins == "HEALTHCHECK":
            m = re.search(r"CMD\s+(\[.*\])", args)
            facts["healthcheck"] = json.loads(m.group(1)) if m else None
        elif ins == "RUN":
            facts["run"].append(args)
            facts["packages"] += apt_packages(args)
            if a.show:
                continue
            argv = ["chroot"]
            if user:
                argv.append("--userspec=" + user)
            argv += [a.root, "/usr/bin/env", "-i"] + ["%s=%s" % kv for kv in env.items()] + \
                ["/bin/sh", "-c", "cd %s && %s" % (shlex.quote(workdir), args)]
            print("dockerfile: RUN %s" % (args if len(args) < 200 else args[:200] + "..."),
                  flush=True)
            rc = subprocess.run(argv).returncode
            if rc:
                sys.exit("dockerfile: RUN failed with status %d: %s" % (rc, args[:200]))
        elif ins == "COPY":
            words = shlex.split(args)
            src_root = None
            while words and words[0].startswith("--"):
                opt = words.pop(0)
                if opt.startswith("--from="):
                    name = opt.split("=", 1)[1]
                    if name not in froms and not a.show:
                        sys.exit("dockerfile: COPY --from=%s needs --from %s=DIR" % (name, name))
                    src_root = froms.get(name)
            srcs, dest = words[:-1], words[-1]
            if not dest.startswith("/"):
                dest = os.path.join(workdir, dest)
                if words[-1].endswith("/") or words[-1] == ".":
                    dest = dest.rstrip("/") + "/"
            if a.show:
                continue
            if src_root:
                for s in srcs:
                    out = os.path.join(a.root, dest.lstrip("/"))
                    if dest.endswith("/"):
                        out = os.path.join(out, os.path.basename(s))
                    os.makedirs(os.path.dirname(out), exist_ok=True)
                    src = os.path.join(src_root, s.lstrip("/"))
                    if os.path.isdir(src):
                        shutil.copytree(src, out, dirs_exist_ok=True)
                    else:
                        shutil.copy2(src, out)
            else:
                copy_context(a.context, srcs, dest, a.root)
    if a.show:
        json.dump(facts, sys.stdout)
        print()


if __name__ == "__main__":
    main()
