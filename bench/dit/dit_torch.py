#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/dit/dit_torch.py - the reference side of bench/dit/run: DiT written
with torch.nn from spec/models.md §1 (our own short code, not upstream's),
checked against the golden cases before it is timed.

  dit_torch.py check DIR             compare with DIR/{a,b}.safetensors (rel L2 < 1e-4)
  dit_torch.py bench [--variant DiT-XL/2] [--input-size 32] [--reps 3]
                                     time one forward of batch 2 (as with guidance)
                                     with random weights; prints torch_forward_s and
                                     torch_peak_mib (VmHWM, weights included)
"""
import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

VARIANTS = {  # depth, hidden, heads, patch
    "DiT-S/2": (12, 384, 6, 2), "DiT-S/4": (12, 384, 6, 4), "DiT-S/8": (12, 384, 6, 8),
    "DiT-B/2": (12, 768, 12, 2), "DiT-B/4": (12, 768, 12, 4), "DiT-B/8": (12, 768, 12, 8),
    "DiT-L/2": (24, 1024, 16, 2), "DiT-L/4": (24, 1024, 16, 4), "DiT-L/8": (24, 1024, 16, 8),
    "DiT-XL/2": (28, 1152, 16, 2), "DiT-XL/4": (28, 1152, 16, 4), "DiT-XL/8": (28, 1152, 16, 8),
}


def sincos_2d(dim, grid):
    """Fixed 2-D table: [sin(c w), cos(c w), sin(r w), cos(r w)], column first (float64)."""
    quarter = dim // 4
    omega = 1.0 / 10000 ** (np.arange(quarter, dtype=np.float64) / quarter)
    rows, cols = np.meshgrid(np.arange(grid, dtype=np.float64),
                             np.arange(grid, dtype=np.float64), indexing="ij")

    def one(pos):
        a = np.outer(pos.reshape(-1), omega)
        return np.concatenate([np.sin(a), np.cos(a)], axis=1)

    return np.concatenate([one(cols), one(rows)], axis=1).astype(np.float32)


def timestep_freq(t, dim):
    """[cos(t f_k) | sin(t f_k)], f_k = 10000^(-k/half), in float64 like the references."""
    half = dim // 2
    f = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float64) / half)
    a = t.to(torch.float64)[:, None] * f[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1)


class Block(nn.Module):
    def __init__(self, d, heads, mlp):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.fc1 = nn.Linear(d, mlp)
        self.fc2 = nn.Linear(mlp, d)
        self.ada = nn.Linear(d, 6 * d)

    def forward(self, x, silu_c, eps):
        b, n, d = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(silu_c)[:, None].chunk(6, dim=2)
        h = F.layer_norm(x, (d,), eps=eps) * (1 + sc1) + sh1
        q, k, v = self.qkv(h).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) * (d // self.heads) ** -0.5, dim=-1) @ v
        x = x + g1 * self.proj(a.transpose(1, 2).reshape(b, n, d))
        h = F.layer_norm(x, (d,), eps=eps) * (1 + sc2) + sh2
        return x + g2 * self.fc2(F.gelu(self.fc1(h), approximate="tanh"))


class DiT(nn.Module):
    def __init__(self, input_size, patch, in_ch, hidden, depth, heads, mlp_ratio=4.0,
                 classes=1000, null_class=True, learn_sigma=True, freq=256, eps=1e-6):
        super().__init__()
        self.p, self.c, self.d, self.freq, self.eps = patch, in_ch, hidden, freq, eps
        self.out_ch = 2 * in_ch if learn_sigma else in_ch
        self.grid = input_size // patch
        self.x_proj = nn.Conv2d(in_ch, hidden, patch, stride=patch)
        self.register_buffer("pos", torch.from_numpy(sincos_2d(hidden, self.grid))[None])
        self.t0, self.t2 = nn.Linear(freq, hidden), nn.Linear(hidden, hidden)
        self.table = nn.Embedding(classes + int(null_class), hidden)
        mlp = int(hidden * mlp_ratio)
        self.blocks = nn.ModuleList(Block(hidden, heads, mlp) for _ in range(depth))
        self.fin_ada = nn.Linear(hidden, 2 * hidden)
        self.fin = nn.Linear(hidden, patch * patch * self.out_ch)

    def forward(self, x, t, y, rec=None):
        """rec: a dict that receives the intermediates the golden files name."""
        rec = {} if rec is None else rec
        rec["x_embed"] = self.x_proj(x).flatten(2).transpose(1, 2)
        rec["pos_embed"] = self.pos
        tok = rec["x_embed"] + self.pos
        rec["t_freq"] = timestep_freq(t, self.freq).to(x.dtype)
        rec["t_emb"] = self.t2(F.silu(self.t0(rec["t_freq"])))
        rec["y_emb"] = self.table(y)
        silu_c = F.silu(rec["t_emb"] + rec["y_emb"])
        for i, blk in enumerate(self.blocks):
            tok = rec[f"blocks.{i}"] = blk(tok, silu_c, self.eps)
        shift, scale = self.fin_ada(silu_c)[:, None].chunk(2, dim=2)
        out = self.fin(F.layer_norm(tok, (self.d,), eps=self.eps) * (1 + scale) + shift)
        rec["final_layer"] = out
        g, p = self.grid, self.p
        out = out.view(-1, g, g, p, p, self.out_ch).permute(0, 5, 1, 3, 2, 4)
        return out.reshape(-1, self.out_ch, g * p, g * p)

    def forward_with_cfg(self, x, t, y, s):
        half = x[: len(x) // 2]
        out = self.forward(torch.cat([half, half]), t, y)
        eps, rest = out[:, :3], out[:, 3:]  # upstream guides 3 channels
        cond, unc = eps.chunk(2)
        guided = unc + s * (cond - unc)
        return torch.cat([torch.cat([guided, guided]), rest], dim=1)


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    meta = head.pop("__metadata__", {})
    types = {"F32": np.float32, "I64": np.int64}
    out = {}
    for k, v in head.items():
        a, b = v["data_offsets"]
        arr = np.frombuffer(data[8 + n + a:8 + n + b], dtype=types[v["dtype"]])
        out[k] = torch.from_numpy(arr.copy().reshape(v["shape"]))
    return out, meta


NAMES = {"x_proj": "x_embedder.proj", "t0": "t_embedder.mlp.0", "t2": "t_embedder.mlp.2",
         "table": "y_embedder.embedding_table", "fin_ada": "final_layer.adaLN_modulation.1",
         "fin": "final_layer.linear"}
INNER = {"qkv": "attn.qkv", "proj": "attn.proj", "fc1": "mlp.fc1", "fc2": "mlp.fc2",
         "ada": "adaLN_modulation.1"}


def upstream_name(ours):
    """Our parameter name -> facebookresearch/DiT's state_dict key."""
    if ours == "pos":
        return "pos_embed"
    head, kind = ours.rsplit(".", 1)
    if head.startswith("blocks."):
        _, i, inner = head.split(".", 2)
        return f"blocks.{i}.{INNER[inner]}.{kind}"
    return f"{NAMES[head]}.{kind}"


def from_golden(t, cfg):
    m = DiT(cfg["input_size"], cfg["patch_size"], cfg["in_channels"], cfg["hidden_size"],
            cfg["depth"], cfg["num_heads"], cfg["mlp_ratio"], cfg["num_classes"],
            cfg["class_dropout_prob"] > 0, cfg["learn_sigma"], cfg["frequency_embedding_size"],
            cfg["layernorm_eps"])
    state = {k: (m.pos if k == "pos" else t[upstream_name(k)]) for k in m.state_dict()}
    m.load_state_dict(state)
    return m.eval()


def rel_l2(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


def check(folder):
    worst = 0.0
    with torch.no_grad():
        for case in ("a", "b"):
            t, meta = read_safetensors(f"{folder}/{case}.safetensors")
            m = from_golden(t, json.loads(meta["config"]))
            got = {}
            got["forward"] = m(t["input.x"], t["input.t"], t["input.y"], got)
            got["forward_with_cfg"] = m.forward_with_cfg(t["input.cfg_x"], t["input.cfg_t"],
                                                         t["input.cfg_y"],
                                                         float(t["input.cfg_scale"][0]))
            for k, v in got.items():
                if f"output.{k}" not in t:
                    continue
                e = rel_l2(v, t[f"output.{k}"])
                worst = max(worst, e)
                print(f"torch reference, case {case} {k}: rel L2 {e:.2e}")
    if not worst < 1e-4:
        print("torch reference does not match the golden files", file=sys.stderr)
        return 1
    return 0


def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024
    return 0.0


def bench(variant, input_size, reps):
    depth, hidden, heads, patch = VARIANTS[variant]
    torch.manual_seed(0)
    with torch.no_grad():
        m = DiT(input_size, patch, 4, hidden, depth, heads).eval()
        x = torch.randn(1, 4, input_size, input_size).repeat(2, 1, 1, 1)
        t = torch.tensor([500.0, 500.0])
        y = torch.tensor([207, 1000])
        m(x, t, y)  # warm-up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            m(x, t, y)
            times.append(time.perf_counter() - t0)
    med = sorted(times)[reps // 2]
    print(f"torch: {variant} {input_size * 8} px batch 2, {torch.get_num_threads()} threads: "
          f"forward {med:.3f} s (median of {reps}), peak RSS {peak_mib():.0f} MiB")
    print(f"torch_forward_s={med:.4f} torch_peak_mib={peak_mib():.1f}")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["check", "bench"])
    ap.add_argument("folder", nargs="?", default="tests/data/golden/dit")
    ap.add_argument("--variant", default="DiT-XL/2", choices=sorted(VARIANTS))
    ap.add_argument("--input-size", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.mode == "check":
        return check(a.folder)
    return bench(a.variant, a.input_size, a.reps)


if __name__ == "__main__":
    sys.exit(main())
