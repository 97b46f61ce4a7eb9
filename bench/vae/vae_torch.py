#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/vae/vae_torch.py - the reference side of bench/vae/run: the SD kl-f8
VAE decoder written with torch.nn from spec/models.md §2 (our own short code,
ldm key names), checked against the golden cases before it is timed.

  vae_torch.py check DIR          compare with DIR/{a,b}.safetensors (every output,
                                  rel_err_inf < 1e-4)
  vae_torch.py gen FILE [--size 64] [--seed 0]
                                  write SD's decoder (ch 128, ch_mult 1,2,4,4, 2+1 blocks
                                  per level) with random weights and an input latent
                                  [1, 4, size, size] to FILE, for both sides
  vae_torch.py bench FILE [--reps 3] [--threads 2] [--ours OUT]
                                  time the decode of FILE's latent; prints torch_decode_s
                                  and torch_cpu_s (medians: wall, process CPU) and
                                  torch_peak_mib (VmHWM, weights included);
                                  with --ours, the C side's output is compared too
"""
import argparse
import json
import struct
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "I64": np.int64, "F16": np.float16}


def st_read(path):
    """A safetensors file as ({name: np.ndarray}, metadata)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    meta = head.pop("__metadata__", {})
    out = {}
    for k, v in head.items():
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
    return out, meta


def st_write(path, tensors, meta):
    head, off, blobs = {"__metadata__": meta}, 0, []
    for k in sorted(tensors):
        b = np.ascontiguousarray(tensors[k], dtype=np.float32).tobytes()
        head[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(head).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


class Res(nn.Module):
    def __init__(self, cin, cout, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.nin_shortcut(x) if self.nin_shortcut is not None else x)


class Attn(nn.Module):
    """One head over all h*w positions; ldm keeps q, k, v, proj_out as 1x1 convs."""

    def __init__(self, c, groups, eps):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c, eps=eps)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).reshape(b, c, h * w).transpose(1, 2)
        k = self.k(n).reshape(b, c, h * w)
        v = self.v(n).reshape(b, c, h * w).transpose(1, 2)
        a = torch.softmax(torch.bmm(q, k) * c ** -0.5, dim=2)
        o = torch.bmm(a, v).transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj_out(o)


class Up(nn.Module):
    def __init__(self, blocks, up, attns=()):
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attns)
        if up is not None:
            self.upsample = nn.Module()
            self.upsample.conv = up


class Decoder(nn.Module):
    """post_quant_conv + ldm Decoder (attn_resolutions empty: attention only in the middle)."""

    def __init__(self, ch, ch_mult, n_res, z=4, out_ch=3, groups=32, eps=1e-6, attn_res=(),
                 resolution=256):
        super().__init__()
        self.post_quant_conv = nn.Conv2d(z, z, 1)
        self.decoder = nn.Module()
        d = self.decoder
        c = ch * ch_mult[-1]
        d.conv_in = nn.Conv2d(z, c, 3, padding=1)
        d.mid = nn.Module()
        d.mid.block_1 = Res(c, c, groups, eps)
        d.mid.attn_1 = Attn(c, groups, eps)
        d.mid.block_2 = Res(c, c, groups, eps)
        ups = []
        res = resolution // 2 ** (len(ch_mult) - 1)
        for lvl in reversed(range(len(ch_mult))):
            blocks, attns = [], []
            for _ in range(n_res + 1):
                blocks.append(Res(c, ch * ch_mult[lvl], groups, eps))
                c = ch * ch_mult[lvl]
                if res in attn_res:  # ldm: attention after each block of this resolution
                    attns.append(Attn(c, groups, eps))
            ups.insert(0, Up(blocks, nn.Conv2d(c, c, 3, padding=1) if lvl else None, attns))
            res *= 2
        d.up = nn.ModuleList(ups)
        d.norm_out = nn.GroupNorm(groups, c, eps=eps)
        d.conv_out = nn.Conv2d(c, out_ch, 3, padding=1)

    def forward(self, z, trace=None):
        d = self.decoder

        def t(name, x):
            if trace is not None:
                trace[name] = x
            return x

        h = t("post_quant_conv", self.post_quant_conv(z))
        h = t("decoder.conv_in", d.conv_in(h))
        h = t("decoder.mid.block_1", d.mid.block_1(h))
        h = t("decoder.mid.attn_1", d.mid.attn_1(h))
        h = t("decoder.mid.block_2", d.mid.block_2(h))
        for lvl in reversed(range(len(d.up))):
            for j, blk in enumerate(d.up[lvl].block):
                h = t("decoder.up.%d.block.%d" % (lvl, j), blk(h))
                if len(d.up[lvl].attn):
                    h = t("decoder.up.%d.attn.%d" % (lvl, j), d.up[lvl].attn[j](h))
            if lvl:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
                h = t("decoder.up.%d.upsample" % lvl, d.up[lvl].upsample.conv(h))
        return t("decode", d.conv_out(F.silu(d.norm_out(h))))


def from_file(tensors, meta):
    cfg = json.loads(meta["config"])
    dd = cfg["ddconfig"]
    m = Decoder(dd["ch"], dd["ch_mult"], dd["num_res_blocks"], dd["z_channels"], dd["out_ch"],
                cfg.get("groupnorm_groups", 32), cfg.get("groupnorm_eps", 1e-6),
                dd.get("attn_resolutions", []), dd.get("resolution", 256))
    sd = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()
          if not k.startswith(("input.", "output."))}
    m.load_state_dict(sd, strict=True)
    return m.eval()


def rel_inf(a, b):
    return float((a - b).abs().max() / b.abs().max())


def check(folder):
    worst = 0.0
    for case in ("a", "b"):
        t, meta = st_read("%s/%s.safetensors" % (folder, case))
        m, trace = from_file(t, meta), {}
        with torch.no_grad():
            m(torch.from_numpy(t["input.z"].copy()), trace)
        outs = [k for k in t if k.startswith("output.")]
        for k in outs:
            e = rel_inf(trace[k[7:]].float(), torch.from_numpy(t[k].copy()))
            worst = max(worst, e)
            if e >= 1e-4:
                sys.exit("vae_torch.py: %s case %s: %s rel_err_inf %.2e" % (folder, case, k, e))
    print("torch reference matches the golden cases: %d outputs each, worst rel_err_inf %.2e"
          % (len(outs), worst))


def gen(path, size, seed):
    """SD's decoder with random weights scaled so activations stay near 1."""
    torch.manual_seed(seed)
    m = Decoder(128, [1, 2, 4, 4], 2)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                p.uniform_(-0.1, 0.1)
            elif p.dim() == 1:  # GroupNorm scale
                p.uniform_(0.8, 1.2)
            else:
                fan_in = p.shape[1] * p[0, 0].numel()
                p.normal_(0.0, (1.0 / fan_in) ** 0.5)
    t = {k: v.numpy() for k, v in m.state_dict().items()}
    t["input.z"] = torch.randn(1, 4, size, size, generator=torch.Generator().manual_seed(seed + 1)).numpy()
    cfg = {"ddconfig": {"ch": 128, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "z_channels": 4,
                        "out_ch": 3}, "groupnorm_groups": 32, "groupnorm_eps": 1e-6}
    st_write(path, t, {"config": json.dumps(cfg), "model": "sd_vae_decoder"})


def peak_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    return 0.0


def bench(path, reps, threads, ours):
    torch.set_num_threads(threads)
    t, meta = st_read(path)
    m = from_file(t, meta)
    z = torch.from_numpy(t["input.z"].copy())
    times, cpu = [], []
    with torch.no_grad():
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            y = m(z)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    times.sort()
    cpu.sort()
    print("torch decode %s: %s s" % (list(y.shape), " ".join("%.3f" % s for s in times)))
    if ours:
        o, _ = st_read(ours)
        e = rel_inf(torch.from_numpy(o["output.decode"].copy()), y)
        print("ours vs torch on this latent: rel_err_inf %.2e" % e)
        if e >= 1e-4:
            sys.exit("vae_torch.py: our decode differs from torch's (%.2e)" % e)
    print("torch_decode_s=%.4f torch_cpu_s=%.4f torch_peak_mib=%.1f"
          % (times[len(times) // 2], cpu[len(cpu) // 2], peak_mib()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["check", "gen", "bench"])
    ap.add_argument("path")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ours", default=None)
    a = ap.parse_args()
    if a.cmd == "check":
        check(a.path)
    elif a.cmd == "gen":
        gen(a.path, a.size, a.seed)
    else:
        bench(a.path, a.reps, a.threads, a.ours)


if __name__ == "__main__":
    main()
