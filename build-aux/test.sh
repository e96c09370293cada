#!/usr/bin/env bash
# The README's second command: install what is missing, build, and run every test suite
# (core, cli, gui — the gui suite under Xvfb).
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
. "$top/build-aux/deps.sh"
ats_install_deps
ats_build "$top" "$top/build"
if [ -x "$top/build-aux/fetch-tokenizers.sh" ]; then
  "$top/build-aux/fetch-tokenizers.sh"
fi
meson test -C "$top/build" --print-errorlogs --num-processes 2 "$@"
# The core suite again under AddressSanitizer + UndefinedBehaviorSanitizer (hostile checkpoint
# headers, tokenizer files and capture files must give clean errors with no finding).
if [ -z "${ATS_NO_SANITIZE:-}" ]; then
  "$top/build-aux/sanitize-tests.sh" --suite core --num-processes 2
fi
# One plain closing line for CI: test programs passed / failed across both runs.
passed=0; failed=0
for log in "$top/build/meson-logs/testlog.json" "${ATS_ASAN_BUILDDIR:-$top/build-asan}/meson-logs/testlog.json"; do
  [ -f "$log" ] || continue
  passed=$((passed + $(grep -c '"result": "OK"' "$log" || true)))
  failed=$((failed + $(grep -c -E '"result": "(FAIL|ERROR|TIMEOUT)"' "$log" || true)))
done
echo "$passed passed, $failed failed"
