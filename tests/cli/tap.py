"""The small TAP harness shared by the cli suite's Python tests.

Each test file registers cases with @case("name"); a case fails by raising AssertionError
(check()) or any other exception, and is reported as skipped when its message starts with
"SKIP". finish() prints the TAP stream and exits with the suite's status.
"""
import os
import subprocess
import sys

SRC = os.environ["ATS_SOURCE_ROOT"]
CLI = os.path.join(os.environ["ATS_BUILD_ROOT"], "src", "cli", "attnscope-cli")
FIX = os.path.join(SRC, "tests", "reference", "fixtures")
PY = sys.executable

results = []


def run(*args, **kw):
    """attnscope-cli with @args; captured text output."""
    return subprocess.run([CLI, *args], capture_output=True, text=True, **kw)


def case(name):
    def deco(fn):
        try:
            fn()
            results.append((True, name, ""))
        except AssertionError as e:
            results.append((False, name, str(e)))
        except Exception as e:  # a crash in the test itself is a failure too
            results.append((False, name, repr(e)))
        return fn
    return deco


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def finish():
    for i, (ok, name, why) in enumerate(results, 1):
        if not ok and why.startswith("SKIP"):
            print(f"ok {i} - {name} # {why}")
            continue
        print(f"{'ok' if ok else 'not ok'} {i} - {name}")
        if not ok:
            for line in why.splitlines()[:20]:
                print("# " + line)
    print(f"1..{len(results)}")
    sys.exit(0 if all(r[0] or r[2].startswith("SKIP") for r in results) else 1)
