#!/usr/bin/python3
"""The CordsNet forward pass of `convdyn run` in plain Python torch, timed: the bench's comparison row
(convdyn-bench --run). Written from docs/cordsnet.md with torch.nn.functional on the state dict; the same work
as convdyn's run: the blank phase once (batch 1), the image's constant drive terms once per batch, then per step
the areas deepest first and the readout.

    /usr/bin/python3 scripts/bench_run_torch.py CKPT IMAGES [--n N] [--batch B] [--steps T] [--spontaneous S]
        [--dtype float32|float64] [--threads K] [--repeat R]

IMAGES: an MNIST IDX image file (raw or gzip, uint8 -> x/255) or a .npy [N, C, H, W] / [N, H, W] array; its
images are repeated up to N. Prints one line: `images_per_second <value> seconds <value> images <N>` (the best
of R repeats).
"""
import argparse
import gzip
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_images(path):
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\x93NUMPY"):
        a = np.load(path, allow_pickle=False)
        a = a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)
    else:
        opener = gzip.open if head[:2] == b"\x1f\x8b" else open
        with opener(path, "rb") as f:
            data = f.read()
        n, h, w = struct.unpack(">III", data[4:16])
        a = np.frombuffer(data[16:16 + n * h * w], dtype=np.uint8).reshape(n, h, w).astype(np.float64) / 255.0
    if a.ndim == 3:
        a = a[:, None]
    return torch.from_numpy(np.ascontiguousarray(a))


def weight(sd, module):
    for gk, vk in ((".parametrizations.weight.original0", ".parametrizations.weight.original1"),
                   (".weight_g", ".weight_v")):
        if module + vk in sd:
            g, v = sd[module + gk].double(), sd[module + vk].double()
            shape = (-1,) + (1,) * (v.dim() - 1)
            return g.reshape(shape) * v / v.reshape(v.shape[0], -1).norm(dim=1).reshape(shape)
    return sd[module + ".weight"].double()


class Net:
    def __init__(self, sd, dtype):
        sd = {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items()}
        self.depth = len([k for k in sd if k.startswith("conv_bias.")])
        cv = lambda t: t.to(dtype).contiguous()  # noqa: E731
        self.inp_conv, self.inp_skip = cv(weight(sd, "inp_conv")), cv(weight(sd, "inp_skip"))
        self.area_conv = [cv(weight(sd, f"area_conv.{l}")) for l in range(self.depth)]
        self.area_area = [cv(weight(sd, f"area_area.{l}")) for l in range(self.depth)]
        self.skip_area = [cv(weight(sd, f"skip_area.{i}")) for i in range(max(0, self.depth // 2 - 1))]
        self.bias = [cv(sd[f"conv_bias.{l}"].double()) for l in range(self.depth)]
        self.fc_w, self.fc_b = cv(weight(sd, "out_fc")), cv(sd["out_fc.bias"].double())
        self.strides = [1] + [1 if self.bias[l - 1].shape[1:] == self.bias[l].shape[1:] else 2
                              for l in range(1, self.depth)]

    def step(self, r, d0, skip, alpha):
        for l in reversed(range(self.depth)):
            u = F.conv2d(r[l], self.area_conv[l], padding=1) + self.bias[l]
            if l == 0:
                if d0 is not None:
                    u = u + d0
            else:
                if l == 1:
                    x = F.relu(r[0]) if skip is None else F.relu(r[0]) + skip
                elif l % 2 == 0:
                    x = F.relu(r[l - 1]) + F.relu(r[l - 2])
                else:
                    x = F.relu(r[l - 1]) + F.conv2d(F.relu(r[l - 2]), self.skip_area[(l - 3) // 2], stride=2)
                u = u + F.conv2d(x, self.area_area[l], stride=self.strides[l], padding=1)
            r[l] = (1 - alpha) * r[l] + alpha * F.relu(u)

    def logits(self, r):
        return F.linear((F.relu(r[-1]) + F.relu(r[-2])).mean(dim=(2, 3)), self.fc_w, self.fc_b)


def run(net, images, batch, spontaneous, steps, alpha, dtype):
    r0 = [torch.zeros(1, *b.shape, dtype=dtype) for b in net.bias]
    for _ in range(spontaneous):
        net.step(r0, None, None, alpha)
    preds = []
    for i in range(0, images.shape[0], batch):
        img = images[i:i + batch].to(dtype)
        inp = F.avg_pool2d(F.conv2d(img, net.inp_conv, stride=2, padding=3), 3, stride=2, padding=1)
        d0 = F.conv2d(inp, net.area_area[0], padding=1)
        skip = F.conv2d(inp, net.inp_skip, padding=1)
        r = [x.expand(img.shape[0], *x.shape[1:]) for x in r0]
        logits = []
        for _ in range(steps):
            net.step(r, d0, skip, alpha)
            logits.append(net.logits(r))
        preds.append(torch.stack(logits, 1)[:, -1].argmax(1))
    return torch.cat(preds)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("images")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--spontaneous", type=int, default=100)
    p.add_argument("--alpha", type=float, default=0.2)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dtype = torch.float32 if a.dtype == "float32" else torch.float64
    images = read_images(a.images)
    images = images.repeat((a.n + images.shape[0] - 1) // images.shape[0], 1, 1, 1)[:a.n]
    net = Net(torch.load(a.checkpoint, map_location="cpu"), dtype)
    best = float("inf")
    with torch.no_grad():
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            run(net, images, a.batch, a.spontaneous, a.steps, a.alpha, dtype)
            best = min(best, time.perf_counter() - t0)
    print(f"images_per_second {a.n / best:.3f} seconds {best:.4f} images {a.n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
