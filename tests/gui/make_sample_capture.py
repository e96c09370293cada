#!/usr/bin/python3
"""Writes small attnscope capture files (REFERENCE §4, format_version 1) for the GUI tests.

Usage: make_sample_capture.py OUT.h5 [--kind softmax|elastic|uniform] [--layers L] [--heads H]
                              [--runs N] [--dtype f16|f32] [--no-metrics]
       make_sample_capture.py OUT.h5 --corrupt     (an HDF5 file that is not a capture)
       make_sample_capture.py OUT.h5 --garbage     (bytes that are not HDF5 at all)

The maps are synthetic but deterministic, with one recognisable pattern per head:
  head % 4 == 0  attention sink: most mass on key 0
  head % 4 == 1  previous token
  head % 4 == 2  self (diagonal)
  head % 4 == 3  close to uniform
--kind uniform makes every row of every head exactly uniform (1/i over the i visible keys; with
--dtype f32 the stored value is float32(1/i), which the what-if transform at tau = -1 sends to
exactly 0).  --kind elastic also writes lazy/tau [L, H] (tau_h = -1 + 0.1 h, the values its
maps were made with) and a zero lazy/bias [L, H, 8], as a Lazy Attention capture does.
Metrics are computed from the maps with the formulas of REFERENCE §3 (numpy), so they are
consistent with what is drawn.  Needs h5py and numpy (Debian: python3-h5py, python3-numpy).
"""

import argparse
import json
import sys

import numpy as np

try:
    import h5py
except ImportError:  # pragma: no cover
    sys.stderr.write("make_sample_capture.py needs python3-h5py and python3-numpy\n")
    sys.exit(77)

PROMPTS = [
    ["<s>", "The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog",
     ",", " and", " then", " it", " runs", " back", " to", " the", " old", " barn", " before",
     " night", " falls", "."],
    ["<s>", "Attention", " sinks", " appear", " when", " no", " token", " is", " relevant",
     ",", " so", " the", " mass", " goes", " to", " the", " first", " position", "."],
    ["<s>", "Paris", " is", " the", " capital", " of", " France", "."],
]


def make_maps(n_layers, n_heads, n_tokens, kind, seed):
    rng = np.random.default_rng(seed)
    A = np.zeros((n_layers, n_heads, n_tokens, n_tokens), dtype=np.float64)  # [L, H, T, T]
    i_idx = np.arange(n_tokens)[:, None]
    j_idx = np.arange(n_tokens)[None, :]
    visible = j_idx <= i_idx
    if kind == "uniform":
        for i in range(n_tokens):
            A[:, :, i, : i + 1] = 1.0 / (i + 1)
        return A
    for l in range(n_layers):
        for h in range(n_heads):
            pattern = h % 4
            logits = rng.normal(0.0, 0.3, (n_tokens, n_tokens))  # [T, T]
            strength = 2.0 + l * 0.8
            if pattern == 0:
                logits[:, 0] += strength + 2.0
            elif pattern == 1:
                logits += np.where(j_idx == i_idx - 1, strength + 1.0, 0.0)
            elif pattern == 2:
                logits += np.where(j_idx == i_idx, strength + 1.0, 0.0)
            else:
                logits *= 0.2
            logits = np.where(visible, logits, -np.inf)
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            if kind == "elastic":
                tau = -1.0 + 0.1 * h
                n_i = np.arange(1, n_tokens + 1)[:, None]
                p = np.maximum(0.0, p + tau / n_i)
                p = np.where(visible, p, 0.0)
            A[l, h] = p
    return A


def metrics(A, hidden, eps=0.3, min_keys=8, under_mass=0.5, over_mass=0.5, over_k=4,
            over_factor=2.0, top_p=0.9):
    L, H, T, _ = A.shape
    n_i = np.arange(1, T + 1)
    out = {}
    sink = np.zeros((L, H, T))  # [L, H, T]
    for k in range(T):
        sink[:, :, k] = A[:, :, k:, k].sum(axis=2) / (T - k)
    out["sink_score"] = sink
    out["first_token_mass"] = sink[:, :, 0]
    ent = np.zeros((L, H))
    mass = np.zeros((L, H))
    spars = np.zeros((L, H))
    uspars = np.zeros((L, H))
    under = np.zeros((L, H))
    over = np.zeros((L, H))
    topw = np.zeros((L, H))
    for l in range(L):
        for h in range(H):
            S = sink[l, h] > eps
            e_rows, u_rows, o_rows, counted = [], 0, 0, 0
            zeros = small = vis = 0
            masses, widths = [], []
            for i in range(T):
                row = A[l, h, i, : i + 1]
                n = i + 1
                m = row.sum()
                masses.append(m)
                vis += n
                zeros += int((row == 0).sum())
                small += int((row < 1.0 / n).sum())
                srt = np.sort(row)[::-1]
                c = np.cumsum(srt)
                widths.append((np.searchsorted(c, top_p * m) + 1) / n if m > 0 else 1.0)
                if n < min_keys:
                    continue
                counted += 1
                if m > 0:
                    q = row / m
                    q = q[q > 0]
                    e_rows.append(-(q * np.log(q)).sum() / np.log(n))
                if row[S[: n]].sum() >= under_mass:
                    u_rows += 1
                ns = row[~S[: n]]
                if ns.sum() >= over_mass and ns.size and (ns >= ns.max() / over_factor).sum() >= over_k:
                    o_rows += 1
            ent[l, h] = np.mean(e_rows) if e_rows else np.nan
            mass[l, h] = np.mean(masses)
            spars[l, h] = zeros / vis
            uspars[l, h] = small / vis
            under[l, h] = u_rows / counted if counted else np.nan
            over[l, h] = o_rows / counted if counted else np.nan
            topw[l, h] = np.mean(widths)
    out.update(entropy=ent, row_mass=mass, sparsity=spars, uniform_sparsity=uspars,
               underload=under, overload=over, top_p_width=topw)
    # collapse: mean pairwise cosine of token states 2..T, raw and centred
    cos, cosc, var = [], [], []
    for x in hidden:  # [T, D]
        y = x[1:]
        for arr, dst in ((y, cos), (y - y.mean(axis=0), cosc)):
            nrm = arr / np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)
            s = nrm @ nrm.T
            n = s.shape[0]
            dst.append((s.sum() - np.trace(s)) / (n * (n - 1)) if n > 1 else np.nan)
        var.append(x.var(axis=1))
    out["collapse_cosine"] = np.array(cos)
    out["collapse_cosine_centered"] = np.array(cosc)
    out["variance_footprint"] = np.array(var)
    out["massive_count"] = np.array([(np.abs(x) > 100).sum() for x in hidden], dtype=np.int32)
    params = dict(eps=eps, underload_mass=under_mass, overload_mass=over_mass,
                  overload_k=over_k, overload_factor=over_factor, top_p=top_p,
                  min_keys=min_keys, massive_abs=100.0, massive_ratio=1000.0)
    sink_rate = 100.0 * (out["first_token_mass"] > eps).mean()
    return out, params, sink_rate


def write_capture(path, kind, n_layers, n_heads, n_runs, dtype, with_metrics):
    d_model = 32
    f = h5py.File(path, "w")
    f.attrs["format"] = "attnscope-capture"
    f.attrs["format_version"] = np.int32(1)
    f.attrs["producer"] = "attnscope make_sample_capture.py"
    m = f.create_group("model")
    m.attrs["architecture"] = "llama"
    m.attrs["n_layers"] = np.int32(n_layers)
    m.attrs["n_heads"] = np.int32(n_heads)
    m.attrs["n_kv_heads"] = np.int32(n_heads)
    m.attrs["d_model"] = np.int32(d_model)
    m.attrs["head_dim"] = np.int32(d_model // n_heads)
    m.attrs["vocab_size"] = np.int32(256)
    m.attrs["attention"] = "elastic" if kind == "elastic" else "softmax"
    m.attrs["source"] = "synthetic (tests/gui/make_sample_capture.py)"
    m.attrs["config_json"] = json.dumps({"model_type": "llama", "num_hidden_layers": n_layers,
                                         "num_attention_heads": n_heads, "hidden_size": d_model})
    runs = f.create_group("runs")
    str_t = h5py.string_dtype("utf-8")
    for r in range(n_runs):
        pieces = PROMPTS[r % len(PROMPTS)]
        T = len(pieces)
        g = runs.create_group("%06d" % r)
        g.attrs["prompt"] = "".join(pieces[1:])
        g.attrs["n_tokens"] = np.int32(T)
        g.attrs["complete"] = np.int32(1)
        tg = g.create_group("tokens")
        tg.create_dataset("ids", data=np.arange(T, dtype=np.int32) + 1)
        tg.create_dataset("text", data=np.array(pieces, dtype=object), dtype=str_t)
        A = make_maps(n_layers, n_heads, T, kind, seed=1234 + r)
        ds = g.create_dataset("attention", data=A.astype(np.float16 if dtype == "f16" else np.float32),
                              chunks=(1, 1, T, T), shuffle=True, compression="gzip",
                              compression_opts=1)
        for axis, label in enumerate(("layer", "head", "query", "key")):
            ds.dims[axis].label = label
        if kind == "elastic":
            lz = g.create_group("lazy")
            tau = np.array([[-1.0 + 0.1 * h for h in range(n_heads)] for _ in range(n_layers)])
            lz.create_dataset("tau", data=tau.astype(np.float32))
            lz.create_dataset("bias", data=np.zeros((n_layers, n_heads, 8), dtype=np.float32))
        rng = np.random.default_rng(99 + r)
        hidden = [rng.normal(0, 1, (T, d_model)) for _ in range(n_layers + 1)]
        for l, x in enumerate(hidden):
            x[0] *= 1.0 + 20.0 * l  # sink token grows
            x += 0.1 * l * x.mean(axis=0, keepdims=True)
        g.create_dataset("hidden_norms",
                         data=np.array([np.linalg.norm(x, axis=1) for x in hidden], dtype=np.float32))
        if with_metrics:
            vals, params, sink_rate = metrics(A, hidden)
            mg = g.create_group("metrics")
            for k, v in vals.items():
                mg.create_dataset(k, data=v.astype(np.int32 if v.dtype == np.int32 else np.float32))
            for k, v in params.items():
                mg.attrs[k] = v
            mg.attrs["sink_rate"] = sink_rate
    f.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--kind", default="softmax", choices=["softmax", "elastic", "uniform"])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--dtype", default="f16", choices=["f16", "f32"])
    ap.add_argument("--no-metrics", action="store_true")
    ap.add_argument("--corrupt", action="store_true")
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--dump-head", nargs=4, metavar=("RUN", "LAYER", "HEAD", "OUT"),
                    help="write attention[RUN][LAYER, HEAD] of an existing OUT.h5 as raw float32")
    a = ap.parse_args()
    if a.dump_head:
        run, layer, head, out = a.dump_head
        with h5py.File(a.out, "r") as f:
            m = f["runs/%06d/attention" % int(run)][int(layer), int(head)]
        np.asarray(m, dtype="<f4").tofile(out)
        return
    if a.garbage:
        with open(a.out, "wb") as fp:
            fp.write(b"this is not an HDF5 file\n" * 40)
        return
    if a.corrupt:
        with h5py.File(a.out, "w") as f:
            f.attrs["format"] = "something-else"
            f.create_dataset("x", data=np.zeros(4))
        return
    write_capture(a.out, a.kind, a.layers, a.heads, a.runs, a.dtype, not a.no_metrics)


if __name__ == "__main__":
    main()
