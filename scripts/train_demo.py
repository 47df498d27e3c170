#!/usr/bin/python3
"""Train a small CordsNet (depth 4) on Fashion-MNIST for convdyn's demo.

Usage (from the repository root, Debian's interpreter which has torch 1.13 CPU + numpy):

    /usr/bin/python3 scripts/train_demo.py --out apps/demo/cordsnet_fmnist_d4.pth [--epochs E] [--data DIR]
        [--snapshots apps/demo/snapshots --time-budget 100000]   # also the training snapshots (sweeps)

--data defaults to the Debian package dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist: {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz).

The model follows docs/cordsnet.md (the released CordsNet's semantics) and is saved with
torch.save(model.state_dict(), path) in the release's key layout (weight norm as
X.parametrizations.weight.original0 = g [out,1,1,1] / [out,1], original1 = v).

Images are normalised as x / 255 (no mean/std normalisation).

Training protocol (to fit a 2-core CPU): ZERO spontaneous steps with a zero image, then IMG steps
with the image; the loss is the cross-entropy averaged over the logits of the last LAST steps.
The spontaneous phase does not depend on the image, so it is run once with batch 1 and broadcast
(exactly equal to running it per sample).  The final test accuracy is evaluated with the release
protocol: 100 zero-image steps, then 100 image steps, logits at the end.

Everything is seeded (torch, numpy; data order from a seeded torch.Generator); one thread.
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
ALPHA = 0.2

# Model configuration (28x28 input -> inp 7x7).
CFG = dict(in_ch=1, c_in0=16, channels=[16, 16, 32, 32], sizes=[7, 7, 4, 4],
           strides=[1, 1, 2, 1], classes=10)


# --------------------------------------------------------------------------------------------
# Weight normalisation in the `parametrizations` layout (torch 1.13 lacks
# torch.nn.utils.parametrizations.weight_norm).
# --------------------------------------------------------------------------------------------
class _WeightNorm(nn.Module):
    def forward(self, g, v):
        return torch._weight_norm(v, g, 0)

    def right_inverse(self, w):
        g = torch.norm_except_dim(w, 2, 0)  # [out,1,1,1] for conv, [out,1] for linear
        return g, w


def wn(module):
    parametrize.register_parametrization(module, "weight", _WeightNorm())
    return module


# --------------------------------------------------------------------------------------------
# CordsNet
# --------------------------------------------------------------------------------------------
class CordsNet(nn.Module):
    def __init__(self, in_ch, c_in0, channels, sizes, strides, classes, area_conv_norm=0.5,
                 init_gen=None):
        super().__init__()
        depth = len(channels)
        assert depth % 2 == 0 and len(sizes) == depth and len(strides) == depth
        self.depth, self.channels, self.sizes = depth, list(channels), list(sizes)

        inp_conv = nn.Conv2d(in_ch, c_in0, 7, stride=2, padding=3, bias=False)
        inp_skip = nn.Conv2d(c_in0, channels[0], 3, stride=1, padding=1, bias=False)
        area_conv = [nn.Conv2d(c, c, 3, stride=1, padding=1, bias=False) for c in channels]
        area_area = [nn.Conv2d(c_in0 if l == 0 else channels[l - 1], channels[l], 3,
                               stride=strides[l], padding=1, bias=False) for l in range(depth)]
        # skip_area[i] feeds area l = 2i+3 from area 2i+1; its output is added to relu(r_{2i+2}),
        # so it maps C_{2i+1} -> C_{2i+2} (= C_{2i+3} in every released configuration).
        skip_area = [nn.Conv2d(channels[2 * i + 1], channels[2 * i + 2], 1, stride=2, padding=0,
                               bias=False) for i in range(depth // 2 - 1)]
        out_fc = nn.Linear(channels[-1], classes, bias=True)

        # Scale each recurrent conv so that the spectral norm of its n x n operator is
        # area_conv_norm (before weight norm is registered; right_inverse then sets g, v).
        with torch.no_grad():
            for l, m in enumerate(area_conv):
                s = operator_norm(m.weight, channels[l], sizes[l], sizes[l], init_gen)
                m.weight.mul_(area_conv_norm / s)

        self.inp_conv = wn(inp_conv)
        self.inp_skip = wn(inp_skip)
        self.area_conv = nn.ModuleList(wn(m) for m in area_conv)
        self.conv_bias = nn.ParameterList(
            nn.Parameter(torch.zeros(c, s, s)) for c, s in zip(channels, sizes))
        self.area_area = nn.ModuleList(wn(m) for m in area_area)
        self.skip_area = nn.ModuleList(wn(m) for m in skip_area)
        self.out_fc = wn(out_fc)
        self.avgpool = nn.AvgPool2d(3, stride=2, padding=1)

    # ---- dynamics -------------------------------------------------------------------------
    def zero_state(self, batch):
        p = self.conv_bias[0]
        return [p.new_zeros(batch, c, s, s) for c, s in zip(self.channels, self.sizes)]

    def drives(self, img):
        """Image-dependent, time-constant terms: area_area[0](inp) and inp_skip(inp); None for
        a zero image (both are exactly 0: the convs have no bias)."""
        if img is None:
            return None, None
        inp = self.avgpool(self.inp_conv(img))
        return self.area_area[0](inp), self.inp_skip(inp)

    def step(self, r, d0, skip):
        """One time step; areas updated deepest first, in place (area l reads the previous
        step's l-1 and l-2)."""
        r = list(r)
        for l in reversed(range(self.depth)):
            if l == 0:
                drive = d0
            elif l == 1:
                x = F.relu(r[0]) if skip is None else F.relu(r[0]) + skip
                drive = self.area_area[1](x)
            elif l % 2 == 0:
                drive = self.area_area[l](F.relu(r[l - 1]) + F.relu(r[l - 2]))
            else:
                drive = self.area_area[l](F.relu(r[l - 1]) +
                                          self.skip_area[(l - 3) // 2](F.relu(r[l - 2])))
            u = self.area_conv[l](r[l]) + self.conv_bias[l]
            if drive is not None:
                u = u + drive
            r[l] = (1 - ALPHA) * r[l] + ALPHA * F.relu(u)
        return r

    def readout(self, r):
        return self.out_fc((F.relu(r[-1]) + F.relu(r[-2])).mean(dim=(2, 3)))

    def spontaneous(self, steps):
        """State after `steps` zero-image steps from r = 0 (batch 1; identical for every image)."""
        r = self.zero_state(1)
        for _ in range(steps):
            r = self.step(r, None, None)
        return r

    def forward(self, img, zero_steps=100, img_steps=100, last=1, r0=None):
        """Logits of the last `last` image steps, shape [last, B, classes]. r0: a precomputed
        spontaneous state (batch 1) to start the image phase from."""
        with parametrize.cached():  # weight norm evaluated once per forward, not per step
            return self._forward(img, zero_steps, img_steps, last, r0)

    def train_forward(self, img, zero_steps, img_steps, grad_steps, last):
        """Training pass: `zero_steps` spontaneous steps (batch 1, with gradient), then
        `img_steps` image steps of which only the last `grad_steps` keep the graph (truncated
        backpropagation through time).  Returns the logits of the last `last` steps
        [last, B, classes] and the settling penalty: the mean squared fixed-point residual
        (relu(u) - r = (r_{t+1} - r_t) / alpha), averaged over areas, at the end of the
        spontaneous phase and at the end of the image phase."""
        with parametrize.cached():
            b = img.shape[0]
            r = self.spontaneous(zero_steps - 1)
            nxt = self.step(r, None, None)
            settle = sum(((n - o) / ALPHA).pow(2).mean() for n, o in zip(nxt, r)) / self.depth
            r = [x.expand(b, *x.shape[1:]) for x in nxt]
            d0, skip = self.drives(img)
            with torch.no_grad():
                d0n, skipn = d0.detach(), skip.detach()
                for _ in range(img_steps - grad_steps):
                    r = self.step(r, d0n, skipn)
            if img_steps > grad_steps:
                r = [x.detach() for x in r]
            outs = []
            for t in range(grad_steps):
                prev = r
                r = self.step(r, d0, skip)
                if t >= grad_steps - last:
                    outs.append(self.readout(r))
            settle = settle + sum(((n - o) / ALPHA).pow(2).mean()
                                  for n, o in zip(r, prev)) / self.depth
            return torch.stack(outs), settle

    def _forward(self, img, zero_steps, img_steps, last, r0):
        b = img.shape[0]
        r = self.spontaneous(zero_steps) if r0 is None else r0
        r = [x.expand(b, *x.shape[1:]) for x in r]
        d0, skip = self.drives(img)
        outs = []
        for t in range(img_steps):
            r = self.step(r, d0, skip)
            if t >= img_steps - last:
                outs.append(self.readout(r))
        return torch.stack(outs)


# --------------------------------------------------------------------------------------------
# Linear algebra helpers
# --------------------------------------------------------------------------------------------
def dense_operator(weight, C, H, W):
    """n x n float64 matrix of the 3x3 / pad-1 / stride-1 conv acting on C x H x W."""
    n = C * H * W
    eye = torch.eye(n, dtype=torch.float64).reshape(n, C, H, W)
    cols = F.conv2d(eye, weight.detach().double(), padding=weight.shape[-1] // 2)
    return cols.reshape(n, n).T.contiguous().numpy()


def operator_norm(weight, C, H, W, gen=None):
    return float(np.linalg.norm(dense_operator(weight, C, H, W), 2))


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(data_dir, split):
    x = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)  # x / 255, no mean/std
    return x, torch.from_numpy(y.astype(np.int64))


def write_idx_images(path, images):
    """images: uint8 [N, H, W] -> gzip IDX3 file (magic 0x00000803, big-endian N, H, W)."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    n, h, w = images.shape
    payload = struct.pack(">IIII", 0x00000803, n, h, w) + images.tobytes()
    with gzip.GzipFile(path, "wb", mtime=0) as f:  # mtime 0: reproducible bytes
        f.write(payload)


# --------------------------------------------------------------------------------------------
# Evaluation and analysis
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model, x, y, zero_steps, img_steps, bs=1000):
    model.eval()
    r0 = model.spontaneous(zero_steps)
    correct = 0
    for i in range(0, len(x), bs):
        logits = model(x[i:i + bs], img_steps=img_steps, last=1, r0=r0)[-1]
        correct += int((logits.argmax(1) == y[i:i + bs]).sum())
    return correct / len(x)


@torch.no_grad()
def spectral_report(model, x_probe):
    """Per area: rightmost eigenvalue of W (linear criterion), ||W||_2, and the rightmost
    eigenvalue of the continuous-time Jacobian block -I + D W at the spontaneous state and at
    the states reached by the probe images (release protocol), with the residual of the
    fixed-point equation there."""
    model.eval()
    rows = []
    Ws = []
    for l in range(model.depth):
        C, H, W_ = model.conv_bias[l].shape
        Wd = dense_operator(model.area_conv[l].weight, C, H, W_)
        ev = np.linalg.eigvals(Wd)
        k = int(np.argmax(ev.real))
        rows.append(dict(area=l, n=C * H * W_, rightmost=ev[k],
                         specnorm=float(np.linalg.norm(Wd, 2)),
                         spectral_radius=float(np.abs(ev).max())))
        Ws.append(Wd)

    # States: spontaneous (after 100 zero steps) and each probe image after 100 + 100 steps.
    r_sp = model.spontaneous(100)
    states = [("spontaneous", [t[0] for t in r_sp], None)]
    r = [t.expand(len(x_probe), *t.shape[1:]) for t in r_sp]
    d0, skip = model.drives(x_probe)
    for _ in range(100):
        r = model.step(r, d0, skip)
    for i in range(len(x_probe)):
        states.append((f"image{i}", [t[i] for t in r], i))

    fp = []
    for name, st, i in states:
        # pre-activations u_l at the state, and the fixed-point residual relu(u) - r
        batch = [t.unsqueeze(0) for t in st]
        if i is None:
            d0i, skipi = None, None
        else:
            d0i, skipi = d0[i:i + 1], skip[i:i + 1]
        nxt = model.step(batch, d0i, skipi)
        per_area = []
        for l in range(model.depth):
            # Deepest-first update: every area of `nxt` was computed from `batch` only, so
            # (nxt - batch) / alpha = relu(u) - r exactly.
            u = preact(model, batch, l, d0i, skipi)[0]
            mask = (u > 0).double().reshape(-1).numpy()
            J = Ws[l] * mask[:, None]  # D W
            ev = np.linalg.eigvals(J)
            k = int(np.argmax(ev.real))
            res = float((nxt[l] - batch[l]).abs().max() / ALPHA)
            per_area.append(dict(rightmost_DW=ev[k], active=float(mask.mean()), residual=res))
        fp.append((name, per_area))
    return rows, fp


def preact(model, r, l, d0, skip):
    if l == 0:
        drive = d0
    elif l == 1:
        x = F.relu(r[0]) if skip is None else F.relu(r[0]) + skip
        drive = model.area_area[1](x)
    elif l % 2 == 0:
        drive = model.area_area[l](F.relu(r[l - 1]) + F.relu(r[l - 2]))
    else:
        drive = model.area_area[l](F.relu(r[l - 1]) +
                                   model.skip_area[(l - 3) // 2](F.relu(r[l - 2])))
    u = model.area_conv[l](r[l]) + model.conv_bias[l]
    return u if drive is None else u + drive


def fmt_c(z):
    return f"{z.real:+.4f}{z.imag:+.4f}i"


def print_spectral(rows, fp):
    print("per-area recurrent operator W = area_conv[l] (dense, float64):")
    for r in rows:
        print(f"  area {r['area']}: n={r['n']:4d}  rightmost eig(W) = {fmt_c(r['rightmost'])}"
              f"  |eig|max = {r['spectral_radius']:.4f}  ||W||_2 = {r['specnorm']:.4f}")
    print("rightmost eig of D W at the states reached (stable iff Re < 1; residual = "
          "max|relu(u)-r|):")
    worst = [-np.inf] * len(rows)
    maxres = [0.0] * len(rows)
    for name, per in fp:
        for l, p in enumerate(per):
            worst[l] = max(worst[l], p["rightmost_DW"].real)
            maxres[l] = max(maxres[l], p["residual"])
        if name in ("spontaneous", "image0"):
            print(f"  {name:12s} " + "  ".join(
                f"a{l}: {fmt_c(p['rightmost_DW'])} (act {p['active']:.2f}, res {p['residual']:.1e})"
                for l, p in enumerate(per)))
    print(f"  max Re over spontaneous + {len(fp) - 1} images: " +
          "  ".join(f"a{l}: {w:+.4f}" for l, w in enumerate(worst)) +
          "   max residual: " + "  ".join(f"{m:.1e}" for m in maxres))


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------
def check_keys(sd, depth):
    wnk = lambda m: [f"{m}.parametrizations.weight.original0",  # noqa: E731
                     f"{m}.parametrizations.weight.original1"]
    exp = wnk("inp_conv") + wnk("inp_skip")
    for l in range(depth):
        exp += wnk(f"area_conv.{l}")
    exp += [f"conv_bias.{l}" for l in range(depth)]
    for l in range(depth):
        exp += wnk(f"area_area.{l}")
    for i in range(depth // 2 - 1):
        exp += wnk(f"skip_area.{i}")
    exp += ["out_fc.bias"] + wnk("out_fc")
    got = list(sd.keys())
    if got != exp:
        raise SystemExit(f"state dict keys differ from the release layout:\n got {got}\n exp {exp}")


def snapshot_schedule(total_steps, count):
    """The training steps (updates done before the save) of `count` evenly spaced snapshots; the final
    model (after the last update) is saved separately, so the schedule holds count - 1 of them."""
    if count < 2:
        raise SystemExit("--snapshot-count needs at least 2 (the initial and the final model)")
    return {round(i * total_steps / (count - 1)) for i in range(count - 1)}


def save_snapshot(model, folder, step, steps_per_epoch):
    os.makedirs(folder, exist_ok=True)
    epoch = step / steps_per_epoch
    name = f"epoch_{epoch:.2f}.pth"
    sd = model.state_dict()
    check_keys(sd, model.depth)
    torch.save(sd, os.path.join(folder, name))
    return {"file": name, "step": step, "epoch": round(epoch, 6)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train-subset", type=int, default=0,
                    help="use only the first N training images (0: all 60000)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--zero-steps", type=int, default=100,
                    help="training protocol: zero-image steps (run at batch 1, cheap)")
    ap.add_argument("--img-steps", type=int, default=60,
                    help="training protocol: image steps")
    ap.add_argument("--grad-steps", type=int, default=20,
                    help="backpropagate through only the last N image steps (truncated BPTT)")
    ap.add_argument("--last", type=int, default=10,
                    help="loss = cross-entropy averaged over the logits of the last N steps")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="weight of the fixed-point residual penalty (see train_forward)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-budget", type=float, default=1140.0,
                    help="stop training (end of the current batch) after this many seconds")
    ap.add_argument("--images-out", default=None,
                    help="also write the first 16 test images as gzip IDX3 here")
    ap.add_argument("--analyse-only", action="store_true",
                    help="load --out instead of training; evaluate and print the spectra")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--snapshots", default=None, metavar="DIR",
                    help="also save the model at --snapshot-count evenly spaced training steps (the first "
                         "before any update, the last the final model) as DIR/epoch_E.EE.pth, listed in "
                         "DIR/snapshots.json; for sweeps across training")
    ap.add_argument("--snapshot-count", type=int, default=6)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)

    xtr, ytr = load_split(args.data, "train")
    xte, yte = load_split(args.data, "t10k")
    if args.train_subset:
        xtr, ytr = xtr[:args.train_subset], ytr[:args.train_subset]
    print(f"data: {args.data}  train {tuple(xtr.shape)}  test {tuple(xte.shape)}  (x/255)")

    if args.images_out:
        raw = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))[:16]
        write_idx_images(args.images_out, raw)
        print(f"wrote {args.images_out} (first 16 test images, labels "
              f"{yte[:16].tolist()})")

    model = CordsNet(**CFG)
    if args.analyse_only:
        model.load_state_dict(torch.load(args.out))
    else:
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        n = len(xtr)
        steps_per_epoch = (n + args.batch - 1) // args.batch
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15)
        gen = torch.Generator().manual_seed(args.seed)
        t0 = time.time()
        train_time = 0.0  # seconds spent in training batches (evaluation excluded)
        out_of_time = False
        total_steps = args.epochs * steps_per_epoch
        snapshot_steps = snapshot_schedule(total_steps, args.snapshot_count) if args.snapshots else set()
        snapshots = []
        step = 0
        for ep in range(args.epochs):
            model.train()
            perm = torch.randperm(n, generator=gen)
            tot_loss = tot_settle = tot_correct = seen = 0
            te = time.time()
            for bi in range(steps_per_epoch):
                if step in snapshot_steps:
                    snapshots.append(save_snapshot(model, args.snapshots, step, steps_per_epoch))
                idx = perm[bi * args.batch:(bi + 1) * args.batch]
                xb, yb = xtr[idx], ytr[idx]
                tb = time.time()
                logits, settle = model.train_forward(xb, args.zero_steps, args.img_steps,
                                                     args.grad_steps, args.last)
                ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.repeat(args.last))
                loss = ce + args.settle * settle
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                step += 1
                train_time += time.time() - tb
                tot_loss += float(ce) * len(idx)
                tot_settle += float(settle) * len(idx)
                tot_correct += int((logits[-1].argmax(1) == yb).sum())
                seen += len(idx)
                if bi % 50 == 0:
                    print(f"  ep {ep} batch {bi}/{steps_per_epoch} ce {tot_loss / seen:.4f} "
                          f"settle {tot_settle / seen:.4f} acc {tot_correct / seen:.4f}  "
                          f"train {train_time:.0f}s", flush=True)
                if train_time > args.time_budget:
                    out_of_time = True
                    print(f"  time budget reached at epoch {ep} batch {bi}", flush=True)
                    break
            te_acc = evaluate(model, xte, yte, args.zero_steps, args.img_steps)
            te_rel = evaluate(model, xte[:2000], yte[:2000], 100, 100)
            print(f"epoch {ep}: train ce {tot_loss / seen:.4f} settle {tot_settle / seen:.4f}  "
                  f"train acc (running, training protocol) {tot_correct / seen:.4f}  "
                  f"test acc (training protocol) {te_acc:.4f}  test[:2000] acc (release "
                  f"protocol) {te_rel:.4f}  epoch {time.time() - te:.0f}s  "
                  f"train time so far {train_time:.0f}s", flush=True)
            if out_of_time:
                break
        print(f"training time {train_time:.0f}s (batches only); wall time incl. per-epoch "
              f"evaluation {time.time() - t0:.0f}s")
        sd = model.state_dict()
        check_keys(sd, model.depth)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        torch.save(sd, args.out)
        print(f"saved {args.out} ({os.path.getsize(args.out)} bytes)")
        if args.snapshots:
            snapshots.append(save_snapshot(model, args.snapshots, step, steps_per_epoch))
            with open(os.path.join(args.snapshots, "snapshots.json"), "w") as f:
                json.dump({"steps_per_epoch": steps_per_epoch, "snapshots": snapshots}, f, indent=1)
            print(f"saved {len(snapshots)} snapshots in {args.snapshots}")

    sd = torch.load(args.out)
    check_keys(sd, model.depth)
    for k, v in sd.items():
        print(f"  {k:45s} {list(v.shape)}")

    t1 = time.time()
    acc_train_proto = evaluate(model, xte, yte, args.zero_steps, args.img_steps)
    acc_release = evaluate(model, xte, yte, 100, 100)
    acc_train_release = evaluate(model, xtr[:10000], ytr[:10000], 100, 100)
    print(f"test acc, training protocol ({args.zero_steps}+{args.img_steps}): {acc_train_proto:.4f}")
    print(f"test acc, release protocol (100+100): {acc_release:.4f}")
    print(f"train[:10000] acc, release protocol (100+100): {acc_train_release:.4f}"
          f"  (eval {time.time() - t1:.0f}s)")

    rows, fp = spectral_report(model, xte[:16])
    print_spectral(rows, fp)


if __name__ == "__main__":
    main()
