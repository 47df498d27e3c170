#!/usr/bin/env python3
"""Right edge of the circulant (circular-padding) version of a convdyn-bench conv kernel.

Reproduces the "circulant structure" row of the README's lever table: with circular padding a 3x3 conv is
block-diagonalised by the 2-D DFT (one C x C matrix per spatial frequency), so its spectrum is the union of
the eigenvalues of H*W small matrices. Compare max Re with krylov-schur's lambda_1 for the zero-padded
operator (convdyn-bench, same shape and seed).

Usage: /usr/bin/python3 scripts/levers/circulant_edge.py [C H W [SEED]]   (default 64 56 56 1000 =
the bench's first shape; the bench seeds shape i of --shapes with 1000 + --seed + i)
"""
import sys

import numpy as np
import torch

C, H, W = (int(a) for a in sys.argv[1:4]) if len(sys.argv) >= 4 else (64, 56, 56)
seed = int(sys.argv[4]) if len(sys.argv) >= 5 else 1000
torch.manual_seed(seed)  # same generator and draws as at::manual_seed + at::randn in convdyn-bench
w = (torch.randn(C, C, 3, 3, dtype=torch.float64) / np.sqrt(9 * C)).numpy()
# conv2d is a correlation: y[p] = sum_{a,b} w[:, :, a, b] x[p + (a-1, b-1)], so the symbol at frequency
# (t1, t2) is K = sum_{a,b} w[:, :, a, b] exp(i (t1 (a-1) + t2 (b-1))).
vals = []
for t1 in 2 * np.pi * np.arange(H) / H:
    for t2 in 2 * np.pi * np.arange(W) / W:
        K = sum(w[:, :, a, b] * np.exp(1j * (t1 * (a - 1) + t2 * (b - 1))) for a in range(3) for b in range(3))
        vals.append(np.linalg.eigvals(K))
vals = np.concatenate(vals)
order = np.argsort(-vals.real)
print(f"{C}x{H}x{W} seed {seed}: circulant max Re = {vals.real.max():.6f}")
print("rightmost:", ", ".join(f"{z.real:.6f}{z.imag:+.6f}i" for z in vals[order[:6]]))
