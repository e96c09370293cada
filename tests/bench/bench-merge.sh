#!/bin/sh
# bench-merge.sh — merge speed and memory against reading the inputs (issue 8)
#
#   tests/bench/bench-merge.sh [BUILD_DIR] [WORK_DIR]
#
# Generates (once, with NumPy) two ~1 GB float32 checkpoints with LLaMA names (embedding
# 32000 x 2048, 4 blocks of q/k/v/o 2048 x 2048 and gate/up/down 5504 x 2048, norms) in
# WORK_DIR (default /tmp/ats-bench-merge), warms the page cache, then reports:
#   - read:  `cat base tuned > /dev/null`, best of 3
#   - merge: `attnscope-cli merge --method linear`, best of 3, wall time and peak RSS from
#            /usr/bin/time -v; plus one task-arithmetic and one ties run for reference.
# Target (issue 8): linear merge <= 2x the read time, peak RSS < 300 MB. Run by hand; the
# figures depend on the machine and on whatever else is running.
set -eu

BUILD=${1:-build}
WORK=${2:-/tmp/ats-bench-merge}
CLI=$BUILD/src/cli/attnscope-cli
PY=/usr/bin/python3
[ -x "$CLI" ] || { echo "no $CLI (build first, or pass the build folder)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package 'time')" >&2; exit 2; }
mkdir -p "$WORK"

if [ ! -f "$WORK/base/model.safetensors" ] || [ ! -f "$WORK/tuned/model.safetensors" ]; then
  echo "generating two ~1 GB checkpoints in $WORK ..."
  "$PY" - "$WORK" <<'EOF'
import json, os, struct, sys
import numpy as np

work = sys.argv[1]
D, F, V, L = 2048, 5504, 32000, 4
shapes = [("model.embed_tokens.weight", (V, D))]
for l in range(L):
    p = f"model.layers.{l}"
    shapes += [(f"{p}.input_layernorm.weight", (D,)), (f"{p}.post_attention_layernorm.weight", (D,))]
    shapes += [(f"{p}.self_attn.{m}_proj.weight", (D, D)) for m in "qkvo"]
    shapes += [(f"{p}.mlp.gate_proj.weight", (F, D)), (f"{p}.mlp.up_proj.weight", (F, D)),
               (f"{p}.mlp.down_proj.weight", (D, F))]
shapes += [("model.norm.weight", (D,))]
config = {"model_type": "llama", "hidden_size": D, "intermediate_size": F,
          "num_attention_heads": 16, "num_key_value_heads": 16, "num_hidden_layers": L,
          "vocab_size": V, "rms_norm_eps": 1e-5, "tie_word_embeddings": True}
for name, seed in (("base", 1), ("tuned", 2)):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for n, s in shapes:
        nb = int(np.prod(s)) * 4
        header[n] = {"dtype": "F32", "shape": list(s), "data_offsets": [off, off + nb]}
        off += nb
    js = json.dumps(header).encode()
    js += b" " * ((8 - (8 + len(js)) % 8) % 8)
    rs = np.random.RandomState(seed)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js)
        for n, s in shapes:  # row blocks keep the generator's memory small
            rows = s[0] if len(s) == 2 else 1
            step = max(1, (1 << 22) // (s[1] if len(s) == 2 else s[0]))
            for r in range(0, rows, step):
                shape = (min(step, rows - r),) + tuple(s[1:]) if len(s) == 2 else s
                f.write(rs.standard_normal(shape).astype(np.float32).tobytes())
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f)
EOF
fi

BASE=$WORK/base/model.safetensors
TUNED=$WORK/tuned/model.safetensors
OUT=$WORK/merged
ls -l "$BASE" "$TUNED"

# warm cache
cat "$BASE" "$TUNED" > /dev/null
cat "$BASE" "$TUNED" > /dev/null

best_read=
for i in 1 2 3; do
  t=$( { /usr/bin/time -f %e cat "$BASE" "$TUNED" > /dev/null; } 2>&1 )
  if [ -z "$best_read" ] || [ "$(echo "$t < $best_read" | bc)" = 1 ]; then best_read=$t; fi
done
echo "read both inputs (cat > /dev/null, warm cache, best of 3): ${best_read} s"

run_merge () { # label, extra args...
  label=$1
  shift
  rm -rf "$OUT"
  /usr/bin/time -v "$CLI" merge -q --base "$WORK/base" --tuned "$WORK/tuned" --out "$OUT" "$@" \
    2> "$WORK/time.txt"
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/time.txt")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt")
  secs=$(echo "$wall" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
  echo "$label: ${secs} s, peak RSS $((rss / 1024)) MB"
}

best_merge=
for i in 1 2 3; do
  run_merge "linear alpha 0.5 (run $i)" --method linear --alpha 0.5
  if [ -z "$best_merge" ] || [ "$(echo "$secs < $best_merge" | bc)" = 1 ]; then best_merge=$secs; fi
done
ratio=$(echo "scale=2; $best_merge / $best_read" | bc)
echo "linear merge best ${best_merge} s = ${ratio} x the read time (target <= 2)"
run_merge "task-arithmetic lambda 0.8" --method task-arithmetic --lambda 0.8
run_merge "ties density 0.2" --method ties --density 0.2
rm -rf "$OUT" "$WORK/time.txt"
echo "inputs kept in $WORK (delete by hand)"
