#!/usr/bin/python3
"""Shows that the committed fixtures discriminate between the conventions the C
forward pass must get right: each line re-runs the reference with one
deliberate mistake and prints how far it lands from expected.safetensors.
Every line should be far above the C test tolerances (attention 1e-5 abs,
logits 1e-4 rel).  Run: /usr/bin/python3 tests/reference/discrimination_check.py
"""
import os
import sys
import math
import glob
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures as M  # noqa: E402

FAILED = []
specs = {s['name']: s for s in M.build_specs()}
def run(name):
    s = specs[name]; d = os.path.join(HERE, 'fixtures', name)
    W = {}
    for f in glob.glob(d + '/model*.safetensors'): W.update(M.read_safetensors(f))
    Wt = {k: M.T64(v) for k, v in W.items()}
    return M.FORWARD[s['family']](Wt, s['cfg'], s['ids'])
def cmp(name, label):
    e = M.read_safetensors(os.path.join(HERE, 'fixtures', name, 'expected.safetensors'))
    r = run(name)
    da = np.abs(r['attention'].numpy() - e['attention']).max()
    dl = np.abs(r['logits'].numpy() - e['logits']).max() / np.abs(e['logits']).max()
    ok = da > 1e-5 or dl > 1e-4
    print('%-40s %-16s attention %.1e  logits(rel) %.1e  %s' % (label, name, da, dl, 'detected' if ok else 'NOT DETECTED'))
    if not ok:
        FAILED.append((label, name))
orig = {k: getattr(M, k) for k in ('rotate_half', 'apply_rope', 'gelu_erf', 'gelu_tanh', 'attention_core', 'rope_cos_sin')}
def restore():
    for k, v in orig.items(): setattr(M, k, v)
# interleaved rope
def rope_inter(x, cos, sin):
    d = x.shape[-1]; h = d // 2
    c = cos[..., :h].to(x.dtype); s_ = sin[..., :h].to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    y = torch.empty_like(x); y[..., 0::2] = x1 * c - x2 * s_; y[..., 1::2] = x2 * c + x1 * s_; return y
M.apply_rope = rope_inter
for n in ('llama', 'neox', 'neox-seq', 'lazy-fla'): cmp(n, 'interleaved RoPE')
restore()
M.gelu_erf = M.gelu_tanh
for n in ('neox', 'neox-seq'): cmp(n, 'gelu tanh instead of erf')
restore()
M.gelu_tanh = orig['gelu_erf']
cmp('gpt2', 'gelu erf instead of tanh')
restore()
def core_gqa_mod(q, k, v, bias_table=None, tau=None):
    n = q.shape[0] // k.shape[0]
    if n > 1:
        idx = torch.arange(q.shape[0]) % k.shape[0]
        k = k[idx]; v = v[idx]
    return orig['attention_core'](q, k, v, bias_table, tau)
M.attention_core = core_gqa_mod
for n in ('llama', 'qwen2', 'lazy-hf'): cmp(n, 'GQA h % Hkv instead of h // rep')
restore()
def core_tau0(q, k, v, bias_table=None, tau=None):
    if tau is None: return orig['attention_core'](q, k, v, bias_table, tau)
    # off by one: divide by (visible keys + 1)
    H, T, hs = q.shape
    out, a, s = orig['attention_core'](q, k, v, bias_table, None)
    nv = (torch.arange(T, dtype=a.dtype) + 2).view(1, T, 1)
    a2 = torch.clamp(a + tau.view(H, 1, 1) / nv, min=0).masked_fill(torch.ones(T, T).triu(1).bool(), 0)
    return a2 @ v.repeat_interleave(H // v.shape[0], 0), a2, s
M.attention_core = core_tau0
for n in ('lazy-fla', 'lazy-hf'): cmp(n, 'tau / (visible keys + 1)')
restore()
def core_renorm(q, k, v, bias_table=None, tau=None):
    out, a, s = orig['attention_core'](q, k, v, bias_table, tau)
    if tau is None: return out, a, s
    a = a / a.sum(-1, keepdim=True).clamp(min=1e-30)
    return a @ v.repeat_interleave(q.shape[0] // v.shape[0], 0), a, s
M.attention_core = core_renorm
for n in ('lazy-fla', 'lazy-hf'): cmp(n, 'renormalised elastic')
restore()
def core_biasshift(q, k, v, bias_table=None, tau=None):
    if bias_table is not None: bias_table = bias_table[:, 1:]
    return orig['attention_core'](q, k, v, bias_table, tau)
M.attention_core = core_biasshift
for n in ('lazy-fla', 'lazy-hf'): cmp(n, 'bias table off by one')
restore()
# parallel residual toggle
for n in ('neox', 'neox-seq'):
    specs[n]['cfg'] = dict(specs[n]['cfg']); specs[n]['cfg']['use_parallel_residual'] ^= True; cmp(n, 'parallel residual toggled')
    specs[n]['cfg']['use_parallel_residual'] ^= True
# eps
c = specs['qwen2']['cfg']; c['rms_norm_eps'] = 1e-5; cmp('qwen2', 'rms eps 1e-5 instead of 1e-6'); c['rms_norm_eps'] = 1e-6
c = specs['llama-tied-bf16']['cfg']; c['rope_theta'] = 10000.0; cmp('llama-tied-bf16', 'rope theta 1e4 instead of 5e5')
c = specs['neox']['cfg']; c['rotary_pct'] = 1.0; cmp('neox', 'full rotary'); c['rotary_pct'] = 0.25

if FAILED:
    print('undetected mutations:', FAILED)
    sys.exit(1)
print('all mutations detected')
