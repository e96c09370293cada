#!/usr/bin/env python3
"""TAP tests of attnscope-cli stats and render (real capture files, h5py, pdfinfo).

stats: recomputation from the stored maps must equal the streaming metrics written at capture
time (f32 maps), follow its parameters (--eps), agree with the independent NumPy implementation
tests/reference/diagnostics_ref.py, and give the closed-form values on a constructed capture.
render: PNG size and pixels (a sink column is the brightest colour), SVG parses as XML, PDF
passes pdfinfo. Bad input: clear error, exit status 1, no file touched or half-written.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zlib

import h5py
import numpy as np

from tap import FIX, PY, SRC, case, check, finish, run

REF = os.path.join(SRC, "tests", "reference", "diagnostics_ref.py")
TMP = tempfile.mkdtemp(prefix="ats-stats-render-")

HEAD_METRICS = ["first_token_mass", "entropy", "row_mass", "sparsity", "uniform_sparsity",
                "underload", "overload", "top_p_width"]
VIRIDIS_MAX = (0xfd, 0xe7, 0x25)
VIRIDIS_MIN = (0x44, 0x01, 0x54)


def ids_of(fixture):
    return ",".join(map(str, json.load(open(os.path.join(FIX, fixture, "expected.json")))["ids"]))


def capture(fixture, out, *extra):
    if os.path.exists(out):
        return out
    r = run("capture", "-q", "--model", os.path.join(FIX, fixture), "--ids", ids_of(fixture), "--out", out, *extra)
    check(r.returncode == 0, f"capture {fixture} failed: {r.stderr}")
    return out


def read_metrics(path, run_name="000000"):
    with h5py.File(path, "r") as f:
        g = f["runs"][run_name]["metrics"]
        return {k: g[k][()] for k in g}, dict(g.attrs)


def png_chunks(path):
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG")
    pos = 8
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        yield kind, data[pos + 8:pos + 8 + n]
        pos += 12 + n


def png_size(path):
    for kind, body in png_chunks(path):
        if kind == b"IHDR":
            return struct.unpack(">II", body[:8])
    raise AssertionError(f"{path}: no IHDR")


def read_png(path):
    """Minimal PNG decoder for cairo's output (8-bit RGB/RGBA, not interlaced) -> [h, w, c]."""
    idat = b""
    for kind, body in png_chunks(path):
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            check(depth == 8 and ctype in (2, 6) and interlace == 0, f"PNG type {depth}/{ctype}/{interlace}")
            c = 4 if ctype == 6 else 3
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = w * c
    rows = []
    prev = [0] * stride
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        out = [0] * stride
        for x in range(stride):
            a = out[x - c] if x >= c else 0
            b = prev[x]
            if ft == 0:
                p = 0
            elif ft == 1:
                p = a
            elif ft == 2:
                p = b
            elif ft == 3:
                p = (a + b) >> 1
            else:
                cc = prev[x - c] if x >= c else 0
                pa, pb, pc = abs(b - cc), abs(a - cc), abs(a + b - 2 * cc)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else cc)
            out[x] = (line[x] + p) & 255
        rows.append(out)
        prev = out
    return np.array(rows, dtype=np.int32).reshape(h, w, c)


def make_sink_capture(path, T=16, dtype="f4"):
    """A capture written with h5py after REFERENCE §4: 1 layer x 2 heads; head 0 puts every row
    on the first token (sink score 1), head 1 is uniform over the visible keys."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "attnscope-capture"
        f.attrs["format_version"] = 1
        f.attrs["producer"] = "test_stats_render.py"
        m = f.create_group("model")
        for k, v in dict(n_layers=1, n_heads=2, n_kv_heads=2, d_model=8, head_dim=4, vocab_size=32).items():
            m.attrs[k] = v
        m.attrs["architecture"] = "llama"
        m.attrs["attention"] = "softmax"
        m.attrs["source"] = "constructed-sink"
        m.attrs["config_json"] = "{}"
        g = f.create_group("runs/000000")
        g.attrs["prompt"] = "constructed sink"
        g.attrs["n_tokens"] = T
        g.attrs["complete"] = 1
        g.create_dataset("tokens/ids", data=np.arange(T, dtype=np.int32))
        g.create_dataset("tokens/text", data=[f"t{i}" for i in range(T)], dtype=h5py.string_dtype())
        A = np.zeros((1, 2, T, T), dtype=np.float32)
        A[0, 0, :, 0] = 1.0
        for i in range(T):
            A[0, 1, i, :i + 1] = 1.0 / (i + 1)
        chunk = (1, 1, min(T, 128), min(T, 128))
        g.create_dataset("attention", data=A.astype(dtype), chunks=chunk, shuffle=True, compression="gzip",
                         compression_opts=1)
        g.create_dataset("hidden_norms", data=np.ones((2, T), dtype=np.float32))
    return path


def snapshot(path):
    st = os.stat(path)
    return open(path, "rb").read(), st.st_mtime_ns


# --- stats ---------------------------------------------------------------------------------

for fam in ["llama", "lazy-hf", "gpt2", "qwen2"]:
    @case(f"stats recomputation equals the streaming metrics of capture ({fam}, f32 maps)")
    def _(fam=fam):
        src = capture(fam, os.path.join(TMP, f"{fam}-f32.h5"), "--dtype", "f32")
        out = os.path.join(TMP, f"{fam}-f32-stats.h5")
        shutil.copy(src, out)
        before, _ = read_metrics(out)
        r = run("stats", out)
        check(r.returncode == 0, r.stderr)
        check("layer" in r.stdout and "first-tok" in r.stdout, r.stdout)
        after, attrs = read_metrics(out)
        check(set(before) == set(after), f"datasets {sorted(before)} vs {sorted(after)}")
        for k in before:
            a, b = before[k].astype(np.float64), after[k].astype(np.float64)
            check(a.shape == b.shape, f"{k} shape {a.shape} vs {b.shape}")
            check(np.allclose(a, b, rtol=0, atol=1e-6, equal_nan=True),
                  f"{k}: max difference {np.nanmax(np.abs(a - b))}")
        for p, v in dict(eps=0.3, underload_mass=0.5, overload_mass=0.5, overload_k=4, overload_factor=2.0,
                         top_p=0.9).items():
            check(abs(float(attrs[p]) - v) < 1e-12, f"attribute {p} = {attrs.get(p)}")


@case("stats --eps changes sink_rate as its definition says, in the output and in the file")
def _():
    out = os.path.join(TMP, "eps.h5")
    shutil.copy(capture("llama", os.path.join(TMP, "llama-f32.h5"), "--dtype", "f32"), out)
    ftm = read_metrics(out)[0]["first_token_mass"]
    eps = float(np.median(ftm))  # half the heads (roughly) above, so the rate must move
    expected = 100.0 * np.count_nonzero(ftm > eps) / ftm.size
    default = 100.0 * np.count_nonzero(ftm > 0.3) / ftm.size
    check(abs(expected - default) > 1, f"test needs a rate change: {expected} vs {default}")
    r = run("stats", out, "--eps", repr(eps), "--json")
    check(r.returncode == 0, r.stderr)
    j = json.loads(r.stdout)
    got = j["runs"][0]["diagnostics"]["sink_rate"]
    check(abs(got - expected) < 1e-9, f"JSON sink_rate {got}, expected {expected}")
    check(abs(j["runs"][0]["diagnostics"]["params"]["sink_eps"] - eps) < 1e-12, "params.sink_eps")
    metrics, attrs = read_metrics(out)
    check(abs(attrs["sink_rate"] - expected) < 1e-9 and abs(attrs["eps"] - eps) < 1e-12,
          f"file attrs {attrs}")
    check(np.array_equal(metrics["first_token_mass"], ftm), "first_token_mass changed with eps")
    r = run("stats", out, "--eps", "0.3", "--csv", "--heads", "--no-write")
    check(r.returncode == 0 and r.stdout.startswith("run,layer,head,"), r.stdout[:200] + r.stderr)
    check(read_metrics(out)[1]["eps"] == attrs["eps"], "--no-write wrote the file")


@case("stats on a constructed sink capture: closed-form sink score, sink rate, entropy")
def _():
    T = 16
    path = make_sink_capture(os.path.join(TMP, "sink-stats.h5"), T)
    r = run("stats", path, "--json", "--per-token")
    check(r.returncode == 0, r.stderr)
    check("no stored metrics" in r.stderr, f"note on hidden-state metrics missing: {r.stderr}")
    d = json.loads(r.stdout)["runs"][0]["diagnostics"]
    m = d["metrics"]
    check(abs(m["first_token_mass"][0][0] - 1.0) < 1e-6, f"sink head alpha {m['first_token_mass'][0][0]}")
    harmonic = sum(1.0 / (i + 1) for i in range(T)) / T  # uniform rows: mean of 1/n_i
    check(abs(m["first_token_mass"][0][1] - harmonic) < 1e-6, f"uniform head alpha {m['first_token_mass'][0][1]}")
    check(abs(d["sink_rate"] - 50.0) < 1e-9, f"sink rate {d['sink_rate']}")
    check(abs(m["entropy"][0][0]) < 1e-6 and abs(m["entropy"][0][1] - 1.0) < 1e-6, f"entropy {m['entropy']}")
    check(abs(m["underload"][0][0] - 1.0) < 1e-6, f"underload {m['underload']}")
    check(all(v is None for v in m["collapse_cosine"]), "hidden-state metrics invented")
    check(abs(m["sink_score"][0][0][0] - 1.0) < 1e-6 and all(abs(v) < 1e-7 for v in m["sink_score"][0][0][1:]),
          "sink_score of the sink head")
    with h5py.File(path, "r") as f:
        check(abs(f["runs/000000/metrics/first_token_mass"][0, 0] - 1.0) < 1e-6, "metrics not written")


@case("stats --json agrees with the independent NumPy implementation (lazy-hf, llama captures)")
def _():
    check(os.path.exists(REF), f"{REF} missing")
    for fam in ["lazy-hf", "llama"]:
        for dtype in ["f32", "f16"]:
            path = capture(fam, os.path.join(TMP, f"{fam}-{dtype}.h5"), "--dtype", dtype)
            r = run("stats", path, "--json", "--per-token", "--no-write")
            check(r.returncode == 0, r.stderr)
            got = json.loads(r.stdout)["runs"][0]["diagnostics"]
            rr = subprocess.run([PY, REF, "--h5", path], capture_output=True, text=True)
            check(rr.returncode == 0, rr.stderr)
            ref = json.loads(rr.stdout)
            for k in HEAD_METRICS + ["sink_score"]:
                a = np.array(got["metrics"][k], dtype=np.float64)
                b = np.array(ref["metrics"][k], dtype=np.float64)
                check(np.allclose(a, b, rtol=1e-5, atol=1e-5, equal_nan=True),
                      f"{fam} {dtype} {k}: max difference {np.nanmax(np.abs(a - b))}")
            check(abs(got["sink_rate"] - ref["sink_rate"]) < 1e-9, f"{fam} sink_rate")


@case("stats on a --no-maps capture: stored metrics used, parameters cannot change, file untouched")
def _():
    path = capture("llama", os.path.join(TMP, "nomaps.h5"), "--no-maps")
    before = snapshot(path)
    r = run("stats", path, "--eps", "0.05")
    check(r.returncode == 0, r.stderr)
    check("no attention maps" in r.stderr and "cannot" in r.stderr, r.stderr)
    check(snapshot(path) == before, "file modified")


@case("stats of several runs prints the corpus summary; --run selects one")
def _():
    path = os.path.join(TMP, "demo-corpus.h5")
    r = run("capture", "-q", "--model", os.path.join(SRC, "data", "models", "demo-softmax"), "--prompts",
            os.path.join(SRC, "data", "prompts", "demo.txt"), "--out", path, "--force", "--dtype", "f32")
    check(r.returncode == 0, r.stderr)
    r = run("stats", path)
    check(r.returncode == 0 and "corpus summary" in r.stdout and "== run 000007" in r.stdout, r.stdout[-400:])
    j = json.loads(run("stats", path, "--json", "--no-write").stdout)
    check(j["summary"]["n_runs"] == len(j["runs"]) > 1, "summary in JSON")
    r = run("stats", path, "--run", "2", "--json", "--no-write")
    j = json.loads(r.stdout)
    check(len(j["runs"]) == 1 and j["runs"][0]["run"] == 2 and "summary" not in j, r.stdout[:200])


@case("stats bad input: not HDF5, not a capture, wrong version, missing run -> exit 1, file untouched")
def _():
    bogus = os.path.join(TMP, "bogus.h5")
    open(bogus, "w").write("not hdf5 at all")
    other = os.path.join(TMP, "other.h5")
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "something-else"
    future = os.path.join(TMP, "future.h5")
    shutil.copy(make_sink_capture(os.path.join(TMP, "sink-v.h5")), future)
    with h5py.File(future, "a") as f:
        f.attrs["format_version"] = 99
    for path, words in [(bogus, ["not an HDF5 file"]), (other, ["not an attnscope capture"]),
                        (future, ["format_version", "99"])]:
        before = snapshot(path)
        r = run("stats", path)
        check(r.returncode == 1 and path in r.stderr and all(w in r.stderr for w in words), r.stderr)
        check(snapshot(path) == before, f"{path} modified")
    good = make_sink_capture(os.path.join(TMP, "sink-run.h5"))
    before = snapshot(good)
    r = run("stats", good, "--run", "3")
    check(r.returncode == 1 and "no run 3" in r.stderr, r.stderr)
    check(snapshot(good) == before, "file modified by a failed stats")
    r = run("stats", os.path.join(TMP, "missing.h5"))
    check(r.returncode == 1 and "no such file" in r.stderr, r.stderr)
    r = run("stats")
    check(r.returncode == 2, "usage error expected")


# --- render --------------------------------------------------------------------------------

def sink_column_check(png, expect_w):
    img = read_png(png)[:, :, :3]
    h, w, _ = img.shape
    check(w == expect_w, f"PNG width {w}, expected {expect_w}")
    is_max = np.all(img == VIRIDIS_MAX, axis=2)
    is_min = np.all(img == VIRIDIS_MIN, axis=2)
    mapped = is_max | is_min
    cols = np.where(mapped.any(axis=0))[0]
    check(len(cols) > 0, "no colormap pixels found")
    x0 = cols[0]  # leftmost column of the map (the colorbar is on the right)
    ys = np.where(mapped[:, x0])[0]
    check(len(ys) > 0.3 * h, f"first map column only {len(ys)} px tall in a {h} px figure")
    check(is_max[ys, x0].all(), "first-column pixels are not all the brightest colour")
    # the rest of the map's bottom row is the darkest colour (zero weights of the sink head)
    y_bottom = ys[-1]
    row = np.where(mapped[y_bottom])[0]
    inner = row[(row > x0 + 0.1 * w) & (row < x0 + 0.5 * w)]
    check(len(inner) > 0 and is_min[y_bottom, inner].all(), "off-sink cells are not the darkest colour")
    return h


@case("render PNG: size as requested, the sink column is the brightest colour (small and pooled maps)")
def _():
    path = make_sink_capture(os.path.join(TMP, "sink-render.h5"), 16)
    png = os.path.join(TMP, "sink.png")
    r = run("render", path, "--layer", "0", "--head", "0", "--width", "640", "--out", png)
    check(r.returncode == 0, r.stderr)
    sink_column_check(png, 640)
    big = make_sink_capture(os.path.join(TMP, "sink-big.h5"), 2000, dtype="f2")
    png = os.path.join(TMP, "sink-big.png")
    r = run("render", big, "--layer", "0", "--head", "0", "--width", "500", "--out", png)
    check(r.returncode == 0, r.stderr)
    sink_column_check(png, 500)
    r = run("render", big, "--layer", "0", "--head", "0", "--width", "500", "--dpi", "144", "--out", png)
    check(r.returncode == 0 and png_size(png)[0] == 500, "PNG width at --dpi 144")


@case("render SVG parses as XML, PDF passes pdfinfo; provenance embedded")
def _():
    path = capture("llama", os.path.join(TMP, "llama-f32.h5"), "--dtype", "f32")
    svg = os.path.join(TMP, "head.svg")
    r = run("render", path, "--layer", "1", "--head", "2", "--colormap", "magma", "--scale", "power", "--gamma",
            "0.5", "--out", svg)
    check(r.returncode == 0, r.stderr)
    root = ET.parse(svg).getroot()
    check(root.tag.endswith("svg"), root.tag)
    text = open(svg).read()
    check("layer 1" in text and "head 2" in text, "provenance not in the SVG")
    pdf = os.path.join(TMP, "overview.pdf")
    r = run("render", path, "--overview", "--out", pdf)
    check(r.returncode == 0, r.stderr)
    info = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True)
    check(info.returncode == 0 and re.search(r"^Pages:\s+1$", info.stdout, re.M), info.stdout + info.stderr)
    check("llama" in info.stdout, "provenance not in the PDF info")


@case("render grid, plot (two captures overlaid, --corpus, --runs), strip, diff")
def _():
    a = capture("llama", os.path.join(TMP, "llama-f32.h5"), "--dtype", "f32")
    b = capture("llama", os.path.join(TMP, "llama-f16.h5"), "--dtype", "f16")
    lazy = capture("lazy-hf", os.path.join(TMP, "lazy-hf-f32.h5"), "--dtype", "f32")
    demo = os.path.join(TMP, "demo-corpus.h5")
    for args in [[a, "--layer", "0"], [a, "--grid", "1", "--pool", "mean"],
                 [a, lazy, "--plot", "first_token_mass", "--label", "llama", "--label", "lazy"],
                 [a, "--plot", "entropy,sparsity", "--head", "1"],
                 [a, "--plot", "collapse_cosine"],
                 [demo, "--plot", "row_mass", "--corpus"], [demo, "--plot", "row_mass", "--runs", "0-2"],
                 [a, "--strip", "overload"], [a, "--strip", "sink_score", "--layer", "1"],
                 [demo, "--strip", "first_token_mass", "--corpus"],
                 [a, "--diff", b, "--layer", "0", "--head", "1"]]:
        out = os.path.join(TMP, "fig.png")
        if os.path.exists(out):
            os.unlink(out)
        r = run("render", *args, "--out", out)
        check(r.returncode == 0 and os.path.getsize(out) > 1000, f"{args}: {r.stderr}")
        w, h = png_size(out)
        check(h > 200 and w in (900, 1000), f"{args}: size {w} x {h}")


@case("render bad input: missing run/layer/head, unknown metric, other prompt, unwritable path -> exit 1")
def _():
    path = capture("llama", os.path.join(TMP, "llama-f32.h5"), "--dtype", "f32")
    out = os.path.join(TMP, "keep.png")
    open(out, "w").write("precious")
    cases = [
        (["--run", "5", "--layer", "0", "--head", "0"], ["no run 5"]),
        (["--layer", "9", "--head", "0"], ["no layer 9"]),
        (["--layer", "0", "--head", "99"], ["no head 99"]),
        (["--plot", "nonsense"], ["unknown metric", "first_token_mass"]),
        (["--strip", "nonsense"], ["unknown metric"]),
        (["--plot", "sink_score"], ["per token"]),
        (["--diff", capture("gpt2", os.path.join(TMP, "gpt2-f32.h5"), "--dtype", "f32"), "--layer", "0",
          "--head", "0"], ["not the same prompt"]),
    ]
    for args, words in cases:
        r = run("render", path, *args, "--out", out)
        check(r.returncode == 1 and all(w in r.stderr for w in words), f"{args}: rc {r.returncode} {r.stderr}")
        check(open(out).read() == "precious", f"{args}: existing output clobbered")
    nomaps = capture("llama", os.path.join(TMP, "nomaps.h5"), "--no-maps")
    r = run("render", nomaps, "--layer", "0", "--head", "0", "--out", out)
    check(r.returncode == 1 and "no attention maps" in r.stderr, r.stderr)
    bogus = os.path.join(TMP, "bogus.h5")
    r = run("render", bogus, "--layer", "0", "--head", "0", "--out", out)
    check(r.returncode == 1 and "not an HDF5 file" in r.stderr, r.stderr)
    bad = "/proc/attnscope-test/x.png"
    r = run("render", path, "--layer", "0", "--head", "0", "--out", bad)
    check(r.returncode == 1 and bad in r.stderr, r.stderr)
    d = tempfile.mkdtemp(prefix="ats-ro-")
    os.chmod(d, 0o500)
    if os.geteuid() != 0:  # root ignores permission bits
        r = run("render", path, "--layer", "0", "--head", "0", "--out", os.path.join(d, "x.png"))
        check(r.returncode == 1 and d in r.stderr, r.stderr)
    r = run("render", path, "--layer", "0", "--head", "0", "--out", os.path.join(TMP, "x.bmp"))
    check(r.returncode == 2 and "bmp" in r.stderr, r.stderr)
    check(not [f for f in os.listdir(TMP) if ".tmp" in f or f.startswith(".")], "temporary file left behind")
    check(not os.path.exists(os.path.join(TMP, "x.bmp")), "output written for a bad format")


finish()
