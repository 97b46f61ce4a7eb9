#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/dit/make_cases.py - write the extra DiT reference cases in
tests/data/dit/ (golden format, ../shared/golden/README.md) for the
behaviours the two upstream cases do not reach: patch 4, learn_sigma off,
an input size that is not a multiple of the patch (upstream's conv drops the
remainder, the output is G*p square), token counts that no degree > 1
divides, mlp_ratio != 4, no null class, another channel count; and a whole
DDIM (eta 0) sampling run of golden case a's model as sample.py would loop it.

The outputs come from bench/dit/dit_torch.py's DiT run in float64 on the
float32 weights and inputs, the way the golden files were made; that model
is itself checked against the upstream cases (`dit_torch.py check`) first.
Needs Debian's python3-torch; the generated files are committed, so the
tests do not.

  /usr/bin/python3 tests/dit/make_cases.py [OUTDIR]
"""
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "dit"))
import dit_torch  # noqa: E402

CASES = {
    # 12 / 4 -> 3x3 = 9 tokens: padded at degrees 2 and 4; learn_sigma off
    "c": dict(input_size=12, patch_size=4, in_channels=4, hidden_size=48, depth=2, num_heads=4,
              mlp_ratio=2.0, num_classes=5, class_dropout_prob=0.1, learn_sigma=False,
              batch=2, cfg=True),
    # 9 / 2 -> the last row and column are dropped: 16 tokens, output 8x8; 3 channels,
    # no null class (so no guidance), mlp_ratio 2.5
    "d": dict(input_size=9, patch_size=2, in_channels=3, hidden_size=32, depth=1, num_heads=2,
              mlp_ratio=2.5, num_classes=3, class_dropout_prob=0.0, learn_sigma=True,
              batch=3, cfg=False),
}


def write_safetensors(path, tensors, meta):
    names = sorted(tensors)
    header, blobs, off = {"__metadata__": meta}, [], 0
    for k in names:
        a = np.ascontiguousarray(tensors[k])
        dt = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        header[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make(name, cfg, out_dir, seed):
    g = torch.Generator().manual_seed(seed)
    m = dit_torch.DiT(cfg["input_size"], cfg["patch_size"], cfg["in_channels"],
                      cfg["hidden_size"], cfg["depth"], cfg["num_heads"], cfg["mlp_ratio"],
                      cfg["num_classes"], cfg["class_dropout_prob"] > 0, cfg["learn_sigma"])
    state = {}
    for k, v in m.state_dict().items():
        if k == "pos":
            state[k] = v
        elif k.endswith("bias"):
            state[k] = torch.randn(v.shape, generator=g) * 0.05
        elif k.startswith("table"):
            state[k] = torch.randn(v.shape, generator=g) * 0.5
        else:
            state[k] = torch.randn(v.shape, generator=g) / np.sqrt(v[0].numel())
    m.load_state_dict(state)
    m = m.eval()
    n, c, size = cfg["batch"], cfg["in_channels"], cfg["input_size"]
    rows = cfg["num_classes"] + (cfg["class_dropout_prob"] > 0)
    x = torch.randn(n, c, size, size, generator=g)
    t = torch.randint(0, 1000, (n,), generator=g).float()
    y = torch.randint(0, rows, (n,), generator=g)
    tensors = {dit_torch.upstream_name(k): v.float().numpy() for k, v in state.items()}
    tensors.update({"input.x": x.numpy(), "input.t": t.numpy(), "input.y": y.numpy()})
    md = m.double()
    with torch.no_grad():
        rec = {}
        tensors["output.forward"] = md(x.double(), t, y, rec).float().numpy()
        for k, v in rec.items():
            tensors[f"output.{k}"] = v.float().numpy()
        if cfg["cfg"]:
            half = torch.randn(n // 2, c, size, size, generator=g)
            cx = torch.cat([half, half])
            ct = torch.randint(0, 1000, (n // 2,), generator=g).float().repeat(2)
            cy = torch.cat([torch.randint(0, cfg["num_classes"], (n // 2,), generator=g),
                            torch.full((n // 2,), cfg["num_classes"])])
            s = torch.tensor([2.5])
            tensors.update({"input.cfg_x": cx.numpy(), "input.cfg_t": ct.numpy(),
                            "input.cfg_y": cy.numpy(), "input.cfg_scale": s.numpy()})
            tensors["output.forward_with_cfg"] = md.forward_with_cfg(
                cx.double(), ct, cy, 2.5).float().numpy()
    conf = {k: v for k, v in cfg.items() if k != "cfg"}
    conf.update(frequency_embedding_size=256, layernorm_eps=1e-6, gelu="tanh",
                out_channels=m.out_ch, num_patches=m.grid ** 2)
    meta = {"model": "dit", "case": name, "config": json.dumps(conf, sort_keys=True),
            "generator": "tests/dit/make_cases.py (bench/dit/dit_torch.py in float64)"}
    write_safetensors(os.path.join(out_dir, f"{name}.safetensors"), tensors, meta)
    print(f"{name}: {m.grid ** 2} tokens, output {tuple(tensors['output.forward'].shape)}")


def respaced(steps):
    """timestep_map and alphas_cumprod of create_diffusion(str(steps)) (uniform spacing)."""
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    abar = np.cumprod(1.0 - betas)
    stride = (1000 - 1) / (steps - 1) if steps > 1 else 1
    keep, cur = set(), 0.0
    for _ in range(steps):
        keep.add(round(cur))
        cur += stride
    tmap, new_betas, last = [], [], 1.0
    for i, a in enumerate(abar):
        if i in keep:
            new_betas.append(1 - a / last)
            last = a
            tmap.append(i)
    return tmap, np.cumprod(1.0 - np.array(new_betas))


def make_ddim_run(golden, out_dir, steps=10, label=3, scale=4.0, seed=7):
    """
    A whole sampling run as sample.py would do it with ddim_sample_loop (eta 0,
    so it is deterministic given z): the golden case's model, forward_with_cfg on
    [z; z] with labels [label, null], upstream's timestep map. The C test starts
    from input.z and must end at output.latent.
    """
    t, meta = dit_torch.read_safetensors(golden)
    cfg = json.loads(meta["config"])
    m = dit_torch.from_golden(t, cfg).double()
    g = torch.Generator().manual_seed(seed)
    size, c = cfg["input_size"], cfg["in_channels"]
    z = torch.randn(1, c, size, size, generator=g)
    tmap, abar = respaced(steps)
    abar_prev = np.append(1.0, abar[:-1])
    x = torch.cat([z, z]).double()
    y = torch.tensor([label, cfg["num_classes"]])
    with torch.no_grad():
        for i in reversed(range(steps)):
            ts = torch.tensor([float(tmap[i])] * 2)
            eps = m.forward_with_cfg(x, ts, y, scale)[:, :c]
            x0 = np.sqrt(1 / abar[i]) * x - np.sqrt(1 / abar[i] - 1) * eps
            eps = (np.sqrt(1 / abar[i]) * x - x0) / np.sqrt(1 / abar[i] - 1)
            x = x0 * np.sqrt(abar_prev[i]) + np.sqrt(1 - abar_prev[i]) * eps
    tensors = {"input.z": z.numpy(), "output.latent": x[:1].float().numpy()}
    run = {"weights": golden, "sampler": "ddim", "eta": 0, "steps": steps, "class_label": label,
           "guidance": scale}
    meta = {"model": "dit", "case": "ddim_run", "config": meta["config"],
            "run": json.dumps(run, sort_keys=True),
            "generator": "tests/dit/make_cases.py (ddim_sample_loop, float64)"}
    write_safetensors(os.path.join(out_dir, "ddim_run.safetensors"), tensors, meta)
    print(f"ddim_run: {steps} steps from {golden}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/data/dit"
    if dit_torch.check("tests/data/golden/dit"):
        return 1
    os.makedirs(out_dir, exist_ok=True)
    for i, (name, cfg) in enumerate(sorted(CASES.items())):
        make(name, cfg, out_dir, 100 + i)
    make_ddim_run("tests/data/golden/dit/a.safetensors", out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
