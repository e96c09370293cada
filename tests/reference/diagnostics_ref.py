#!/usr/bin/python3
"""Independent NumPy implementation of the attnscope diagnostics (REFERENCE §3).

Written from the definitions, not from the C code: whole [T, T] maps, full sorts for top-p,
the explicit pairwise cosine matrix for collapse, np.median for massive activations.
Definitions marked (ours) are attnscope's operational choices.

Input, either
  --attn FILE.npy   float32 [L, H, T, T]  (+ optional --hidden FILE.npy float32 [L+1, T, D])
or
  --h5 CAPTURE.h5 [--run N]   an attnscope capture (runs/NNNNNN/attention, f16 or f32)
Output: JSON on stdout (NaN -> null), or with --compare (HDF5 only) a comparison against the
run's stored metrics/ with --tol, exit status 1 on any mismatch.

Usage: diagnostics_ref.py --attn a.npy [--hidden h.npy] [--eps 0.3 ...] > ref.json
"""

import argparse
import json
import math
import sys

import numpy as np

HEAD_METRICS = ["first_token_mass", "entropy", "row_mass", "sparsity", "uniform_sparsity",
                "underload", "overload", "top_p_width"]
HIDDEN_METRICS = ["collapse_cosine", "collapse_cosine_centered", "massive_count", "median_abs"]
HIDDEN_TOKEN_METRICS = ["variance_footprint", "massive_max_abs"]
TOP_P_REL_SLACK = 1e-6  # same documented slack as the C code: ties of float weights


def head_metrics(a32, p):
    """a32: float32 [T, T] one head. Returns dict of scalars and alpha [T]."""
    T = a32.shape[0]
    a = a32.astype(np.float64)
    vis = np.tril(np.ones((T, T), dtype=bool))
    a = np.where(vis, a, 0.0)
    n = np.arange(1, T + 1)                      # visible keys per row
    out = {}

    alpha = a.sum(axis=0) / (T - np.arange(T))  # mean over the queries that see key k
    out["sink_score"] = alpha
    out["first_token_mass"] = alpha[0]

    mass = a.sum(axis=1)                         # [T]
    out["row_mass"] = mass.mean()
    out["sparsity"] = np.count_nonzero((a32 == 0) & vis) / vis.sum()
    thr = (1.0 / n).astype(np.float32)           # 1/n_i at the storage precision
    out["uniform_sparsity"] = np.count_nonzero((a32 < thr[:, None]) & vis) / vis.sum()

    qual = n >= p["min_keys"]
    live = qual & (mass > 0)

    # entropy of each renormalised row, normalised by log n_i
    ent_rows = live & (n >= 2)
    if ent_rows.any():
        P = a[ent_rows] / mass[ent_rows, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0)
        out["entropy"] = (-plogp.sum(axis=1) / np.log(n[ent_rows])).mean()
    else:
        out["entropy"] = math.nan

    # top-p width: full descending sort + cumulative sum
    if live.any():
        rows = a[live]
        srt = -np.sort(-rows, axis=1)
        cum = np.cumsum(srt, axis=1)
        target = p["top_p"] * mass[live] * (1.0 - TOP_P_REL_SLACK)
        reached = cum >= target[:, None]
        m = np.where(reached.any(axis=1), reached.argmax(axis=1) + 1,
                     np.count_nonzero(rows > 0, axis=1))
        out["top_p_width"] = (m / n[live]).mean()
    else:
        out["top_p_width"] = math.nan

    # (ours) underload / overload against the sink set S = {k : alpha_k > eps}
    S = alpha > p["sink_eps"]
    if qual.any():
        rows = a[qual]
        sink_mass = rows[:, S].sum(axis=1)
        free = rows[:, ~S]
        free_mass = free.sum(axis=1)
        free_max = free.max(axis=1) if free.shape[1] > 0 else np.zeros(rows.shape[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            near = (free >= (free_max / p["overload_factor"])[:, None]) & (free_max[:, None] > 0)
        over = (free_mass >= p["overload_mass"]) & (free_max > 0) & \
            (near.sum(axis=1) >= p["overload_k"])
        out["underload"] = (sink_mass >= p["underload_mass"]).mean()
        out["overload"] = over.mean()
    else:
        out["underload"] = out["overload"] = math.nan
    return out


def mean_pairwise_cos(X):
    """X float64 [n, D]: mean cosine over distinct pairs, zero rows left out."""
    norms = np.linalg.norm(X, axis=1)
    X = X[norms > 0]
    norms = norms[norms > 0]
    k = X.shape[0]
    if k < 2:
        return math.nan
    U = X / norms[:, None]
    C = U @ U.T
    return (C.sum() - np.trace(C)) / (k * (k - 1))


def hidden_metrics(h32, p):
    """h32 float32 [T, D] residual stream of one layer."""
    h = h32.astype(np.float64)
    out = {}
    out["variance_footprint"] = h.var(axis=1)
    out["massive_max_abs"] = np.abs(h).max(axis=1)
    X = h[1:]
    out["collapse_cosine"] = mean_pairwise_cos(X)
    out["collapse_cosine_centered"] = mean_pairwise_cos(X - X.mean(axis=0)) if len(X) else math.nan
    med = np.median(np.abs(h))
    out["median_abs"] = med
    ab = np.abs(h)
    out["massive_count"] = int(np.count_nonzero((ab > p["massive_abs"]) &
                                                (ab >= p["massive_ratio"] * med)))
    return out


def compute(attn, hidden, p):
    L, H, T, _ = attn.shape
    res = {"n_layers": L, "n_heads": H, "n_tokens": T, "metrics": {}}
    m = res["metrics"]
    for name in HEAD_METRICS:
        m[name] = np.full((L, H), np.nan)
    m["sink_score"] = np.full((L, H, T), np.nan)
    for l in range(L):
        for hd in range(H):
            r = head_metrics(attn[l, hd], p)
            for name in HEAD_METRICS:
                m[name][l, hd] = r[name]
            m["sink_score"][l, hd] = r["sink_score"]
    ftm = m["first_token_mass"]
    res["sink_rate"] = 100.0 * np.count_nonzero(ftm > p["sink_eps"]) / ftm.size
    if hidden is not None:
        for name in HIDDEN_METRICS:
            m[name] = np.full(L + 1, np.nan)
        for name in HIDDEN_TOKEN_METRICS:
            m[name] = np.full((L + 1, T), np.nan)
        for l in range(L + 1):
            r = hidden_metrics(hidden[l], p)
            for name in HIDDEN_METRICS + HIDDEN_TOKEN_METRICS:
                m[name][l] = r[name]
    return res


def to_jsonable(x):
    if isinstance(x, dict):
        return {k: to_jsonable(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(x) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


def load_h5_run(path, run):
    import h5py
    f = h5py.File(path, "r")
    if f.attrs.get("format") not in ("attnscope-capture", b"attnscope-capture"):
        sys.exit(f"{path}: not an attnscope capture")
    g = f["runs"][f"{run:06d}"]
    attn = np.asarray(g["attention"][...], dtype=np.float32)
    return f, g, attn


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--attn")
    ap.add_argument("--hidden")
    ap.add_argument("--h5")
    ap.add_argument("--run", type=int, default=0)
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--eps", type=float, default=0.3)
    ap.add_argument("--underload-mass", type=float, default=0.5)
    ap.add_argument("--overload-mass", type=float, default=0.5)
    ap.add_argument("--overload-k", type=int, default=4)
    ap.add_argument("--overload-factor", type=float, default=2.0)
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--min-keys", type=int, default=8)
    ap.add_argument("--massive-abs", type=float, default=100.0)
    ap.add_argument("--massive-ratio", type=float, default=1000.0)
    a = ap.parse_args()
    p = {"sink_eps": a.eps, "underload_mass": a.underload_mass, "overload_mass": a.overload_mass,
         "overload_k": a.overload_k, "overload_factor": a.overload_factor, "top_p": a.top_p,
         "min_keys": a.min_keys, "massive_abs": a.massive_abs, "massive_ratio": a.massive_ratio}

    if a.h5:
        f, g, attn = load_h5_run(a.h5, a.run)
        res = compute(attn, None, p)
        if a.compare:
            bad = 0
            for name in HEAD_METRICS + ["sink_score"]:
                if "metrics" not in g or name not in g["metrics"]:
                    print(f"missing metrics/{name}", file=sys.stderr)
                    bad += 1
                    continue
                got = np.asarray(g["metrics"][name][...], dtype=np.float64)
                ref = res["metrics"][name]
                ok = np.isclose(got, ref, rtol=a.tol, atol=a.tol, equal_nan=True)
                if not ok.all():
                    idx = np.argwhere(~ok)[0]
                    print(f"metrics/{name}{list(idx)}: file {got[tuple(idx)]} "
                          f"reference {ref[tuple(idx)]} ({np.count_nonzero(~ok)} mismatches)",
                          file=sys.stderr)
                    bad += 1
            print("ok" if bad == 0 else f"{bad} metrics differ")
            sys.exit(1 if bad else 0)
    else:
        if not a.attn:
            ap.error("--attn or --h5 is required")
        attn = np.load(a.attn).astype(np.float32)
        hidden = np.load(a.hidden).astype(np.float32) if a.hidden else None
        res = compute(attn, hidden, p)
    res["params"] = p
    json.dump(to_jsonable(res), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
