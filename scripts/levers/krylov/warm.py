"""Warm starts along the stability analysis' sequence of solves for one recurrent conv W:
   1. W, LR           (cold)
   2. W, LM           cold vs warm (start = combination of the Ritz vectors of 1)
   3. D1 W, LR        cold vs warm from 1     (D1: ReLU mask of a synthetic "fixed point")
   4. D2 W, LR        cold vs warm from 3     (D2: another input, correlated mask)
   5. (1-a) I + a D1 W, LM (the simulated map)  cold vs warm from 3 (same eigenvectors as D1 W)
Masks are synthetic (no trained network here): D = [z > 0] for a spatially smooth Gaussian field z with a
bias giving ~70% active units; D2 uses z2 = 0.9 z + sqrt(1 - 0.81) z' (about 85-90% of units agree).
The start vector of a warm run is sum_i (Re x_i + Im x_i) / |.| over the previous run's k Ritz vectors
(each unit norm), the usual single-vector warm start of an Arnoldi code.

usage: warm.py SHAPE SEED K [s]
"""
import json, os, sys, time
import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
from ops import ConvOp
from ks_baseline import krylov_schur

HERE = os.path.dirname(os.path.abspath(__file__))


class MapOp(ConvOp):
    """(1 - a) x + a D W x."""

    def __init__(self, base, a):
        super().__init__(base.C, base.H, base.W, weight=base.w, mask=base.mask)
        self.a = a

    def apply(self, X):
        return (1 - self.a) * X + self.a * super().apply(X)


def smooth_field(C, H, W, rng, width=2.0):
    z = torch.from_numpy(rng.standard_normal((1, C, H, W)))
    r = int(np.ceil(2 * width))
    g = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float64) ** 2 / (2 * width * width))
    g = g / g.sum()
    z = F.conv2d(z.reshape(C, 1, H, W), g.view(1, 1, 1, -1), padding=(0, r))
    z = F.conv2d(z, g.view(1, 1, -1, 1), padding=(r, 0)).reshape(-1).numpy()
    return z / z.std()


def start_from(vectors):
    v = np.zeros(vectors[0].shape[0])
    for x in vectors:
        x = x / np.linalg.norm(x)
        v += x.real + x.imag
    return v


def solve(op, k, which, v0, s, label, rows, tag):
    t = time.time()
    r = krylov_schur(op, k, which=which, v0=v0, s=s, shifts="auto", return_vectors=True)
    rows.append(dict(tag=tag, solve=label, which=which, k=k, matvecs=int(r["matvecs"]), gs=int(r["gs_passes"]),
                     restarts=int(r["restarts"]), s_reduced=r.get("s_reduced"), cond_s=r.get("cond_s"), maxres=float(np.max(r["residuals"])), reason=r["reason"],
                     value=[float(r["values"][0].real), float(r["values"][0].imag)], wall=time.time() - t))
    print(json.dumps(rows[-1]), flush=True)
    return r


def main():
    shape, seed, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = int(sys.argv[4]) if len(sys.argv) > 4 else 16
    C, H, W = map(int, shape.split("x"))
    rng = np.random.default_rng(7)
    base = ConvOp(C, H, W, seed)
    z1 = smooth_field(C, H, W, rng)
    z2 = 0.9 * z1 + np.sqrt(1 - 0.81) * smooth_field(C, H, W, rng)
    thr = np.quantile(z1, 0.3)
    D1, D2 = (z1 > thr).astype(float), (z2 > thr).astype(float)
    rows = []
    tag = f"{shape} k={k} s={s}"
    print(f"# active {D1.mean():.3f} {D2.mean():.3f}, agree {np.mean(D1 == D2):.3f}", flush=True)
    r1 = solve(ConvOp(C, H, W, weight=base.w), k, "LR", None, s, "W LR cold", rows, tag)
    solve(ConvOp(C, H, W, weight=base.w), k, "LM", None, s, "W LM cold", rows, tag)
    solve(ConvOp(C, H, W, weight=base.w), k, "LM", start_from(r1["vectors"]), s, "W LM warm(W LR)", rows, tag)
    op1 = ConvOp(C, H, W, weight=base.w, mask=D1)
    r3 = solve(op1, k, "LR", None, s, "D1W LR cold", rows, tag)
    solve(ConvOp(C, H, W, weight=base.w, mask=D1), k, "LR", start_from(r1["vectors"]), s, "D1W LR warm(W LR)",
          rows, tag)
    solve(ConvOp(C, H, W, weight=base.w, mask=D2), k, "LR", None, s, "D2W LR cold", rows, tag)
    solve(ConvOp(C, H, W, weight=base.w, mask=D2), k, "LR", start_from(r3["vectors"]), s, "D2W LR warm(D1W LR)",
          rows, tag)
    for a in (0.1, 0.5):
        solve(MapOp(op1, a), k, "LM", None, s, f"map a={a} LM cold", rows, tag)
        solve(MapOp(op1, a), k, "LM", start_from(r3["vectors"]), s, f"map a={a} LM warm(D1W LR)", rows, tag)
    with open(os.path.join(HERE, "results", "warm.jsonl"), "a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
