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
