#!/usr/bin/python3
"""The ConvRNN zoo's whole-network forward pass (the `convdyn run` of a zoo checkpoint) in plain Python torch,
timed: the bench's comparison row for the zoo. Written from docs/convrnn-network.md (layers, pools, post ops,
residuals, harbor resize / concatenation, feedback edges, unrolling, presentation) and docs/convrnn.md (the
cell updates), batched NCHW with torch.nn.functional, no per-sample loops, no autograd.

Run with Debian's interpreter (torch, numpy): /usr/bin/python3 scripts/bench_zoo_torch.py MODE ...

Modes:

  --make PREFIX --model M [--seed S] [--height H --width W]
      Writes a zoo-shaped TF1 tensor bundle PREFIX.{index,data-00000-of-00001} at the zoo's real sizes
      (docs/convrnn-network.md §3: 1000 classes; shallow conv1 64, conv2 128, cells 256/256/512 (simplernn
      and lstm: C 128/256/256, lstm k 2/3/4 with layer norm and conv4 peepholes for the H x W image);
      intermediate conv1-3 64, cells 128, 128, 256, 256, 512, 512, 512 with post convs and residual
      projections; rgc_intermediate conv1 64, conv2-3 128, cells 128, 128, 256, 256, 256, 512, 512, Cc 64,
      the five feedback edges), float32, the real variable names (tnn_model/<layer>/..., memory_decay where
      the zoo has it, three Momentum slots and global_step). The weights are random with about unit gain
      over each conv's fan-in times the cell's scale of tests/fixtures/make_zoo_network_fixtures.py (the
      feedback weights times 0.25), so activations stay O(1) over the unroll. M is one of MODELS below.
      The files are large (gru_shallow 97 MiB, ugrnn_intermediate 193 MiB, rgc_intermediate 59 MiB); the
      size is printed. Meant for a temporary folder at bench time.

  --run PREFIX --n N [--batch B] [--threads T] [--repeat R] [--times T] [--image-off K|none]
        [--dtype float32|float64] [--height H --width W] [--stats] [--save-images NPY]
      Loads the bundle, builds the network (family, cell and feedback from the variable names) and runs N
      random images (uniform [0, 1] float32 pixels, seed 0, normalised with the ImageNet mean / std) in
      batches of B through the zoo's presentation: times 16 (shallow) or 17 (intermediate), the image at steps
      t < image_off = 12, the constant 0.5 (normalised units) after; every step computes every layer and
      the logits. Prints one final line: `images_per_second <value> seconds <value> images <N>`, the best
      of R repeats (weight loading and image generation not timed). --stats prints the largest |value| of
      every layer over the unroll to stderr first (a tameness check); --save-images NPY saves the pixels
      (float32 [N, 3, H, W] in [0, 1]) so that `convdyn run --images NPY` sees the same images.

  --check
      Runs this torch implementation in float64 on every bundle of tests/fixtures/convrnn_network/ (the
      images `images/<family>` of expected.pth, the presentation `<bundle>/opt/*`) and compares the logits
      of every step with `<bundle>/fwd/logits` (times, 2, K), and the recorded layer outputs of image 0
      (`<bundle>/fwd/<L>/t<k>`) and final states, to 1e-10 relative (max |difference| / max |expected| per
      tensor). Also checks that this script's bundle writer (a streaming variant of tf_bundle_writer's with a
      vectorised CRC-32C) writes the same bytes as tf_bundle_writer.write_bundle. Prints one line per
      bundle; exit status 1 on any mismatch.
"""
import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
sys.path.insert(0, str(FIXTURES))
import tf_bundle_writer as tbw  # noqa: E402
from check_zoo_vs_reference import read_bundle  # noqa: E402
from make_convrnn_fixtures import make_vars, w as wgain  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OFF_VALUE = 0.5
IMAGE_OFF = 12
TIMES = {"shallow": 16, "intermediate": 17}
EPS_LN = 1e-12
RGC_TAU, RGC_GATE = 0.922, 0.701
FEEDBACK_EDGES = (("conv8", "conv5"), ("conv9", "conv6"), ("conv10", "conv7"), ("conv7", "conv6"),
                  ("conv10", "conv9"))
LSTM_SHALLOW_FORGET_BIAS = {"conv3": 1.356, "conv4": 0.978, "conv5": 0.925}
CELL_SCOPES = {
    "ConvGRUCell/gates/weights": "gru",
    "ConvLSTMCell/weights": "lstm",
    "ConvUGRNNCell/weights": "ugrnn",
    "ConvIntersectionRNNCell/weights": "intersectionrnn",
    "ConvNormBasicCell/s/weights": "simplernn",
    "ReciprocalGateCell/cell/tau/weights": "rgc",
    "ReciprocalGateCell/cell/tau/depthwise_weights": "rgc",
}
MODELS = tuple(f"{c}_shallow" for c in ("timedecay", "simplernn", "gru", "lstm", "ugrnn", "intersectionrnn",
                                         "rgc")) + \
    tuple(f"{c}_intermediate" for c in ("timedecay", "gru", "ugrnn", "intersectionrnn", "rgc"))


# ------------------------------------------------------------------------------------------------------
# the network description (docs/convrnn-network.md §1, §3)

class Layer:
    def __init__(self, name, kind, stride=1, pre_act=None, post=(), ff=None):
        self.name, self.kind, self.stride, self.pre_act, self.post, self.ff = name, kind, stride, pre_act, post, ff
        self.fb = []       # feedback senders, in harbor concatenation order
        self.cell = None   # cell update name
        self.opts = {}


def infer(vars):
    names = [k.split("/") for k in vars if k.startswith("tnn_model/")]
    depth = max(int(n[1][4:]) for n in names if n[1].startswith("conv"))
    family = {5: "shallow", 10: "intermediate"}.get(depth)
    if family is None:
        raise SystemExit(f"error: cannot tell the depth (highest layer conv{depth})")
    first = "tnn_model/" + ("conv3/" if family == "shallow" else "conv4/")
    cell = None
    for key, c in CELL_SCOPES.items():
        if first + key in vars:
            cell = c
    if cell is None and first + "memory_decay" in vars:
        cell = "timedecay"
    if cell is None:
        raise SystemExit(f"error: cannot tell the cell type of {first}")
    return family, cell


def describe(vars):
    family, cell = infer(vars)
    layers = []
    if family == "shallow":
        rgc = cell == "rgc"
        layers.append(Layer("conv1", "plain", stride=2, pre_act="elu", post=("maxpool",)))
        layers.append(Layer("conv2", "plain", pre_act="elu", post=("maxpool",), ff="conv1"))
        for i in (3, 4, 5):
            L = Layer(f"conv{i}", "cell", pre_act="elu" if rgc else None, post=("maxpool",), ff=f"conv{i - 1}")
            L.cell = "rgc_shallow" if rgc else cell
            layers.append(L)
    elif cell == "rgc":
        layers.append(Layer("conv1", "plain", stride=2, post=("elu", "maxpool")))
        layers.append(Layer("conv2", "plain", post=("elu",), ff="conv1"))
        layers.append(Layer("conv3", "plain", post=("elu",), ff="conv2"))
        for i in range(4, 11):
            L = Layer(f"conv{i}", "cell", pre_act="elu", post=("maxpool",) if i in (4, 6, 7, 10) else (),
                      ff=f"conv{i - 1}")
            L.cell = "rgc_intermediate"
            layers.append(L)
    else:
        layers.append(Layer("conv1", "plain", stride=2, post=("elu", "maxpool")))
        for name, ff in (("conv2", "conv1"), ("conv3", "conv2")):
            layers.append(Layer(name, "plain", pre_act="elu", post=("conv", "residual", "elu"), ff=ff))
        for i in range(4, 11):
            post = ("conv", "residual", "elu") + (("maxpool",) if i in (4, 6, 7, 10) else ())
            L = Layer(f"conv{i}", "cell", pre_act="elu", post=post, ff=f"conv{i - 1}")
            L.cell = cell
            layers.append(L)
    layers.append(Layer("imnetds", "readout", ff=layers[-1].name))
    by = {L.name: L for L in layers}
    feedback = False
    if family == "intermediate" and cell == "rgc":
        receivers = sorted({r for _, r in FEEDBACK_EDGES})
        have = [f"tnn_model/{r}/ReciprocalGateCell/out/feedback_to_out_weights" in vars for r in receivers]
        if any(have) and not all(have):
            raise SystemExit("error: feedback_to_out_weights in only some of " + ", ".join(receivers))
        feedback = all(have)
        if feedback:
            for r in receivers:  # ff input first, then the other predecessors in sorted name order
                by[r].fb = sorted(s for s, rr in FEEDBACK_EDGES if rr == r)
    for L in layers:
        if L.cell == "lstm":
            L.opts["layer_norm"] = f"tnn_model/{L.name}/ConvLSTMCell/input/gamma" in vars
            L.opts["forget_bias"] = LSTM_SHALLOW_FORGET_BIAS.get(L.name, 1.0) if family == "shallow" else 1.0
        elif L.cell == "simplernn":
            L.opts["layer_norm"] = f"tnn_model/{L.name}/ConvNormBasicCell/layer_norm/gamma" in vars
        elif L.cell in ("gru", "ugrnn", "intersectionrnn"):
            L.opts["forget_bias"] = 1.0
    return family, cell, feedback, layers


# ------------------------------------------------------------------------------------------------------
# primitives (NCHW)

def _same(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def conv_same(x, w, b=None, stride=1, groups=1):
    """TF 'SAME' conv: out = ceil(n / s), zero padding total = max((out-1) s + k - n, 0), floor(total/2)
    before and the rest after (asymmetric for stride-2 7x7 on even n and for even kernels)."""
    t, bo = _same(x.shape[2], w.shape[2], stride)
    l, r = _same(x.shape[3], w.shape[3], stride)
    if t == bo and l == r:
        return F.conv2d(x, w, b, stride, (t, l), 1, groups)
    return F.conv2d(F.pad(x, (l, r, t, bo)), w, b, stride, 0, 1, groups)


def pool_same(x):
    """TF 2x2 stride-2 SAME max-pool: out = ceil(n / 2), an odd last row / column padded with -inf."""
    H, W = x.shape[2], x.shape[3]
    if H % 2 or W % 2:
        x = F.pad(x, (0, W % 2, 0, H % 2), value=-math.inf)
    return F.max_pool2d(x, 2, 2)


def layer_norm(v, gamma, beta):
    """Over (C, H, W) of each sample, population variance, eps 1e-12, then per channel gamma, beta."""
    return F.layer_norm(v, v.shape[1:], eps=EPS_LN) * gamma + beta


def resize(x, H, W):
    """TF1 resize_images bilinear, align_corners=True (n_out = 1 takes index 0, as torch does)."""
    if x.shape[2] == H and x.shape[3] == W:
        return x
    return F.interpolate(x, size=(H, W), mode="bilinear", align_corners=True)


# ------------------------------------------------------------------------------------------------------
# the torch network

class ZooNet:
    def __init__(self, vars, dtype):
        self.family, self.cell, self.feedback, self.layers = describe(vars)
        self.dtype = dtype
        self.P = {}
        for L in self.layers:
            p = f"tnn_model/{L.name}/"
            self.P[L.name] = {k[len(p):]: self._convert(k[len(p):], v) for k, v in vars.items()
                              if k.startswith(p) and "/Momentum" not in k}
            m = self.P[L.name].get("memory_decay")
            if L.kind != "cell" and m is not None and float(m.reshape(-1)[0]) != 0.0:
                raise SystemExit(f"error: {p}memory_decay != 0 in a layer without a cell (zoo: not trainable, 0)")
        self.K = self.P["imnetds"]["pre_1/bias" if self.family == "shallow" else "pre_3/bias"].shape[0]

    def _convert(self, name, a):
        t = torch.from_numpy(np.ascontiguousarray(a)).to(self.dtype)
        if name.endswith("depthwise_weights"):      # [kh, kw, C, 1] -> [C, 1, kh, kw]
            return t.permute(2, 3, 0, 1).contiguous()
        if "peepholes/" in name:                     # [H, W, C] -> [C, H, W]
            return t.permute(2, 0, 1).contiguous()
        if name.endswith("gamma") or name.endswith("beta"):
            return t.reshape(-1, 1, 1)
        if t.dim() == 4:                             # [kh, kw, Cin, Cout] -> [Cout, Cin, kh, kw]
            return t.permute(3, 2, 0, 1).contiguous()
        if name == "pre_3/weights":                  # fc [C, K] -> [K, C]
            return t.t().contiguous()
        return t

    # --- geometry: output (C, H, W), cell state (Cs, H, W) ----------------------------------------------
    def channels(self, L):
        P = self.P[L.name]
        if L.kind == "plain":
            out = P["pre_0/bias"].shape[0]
            return (P["post_0/bias"].shape[0] if "conv" in L.post else out), None
        c = L.cell
        if c == "timedecay":
            C = P["pre_0/bias"].shape[0]
            cs = C
        elif c == "simplernn":
            C = cs = P["ConvNormBasicCell/s/weights"].shape[0]
        elif c == "gru":
            C = cs = P["ConvGRUCell/candidates/weights"].shape[0]
        elif c == "lstm":
            C = P["ConvLSTMCell/weights"].shape[0] // 4
            cs = 2 * C
        elif c == "ugrnn":
            C = cs = P["ConvUGRNNCell/weights"].shape[0] // 2
        elif c == "intersectionrnn":
            C = cs = P["ConvIntersectionRNNCell/weights"].shape[0] // 4
        elif c == "rgc_shallow":
            C = P["ReciprocalGateCell/cell/tau/weights"].shape[0]
            cs = 2 * C
        else:
            C = P["ReciprocalGateCell/out/tau/pointwise_weights"].shape[0]
            cs = C + P["ReciprocalGateCell/cell/tau/pointwise_weights"].shape[0]
        if "conv" in L.post:
            C = P["post_0/bias"].shape[0]
        return C, cs

    def geometry(self, H, W):
        geo = {}
        h, w = H, W
        for L in self.layers[:-1]:
            h, w = -(-h // L.stride), -(-w // L.stride)
            C, cs = self.channels(L)
            cell = (cs, h, w) if cs is not None else None
            if "maxpool" in L.post:
                h, w = -(-h // 2), -(-w // 2)
            geo[L.name] = dict(out=(C, h, w), state=cell)
        if self.family == "shallow" and (h < 2 or w < 2):
            raise SystemExit(f"error: {H}x{W} image: the shallow readout's 2x2 VALID conv needs conv5's pooled "
                             "output >= 2x2 (H, W >= 65)")
        return geo

    # --- one layer, one step ------------------------------------------------------------------------------
    def cell_step(self, L, P, x, s, u, f):
        """(cell output handed to the post ops, new state)."""
        c = L.cell
        if c == "timedecay":
            s2 = P["memory_decay"] * s + x
            return s2, s2
        if c == "simplernn":
            p = "ConvNormBasicCell/"
            a = conv_same(s, P[p + "s/weights"], P[p + "s/bias"]) + conv_same(x, P[p + "i/weights"], P[p + "i/bias"])
            if L.opts["layer_norm"]:
                a = layer_norm(a, P[p + "layer_norm/gamma"], P[p + "layer_norm/beta"])
            h2 = F.elu(a)
            return h2, h2
        if c == "gru":
            p = "ConvGRUCell/"
            C = s.shape[1]
            g = conv_same(torch.cat((x, s), 1), P[p + "gates/weights"], P[p + "gates/bias"])
            r = torch.sigmoid(g[:, :C] + L.opts["forget_bias"])
            z = torch.sigmoid(g[:, C:])
            cand = torch.tanh(conv_same(torch.cat((x, r * s), 1), P[p + "candidates/weights"],
                                        P[p + "candidates/bias"]))
            h2 = z * s + (1 - z) * cand
            return h2, h2
        if c == "lstm":
            p = "ConvLSTMCell/"
            C = s.shape[1] // 2
            cc, h = s[:, :C], s[:, C:]
            a = conv_same(torch.cat((x, h), 1), P[p + "weights"], P[p + "bias"])
            i, j, fg, o = a[:, :C], a[:, C:2 * C], a[:, 2 * C:3 * C], a[:, 3 * C:]
            ln = L.opts["layer_norm"]
            if ln:
                i = layer_norm(i, P[p + "input/gamma"], P[p + "input/beta"])
                j = layer_norm(j, P[p + "transform/gamma"], P[p + "transform/beta"])
                fg = layer_norm(fg, P[p + "forget/gamma"], P[p + "forget/beta"])
                o = layer_norm(o, P[p + "output/gamma"], P[p + "output/beta"])
            if p + "peepholes/w_f_diag" in P:  # with the OLD c
                fg = fg + P[p + "peepholes/w_f_diag"] * cc
                i = i + P[p + "peepholes/w_i_diag"] * cc
                o = o + P[p + "peepholes/w_o_diag"] * cc
            c2 = cc * torch.sigmoid(fg + L.opts["forget_bias"]) + torch.sigmoid(i) * torch.tanh(j)
            if ln:
                c2 = layer_norm(c2, P[p + "state/gamma"], P[p + "state/beta"])
            h2 = torch.tanh(c2) * torch.sigmoid(o)
            return h2, torch.cat((c2, h2), 1)
        if c == "ugrnn":
            p = "ConvUGRNNCell/"
            C = s.shape[1]
            a = conv_same(torch.cat((x, s), 1), P[p + "weights"], P[p + "bias"])
            G = torch.sigmoid(a[:, :C] + L.opts["forget_bias"])
            h2 = G * s + (1 - G) * torch.tanh(a[:, C:])
            return h2, h2
        if c == "intersectionrnn":
            p = "ConvIntersectionRNNCell/"
            C = s.shape[1]
            fb = L.opts["forget_bias"]
            a = conv_same(torch.cat((x, s), 1), P[p + "weights"], P[p + "bias"])
            sgh = torch.sigmoid(a[:, :C] + fb)
            h2 = sgh * s + (1 - sgh) * torch.tanh(a[:, C:2 * C])
            sgy = torch.sigmoid(a[:, 2 * C:3 * C] + fb)
            y = sgy * x + (1 - sgy) * F.relu(a[:, 3 * C:])
            return y, h2
        if c == "rgc_shallow":
            p = "ReciprocalGateCell/"
            C = s.shape[1] // 2
            cc, h = s[:, :C], s[:, C:]
            Fx = conv_same(x, P[p + "cell/input_to_cell/weights"])
            c2 = F.elu((1 - torch.sigmoid(conv_same(cc, P[p + "cell/tau/weights"]))) * cc
                       + (1 - torch.sigmoid(conv_same(h, P[p + "cell/gate/weights"]))) * Fx)
            gate = conv_same(cc, P[p + "out/gate/weights"]) + conv_same(u, P[p + "out/residual_to_out_gate/weights"])
            h2 = F.elu((1 - torch.sigmoid(conv_same(h, P[p + "out/tau/weights"]))) * h
                       + (1 - torch.sigmoid(gate)) * x)
            return h2, torch.cat((c2, h2), 1)
        # rgc_intermediate
        p = "ReciprocalGateCell/"
        Cc = P[p + "cell/tau/pointwise_weights"].shape[0]
        cc, h = s[:, :Cc], s[:, Cc:]

        def ds7(v, scope):
            d = conv_same(v, P[p + scope + "/depthwise_weights"], groups=v.shape[1])
            return F.conv2d(d, P[p + scope + "/pointwise_weights"], P[p + scope + "/bias"])

        ff_c = conv_same(x, P[p + "cell/input_to_cell_weights"], P[p + "cell/input_to_cell_bias"])
        c2 = F.elu((RGC_TAU - RGC_TAU * torch.sigmoid(ds7(cc, "cell/tau"))) * cc
                   + (RGC_GATE - RGC_GATE * torch.tanh(ds7(h, "cell/out_to_cell"))) * ff_c)
        drive = conv_same(x, P[p + "out/input_to_out_weights"], P[p + "out/input_to_out_bias"])
        if p + "out/residual_add_weights" in P:
            drive = drive + F.conv2d(u, P[p + "out/residual_add_weights"])
        else:
            drive = drive + u
        if p + "out/feedback_to_out_weights" in P:
            wf, bf = P[p + "out/feedback_to_out_weights"], P[p + "out/feedback_to_out_bias"]
            if f is None:  # the weights without the edges: a zero feedback input
                drive = drive + bf.reshape(1, -1, 1, 1)
            else:
                drive = drive + F.conv2d(f, wf, bf)
        h2 = F.elu((RGC_TAU - RGC_TAU * torch.sigmoid(ds7(h, "out/tau"))) * h
                   + (RGC_GATE - RGC_GATE * torch.tanh(ds7(cc, "out/gate"))) * drive)
        return h2, torch.cat((c2, h2), 1)

    def layer_step(self, L, ff, fbs, state):
        P = self.P[L.name]
        if L.kind == "readout":
            if self.family == "shallow":
                return F.conv2d(ff, P["pre_1/weights"], P["pre_1/bias"]).mean(dim=(2, 3)), None
            return F.linear(ff.mean(dim=(2, 3)), P["pre_3/weights"], P["pre_3/bias"]), None
        u = ff
        f = None
        if L.fb:
            H, W = u.shape[2], u.shape[3]
            f = torch.cat([resize(v, H, W) for v in fbs], 1)
        x = conv_same(u, P["pre_0/weights_basenet"], P["pre_0/bias"], stride=L.stride)
        if L.pre_act == "elu":
            x = F.elu(x)
        new_state = None
        if L.kind == "cell":
            y, new_state = self.cell_step(L, P, x, state, u, f)
        else:
            y = x
        for op in L.post:
            if op == "conv":
                y = conv_same(y, P["post_0/weights"], P["post_0/bias"])
            elif op == "residual":
                if "post_1/residual_add_weights" in P:
                    y = y + F.conv2d(u, P["post_1/residual_add_weights"])
                else:
                    y = y + u
            elif op == "elu":
                y = F.elu(y)
            else:
                y = pool_same(y)
        return y, new_state

    # --- the unrolled pass -----------------------------------------------------------------------------
    def forward(self, images, times, image_off, off_value=OFF_VALUE, observe=None):
        """images (N, 3, H, W), normalised. Returns the logits (times, N, K). At t = 0 every layer reads zero
        standins and zero states; at step t a layer reads its predecessors' outputs of step t-1; conv1 reads
        the image for t < image_off (every t when None), off_value after. observe(t, name, out, state)."""
        N, _, H, W = images.shape
        geo = self.geometry(H, W)
        prev = {n: images.new_zeros((N,) + g["out"]) for n, g in geo.items()}
        state = {n: images.new_zeros((N,) + g["state"]) for n, g in geo.items() if g["state"] is not None}
        blank = None
        if image_off is not None and image_off < times:
            blank = torch.full_like(images, off_value)
        logits = []
        for t in range(times):
            x = images if image_off is None or t < image_off else blank
            new = {}
            for L in self.layers:
                y, s = self.layer_step(L, x if L.ff is None else prev[L.ff], [prev[n] for n in L.fb],
                                       state.get(L.name))
                new[L.name] = y
                if s is not None:
                    state[L.name] = s
                if observe is not None:
                    observe(t, L.name, y, s)
            prev = new
            logits.append(new["imnetds"])
        return torch.stack(logits)


def normalise(pixels):
    mean = torch.tensor(IMAGENET_MEAN, dtype=pixels.dtype).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=pixels.dtype).reshape(1, 3, 1, 1)
    return (pixels - mean) / std


# ------------------------------------------------------------------------------------------------------
# a streaming bundle writer with a vectorised CRC-32C (tf_bundle_writer's pure-Python CRC runs at a few MB/s)

def _crc_table():
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> np.uint32(1)) ^ np.uint32(0x82F63B78), t >> np.uint32(1)).astype(np.uint32)
    return t


_TABLE = _crc_table()
_CHUNK = 4096
_SHIFT = None  # 4 x 256 tables of the linear map "L zero bytes" on the raw CRC register


def _shift_tables():
    global _SHIFT
    if _SHIFT is None:
        c = (np.arange(256, dtype=np.uint32)[None, :] << (np.uint32(8) * np.arange(4, dtype=np.uint32)[:, None]))
        c = c.reshape(-1).astype(np.uint32)
        for _ in range(_CHUNK):
            c = (c >> np.uint32(8)) ^ _TABLE[c & np.uint32(0xFF)]
        _SHIFT = [[int(v) for v in row] for row in c.reshape(4, 256)]
    return _SHIFT


def crc32c(raw):
    """CRC-32C of `raw`, equal to tf_bundle_writer.crc32c. The register update is linear over GF(2): the
    CRC of M chunks of L bytes is folded from the chunks' zero-initialised registers (computed for all chunks
    at once with numpy) by s <- A_L(s) ^ r_i, A_L = the effect of L zero bytes."""
    n = len(raw)
    M = n // _CHUNK
    if M < 16:
        return tbw.crc32c(raw)
    a = np.ascontiguousarray(np.frombuffer(raw, dtype=np.uint8, count=M * _CHUNK).reshape(M, _CHUNK).T)
    r = np.zeros(M, dtype=np.uint32)
    m8 = np.uint32(8)
    for row in a:
        r = (r >> m8) ^ _TABLE[(r ^ row) & np.uint32(0xFF)]
    T0, T1, T2, T3 = _shift_tables()
    s = 0xFFFFFFFF
    for ri in r.tolist():
        s = T0[s & 0xFF] ^ T1[(s >> 8) & 0xFF] ^ T2[(s >> 16) & 0xFF] ^ T3[s >> 24] ^ ri
    return tbw.crc32c(raw[M * _CHUNK:], s ^ 0xFFFFFFFF)


_DT = {np.dtype(np.float32): tbw.DT_FLOAT, np.dtype(np.float64): tbw.DT_DOUBLE,
       np.dtype(np.int32): tbw.DT_INT32, np.dtype(np.int64): tbw.DT_INT64}


def write_bundle(prefix, tensors):
    """The bytes of tf_bundle_writer.write_bundle, the data streamed to the shard file. Returns its size."""
    keyed = sorted(((name.encode("utf-8"), np.asarray(a)) for name, a in tensors.items()), key=lambda e: e[0])
    items = [(b"", tbw.encode_header())]
    offset = 0
    with open(tbw.shard_path(prefix), "wb") as f:
        for key, a in keyed:
            a = a.astype(a.dtype.newbyteorder("="), copy=False)
            raw = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
            items.append((key, tbw.encode_entry(_DT[a.dtype], a.shape, 0, offset, len(raw),
                                                tbw.mask_crc(crc32c(raw)))))
            f.write(raw)
            offset += len(raw)
    tbw.write_index(prefix + ".index", items)
    return offset


# ------------------------------------------------------------------------------------------------------
# --make: zoo-shaped weights at the real sizes

K_ZOO = 1000
SHALLOW_REAL = {"conv1": 64, "conv2": 128, "x": (256, 256, 512), "C": (256, 256, 512)}
SHALLOW_C = {"simplernn": (128, 256, 256), "lstm": (128, 256, 256)}
LSTM_K = {"conv3": 2, "conv4": 3, "conv5": 4}
INTER_REAL_C = {"conv4": 128, "conv5": 128, "conv6": 256, "conv7": 256, "conv8": 512, "conv9": 512, "conv10": 512}
RGC_REAL_C = {"conv4": 128, "conv5": 128, "conv6": 256, "conv7": 256, "conv8": 256, "conv9": 512, "conv10": 512}
RGC_CC = 64
TIMEDECAY_M = {"conv3": 0.3, "conv4": 0.5, "conv5": 0.7, "conv6": 0.4, "conv7": 0.6, "conv8": 0.2,
               "conv9": 0.5, "conv10": 0.3}


def _cell_grid(family, layer, H, W):
    pools = {"shallow": {"conv3": 2, "conv4": 3, "conv5": 4},
             "intermediate": {"conv4": 1, "conv5": 2, "conv6": 2, "conv7": 3, "conv8": 4, "conv9": 4,
                              "conv10": 4}}[family][layer]
    h, w = -(-H // 2), -(-W // 2)
    for _ in range(pools):
        h, w = -(-h // 2), -(-w // 2)
    return h, w


def build_real_weights(model, seed, H, W):
    cell, family = model.rsplit("_", 1)
    rng = np.random.default_rng([seed, MODELS.index(model)])
    t = {}
    scale = {"simplernn": 0.5, "lstm": 0.5, "rgc": 0.7}.get(cell, 0.8)

    def pre(layer, k, cin, cout):
        t[f"tnn_model/{layer}/pre_0/weights_basenet"] = wgain(rng, k, k, cin, cout)
        t[f"tnn_model/{layer}/pre_0/bias"] = 0.1 * rng.standard_normal(cout)

    def add_cell(layer, cname, **kw):
        for name, val in make_vars(rng, cname, scale=scale, **kw).items():
            t[f"tnn_model/{layer}/{name}"] = val

    if family == "shallow":
        c1, c2 = SHALLOW_REAL["conv1"], SHALLOW_REAL["conv2"]
        pre("conv1", 7, 3, c1)
        pre("conv2", 3, c1, c2)
        t["tnn_model/conv1/memory_decay"] = np.zeros(1)
        t["tnn_model/conv2/memory_decay"] = np.zeros(1)
        cprev = c2
        Cs = SHALLOW_C.get(cell, SHALLOW_REAL["C"])
        for xch, C, layer in zip(SHALLOW_REAL["x"], Cs, ("conv3", "conv4", "conv5")):
            if cell in ("timedecay", "rgc", "intersectionrnn"):
                xch = C
            pre(layer, 3, cprev, xch)
            if cell == "timedecay":
                t[f"tnn_model/{layer}/memory_decay"] = np.array([TIMEDECAY_M[layer]])
            elif cell == "lstm":
                h, w = _cell_grid(family, layer, H, W)
                add_cell(layer, "lstm", cin=xch, C=C, k=LSTM_K[layer], H=h, W=w, layer_norm=True,
                         peepholes=(layer == "conv4"))
            elif cell == "simplernn":
                add_cell(layer, "simplernn", cin=xch, C=C, layer_norm=True)
            elif cell == "rgc":
                add_cell(layer, "rgc_shallow", cin=xch, C=C, cu=cprev)
            else:
                add_cell(layer, cell, cin=xch, C=C)
            cprev = C
        t["tnn_model/imnetds/pre_1/weights"] = wgain(rng, 2, 2, cprev, K_ZOO)
        t["tnn_model/imnetds/pre_1/bias"] = 0.1 * rng.standard_normal(K_ZOO)
    else:
        rgc = cell == "rgc"
        c1 = 64
        pre("conv1", 7, 3, c1)
        cprev = c1
        for layer in ("conv2", "conv3"):
            c = 128 if rgc else 64
            pre(layer, 3, cprev, c)
            if not rgc:
                t[f"tnn_model/{layer}/post_0/weights"] = wgain(rng, 3, 3, c, c, scale=0.7)
                t[f"tnn_model/{layer}/post_0/bias"] = 0.1 * rng.standard_normal(c)
            cprev = c
        for layer in ("conv1", "conv2", "conv3"):
            t[f"tnn_model/{layer}/memory_decay"] = np.zeros(1)
        chans = RGC_REAL_C if rgc else INTER_REAL_C
        for i in range(4, 11):
            layer = f"conv{i}"
            C = chans[layer]
            pre(layer, 3, cprev, C)
            if rgc:
                fb = {"conv5": chans["conv8"], "conv6": chans["conv7"] + chans["conv9"], "conv7": chans["conv10"],
                      "conv9": chans["conv10"]}.get(layer)
                add_cell(layer, "rgc_intermediate", cin=C, C=C, cc=RGC_CC, cres=(cprev if cprev != C else None),
                         cfb=fb)
                if fb:  # keep the feedback loops tame, as the fixtures do
                    key = f"tnn_model/{layer}/ReciprocalGateCell/out/feedback_to_out_weights"
                    t[key] = t[key] * 0.25
            else:
                if cell == "timedecay":
                    t[f"tnn_model/{layer}/memory_decay"] = np.array([TIMEDECAY_M[layer]])
                else:
                    add_cell(layer, cell, cin=C, C=C)
                t[f"tnn_model/{layer}/post_0/weights"] = wgain(rng, 3, 3, C, C, scale=0.7)
                t[f"tnn_model/{layer}/post_0/bias"] = 0.1 * rng.standard_normal(C)
                if cprev != C:
                    t[f"tnn_model/{layer}/post_1/residual_add_weights"] = wgain(rng, 1, 1, cprev, C)
            cprev = C
        t["tnn_model/imnetds/pre_3/weights"] = wgain(rng, cprev, K_ZOO)
        t["tnn_model/imnetds/pre_3/bias"] = 0.1 * rng.standard_normal(K_ZOO)
    t["tnn_model/imnetds/memory_decay"] = np.zeros(1)
    out = {k: np.asarray(v, dtype=np.float32) for k, v in t.items()}
    for name in sorted(out)[:3]:  # a few optimiser slots and the step counter, as the zoo checkpoints
        out[name + "/Momentum"] = np.zeros_like(out[name])
    out["global_step"] = np.array(123456, dtype=np.int64)
    return out


def cmd_make(a):
    if a.model not in MODELS:
        raise SystemExit(f"error: --model must be one of {', '.join(MODELS)}")
    H, W = a.height or 224, a.width or 224
    tensors = build_real_weights(a.model, a.seed, H, W)
    nbytes = sum(v.nbytes for v in tensors.values())
    print(f"writing {a.make}: {a.model}, {len(tensors)} tensors, "
          f"{sum(v.size for k, v in tensors.items() if k != 'global_step') / 1e6:.1f} M values, "
          f"{nbytes / 2**20:.1f} MiB", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.make)), exist_ok=True)
    t0 = time.perf_counter()
    size = write_bundle(a.make, tensors)
    print(f"wrote {tbw.shard_path(a.make)} ({size} bytes) and {a.make}.index "
          f"({os.path.getsize(a.make + '.index')} bytes) in {time.perf_counter() - t0:.1f} s")
    return 0


# ------------------------------------------------------------------------------------------------------
# --run

def cmd_run(a):
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dtype = torch.float32 if a.dtype == "float32" else torch.float64
    net = ZooNet(read_bundle(a.run), dtype)
    times = a.times if a.times is not None else TIMES[net.family]
    if a.image_off is None:
        image_off = IMAGE_OFF
    elif a.image_off.lower() == "none":
        image_off = None
    else:
        image_off = int(a.image_off)
    H, W = a.height or 224, a.width or 224
    gen = torch.Generator().manual_seed(0)
    pixels = torch.rand(a.n, 3, H, W, generator=gen, dtype=torch.float64).float()
    if a.save_images:
        np.save(a.save_images, pixels.numpy())
    images = normalise(pixels.double()).to(dtype)
    net.geometry(H, W)  # refuses sizes the readout cannot take, before any timing
    best = float("inf")
    with torch.inference_mode():
        if a.stats:
            peak = {}

            def observe(t, name, y, s):
                m = float(y.abs().max())
                if s is not None:
                    m = max(m, float(s.abs().max()))
                peak[name] = max(peak.get(name, 0.0), m)

            lg = net.forward(images[:a.batch], times, image_off, observe=observe)
            print(f"{net.family} {net.cell} feedback={net.feedback}: max |output or state| over {times} steps: "
                  + ", ".join(f"{k} {v:.3g}" for k, v in peak.items())
                  + f"; finite logits: {bool(torch.isfinite(lg).all())}", file=sys.stderr, flush=True)
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            preds = []
            for i in range(0, a.n, a.batch):
                preds.append(net.forward(images[i:i + a.batch], times, image_off)[-1].argmax(1))
            torch.cat(preds)
            best = min(best, time.perf_counter() - t0)
    print(f"images_per_second {a.n / best:.3f} seconds {best:.4f} images {a.n}")
    return 0


# ------------------------------------------------------------------------------------------------------
# --check

def _rel(got, want):
    want = want.to(torch.float64)
    if got.shape != want.shape:
        return math.inf
    scale = float(want.abs().max())
    d = float((got - want).abs().max())
    return d / scale if scale > 0 else d


def cmd_check(a):
    root = FIXTURES / "convrnn_network"
    exp = torch.load(root / "expected.pth", map_location="cpu")
    tol = 1e-10
    failed = 0
    bundles = sorted(p.name for p in root.iterdir() if (p / "model.ckpt.index").exists())
    torch.set_num_threads(a.threads if a.threads > 0 else 1)
    for b in bundles:
        vars = read_bundle(str(root / b / "model.ckpt"))
        net = ZooNet(vars, torch.float64)
        fam = "shallow" if float(exp[f"{b}/opt/family"]) == 0 else "intermediate"
        assert fam == net.family, (b, fam, net.family)
        images = exp["images/" + fam].to(torch.float64)
        times = int(exp[f"{b}/opt/times"])
        image_off = int(exp[f"{b}/opt/image_off"])
        off = float(exp[f"{b}/opt/off_value"])
        layer_err, nlayer = [0.0], [0]
        finals = {}

        def observe(t, name, y, s):
            key = f"{b}/fwd/{name}/t{t}"
            if key in exp:
                layer_err[0] = max(layer_err[0], _rel(y[:1], exp[key]))
                nlayer[0] += 1
            if s is not None and t == times - 1:
                finals[name] = s[:1]

        with torch.inference_mode():
            logits = net.forward(images, times, image_off, off, observe=observe)
        lerr = _rel(logits, exp[f"{b}/fwd/logits"])
        serr = max((_rel(s, exp[f"{b}/fwd/{n}/state_final"]) for n, s in finals.items()), default=0.0)
        ok = lerr <= tol and layer_err[0] <= tol and serr <= tol and len(finals) > 0
        ok = ok and (nlayer[0] > 0 or b.endswith("_nofb"))
        failed += not ok
        print(f"{b:26s} {net.family:12s} {net.cell:15s} fb={int(net.feedback)} times {times:2d}: "
              f"logits {tuple(logits.shape)} max rel err {lerr:.2e}; layer outputs ({nlayer[0]}) {layer_err[0]:.2e}; "
              f"final states ({len(finals)}) {serr:.2e}  {'ok' if ok else 'MISMATCH'}")
    # the writer: byte-identical to tf_bundle_writer.write_bundle (incl. the vectorised CRC path)
    rng = np.random.default_rng(5)
    tensors = {k: v.astype(np.float32) for k, v in read_bundle(str(root / "gru_intermediate" / "model.ckpt")).items()}
    tensors["big/a"] = rng.standard_normal(80_000 + 3).astype(np.float32)
    tensors["big/b"] = rng.standard_normal((64, 1025)).astype(np.float64)
    tensors["global_step"] = np.array(7, dtype=np.int64)
    with tempfile.TemporaryDirectory() as d:
        write_bundle(os.path.join(d, "mine"), tensors)
        tbw.write_bundle(os.path.join(d, "ref"), tensors)
        same = all(open(os.path.join(d, "mine" + s), "rb").read() == open(os.path.join(d, "ref" + s), "rb").read()
                   for s in (".index", ".data-00000-of-00001"))
    failed += not same
    print(f"bundle writer vs tf_bundle_writer.write_bundle: {'identical bytes' if same else 'DIFFERENT'}")
    print(f"{len(bundles)} bundles, {failed} failure(s)")
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--make", metavar="PREFIX")
    g.add_argument("--run", metavar="PREFIX")
    g.add_argument("--check", action="store_true")
    p.add_argument("--model", help="--make: one of " + ", ".join(MODELS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--times", type=int, default=None, help="unrolled steps (default 16 shallow, 17 intermediate)")
    p.add_argument("--image-off", default=None, help="first blank step (default 12; 'none': the image always)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--height", type=int, default=None, help="image height (default 224)")
    p.add_argument("--width", type=int, default=None, help="image width (default 224)")
    p.add_argument("--stats", action="store_true", help="--run: print each layer's max |value| to stderr first")
    p.add_argument("--save-images", metavar="NPY", help="--run: also save the pixels (float32 [N, 3, H, W] in "
                   "[0, 1], before the normalisation) as .npy, e.g. for `convdyn run --images`")
    a = p.parse_args()
    if a.make:
        return cmd_make(a)
    if a.run:
        if a.n < 1 or a.batch < 1 or a.repeat < 1:
            raise SystemExit("error: --n, --batch and --repeat must be >= 1")
        return cmd_run(a)
    return cmd_check(a)


if __name__ == "__main__":
    sys.exit(main())
