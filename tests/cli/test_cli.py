#!/usr/bin/env python3
"""TAP tests of attnscope-cli capture / info on the reference fixtures (real files, h5py).

Numerics are compared with the PyTorch fixtures (check_capture.py), the layout with
REFERENCE §4 (check_layout.py); bad input must give a clear error and leave files intact.
"""
import json
import os
import signal
import subprocess
import tempfile
import time

import h5py
import numpy as np

from tap import CLI, FIX, PY, SRC, case, check, finish, run

TMP = tempfile.mkdtemp(prefix="ats-cli-")


def ids_of(fixture):
    return ",".join(map(str, json.load(open(os.path.join(FIX, fixture, "expected.json")))["ids"]))


def capture(fixture, out, *extra):
    r = run("capture", "-q", "--model", os.path.join(FIX, fixture), "--ids", ids_of(fixture), "--out", out, *extra)
    check(r.returncode == 0, f"capture {fixture} failed: {r.stderr}")
    return r


FAMILIES = ["gpt2", "gpt2-bf16", "llama", "llama-sharded", "llama-tied-bf16", "qwen2", "mistral",
            "mistral-f16", "neox", "neox-seq", "lazy-fla", "lazy-hf"]

for fam in FAMILIES:
    for dtype in ["f32", "f16"]:
        @case(f"capture {fam} {dtype} matches the PyTorch reference and REFERENCE §4")
        def _(fam=fam, dtype=dtype):
            out = os.path.join(TMP, f"{fam}-{dtype}.h5")
            capture(fam, out, "--dtype", dtype, "--logits")
            tol = "1e-5" if dtype == "f32" else "1e-3"
            r = subprocess.run([PY, os.path.join(SRC, "tests/reference/check_capture.py"), os.path.join(FIX, fam), out,
                                "--tol", tol, "--hidden-norms"], capture_output=True, text=True)
            check(r.returncode == 0, r.stdout + r.stderr)
            elastic = fam.startswith("lazy")
            args = [PY, os.path.join(SRC, "tests/cli/check_layout.py"), out, "--dtype", dtype, "--expect-runs", "1"]
            r = subprocess.run(args + (["--elastic"] if elastic else []), capture_output=True, text=True)
            check(r.returncode == 0, r.stdout + r.stderr)


@case("logits stored with --logits match the reference (max rel error <= 1e-4)")
def _():
    out = os.path.join(TMP, "logits.h5")
    capture("qwen2", out, "--logits", "--dtype", "f32")
    import struct
    raw = open(os.path.join(FIX, "qwen2", "expected.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    b, e = hdr["logits"]["data_offsets"]
    ref = np.frombuffer(raw[8 + n + b:8 + n + e], "<f4").reshape(hdr["logits"]["shape"])
    got = h5py.File(out, "r")["runs/000000/logits"][()]
    err = np.abs(got - ref).max() / np.abs(ref).max()
    check(err <= 1e-4, f"logits rel error {err}")


@case("text prompts of several hundred tokens: layout, several chunks, max-pooled preview")
def _():
    demo = os.path.join(SRC, "data", "models", "demo-softmax")
    prompts = os.path.join(TMP, "long.txt")
    open(prompts, "w").write("A short one.\n" + "The quick brown fox jumps over the lazy dog. " * 20 + "\n")
    out = os.path.join(TMP, "long.h5")
    r = run("capture", "-q", "--model", demo, "--prompts", prompts, "--out", out, "--dtype", "f32")
    check(r.returncode == 0, r.stderr)
    r = subprocess.run([PY, os.path.join(SRC, "tests/cli/check_layout.py"), out, "--dtype", "f32", "--expect-runs", "2"],
                       capture_output=True, text=True)
    check(r.returncode == 0, r.stdout + r.stderr)
    T = int(h5py.File(out, "r")["runs/000001"].attrs["n_tokens"])
    check(T > 128, f"only {T} tokens: not several chunks")


@case("existing output is not clobbered without --force, and is replaced with --force")
def _():
    out = os.path.join(TMP, "exists.h5")
    open(out, "w").write("precious")
    r = run("capture", "--model", os.path.join(FIX, "llama"), "--ids", ids_of("llama"), "--out", out)
    check(r.returncode != 0 and "exists" in r.stderr and out in r.stderr, r.stderr)
    check(open(out).read() == "precious", "file was modified")
    capture("llama", out, "--force")
    check(h5py.File(out, "r").attrs["format"] == "attnscope-capture", "not replaced")
    check(not [f for f in os.listdir(TMP) if ".tmp-" in f], "temporary file left behind")


@case("unwritable output path: clear error naming the path, nothing written")
def _():
    out = "/proc/attnscope-test/x.h5"
    r = run("capture", "--model", os.path.join(FIX, "llama"), "--ids", "1,2,3", "--out", out)
    check(r.returncode == 1 and out in r.stderr, r.stderr)
    d = tempfile.mkdtemp(prefix="ats-ro-")
    os.chmod(d, 0o500)
    if os.geteuid() != 0:  # root ignores permission bits
        r = run("capture", "--model", os.path.join(FIX, "llama"), "--ids", "1,2,3", "--out", os.path.join(d, "x.h5"))
        check(r.returncode == 1 and "not writable" in r.stderr, r.stderr)


@case("bad input: unknown architecture, missing tensor, bad ids, pickle checkpoint")
def _():
    d = tempfile.mkdtemp(prefix="ats-bad-")
    json.dump({"model_type": "t5"}, open(os.path.join(d, "config.json"), "w"))
    os.link(os.path.join(FIX, "llama", "model.safetensors"), os.path.join(d, "model.safetensors"))
    r = run("capture", "--model", d, "--ids", "1", "--out", os.path.join(d, "o.h5"))
    check(r.returncode == 1 and "t5" in r.stderr and "config.json" in r.stderr, r.stderr)
    check(not os.path.exists(os.path.join(d, "o.h5")), "output written")
    r = run("capture", "--model", os.path.join(FIX, "llama"), "--ids", "1,x", "--out", os.path.join(d, "o.h5"))
    check(r.returncode != 0 and "x" in r.stderr, r.stderr)
    r = run("capture", "--model", os.path.join(FIX, "llama"), "--ids", "1,99999", "--out", os.path.join(d, "o.h5"))
    check(r.returncode == 1 and "99999" in r.stderr, r.stderr)
    check(not os.path.exists(os.path.join(d, "o.h5")), "output left after a failed run")
    p = tempfile.mkdtemp(prefix="ats-pickle-")
    json.dump({"model_type": "llama"}, open(os.path.join(p, "config.json"), "w"))
    open(os.path.join(p, "pytorch_model.bin"), "wb").write(b"\x80\x02cos\nsystem\n")
    r = run("info", p)
    check(r.returncode == 1 and "pytorch_model.bin" in r.stderr and "safetensors" in r.stderr, r.stderr)


@case("--layers/--heads store a subset; --no-maps stores diagnostics only")
def _():
    out = os.path.join(TMP, "subset.h5")
    capture("llama", out, "--layers", "1", "--heads", "0,2", "--dtype", "f32")
    f = h5py.File(out, "r")
    att = f["runs/000000/attention"]
    check(list(att.attrs["stored_layers"]) == [1] and list(att.attrs["stored_heads"]) == [0, 2], "stored attrs")
    A = att[()]
    check(np.all(A[0] == 0) and np.all(A[1, 1] == 0) and np.all(A[1, 3] == 0), "unstored heads not empty")
    check(np.allclose(A[1, 0].sum(-1), 1, atol=1e-5), "stored head rows do not sum to 1")
    check(att.id.get_num_chunks() == 2, f"{att.id.get_num_chunks()} chunks allocated, expected 2")
    out2 = os.path.join(TMP, "nomaps.h5")
    capture("llama", out2, "--no-maps")
    g = h5py.File(out2, "r")["runs/000000"]
    check("attention" not in g and "metrics" in g, "no-maps layout")
    full = h5py.File(os.path.join(TMP, "llama-f32.h5"), "r")["runs/000000/metrics"]
    for k in ["sink_score", "entropy", "sparsity", "underload", "overload", "top_p_width"]:
        check(np.array_equal(g["metrics"][k][()], full[k][()], equal_nan=True), f"--no-maps {k} differs")


@case("info describes checkpoints and captures")
def _():
    r = run("info", os.path.join(FIX, "neox"))
    check(r.returncode == 0 and "gpt_neox" in r.stdout and "parallel" in r.stdout, r.stdout + r.stderr)
    r = run("info", os.path.join(TMP, "lazy-fla-f16.h5"))
    check(r.returncode == 0 and "elastic" in r.stdout and "complete" in r.stdout, r.stdout + r.stderr)
    bogus = os.path.join(TMP, "bogus.h5")
    open(bogus, "w").write("not hdf5")
    r = run("info", bogus)
    check(r.returncode == 1 and "not an HDF5 file" in r.stderr, r.stderr)


@case("Ctrl-C stops cleanly: finished runs complete, the interrupted one marked incomplete")
def _():
    demo = os.path.join(SRC, "data", "models", "demo-softmax")
    prompts = os.path.join(TMP, "many.txt")
    line = "The quick brown fox jumps over the lazy dog. " * 40
    open(prompts, "w").write("\n".join([line] * 400) + "\n")
    out = os.path.join(TMP, "interrupted.h5")
    p = subprocess.Popen([CLI, "capture", "-q", "--model", demo, "--prompts", prompts, "--out", out, "--threads", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    check(p.returncode == 130 and "interrupted" in err, f"rc {p.returncode}: {err}")
    f = h5py.File(out, "r")
    runs = sorted(f["runs"].keys())
    complete = [int(f["runs"][r].attrs["complete"]) for r in runs]
    check(len(runs) < 400, "the batch was not interrupted")
    check(sum(complete) >= 1 and all(complete[:-1]), f"complete flags {complete}")
    for r in runs[:-1]:
        check(f["runs"][r]["attention"].shape[0] == 4, "finished run unreadable")


@case("full disk: refused up front by the size estimate; a disk that fills mid-run leaves finished runs readable")
def _():
    if os.geteuid() != 0:
        raise AssertionError("SKIP needs root to mount a small tmpfs")
    mnt = tempfile.mkdtemp(prefix="ats-full-")
    check(subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]).returncode == 0, "mount failed")
    try:
        demo = os.path.join(SRC, "data", "models", "demo-softmax")
        prompts = os.path.join(TMP, "full.txt")
        long = "The quick brown fox jumps over the lazy dog. " * 30
        open(prompts, "w").write("A short first prompt.\n" + "\n".join([long] * 40) + "\n")
        out = os.path.join(mnt, "x.h5")
        r = run("capture", "-q", "--model", demo, "--prompts", prompts, "--out", out)
        check(r.returncode == 1 and "free" in r.stderr and "--ignore-space" in r.stderr, r.stderr)
        check(not os.path.exists(out), "file created despite the refusal")
        r = run("capture", "-q", "--model", demo, "--prompts", prompts, "--out", out, "--ignore-space", "--dtype", "f32")
        check(r.returncode == 1 and "disk full" in r.stderr and "HDF5-DIAG" not in r.stderr, r.stderr[:2000])
        f = h5py.File(out, "r")
        check(int(f["runs/000000"].attrs["complete"]) == 1, "first run not complete")
        check(f["runs/000000/attention"][()].shape[0] == 4, "first run unreadable")
        f.close()
    finally:
        subprocess.run(["umount", mnt])


finish()
