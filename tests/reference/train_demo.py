#!/usr/bin/python3
"""Trains attnscope's two shipped demo checkpoints: the same small LLaMA-style decoder trained
twice on the same data, with the same tokenizer, size, initialisation and schedule -- once with
standard softmax attention (exported in Hugging Face LLaMA layout to data/models/demo-softmax)
and once with Lazy Attention (RoPE + learnable per-head distance bias + Elastic-Softmax with
tau initialised at -1; exported in fla layout to data/models/demo-lazy).

Data: the Python 3.11 documentation shipped by the Debian package python3.11-doc (HTML under
/usr/share/doc/python3.11/html, PSF License Version 2), converted to plain ASCII text here and
split by document into train and validation (a fixed hash of each file's path).

Tokenizer: a byte-level BPE (GPT-2 split regex, GPT-2 byte-to-unicode map) trained here on the
training split and saved as a Hugging Face tokenizer.json, plus one added <|bos|> token that
starts every sequence.

Usage (Debian's /usr/bin/python3 with torch, numpy):
  nice -n 10 /usr/bin/python3 tests/reference/train_demo.py --variant softmax &
  nice -n 10 /usr/bin/python3 tests/reference/train_demo.py --variant lazy &
  /usr/bin/python3 tests/reference/train_demo.py --export
Both training runs share the prepared data in the work dir (default /tmp/ats-train; --work),
which the first one to start writes (under a lock). Training is resumable: rerunning a
variant continues from its last checkpoint (work/<variant>/ckpt.pt). Everything is
deterministic (fixed seed, one thread, batch k drawn from a generator seeded by (seed, k)).
"""

import argparse
import fcntl
import hashlib
import html.parser
import json
import math
import os
import re
import struct
import sys
import time
import unicodedata
from collections import Counter

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DOC_DIR = "/usr/share/doc/python3.11/html"
DOC_PACKAGE = "python3.11-doc"

SEED = 20260101
# model and schedule (identical for both variants)
CFG = dict(
    vocab_size=3072,  # 256 bytes + merges + <|bos|>
    hidden_size=192,
    num_layers=4,
    num_heads=4,
    num_kv_heads=4,
    intermediate_size=512,
    rope_theta=10000.0,
    norm_eps=1e-6,
    window_size=64,  # Lazy Attention distance-bias window W
    seq_len=128,  # tokens per training sequence, BOS included
)
TRAIN = dict(
    steps=1000,
    batch=16,
    lr=3e-3,
    min_lr=3e-4,
    warmup=100,
    weight_decay=0.1,
    clip=1.0,
    ckpt_every=100,
    eval_every=400,
    n_eval_seqs=160,
)
FIXTURE_PROMPT = "Attention sinks appear when no token is relevant, yet softmax must put its mass somewhere."

# --------------------------------------------------------------------------------------------
# corpus: python3.11-doc HTML -> ASCII text
# --------------------------------------------------------------------------------------------

_BLOCK = {"p", "div", "section", "pre", "li", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
          "table", "blockquote", "ul", "ol", "dl", "br", "td", "th", "figure", "caption"}
_ASCII_MAP = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": " - ",
              "\u2026": "...", "\u00a0": " ", "\u00b6": "", "\u2192": "->", "\u00d7": "x", "\u2022": "*",
              "\u00a9": "(c)", "\u2212": "-", "\u2264": "<=", "\u2265": ">=", "\u00ab": '"', "\u00bb": '"'}


class _DocText(html.parser.HTMLParser):
    """Text of the <div role="main"> of a Sphinx page; block elements end lines, <pre> keeps its
    line breaks, header links (pilcrows) and scripts are dropped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0  # >0 inside the main div (counts nested divs)
        self.skip = 0
        self.pre = 0
        self.out = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self.depth == 0:
            if tag == "div" and a.get("role") == "main":
                self.depth = 1
            return
        if tag == "div":
            self.depth += 1
        if tag in ("script", "style") or (tag == "a" and "headerlink" in (a.get("class") or "")):
            self.skip += 1
        if tag == "pre":
            self.pre += 1
        if tag in _BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if self.depth == 0:
            return
        if tag in ("script", "style") or (tag == "a" and self.skip):
            self.skip = max(0, self.skip - 1)
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _BLOCK:
            self.out.append("\n")
        if tag == "div":
            self.depth -= 1

    def handle_data(self, data):
        if self.depth == 0 or self.skip:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
        self.out.append(data)


def to_ascii(s):
    s = "".join(_ASCII_MAP.get(c, c) for c in s)
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if c == "\n" or " " <= c <= "~")


def doc_paragraphs(path):
    p = _DocText()
    p.feed(open(path, encoding="utf-8", errors="replace").read())
    text = to_ascii("".join(p.out).replace("\t", "    "))
    paras = []
    for line in text.split("\n"):
        line = line.rstrip()
        if not line.strip():
            continue
        # prose lines are stripped; code lines keep their indentation (but not a leading space
        # before the first character, which would change the first token)
        paras.append(line if line[:1] != " " or line.startswith("    ") else line.strip())
    return paras


def is_validation(relpath):
    return int(hashlib.md5(relpath.encode()).hexdigest(), 16) % 20 == 0  # ~5 % of documents


def load_corpus():
    if not os.path.isdir(DOC_DIR):
        sys.exit(f"{DOC_DIR} missing: apt-get install {DOC_PACKAGE}")
    train, val = [], []
    files = []
    for dp, dn, fn in os.walk(DOC_DIR):
        dn[:] = sorted(d for d in dn if not d.startswith("_"))
        files += [os.path.join(dp, f) for f in fn if f.endswith(".html")]
    for f in sorted(files):
        rel = os.path.relpath(f, DOC_DIR)
        if rel in ("genindex.html", "py-modindex.html", "search.html") or rel.startswith("genindex-"):
            continue
        paras = doc_paragraphs(f)
        if paras:
            (val if is_validation(rel) else train).append(paras)
    return train, val


# --------------------------------------------------------------------------------------------
# byte-level BPE (GPT-2 conventions), trained and applied here
# --------------------------------------------------------------------------------------------

GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# identical to GPT2_SPLIT on our corpus, which is printable ASCII plus "\n" (to_ascii)
PY_SPLIT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")
BOS = "<|bos|>"


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def train_bpe(text_iter, n_vocab):
    """Classic BPE over pre-tokenised words; pair counts updated incrementally. Ties broken by
    the lexicographically largest pair. Returns vocab {piece: id} (ids 0..255 bytes) and merges."""
    b2u = bytes_to_unicode()
    wc = Counter()
    for t in text_iter:
        wc.update(PY_SPLIT.findall(t))
    words = [[b2u[b] for b in w.encode()] for w in wc]
    counts = [wc[w] for w in wc]
    vocab = {b2u[b]: i for i, b in enumerate(sorted(b2u))}
    pairs = Counter()
    where = {}
    for wi, w in enumerate(words):
        for p in zip(w, w[1:]):
            pairs[p] += counts[wi]
            where.setdefault(p, set()).add(wi)
    merges = []
    while len(vocab) < n_vocab and pairs:
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        if pairs[best] <= 0:
            break
        merges.append(best)
        new = best[0] + best[1]
        if new not in vocab:
            vocab[new] = len(vocab)
        for wi in sorted(where.pop(best, ())):
            w, c = words[wi], counts[wi]
            for p in zip(w, w[1:]):
                pairs[p] -= c
                if pairs[p] == 0:
                    del pairs[p]
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == best[0] and w[i + 1] == best[1]:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[wi] = out
            for p in zip(out, out[1:]):
                pairs[p] += c
                if p != best:
                    where.setdefault(p, set()).add(wi)
        pairs.pop(best, None)
    return vocab, merges


class Encoder:
    """Rank-based BPE encoding, as the Hugging Face tokenizers library (and attnscope) does it."""

    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.ranks = {m: r for r, m in enumerate(merges)}
        self.b2u = bytes_to_unicode()
        self.cache = {}

    def word(self, w):
        ids = self.cache.get(w)
        if ids is not None:
            return ids
        parts = [self.b2u[b] for b in w.encode()]
        while len(parts) > 1:
            best, bi = None, -1
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            parts[bi:bi + 2] = [parts[bi] + parts[bi + 1]]
        ids = [self.vocab[p] for p in parts]
        self.cache[w] = ids
        return ids

    def encode(self, text):
        out = []
        for w in PY_SPLIT.findall(text):
            out += self.word(w)
        return out


def tokenizer_json(vocab, merges, bos_id):
    added = {"id": bos_id, "content": BOS, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
    v = dict(vocab)
    v[BOS] = bos_id
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [added], "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": GPT2_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {BOS: {"id": BOS, "ids": [bos_id], "tokens": [BOS]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": v, "merges": [f"{a} {b}" for a, b in merges]},
    }


# --------------------------------------------------------------------------------------------
# data preparation (shared by both variants, done once under a lock)
# --------------------------------------------------------------------------------------------

def encode_docs(enc, docs, nl_id):
    """-> (int32 token stream, int64 paragraph start offsets). Paragraphs are joined by "\\n"
    tokens (which is what encoding the joined text gives: paragraphs carry no edge spaces)."""
    toks, starts = [], []
    for paras in docs:
        for p in paras:
            starts.append(len(toks))
            toks += enc.encode(p)
            toks.append(nl_id)
    return np.array(toks, np.int32), np.array(starts, np.int64)


def prepare(work):
    os.makedirs(work, exist_ok=True)
    done = os.path.join(work, "data.npz")
    with open(os.path.join(work, "prepare.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if not os.path.exists(done):
            t0 = time.time()
            train, val = load_corpus()
            n_chars = sum(len(p) + 1 for d in train for p in d), sum(len(p) + 1 for d in val for p in d)
            print(f"corpus: {len(train)} train docs ({n_chars[0]} chars), {len(val)} val docs "
                  f"({n_chars[1]} chars)", flush=True)
            vocab, merges = train_bpe((p for d in train for p in d), CFG["vocab_size"] - 1)
            bos_id = len(vocab)
            assert bos_id + 1 == CFG["vocab_size"], (bos_id, CFG["vocab_size"])
            enc = Encoder(vocab, merges)
            nl = enc.encode("\n")
            assert len(nl) == 1
            tr, tr_starts = encode_docs(enc, train, nl[0])
            va, va_starts = encode_docs(enc, val, nl[0])
            tok = tokenizer_json(vocab, merges, bos_id)
            with open(os.path.join(work, "tokenizer.json"), "w") as f:
                json.dump(tok, f, ensure_ascii=False)
            np.savez(done + ".tmp.npz", train=tr, train_starts=tr_starts, val=va, val_starts=va_starts,
                     bos=np.array([bos_id]), chars=np.array(n_chars), docs=np.array([len(train), len(val)]))
            os.replace(done + ".tmp.npz", done)
            print(f"prepared in {time.time() - t0:.0f}s: {len(tr)} train tokens, {len(va)} val tokens, "
                  f"{len(merges)} merges", flush=True)
    d = np.load(done)
    return {k: d[k] for k in d.files}


def load_tokenizer(work):
    tok = json.load(open(os.path.join(work, "tokenizer.json")))
    vocab = {k: v for k, v in tok["model"]["vocab"].items() if k != BOS}
    merges = [tuple(m.split(" ")) for m in tok["model"]["merges"]]
    return tok, Encoder(vocab, merges)


def batch_at(data, step, batch, T):
    """Batch number @step: sequences BOS + T-1 tokens starting at random paragraph starts."""
    rng = np.random.RandomState((SEED * 7919 + step) % (2 ** 32))
    starts = data["train_starts"]
    starts = starts[starts + T - 1 <= len(data["train"])]
    s = starts[rng.randint(0, len(starts), size=batch)]
    x = np.empty((batch, T), np.int64)
    x[:, 0] = data["bos"][0]
    for b in range(batch):
        x[b, 1:] = data["train"][s[b]:s[b] + T - 1]
    return torch.from_numpy(x)


def eval_batches(data, split, n, T):
    """Fixed evaluation sequences: BOS + T-1 tokens at evenly spaced paragraph starts."""
    toks, starts = data[split], data[split + "_starts"]
    starts = starts[starts + T - 1 <= len(toks)]
    pick = starts[np.linspace(0, len(starts) - 1, n).astype(np.int64)]
    x = np.empty((n, T), np.int64)
    x[:, 0] = data["bos"][0]
    for b, s in enumerate(pick):
        x[b, 1:] = toks[s:s + T - 1]
    return torch.from_numpy(x)


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(T, hs, theta, dtype):
    inv = 1.0 / (theta ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    f = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    emb = torch.cat([f, f], -1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


class Attention(nn.Module):
    def __init__(self, c, lazy):
        super().__init__()
        D, H, Hkv = c["hidden_size"], c["num_heads"], c["num_kv_heads"]
        self.H, self.Hkv, self.hs = H, Hkv, D // H
        self.q_proj = nn.Linear(D, H * self.hs, bias=False)
        self.k_proj = nn.Linear(D, Hkv * self.hs, bias=False)
        self.v_proj = nn.Linear(D, Hkv * self.hs, bias=False)
        self.o_proj = nn.Linear(H * self.hs, D, bias=False)
        self.lazy = lazy
        if lazy:
            self.tau = nn.Parameter(torch.full((H,), -1.0))
            self.bias = nn.Parameter(torch.zeros(H, c["window_size"]))

    def forward(self, x, cos, sin, keep=None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, self.hs).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.Hkv, self.hs).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.Hkv, self.hs).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.Hkv != self.H:
            k = k.repeat_interleave(self.H // self.Hkv, 1)
            v = v.repeat_interleave(self.H // self.Hkv, 1)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.hs)
        i = torch.arange(T).view(T, 1)
        j = torch.arange(T).view(1, T)
        dist = i - j
        if self.lazy:
            W = self.bias.shape[1]
            inwin = (dist >= 0) & (dist < W)
            b = self.bias[:, dist.clamp(0, W - 1)] * inwin.to(s.dtype)  # [H, T, T]
            s = s + b
        p = torch.softmax(s.masked_fill(j > i, float("-inf")), -1)
        if self.lazy:
            pos = torch.arange(1, T + 1, dtype=p.dtype).view(T, 1)
            pre = p + self.tau.view(self.H, 1, 1) / pos
            a = torch.relu(pre).masked_fill(j > i, 0.0)
        else:
            pre = None
            a = p
        if keep is not None:
            keep.append((a.detach(), None if pre is None else pre.masked_fill(j > i, 0.0).detach()))
        o = (a @ v).transpose(1, 2).reshape(B, T, -1)
        return self.o_proj(o)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, Fh = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(D, Fh, bias=False)
        self.up_proj = nn.Linear(D, Fh, bias=False)
        self.down_proj = nn.Linear(Fh, D, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c, lazy):
        super().__init__()
        self.attn_norm = RMSNorm(c["hidden_size"], c["norm_eps"])
        self.attn = Attention(c, lazy)
        self.mlp_norm = RMSNorm(c["hidden_size"], c["norm_eps"])
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, keep=None):
        x = x + self.attn(self.attn_norm(x), cos, sin, keep)
        return x + self.mlp(self.mlp_norm(x))


class Decoder(nn.Module):
    def __init__(self, c, lazy):
        super().__init__()
        self.c = c
        self.embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Block(c, lazy) for _ in range(c["num_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["norm_eps"])
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def init_weights(self, seed):
        """Same draws for both variants (the Lazy parameters are not random)."""
        g = torch.Generator().manual_seed(seed)
        L = self.c["num_layers"]
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            elif name.endswith("attn.tau"):
                nn.init.constant_(p, -1.0)
            elif name.endswith("attn.bias"):
                nn.init.zeros_(p)
            else:
                std = 0.02 / math.sqrt(2 * L) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=g) * std)

    def forward(self, ids, keep=None):
        T = ids.shape[-1]
        cos, sin = rope_tables(T, self.c["hidden_size"] // self.c["num_heads"], self.c["rope_theta"],
                               self.embeddings.weight.dtype)
        h = self.embeddings(ids)
        for blk in self.layers:
            h = blk(h, cos, sin, keep)
        return self.lm_head(self.norm(h))


def lm_loss(model, x):
    logits = model(x)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))


@torch.no_grad()
def evaluate(model, xs, bs=16):
    model.eval()
    tot, n = 0.0, 0
    for b in range(0, len(xs), bs):
        x = xs[b:b + bs]
        logits = model(x)
        tot += F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                               reduction="sum").item()
        n += x[:, 1:].numel()
    model.train()
    return tot / n


def lr_at(step):
    t = TRAIN
    if step < t["warmup"]:
        return t["lr"] * (step + 1) / t["warmup"]
    frac = (step - t["warmup"]) / max(1, t["steps"] - t["warmup"])
    return t["min_lr"] + 0.5 * (t["lr"] - t["min_lr"]) * (1 + math.cos(math.pi * min(1.0, frac)))


def make_optimizer(model):
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and not n.endswith("attn.bias")]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and not n.endswith("attn.bias"))]
    return torch.optim.AdamW([{"params": decay, "weight_decay": TRAIN["weight_decay"]},
                              {"params": other, "weight_decay": 0.0}], lr=TRAIN["lr"], betas=(0.9, 0.95))


def unigram_stats(data):
    """Unigram entropy of the validation targets (their own distribution) and the cross-entropy
    of a unigram model fitted on the training tokens (add-one smoothed), in nats per token."""
    V = CFG["vocab_size"]
    xs = eval_batches(data, "val", TRAIN["n_eval_seqs"], CFG["seq_len"])[:, 1:].reshape(-1).numpy()
    cv = np.bincount(xs, minlength=V).astype(np.float64)
    pv = cv / cv.sum()
    h_val = float(-(pv[pv > 0] * np.log(pv[pv > 0])).sum())
    ct = np.bincount(data["train"], minlength=V).astype(np.float64) + 1.0
    pt = ct / ct.sum()
    ce = float(-(pv * np.log(pt)).sum())
    return h_val, ce


def train(variant, work):
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    data = prepare(work)
    d = os.path.join(work, variant)
    os.makedirs(d, exist_ok=True)
    model = Decoder(CFG, lazy=(variant == "lazy"))
    model.init_weights(SEED)
    opt = make_optimizer(model)
    ck = os.path.join(d, "ckpt.pt")
    state = {"step": 0, "log": [], "evals": []}
    if os.path.exists(ck):
        s = torch.load(ck)
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["opt"])
        state = s["state"]
        print(f"[{variant}] resumed at step {state['step']}", flush=True)
    T, B = CFG["seq_len"], TRAIN["batch"]
    val_x = eval_batches(data, "val", TRAIN["n_eval_seqs"], T)
    tr_x = eval_batches(data, "train", TRAIN["n_eval_seqs"], T)

    def save():
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, ck + ".tmp")
        os.replace(ck + ".tmp", ck)

    t0 = time.time()
    t_prev = state.get("seconds", 0.0)
    while state["step"] < TRAIN["steps"]:
        step = state["step"]
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = lm_loss(model, batch_at(data, step, B, T))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), TRAIN["clip"])
        opt.step()
        state["log"].append(float(loss))
        state["step"] = step + 1
        state["seconds"] = t_prev + time.time() - t0
        if state["step"] % 20 == 0:
            extra = ""
            if variant == "lazy":
                taus = torch.cat([b.attn.tau.detach() for b in model.layers])
                extra = f" tau mean {taus.mean():.3f} [{taus.min():.2f}, {taus.max():.2f}]"
            print(f"[{variant}] step {state['step']} loss {np.mean(state['log'][-20:]):.4f} "
                  f"lr {lr_at(step):.2e} {state['seconds']:.0f}s{extra}", flush=True)
        if state["step"] % TRAIN["eval_every"] == 0 or state["step"] == TRAIN["steps"]:
            vl = evaluate(model, val_x)
            state["evals"].append((state["step"], vl))
            print(f"[{variant}] step {state['step']} val loss {vl:.4f}", flush=True)
        if state["step"] % TRAIN["ckpt_every"] == 0 or state["step"] == TRAIN["steps"]:
            save()
    if "final" not in state:
        state["final"] = {"train_loss": evaluate(model, tr_x), "val_loss": evaluate(model, val_x),
                          "train_loss_last100_batches": float(np.mean(state["log"][-100:]))}
        save()
    print(f"[{variant}] done: {json.dumps(state['final'])}", flush=True)


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------

def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    off, blobs = 0, []
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def export_names(variant, sd):
    out = {}
    for k, v in sd.items():
        a = v.detach().to(torch.float32).numpy()
        if variant == "lazy":  # fla layout
            name = k if k == "lm_head.weight" else "model." + k
        else:  # Hugging Face LLaMA layout
            name = k.replace("embeddings", "embed_tokens").replace(".attn.", ".self_attn.")
            name = name.replace("attn_norm", "input_layernorm").replace("mlp_norm", "post_attention_layernorm")
            name = name if name == "lm_head.weight" else "model." + name
        out[name] = a
    return out


def model_card(variant, st, data, h_val, ce_uni, n_params, size):
    c, t = CFG, TRAIN
    fin = st["final"]
    kind = ("standard softmax attention, Hugging Face LLaMA layout" if variant == "softmax" else
            "Lazy Attention (RoPE + learnable per-head distance bias over W = %d + Elastic-Softmax, "
            "tau initialised at -1), fla layout" % c["window_size"])
    other = "demo-lazy" if variant == "softmax" else "demo-softmax"
    evals = ", ".join(f"{s}: {v:.3f}" for s, v in st["evals"])
    return f"""# attnscope demo-{variant}

A small LLaMA-style decoder with {kind}. It is one of two models trained
identically (same data, tokenizer, size, initial weights and schedule) by
`tests/reference/train_demo.py`; its twin is `{other}`. They exist so that attnscope's first
run shows real attention allocation: a toy language model of Python documentation prose, not
a useful assistant.

| | |
|---|---|
| architecture | {c['num_layers']} layers, width {c['hidden_size']}, {c['num_heads']} heads (head size {c['hidden_size'] // c['num_heads']}, {c['num_kv_heads']} KV heads), SwiGLU {c['intermediate_size']}, RMSNorm (eps {c['norm_eps']}), RoPE base {c['rope_theta']:.0f}, untied LM head |
| parameters | {n_params:,} (float32, {size / 1e6:.1f} MB) |
| tokenizer | byte-level BPE (GPT-2 split regex), {c['vocab_size']} tokens incl. `<|bos|>`, trained on the training split; BOS starts every sequence |
| training | {t['steps']} steps x {t['batch']} sequences x {c['seq_len']} tokens ({t['steps'] * t['batch'] * (c['seq_len'] - 1):,} predicted tokens), AdamW (betas 0.9/0.95, weight decay {t['weight_decay']} on matrices), lr {t['lr']} with {t['warmup']} warmup steps and cosine decay to {t['min_lr']}, grad clip {t['clip']}, seed {SEED}, float32, CPU, one thread |
| training time | {st['seconds'] / 60:.1f} min |
| final train loss | {fin['train_loss']:.4f} nats/token ({t['n_eval_seqs']} fixed training sequences; last 100 batches: {fin['train_loss_last100_batches']:.4f}) |
| final validation loss | **{fin['val_loss']:.4f}** nats/token ({t['n_eval_seqs']} fixed validation sequences, {t['n_eval_seqs'] * (c['seq_len'] - 1):,} tokens) |
| unigram baseline | {h_val:.4f} nats/token (entropy of the validation tokens' own unigram distribution); {ce_uni:.4f} (cross-entropy of the training unigram on them) |
| validation loss during training | {evals} |

## Data

The Python 3.11 documentation as shipped by the Debian package `{DOC_PACKAGE}`
(`{DOC_DIR}`, Debian bookworm). Licence: PSF License Version 2 (Python Software Foundation;
the documentation's code examples are also under the Zero-Clause BSD licence; see
`/usr/share/doc/{DOC_PACKAGE}/copyright` and the documentation's own `license.html`). Each HTML
page's main text was converted to plain ASCII (typographic quotes and dashes mapped, other
non-ASCII characters dropped; code blocks keep their lines). Split by document: a page is
validation when the MD5 of its relative path is 0 mod 20 ({int(data['docs'][0])} training pages,
{len(data['train']):,} tokens; {int(data['docs'][1])} validation pages, {len(data['val']):,} tokens).
Training sequences start at a paragraph start with `<|bos|>`.

## Retrain

```sh
apt-get install {DOC_PACKAGE}            # the corpus
nice -n 10 /usr/bin/python3 tests/reference/train_demo.py --variant softmax &
nice -n 10 /usr/bin/python3 tests/reference/train_demo.py --variant lazy &
wait
/usr/bin/python3 tests/reference/train_demo.py --export   # writes data/models/demo-* and the test fixtures
```

Deterministic (torch 1.13, one thread); resumable from checkpoints in `/tmp/ats-train`.
"""


def fixture_outputs(model, ids):
    """The training code's own forward, run in float64 on the exported float32 weights."""
    m = Decoder(model.c, lazy=model.layers[0].attn.lazy)
    m.load_state_dict(model.state_dict())
    m = m.double().eval()
    keep = []
    with torch.no_grad():
        logits = m(torch.tensor([ids]), keep)[0]
    attn = torch.stack([a[0] for a, _ in keep])  # [L, H, T, T]
    pre = torch.stack([p[0] for _, p in keep]) if keep[0][1] is not None else None
    return attn, pre, logits


def export(work, root=ROOT):
    """Writes root/data/models/demo-* and root/tests/reference/fixtures/demo-*."""
    torch.set_num_threads(1)
    data = prepare(work)
    tok, enc = load_tokenizer(work)
    bos_id = int(data["bos"][0])
    h_val, ce_uni = unigram_stats(data)
    tok_cfg = {"bos_token": BOS, "add_bos_token": True, "add_eos_token": False,
               "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 4096}
    ids = [bos_id] + enc.encode(FIXTURE_PROMPT)
    fx_dir = os.path.join(root, "tests", "reference", "fixtures")
    os.makedirs(fx_dir, exist_ok=True)
    summary = {"unigram_entropy_val": h_val, "unigram_train_ce_val": ce_uni}
    for variant in ("softmax", "lazy"):
        s = torch.load(os.path.join(work, variant, "ckpt.pt"))
        st = s["state"]
        if st["step"] < TRAIN["steps"] or "final" not in st:
            sys.exit(f"{variant}: training not finished (step {st['step']})")
        model = Decoder(CFG, lazy=(variant == "lazy"))
        model.load_state_dict(s["model"])
        tensors = export_names(variant, model.state_dict())
        n_params = sum(a.size for a in tensors.values())
        c = CFG
        common = {"vocab_size": c["vocab_size"], "hidden_size": c["hidden_size"],
                  "num_hidden_layers": c["num_layers"], "intermediate_size": c["intermediate_size"],
                  "rope_theta": c["rope_theta"], "tie_word_embeddings": False, "bos_token_id": bos_id,
                  "max_position_embeddings": 4096, "torch_dtype": "float32"}
        if variant == "softmax":
            cfg = dict(common, model_type="llama", architectures=["LlamaForCausalLM"],
                       num_attention_heads=c["num_heads"], num_key_value_heads=c["num_kv_heads"],
                       rms_norm_eps=c["norm_eps"], hidden_act="silu")
        else:
            cfg = dict(common, model_type="lazy_attention", architectures=["LazyAttentionForCausalLM"],
                       num_heads=c["num_heads"], num_kv_heads=c["num_kv_heads"], norm_eps=c["norm_eps"],
                       window_size=c["window_size"], hidden_act="swish")
        d = os.path.join(root, "data", "models", "demo-" + variant)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            json.dump(tok, f, ensure_ascii=False)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(tok_cfg, f, indent=2)
            f.write("\n")
        meta = {"format": "pt", "producer": "attnscope tests/reference/train_demo.py",
                "variant": variant, "steps": str(st["step"]), "seed": str(SEED),
                "val_loss": "%.4f" % st["final"]["val_loss"]}
        write_safetensors(os.path.join(d, "model.safetensors"), tensors, meta)
        size = os.path.getsize(os.path.join(d, "model.safetensors"))
        assert size <= 16_000_000, size
        with open(os.path.join(d, "README.md"), "w") as f:
            f.write(model_card(variant, st, data, h_val, ce_uni, n_params, size))
        # fixture: the exported (float32) weights, this file's forward in float64
        attn, pre, logits = fixture_outputs(model, ids)
        fx = {"attention": attn.numpy(), "logits": logits.numpy()}
        if pre is not None:
            fx["elastic_pre"] = pre.numpy()  # softmax + tau/i before the ReLU (threshold at 0)
        write_safetensors(os.path.join(fx_dir, f"demo-{variant}-expected.safetensors"), fx,
                          {"format": "pt", "prompt": FIXTURE_PROMPT, "model": "data/models/demo-" + variant})
        summary[variant] = dict(st["final"], steps=st["step"], minutes=st["seconds"] / 60, params=n_params,
                                bytes=size)
        if pre is not None:
            vis = torch.tril(torch.ones_like(attn[0, 0], dtype=torch.bool))
            summary[variant]["fixture_sparsity"] = float((attn[:, :, vis] == 0).double().mean())
            summary[variant]["tau"] = [[round(x, 3) for x in model.layers[l].attn.tau.detach().tolist()]
                                       for l in range(CFG["num_layers"])]
    with open(os.path.join(fx_dir, "demo-prompt.json"), "w") as f:
        json.dump({"prompt": FIXTURE_PROMPT, "ids": ids,
                   "note": "expected ids of attnscope's tokenizer (BOS added) for the demo models; "
                           "outputs in demo-{softmax,lazy}-expected.safetensors, written by "
                           "tests/reference/train_demo.py --export"}, f, indent=1)
        f.write("\n")
    print(json.dumps(summary))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=["softmax", "lazy"])
    ap.add_argument("--export", action="store_true")
    ap.add_argument("--prepare", action="store_true", help="only prepare corpus and tokenizer")
    ap.add_argument("--bench", type=int, default=0, help="time N training steps (no checkpoint)")
    ap.add_argument("--work", default="/tmp/ats-train")
    ap.add_argument("--root", default=ROOT, help="--export: write under this tree instead of the repository")
    a = ap.parse_args()
    if a.prepare:
        prepare(a.work)
    elif a.bench:
        torch.set_num_threads(1)
        data = prepare(a.work)
        for lazy in (False, True):
            m = Decoder(CFG, lazy)
            m.init_weights(SEED)
            o = make_optimizer(m)
            t0 = time.time()
            for s in range(a.bench):
                loss = lm_loss(m, batch_at(data, s, TRAIN["batch"], CFG["seq_len"]))
                o.zero_grad()
                loss.backward()
                o.step()
            print(f"lazy={lazy}: {(time.time() - t0) / a.bench:.3f} s/step, loss {loss.item():.3f}", flush=True)
    elif a.export:
        export(a.work, a.root)
    elif a.variant:
        train(a.variant, a.work)
    else:
        ap.error("give --variant, --export, --prepare or --bench")


if __name__ == "__main__":
    main()
