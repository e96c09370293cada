#!/usr/bin/env bash
# Side-by-side benchmark of issue 2 (run by hand, on an otherwise idle machine):
#   attnscope-cli capture (process start to file closed, f16 maps, 2 threads) versus
#   a PyTorch eager forward that keeps every attention map in memory (no file write),
#   on a GPT-2-small-shaped checkpoint with random weights at T=512.
# usage: tests/bench/bench-capture.sh [BUILD_DIR=build] [T=512] [REPEATS=3]
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$top/build}"; T="${2:-512}"; reps="${3:-3}"
work="${ATS_BENCH_DIR:-/tmp/ats-bench}"
mkdir -p "$work"
[ -f "$work/gpt2-small/model.safetensors" ] || /usr/bin/python3 "$top/tests/bench/make_gpt2_small.py" "$work/gpt2-small"
/usr/bin/python3 -c "import random;random.seed(1);print(','.join(str(random.randrange(50257)) for _ in range($T)))" > "$work/ids$T.txt"
ids="$(cat "$work/ids$T.txt")"
cat "$work/gpt2-small/model.safetensors" > /dev/null   # warm the page cache for both
weights_mb=$(( $(stat -c %s "$work/gpt2-small/model.safetensors") / 1000000 ))

measure () {  # prints "seconds maxrss_kb cpu%"
  /usr/bin/time -f "%e %M %P" -o "$work/time.txt" "$@" > /dev/null 2>&1
  cat "$work/time.txt"
}
echo "GPT-2-small shape (12 layers, d=768, 12 heads, vocab 50257), T=$T, 2 threads; weights ${weights_mb} MB"
printf "%-4s %-34s %8s %10s %6s\n" run tool seconds "peak RSS" CPU
for r in $(seq 1 "$reps"); do
  read -r s m c < <(measure "$build/src/cli/attnscope-cli" capture -q --model "$work/gpt2-small" --ids "$ids" \
                     --out "$work/cap.h5" --force --threads 2)
  printf "%-4s %-34s %8s %7d MB %6s\n" "$r" "attnscope-cli capture (f16 file)" "$s" $((m / 1000)) "$c"
  read -r s m c < <(measure /usr/bin/python3 "$top/tests/bench/torch_forward.py" "$work/gpt2-small" \
                     --ids-file "$work/ids$T.txt" --threads 2)
  printf "%-4s %-34s %8s %7d MB %6s\n" "$r" "PyTorch eager, maps kept" "$s" $((m / 1000)) "$c"
done
echo "capture file: $(stat -c %s "$work/cap.h5") bytes"
"$build/tests/bench/bench-forward" "$work/gpt2-small" "$T" 2 3
