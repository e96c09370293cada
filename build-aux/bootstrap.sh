#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the main job on the
# shipped demo checkpoints (capture the demo prompts with the standard and the Lazy Attention
# model, print the diagnostics, write the figures, open the desktop app when a display exists).
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
. "$top/build-aux/deps.sh"
ats_install_deps
ats_build "$top" "$top/build"
exec "$top/build-aux/demo.sh" "$@"
