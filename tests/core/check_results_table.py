#!/usr/bin/env python3
"""The README's demo results table is what build-aux/results-table.sh prints now (TAP).

Runs the script (captures data/prompts/demo.txt with the shipped demo models through the built
attnscope-cli) and compares every table row that starts with "| demo-" with the README's: same
rows, same text cells, numbers equal within one unit of their last printed digit (threads may
change the float rounding). Skips when README.md holds no such table yet.
"""
import os
import re
import subprocess
import sys

root = os.environ.get("ATS_SOURCE_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
build = os.environ.get("ATS_BUILD_ROOT", os.path.join(root, "build"))
cli = os.path.join(build, "src", "cli", "attnscope-cli")


def rows(text):
    return [[c.strip() for c in l.strip().strip("|").split("|")] for l in text.splitlines() if l.startswith("| demo-")]


NUM = re.compile(r"^\**(-?[0-9]+(?:\.([0-9]+))?)\**( %)?$")


def same(a, b):
    ma, mb = NUM.match(a), NUM.match(b)
    if not (ma and mb):
        return a == b
    ulp = 10.0 ** -len(ma.group(2) or "")
    return abs(float(ma.group(1)) - float(mb.group(1))) <= ulp * 1.0001


print("1..2")
readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
want = rows(readme)
env = dict(os.environ, ATS_CLI=cli)
p = subprocess.run([os.path.join(root, "build-aux", "results-table.sh")], capture_output=True, text=True, env=env)
got = rows(p.stdout)
ok = p.returncode == 0 and len(got) > 0
print(("ok" if ok else "not ok") + " 1 build-aux/results-table.sh prints the table")
if not ok:
    sys.stdout.write("# " + p.stderr.replace("\n", "\n# ") + "\n")
    print("ok 2 # SKIP no table")
    sys.exit(1)
if not want:
    print("ok 2 # SKIP README.md has no demo results table yet")
    sys.exit(0)
bad = []
if len(want) != len(got):
    bad.append(f"README has {len(want)} rows, fresh run {len(got)}")
for w, g in zip(want, got):
    if len(w) != len(g) or not all(same(x, y) for x, y in zip(w, g)):
        bad.append("README: | " + " | ".join(w) + " |\n# fresh:  | " + " | ".join(g) + " |")
for b in bad:
    print("# " + b)
print(("ok" if not bad else "not ok") + " 2 README table equals a fresh run")
sys.exit(1 if bad else 0)
