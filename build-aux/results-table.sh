#!/usr/bin/env bash
# The README's results table, made by attnscope itself: captures data/prompts/demo.txt with the
# shipped demo checkpoints (standard softmax vs Lazy Attention; float32 maps), recomputes the
# diagnostics with `attnscope-cli stats --json`, and prints a markdown table (mean over the
# prompts). With --figures DIR it also draws the comparison figures with `attnscope-cli render`.
#
#   build-aux/results-table.sh [--figures screenshots] [--work DIR]
#
# The validation loss is read from each model card (data/models/demo-*/README.md, written by
# tests/reference/train_demo.py --export). Needs a built attnscope-cli ($ATS_CLI, default
# build/src/cli/attnscope-cli) and any python3 (standard library only) for the formatting.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cli="${ATS_CLI:-$top/build/src/cli/attnscope-cli}"
figures=""
work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --figures) figures="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "usage: $0 [--figures DIR] [--work DIR]" >&2; exit 2 ;;
  esac
done
if [ -z "$work" ]; then
  work="$(mktemp -d "${TMPDIR:-/tmp}/ats-results-XXXXXX")"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
prompts="$top/data/prompts/demo.txt"
for m in softmax lazy; do
  "$cli" capture -q --model "$top/data/models/demo-$m" --prompts "$prompts" --dtype f32 \
    --eps 0.3 --out "$work/demo-$m.h5" --force
  "$cli" stats -q --json --eps 0.3 "$work/demo-$m.h5" >"$work/demo-$m.json"
done

python3 - "$top" "$work" <<'EOF'
import json, re, sys
top, work = sys.argv[1], sys.argv[2]
EPS = 0.3
rows = []
for m in ("softmax", "lazy"):
    d = json.load(open(f"{work}/demo-{m}.json"))
    card = open(f"{top}/data/models/demo-{m}/README.md").read()
    val = re.search(r"final validation loss \| \*\*([0-9.]+)\*\*", card).group(1)
    uni = re.search(r"unigram baseline \| ([0-9.]+)", card).group(1)
    s = d["summary"]
    L, H, R = s["n_layers"], s["n_heads"], s["n_runs"]
    met = s["metrics"]
    # per-layer sink rate: share of (prompt, head) pairs of the layer whose first-token sink
    # score alpha[l,h,1] (= first-token mass) exceeds eps -- the sink-rate definition restricted
    # to one layer, pooled over the prompts
    ftm = [r["diagnostics"]["metrics"]["first_token_mass"] for r in d["runs"]]
    for l in range(L):
        sr = 100.0 * sum(x[l][h] > EPS for x in ftm for h in range(H)) / (len(ftm) * H)
        rows.append((m, str(l), met["first_token_mass"]["layer_mean"][l], sr,
                     met["sparsity"]["layer_mean"][l], met["uniform_sparsity"]["layer_mean"][l],
                     met["row_mass"]["layer_mean"][l], met["overload"]["layer_mean"][l],
                     met["underload"]["layer_mean"][l], met["entropy"]["layer_mean"][l]))
    mean = lambda k: sum(met[k]["layer_mean"]) / L
    rows.append((m, "all", mean("first_token_mass"), s["sink_rate_mean"], mean("sparsity"),
                 mean("uniform_sparsity"), mean("row_mass"), mean("overload"), mean("underload"),
                 mean("entropy")))
    rows[-1] = rows[-1] + (val, uni, L, H, R)
    for i in range(len(rows) - L - 1, len(rows) - 1):
        rows[i] = rows[i] + (val, uni, L, H, R)

print(f"Both demo models on `data/prompts/demo.txt` ({rows[0][-1]} prompts; per layer: mean over "
      f"the layer's {rows[0][-2]} heads, then over the prompts). Validation loss in nats/token "
      f"(unigram baseline {rows[0][-4]}). * = attnscope's operational definition (ours).")
print()
print("| model | val. loss | layer | first-token mass | sink rate (eps 0.3) | sparsity | "
      "uniform-share sparsity* | row mass | overload* | underload* | entropy |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    m, layer, ftm, sr, sp, usp, rm, ov, un, ent, val = r[:11]
    name = "demo-softmax (softmax)" if m == "softmax" else "demo-lazy (Lazy Attention)"
    b = "**" if layer == "all" else ""
    print(f"| {name} | {val} | {b}{layer}{b} | {ftm:.3f} | {sr:.1f} % | {100 * sp:.1f} % | "
          f"{100 * usp:.1f} % | {rm:.3f} | {100 * ov:.1f} % | {100 * un:.1f} % | {ent:.3f} |")
EOF

if [ -n "$figures" ]; then
  mkdir -p "$figures"
  labels=(--label "softmax (demo-softmax)" --label "Lazy Attention (demo-lazy)")
  for metric in first_token_mass sparsity row_mass entropy; do
    "$cli" render "$work/demo-softmax.h5" "$work/demo-lazy.h5" --plot "$metric" --corpus \
      "${labels[@]}" --out "$figures/demo-${metric//_/-}.png"
  done
  for m in softmax lazy; do
    "$cli" render "$work/demo-$m.h5" --run 2 --layer 3 --head 0 --out "$figures/demo-$m-L3H0.png"
    "$cli" render "$work/demo-$m.h5" --run 2 --overview --out "$figures/demo-$m-overview.png"
  done
fi
