#!/usr/bin/env bash
# The main job on the shipped demo checkpoints: capture the demo prompts with the standard and the
# Lazy Attention model, print the diagnostics, write the figures, and open the desktop app when a
# display exists. Output goes to ./attnscope-demo/ (or $1).
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cli="${ATS_CLI:-$top/build/src/cli/attnscope-cli}"
out="${1:-$PWD/attnscope-demo}"
mkdir -p "$out"
prompts="$top/data/prompts/demo.txt"
for m in softmax lazy; do
  echo "== demo-$m: capturing $(grep -c . "$prompts") prompts -> $out/demo-$m.h5"
  "$cli" capture --model "$top/data/models/demo-$m" --prompts "$prompts" --out "$out/demo-$m.h5" --force
done
echo "== figures -> $out/"
for m in softmax lazy; do
  "$cli" render "$out/demo-$m.h5" --run 3 --layer 3 --head 0 --out "$out/demo-$m-L3H0.png"
  "$cli" render "$out/demo-$m.h5" --run 0 --overview --out "$out/demo-$m-overview.png"
done
# standard softmax vs Lazy Attention: per-layer diagnostics, mean over prompts with a ±std band
for metric in first_token_mass sparsity row_mass entropy; do
  "$cli" render "$out/demo-softmax.h5" "$out/demo-lazy.h5" --plot "$metric" --corpus \
    --label "softmax (demo-softmax)" --label "Lazy Attention (demo-lazy)" \
    --out "$out/compare-$metric.png"
done
ls "$out"
echo
echo "Captures: $out/demo-softmax.h5 $out/demo-lazy.h5  (inspect with: $cli info FILE)"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -t 1 ] && [ -x "$top/build/src/gui/attnscope" ] && [ -z "${CI:-}" ]; then
  "$top/build/src/gui/attnscope" "$out/demo-softmax.h5" "$out/demo-lazy.h5" >/dev/null 2>&1 &
fi
