#!/usr/bin/env python3
"""Writes a GPT-2-small-shaped checkpoint with random weights (f32 safetensors, HF names):
12 layers, d=768, 12 heads, vocab 50257, 1024 positions. numpy only.

usage: make_gpt2_small.py OUTDIR [--layers 12 --d 768 --heads 12 --vocab 50257 --positions 1024]
       make_gpt2_small.py OUTDIR --llama --layers 4 --d 512 --heads 8 --positions 0   (LLaMA shape)
"""
import argparse
import json
import os
import struct

import numpy as np


def save(path, tensors):
    header, offset = {}, 0
    for name, a in tensors.items():
        n = a.size * 4
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for a in tensors.values():
            f.write(np.ascontiguousarray(a, "<f4").tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--positions", type=int, default=1024)
    ap.add_argument("--llama", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(0)
    D, L, V = a.d, a.layers, a.vocab
    r = lambda *s: (rng.standard_normal(s, dtype=np.float32) * 0.02)
    t = {}
    if not a.llama:
        cfg = {"model_type": "gpt2", "n_embd": D, "n_layer": L, "n_head": a.heads, "vocab_size": V,
               "n_positions": a.positions, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}
        t["wte.weight"] = r(V, D)
        t["wpe.weight"] = r(a.positions, D)
        for l in range(L):
            p = f"h.{l}."
            t[p + "ln_1.weight"] = np.ones(D, np.float32); t[p + "ln_1.bias"] = np.zeros(D, np.float32)
            t[p + "ln_2.weight"] = np.ones(D, np.float32); t[p + "ln_2.bias"] = np.zeros(D, np.float32)
            t[p + "attn.c_attn.weight"] = r(D, 3 * D) * 10; t[p + "attn.c_attn.bias"] = np.zeros(3 * D, np.float32)
            t[p + "attn.c_proj.weight"] = r(D, D); t[p + "attn.c_proj.bias"] = np.zeros(D, np.float32)
            t[p + "mlp.c_fc.weight"] = r(D, 4 * D); t[p + "mlp.c_fc.bias"] = np.zeros(4 * D, np.float32)
            t[p + "mlp.c_proj.weight"] = r(4 * D, D); t[p + "mlp.c_proj.bias"] = np.zeros(D, np.float32)
        t["ln_f.weight"] = np.ones(D, np.float32); t["ln_f.bias"] = np.zeros(D, np.float32)
    else:
        F = 4 * D
        cfg = {"model_type": "llama", "hidden_size": D, "num_hidden_layers": L, "num_attention_heads": a.heads,
               "num_key_value_heads": a.heads, "intermediate_size": F, "vocab_size": V, "rms_norm_eps": 1e-6,
               "rope_theta": 10000.0, "tie_word_embeddings": True}
        t["model.embed_tokens.weight"] = r(V, D)
        for l in range(L):
            p = f"model.layers.{l}."
            t[p + "input_layernorm.weight"] = np.ones(D, np.float32)
            t[p + "post_attention_layernorm.weight"] = np.ones(D, np.float32)
            for k in "qkvo":
                t[p + f"self_attn.{k}_proj.weight"] = r(D, D) * (10 if k in "qk" else 1)
            t[p + "mlp.gate_proj.weight"] = r(F, D); t[p + "mlp.up_proj.weight"] = r(F, D)
            t[p + "mlp.down_proj.weight"] = r(D, F)
        t["model.norm.weight"] = np.ones(D, np.float32)
    json.dump(cfg, open(os.path.join(a.out, "config.json"), "w"), indent=1)
    save(os.path.join(a.out, "model.safetensors"), t)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
