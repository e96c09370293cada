#!/usr/bin/env bash
# The main job on the shipped demo checkpoints. Output goes to ./attnscope-demo/ (or $1).
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
if "$cli" --help | grep -q '^  render'; then
  "$cli" render "$out/demo-softmax.h5" --run 0 --layer 0 --head 0 --out "$out/demo-softmax-L0H0.png" || true
  "$cli" render "$out/demo-lazy.h5" --run 0 --layer 0 --head 0 --out "$out/demo-lazy-L0H0.png" || true
  # standard softmax vs Lazy Attention (Elastic-Softmax): per-layer diagnostics over every
  # prompt, mean over runs with a +-std band
  for metric in first_token_mass sparsity row_mass entropy; do
    echo "== comparison figure: $metric per layer -> $out/compare-$metric.png"
    "$cli" render "$out/demo-softmax.h5" "$out/demo-lazy.h5" --plot "$metric" --corpus \
      --label "softmax (demo-softmax)" --label "Lazy Attention (demo-lazy)" \
      --out "$out/compare-$metric.png" || echo "demo: rendering $metric failed" >&2
  done
fi
echo
echo "Captures: $out/demo-softmax.h5 $out/demo-lazy.h5  (inspect with: $cli info FILE)"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -t 1 ] && [ -x "$top/build/src/gui/attnscope" ] && [ -z "${CI:-}" ]; then
  "$top/build/src/gui/attnscope" "$out/demo-softmax.h5" >/dev/null 2>&1 &
fi
