#!/bin/sh
# Builds with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ and runs the core
# test suite there. Extra arguments go to `meson test` (e.g. --suite cli).
#
# usage: build-aux/sanitize-tests.sh [meson test args...]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${ATS_ASAN_BUILDDIR:-$top/build-asan}

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$top" -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug -Dgui=disabled
fi
ninja -C "$build"

# Stop at the first finding; UBSan reports would otherwise only print.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/build-aux/lsan.supp:print_suppressions=0}

if [ $# -eq 0 ]; then
  set -- --suite core
fi
exec meson test -C "$build" --print-errorlogs "$@"
