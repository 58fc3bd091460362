#!/usr/bin/env python3
"""Runs Python test modules: every function named test_* in the given files or
folders (test_*.py), each in order, and ends with "N passed, N failed".

    python3 tests/run.py tests/integration [-k substring]

A module may define setup_module() / teardown_module(). A test fails when it
raises (AssertionError or anything else); the traceback is printed.
"""
import importlib.util
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))


def modules(paths):
    for p in paths:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                if name.startswith("test_") and name.endswith(".py"):
                    yield os.path.join(p, name)
        else:
            yield p


def main(argv):
    k = None
    if "-k" in argv:
        i = argv.index("-k")
        k = argv[i + 1]
        del argv[i:i + 2]
    passed = failed = 0
    for path in modules(argv):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
            if hasattr(mod, "setup_module"):
                mod.setup_module()
        except Exception:
            traceback.print_exc()
            print("FAIL %s (module setup)" % name, flush=True)
            failed += 1
            continue
        try:
            tests = [(n, f) for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
            for tname, fn in tests:
                full = "%s.%s" % (name, tname)
                if k and k not in full:
                    continue
                t0 = time.monotonic()
                try:
                    fn()
                    passed += 1
                    print("ok   %s (%.1fs)" % (full, time.monotonic() - t0), flush=True)
                except Exception:
                    failed += 1
                    traceback.print_exc()
                    print("FAIL %s (%.1fs)" % (full, time.monotonic() - t0), flush=True)
        finally:
            if hasattr(mod, "teardown_module"):
                try:
                    mod.teardown_module()
                except Exception:
                    traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
