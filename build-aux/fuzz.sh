#!/bin/sh
# Builds the libFuzzer targets with clang + ASan + UBSan in build-fuzz/ and runs one.
#
# usage: build-aux/fuzz.sh [SECONDS] [TARGET]     (defaults: 60 seconds, fuzz-safetensors)
#
# The working corpus lives in build-fuzz/corpus-<target>/ (seeded from tests/fuzz/); crashes
# are written to build-fuzz/artifacts/. Copy a fixed crash into tests/fuzz/corpus-<target>/ so
# `meson test -C build-fuzz --suite fuzz` replays it from then on.
set -eu

seconds=${1:-60}
target=${2:-fuzz-safetensors}
name=${target#fuzz-}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${ATS_FUZZ_BUILDDIR:-$top/build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" "$top" \
    -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false -Dgui=disabled \
    -Dbuildtype=debugoptimized
fi
ninja -C "$build" "tests/fuzz/$target"

corpus=$build/corpus-$name
mkdir -p "$corpus" "$build/artifacts"
cp -n "$top/tests/fuzz/corpus-$name/"* "$corpus/" 2>/dev/null || true
if command -v python3 >/dev/null && [ -f "$top/tests/fuzz/make-seeds.py" ]; then
  python3 "$top/tests/fuzz/make-seeds.py" "$corpus"
fi

dict=
if [ -f "$top/tests/fuzz/$name.dict" ]; then
  dict=-dict=$top/tests/fuzz/$name.dict
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

exec "$build/tests/fuzz/$target" $dict \
  -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$build/artifacts/" \
  "$corpus"
