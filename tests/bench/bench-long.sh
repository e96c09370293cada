#!/usr/bin/env bash
# Issue 9 benchmarks (run by hand, on an otherwise idle machine; minutes, not seconds):
#  1. LLaMA shape (4 layers, d=512, 8 heads, RoPE, random weights) at T=16384: all 32 maps to f16;
#     peak RSS, time, file size, CPU utilisation.
#  2. GPT-2-small shape at T=4096: all 144 maps; peak RSS and time vs a PyTorch eager forward
#     that keeps the maps (no file write), side by side; h5py read time of one head.
#  3. Corpus mode: N prompts of 128 tokens, GPT-2-small shape, diagnostics only (--no-maps) vs
#     PyTorch eager with attention output on the same prompts.
# usage: tests/bench/bench-long.sh [BUILD_DIR=build] [which=1,2,3] [N_PROMPTS=1000]
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$top/build}"; which="${2:-1,2,3}"; nprompts="${3:-1000}"
cli="$build/src/cli/attnscope-cli"
work="${ATS_BENCH_DIR:-/tmp/ats-bench}"
mkdir -p "$work"
PY=/usr/bin/python3
measure () { /usr/bin/time -f "%e s, peak RSS %M kB, CPU %P" "$@"; }
ids () { $PY -c "import random,sys;random.seed(int(sys.argv[2]));print(','.join(str(random.randrange(int(sys.argv[3]))) for _ in range(int(sys.argv[1]))))" "$@"; }

if [[ ",$which," == *,1,* ]]; then
  [ -f "$work/llama-16k/model.safetensors" ] || $PY "$top/tests/bench/make_gpt2_small.py" "$work/llama-16k" --llama --layers 4 --d 512 --heads 8 --vocab 32000
  ids 16384 1 32000 > "$work/ids16k.txt"
  echo "== 1. LLaMA 4 x d512 x 8 heads, T=16384, all 32 maps f16"
  measure "$cli" capture -q --model "$work/llama-16k" --ids "$(cat "$work/ids16k.txt")" --out "$work/long16k.h5" --force --threads 2
  echo "file: $(du -h "$work/long16k.h5" | cut -f1); raw f32 maps would be $((4*8*16384*16384*4/1000000000)) GB;"
  echo "PyTorch eager keeping 32 fp32 [16384,16384] maps needs 32 x 1.07 GB = 34.4 GB for the maps alone (> 24 GB here): not run."
fi

if [[ ",$which," == *,2,* ]]; then
  [ -f "$work/gpt2-4k/model.safetensors" ] || $PY "$top/tests/bench/make_gpt2_small.py" "$work/gpt2-4k" --positions 4096
  ids 4096 2 50257 > "$work/ids4k.txt"
  echo "== 2. GPT-2-small shape, T=4096, all 144 maps"
  cat "$work/gpt2-4k/model.safetensors" > /dev/null
  for r in 1 2; do
    echo -n "attnscope-cli capture (f16 file): "; measure "$cli" capture -q --model "$work/gpt2-4k" --ids "$(cat "$work/ids4k.txt")" --out "$work/long4k.h5" --force --threads 2
    echo -n "PyTorch eager, maps kept:         "; measure $PY "$top/tests/bench/torch_forward.py" "$work/gpt2-4k" --ids-file "$work/ids4k.txt" --threads 2 >/dev/null
  done
  $PY - "$work/long4k.h5" <<'PYEOF'
import sys, time, h5py
f = h5py.File(sys.argv[1], "r")
d = f["runs/000000/attention"]
best = 1e9
for l, h in [(0, 0), (5, 7), (11, 11)]:
    t = time.time(); a = d[l, h]; best = min(best, time.time() - t)
print(f"h5py read of one head [4096, 4096]: best {best*1000:.0f} ms; file {d.id.get_storage_size()/1e6:.0f} MB stored vs {d.size*4/1e6:.0f} MB raw f32")
PYEOF
fi

if [[ ",$which," == *,3,* ]]; then
  [ -f "$work/gpt2-small/model.safetensors" ] || $PY "$top/tests/bench/make_gpt2_small.py" "$work/gpt2-small"
  $PY -c "
import random; random.seed(3)
print('\n'.join(','.join(str(random.randrange(50257)) for _ in range(128)) for _ in range($nprompts)))" > "$work/corpus-ids.txt"
  echo "== 3. corpus mode: $nprompts prompts x 128 tokens, GPT-2-small shape, diagnostics only"
  # the CLI takes token ids one run per --ids; a batch of id lines goes through a prompts file of ids
  echo -n "attnscope-cli capture --no-maps: "; measure "$cli" capture -q --model "$work/gpt2-small" --ids-file "$work/corpus-ids.txt" --no-maps --out "$work/corpus.h5" --force --threads 2
  echo -n "PyTorch eager with attentions:  "; measure $PY "$top/tests/bench/torch_forward.py" "$work/gpt2-small" --ids-file "$work/corpus-ids.txt" --threads 2 --prompts "$nprompts" >/dev/null
fi
