#!/usr/bin/env python3
"""Writes the seed corpus for fuzz-safetensors (standard library only).

usage: make-seeds.py OUTDIR

Seeds are small valid files of every dtype plus a few near-misses; the fuzzer mutates them.
"""
import json
import os
import struct
import sys


def image(header, data=b"", pad_to=8, raw_header=None):
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":"))
    text = text.encode()
    if pad_to:
        text += b" " * (-len(text) % pad_to)
    return struct.pack("<Q", len(text)) + text + data


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    f32 = struct.pack("<6f", 0, 1, 2, 3, 4, 5)
    seeds = {
        "empty": image({}),
        "metadata": image({"__metadata__": {"format": "pt", "a": "b"}}),
        "f32": image({"a": t("F32", [2, 3], 0, 24)}, f32),
        "f16-bf16": image(
            {"h": t("F16", [2], 0, 4), "b": t("BF16", [2], 4, 8)},
            bytes([0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F, 0x49, 0xC0]),
        ),
        "mixed": image(
            {
                "__metadata__": {"format": "pt"},
                "w": t("F32", [1, 2], 0, 8),
                "ids": t("I64", [1], 8, 16),
                "mask": t("BOOL", [2, 2], 16, 20),
                "q": t("F4", [2], 20, 21),
            },
            bytes(range(21)),
        ),
        "scalar-zero": image({"s": t("F32", [], 0, 4), "z": t("F16", [0, 3], 4, 4)}, f32[:4]),
        "unpadded": image({"a": t("F32", [1], 0, 4)}, f32[:4], pad_to=0),
        "gap": image({"a": t("F32", [1], 0, 4), "b": t("F32", [1], 8, 12)}, f32[:12]),
        "many-dims": image({"a": t("BF16", [1] * 9, 0, 2)}, b"\0\0"),
        "overlap": image({"a": t("F32", [2], 0, 8), "b": t("F32", [2], 4, 12)}, f32[:12]),
        "bad-count": image({"a": t("F32", [3], 0, 8)}, f32[:8]),
        "huge-shape": image({"a": t("F32", [4294967296, 4294967296], 0, 0)}),
        "negative": image({"a": t("F32", [-1], 0, 4)}, f32[:4]),
        "escapes": image(None, f32[:4], raw_header='{"a\\u00e9\\n\\"":{"dtype":"F32","shape":[1],'
                                                   '"data_offsets":[0,4]},"__metadata__":{"k":"\\t"}}'),
        "floats": image(None, raw_header='{"a":{"dtype":"F32","shape":[1.5e3],"data_offsets":[0,-0]}}'),
        "nested": image(None, raw_header='{"a":[[[{"b":[true,false,null]}]]]}'),
        "short": b"\x08\x00\x00",
        "length-only": struct.pack("<Q", 100),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name + ".safetensors"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
