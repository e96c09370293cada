#!/usr/bin/env python3
"""PyTorch eager reference for the benchmarks: the same checkpoint, a forward pass that keeps every
attention map in memory (as notebook tools do with output_attentions=True), no file write.

usage: /usr/bin/python3 torch_forward.py MODEL_DIR --ids-file IDS.txt [--threads 2] [--prompts N]
Supports the GPT-2 and LLaMA shapes written by make_gpt2_small.py. Prints the forward time; the
caller times the whole process (start to exit) for the end-to-end comparison.
"""
import argparse
import json
import os
import struct
import time

import numpy as np
import torch


def load(path):
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    n = struct.unpack("<Q", bytes(raw[:8]))[0]
    hdr = json.loads(bytes(raw[8:8 + n]))
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(v["shape"]))
    return out


def gpt2(w, cfg, ids, maps):
    D, H = cfg["n_embd"], cfg["n_head"]
    hs = D // H
    T = ids.shape[0]
    x = w["wte.weight"][ids] + w["wpe.weight"][:T]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["n_layer"]):
        p = f"h.{l}."
        h = torch.nn.functional.layer_norm(x, (D,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], 1e-5)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(D, dim=-1)
        q, k, v = (t.view(T, H, hs).transpose(0, 1) for t in (q, k, v))
        att = torch.softmax(q @ k.transpose(-1, -2) / hs ** 0.5 + mask, dim=-1)
        maps.append(att)
        a = (att @ v).transpose(0, 1).reshape(T, D)
        x = x + a @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = torch.nn.functional.layer_norm(x, (D,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], 1e-5)
        f = torch.nn.functional.gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"], approximate="tanh")
        x = x + f @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = torch.nn.functional.layer_norm(x, (D,), w["ln_f.weight"], w["ln_f.bias"], 1e-5)
    return x @ w["wte.weight"].T


def rope(x, theta=10000.0):
    T, hs = x.shape[-2], x.shape[-1]
    inv = 1.0 / theta ** (torch.arange(0, hs, 2, dtype=torch.float32) / hs)
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    x1, x2 = x[..., : hs // 2], x[..., hs // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def llama(w, cfg, ids, maps):
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hs = D // H
    T = ids.shape[0]
    x = w["model.embed_tokens.weight"][ids]
    mask = torch.full((T, T), float("-inf")).triu(1)

    def rms(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * g

    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q, k, v = (h @ w[p + f"self_attn.{n}_proj.weight"].T for n in "qkv")
        q, k, v = (t.view(T, H, hs).transpose(0, 1) for t in (q, k, v))
        q, k = rope(q), rope(k)
        att = torch.softmax(q @ k.transpose(-1, -2) / hs ** 0.5 + mask, dim=-1)
        maps.append(att)
        a = (att @ v).transpose(0, 1).reshape(T, D)
        x = x + a @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        f = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T) * (h @ w[p + "mlp.up_proj.weight"].T)
        x = x + f @ w[p + "mlp.down_proj.weight"].T
    return rms(x, w["model.norm.weight"]) @ w["model.embed_tokens.weight"].T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--ids-file", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=1, help="repeat over N prompts of the ids file's lines")
    ap.add_argument("--keep-all", action="store_true", help="keep the maps of every prompt (default: per prompt)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    w = load(os.path.join(a.model, "model.safetensors"))
    lines = [l for l in open(a.ids_file).read().split("\n") if l.strip()]
    fwd = gpt2 if cfg["model_type"] == "gpt2" else llama
    t0 = time.time()
    kept = []
    with torch.no_grad():
        for i in range(a.prompts):
            ids = torch.tensor([int(t) for t in lines[i % len(lines)].split(",")])
            maps = []
            fwd(w, cfg, ids, maps)
            if a.keep_all:
                kept.append(maps)
    dt = time.time() - t0
    n_maps = sum(m.numel() for m in maps)
    print(f"torch forward: {dt:.3f} s for {a.prompts} prompt(s); kept {n_maps * 4 / 1e6:.0f} MB of attention maps (last prompt)")


if __name__ == "__main__":
    main()
