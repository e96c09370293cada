#!/bin/sh
# Regenerates screenshots/*.png from a real attnscope window under Xvfb.
#
#   build-aux/screenshots.sh [BUILD_DIR]      (default: build)
#
# Captures the demo prompts with the shipped demo checkpoint (data/models/demo-lazy, Lazy
# Attention) through attnscope-cli and renders every view of it off-screen
# (gtk_widget_paintable_new -> gsk_renderer_render_texture -> PNG). The comparison shot uses two
# synthetic captures of one prompt from tests/gui/make_sample_capture.py (softmax vs
# Elastic-Softmax patterns; needs python3-h5py), since only one demo checkpoint ships.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$src/build"}
case $build in /*) ;; *) build="$src/$build" ;; esac
out="$src/screenshots"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ninja -C "$build" src/cli/attnscope-cli tests/gui/attnscope-screenshots >/dev/null

"$build/src/cli/attnscope-cli" capture --quiet -m "$src/data/models/demo-lazy" \
  --prompts "$src/data/prompts/demo.txt" -o "$tmp/demo-lazy.h5" >/dev/null
python=${ATS_PYTHON:-/usr/bin/python3}
"$python" "$src/tests/gui/make_sample_capture.py" "$tmp/softmax.h5" --kind softmax
"$python" "$src/tests/gui/make_sample_capture.py" "$tmp/elastic.h5" --kind elastic

mkdir -p "$out"
GTK_A11Y=none GSETTINGS_BACKEND=memory XDG_DATA_HOME="$tmp" XDG_CACHE_HOME="$tmp" \
  xvfb-run -a -s '-screen 0 1600x1200x24' dbus-run-session -- \
  "$build/tests/gui/attnscope-screenshots" "$out" "$tmp/demo-lazy.h5" "$tmp/softmax.h5" "$tmp/elastic.h5"
