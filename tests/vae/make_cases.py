#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/vae/make_cases.py - extra reference cases for vae3d, in the golden files'
format, for configurations the published goldens do not cover: other channel
multipliers, level counts, block counts, GroupNorm group counts, attention in an up
level, 3 latent channels, odd sizes, 4x time compression, single-frame video.

The references are our own torch.nn models (bench/vae/vae_torch.py for the SD
decoder, TemporalVAE below from spec/models.md §5), run in float64; before writing
anything both are checked against the published golden cases. The files are
committed under tests/data/vae_cases/; rerun only to change them:

  /usr/bin/python3 tests/vae/make_cases.py check   # references vs the goldens
  /usr/bin/python3 tests/vae/make_cases.py write   # (re)write tests/data/vae_cases/
"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "bench", "vae"))
import vae_torch  # noqa: E402  (the SD decoder and the safetensors helpers)

OUT = os.path.join(ROOT, "tests", "data", "vae_cases")


class CConv(nn.Module):
    """CausalConv3d: time zero-padded in front by kt - stride, space by k // 2 each side."""

    def __init__(self, cin, cout, k, stride_t=1, bias=True):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, k, stride=(stride_t, 1, 1), bias=bias)
        self.pt, self.ps = k - stride_t, k // 2

    def forward(self, x):
        return self.conv(F.pad(x, (self.ps, self.ps, self.ps, self.ps, self.pt, 0)))


class TRes(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = CConv(cin, cout, 3, bias=False)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = CConv(cout, cout, 3, bias=False)
        self.conv3 = CConv(cin, cout, 1, bias=False) if cin != cout else None

    def forward(self, x):
        h = self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))
        return h + (self.conv3(x) if self.conv3 is not None else x)


class TEncoder(nn.Module):
    def __init__(self, io, z, fil, mult, td, nres, groups):
        super().__init__()
        self.conv_in = CConv(io, fil, 3, bias=False)
        self.block_res_blocks, self.conv_blocks = nn.ModuleList(), nn.ModuleList()
        prev = fil
        for i, m in enumerate(mult):
            c = fil * m
            blocks = nn.ModuleList()
            for _ in range(nres):
                blocks.append(TRes(prev, c, groups))
                prev = c
            self.block_res_blocks.append(blocks)
            if i < len(mult) - 1:
                self.conv_blocks.append(CConv(c, c, 3, stride_t=2) if td[i] else nn.Identity())
        self.res_blocks = nn.ModuleList(TRes(prev, prev, groups) for _ in range(nres))
        self.norm1 = nn.GroupNorm(groups, prev)
        self.conv2 = CConv(prev, 2 * z, 1)

    def forward(self, x):
        x = self.conv_in(x)
        for i, blocks in enumerate(self.block_res_blocks):
            for b in blocks:
                x = b(x)
            if i < len(self.conv_blocks):
                x = self.conv_blocks[i](x)
        for b in self.res_blocks:
            x = b(x)
        return self.conv2(F.silu(self.norm1(x)))


class TDecoder(nn.Module):
    def __init__(self, io, z, fil, mult, td, nres, groups):
        super().__init__()
        self.td = td
        c = fil * mult[-1]
        self.conv1 = CConv(z, c, 3)
        self.res_blocks = nn.ModuleList(TRes(c, c, groups) for _ in range(nres))
        levels, convs = [], []
        for i in reversed(range(len(mult))):
            blocks = nn.ModuleList()
            for _ in range(nres):
                blocks.append(TRes(c, fil * mult[i], groups))
                c = fil * mult[i]
            levels.insert(0, blocks)
            if i > 0:
                convs.insert(0, CConv(c, 2 * c, 3) if td[i - 1] else nn.Identity())
        self.block_res_blocks, self.conv_blocks = nn.ModuleList(levels), nn.ModuleList(convs)
        self.norm1 = nn.GroupNorm(groups, c)
        self.conv_out = CConv(c, io, 3)

    def forward(self, x, t):
        x = t("decoder.conv1", self.conv1(x))
        for j, b in enumerate(self.res_blocks):
            x = t("decoder.res_blocks.%d" % j, b(x))
        for i in reversed(range(len(self.block_res_blocks))):
            for j, b in enumerate(self.block_res_blocks[i]):
                x = t("decoder.block_res_blocks.%d.%d" % (i, j), b(x))
            if i > 0:
                x = t("decoder.conv_blocks.%d" % (i - 1), self.conv_blocks[i - 1](x))
                if self.td[i - 1]:  # channel 2c + r at frame t -> channel c at frame 2t + r
                    n, c2, tt, h, w = x.shape
                    x = x.reshape(n, c2 // 2, 2, tt, h, w).transpose(2, 3).reshape(n, c2 // 2, 2 * tt, h, w)
        return self.conv_out(F.silu(self.norm1(x)))


class TemporalVAE(nn.Module):
    def __init__(self, io, z, fil, mult, td, nres, groups):
        super().__init__()
        self.f = 2 ** sum(1 for x in td if x)
        self.encoder = TEncoder(io, z, fil, mult, td, nres, groups)
        self.quant_conv = CConv(2 * z, 2 * z, 1)
        self.post_quant_conv = CConv(z, z, 1)
        self.decoder = TDecoder(io, z, fil, mult, td, nres, groups)

    def decode(self, z, num_frames, trace):
        def t(name, x):
            trace[name] = x
            return x

        x = self.decoder(t("post_quant_conv", self.post_quant_conv(z)), t)
        t("decoder", x)
        pad = 0 if num_frames % self.f == 0 else self.f - num_frames % self.f
        return t("decode", x[:, :, pad:])

    def encode(self, x, trace):
        pad = (self.f - x.shape[2] % self.f) % self.f
        e = self.encoder(F.pad(x, (0, 0, 0, 0, pad, 0)))
        trace["encoder"] = e
        m = trace["moments"] = self.quant_conv(e)
        half = m.shape[1] // 2
        trace["posterior_mean"] = m[:, :half]
        trace["posterior_logvar"] = m[:, half:].clamp(-30.0, 20.0)
        return m


class SDEncoder(nn.Module):
    """ldm's Encoder (attention after the blocks of listed resolutions) and quant_conv."""

    def __init__(self, ch, mult, nres, in_ch, z, groups, attn_res, resolution):
        super().__init__()
        eps, Res, Attn = 1e-6, vae_torch.Res, vae_torch.Attn
        self.quant_conv = nn.Conv2d(2 * z, 2 * z, 1)
        self.encoder = e = nn.Module()
        e.conv_in = nn.Conv2d(in_ch, ch, 3, padding=1)
        e.down = nn.ModuleList()
        c, res = ch, resolution
        for i, m in enumerate(mult):
            lvl = nn.Module()
            lvl.block, lvl.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(nres):
                lvl.block.append(Res(c, ch * m, groups, eps))
                c = ch * m
                if res in attn_res:
                    lvl.attn.append(Attn(c, groups, eps))
            if i < len(mult) - 1:
                lvl.downsample = nn.Module()
                lvl.downsample.conv = nn.Conv2d(c, c, 3, stride=2)
                res //= 2
            e.down.append(lvl)
        e.mid = nn.Module()
        e.mid.block_1, e.mid.attn_1, e.mid.block_2 = Res(c, c, groups, eps), Attn(c, groups, eps), Res(c, c, groups, eps)
        e.norm_out = nn.GroupNorm(groups, c, eps=eps)
        e.conv_out = nn.Conv2d(c, 2 * z, 3, padding=1)

    def encode(self, x, trace):
        e = self.encoder
        h = trace["encoder.conv_in"] = e.conv_in(x)
        for i, lvl in enumerate(e.down):
            for j, b in enumerate(lvl.block):
                h = trace["encoder.down.%d.block.%d" % (i, j)] = b(h)
                if len(lvl.attn):
                    h = trace["encoder.down.%d.attn.%d" % (i, j)] = lvl.attn[j](h)
            if hasattr(lvl, "downsample"):
                h = trace["encoder.down.%d.downsample" % i] = lvl.downsample.conv(F.pad(h, (0, 1, 0, 1)))
        h = e.mid.block_2(e.mid.attn_1(e.mid.block_1(h)))
        trace["encoder.mid.block_2"] = h
        h = trace["encoder"] = e.conv_out(F.silu(e.norm_out(h)))
        m = trace["moments"] = self.quant_conv(h)
        half = m.shape[1] // 2
        trace["posterior_mean"] = m[:, :half]
        trace["posterior_logvar"] = m[:, half:].clamp(-30.0, 20.0)
        return m


def tv_from(tensors, meta):
    c = json.loads(meta["config"])
    return TemporalVAE(c["in_out_channels"], c["embed_dim"], c["filters"], c["channel_multipliers"],
                       c["temporal_downsample"], c["num_res_blocks"], c["num_groups"])


def load(model, tensors):
    sd = model.state_dict()
    for k in sd:
        if k in tensors:
            sd[k] = torch.from_numpy(tensors[k].copy())
    model.load_state_dict(sd)
    return model.double().eval()


def rel(a, b):
    return float((a.float() - b).abs().max() / b.abs().max())


def check():
    """Both references against the published goldens (the files copied into tests/data/golden)."""
    gold = os.path.join(ROOT, "tests", "data", "golden")
    vae_torch.check(os.path.join(gold, "sd_vae_decoder"))
    worst = 0.0
    for name in ("a_decode", "b_decode", "a_encode", "b_encode"):
        t, meta = vae_torch.st_read(os.path.join(gold, "vae_temporal", name + ".safetensors"))
        m, trace = load(tv_from(t, meta), t), {}
        with torch.no_grad():
            if "input.z" in t:
                m.decode(torch.from_numpy(t["input.z"].copy()).double(), int(t["input.num_frames"][0]), trace)
            else:
                m.encode(torch.from_numpy(t["input.x"].copy()).double(), trace)
        for k in t:
            if k.startswith("output."):
                e = rel(trace[k[7:]], torch.from_numpy(t[k].copy()))
                worst = max(worst, e)
                if e >= 1e-5:
                    sys.exit("make_cases.py: temporal %s: %s rel_err_inf %.2e" % (name, k, e))
    print("temporal reference matches the golden cases, worst rel_err_inf %.2e" % worst)


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.2 - 0.1)
            elif p.dim() == 1:
                p.copy_(torch.rand(p.shape, generator=g) * 0.4 + 0.8)
            else:
                fan = p.shape[1] * p[0, 0].numel()
                p.copy_(torch.randn(p.shape, generator=g) * (1.0 / fan) ** 0.5)


def write(path, model, keep, inputs, trace, meta):
    t = {k: v.detach().float().numpy() for k, v in model.state_dict().items() if k.startswith(keep)}
    t.update({k: v for k, v in inputs.items()})
    t.update({"output." + k: v.detach().float().numpy() for k, v in trace.items()})
    write_mixed(path, t, meta)
    print("%s: %d tensors, %d bytes" % (os.path.basename(path), len(t), os.path.getsize(path)))


def write_mixed(path, tensors, meta):
    """safetensors with F32 and I64 tensors (input.num_frames is I64)."""
    head, off, blobs = {"__metadata__": meta}, 0, []
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k])
        b = a.tobytes()
        head[k] = {"dtype": "I64" if a.dtype == np.int64 else "F32", "shape": list(a.shape),
                   "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(head).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h)
        for b in blobs:
            f.write(b)


def sd_case(name, seed, ch, mult, nres, groups, z_ch, attn, res, shape):
    m = vae_torch.Decoder(ch, mult, nres, z_ch, 3, groups, 1e-6, attn, res)
    randomize(m, seed)
    m = m.double().eval()
    z = torch.randn(shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    trace = {}
    with torch.no_grad():
        m(z, trace)
    cfg = {"ddconfig": {"ch": ch, "ch_mult": mult, "num_res_blocks": nres, "z_channels": z_ch,
                        "out_ch": 3, "attn_resolutions": attn, "resolution": res},
           "embed_dim": z_ch, "groupnorm_groups": groups, "groupnorm_eps": 1e-6,
           "z_shape": list(shape)}
    meta = {"model": "sd_vae_decoder", "case": name, "config": json.dumps(cfg),
            "generator": "tests/vae/make_cases.py (our torch.nn reference, float64)"}
    write(os.path.join(OUT, "sd_%s.safetensors" % name), m, ("post_quant_conv", "decoder"),
          {"input.z": z.float().numpy()}, trace, meta)


def tv_case(name, seed, fil, mult, td, nres, groups, z_shape, frames, x_shape):
    m = TemporalVAE(4, 4, fil, mult, td, nres, groups)
    randomize(m, seed)
    m = m.double().eval()
    g = torch.Generator().manual_seed(seed + 1)
    z = torch.randn(z_shape, generator=g, dtype=torch.float64)
    x = torch.randn(x_shape, generator=g, dtype=torch.float64)
    cfg = {"in_out_channels": 4, "latent_embed_dim": 4, "embed_dim": 4, "filters": fil,
           "channel_multipliers": mult, "temporal_downsample": td, "num_res_blocks": nres,
           "num_groups": groups, "groupnorm_eps": 1e-5, "time_downsample_factor": m.f}
    base = {"model": "vae_temporal", "case": name, "config": json.dumps(cfg),
            "generator": "tests/vae/make_cases.py (our torch.nn reference, float64)"}
    trace = {}
    with torch.no_grad():
        m.decode(z, frames, trace)
    write(os.path.join(OUT, "tv_%s_decode.safetensors" % name), m, ("post_quant_conv", "decoder"),
          {"input.z": z.float().numpy(), "input.num_frames": np.array([frames], dtype=np.int64)},
          trace, dict(base, path="decode"))
    trace = {}
    with torch.no_grad():
        m.encode(x, trace)
    write(os.path.join(OUT, "tv_%s_encode.safetensors" % name), m, ("encoder", "quant_conv"),
          {"input.x": x.float().numpy()}, trace, dict(base, path="encode"))


def sd_enc_case(name, seed, ch, mult, nres, groups, attn, res, shape):
    m = SDEncoder(ch, mult, nres, shape[1], 4, groups, attn, res)
    randomize(m, seed)
    m = m.double().eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    trace = {}
    with torch.no_grad():
        m.encode(x, trace)
    cfg = {"ddconfig": {"ch": ch, "ch_mult": mult, "num_res_blocks": nres, "z_channels": 4,
                        "in_channels": shape[1], "double_z": True, "attn_resolutions": attn,
                        "resolution": res},
           "embed_dim": 4, "groupnorm_groups": groups, "groupnorm_eps": 1e-6}
    meta = {"model": "sd_vae_decoder", "case": name, "config": json.dumps(cfg), "path": "encode",
            "generator": "tests/vae/make_cases.py (our torch.nn reference, float64)"}
    write(os.path.join(OUT, "sd_%s_encode.safetensors" % name), m, ("encoder", "quant_conv"),
          {"input.x": x.float().numpy()}, trace, meta)


def write_all():
    os.makedirs(OUT, exist_ok=True)
    # the SD encoder (no published golden): 3 levels, 2 blocks, attention at the coarsest
    sd_enc_case("e", 60, 8, [1, 2, 2], 2, 8, [4], 16, (1, 3, 16, 12))
    # three levels, 3 blocks a level, 8 groups, attention in the coarsest up level, odd sizes
    sd_case("c", 10, 8, [1, 2, 4], 2, 8, 4, [4], 16, (1, 4, 5, 7))
    # one block a level, 16 groups, 3 latent channels, batch 2
    sd_case("d", 20, 32, [1, 1], 0, 16, 3, [], 16, (2, 3, 3, 4))
    # no time compression at the first transition, 2 blocks, 8 groups; 5 of 6 frames
    tv_case("c", 30, 8, [1, 2, 2], [False, True], 2, 8, (1, 4, 3, 5, 6), 5, (1, 4, 5, 5, 6))
    # single-frame video: one latent frame decodes to 2, the first dropped
    tv_case("d", 40, 16, [1, 2], [True], 1, 16, (1, 4, 1, 4, 4), 1, (1, 4, 1, 4, 4))
    # 4x time compression: 2 latent frames, 7 frames wanted
    tv_case("e", 50, 8, [1, 2, 2], [True, True], 1, 8, (1, 4, 2, 4, 3), 7, (1, 4, 7, 4, 3))


if __name__ == "__main__":
    torch.set_default_dtype(torch.float32)
    check()
    if len(sys.argv) > 1 and sys.argv[1] == "write":
        write_all()
