"""Shared pieces: cost accounting, (block) classical Gram-Schmidt with the DGKS test, true residuals.

Cost accounting (what the README's tables report):
  matvecs       : operator applications (one vector = one matvec; a batched block of b = b matvecs)
  gs_passes     : Gram-Schmidt vector-passes = sum over CGS passes of the number of basis vectors the pass
                  reads (projection V^T W and update W -= V^T H together = one pass). A block pass over j
                  basis vectors counts j, whatever the block width b; gs_by_b keeps them apart by b
                  because a b-column GEMM pass costs more than a GEMV pass (measured t_v(b)).
  intra         : vector-passes inside a new block (QR of the block against itself), small.
  restart_flops : flops of the restart GEMMs (V <- V Q, U <- U Q, Rayleigh quotient V^T U, Ritz vectors),
                  modelled at a GEMM rate, and restart_reads (vectors read by them).
"""
import numpy as np
from collections import defaultdict

DGKS = 0.717  # second pass when the pass removed more than ~30% of the norm (1/sqrt(2), ARPACK/SLEPc)


class Stats:
    def __init__(self):
        self.gs_by_b = defaultdict(int)
        self.gs_passes = 0
        self.second_passes = 0
        self.intra = 0
        self.restart_flops = 0.0
        self.restart_reads = 0
        self.restarts = 0
        self.steps = 0

    def gs(self, nvec, b=1):
        self.gs_passes += nvec
        self.gs_by_b[b] += nvec

    def gemm(self, nread, ncols, n):
        """A restart GEMM reading nread basis vectors of length n to produce ncols combinations."""
        self.restart_reads += nread
        self.restart_flops += 2.0 * nread * ncols * n

    def as_dict(self):
        return dict(gs_passes=self.gs_passes, gs_by_b=dict(self.gs_by_b), second_passes=self.second_passes,
                    intra=self.intra, restart_flops=self.restart_flops, restart_reads=self.restart_reads,
                    restarts=self.restarts, steps=self.steps, cond_s=getattr(self, "cond_s", None))


def cgs(V, j, w, stats):
    """Orthogonalise w (1-D, modified in place) against the rows V[:j]: one classical GS pass, a second
    when the DGKS test asks. Returns (h (j,), norm before, norm after)."""
    norm_in = np.linalg.norm(w)
    Vj = V[:j]
    h = Vj @ w
    w -= h @ Vj
    stats.gs(j)
    norm_out = np.linalg.norm(w)
    if norm_out < DGKS * norm_in:
        h2 = Vj @ w
        w -= h2 @ Vj
        h += h2
        stats.gs(j)
        stats.second_passes += 1
        norm_out = np.linalg.norm(w)
    return h, norm_in, norm_out


def block_cgs(V, j, W, stats, always_twice=False):
    """Orthogonalise the rows of W (b, n; modified in place) against V[:j] (block CGS, GEMMs), a second
    pass when any column lost more than DGKS of its norm (or always). Returns the coefficients
    C (j, b) with W_in = C^T V[:j] + W_out."""
    b = W.shape[0]
    Vj = V[:j]
    n_in = np.linalg.norm(W, axis=1)
    C = Vj @ W.T
    W -= C.T @ Vj
    stats.gs(j, b)
    n_out = np.linalg.norm(W, axis=1)
    if always_twice or np.any(n_out < DGKS * n_in):
        C2 = Vj @ W.T
        W -= C2.T @ Vj
        C += C2
        stats.gs(j, b)
        stats.second_passes += 1
    return C


def block_qr(W, stats):
    """Orthonormalise the rows of W (b, n) among themselves: W = R^T Q (Q rows orthonormal, R upper
    triangular b x b). Householder QR of W^T (as TSQR would); counted as 2 b intra-block vector reads."""
    Q, R = np.linalg.qr(W.T, mode="reduced")
    stats.intra += 2 * W.shape[0]
    return Q.T.copy(), R


def true_residuals(op, X, Cm):
    """Residuals through the operator: rows of X are real Ritz vectors (Re/Im parts), A X = Cm X exactly
    for eigenpairs. Returns per-row-group residual norms ||A x - lambda x|| / ||x|| given the grouping
    (pairs share a residual). Counts X.shape[0] matvecs."""
    R = op.apply(X) - Cm @ X
    return np.linalg.norm(R, axis=1), np.linalg.norm(X, axis=1)


def group_residuals(rn, xn, blocks):
    """Combine per-row residual norms into one relative residual per block (pair: both rows)."""
    out, row = [], 0
    for (st, sz, val) in blocks:
        r2 = np.sum(rn[row:row + sz] ** 2)
        x2 = np.sum(xn[row:row + sz] ** 2)
        out.append(np.sqrt(r2 / x2))
        row += sz
    return np.array(out)


def expand_pairs(values, residuals, sizes):
    """Blocks -> eigenvalue list with both members of each conjugate pair."""
    vals, res = [], []
    for v, r, s in zip(values, residuals, sizes):
        vals.append(v)
        res.append(r)
        if s == 2:
            vals.append(np.conj(v))
            res.append(r)
    return np.array(vals), np.array(res)
