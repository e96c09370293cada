#!/usr/bin/env python3
"""TAP tests of the merge figures (issue 8): `diff --out FIG` and `render SWEEP.h5 --plot`.

The diff heatmap's cell values are checked against the independent NumPy reference of the merge
fixtures (expected/diff-base-tuned1.json) through the PDF's text; the sweep plot's numbers
(--json) against h5py reads of the sweep file, including a recomputation from the runs' stored
metrics. Bad input must give a clear error and leave existing files intact.
"""
import json
import os
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import h5py
import numpy as np

from tap import SRC, case, check, finish, run

MERGE = os.path.join(SRC, "tests", "reference", "fixtures", "merge")
DEMO = os.path.join(SRC, "data", "models", "demo-softmax")
PROMPTS = os.path.join(SRC, "data", "prompts", "demo.txt")
TMP = tempfile.mkdtemp(prefix="ats-mfig-")

KIND_ORDER = ["q", "k", "v", "qkv", "o", "lazy", "gate", "up", "down", "norms", "embeddings", "other"]


def png_size(path):
    data = open(path, "rb").read(24)
    check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG")
    return struct.unpack(">II", data[16:24])


def pdf_info(path):
    r = subprocess.run(["pdfinfo", path], capture_output=True, text=True)
    check(r.returncode == 0, f"pdfinfo rejects {path}: {r.stderr}")
    return r.stdout


def pdf_words(path):
    r = subprocess.run(["pdftotext", "-raw", path, "-"], capture_output=True, text=True)
    check(r.returncode == 0, f"pdftotext {path}: {r.stderr}")
    return r.stdout


def svg_root(path):
    root = ET.parse(path).getroot()
    check(root.tag.endswith("svg"), f"{path}: root element {root.tag}")
    return root


def no_leftovers(directory):
    left = [f for f in os.listdir(directory) if ".tmp" in f or f.startswith(".")]
    check(not left, f"temporary files left in {directory}: {left}")


# --- diff heatmap -------------------------------------------------------------------------

BASE, TUNED1 = os.path.join(MERGE, "base"), os.path.join(MERGE, "tuned1")
REF = json.load(open(os.path.join(MERGE, "expected", "diff-base-tuned1.json")))


@case("diff --out: PNG, SVG and PDF of the weight delta heatmap")
def _():
    png, svg, pdf = (os.path.join(TMP, f"diff.{e}") for e in ("png", "svg", "pdf"))
    for path in (png, svg, pdf):
        r = run("diff", "--base", BASE, "--other", TUNED1, "--out", path)
        check(r.returncode == 0, f"{path}: rc {r.returncode} {r.stderr}")
        check(r.stdout == "", f"--out printed the table too: {r.stdout[:200]}")
    w, h = png_size(png)
    check(w == 900 and 0.45 * 900 <= h <= 3 * 900, f"PNG is {w} x {h}")
    svg_root(svg)
    info = pdf_info(pdf)
    check("Relative weight change" in info, info)
    r = run("diff", "--base", BASE, "--other", TUNED1, "--out", png, "--width", "1200", "--dpi", "144")
    check(r.returncode == 0 and png_size(png)[0] == 1200, f"--width 1200 --dpi 144: {png_size(png)} {r.stderr}")


@case("diff --out: rows = non-layer + layers, columns = kinds present, values = NumPy reference")
def _():
    for metric, field, fmt in (("rel", "relative", "%.3g"), ("norm", "delta_l2", "%.3g"),
                               ("cos", "cos_other_base", "%.3f"), ("cos-delta", "cos_delta_base", "%.2f")):
        pdf = os.path.join(TMP, f"diff-{metric}.pdf")
        r = run("diff", "--base", BASE, "--other", TUNED1, "--metric", metric, "--out", pdf)
        check(r.returncode == 0, f"--metric {metric}: {r.stderr}")
        words = " ".join(pdf_words(pdf).split())
        # the annotated cells in drawing order (row-major: the non-layer row, then layers 0..;
        # columns in KIND_ORDER): every (layer, kind) of the reference, rounded like the figure
        ref = {(row["layer"], row["kind"]): row[field] for row in REF}
        want = [fmt % float(np.float32(ref[(layer, kind)]))
                for layer in sorted({lk[0] for lk in ref}) for kind in KIND_ORDER if (layer, kind) in ref]
        check(len(want) == len(REF) and " ".join(want) in words,
              f"--metric {metric}: cells {want} not drawn in this order:\n{words}")
    text = pdf_words(os.path.join(TMP, "diff-rel.pdf"))
    kinds = [k for k in KIND_ORDER if any(row["kind"] == k for row in REF)]
    line = next((ln for ln in text.splitlines() if ln.split()[:2] == kinds[:2]), None)
    check(line is not None and line.split() == kinds, f"column labels {kinds} not found in order:\n{text}")
    check("non-layer" in text, "no non-layer row for the embeddings / final norm")
    for word in (BASE, TUNED1, "rel = "):
        check(word in text, f"footer lacks {word!r}")


@case("diff without --out keeps the table and CSV; --csv --out writes both")
def _():
    r = run("diff", "--base", BASE, "--other", TUNED1)
    check(r.returncode == 0 and r.stdout.startswith("layer kind"), r.stdout[:200] + r.stderr)
    out = os.path.join(TMP, "both.svg")
    r = run("diff", "--base", BASE, "--other", TUNED1, "--csv", "--out", out)
    check(r.returncode == 0 and r.stdout.startswith("layer,kind,"), r.stdout[:200] + r.stderr)
    check(len(r.stdout.strip().splitlines()) == len(REF) + 1, "CSV rows")
    svg_root(out)


@case("diff --out bad input: unknown metric, bad format, unwritable path; nothing written")
def _():
    out = os.path.join(TMP, "precious.png")
    open(out, "w").write("precious")
    r = run("diff", "--base", BASE, "--other", TUNED1, "--metric", "sharpness", "--out", out)
    check(r.returncode == 2 and "sharpness" in r.stderr, f"rc {r.returncode} {r.stderr}")
    r = run("diff", "--base", BASE, "--other", TUNED1, "--out", os.path.join(TMP, "x.bmp"))
    check(r.returncode == 2 and "x.bmp" in r.stderr, f"rc {r.returncode} {r.stderr}")
    check(not os.path.exists(os.path.join(TMP, "x.bmp")), "output written for a bad format")
    r = run("diff", "--base", BASE, "--other", os.path.join(MERGE, "nonexistent"), "--out", out)
    check(r.returncode == 1 and "nonexistent" in r.stderr, r.stderr)
    check(open(out).read() == "precious", "existing output clobbered")
    bad = "/proc/attnscope-test/diff.png"
    r = run("diff", "--base", BASE, "--other", TUNED1, "--out", bad)
    check(r.returncode == 1 and bad in r.stderr, r.stderr)
    d = tempfile.mkdtemp(prefix="ats-ro-", dir=TMP)
    os.chmod(d, 0o500)
    if os.geteuid() != 0:  # root ignores permission bits
        r = run("diff", "--base", BASE, "--other", TUNED1, "--out", os.path.join(d, "x.png"))
        check(r.returncode == 1 and d in r.stderr, r.stderr)
    os.chmod(d, 0o700)
    check(os.listdir(d) == [], f"files left in the read-only folder: {os.listdir(d)}")
    no_leftovers(TMP)


# --- sweep plots --------------------------------------------------------------------------

def perturbed_copy(dst):
    """demo-softmax with its MLP and q/k weights perturbed (a stand-in for a fine-tuned model)."""
    shutil.copytree(DEMO, dst)
    path = os.path.join(dst, "model.safetensors")
    raw = bytearray(open(path, "rb").read())
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    rng = np.random.default_rng(8)
    changed = 0
    for name, t in header.items():
        if name == "__metadata__" or not any(k in name for k in ("mlp.", "q_proj", "k_proj")):
            continue
        assert t["dtype"] == "F32", name
        a, b = (8 + n + o for o in t["data_offsets"])
        w = np.frombuffer(bytes(raw[a:b]), dtype="<f4")
        w = w * (1 + 0.5 * rng.standard_normal(w.shape)) + 0.05 * rng.standard_normal(w.shape)
        raw[a:b] = w.astype("<f4").tobytes()
        changed += 1
    assert changed > 0
    open(path, "wb").write(raw)


TUNED = os.path.join(TMP, "demo-tuned")
PROMPTS3 = os.path.join(TMP, "prompts3.txt")
SWEEP = os.path.join(TMP, "sweep.h5")
SWEEP_LIST = os.path.join(TMP, "sweep-list.h5")
PLAIN = os.path.join(TMP, "plain.h5")


def sweep(out, alphas):
    r = run("sweep", "-q", "--base", DEMO, "--tuned", TUNED, "--method", "linear", "--alpha", alphas,
            "--prompts", PROMPTS3, "--out", out)
    check(r.returncode == 0, f"sweep --alpha {alphas}: {r.stderr}")


def plot_json(*args):
    r = run("render", *args, "--json", "-")
    check(r.returncode == 0, f"render {args}: rc {r.returncode} {r.stderr}")
    return json.loads(r.stdout)


def close(a, b, tol=1e-6):
    a = np.array([np.nan if v is None else v for v in a], dtype=float)
    return a.shape == np.shape(b) and np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True)


@case("setup: a perturbed demo-softmax, a sweep over --alpha 0:1:0.25 on three prompts")
def _():
    perturbed_copy(TUNED)
    lines = [ln for ln in open(PROMPTS).read().splitlines() if ln.strip()][:3]
    open(PROMPTS3, "w").write("\n".join(lines) + "\n")
    sweep(SWEEP, "0:1:0.25")
    with h5py.File(SWEEP) as f:
        check(list(f["sweep/values"][:]) == [0, 0.25, 0.5, 0.75, 1], f"values {f['sweep/values'][:]}")
    r = run("capture", "-q", "--model", DEMO, "--prompt", lines[0], "--out", PLAIN)
    check(r.returncode == 0, r.stderr)


@case("render SWEEP --plot first_token_mass,uniform_sparsity: PNG, SVG, PDF against alpha")
def _():
    for ext in ("png", "svg", "pdf"):
        out = os.path.join(TMP, f"sweep.{ext}")
        r = run("render", SWEEP, "--plot", "first_token_mass,uniform_sparsity", "--out", out)
        check(r.returncode == 0, f"{ext}: rc {r.returncode} {r.stderr}")
    w, h = png_size(os.path.join(TMP, "sweep.png"))
    check((w, h) == (900, 594), f"PNG is {w} x {h}")
    svg_root(os.path.join(TMP, "sweep.svg"))
    pdf_info(os.path.join(TMP, "sweep.pdf"))
    text = pdf_words(os.path.join(TMP, "sweep.pdf"))
    for word in ("first_token_mass", "sparsity", "alpha (linear merge", "3 prompts per step", SWEEP):
        check(word in text, f"figure text lacks {word!r}:\n{text}")


@case("sweep plot numbers: x = /sweep/values, y = mean over prompts, band = std over prompts")
def _():
    js = plot_json(SWEEP, "--plot", "first_token_mass,uniform_sparsity", "--out", os.path.join(TMP, "s.svg"))
    with h5py.File(SWEEP) as f:
        values = f["sweep/values"][:]
        runs = f["sweep/runs"][:]
        check(js["x"] == list(values) and js["parameter"] == "alpha" and js["method"] == "linear",
              f"x {js['x']} vs values {list(values)}")
        check([s["metric"] for s in js["series"]] == ["first_token_mass", "uniform_sparsity"], js["series"])
        for s in js["series"]:
            summ = f["sweep/summary/" + s["metric"]][:].astype(float)  # [S, P]
            check(close(s["y"], np.nanmean(summ, axis=1)), f"{s['metric']} y {s['y']}")
            check(close(s["std"], np.nanstd(summ, axis=1, ddof=1)), f"{s['metric']} std {s['std']}")
            check(s["n"] == [3] * 5 and s["layer"] is None, s)
            # independent of the summaries: the runs' own [L, H] metrics
            per_run = np.array([[np.nanmean(f["runs/%06d/metrics/%s" % (runs[i, p], s["metric"])][:])
                                 for p in range(runs.shape[1])] for i in range(runs.shape[0])])
            check(close(s["y"], per_run.mean(axis=1), 1e-5), f"{s['metric']}: y {s['y']} vs runs "
                  f"{per_run.mean(axis=1)}")
        check(not np.allclose(js["series"][1]["y"][0], js["series"][1]["y"][-1]),
              "the perturbation left uniform_sparsity unchanged: the test would not see a wrong x order")


@case("sweep plot: --per-layer lines, sink_rate, unsorted --alpha list plotted in order")
def _():
    js = plot_json(SWEEP, "--plot", "entropy", "--per-layer", "--out", os.path.join(TMP, "pl.png"))
    with h5py.File(SWEEP) as f:
        by_layer = f["sweep/summary/entropy_by_layer"][:].astype(float)  # [S, P, L]
        L = int(f["model"].attrs["n_layers"])
        rate = f["sweep/summary/sink_rate"][:]
    check(len(js["series"]) == L == by_layer.shape[2], f"{len(js['series'])} lines for {L} layers")
    for s in js["series"]:
        check(close(s["y"], np.nanmean(by_layer[:, :, s["layer"]], axis=1)), f"layer {s['layer']}")
        check(s["std"] is None, "per-layer lines carry no band")
    js = plot_json(SWEEP, "--plot", "sink_rate", "--out", os.path.join(TMP, "rate.pdf"))
    check(close(js["series"][0]["y"], np.nanmean(rate, axis=1)), f"sink_rate {js['series'][0]['y']}")

    sweep(SWEEP_LIST, "1,0,0.5")
    js = plot_json(SWEEP_LIST, "--plot", "uniform_sparsity", "--out", os.path.join(TMP, "list.svg"))
    with h5py.File(SWEEP_LIST) as f:
        summ = f["sweep/summary/uniform_sparsity"][:].astype(float)
    check(js["values"] == [1, 0, 0.5] and js["x"] == [0, 0.5, 1] and js["steps"] == [1, 2, 0], js)
    check(close(js["series"][0]["y"], np.nanmean(summ, axis=1)[[1, 2, 0]]), "y not reordered with x")


@case("render --plot still draws per-layer plots of captures (and of a sweep's runs with --run)")
def _():
    for args in ([PLAIN, "--plot", "entropy"], [SWEEP, "--plot", "entropy", "--run", "2"],
                 [SWEEP, PLAIN, "--plot", "entropy"]):
        out = os.path.join(TMP, "layers.svg")
        r = run("render", *args, "--out", out)
        check(r.returncode == 0, f"{args}: {r.stderr}")
        svg_root(out)
    r = run("render", SWEEP, "--plot", "entropy", "--run", "2", "--out", os.path.join(TMP, "layers.pdf"))
    text = pdf_words(os.path.join(TMP, "layers.pdf"))
    check(r.returncode == 0 and "entropy per layer" in text and "alpha" not in text, text)


@case("sweep plot bad input: non-sweep capture, unknown metric, unwritable path; nothing written")
def _():
    out = os.path.join(TMP, "keep.png")
    open(out, "w").write("precious")
    cases = [
        ([PLAIN, "--sweep", "--plot", "entropy"], 1, ["not a sweep file", PLAIN]),
        ([PLAIN, "--per-layer", "--plot", "entropy"], 1, ["not a sweep file", PLAIN]),
        ([SWEEP, "--plot", "nonsense"], 1, ["unknown metric", "first_token_mass", "sink_rate"]),
        ([SWEEP, "--plot", "entropy,nonsense"], 1, ["unknown metric \"nonsense\""]),
        ([SWEEP, "--plot", "sink_score"], 1, ["per token"]),
        ([SWEEP, "--plot", "sink_rate", "--per-layer"], 1, ["sink_rate", "per-layer"]),
        ([SWEEP, "--sweep"], 2, ["--plot"]),
        ([SWEEP, SWEEP_LIST, "--sweep", "--plot", "entropy"], 2, ["one sweep file"]),
        ([os.path.join(TMP, "missing.h5"), "--sweep", "--plot", "entropy"], 1, ["missing.h5"]),
    ]
    for args, rc, words in cases:
        r = run("render", *args, "--out", out)
        check(r.returncode == rc and all(w in r.stderr for w in words), f"{args}: rc {r.returncode} {r.stderr}")
        check(open(out).read() == "precious", f"{args}: existing output clobbered")
    bad = "/proc/attnscope-test/sweep.png"
    r = run("render", SWEEP, "--plot", "entropy", "--out", bad)
    check(r.returncode == 1 and bad in r.stderr, r.stderr)
    d = tempfile.mkdtemp(prefix="ats-ro-", dir=TMP)
    os.chmod(d, 0o500)
    if os.geteuid() != 0:
        r = run("render", SWEEP, "--plot", "entropy", "--out", os.path.join(d, "x.svg"))
        check(r.returncode == 1 and d in r.stderr, r.stderr)
    os.chmod(d, 0o700)
    check(os.listdir(d) == [], f"files left in the read-only folder: {os.listdir(d)}")
    r = run("render", SWEEP, "--plot", "entropy", "--out", os.path.join(TMP, "y.bmp"))
    check(r.returncode == 2 and not os.path.exists(os.path.join(TMP, "y.bmp")), r.stderr)
    no_leftovers(TMP)


shutil.rmtree(TMP, ignore_errors=True)
finish()
