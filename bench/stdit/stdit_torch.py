#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/stdit/stdit_torch.py - Open-Sora 1.2's STDiT3 forward as our own
torch.nn module, written from ../shared/spec/models.md §4 (not upstream
code), used to check bench/stdit's other side and to write extra test cases.

  stdit_torch.py check DIR...          every DIR/*.safetensors case vs this model
  stdit_torch.py prepare --out FILE    random weights and a request's inputs
  stdit_torch.py bench FILE --out OUT  time the first guided step's forward, write its update

The model takes Open-Sora's state_dict keys, so a golden case's tensors load
as they are.
"""
import argparse
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
          "BOOL": np.bool_, "U8": np.uint8}


def st_load(path):
    """A safetensors file as ({name: np.ndarray}, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    meta = head.pop("__metadata__", {})
    out = {}
    for k, v in head.items():
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + s:8 + n + e], dtype=DTYPES[v["dtype"]]).reshape(
            v["shape"]).copy()
    return out, meta


def st_save(path, tensors, meta):
    names = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.bool_): "BOOL"}
    head, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k])
        b = a.tobytes()
        head[k] = {"dtype": names[a.dtype], "shape": list(a.shape),
                   "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    head["__metadata__"] = meta
    h = json.dumps(head).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def sinusoid(t, dim):
    """TimestepEmbedder.timestep_embedding: [cos | sin] of t * 10000^(-k/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    a = t.double()[:, None] * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)


def pos_embed_2d(dim, hg, wg, scale, base):
    """[sin(c w) cos(c w) sin(r w) cos(r w)], column first, positions scaled."""
    q = dim // 4
    w = 1.0 / 10000 ** (torch.arange(q, dtype=torch.float64) / q)
    r = torch.arange(hg, dtype=torch.float64) / scale * (base / hg)
    c = torch.arange(wg, dtype=torch.float64) / scale * (base / wg)
    rr, cc = torch.meshgrid(r, c, indexing="ij")
    rr, cc = rr.reshape(-1, 1) * w, cc.reshape(-1, 1) * w
    return torch.cat([torch.sin(cc), torch.cos(cc), torch.sin(rr), torch.cos(rr)], dim=-1)


def rope(x, freqs):
    """Interleaved-pair rotation of x [..., n, hd] by position (dim -2) * freqs."""
    n = x.shape[-2]
    ang = torch.arange(n, dtype=torch.float64)[:, None] * freqs.double()[None]
    cos, sin = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
    return out.flatten(-2)


def attend(q, k, v, scale):
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    return torch.matmul(torch.softmax(s, dim=-1), v)


class Mlp(nn.Module):
    def __init__(self, d_in, d_hid, d_out):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hid)
        self.fc2 = nn.Linear(d_hid, d_out)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class EmbedMlp(nn.Module):
    """TimestepEmbedder / SizeEmbedder: keys mlp.0 and mlp.2."""

    def __init__(self, freq, d):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(freq, d), nn.SiLU(), nn.Linear(d, d))
        self.freq = freq

    def forward(self, t, dtype):
        return self.mlp(sinusoid(t, self.freq).to(dtype))


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SelfAttn(nn.Module):
    def __init__(self, d, heads, qk_norm, eps):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        hd = d // heads
        self.q_norm = RMSNorm(hd, eps) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(hd, eps) if qk_norm else nn.Identity()

    def forward(self, x, freqs=None):
        b, n, d = x.shape
        hd = d // self.heads
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k = self.q_norm(q), self.k_norm(k)
        if freqs is not None:
            q, k = rope(q, freqs), rope(k, freqs)
        o = attend(q, k, v, hd ** -0.5)
        return self.proj(o.transpose(1, 2).reshape(b, n, d))


class CrossAttn(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_linear = nn.Linear(d, d)
        self.kv_linear = nn.Linear(d, 2 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x, ys):
        """ys: per sample, its valid caption tokens [len, D]."""
        b, n, d = x.shape
        hd = d // self.heads
        q = self.q_linear(x).view(b, n, self.heads, hd).transpose(1, 2)
        out = []
        for i in range(b):
            if ys[i].shape[0] == 0:
                out.append(torch.zeros(n, d, dtype=x.dtype))
                continue
            k, v = self.kv_linear(ys[i]).view(-1, 2, self.heads, hd).permute(1, 2, 0, 3)
            out.append(attend(q[i], k, v, hd ** -0.5).transpose(0, 1).reshape(n, d))
        return self.proj(torch.stack(out))


class Block(nn.Module):
    def __init__(self, c, temporal):
        super().__init__()
        d = c["hidden_size"]
        self.temporal = temporal
        self.scale_shift_table = nn.Parameter(torch.zeros(6, d))
        self.attn = SelfAttn(d, c["num_heads"], c["qk_norm"], c.get("rmsnorm_eps", 1e-6))
        self.cross_attn = CrossAttn(d, c["num_heads"])
        self.mlp = Mlp(d, int(d * c["mlp_ratio"]), d)
        self.eps = c.get("layernorm_eps", 1e-6)

    def forward(self, x, ys, mods, tg, S, freqs):
        """mods [B, T', 6, D]: per-frame modulation (t_mlp or t0_mlp rows)."""
        b, n, d = x.shape
        m = (self.scale_shift_table[None, None] + mods).unbind(2)
        shift1, scale1, gate1, shift2, scale2, gate2 = [c[:, :, None] for c in m]
        xf = x.view(b, tg, S, d)
        h = F.layer_norm(xf, (d,), eps=self.eps) * (1 + scale1) + shift1
        if self.temporal:
            h = h.permute(0, 2, 1, 3).reshape(b * S, tg, d)
            h = self.attn(h, freqs).view(b, S, tg, d).permute(0, 2, 1, 3)
        else:
            h = self.attn(h.reshape(b * tg, S, d)).view(b, tg, S, d)
        xf = xf + gate1 * h
        xf = xf + self.cross_attn(xf.reshape(b, n, d), ys).view(b, tg, S, d)
        h = F.layer_norm(xf, (d,), eps=self.eps) * (1 + scale2) + shift2
        xf = xf + gate2 * self.mlp(h)
        return xf.reshape(b, n, d)


class FinalLayer(nn.Module):
    def __init__(self, d, p_out):
        super().__init__()
        self.scale_shift_table = nn.Parameter(torch.zeros(2, d))
        self.linear = nn.Linear(d, p_out)


class CaptionEmbedder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.y_proj = Mlp(c["caption_channels"], c["hidden_size"], c["hidden_size"])
        self.register_buffer("y_embedding",
                             torch.zeros(c["model_max_length"], c["caption_channels"]))


class STDiT3(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, self.c = c["hidden_size"], c
        pt, ph, pw = c["patch_size"]
        cin = c["in_channels"]
        self.out_ch = 2 * cin if c.get("pred_sigma", True) else cin
        freq = c.get("frequency_embedding_size", 256)
        self.x_embedder = nn.Module()
        self.x_embedder.proj = nn.Conv3d(cin, d, (pt, ph, pw), (pt, ph, pw))
        self.t_embedder = EmbedMlp(freq, d)
        self.fps_embedder = EmbedMlp(freq, d)
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        self.y_embedder = CaptionEmbedder(c)
        self.spatial_blocks = nn.ModuleList(Block(c, False) for _ in range(c["depth"]))
        self.temporal_blocks = nn.ModuleList(Block(c, True) for _ in range(c["depth"]))
        self.final_layer = FinalLayer(d, pt * ph * pw * self.out_ch)
        hd = d // c["num_heads"]
        self.register_buffer("rope_freqs", 1.0 / 10000 ** (torch.arange(0, hd, 2).double() / hd))

    def load(self, w):
        sd = {k: torch.from_numpy(v) for k, v in w.items() if not k.startswith(("input.", "output."))}
        if "rope.freqs" in sd:
            self.rope_freqs = sd.pop("rope.freqs").double()
        missing, extra = self.load_state_dict(sd, strict=False)
        missing = [k for k in missing if k != "rope_freqs"]
        if missing or extra:
            raise KeyError(f"missing {missing} unexpected {extra}")

    def forward(self, x, timestep, y, mask=None, x_mask=None, fps=None, height=None, width=None,
                taps=None):
        c, dt = self.c, x.dtype
        tap = (lambda k, v: taps.__setitem__(k, v.detach().clone())) if taps is not None else (
            lambda k, v: None)
        d = c["hidden_size"]
        pt, ph, pw = c["patch_size"]
        B, _, T, H, W = x.shape
        tg, hg, wg = -(-T // pt), -(-H // ph), -(-W // pw)
        S = hg * wg
        t_emb = self.t_embedder(timestep, dt)
        fps_emb = self.fps_embedder(fps, dt)
        t = t_emb + fps_emb
        t_mlp = self.t_block(t)
        tap("output.t_freq", sinusoid(timestep, self.t_embedder.freq))
        tap("output.t_emb", t_emb)
        tap("output.fps_emb", fps_emb)
        tap("output.t_mlp", t_mlp)
        mods = t_mlp.view(B, 1, 6, d).expand(B, tg, 6, d)
        tfin = t.view(B, 1, d).expand(B, tg, d)
        if x_mask is not None:
            zero = torch.zeros_like(timestep)
            t0_emb = self.t_embedder(zero, dt)
            t0 = t0_emb + fps_emb
            t0_mlp = self.t_block(t0)
            tap("output.t_freq.call1", sinusoid(zero, self.t_embedder.freq))
            tap("output.t_emb.call1", t0_emb)
            tap("output.t_mlp.call1", t0_mlp)
            sel = x_mask.bool().view(B, tg, 1, 1)
            mods = torch.where(sel, mods, t0_mlp.view(B, 1, 6, d))
            tfin = torch.where(sel.view(B, tg, 1), tfin, t0.view(B, 1, d))
        ye = self.y_embedder.y_proj(y.reshape(B, -1, c["caption_channels"]))
        tap("output.y_embed", ye.view(B, 1, -1, d))
        if mask is None:
            ys = [ye[i] for i in range(B)]
        else:
            mask = mask.repeat(B // mask.shape[0], 1)
            ys = [ye[i][mask[i] != 0] for i in range(B)]
        xp = F.pad(x, (0, wg * pw - W, 0, hg * ph - H, 0, tg * pt - T))
        xe = self.x_embedder.proj(xp).flatten(2).transpose(1, 2)
        tap("output.x_embed", xe)
        base = round(math.sqrt(S))
        scale = math.sqrt(float(height[0]) * float(width[0])) / c["input_sq_size"]
        pos = pos_embed_2d(d, hg, wg, scale, base).to(dt)
        tap("output.pos_emb", pos[None])
        h = (xe.view(B, tg, S, d) + pos[None, None]).view(B, tg * S, d)
        freqs = self.rope_freqs.to(dt)
        for i in range(c["depth"]):
            h = self.spatial_blocks[i](h, ys, mods, tg, S, freqs)
            tap(f"output.spatial_blocks.{i}", h)
            h = self.temporal_blocks[i](h, ys, mods, tg, S, freqs)
            tap(f"output.temporal_blocks.{i}", h)
        fl = self.final_layer
        shift = (fl.scale_shift_table[0][None, None] + tfin)[:, :, None]
        scl = (fl.scale_shift_table[1][None, None] + tfin)[:, :, None]
        hf = F.layer_norm(h.view(B, tg, S, d), (d,), eps=c.get("layernorm_eps", 1e-6))
        out = fl.linear(hf * (1 + scl) + shift).view(B, tg * S, -1)
        tap("output.final_layer", out)
        out = out.view(B, tg, hg, wg, pt, ph, pw, self.out_ch).permute(0, 7, 1, 4, 2, 5, 3, 6)
        out = out.reshape(B, self.out_ch, tg * pt, hg * ph, wg * pw)[:, :, :T, :H, :W]
        return out.float()


def run_case(w, cfg, dtype=torch.float64):
    """Our model on a case's inputs; {output name: np.ndarray}."""
    model = STDiT3(cfg)
    model.load(w)
    model = model.to(dtype).eval()
    g = lambda k: torch.from_numpy(w[k]) if k in w else None
    taps = {}
    with torch.no_grad():
        out = model(g("input.x").to(dtype), g("input.timestep").to(dtype), g("input.y").to(dtype),
                    mask=g("input.mask"), x_mask=g("input.x_mask"), fps=g("input.fps").to(dtype),
                    height=g("input.height"), width=g("input.width"), taps=taps)
    taps["output.forward"] = out
    return {k: v.double().numpy() for k, v in taps.items()}


def rel(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30),
            np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def cmd_check(dirs):
    bad = 0
    for d in dirs:
        for f in sorted(os.listdir(d)):
            if not f.endswith(".safetensors"):
                continue
            w, meta = st_load(os.path.join(d, f))
            if "config" not in meta or "input.x" not in w:
                continue  # not a forward case (e.g. a sampling run)
            got = run_case(w, json.loads(meta["config"]))
            worst = 0.0
            for k in w:
                if k.startswith("output."):
                    if k not in got:
                        print(f"{f}: {k} not computed")
                        bad += 1
                        continue
                    worst = max(worst, *rel(got[k], w[k]))
            ok = worst < 1e-5
            bad += not ok
            print(f"torch.nn check {os.path.join(d, f)}: worst rel error {worst:.2e} "
                  f"{'ok' if ok else 'FAILED'}")
    if bad:
        sys.exit(1)


def rflow_t(i, steps, height, width, frames):
    """RFLOW's transformed timestep i (spec §4.9)."""
    eff = 1 if frames == 1 else max(frames // 17 * 5, 1)
    ratio = math.sqrt(height * width / 512.0 ** 2) * math.sqrt(eff)
    s = 1.0 - i / steps
    return 1000.0 * ratio * s / (1 + (ratio - 1) * s)


def cmd_prepare(a):
    """Random weights (Open-Sora keys) and one request's inputs, for both sides."""
    cfg = {"in_channels": 4, "patch_size": [1, 2, 2], "hidden_size": a.hidden, "depth": a.depth,
           "num_heads": a.heads, "mlp_ratio": 4.0, "pred_sigma": True,
           "caption_channels": a.caption_channels, "model_max_length": a.caption_len,
           "qk_norm": True, "input_sq_size": 512}
    torch.manual_seed(0)
    model = STDiT3(cfg)
    w = {}
    for name, p in model.state_dict().items():
        if name == "rope_freqs":
            w["rope.freqs"] = p.float().numpy()
            continue
        scale = 0.05 if p.ndim == 1 else (1.0 if name.endswith("y_embedding") else
                                          p[0].numel() ** -0.5)
        w[name] = (torch.randn(p.shape) * scale).numpy()
    lat_t = (a.frames // 17) * 5 + -(-(a.frames % 17) // 4)
    w["input.z"] = torch.randn(1, 4, lat_t, a.height // 8, a.width // 8).numpy()
    w["input.y"] = torch.randn(a.caption_len, a.caption_channels).numpy()
    mask = np.zeros(a.caption_len, np.int64)
    mask[:a.caption_len // 2] = 1
    w["input.mask"] = mask
    req = {"width": a.width, "height": a.height, "frames": a.frames, "steps": 30,
           "guidance": 7.0, "fps": 24.0}
    st_save(a.out, w, {"model": "stdit3", "config": json.dumps(cfg), "request": json.dumps(req)})


def cmd_bench(a):
    """Time the forward of the first guided step ([z; z], [caption; null]) and write its update."""
    torch.set_num_threads(a.threads)
    w, meta = st_load(a.case)
    cfg, req = json.loads(meta["config"]), json.loads(meta["request"])
    model = STDiT3(cfg)
    model.load(w)
    model.eval()
    z = torch.from_numpy(w["input.z"])
    cap, mask = torch.from_numpy(w["input.y"]), torch.from_numpy(w["input.mask"])
    null = model.y_embedder.y_embedding
    del w
    H, W, fr = req["height"], req["width"], req["frames"]
    t0, t1 = rflow_t(0, req["steps"], H, W, fr), rflow_t(1, req["steps"], H, W, fr)
    args = dict(mask=torch.stack([mask, mask]), fps=torch.tensor([req["fps"]] * 2),
                height=torch.tensor([float(H)] * 2), width=torch.tensor([float(W)] * 2))
    x, y = torch.cat([z, z]), torch.stack([cap, null])[:, None]
    ts = torch.tensor([t0, t0])
    times = []
    with torch.no_grad():
        model(x, ts, y, **args)  # warm-up, as the C side's
        for _ in range(a.reps):
            start = time.perf_counter()
            out = model(x, ts, y, **args)
            times.append(time.perf_counter() - start)
    v = out[1:, :4] + req["guidance"] * (out[:1, :4] - out[1:, :4])
    z1 = z + v * ((t0 - t1) / 1000.0)
    st_save(a.out, {"output.z1": z1.numpy()}, {"model": "stdit3"})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch: forward {sorted(times)[len(times) // 2]:.3f} s (median of {a.reps}), "
          f"peak RSS {peak:.0f} MiB")
    print(f"torch_forward_s={sorted(times)[len(times) // 2]:.4f} torch_peak_mib={peak:.1f}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("dirs", nargs="+")
    pr = sub.add_parser("prepare")
    pr.add_argument("--out", required=True)
    for k, v in (("hidden", 1152), ("depth", 2), ("heads", 16), ("frames", 17), ("height", 240),
                 ("width", 432), ("caption_len", 300), ("caption_channels", 4096)):
        pr.add_argument("--" + k.replace("_", "-"), type=int, default=v)
    b = sub.add_parser("bench")
    b.add_argument("case")
    b.add_argument("--out", required=True)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    {"check": lambda: cmd_check(a.dirs), "prepare": lambda: cmd_prepare(a),
     "bench": lambda: cmd_bench(a)}[a.cmd]()


if __name__ == "__main__":
    main()
