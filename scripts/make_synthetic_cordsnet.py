#!/usr/bin/env python3
"""Write a CordsNet state dict of the release's shapes with random weights (torch.save zip format).

For timing the CLI on full-size models without a trained checkpoint, e.g.
    /usr/bin/python3 scripts/make_synthetic_cordsnet.py --depth 8 --out /tmp/r8.pth
    time build/bin/convdyn spectrum /tmp/r8.pth --all --k 10 --quiet
Depth 8 is the ImageNet release (64/64/128/128/256/256/512/512 channels on 56/56/28/28/14/14/7/7), depth 4
its first four areas. Recurrent kernels ~ scale * randn / sqrt(9 C) (scale 1: spectral radius ~1, as the
bench operators), input and skip kernels ~ 0.5 randn / sqrt(fan-in), biases ~ 0.1 randn, float32 as a
trained model is saved; images are 3 x 224 x 224. Keys and strides follow docs/cordsnet.md.
"""
import argparse

import torch

AREAS = [(64, 56), (64, 56), (128, 28), (128, 28), (256, 14), (256, 14), (512, 7), (512, 7)]


def kernel(out, inp, k, scale, gen):
    return torch.randn(out, inp, k, k, generator=gen, dtype=torch.float64) * (scale / (inp * k * k) ** 0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth", type=int, choices=(4, 8), default=8)
    ap.add_argument("--scale", type=float, default=1.0, help="recurrent kernel scale (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    gen = torch.Generator().manual_seed(a.seed)
    areas = AREAS[: a.depth]
    sd = {}
    c0 = areas[0][0]
    sd["inp_conv.weight"] = kernel(c0, 3, 7, 0.5, gen)
    sd["inp_skip.weight"] = kernel(c0, c0, 3, 0.5, gen)
    for l, (c, hw) in enumerate(areas):
        cin = c0 if l == 0 else areas[l - 1][0]
        sd[f"area_conv.{l}.weight"] = kernel(c, c, 3, a.scale, gen)
        sd[f"conv_bias.{l}"] = torch.randn(c, hw, hw, generator=gen, dtype=torch.float64) * 0.1
        sd[f"area_area.{l}.weight"] = kernel(c, cin, 3, 0.5, gen)
        if l >= 3 and l % 2 == 1:
            sd[f"skip_area.{(l - 3) // 2}.weight"] = kernel(areas[l - 1][0], areas[l - 2][0], 1, 0.5, gen)
    sd["out_fc.weight"] = torch.randn(10, areas[-1][0], generator=gen, dtype=torch.float64) * 0.1
    sd["out_fc.bias"] = torch.zeros(10, dtype=torch.float64)
    torch.save({k: v.float() for k, v in sd.items()}, a.out)
    print(f"wrote {a.out}: depth {a.depth}, {sum(v.numel() for v in sd.values()):,} parameters")


if __name__ == "__main__":
    main()
