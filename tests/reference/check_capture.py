#!/usr/bin/python3
"""Compare an attnscope HDF5 capture with a reference fixture.

Usage:
  check_capture.py FIXTURE_DIR CAPTURE.h5 [--run 0] [--tol TOL]
                   [--hidden-norms] [--norm-tol 1e-4]

Reads FIXTURE_DIR/expected.safetensors (own reader: 8-byte LE header length,
JSON header, numpy.frombuffer) and /runs/NNNNNN/attention [L,H,T,T] from the
capture (float16 or float32).  Checks:
  * tokens/ids equal expected.json "ids" (if the dataset exists),
  * attention shape equals the expected shape,
  * entries j > i are exactly 0,
  * max |attention - expected| <= tol (default 1e-5 if stored float32,
    1e-3 if stored float16),
  * with --hidden-norms: /runs/NNNNNN/hidden_norms [L+1, T] against
    ||expected hidden[l, t]||_2, max relative error <= --norm-tol.
Prints the errors; exit status 0 = pass, 1 = over tolerance / mismatch,
2 = unreadable input.  Dependencies: numpy, h5py.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError("%s: file too short" % path)
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise ValueError("%s: header length %d beyond end of file" % (path, n))
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = memoryview(buf)[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        shape = tuple(e["shape"])
        raw = data[b:en]
        dt = e["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, dt))
        if a.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError("%s: tensor %s size does not match its shape" % (path, name))
        out[name] = a.reshape(shape)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compare an attnscope capture with a reference fixture.")
    ap.add_argument("fixture", help="fixture directory (contains expected.safetensors, expected.json)")
    ap.add_argument("capture", help="attnscope HDF5 capture file")
    ap.add_argument("--run", type=int, default=0, help="run index (default 0 -> /runs/000000)")
    ap.add_argument("--tol", type=float, default=None,
                    help="max abs attention error (default 1e-5 for float32, 1e-3 for float16 storage)")
    ap.add_argument("--hidden-norms", action="store_true", help="also compare hidden_norms [L+1, T]")
    ap.add_argument("--norm-tol", type=float, default=1e-4, help="max relative error of hidden_norms")
    args = ap.parse_args(argv)

    try:
        import h5py
        exp = read_safetensors(os.path.join(args.fixture, "expected.safetensors"))
        with open(os.path.join(args.fixture, "expected.json")) as f:
            meta = json.load(f)
        fh = h5py.File(args.capture, "r")
    except Exception as e:  # noqa: BLE001
        print("error: %s" % e, file=sys.stderr)
        return 2

    ok = True
    with fh:
        gname = "runs/%06d" % args.run
        if gname not in fh:
            print("error: %s has no group /%s" % (args.capture, gname), file=sys.stderr)
            return 2
        g = fh[gname]
        if "attention" not in g:
            print("error: /%s/attention missing" % gname, file=sys.stderr)
            return 2
        ds = g["attention"]
        stored = ds.dtype
        att = ds[()].astype(np.float64)
        if "tokens/ids" in g:
            ids = [int(x) for x in g["tokens/ids"][()]]
            if ids != list(meta["ids"]):
                print("FAIL tokens/ids differ from expected.json ids:\n  got      %s\n  expected %s"
                      % (ids, meta["ids"]))
                ok = False
        ref = exp["attention"].astype(np.float64)
        if att.shape != ref.shape:
            print("FAIL attention shape %s, expected %s" % (att.shape, ref.shape))
            return 1
        tol = args.tol
        if tol is None:
            tol = 1e-3 if stored == np.float16 else 1e-5
        T = att.shape[-1]
        future = np.triu(np.ones((T, T), dtype=bool), 1)
        nz_future = int(np.count_nonzero(att[..., future]))
        if nz_future:
            print("FAIL %d entries with key > query are non-zero" % nz_future)
            ok = False
        err = np.abs(att - ref)
        worst = np.unravel_index(int(np.argmax(err)), err.shape)
        maxerr = float(err.max())
        print("attention (%s, shape %s): max abs error %.3e at [l,h,i,j]=%s (got %.7g, expected %.7g); tol %.1e"
              % (stored, list(att.shape), maxerr, list(map(int, worst)), att[worst], ref[worst], tol))
        per_layer = err.reshape(err.shape[0], -1).max(axis=1)
        print("  per layer max abs error: " + " ".join("%.2e" % x for x in per_layer))
        if meta.get("attention_kind") == "elastic":
            zero_ref, zero_got = ref == 0, att == 0
            vis = ~future
            mism = int(np.count_nonzero((zero_ref != zero_got)[..., vis]))
            print("  elastic zero-pattern mismatches (visible entries): %d" % mism)
        if not maxerr <= tol:
            ok = False

        if args.hidden_norms:
            if "hidden_norms" not in g:
                print("FAIL /%s/hidden_norms missing" % gname)
                ok = False
            else:
                hn = g["hidden_norms"][()].astype(np.float64)
                hn_ref = np.linalg.norm(exp["hidden"].astype(np.float64), axis=-1)
                if hn.shape != hn_ref.shape:
                    print("FAIL hidden_norms shape %s, expected %s" % (hn.shape, hn_ref.shape))
                    ok = False
                else:
                    rel = float((np.abs(hn - hn_ref) / np.maximum(hn_ref, 1e-12)).max())
                    print("hidden_norms: max rel error %.3e; tol %.1e" % (rel, args.norm_tol))
                    if not rel <= args.norm_tol:
                        ok = False

    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
