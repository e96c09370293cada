#!/usr/bin/python3
"""Independent NumPy/PyTorch reference for attnscope's checkpoint merges (issue 8).

Written from the formulas in include/attnscope/ats-merge.h and REFERENCE.md section 1, not from
the C code. It reads the input folders with its own small safetensors parser and writes the
expected merged tensors to one safetensors file.

    linear            (1 - alpha) * b + alpha * t_1
    task-arithmetic   b + lambda * sum_k (t_k - b)
    ties              b + lambda * m
                      trim: per tensor and tuned model keep the round(density * n) entries of
                      d_k = t_k - b with the largest |d_k| (round half up); equal magnitudes are
                      ordered by flat index, lower index first (a stable sort on -|d|)
                      elect: sign of sum_k trimmed(d_k); 0 -> the entry does not move
                      m = mean of the trimmed d_k that are non-zero and have the elected sign

All arithmetic is float64 on exactly widened inputs; the result is cast with PyTorch:
float64 -> float32 for F32 tensors, float64 -> bfloat16 / float16 for BF16 / F16 tensors
(PyTorch converts a float64 tensor to bfloat16 through float32, round to nearest even both
times). Tensors outside --only are copied from base.

Usage:
    merge_ref.py --base DIR --tuned DIR [--tuned DIR ...] --method linear|task-arithmetic|ties
                 [--alpha A] [--lambda L] [--density D] [--only SPEC] --out FILE.safetensors
"""

import argparse
import json
import math
import os
import re
import struct
import sys

import numpy as np
import torch

NP_TYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}
TORCH_TYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    """-> {name: (dtype string, shape tuple, raw little-endian numpy array)}, metadata"""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        arr = np.frombuffer(body[b:end], dtype=NP_TYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = (e["dtype"], tuple(e["shape"]), arr)
    return out, meta


def read_folder(path):
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for fn in files:
        t, _ = read_safetensors(os.path.join(path, fn))
        tensors.update(t)
    return tensors


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (dtype string, numpy array of the storage type)}"""
    header = {"__metadata__": metadata or {"format": "pt"}}
    blobs = []
    off = 0
    for name in sorted(tensors):
        dtype, arr = tensors[name]
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * ((8 - (8 + len(js)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


def widen(dtype, arr):
    """storage array -> float64, exactly"""
    if dtype == "BF16":
        return (arr.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return arr.astype(np.float64)


def narrow(dtype, x64):
    """float64 -> storage array, rounded by PyTorch"""
    t = torch.from_numpy(np.ascontiguousarray(x64)).to(TORCH_TYPES[dtype])
    if dtype == "BF16":
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


# --- --only ---------------------------------------------------------------------------------

GROUP_PATTERNS = {
    # LLaMA / fla / GPT-2 / NeoX module names, written independently of the C classifier
    "attention": r"(q_proj|k_proj|v_proj|o_proj|c_attn|attn\.c_proj|query_key_value|attention\.dense\.|\.tau$|attention_biases)",
    "mlp": r"(gate_proj|up_proj|down_proj|mlp\.c_fc|mlp\.c_proj|dense_h_to_4h|dense_4h_to_h)",
    "embeddings": r"(embed_tokens|embeddings|wte|wpe|embed_in|embed_out|lm_head)",
    "norms": r"(norm|ln_)",
}


def selected(name, only):
    if not only:
        return True
    parts = [p.strip() for p in only.split(",")]
    if all(p in GROUP_PATTERNS for p in parts):
        return any(re.search(GROUP_PATTERNS[p], name) for p in parts)
    return re.search(only, name) is not None


# --- merges ---------------------------------------------------------------------------------


def ties_trim(d, density):
    """keep round(density * n) largest |d|, equal magnitudes by lower flat index"""
    flat = d.reshape(-1)
    n = flat.size
    n_keep = min(n, int(math.floor(density * n + 0.5)))
    order = np.lexsort((np.arange(n), -np.abs(flat)))  # primary -|d|, then index
    keep = np.zeros(n, dtype=bool)
    keep[order[:n_keep]] = True
    return np.where(keep, flat, 0.0).reshape(d.shape)


def merge_tensor(method, b, ts, alpha, lam, density):
    if method == "linear":
        return (1.0 - alpha) * b + alpha * ts[0]
    if method == "task-arithmetic":
        s = np.zeros_like(b)
        for t in ts:
            s = s + (t - b)
        return b + lam * s
    if method == "ties":
        trimmed = [ties_trim(t - b, density) for t in ts]
        total = np.zeros_like(b)
        for d in trimmed:
            total = total + d
        sign = np.sign(total)
        agree_sum = np.zeros_like(b)
        count = np.zeros_like(b)
        for d in trimmed:
            m = (d != 0) & (np.sign(d) == sign) & (sign != 0)
            agree_sum = agree_sum + np.where(m, d, 0.0)
            count = count + m
        mean = np.where(count > 0, agree_sum / np.maximum(count, 1), 0.0)
        return b + lam * mean
    raise ValueError(method)


def run(base, tuned, method, alpha, lam, density, only):
    bt = read_folder(base)
    tts = [read_folder(t) for t in tuned]
    out = {}
    for name, (dtype, shape, arr) in bt.items():
        if not selected(name, only):
            out[name] = (dtype, arr)
            continue
        b = widen(dtype, arr)
        ts = [widen(dtype, t[name][2]) for t in tts]
        out[name] = (dtype, narrow(dtype, merge_tensor(method, b, ts, alpha, lam, density)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--tuned", action="append", required=True)
    ap.add_argument("--method", required=True, choices=["linear", "task-arithmetic", "ties"])
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--lambda", dest="lam", type=float, default=1.0)
    ap.add_argument("--density", type=float, default=0.2)
    ap.add_argument("--only")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = run(a.base, a.tuned, a.method, a.alpha, a.lam, a.density, a.only)
    write_safetensors(a.out, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
