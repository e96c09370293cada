#!/usr/bin/python3
"""Writes tests/reference/fixtures/merge/: base, tuned1, tuned2 checkpoints and the merges the
independent reference (merge_ref.py) computes for them, listed in recipes.json.

    /usr/bin/python3 tests/reference/make_merge_fixtures.py

The tensors use LLaMA names (so --only groups apply), mix F32, BF16 and F16, include a 0-d
tensor, odd byte counts and deltas with many equal magnitudes (TIES tie-breaks), unchanged
entries and sign conflicts between the two tuned models. Output is byte-identical from run to
run (numpy RandomState with a fixed seed). The script also checks that the fixtures tell apart
the documented choices from plausible alternatives (tie-break direction, sign election by
summed magnitude rather than by count, rounding through float32).
"""

import json
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import merge_ref as ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "merge")

# name, dtype, shape, kind of delta
TENSORS = [
    ("model.embed_tokens.weight", "BF16", (40, 16), "sparse"),
    ("model.layers.0.input_layernorm.weight", "F32", (16,), "noise"),
    ("model.layers.0.self_attn.q_proj.weight", "F32", (16, 16), "noise"),
    ("model.layers.0.self_attn.k_proj.weight", "BF16", (8, 16), "noise"),
    ("model.layers.0.self_attn.v_proj.weight", "F32", (8, 16), "ties"),
    ("model.layers.0.self_attn.o_proj.weight", "F32", (16, 16), "sparse"),
    ("model.layers.0.self_attn.tau", "BF16", (3,), "noise"),
    ("model.layers.0.self_attn.scale", "F32", (), "noise"),
    ("model.layers.0.mlp.gate_proj.weight", "F32", (32, 16), "sparse"),
    ("model.layers.0.mlp.up_proj.weight", "BF16", (32, 16), "ties"),
    ("model.layers.0.mlp.down_proj.weight", "F16", (16, 32), "noise"),
    ("model.norm.weight", "BF16", (16,), "noise"),
    ("lm_head.weight", "F32", (40, 16), "noise"),
]

RECIPES = [
    ("linear-a0.3", "linear", dict(alpha=0.3), None, ["tuned1"]),
    ("linear-a0.6-attention", "linear", dict(alpha=0.6), "attention", ["tuned1"]),
    ("ta-l0.7", "task-arithmetic", dict(lam=0.7), None, ["tuned1", "tuned2"]),
    ("ta-l1.3-regex", "task-arithmetic", dict(lam=1.3), r"mlp\.(up|down)_proj|norm", ["tuned1", "tuned2"]),
    ("ties-d0.3", "ties", dict(lam=1.0, density=0.3), None, ["tuned1", "tuned2"]),
    ("ties-d0.5-l0.8-single", "ties", dict(lam=0.8, density=0.5), None, ["tuned1"]),
    ("ties-d0.25-l1.5-mlp-norms", "ties", dict(lam=1.5, density=0.25), "mlp,norms", ["tuned1", "tuned2"]),
]

CONFIG = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 16,
    "num_hidden_layers": 1,
    "note": "merge fixture: a bag of tensors with LLaMA names, not a loadable model",
}


def to_storage(dtype, x):
    return ref.narrow(dtype, np.asarray(x, dtype=np.float64))


def make_delta(rs, kind, shape, k):
    n = int(np.prod(shape)) if shape else 1
    if kind == "noise":
        d = rs.normal(0, 0.05, n)
    elif kind == "sparse":
        d = np.where(rs.rand(n) < 0.3, rs.normal(0, 0.3, n), 0.0)
    else:  # ties: few distinct magnitudes, signs that conflict between tuned models
        d = rs.choice([-0.5, -0.25, 0.0, 0.25, 0.5], size=n)
        if k == 1:
            d = -d * rs.choice([1.0, 1.0, 2.0], size=n)
    return d.reshape(shape)


def build():
    rs = np.random.RandomState(20240808)
    folders = {"base": {}, "tuned1": {}, "tuned2": {}}
    for name, dtype, shape, kind in TENSORS:
        base = to_storage(dtype, rs.normal(0, 0.5, shape))
        folders["base"][name] = (dtype, base)
        for k, t in enumerate(["tuned1", "tuned2"]):
            d = make_delta(rs, kind, shape, k)
            folders[t][name] = (dtype, to_storage(dtype, ref.widen(dtype, base) + d))
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(os.path.join(OUT, "expected"))
    for f, tensors in folders.items():
        os.makedirs(os.path.join(OUT, f))
        ref.write_safetensors(os.path.join(OUT, f, "model.safetensors"), tensors)
        with open(os.path.join(OUT, f, "config.json"), "w") as fh:
            json.dump(CONFIG, fh, indent=2)
            fh.write("\n")

    listing = []
    for rname, method, p, only, tuned in RECIPES:
        out = ref.run(os.path.join(OUT, "base"), [os.path.join(OUT, t) for t in tuned], method,
                      p.get("alpha", 0.5), p.get("lam", 1.0), p.get("density", 0.2), only)
        ref.write_safetensors(os.path.join(OUT, "expected", rname + ".safetensors"), out)
        listing.append({"name": rname, "method": method, "alpha": p.get("alpha", 0.5),
                        "lambda": p.get("lam", 1.0), "density": p.get("density", 0.2),
                        "only": only, "tuned": tuned, "expected": "expected/" + rname + ".safetensors"})
    rows = diff_ref(os.path.join(OUT, "base"), os.path.join(OUT, "tuned1"))
    with open(os.path.join(OUT, "expected", "diff-base-tuned1.json"), "w") as fh:
        json.dump(rows, fh, indent=1)
        fh.write("\n")
    with open(os.path.join(OUT, "recipes.json"), "w") as fh:
        json.dump({"base": "base", "recipes": listing}, fh, indent=2)
        fh.write("\n")
    return folders


DIFF_KINDS = [  # (regex on the LLaMA name, layer, kind), written for the fixture's names
    (r"^model\.embed_tokens\.|^lm_head\.", -1, "embeddings"),
    (r"^model\.norm\.", -1, "norms"),
    (r"\.layers\.(\d+)\.self_attn\.q_proj\.", None, "q"),
    (r"\.layers\.(\d+)\.self_attn\.k_proj\.", None, "k"),
    (r"\.layers\.(\d+)\.self_attn\.v_proj\.", None, "v"),
    (r"\.layers\.(\d+)\.self_attn\.o_proj\.", None, "o"),
    (r"\.layers\.(\d+)\.self_attn\.tau$", None, "lazy"),
    (r"\.layers\.(\d+)\.self_attn\.scale$", None, "other"),
    (r"\.layers\.(\d+)\.mlp\.gate_proj\.", None, "gate"),
    (r"\.layers\.(\d+)\.mlp\.up_proj\.", None, "up"),
    (r"\.layers\.(\d+)\.mlp\.down_proj\.", None, "down"),
    (r"\.layers\.(\d+)\.input_layernorm\.", None, "norms"),
]


def diff_ref(base, other):
    """rows (layer, kind, n_params, delta_l2, base_l2, relative, cos_other_base, cos_delta_base)"""
    import re
    bt = ref.read_folder(base)
    ot = ref.read_folder(other)
    groups = {}
    for name, (dtype, shape, arr) in bt.items():
        for pat, layer, kind in DIFF_KINDS:
            m = re.search(pat, name)
            if m:
                key = (layer if layer is not None else int(m.group(1)), kind)
                break
        else:
            raise ValueError(name)
        b = ref.widen(dtype, arr).reshape(-1)
        o = ref.widen(dtype, ot[name][2]).reshape(-1)
        g = groups.setdefault(key, [[], []])
        g[0].append(b)
        g[1].append(o)
    rows = []
    for (layer, kind), (bs, os_) in groups.items():
        b = np.concatenate(bs)
        o = np.concatenate(os_)
        d = o - b
        nb, no, nd = np.linalg.norm(b), np.linalg.norm(o), np.linalg.norm(d)
        rows.append({"layer": layer, "kind": kind, "n_params": int(b.size), "delta_l2": nd,
                     "base_l2": nb, "relative": nd / nb, "cos_other_base": float(b @ o) / (nb * no),
                     "cos_delta_base": float(d @ b) / (nd * nb)})
    return rows


def discriminates(folders):
    """the fixtures must catch the plausible mistakes"""
    base = os.path.join(OUT, "base")
    t12 = [os.path.join(OUT, "tuned1"), os.path.join(OUT, "tuned2")]
    good = ref.run(base, t12, "ties", 0.5, 1.0, 0.3, None)

    def differs(other, what):
        diff = [n for n in good if not np.array_equal(good[n][1], other[n][1])]
        print(f"  {what}: {'caught' if diff else 'NOT CAUGHT'} ({len(diff)} tensors differ)")
        return bool(diff)

    ok = True
    saved = ref.ties_trim

    def trim_high_index(d, density):
        flat = d.reshape(-1)
        n = flat.size
        n_keep = min(n, int(np.floor(density * n + 0.5)))
        order = np.lexsort((-np.arange(n), -np.abs(flat)))
        keep = np.zeros(n, dtype=bool)
        keep[order[:n_keep]] = True
        return np.where(keep, flat, 0.0).reshape(d.shape)

    def trim_floor(d, density):
        flat = d.reshape(-1)
        n = flat.size
        n_keep = int(density * n)  # floor instead of round
        order = np.lexsort((np.arange(n), -np.abs(flat)))
        keep = np.zeros(n, dtype=bool)
        keep[order[:n_keep]] = True
        return np.where(keep, flat, 0.0).reshape(d.shape)

    ref.ties_trim = trim_high_index
    ok &= differs(ref.run(base, t12, "ties", 0.5, 1.0, 0.3, None), "tie-break: higher index kept")
    ref.ties_trim = trim_floor
    ok &= differs(ref.run(base, t12, "ties", 0.5, 1.0, 0.3, None), "kept count floor(D*n)")
    ref.ties_trim = saved

    saved_merge = ref.merge_tensor

    def merge_count_vote(method, b, ts, alpha, lam, density):
        trimmed = [ref.ties_trim(t - b, density) for t in ts]
        votes = sum(np.sign(d) for d in trimmed)
        sign = np.sign(votes)
        agree = sum(np.where((np.sign(d) == sign) & (d != 0), d, 0.0) for d in trimmed)
        cnt = sum(((np.sign(d) == sign) & (d != 0)).astype(float) for d in trimmed)
        return b + lam * np.where(cnt > 0, agree / np.maximum(cnt, 1), 0.0)

    ref.merge_tensor = merge_count_vote
    ok &= differs(ref.run(base, t12, "ties", 0.5, 1.0, 0.3, None), "sign election by count")
    ref.merge_tensor = saved_merge

    # PyTorch rounds float64 -> bfloat16 through float32: 1 + 2^-8 + 2^-30 becomes the tie
    # 1 + 2^-8 in float32, which rounds to even (1.0 = 0x3f80); one correctly rounded step would
    # give 0x3f81. The C side follows PyTorch.
    x = np.array([1 + 2**-8 + 2**-30])
    two_step = int(ref.narrow("BF16", x)[0])
    print(f"  float64 -> bfloat16 of 1+2^-8+2^-30 in PyTorch: {two_step:#06x} (through float32)")
    ok &= two_step == 0x3F80
    return ok


def main():
    folders = build()
    print(f"wrote {OUT}")
    if not discriminates(folders):
        print("a deliberate mistake is not caught by the fixtures", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
