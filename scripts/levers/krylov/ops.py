"""The operator: zero-padded 3x3 convolution y = conv2d(x, w, padding=1) on a (C, H, W) image, float64.

Vectors are rows of numpy arrays (b, n) with n = C*H*W (C-order, same as x.reshape(-1)); apply() maps a
block of b vectors in one batched conv2d call and counts b matvecs.
"""
import numpy as np
import torch
import torch.nn.functional as F


def bench_weight(C, seed):
    """The C++ bench's weights: torch.manual_seed(seed); randn(C, C, 3, 3) / sqrt(9 C), float64."""
    torch.manual_seed(seed)
    return torch.randn(C, C, 3, 3, dtype=torch.float64) / np.sqrt(9.0 * C)


class ConvOp:
    def __init__(self, C, H, W, seed=None, weight=None, mask=None):
        self.C, self.H, self.W = C, H, W
        self.n = C * H * W
        self.w = bench_weight(C, seed) if weight is None else weight
        # optional diagonal mask D (0/1 per unit): operator D*W (stability analysis at a fixed point)
        self.mask = None if mask is None else np.asarray(mask, dtype=np.float64).reshape(-1)
        self.matvecs = 0

    def apply(self, X):
        X = np.ascontiguousarray(X)
        single = X.ndim == 1
        Xb = X.reshape(1, -1) if single else X
        b = Xb.shape[0]
        x = torch.from_numpy(Xb).view(b, self.C, self.H, self.W)
        y = F.conv2d(x, self.w, padding=1).reshape(b, self.n).numpy()
        if self.mask is not None:
            y = y * self.mask
        self.matvecs += b
        return y[0] if single else y
