#!/usr/bin/env python3
"""Checks that an attnscope capture file follows REFERENCE §4 (format_version 1) with h5py.

Usage: check_layout.py FILE.h5 [--expect-runs N] [--dtype f16|f32] [--elastic]
Prints one line per problem and exits 1 if there is any.
"""
import argparse
import sys

import h5py
import numpy as np

METRICS_LH = ["first_token_mass", "entropy", "row_mass", "sparsity", "uniform_sparsity",
              "underload", "overload", "top_p_width"]
METRICS_L1 = ["collapse_cosine", "collapse_cosine_centered", "massive_count"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--expect-runs", type=int)
    ap.add_argument("--dtype", choices=["f16", "f32"], default="f16")
    ap.add_argument("--elastic", action="store_true")
    ap.add_argument("--no-maps", action="store_true")
    a = ap.parse_args()
    problems = []

    def need(cond, msg):
        if not cond:
            problems.append(msg)

    f = h5py.File(a.file, "r")
    need(f.attrs.get("format") == "attnscope-capture", "root format attribute")
    need(int(f.attrs.get("format_version", -1)) == 1, "root format_version == 1")
    need(str(f.attrs.get("producer", "")).startswith("attnscope "), "root producer")
    m = f["model"]
    for k in ["architecture", "n_layers", "n_heads", "n_kv_heads", "d_model", "head_dim", "vocab_size",
              "attention", "source", "config_json"]:
        need(k in m.attrs, f"model attribute {k}")
    L, H = int(m.attrs["n_layers"]), int(m.attrs["n_heads"])
    need(m.attrs["attention"] == ("elastic" if a.elastic else "softmax"), "model attention kind")
    runs = sorted(f["runs"].keys())
    if a.expect_runs is not None:
        need(len(runs) == a.expect_runs, f"{len(runs)} runs, expected {a.expect_runs}")
    for i, name in enumerate(runs):
        need(name == f"{i:06d}", f"run name {name}")
        r = f["runs"][name]
        T = int(r.attrs["n_tokens"])
        need(isinstance(r.attrs["prompt"], str), f"{name}: prompt attribute is a string")
        need(int(r.attrs["complete"]) == 1, f"{name}: complete == 1")
        ids = r["tokens/ids"]
        need(ids.dtype == np.int32 and ids.shape == (T,), f"{name}: tokens/ids int32 [T]")
        text = r["tokens/text"]
        need(text.shape == (T,) and h5py.check_string_dtype(text.dtype) is not None
             and h5py.check_string_dtype(text.dtype).encoding == "utf-8", f"{name}: tokens/text utf-8 [T]")
        pieces = text.asstr()[()]
        need(all(isinstance(p, str) for p in pieces), f"{name}: pieces decode as UTF-8")
        if not a.no_maps:
            att = r["attention"]
            want = np.float16 if a.dtype == "f16" else np.float32
            need(att.dtype == want, f"{name}: attention dtype {att.dtype}, expected {want}")
            need(att.shape == (L, H, T, T), f"{name}: attention shape {att.shape}")
            need([d.label for d in att.dims] == ["layer", "head", "query", "key"], f"{name}: dimension labels")
            need(att.chunks is not None and att.chunks[:2] == (1, 1), f"{name}: chunked [1,1,C,C]")
            need(att.shuffle and att.compression == "gzip", f"{name}: shuffle + deflate")
            A = att[()].astype(np.float64)
            upper = np.triu(np.ones((T, T), bool), 1)
            need(np.all(A[:, :, upper] == 0), f"{name}: entries j > i are 0")
            rows = A.sum(-1)
            if a.elastic:
                need(np.all(A >= 0), f"{name}: elastic weights >= 0")
            else:
                tol = 2e-3 if a.dtype == "f16" else 1e-5
                need(np.allclose(rows, 1, atol=tol * T), f"{name}: softmax rows sum to 1")
            # the max-pooled preview: preview[l,h,p,q] = max of the rows/keys falling in bin p/q
            pv = r["preview"][()]
            P = min(T, 64)
            need(pv.shape == (L, H, P, P) and pv.dtype == np.float32, f"{name}: preview [L,H,P,P] float32")
            if pv.shape == (L, H, P, P):
                bins = (np.arange(T) * P) // T
                ref = np.zeros((L, H, P, P))
                for p in range(P):
                    rows = A[:, :, bins == p, :]
                    for q in range(P):
                        ref[:, :, p, q] = rows[:, :, :, bins == q].max(axis=(2, 3))
                tol = 1e-3 if a.dtype == "f16" else 1e-6
                need(np.abs(pv - ref).max() <= tol, f"{name}: preview is the max-pooled map")
            # upper-triangle chunks are never allocated
            C = att.chunks[2]
            dsid = att.id
            n_stored = dsid.get_num_chunks()
            nb = (T + C - 1) // C
            n_lower = L * H * nb * (nb + 1) // 2
            need(n_stored <= n_lower, f"{name}: {n_stored} chunks stored, at most {n_lower} lower-triangle chunks")
        else:
            need("attention" not in r, f"{name}: no attention with --no-maps")
        hn = r["hidden_norms"]
        need(hn.dtype == np.float32 and hn.shape == (L + 1, T), f"{name}: hidden_norms float32 [L+1, T]")
        if "metrics" in r:
            mg = r["metrics"]
            need(mg["sink_score"].shape == (L, H, T), f"{name}: metrics/sink_score [L,H,T]")
            for k in METRICS_LH:
                need(k in mg and mg[k].shape == (L, H), f"{name}: metrics/{k} [L,H]")
            for k in METRICS_L1:
                need(k in mg and mg[k].shape == (L + 1,), f"{name}: metrics/{k} [L+1]")
            need(mg["variance_footprint"].shape == (L + 1, T), f"{name}: metrics/variance_footprint [L+1,T]")
            for k in ["sink_rate", "eps", "underload_mass", "overload_mass", "overload_k", "overload_factor", "top_p"]:
                need(k in mg.attrs, f"{name}: metrics attribute {k}")
            for k in ["uniform_sparsity", "underload", "overload", "top_p_width"]:
                need("ours" in str(mg[k].attrs.get("definition", "")), f"{name}: metrics/{k} labelled (ours)")
        else:
            problems.append(f"{name}: no metrics group")
        if a.elastic:
            need(r["lazy/tau"].shape == (L, H), f"{name}: lazy/tau [L,H]")
            need(r["lazy/bias"].ndim == 3 and r["lazy/bias"].shape[:2] == (L, H), f"{name}: lazy/bias [L,H,W]")
    for p in problems:
        print("layout:", p)
    print("layout: %d problem(s) in %s" % (len(problems), a.file))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
