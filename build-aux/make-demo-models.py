#!/usr/bin/env python3
"""Writes the shipped demo checkpoints data/models/demo-{softmax,lazy}/.

Two tiny LLaMA-style models of identical shape with *random* weights (seeded): one with standard
softmax attention in HF LLaMA layout, one Lazy Attention model (RoPE + per-head distance bias +
Elastic-Softmax, tau spread around -1) in fla layout. They exist so that the first README command
works on a fresh machine; they are not trained, so their attention shows mechanism, not language.
The tokenizer is a small byte-level BPE trained here on a licence text shipped by Debian
(/usr/share/common-licenses/GPL-3), saved as a Hugging Face tokenizer.json.

numpy only (no torch needed): /usr/bin/python3 build-aux/make-demo-models.py
"""
import json
import os
import re
import struct
import sys
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "data", "models")
CORPUS = "/usr/share/common-licenses/GPL-3"
N_MERGES = 700


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# the same split without \p classes, for training here (ASCII corpus)
PY_SPLIT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")


def train_bpe(text):
    b2u = bytes_to_unicode()
    words = Counter(tuple(b2u[b] for b in w.encode("utf-8")) for w in PY_SPLIT.findall(text))
    vocab = {b2u[b]: i for i, b in enumerate(sorted(b2u))}
    merges = []
    words = {w: c for w, c in words.items()}
    for _ in range(N_MERGES):
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        new = best[0] + best[1]
        vocab[new] = len(vocab)
        nw = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] = nw.get(tuple(out), 0) + c
        words = nw
    return vocab, merges


def tokenizer_json(vocab, merges, bos_id):
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": bos_id, "content": "<|bos|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": GPT2_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [bos_id], "tokens": ["<|bos|>"]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }


def save_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    if not os.path.exists(CORPUS):
        sys.exit(f"{CORPUS} not found (Debian package base-files)")
    text = open(CORPUS, encoding="utf-8").read()
    vocab, merges = train_bpe(text)
    bos_id = len(vocab)
    V = bos_id + 1
    D, L, H, Hkv, F, W = 64, 4, 4, 2, 172, 16
    hs = D // H
    rng = np.random.default_rng(20261204)

    def mat(o, i, scale=None):
        return rng.normal(0.0, scale if scale else 1.0 / np.sqrt(i), size=(o, i)).astype(np.float32)

    base = {"model.embed_tokens.weight": rng.normal(0, 1.0, size=(V, D)).astype(np.float32),
            "model.norm.weight": np.ones(D, np.float32), "lm_head.weight": mat(V, D)}
    for l in range(L):
        p = f"model.layers.{l}"
        base[f"{p}.input_layernorm.weight"] = np.ones(D, np.float32)
        base[f"{p}.post_attention_layernorm.weight"] = np.ones(D, np.float32)
        # larger q/k scales give peaked, interesting attention patterns
        base[f"{p}.self_attn.q_proj.weight"] = mat(H * hs, D, 0.6)
        base[f"{p}.self_attn.k_proj.weight"] = mat(Hkv * hs, D, 0.6)
        base[f"{p}.self_attn.v_proj.weight"] = mat(Hkv * hs, D)
        base[f"{p}.self_attn.o_proj.weight"] = mat(D, H * hs)
        base[f"{p}.mlp.gate_proj.weight"] = mat(F, D)
        base[f"{p}.mlp.up_proj.weight"] = mat(F, D)
        base[f"{p}.mlp.down_proj.weight"] = mat(D, F)
    tok = tokenizer_json(vocab, merges, bos_id)
    tok_cfg = {"bos_token": "<|bos|>", "add_bos_token": True, "add_eos_token": False,
               "tokenizer_class": "PreTrainedTokenizerFast"}
    common = {"vocab_size": V, "hidden_size": D, "num_hidden_layers": L, "intermediate_size": F,
              "rope_theta": 10000.0, "tie_word_embeddings": False, "bos_token_id": bos_id,
              "max_position_embeddings": 4096}

    # standard softmax model, HF LLaMA layout
    d = os.path.join(OUT, "demo-softmax")
    os.makedirs(d, exist_ok=True)
    cfg = dict(common, model_type="llama", architectures=["LlamaForCausalLM"], num_attention_heads=H,
               num_key_value_heads=Hkv, rms_norm_eps=1e-6, hidden_act="silu")
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    json.dump(tok, open(os.path.join(d, "tokenizer.json"), "w"), ensure_ascii=False)
    json.dump(tok_cfg, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=2)
    save_safetensors(os.path.join(d, "model.safetensors"), base,
                     {"format": "pt", "note": "attnscope demo: random weights, seed 20261204"})

    # Lazy Attention model of the same shape and weights, fla layout
    d = os.path.join(OUT, "demo-lazy")
    os.makedirs(d, exist_ok=True)
    lazy = {}
    for k, v in base.items():
        k = k.replace("model.embed_tokens", "model.embeddings").replace(".self_attn.", ".attn.")
        k = k.replace("input_layernorm", "attn_norm").replace("post_attention_layernorm", "mlp_norm")
        lazy[k] = v
    taus = np.array([-3.0, -1.5, -1.0, -0.5, -2.0, -1.0, -0.25, -1.25, -1.0, -0.75, -2.5, -1.0,
                     -0.5, -1.0, -1.5, -2.0], np.float32).reshape(L, H)
    for l in range(L):
        lazy[f"model.layers.{l}.attn.tau"] = taus[l]
        # distance bias: recent tokens favoured, decaying with distance, per-head strength
        dist = np.arange(W, dtype=np.float32)
        lazy[f"model.layers.{l}.attn.bias"] = np.stack(
            [rng.uniform(0.5, 2.0) * np.exp(-dist / rng.uniform(2, 8)) for _ in range(H)]).astype(np.float32)
    cfg = dict(common, model_type="lazy_attention", architectures=["LazyAttentionForCausalLM"], num_heads=H,
               num_kv_heads=Hkv, hidden_ratio=4, norm_eps=1e-6, window_size=W, hidden_act="swish")
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    json.dump(tok, open(os.path.join(d, "tokenizer.json"), "w"), ensure_ascii=False)
    json.dump(tok_cfg, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=2)
    save_safetensors(os.path.join(d, "model.safetensors"), lazy,
                     {"format": "pt", "note": "attnscope demo: random weights, seed 20261204"})
    print(f"wrote {OUT}/demo-softmax and demo-lazy (V={V}, D={D}, L={L}, H={H}, Hkv={Hkv})")


if __name__ == "__main__":
    main()
