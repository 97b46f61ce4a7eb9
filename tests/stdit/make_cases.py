#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/stdit/make_cases.py - write tests/data/stdit/{c,d,e}.safetensors:
STDiT3 cases in the golden files' format (../shared/golden/README.md) for
what cases a and b do not cover, computed in float64 by our torch.nn model
(bench/stdit/stdit_torch.py, itself checked against a and b):

  c  x_mask (conditioning frames), no text mask, pred_sigma off, a latent
     7 x 9 (not a multiple of the patch; 15 positions, so degrees 2 and 4
     leave short shares)
  d  one frame, qk_norm off, 2 heads of 24, mlp_ratio 2, a batch of 3 with
     one mask row repeated (upstream's mask.repeat), masked tokens not a prefix
  e  patch (2, 2, 2) over 5 frames (time padded), a sample whose caption is
     all padding but one token
  f  patch (2, 1, 1), 6 heads (degree 3), x_mask all False for one sample
  g  patch (1, 3, 3) over 7 x 10, mlp_ratio 3, 8 heads, 720p pos-emb scale

and tests/data/stdit/rflow_run.safetensors: a whole rectified-flow run
(Open-Sora 1.2's RFLOW loop: timestep transform, guidance on all channels)
of golden case a's model from a given z, for a 64 x 64, 17-frame request.

Run: /usr/bin/python3 tests/stdit/make_cases.py (needs torch and numpy);
ST_CASES_OUT=DIR writes the forward cases there instead.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "stdit"))
import stdit_torch as ref  # noqa: E402

BASE = {"in_channels": 4, "mlp_ratio": 4.0, "pred_sigma": True, "qk_norm": True,
        "input_sq_size": 512, "class_dropout_prob": 0.1, "frequency_embedding_size": 256,
        "layernorm_eps": 1e-6, "rmsnorm_eps": 1e-6, "depth": 2}


def weights(model, gen):
    """Every Linear/Conv N(0, 1/fan_in), biases N(0, 0.05^2), tables and norms non-trivial."""
    w = {}
    for name, p in model.state_dict().items():
        if name == "rope_freqs":
            continue
        if name.endswith("norm.weight"):
            v = 1 + 0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64)
        elif p.ndim == 1:
            v = 0.05 * torch.randn(p.shape, generator=gen, dtype=torch.float64)
        else:
            v = torch.randn(p.shape, generator=gen, dtype=torch.float64) / p[0].numel() ** 0.5
        w[name] = v.float().numpy()
    hd = model.c["hidden_size"] // model.c["num_heads"]
    w["rope.freqs"] = (1.0 / 10000 ** (np.arange(0, hd, 2) / hd)).astype(np.float32)
    return w


def make(name, cfg, B, T, H, W, seed, mask=None, x_mask=None, fps=24.0, px=(240, 426)):
    gen = torch.Generator().manual_seed(seed)
    c = dict(BASE, **cfg)
    c.update({"B": B, "T": T, "H": H, "W": W})
    model = ref.STDiT3(c)
    w = weights(model, gen)
    L, C = c["model_max_length"], c["caption_channels"]
    rnd = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64).float().numpy()
    w["input.x"] = rnd(B, c["in_channels"], T, H, W)
    w["input.timestep"] = (np.linspace(950, 120, B)).astype(np.float32)
    w["input.y"] = rnd(B, 1, L, C)
    w["input.fps"] = np.full(B, fps, np.float32)
    w["input.height"] = np.full(B, px[0], np.float32)
    w["input.width"] = np.full(B, px[1], np.float32)
    if mask is not None:
        w["input.mask"] = np.array(mask, np.int64)
    if x_mask is not None:
        w["input.x_mask"] = np.array(x_mask, np.bool_)
    outs = ref.run_case(w, c)
    for k, v in outs.items():
        w[k] = v.astype(np.float32)
    meta = {"model": "stdit3", "case": name, "config": json.dumps(c),
            "calls": json.dumps({"forward": "model(input.x, input.timestep, input.y, "
                                 "mask=input.mask, x_mask=input.x_mask, fps=input.fps, "
                                 "height=input.height, width=input.width)"}),
            "generator": "tests/stdit/make_cases.py (bench/stdit/stdit_torch.py, float64)"}
    out = os.path.join(os.environ.get("ST_CASES_OUT") or os.path.join(os.path.dirname(__file__), "..", "data", "stdit"), name + ".safetensors")
    ref.st_save(out, w, meta)
    print("wrote", out)


def rflow_timesteps(steps, height, width, frames):
    """RFLOW's t_i = (1 - i/steps) 1000 through timestep_transform (spec §4.9)."""
    eff = 1 if frames == 1 else frames // 17 * 5
    ratio = math.sqrt(height * width / 512.0 ** 2) * math.sqrt(eff)
    out = []
    for i in range(steps):
        s = 1.0 - i / steps
        out.append(1000.0 * ratio * s / (1 + (ratio - 1) * s))
    return out


def rflow_run():
    here = os.path.dirname(__file__)
    w, meta = ref.st_load(os.path.join(here, "..", "data", "golden", "stdit3", "a.safetensors"))
    c = json.loads(meta["config"])
    model = ref.STDiT3(c)
    model.load(w)
    model = model.double().eval()
    gen = torch.Generator().manual_seed(34)
    steps, guidance, frames, height, width, fps = 5, 7.0, 17, 64, 64, 24.0
    L, C = c["model_max_length"], c["caption_channels"]
    z0 = torch.randn(1, 4, 5, height // 8, width // 8, generator=gen, dtype=torch.float64).float()
    y = torch.randn(L, C, generator=gen, dtype=torch.float64).float()
    mask = torch.tensor([1, 1, 1, 1, 1, 0, 0, 0], dtype=torch.int64)
    null = torch.from_numpy(w["y_embedder.y_embedding"]).double()
    ts = rflow_timesteps(steps, height, width, frames)
    z = z0.double()
    with torch.no_grad():
        for i, t in enumerate(ts):
            out = model(torch.cat([z, z]), torch.tensor([t, t], dtype=torch.float64),
                        torch.stack([y.double(), null])[:, None], mask=torch.stack([mask, mask]),
                        fps=torch.tensor([fps, fps], dtype=torch.float64),
                        height=torch.tensor([height, height]), width=torch.tensor([width, width]))
            v = out.double()[:, :4]
            v = v[1:] + guidance * (v[:1] - v[1:])
            dt = (t - ts[i + 1] if i < steps - 1 else t) / 1000.0
            z = z + v * dt
    req = {"width": width, "height": height, "frames": frames, "steps": steps,
           "guidance": guidance, "fps": fps}
    out = os.path.join(here, "..", "data", "stdit", "rflow_run.safetensors")
    ref.st_save(out, {"input.z": z0.numpy(), "input.y": y.numpy(), "input.mask": mask.numpy(),
                      "output.latent": z.float().numpy()},
                {"model": "stdit3", "case": "rflow_run", "weights": "golden/stdit3/a",
                 "request": json.dumps(req),
                 "generator": "tests/stdit/make_cases.py (float64)"})
    print("wrote", out)


def main():
    make("c", {"patch_size": [1, 2, 2], "hidden_size": 64, "num_heads": 4, "pred_sigma": False,
               "caption_channels": 32, "model_max_length": 8},
         B=2, T=3, H=5, W=9, seed=31, x_mask=[[1, 0, 1], [0, 1, 1]])
    make("d", {"patch_size": [1, 2, 2], "hidden_size": 48, "num_heads": 2, "qk_norm": False,
               "mlp_ratio": 2.0, "caption_channels": 16, "model_max_length": 6},
         B=3, T=1, H=8, W=6, seed=32, mask=[[1, 0, 1, 1, 0, 1]], fps=120.0, px=(64, 48))
    make("e", {"patch_size": [2, 2, 2], "hidden_size": 64, "num_heads": 4,
               "caption_channels": 24, "model_max_length": 5},
         B=2, T=5, H=6, W=6, seed=33, mask=[[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]],
         x_mask=[[1, 1, 0], [1, 1, 1]], px=(48, 48))
    make("f", {"patch_size": [2, 1, 1], "hidden_size": 48, "num_heads": 6, "depth": 1,
               "caption_channels": 8, "model_max_length": 3},
         B=2, T=3, H=4, W=4, seed=2, mask=[[1, 1, 0]], x_mask=[[1, 0], [0, 0]])
    make("g", {"patch_size": [1, 3, 3], "hidden_size": 64, "num_heads": 8, "mlp_ratio": 3.0,
               "caption_channels": 16, "model_max_length": 6},
         B=2, T=4, H=7, W=10, seed=3, mask=[[0, 1, 0, 1, 1, 0], [1, 1, 1, 1, 1, 1]],
         px=(720, 1280), fps=120.0)
    rflow_run()


if __name__ == "__main__":
    main()
