#!/usr/bin/python3
"""Independent PyTorch reference for attnscope's forward pass.

Writes tiny random checkpoints (HF-style config.json + safetensors) for every
supported model family, together with the expected attention, pre-softmax
scores, logits and residual stream, computed by a from-scratch float64
implementation written from the Hugging Face modeling semantics (and, for Lazy
Attention, from the paper's formulas).  It does not use, and was not derived
from, attnscope's C code.

Regenerate with:   /usr/bin/python3 tests/reference/make_fixtures.py
(needs torch and numpy; deterministic: weights come from numpy RandomState.)

Every fixture is checked twice before it is written:
  * the vectorised torch float64 forward (the one whose outputs are stored),
  * an independent slow numpy implementation with explicit loops over heads,
    query and key positions and explicit RoPE pair rotations,
and the two must agree to 1e-10.  Weights are read back from the written
safetensors files with our own reader, so the expected outputs are computed
from exactly the bytes on disk (bf16/f16 weights widened to float64).
"""

import json
import math
import os
import shutil
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)
torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")

# --------------------------------------------------------------------------
# safetensors writer / reader (our own, no safetensors package)
# --------------------------------------------------------------------------

_ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I32": 4, "I64": 8, "U8": 1, "BOOL": 1}


def to_stored(arr, dtype):
    """float array -> (raw little-endian bytes, shape) in the given safetensors dtype."""
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    if dtype == "F32":
        raw = t.numpy().astype("<f4").tobytes()
    elif dtype == "F16":
        raw = t.to(torch.float16).numpy().astype("<f2").tobytes()
    elif dtype == "BF16":
        # torch rounds to nearest even; reinterpret the bits as int16
        raw = t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    else:
        raise ValueError(dtype)
    return raw, list(arr.shape)


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> (dtype, float ndarray).  Header padded with spaces
    to a multiple of 8; data_offsets relative to the data section; tensors laid
    out by decreasing item size then name (as the safetensors library does)."""
    items = []
    for name, (dtype, arr) in tensors.items():
        raw, shape = to_stored(arr, dtype)
        assert len(raw) == int(np.prod(shape, dtype=np.int64)) * _ITEMSIZE[dtype]
        items.append((name, dtype, shape, raw))
    items.sort(key=lambda it: (-_ITEMSIZE[it[1]], it[0]))
    header = {"__metadata__": metadata or {"format": "pt"}}
    off = 0
    for name, dtype, shape, raw in items:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for it in items:
            f.write(it[3])
    return off  # data bytes


def read_safetensors(path):
    """-> dict name -> float64 ndarray (F32/F16/BF16 widened exactly)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    assert n % 8 == 0 and 8 + n <= len(buf)
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        shape = tuple(e["shape"])
        raw = data[b:en]
        if e["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif e["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(e["dtype"])
        assert a.size == int(np.prod(shape, dtype=np.int64)), name
        out[name] = a.reshape(shape).astype(np.float64)
    return out


# --------------------------------------------------------------------------
# Reference building blocks (torch, float64), HF semantics
# --------------------------------------------------------------------------

def T64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def rms_norm(x, w, eps):
    # LlamaRMSNorm / Qwen2RMSNorm / fla RMSNorm: x * rsqrt(mean(x^2) + eps) * w
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def gelu_tanh(x):  # HF "gelu_new" (GPT-2)
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def gelu_erf(x):  # HF "gelu" (GPT-NeoX / Pythia): exact erf GELU
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def rope_cos_sin(T, dim, theta):
    # HF rotary: inv_freq_k = theta^(-2k/dim), k < dim/2; emb = cat(freqs, freqs)
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    pos = torch.arange(T, dtype=torch.float64)  # 0-based position ids
    freqs = torch.outer(pos, inv_freq)  # [T, dim/2]
    emb = torch.cat([freqs, freqs], dim=-1)  # [T, dim]
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply_rope(x, cos, sin):  # x [H, T, dim]; cos/sin built in float64, used in x's dtype
    return x * cos.to(x.dtype) + rotate_half(x) * sin.to(x.dtype)


def attention_core(q, k, v, bias_table=None, tau=None):
    """q [H,T,hs], k/v [Hkv,T,hs] (RoPE already applied).
    Returns out [H,T,hs], A [H,T,T], scores [H,T,T] (j>i set to 0)."""
    H, T, hs = q.shape
    n_rep = H // k.shape[0]
    # HF repeat_kv: kv head g serves query heads g*n_rep .. g*n_rep+n_rep-1
    k = k.repeat_interleave(n_rep, dim=0)
    v = v.repeat_interleave(n_rep, dim=0)
    s = q @ k.transpose(-1, -2) / math.sqrt(hs)
    i = torch.arange(T).view(T, 1)
    j = torch.arange(T).view(1, T)
    dist = i - j
    if bias_table is not None:  # [H, ncols]: bias for distance d in [0, ncols)
        ncols = bias_table.shape[1]
        inwin = (dist >= 0) & (dist < ncols)
        idx = dist.clamp(0, ncols - 1)
        s = s + torch.where(inwin, bias_table[:, idx], torch.zeros((), dtype=s.dtype))
    future = j > i
    p = torch.softmax(s.masked_fill(future, float("-inf")), dim=-1)
    if tau is not None:
        n_vis = (torch.arange(T, dtype=p.dtype) + 1).view(1, T, 1)  # 1-based query pos
        a = torch.clamp(p + tau.view(H, 1, 1) / n_vis, min=0.0)
        a = a.masked_fill(future, 0.0)  # causal (matters for tau > 0)
    else:
        a = p
    out = a @ v
    return out, a, s.masked_fill(future, 0.0)


def split_heads(x, n):  # [T, n*hs] -> [n, T, hs]
    T = x.shape[0]
    return x.view(T, n, -1).transpose(0, 1)


def merge_heads(x):  # [H, T, hs] -> [T, H*hs]
    return x.transpose(0, 1).reshape(x.shape[1], -1)


def linear(x, w, b=None):  # nn.Linear, w [out, in]
    y = x @ w.t()
    return y + b if b is not None else y


def conv1d(x, w, b):  # GPT-2 Conv1D, w [in, out]
    return x @ w + b


# ---- GPT-2 ---------------------------------------------------------------

def forward_gpt2(W, cfg, ids):
    ids = torch.tensor(ids)
    T = len(ids)
    D, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    eps = cfg["layer_norm_epsilon"]
    h = W["wte.weight"][ids] + W["wpe.weight"][torch.arange(T)]
    hid, atts, scs = [], [], []
    for l in range(L):
        p = "h.%d." % l
        hid.append(h)
        x = layer_norm(h, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
        qkv = conv1d(x, W[p + "attn.c_attn.weight"], W[p + "attn.c_attn.bias"])
        q, k, v = qkv.split(D, dim=-1)
        o, a, s = attention_core(split_heads(q, H), split_heads(k, H), split_heads(v, H))
        atts.append(a)
        scs.append(s)
        h = h + conv1d(merge_heads(o), W[p + "attn.c_proj.weight"], W[p + "attn.c_proj.bias"])
        x = layer_norm(h, W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
        m = gelu_tanh(conv1d(x, W[p + "mlp.c_fc.weight"], W[p + "mlp.c_fc.bias"]))
        h = h + conv1d(m, W[p + "mlp.c_proj.weight"], W[p + "mlp.c_proj.bias"])
    hid.append(h)
    x = layer_norm(h, W["ln_f.weight"], W["ln_f.bias"], eps)
    logits = x @ W["wte.weight"].t()  # tied head
    return pack(atts, scs, hid, logits)


# ---- LLaMA / Mistral / Qwen2 / Lazy Attention (HF and fla naming) ----------

LLAMA_NAMES = {
    "embed": "model.embed_tokens.weight", "attn_norm": "model.layers.%d.input_layernorm.weight",
    "q": "model.layers.%d.self_attn.q_proj", "k": "model.layers.%d.self_attn.k_proj",
    "v": "model.layers.%d.self_attn.v_proj", "o": "model.layers.%d.self_attn.o_proj",
    "bias_table": "model.layers.%d.self_attn.attention_biases", "tau": "model.layers.%d.self_attn.tau",
    "mlp_norm": "model.layers.%d.post_attention_layernorm.weight",
    "gate": "model.layers.%d.mlp.gate_proj.weight", "up": "model.layers.%d.mlp.up_proj.weight",
    "down": "model.layers.%d.mlp.down_proj.weight", "norm": "model.norm.weight", "head": "lm_head.weight",
}
FLA_NAMES = {
    "embed": "model.embeddings.weight", "attn_norm": "model.layers.%d.attn_norm.weight",
    "q": "model.layers.%d.attn.q_proj", "k": "model.layers.%d.attn.k_proj",
    "v": "model.layers.%d.attn.v_proj", "o": "model.layers.%d.attn.o_proj",
    "bias_table": "model.layers.%d.attn.bias", "tau": "model.layers.%d.attn.tau",
    "mlp_norm": "model.layers.%d.mlp_norm.weight",
    "gate": "model.layers.%d.mlp.gate_proj.weight", "up": "model.layers.%d.mlp.up_proj.weight",
    "down": "model.layers.%d.mlp.down_proj.weight", "norm": "model.norm.weight", "head": "lm_head.weight",
}


def llama_dims(cfg):
    if cfg["model_type"] == "lazy_attention":  # fla keys
        H = cfg["num_heads"]
        Hkv = cfg["num_kv_heads"] or H
        return cfg["hidden_size"], H, Hkv, cfg["num_hidden_layers"], cfg["norm_eps"], cfg["rope_theta"], FLA_NAMES
    return (cfg["hidden_size"], cfg["num_attention_heads"], cfg.get("num_key_value_heads") or cfg["num_attention_heads"],
            cfg["num_hidden_layers"], cfg["rms_norm_eps"], cfg["rope_theta"], LLAMA_NAMES)


def forward_llama(W, cfg, ids):
    D, H, Hkv, L, eps, theta, N = llama_dims(cfg)
    hs = D // H
    ids = torch.tensor(ids)
    T = len(ids)
    cos, sin = rope_cos_sin(T, hs, theta)
    h = W[N["embed"]][ids]
    hid, atts, scs = [], [], []
    for l in range(L):
        hid.append(h)
        x = rms_norm(h, W[N["attn_norm"] % l], eps)
        q = linear(x, W[(N["q"] % l) + ".weight"], W.get((N["q"] % l) + ".bias"))
        k = linear(x, W[(N["k"] % l) + ".weight"], W.get((N["k"] % l) + ".bias"))
        v = linear(x, W[(N["v"] % l) + ".weight"], W.get((N["v"] % l) + ".bias"))
        q = apply_rope(split_heads(q, H), cos, sin)
        k = apply_rope(split_heads(k, Hkv), cos, sin)
        v = split_heads(v, Hkv)
        o, a, s = attention_core(q, k, v, W.get(N["bias_table"] % l), W.get(N["tau"] % l))
        atts.append(a)
        scs.append(s)
        h = h + linear(merge_heads(o), W[(N["o"] % l) + ".weight"])
        x = rms_norm(h, W[N["mlp_norm"] % l], eps)
        m = F.silu(linear(x, W[N["gate"] % l])) * linear(x, W[N["up"] % l])
        h = h + linear(m, W[N["down"] % l])
    hid.append(h)
    x = rms_norm(h, W[N["norm"]], eps)
    head = W[N["head"]] if N["head"] in W else W[N["embed"]]  # tied when absent
    return pack(atts, scs, hid, x @ head.t())


# ---- GPT-NeoX --------------------------------------------------------------

def forward_neox(W, cfg, ids):
    D, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    eps = cfg["layer_norm_eps"]
    hs = D // H
    rd = int(hs * cfg["rotary_pct"])
    ids = torch.tensor(ids)
    T = len(ids)
    cos, sin = rope_cos_sin(T, rd, cfg["rotary_emb_base"])
    h = W["gpt_neox.embed_in.weight"][ids]
    hid, atts, scs = [], [], []
    for l in range(L):
        p = "gpt_neox.layers.%d." % l
        hid.append(h)
        x = layer_norm(h, W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"], eps)
        qkv = linear(x, W[p + "attention.query_key_value.weight"], W[p + "attention.query_key_value.bias"])
        qkv = qkv.view(T, H, 3 * hs).transpose(0, 1)  # [H, T, 3hs]: per head [q | k | v]
        q, k, v = qkv[..., :hs], qkv[..., hs:2 * hs], qkv[..., 2 * hs:]
        q = torch.cat([apply_rope(q[..., :rd], cos, sin), q[..., rd:]], dim=-1)
        k = torch.cat([apply_rope(k[..., :rd], cos, sin), k[..., rd:]], dim=-1)
        o, a, s = attention_core(q, k, v)
        atts.append(a)
        scs.append(s)
        attn_out = linear(merge_heads(o), W[p + "attention.dense.weight"], W[p + "attention.dense.bias"])
        if cfg["use_parallel_residual"]:
            x2 = layer_norm(h, W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"], eps)
        else:
            h = h + attn_out
            x2 = layer_norm(h, W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"], eps)
        m = gelu_erf(linear(x2, W[p + "mlp.dense_h_to_4h.weight"], W[p + "mlp.dense_h_to_4h.bias"]))
        m = linear(m, W[p + "mlp.dense_4h_to_h.weight"], W[p + "mlp.dense_4h_to_h.bias"])
        h = h + attn_out + m if cfg["use_parallel_residual"] else h + m
    hid.append(h)
    x = layer_norm(h, W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"], eps)
    return pack(atts, scs, hid, x @ W["embed_out.weight"].t())


def pack(atts, scs, hid, logits):
    return {"attention": torch.stack(atts), "scores": torch.stack(scs),
            "hidden": torch.stack(hid), "logits": logits}


FORWARD = {"gpt2": forward_gpt2, "llama": forward_llama, "neox": forward_neox}

# --------------------------------------------------------------------------
# Independent slow implementation (numpy, explicit loops) for the self-check
# --------------------------------------------------------------------------


def _np_rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x) + eps) * w


def _np_ln(x, w, b, eps):
    mu = np.mean(x)
    var = np.mean((x - mu) ** 2)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _np_rope_vec(x, pos, theta):
    """Rotate pairs (x[d], x[d+n/2]) by angle pos*theta^(-2d/n)."""
    n = x.shape[0]
    half = n // 2
    y = x.copy()
    for d in range(half):
        ang = pos * theta ** (-2.0 * d / n)
        c, s = math.cos(ang), math.sin(ang)
        y[d] = x[d] * c - x[d + half] * s
        y[d + half] = x[d + half] * c + x[d] * s
    return y


def _np_attend(qs, ks, vs, H, Hkv, bias_table=None, tau=None):
    """qs[t][h] (hs,), ks/vs[t][g]; loops over heads, queries and keys."""
    T = len(qs)
    hs = qs[0][0].shape[0]
    A = np.zeros((H, T, T))
    S = np.zeros((H, T, T))
    out = np.zeros((T, H, hs))
    grp = H // Hkv
    for hh in range(H):
        g = hh // grp
        for i in range(T):
            row = []
            for j in range(i + 1):
                sc = float(np.dot(qs[i][hh], ks[j][g])) / math.sqrt(hs)
                if bias_table is not None and (i - j) < bias_table.shape[1]:
                    sc += bias_table[hh, i - j]
                row.append(sc)
            mx = max(row)
            e = [math.exp(r - mx) for r in row]
            z = sum(e)
            for j in range(i + 1):
                pij = e[j] / z
                if tau is not None:
                    pij = max(0.0, pij + tau[hh] / (i + 1))
                A[hh, i, j] = pij
                S[hh, i, j] = row[j]
                out[i, hh] += pij * vs[j][g]
    return out, A, S


def slow_forward(W, cfg, ids, family):
    T = len(ids)
    hid, atts, scs = [], [], []
    if family == "gpt2":
        D, H, L, eps = cfg["n_embd"], cfg["n_head"], cfg["n_layer"], cfg["layer_norm_epsilon"]
        hs = D // H
        h = np.stack([W["wte.weight"][ids[t]] + W["wpe.weight"][t] for t in range(T)])
        for l in range(L):
            p = "h.%d." % l
            hid.append(h.copy())
            x = np.stack([_np_ln(h[t], W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps) for t in range(T)])
            cw, cb = W[p + "attn.c_attn.weight"], W[p + "attn.c_attn.bias"]
            qs = [[x[t] @ cw[:, c * hs:(c + 1) * hs] + cb[c * hs:(c + 1) * hs] for c in range(H)] for t in range(T)]
            ks = [[x[t] @ cw[:, D + c * hs:D + (c + 1) * hs] + cb[D + c * hs:D + (c + 1) * hs] for c in range(H)] for t in range(T)]
            vs = [[x[t] @ cw[:, 2 * D + c * hs:2 * D + (c + 1) * hs] + cb[2 * D + c * hs:2 * D + (c + 1) * hs] for c in range(H)] for t in range(T)]
            o, A, S = _np_attend(qs, ks, vs, H, H)
            atts.append(A)
            scs.append(S)
            h = h + o.reshape(T, D) @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
            x = np.stack([_np_ln(h[t], W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps) for t in range(T)])
            u = x @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"]
            u = 0.5 * u * (1 + np.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u ** 3)))
            h = h + u @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
        hid.append(h.copy())
        x = np.stack([_np_ln(h[t], W["ln_f.weight"], W["ln_f.bias"], eps) for t in range(T)])
        logits = x @ W["wte.weight"].T
    elif family == "llama":
        D, H, Hkv, L, eps, theta, N = llama_dims(cfg)
        hs = D // H
        h = np.stack([W[N["embed"]][ids[t]] for t in range(T)])
        for l in range(L):
            hid.append(h.copy())
            x = np.stack([_np_rms(h[t], W[N["attn_norm"] % l], eps) for t in range(T)])

            def proj(name, t, c):
                w = W[(N[name] % l) + ".weight"][c * hs:(c + 1) * hs]
                b = W.get((N[name] % l) + ".bias")
                y = w @ x[t]
                return y + b[c * hs:(c + 1) * hs] if b is not None else y
            qs = [[_np_rope_vec(proj("q", t, c), t, theta) for c in range(H)] for t in range(T)]
            ks = [[_np_rope_vec(proj("k", t, c), t, theta) for c in range(Hkv)] for t in range(T)]
            vs = [[proj("v", t, c) for c in range(Hkv)] for t in range(T)]
            o, A, S = _np_attend(qs, ks, vs, H, Hkv, W.get(N["bias_table"] % l), W.get(N["tau"] % l))
            atts.append(A)
            scs.append(S)
            h = h + o.reshape(T, D) @ W[(N["o"] % l) + ".weight"].T
            x = np.stack([_np_rms(h[t], W[N["mlp_norm"] % l], eps) for t in range(T)])
            g = x @ W[N["gate"] % l].T
            u = (g / (1 + np.exp(-g))) * (x @ W[N["up"] % l].T)
            h = h + u @ W[N["down"] % l].T
        hid.append(h.copy())
        x = np.stack([_np_rms(h[t], W[N["norm"]], eps) for t in range(T)])
        logits = x @ (W[N["head"]] if N["head"] in W else W[N["embed"]]).T
    elif family == "neox":
        D, H, L, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["layer_norm_eps"]
        hs = D // H
        rd = int(hs * cfg["rotary_pct"])
        base = cfg["rotary_emb_base"]
        h = np.stack([W["gpt_neox.embed_in.weight"][ids[t]] for t in range(T)])
        for l in range(L):
            p = "gpt_neox.layers.%d." % l
            hid.append(h.copy())
            x = np.stack([_np_ln(h[t], W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"], eps) for t in range(T)])
            qw, qb = W[p + "attention.query_key_value.weight"], W[p + "attention.query_key_value.bias"]

            def part(t, c, which):  # row block of head c, which in 0 (q), 1 (k), 2 (v)
                r0 = c * 3 * hs + which * hs
                return qw[r0:r0 + hs] @ x[t] + qb[r0:r0 + hs]

            def rot(vec, t):
                return np.concatenate([_np_rope_vec(vec[:rd], t, base), vec[rd:]])
            qs = [[rot(part(t, c, 0), t) for c in range(H)] for t in range(T)]
            ks = [[rot(part(t, c, 1), t) for c in range(H)] for t in range(T)]
            vs = [[part(t, c, 2) for c in range(H)] for t in range(T)]
            o, A, S = _np_attend(qs, ks, vs, H, H)
            atts.append(A)
            scs.append(S)
            ao = o.reshape(T, D) @ W[p + "attention.dense.weight"].T + W[p + "attention.dense.bias"]

            def mlp(y):
                u = y @ W[p + "mlp.dense_h_to_4h.weight"].T + W[p + "mlp.dense_h_to_4h.bias"]
                u = np.array([0.5 * z * (1 + math.erf(z / math.sqrt(2))) for z in u.ravel()]).reshape(u.shape)
                return u @ W[p + "mlp.dense_4h_to_h.weight"].T + W[p + "mlp.dense_4h_to_h.bias"]
            lnw, lnb = W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"]
            if cfg["use_parallel_residual"]:
                h = h + ao + mlp(np.stack([_np_ln(h[t], lnw, lnb, eps) for t in range(T)]))
            else:
                h = h + ao
                h = h + mlp(np.stack([_np_ln(h[t], lnw, lnb, eps) for t in range(T)]))
        hid.append(h.copy())
        x = np.stack([_np_ln(h[t], W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"], eps) for t in range(T)])
        logits = x @ W["embed_out.weight"].T
    return {"attention": np.stack(atts), "scores": np.stack(scs), "hidden": np.stack(hid), "logits": logits}


# --------------------------------------------------------------------------
# Random weights
# --------------------------------------------------------------------------

def head_scaled(rng, H, hs, D, base, factors):
    """[H*hs, D] Linear weight whose head blocks have different scales."""
    w = rng.randn(H * hs, D) * base
    for c in range(H):
        w[c * hs:(c + 1) * hs] *= factors[c % len(factors)]
    return w


QK_FACTORS = [0.7, 1.0, 1.4, 2.0]  # soft ... sharp heads


def make_gpt2(rng, D, H, L, V, P, buffers=False):
    W = {"wte.weight": rng.randn(V, D) * 0.5, "wpe.weight": rng.randn(P, D) * 0.2}
    hs = D // H
    for l in range(L):
        p = "h.%d." % l
        W[p + "ln_1.weight"] = 1 + 0.1 * rng.randn(D)
        W[p + "ln_1.bias"] = 0.1 * rng.randn(D)
        q = head_scaled(rng, H, hs, D, 1.1 / math.sqrt(D), QK_FACTORS)
        k = head_scaled(rng, H, hs, D, 1.1 / math.sqrt(D), QK_FACTORS)
        v = rng.randn(D, D) / math.sqrt(D)
        W[p + "attn.c_attn.weight"] = np.concatenate([q, k, v], 0).T.copy()  # Conv1D [in, out]
        W[p + "attn.c_attn.bias"] = 0.1 * rng.randn(3 * D)
        W[p + "attn.c_proj.weight"] = rng.randn(D, D) / math.sqrt(D)
        W[p + "attn.c_proj.bias"] = 0.05 * rng.randn(D)
        W[p + "ln_2.weight"] = 1 + 0.1 * rng.randn(D)
        W[p + "ln_2.bias"] = 0.1 * rng.randn(D)
        W[p + "mlp.c_fc.weight"] = rng.randn(D, 4 * D) / math.sqrt(D)
        W[p + "mlp.c_fc.bias"] = 0.1 * rng.randn(4 * D)
        W[p + "mlp.c_proj.weight"] = rng.randn(4 * D, D) / math.sqrt(4 * D)
        W[p + "mlp.c_proj.bias"] = 0.05 * rng.randn(D)
        if buffers:  # legacy GPT-2 buffers: causal mask and masked_bias (to be ignored)
            W[p + "attn.bias"] = np.tril(np.ones((P, P))).reshape(1, 1, P, P)
            W[p + "attn.masked_bias"] = np.array(-1e4)
    W["ln_f.weight"] = 1 + 0.1 * rng.randn(D)
    W["ln_f.bias"] = 0.1 * rng.randn(D)
    return W


def make_llama(rng, D, H, Hkv, L, V, I, tied, names=LLAMA_NAMES, qkv_bias=False,
               lazy_ncols=None, taus=None):
    N = names
    hs = D // H
    W = {N["embed"]: rng.randn(V, D) * 0.5}
    for l in range(L):
        W[N["attn_norm"] % l] = 1 + 0.1 * rng.randn(D)
        W[(N["q"] % l) + ".weight"] = head_scaled(rng, H, hs, D, 1.2 / math.sqrt(D), QK_FACTORS)
        W[(N["k"] % l) + ".weight"] = head_scaled(rng, Hkv, hs, D, 1.2 / math.sqrt(D), [1.0, 1.3])
        W[(N["v"] % l) + ".weight"] = rng.randn(Hkv * hs, D) / math.sqrt(D)
        if qkv_bias:
            W[(N["q"] % l) + ".bias"] = 0.3 * rng.randn(H * hs)
            W[(N["k"] % l) + ".bias"] = 0.3 * rng.randn(Hkv * hs)
            W[(N["v"] % l) + ".bias"] = 0.1 * rng.randn(Hkv * hs)
        W[(N["o"] % l) + ".weight"] = rng.randn(D, H * hs) / math.sqrt(D)
        if lazy_ncols is not None:
            W[N["bias_table"] % l] = 0.5 * rng.randn(H, lazy_ncols)
            W[N["tau"] % l] = np.array(taus[l], dtype=np.float64)
        W[N["mlp_norm"] % l] = 1 + 0.1 * rng.randn(D)
        W[N["gate"] % l] = rng.randn(I, D) / math.sqrt(D)
        W[N["up"] % l] = rng.randn(I, D) / math.sqrt(D)
        W[N["down"] % l] = rng.randn(D, I) / math.sqrt(I)
    W[N["norm"]] = 1 + 0.1 * rng.randn(D)
    if not tied:
        W[N["head"]] = rng.randn(V, D) * 2 / math.sqrt(D)
    return W


def make_neox(rng, D, H, L, V, I, buffers=False, rd=None, base=10000.0):
    hs = D // H
    W = {"gpt_neox.embed_in.weight": rng.randn(V, D) * 0.5}
    for l in range(L):
        p = "gpt_neox.layers.%d." % l
        for n in ("input_layernorm", "post_attention_layernorm"):
            W[p + n + ".weight"] = 1 + 0.1 * rng.randn(D)
            W[p + n + ".bias"] = 0.1 * rng.randn(D)
        q = head_scaled(rng, H, hs, D, 1.2 / math.sqrt(D), QK_FACTORS)
        k = head_scaled(rng, H, hs, D, 1.2 / math.sqrt(D), QK_FACTORS[::-1])
        v = rng.randn(H * hs, D) / math.sqrt(D)
        # fused rows: per head [q(hs) | k(hs) | v(hs)]
        blocks = []
        for c in range(H):
            blocks += [q[c * hs:(c + 1) * hs], k[c * hs:(c + 1) * hs], v[c * hs:(c + 1) * hs]]
        W[p + "attention.query_key_value.weight"] = np.concatenate(blocks, 0)
        W[p + "attention.query_key_value.bias"] = 0.1 * rng.randn(3 * D)
        W[p + "attention.dense.weight"] = rng.randn(D, D) / math.sqrt(D)
        W[p + "attention.dense.bias"] = 0.05 * rng.randn(D)
        W[p + "mlp.dense_h_to_4h.weight"] = rng.randn(I, D) / math.sqrt(D)
        W[p + "mlp.dense_h_to_4h.bias"] = 0.1 * rng.randn(I)
        W[p + "mlp.dense_4h_to_h.weight"] = rng.randn(D, I) / math.sqrt(I)
        W[p + "mlp.dense_4h_to_h.bias"] = 0.05 * rng.randn(D)
        if buffers:  # legacy buffers found in Pythia checkpoints (to be ignored)
            W[p + "attention.rotary_emb.inv_freq"] = 1.0 / base ** (np.arange(0, rd, 2) / rd)
            W[p + "attention.masked_bias"] = np.array(-1e9)
    W["gpt_neox.final_layer_norm.weight"] = 1 + 0.1 * rng.randn(D)
    W["gpt_neox.final_layer_norm.bias"] = 0.1 * rng.randn(D)
    W["embed_out.weight"] = rng.randn(V, D) * 2 / math.sqrt(D)
    return W


# --------------------------------------------------------------------------
# Configs (real HF style per family)
# --------------------------------------------------------------------------

def cfg_gpt2(D, H, L, V, P, dtype):
    return {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1, "bos_token_id": V - 1, "embd_pdrop": 0.1, "eos_token_id": V - 1,
        "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
        "n_ctx": P, "n_embd": D, "n_head": H, "n_inner": None, "n_layer": L, "n_positions": P,
        "resid_pdrop": 0.1, "summary_activation": None, "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True, "summary_type": "cls_index", "summary_use_proj": True,
        "torch_dtype": dtype, "vocab_size": V,
    }


def cfg_llama(D, H, Hkv, L, V, I, tied, theta, eps, dtype, model_type="llama", P=128):
    c = {
        "architectures": [{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
                           "qwen2": "Qwen2ForCausalLM"}[model_type]],
        "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
        "hidden_size": D, "initializer_range": 0.02, "intermediate_size": I,
        "max_position_embeddings": P, "model_type": model_type, "num_attention_heads": H,
        "num_hidden_layers": L, "num_key_value_heads": Hkv, "rms_norm_eps": eps,
        "rope_scaling": None, "rope_theta": theta, "tie_word_embeddings": tied,
        "torch_dtype": dtype, "transformers_version": "4.40.0", "use_cache": True, "vocab_size": V,
    }
    if model_type == "llama":
        c.update({"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1})
    if model_type == "mistral":
        c["sliding_window"] = 4096
    if model_type == "qwen2":
        c.update({"use_sliding_window": False, "sliding_window": 4096, "max_window_layers": L})
    return c


def cfg_neox(D, H, L, V, I, pct, parallel, dtype, P=128):
    return {
        "architectures": ["GPTNeoXForCausalLM"], "bos_token_id": 0, "eos_token_id": 0,
        "hidden_act": "gelu", "hidden_size": D, "initializer_range": 0.02, "intermediate_size": I,
        "layer_norm_eps": 1e-05, "max_position_embeddings": P, "model_type": "gpt_neox",
        "num_attention_heads": H, "num_hidden_layers": L, "rotary_emb_base": 10000,
        "rotary_pct": pct, "tie_word_embeddings": False, "torch_dtype": dtype,
        "transformers_version": "4.24.0", "use_cache": True, "use_parallel_residual": parallel,
        "vocab_size": V,
    }


def cfg_fla(D, H, Hkv, L, V, I, Wn, dtype, P=128):
    return {
        "architectures": ["LazyAttentionForCausalLM"], "attn_mode": "chunk", "bos_token_id": 1,
        "eos_token_id": 2, "elementwise_affine": True, "fuse_cross_entropy": True,
        "fuse_norm": True, "fuse_swiglu": True, "hidden_act": "swish", "hidden_ratio": 4,
        "hidden_size": D, "initializer_range": 0.02, "intermediate_size": I,
        "max_position_embeddings": P, "model_type": "lazy_attention", "norm_eps": 1e-06,
        "num_heads": H, "num_hidden_layers": L, "num_kv_heads": Hkv, "qkv_bias": False,
        "rope_theta": 10000.0, "tie_word_embeddings": False, "torch_dtype": dtype,
        "transformers_version": "4.45.0", "use_cache": True, "vocab_size": V, "window_size": Wn,
    }


# --------------------------------------------------------------------------
# Fixture specs
# --------------------------------------------------------------------------

def build_specs():
    S = []
    # 1/2/2b GPT-2: same weights in three files
    rng = np.random.RandomState(1001)
    W = make_gpt2(rng, D=32, H=4, L=2, V=96, P=32)
    ids = rng.randint(0, 96, size=16).tolist()
    S.append(dict(name="gpt2", family="gpt2", dtype="F32", cfg=cfg_gpt2(32, 4, 2, 96, 32, "float32"), W=W, ids=ids,
                  covers="GPT-2: Conv1D [in,out] weights, fused c_attn split q|k|v, learned positions, "
                         "LayerNorm, GELU tanh (gelu_new), tied head (config has no tie_word_embeddings key: "
                         "GPT-2 is always tied)."))
    rngb = np.random.RandomState(1002)
    Wb = make_gpt2(rngb, D=32, H=4, L=2, V=96, P=32, buffers=True)
    S.append(dict(name="gpt2-buffers", family="gpt2", dtype="F32", cfg=cfg_gpt2(32, 4, 2, 96, 32, "float32"), W=Wb,
                  ids=rngb.randint(0, 96, size=16).tolist(),
                  covers="GPT-2 with the legacy h.N.attn.bias [1,1,P,P] causal-mask buffer and the 0-d "
                         "h.N.attn.masked_bias buffer (both F32); the loader must ignore them."))
    rng = np.random.RandomState(1003)
    W = make_gpt2(rng, D=32, H=4, L=2, V=80, P=32)
    S.append(dict(name="gpt2-bf16", family="gpt2", dtype="BF16", cfg=cfg_gpt2(32, 4, 2, 80, 32, "bfloat16"), W=W,
                  ids=rng.randint(0, 80, size=20).tolist(),
                  covers="GPT-2 with all tensors stored BF16 (expected computed from the bf16 weights)."))
    # 3 LLaMA GQA untied
    rng = np.random.RandomState(2001)
    W = make_llama(rng, D=32, H=4, Hkv=2, L=2, V=80, I=64, tied=False)
    llama_ids = rng.randint(0, 80, size=16).tolist()
    llama_cfg = cfg_llama(32, 4, 2, 2, 80, 64, False, 10000.0, 1e-05, "float32")
    S.append(dict(name="llama", family="llama", dtype="F32", cfg=llama_cfg, W=W, ids=llama_ids,
                  covers="LLaMA: GQA (H=4, Hkv=2), untied lm_head, rotate-half RoPE theta 1e4, RMSNorm, SwiGLU."))
    S.append(dict(name="llama-sharded", family="llama", dtype="F32", cfg=dict(llama_cfg), W=W, ids=llama_ids,
                  shards=2,
                  covers="Same model and ids as 'llama' (identical expected outputs) split into "
                         "model-00001-of-00002.safetensors / model-00002-of-00002.safetensors with "
                         "model.safetensors.index.json (weight_map, metadata.total_size)."))
    # 4 LLaMA tied bf16 MHA theta 5e5
    rng = np.random.RandomState(2002)
    W = make_llama(rng, D=32, H=4, Hkv=4, L=2, V=64, I=64, tied=True)
    S.append(dict(name="llama-tied-bf16", family="llama", dtype="BF16",
                  cfg=cfg_llama(32, 4, 4, 2, 64, 64, True, 500000.0, 1e-05, "bfloat16"), W=W,
                  ids=rng.randint(0, 64, size=20).tolist(),
                  covers="LLaMA MHA, tie_word_embeddings true (no lm_head tensor), rope_theta 5e5, BF16."))
    # 5 Qwen2
    rng = np.random.RandomState(2003)
    W = make_llama(rng, D=32, H=4, Hkv=2, L=2, V=72, I=64, tied=True, qkv_bias=True)
    S.append(dict(name="qwen2", family="llama", dtype="F32",
                  cfg=cfg_llama(32, 4, 2, 2, 72, 64, True, 1000000.0, 1e-06, "float32", model_type="qwen2"), W=W,
                  ids=rng.randint(0, 72, size=14).tolist(),
                  covers="Qwen2: q/k/v biases (o_proj none), GQA 4/2, tied embeddings, rope_theta 1e6, eps 1e-6."))
    # 6 Mistral (MQA: Hkv=1) + F16 copy
    rng = np.random.RandomState(2004)
    W = make_llama(rng, D=32, H=4, Hkv=1, L=2, V=64, I=64, tied=False)
    mids = rng.randint(0, 64, size=12).tolist()
    S.append(dict(name="mistral", family="llama", dtype="F32",
                  cfg=cfg_llama(32, 4, 1, 2, 64, 64, False, 10000.0, 1e-05, "float32", model_type="mistral"), W=W,
                  ids=mids, covers="Mistral: same math as LLaMA; Hkv=1 (multi-query); sliding_window 4096 > T (no effect)."))
    S.append(dict(name="mistral-f16", family="llama", dtype="F16",
                  cfg=cfg_llama(32, 4, 1, 2, 64, 64, False, 10000.0, 1e-05, "float16", model_type="mistral"), W=W,
                  ids=mids, covers="Mistral weights stored F16 (extra dtype coverage; expected from the f16 weights)."))
    # 7/8 NeoX
    rng = np.random.RandomState(3001)
    W = make_neox(rng, D=64, H=4, L=2, V=64, I=96)
    S.append(dict(name="neox", family="neox", dtype="F32", cfg=cfg_neox(64, 4, 2, 64, 96, 0.25, True, "float32"),
                  W=W, ids=rng.randint(0, 64, size=16).tolist(),
                  covers="GPT-NeoX: fused query_key_value per-head interleaved [H,3,hs], partial rotary "
                         "rotary_pct 0.25 (hs=16 -> 4 rotary dims, rotate-half within them), parallel residual, "
                         "LayerNorm with bias, exact erf GELU, untied embed_out."))
    rng = np.random.RandomState(3002)
    W = make_neox(rng, D=64, H=4, L=2, V=64, I=96, buffers=True, rd=8)
    S.append(dict(name="neox-seq", family="neox", dtype="F32", cfg=cfg_neox(64, 4, 2, 64, 96, 0.5, False, "float32"),
                  W=W, ids=rng.randint(0, 64, size=18).tolist(),
                  covers="GPT-NeoX sequential residual (use_parallel_residual false), rotary_pct 0.5 (8 of 16 dims); "
                         "carries legacy buffers attention.rotary_emb.inv_freq [4] and 0-d attention.masked_bias "
                         "(F32) that the loader must ignore."))
    # 10 lazy-fla: MHA (num_kv_heads null), W=6 < T
    rng = np.random.RandomState(4001)
    taus = [[-3.0, -1.5, -1.0, -0.5], [-0.1, 0.2, -1.0, -2.0]]
    W = make_llama(rng, D=32, H=4, Hkv=4, L=2, V=64, I=64, tied=False, names=FLA_NAMES, lazy_ncols=6, taus=taus)
    S.append(dict(name="lazy-fla", family="llama", dtype="F32", cfg=cfg_fla(32, 4, None, 2, 64, 64, 6, "float32"),
                  W=W, ids=rng.randint(0, 64, size=16).tolist(), elastic=True,
                  covers="Lazy Attention, fla naming: attn.bias [H, W=6] (distances 0..5, T=16 so most "
                         "distances get no bias), attn.tau [H], Elastic-Softmax; num_kv_heads null (= num_heads)."))
    # 11 lazy-hf: GQA, attention_biases [H, W+1] with W=10 < T=20
    rng = np.random.RandomState(4002)
    taus = [[-1.0, -0.5, -2.0, 0.2], [-1.5, -0.1, -3.0, -1.0]]
    W = make_llama(rng, D=32, H=4, Hkv=2, L=2, V=64, I=64, tied=False, lazy_ncols=11, taus=taus)
    S.append(dict(name="lazy-hf", family="llama", dtype="F32",
                  cfg=cfg_llama(32, 4, 2, 2, 64, 64, False, 10000.0, 1e-06, "float32"), W=W,
                  ids=rng.randint(0, 64, size=20).tolist(), elastic=True,
                  covers="Lazy Attention, HF LLaMA naming: self_attn.attention_biases [H, W+1=11] (distances 0..10), "
                         "self_attn.tau [H], GQA 4/2, model_type llama."))
    return S


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

SCORES_NOTE = ("scores[l,h,i,j] = pre-softmax logit = (q_i . k_j)/sqrt(hs) (+ distance bias for Lazy Attention), "
               "after RoPE and q/k biases, for j <= i; entries j > i are set to 0 (not -inf).")
HIDDEN_NOTE = ("hidden[l] (l < L) = residual stream entering layer l (hidden[0] = embeddings, incl. wpe for GPT-2); "
               "hidden[L] = output of the last layer BEFORE the final norm (differs from HF hidden_states[-1], "
               "which is after the final norm for GPT-2/NeoX).")


def family_formula(spec):
    f, c = spec["family"], spec["cfg"]
    if f == "gpt2":
        return ("h0 = wte[id] + wpe[pos]; per layer: h += c_proj(attn(LN1(h))); h += c_proj(gelu_tanh(c_fc(LN2(h)))); "
                "Conv1D y = x @ W + b with W [in,out]; c_attn output split [q|k|v] each D wide, head c uses "
                "columns c*hs..(c+1)*hs of each; logits = LN_f(h) @ wte^T; LN eps = layer_norm_epsilon.")
    if f == "neox":
        return ("per layer: qkv = Linear(LN1(h)) viewed [T, H, 3*hs] -> q = [..., :hs], k = [..., hs:2hs], v = [..., 2hs:]; "
                "rotate-half RoPE on the first rotary_ndims = int(hs*rotary_pct) dims of q and k (inv_freq over "
                "rotary_ndims, base rotary_emb_base), rest pass through; "
                + ("parallel: h = h + dense(attn(LN1(h))) + mlp(LN2(h))" if c["use_parallel_residual"] else
                   "sequential: h = h + dense(attn(LN1(h))); h = h + mlp(LN2(h))")
                + "; mlp = dense_4h_to_h(gelu_erf(dense_h_to_4h(x))); logits = final_layer_norm(h) @ embed_out^T.")
    s = ("per layer: x = RMSNorm(h); q,k,v = Linear(x) (+bias if present); rotate-half RoPE on full head dim "
         "(inv_freq_k = theta^(-2k/hs), pos 0-based; q' = q*cos + rotate_half(q)*sin, rotate_half(x) = [-x2, x1]); "
         "GQA: query head h uses kv head h // (H/Hkv); h += o_proj(attn); h += down(silu(gate(x2))*up(x2)), "
         "x2 = RMSNorm(h); logits = RMSNorm_final(h) @ lm_head^T (embeddings when tied). "
         "RMSNorm(x) = x / sqrt(mean(x^2) + eps) * w.")
    if spec.get("elastic"):
        s += (" Lazy Attention: s_ij = q_i.k_j/sqrt(hs) + table[h, i-j] if 0 <= i-j < table.shape[1] else +0; "
              "p = softmax over j <= i; A_ij = max(0, p_ij + tau_h / (i+1)) for j <= i (i 0-based, i+1 = "
              "visible keys), A_ij = 0 for j > i; no renormalisation; out = A @ v.")
    return s


def check_outputs(spec, ref, W):
    a = ref["attention"].numpy()
    L, H, T, _ = a.shape
    tri = np.triu(np.ones((T, T), dtype=bool), 1)
    assert np.all(a[:, :, tri] == 0.0), "future entries not exactly 0"
    assert np.all(ref["scores"].numpy()[:, :, tri] == 0.0)
    rows = a.sum(-1)
    stats = []
    if not spec.get("elastic"):
        assert np.allclose(rows, 1.0, atol=1e-12), "softmax rows must sum to 1"
        maxp = a.max(-1)[:, :, 1:]
        stats.append("mean max prob %.3f (min %.3f, max %.3f)" % (maxp.mean(), maxp.min(), maxp.max()))
        assert 0.2 < maxp.mean() < 0.9, "attention too flat or too peaked"
    else:
        N = FLA_NAMES if spec["cfg"]["model_type"] == "lazy_attention" else LLAMA_NAMES
        vis = ~tri
        gap = []
        for l in range(L):
            tau = W[N["tau"] % l]
            for h in range(H):
                if tau[h] <= 0:
                    assert np.all(rows[l, h] <= 1.0 + 1e-12), "elastic row > 1"
                else:
                    assert np.allclose(rows[l, h], 1.0 + tau[h], atol=1e-12)
                sp = (a[l, h][vis] == 0).mean()
                stats.append("L%dH%d tau=%+.1f sparsity %.2f" % (l, h, tau[h], sp))
        # distance of p + tau/i from the ReLU threshold (recomputed from scores)
        s = ref["scores"].numpy()
        for l in range(L):
            tau = W[N["tau"] % l]
            for h in range(H):
                for i in range(T):
                    r = s[l, h, i, :i + 1]
                    e = np.exp(r - r.max())
                    pv = e / e.sum() + tau[h] / (i + 1)
                    gap.extend(np.abs(pv).tolist() if i > 0 else [])
        gap = np.array(gap)
        near = int((gap < 1e-6).sum())
        stats.append("entries within 1e-6 of the ReLU threshold (i>0): %d; min gap %.2e" % (near, gap.min()))
        assert near == 0, "pathological clustering at the ReLU threshold"
        sp_all = [(a[l, h][vis] == 0).mean() for l in range(L) for h in range(H)]
        assert max(sp_all) > 0.4 and min(sp_all) == 0.0, "want strongly sparse and dense heads"
    return stats


def write_fixture(spec):
    name, dtype = spec["name"], spec["dtype"]
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(spec["cfg"], f, indent=2, sort_keys=True)
        f.write("\n")
    Wsrc = spec["W"]
    tensors = {k: (dtype, v) for k, v in Wsrc.items()}
    if spec.get("shards"):
        names = sorted(tensors)
        n = spec["shards"]
        cut = [names[i * len(names) // n:(i + 1) * len(names) // n] for i in range(n)]
        wmap, total = {}, 0
        for si, part in enumerate(cut):
            fn = "model-%05d-of-%05d.safetensors" % (si + 1, n)
            total += write_safetensors(os.path.join(d, fn), {k: tensors[k] for k in part})
            for k in part:
                wmap[k] = fn
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": wmap}, f, indent=2, sort_keys=True)
            f.write("\n")
        W = {}
        for fn in sorted(set(wmap.values())):
            W.update(read_safetensors(os.path.join(d, fn)))
    else:
        write_safetensors(os.path.join(d, "model.safetensors"), tensors)
        W = read_safetensors(os.path.join(d, "model.safetensors"))
    assert set(W) == set(Wsrc)
    # sanity: what we read back is the source rounded to the storage dtype
    for k in W:
        tol = {"F32": 1e-7, "F16": 1e-3, "BF16": 8e-3}[dtype]
        assert np.allclose(W[k], Wsrc[k], rtol=tol, atol=tol * 1e-2), k

    fam, cfg, ids = spec["family"], spec["cfg"], spec["ids"]
    Wt = {k: T64(v) for k, v in W.items()}
    ref = FORWARD[fam](Wt, cfg, ids)
    slow = slow_forward(W, cfg, ids, fam)
    for key in ("attention", "scores", "hidden", "logits"):
        diff = np.abs(ref[key].numpy() - slow[key]).max()
        assert diff < 1e-10, "%s: slow and fast %s disagree by %g" % (name, key, diff)
    stats = check_outputs(spec, ref, W)
    # Tolerance feasibility: the same torch code in float32 must be well inside the C test's bounds
    r32 = FORWARD[fam]({k: torch.from_numpy(v.astype(np.float32)) for k, v in W.items()}, cfg, ids)
    e_att = float((r32["attention"].double() - ref["attention"]).abs().max())
    lg = ref["logits"]
    e_lg = float((r32["logits"].double() - lg).abs().max() / lg.abs().max())
    stats.append("float32 torch vs float64: attention max abs %.1e, logits max abs / max|logit| %.1e" % (e_att, e_lg))
    assert e_att < 2e-6 and e_lg < 1e-5, stats[-1]

    exp = {k: ("F32", ref[k].numpy()) for k in ("attention", "scores", "logits", "hidden")}
    write_safetensors(os.path.join(d, "expected.safetensors"), exp,
                      metadata={"format": "pt", "producer": "tests/reference/make_fixtures.py"})
    meta = {
        "ids": [int(i) for i in ids],
        "family": fam,
        "weights_dtype": dtype,
        "attention_kind": "elastic" if spec.get("elastic") else "softmax",
        "shapes": {k: list(ref[k].shape) for k in ("attention", "scores", "logits", "hidden")},
        "covers": spec["covers"],
        "notes": " ".join([
            "Expected outputs computed in float64 from the stored weights (widened exactly), stored as F32.",
            "attention[l,h,i,j] = probability (softmax) or Elastic-Softmax weight of query i on key j, 0 for j > i.",
            SCORES_NOTE, HIDDEN_NOTE, "logits [T, V] = final norm + head for every position.",
            "Formula: " + family_formula(spec),
            "Self-check stats: " + "; ".join(stats),
            "Generated with torch %s, numpy %s." % (torch.__version__, np.__version__),
        ]),
    }
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    return stats


def main():
    os.makedirs(OUT, exist_ok=True)
    specs = build_specs()
    keep = {s["name"] for s in specs}
    for entry in os.listdir(OUT):  # drop stale fixtures
        if entry not in keep and os.path.isdir(os.path.join(OUT, entry)):
            shutil.rmtree(os.path.join(OUT, entry))
    for s in specs:
        stats = write_fixture(s)
        print("%-16s ok  %s" % (s["name"], "; ".join(stats[:3]) + (" ..." if len(stats) > 3 else "")))
    total = 0
    for root, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print("fixtures: %d, total size %.1f KiB" % (len(specs), total / 1024))
    return 0


if __name__ == "__main__":
    sys.exit(main())
