#!/usr/bin/env python3
"""TAP tests of the Lazy Attention commands: whatif, lazy figures, inconsistent Lazy checkpoints.

whatif is checked against an independent NumPy computation from the stored maps (h5py): the same
float32 arithmetic as Elastic-Softmax (shift = tau / i, then A + shift, clamped at 0), sink sets
from the original maps (alpha = column mean over the queries that see the key, > eps), sums
pooled over runs. Figures: PNG size, SVG parses, PDF pdfinfo. Broken Lazy checkpoints (tau of the
wrong length, a bias table for the wrong number of heads) must fail naming the tensor.
"""
import csv
import io
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import h5py
import numpy as np

from tap import FIX, SRC, case, check, finish, run

DEMO_SOFT = os.path.join(SRC, "data", "models", "demo-softmax")
DEMO_LAZY = os.path.join(SRC, "data", "models", "demo-lazy")
PROMPTS = os.path.join(SRC, "data", "prompts", "demo.txt")
TMP = tempfile.mkdtemp(prefix="ats-lazy-")


# --- safetensors without the safetensors package --------------------------------------------

DTYPES = {"F32": np.float32, "F16": np.float16}


def st_read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", None)
    tensors = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        tensors[name] = np.frombuffer(data[a:b], dtype=DTYPES[info["dtype"]]).reshape(info["shape"]).copy()
    return tensors, meta


def st_write(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, t in tensors.items():
        raw = np.ascontiguousarray(t).tobytes()
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# --- the independent what-if computation -----------------------------------------------------

def whatif_numpy(path, tau, eps=0.3, runs=None):
    """Per-head pooled sums -> dict of [L, H] arrays and per-layer / overall values."""
    f = h5py.File(path, "r")
    L, H = int(f["model"].attrs["n_layers"]), int(f["model"].attrs["n_heads"])
    tau = np.broadcast_to(np.asarray(tau, dtype=np.float32), (L, H))
    S = {k: np.zeros((L, H)) for k in ["rows", "visible", "zeros", "zeros_before", "removed", "sink_removed"]}
    names = sorted(f["runs"].keys())
    for idx, name in enumerate(names):
        if runs is not None and idx not in runs:
            continue
        g = f["runs"][name]
        A_all = g["attention"][()].astype(np.float32)  # [L, H, T, T]
        T = A_all.shape[-1]
        vis = np.tril(np.ones((T, T), dtype=bool))
        n = np.arange(1, T + 1, dtype=np.float32)
        for l in range(L):
            for h in range(H):
                A = A_all[l, h]
                shift = (tau[l, h] / n).astype(np.float32)  # float32 division, as in C
                A2 = np.maximum(A + shift[:, None], np.float32(0)).astype(np.float32)
                A2[~vis] = 0
                d = np.where(vis, A.astype(np.float64) - A2.astype(np.float64), 0.0)
                alpha = A.astype(np.float64).sum(axis=0) / (T - np.arange(T))
                sinks = alpha > eps
                S["rows"][l, h] += T
                S["visible"][l, h] += vis.sum()
                S["zeros"][l, h] += (A2[vis] == 0).sum()
                S["zeros_before"][l, h] += (A[vis] == 0).sum()
                S["removed"][l, h] += d.sum()
                S["sink_removed"][l, h] += d[:, sinks].sum()
    f.close()

    def ratios(s):
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                "sparsity": s["zeros"] / s["visible"],
                "sparsity_before": s["zeros_before"] / s["visible"],
                "mass_removed": s["removed"] / s["rows"],
                "sink_mass_removed": s["sink_removed"] / s["rows"],
                "sink_share": np.where(s["removed"] != 0, s["sink_removed"] / np.where(s["removed"] != 0, s["removed"], 1), np.nan),
            }
    heads = ratios(S)
    layers = ratios({k: v.sum(axis=1) for k, v in S.items()})
    overall = ratios({k: np.array(v.sum()) for k, v in S.items()})
    return heads, layers, overall


def compare(got, want, what, tol=2e-5):
    got = np.array([np.nan if v is None else v for v in np.ravel(np.array(got, dtype=object))], dtype=np.float64)
    want = np.ravel(np.asarray(want, dtype=np.float64))
    check(got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}")
    both_nan = np.isnan(got) & np.isnan(want)
    err = np.abs(np.where(both_nan, 0, got - want))
    check(np.all(err <= tol * np.maximum(1, np.abs(np.nan_to_num(want)))), f"{what}: max err {np.nanmax(err):.3g}\n got {got}\nwant {want}")


def check_json(js, path, tau, runs=None):
    heads, layers, overall = whatif_numpy(path, tau, runs=runs)
    for key in ["sparsity", "sparsity_before", "mass_removed", "sink_mass_removed", "sink_share"]:
        compare(js["heads"][key], heads[key], "heads." + key)
        compare(js["layers"][key], layers[key], "layers." + key)
        compare([js["all"][key]], [overall[key]], "all." + key)
    # exact counts: sparsity must agree to the last entry
    compare(js["heads"]["sparsity"], heads["sparsity"], "heads.sparsity (exact)", tol=1e-7)


SOFT = {}


def soft_capture(dtype):
    if dtype not in SOFT:
        out = os.path.join(TMP, f"soft-{dtype}.h5")
        r = run("capture", "-q", "--model", DEMO_SOFT, "--prompts", PROMPTS, "--out", out, "--dtype", dtype)
        check(r.returncode == 0, "capture failed: " + r.stderr)
        SOFT[dtype] = out
    return SOFT[dtype]


LAZY_H5 = os.path.join(TMP, "lazy.h5")


def lazy_capture():
    if not os.path.exists(LAZY_H5):
        r = run("capture", "-q", "--model", DEMO_LAZY, "--prompts", PROMPTS, "--out", LAZY_H5)
        check(r.returncode == 0, "capture failed: " + r.stderr)
    return LAZY_H5


# --- whatif ----------------------------------------------------------------------------------

for tau in ["-1", "-0.5", "-2.5"]:
    @case(f"whatif --tau {tau} on demo-softmax (f32) equals NumPy from the stored maps")
    def _(tau=tau):
        path = soft_capture("f32")
        r = run("whatif", path, "--tau", tau, "--json")
        check(r.returncode == 0, r.stderr)
        js = json.loads(r.stdout)
        check(js["n_runs"] == 8 and js["capture"] == path, f"runs/capture: {js['n_runs']} {js['capture']}")
        check(all(t == float(tau) for row in js["heads"]["tau"] for t in row), "tau not applied to every head")
        check_json(js, path, float(tau))
        check(js["all"]["sparsity"] > js["all"]["sparsity_before"], "no sparsity gained")


@case("whatif --run 3 --tau -1 on an f16 capture equals NumPy on that run")
def _():
    path = soft_capture("f16")
    r = run("whatif", path, "--tau", "-1", "--run", "3", "--json")
    check(r.returncode == 0, r.stderr)
    js = json.loads(r.stdout)
    check(js["runs"] == [3] and js["n_runs"] == 1, f"runs {js['runs']}")
    check_json(js, path, -1.0, runs={3})


@case("whatif --tau 0 changes nothing (sparsity = before, no mass removed, share undefined)")
def _():
    path = soft_capture("f32")
    js = json.loads(run("whatif", path, "--tau", "0", "--json").stdout)
    compare(js["heads"]["sparsity"], np.array(js["heads"]["sparsity_before"], dtype=float), "sparsity", tol=0)
    compare(js["heads"]["mass_removed"], np.zeros((4, 4)), "removed", tol=0)
    check(all(v is None for row in js["heads"]["sink_share"] for v in row), "share defined with nothing removed")


@case("whatif --tau-from data/models/demo-lazy applies the checkpoint's per-head tau")
def _():
    path = soft_capture("f32")
    r = run("whatif", path, "--tau-from", DEMO_LAZY, "--json")
    check(r.returncode == 0, r.stderr)
    js = json.loads(r.stdout)
    tensors, _ = st_read(os.path.join(DEMO_LAZY, "model.safetensors"))
    want = np.stack([tensors[f"model.layers.{l}.attn.tau"] for l in range(4)])  # [L, H]
    compare(js["heads"]["tau"], want, "tau table", tol=0)
    check(len(np.unique(want)) > 2, "demo-lazy tau is not spread")
    check_json(js, path, want)


@case("whatif --tau-from a Lazy capture (lazy/tau) equals --tau-from its checkpoint")
def _():
    path = soft_capture("f32")
    a = run("whatif", path, "--tau-from", lazy_capture(), "--csv", "--heads")
    b = run("whatif", path, "--tau-from", DEMO_LAZY, "--csv", "--heads")
    check(a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr)
    check(a.stdout == b.stdout, "different tables")
    rows = list(csv.DictReader(io.StringIO(a.stdout)))
    check(len(rows) == 16 and set(rows[0]) >= {"layer", "head", "tau", "sparsity", "mass_removed", "sink_share"},
          f"csv columns {list(rows[0])}")


@case("whatif on a Lazy capture notes that its maps are already elastic")
def _():
    r = run("whatif", lazy_capture(), "--tau", "-1")
    check(r.returncode == 0 and "Elastic-Softmax maps" in r.stderr, r.stderr)
    check("(ours)" in r.stdout and "sink-share" in r.stdout, r.stdout)


@case("whatif: a tau table of the wrong shape is a clear error")
def _():
    path = soft_capture("f32")
    r = run("whatif", path, "--tau-from", os.path.join(FIX, "lazy-fla"))
    check(r.returncode == 1 and "[2, 4]" in r.stderr and "[4, 4]" in r.stderr and "lazy-fla" in r.stderr, r.stderr)
    r = run("whatif", path, "--tau-from", DEMO_SOFT)
    check(r.returncode == 1 and "not a Lazy Attention" in r.stderr, r.stderr)
    r = run("whatif", path, "--tau-from", path)  # a softmax capture has no lazy/tau
    check(r.returncode == 1 and "lazy/tau" in r.stderr, r.stderr)


@case("whatif: usage errors")
def _():
    path = soft_capture("f32")
    for args in [[path], [path, "--tau", "-1", "--tau-from", DEMO_LAZY], [path, "--tau", "-1", "--json", "--csv"]]:
        r = run("whatif", *args)
        check(r.returncode == 2, f"{args}: rc {r.returncode} {r.stderr}")
    r = run("whatif", path, "--tau", "-1", "--run", "99")
    check(r.returncode == 1 and "no run 99" in r.stderr, r.stderr)
    r = run("whatif", os.path.join(TMP, "missing.h5"), "--tau", "-1")
    check(r.returncode == 1 and "missing.h5" in r.stderr, r.stderr)


# --- figures -----------------------------------------------------------------------------------

def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    check(head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG")
    return struct.unpack(">II", head[16:24])


@case("lazy --tau-map / --bias-curves: PNG size, SVG parses, PDF pdfinfo")
def _():
    png = os.path.join(TMP, "tau.png")
    r = run("lazy", DEMO_LAZY, "--tau-map", "--out", png, "--width", "800")
    check(r.returncode == 0, r.stderr)
    w, h = png_size(png)
    check(w == 800 and 300 < h < 800, f"tau map {w}x{h}")
    png2 = os.path.join(TMP, "bias.png")
    r = run("lazy", DEMO_LAZY, "--bias-curves", "--out", png2, "--dpi", "144", "--width", "1200")
    check(r.returncode == 0, r.stderr)
    w, h = png_size(png2)
    check(w == 1200 and 500 < h < 1400, f"bias curves {w}x{h}")
    svg = os.path.join(TMP, "bias.svg")
    r = run("lazy", lazy_capture(), "--bias-curves", "--out", svg)
    check(r.returncode == 0, r.stderr)
    root = ET.parse(svg).getroot()
    check(root.tag.endswith("svg"), root.tag)
    pdf = os.path.join(TMP, "tau.pdf")
    r = run("lazy", lazy_capture(), "--out", pdf, "--title", "tau of demo-lazy")
    check(r.returncode == 0, r.stderr)
    info = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True)
    check(info.returncode == 0 and re.search(r"^Pages:\s+1$", info.stdout, re.M) and "tau of demo-lazy" in info.stdout, info.stdout + info.stderr)


@case("lazy: both table shapes ([H, W] bias and [H, W+1] attention_biases) draw")
def _():
    for fam in ["lazy-fla", "lazy-hf"]:
        out = os.path.join(TMP, f"{fam}.png")
        r = run("lazy", os.path.join(FIX, fam), "--bias-curves", "--out", out)
        check(r.returncode == 0 and png_size(out)[0] == 1200, fam + ": " + r.stderr)


@case("lazy: softmax models and captures are refused, an existing figure is kept")
def _():
    out = os.path.join(TMP, "keep.png")
    open(out, "wb").write(b"old")
    r = run("lazy", DEMO_SOFT, "--out", out)
    check(r.returncode == 1 and "not a Lazy Attention" in r.stderr, r.stderr)
    r = run("lazy", soft_capture("f32"), "--out", out)
    check(r.returncode == 1 and "lazy/tau" in r.stderr, r.stderr)
    check(open(out, "rb").read() == b"old", "existing file changed")
    r = run("lazy", DEMO_LAZY, "--out", os.path.join(TMP, "x.bmp"))
    check(r.returncode == 2, r.stderr)
    r = run("lazy", DEMO_LAZY)
    check(r.returncode == 2 and "--out" in r.stderr, r.stderr)


# --- inconsistent Lazy checkpoints --------------------------------------------------------------

def broken_copy(fixture, name, edit):
    d = os.path.join(TMP, name)
    shutil.copytree(os.path.join(FIX, fixture), d)
    path = os.path.join(d, "model.safetensors")
    tensors, meta = st_read(path)
    edit(tensors)
    st_write(path, tensors, meta)
    return d


def named(tensor, text):
    """The message names the tensor (in single or double quotes)."""
    return f'"{tensor}"' in text or f"'{tensor}'" in text


BROKEN = [
    ("lazy-fla", "tau-short-l1", "model.layers.1.attn.tau",
     lambda t: t.update({"model.layers.1.attn.tau": t["model.layers.1.attn.tau"][:3].copy()})),
    ("lazy-fla", "tau-long-l0", "model.layers.0.attn.tau",
     lambda t: t.update({"model.layers.0.attn.tau": np.concatenate([t["model.layers.0.attn.tau"], [-1.0]]).astype(np.float32)})),
    ("lazy-fla", "bias-heads-l0", "model.layers.0.attn.bias",
     lambda t: t.update({"model.layers.0.attn.bias": t["model.layers.0.attn.bias"][:3].copy()})),
    ("lazy-fla", "bias-heads-l1", "model.layers.1.attn.bias",
     lambda t: t.update({"model.layers.1.attn.bias": np.concatenate([t["model.layers.1.attn.bias"]] * 2)})),
    ("lazy-hf", "hf-bias-heads-l1", "model.layers.1.self_attn.attention_biases",
     lambda t: t.update({"model.layers.1.self_attn.attention_biases": t["model.layers.1.self_attn.attention_biases"][:2].copy()})),
    ("lazy-hf", "hf-tau-short-l0", "model.layers.0.self_attn.tau",
     lambda t: t.update({"model.layers.0.self_attn.tau": t["model.layers.0.self_attn.tau"][:2].copy()})),
]

for fixture, name, tensor, edit in BROKEN:
    @case(f"inconsistent Lazy checkpoint ({name}): info and capture fail naming {tensor}")
    def _(fixture=fixture, name=name, tensor=tensor, edit=edit):
        d = broken_copy(fixture, name, edit)
        r = run("info", d)
        check(r.returncode != 0 and named(tensor, r.stdout + r.stderr), f"info: rc {r.returncode}\n{r.stdout}{r.stderr}")
        out = os.path.join(TMP, name + ".h5")
        r = run("capture", "-q", "--model", d, "--ids", "1,2,3", "--out", out)
        check(r.returncode == 1 and named(tensor, r.stderr), f"capture: rc {r.returncode}\n{r.stderr}")
        check("shape" in r.stderr, "the message does not say the shape is wrong: " + r.stderr)
        check(not os.path.exists(out), "a capture file was written")
        r = run("lazy", d, "--out", os.path.join(TMP, name + ".png"))
        check(r.returncode == 1 and named(tensor, r.stderr), f"lazy: {r.stderr}")


shutil.rmtree(TMP, ignore_errors=True)
finish()
