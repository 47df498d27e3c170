"""Small dense helpers: ordered real Schur forms (the projected problem), Schur blocks, Ritz vectors.

Everything here is O(m^3) on m x m matrices (m <= ~200); the C++ code already has equivalents
(linalg/detail/ordered_schur.hpp): ordered_schur == ordered_schur(), schur_blocks == schur_blocks().
"""
import numpy as np
import scipy.linalg as sla
from scipy.linalg.lapack import dtrexc


def schur_blocks(T, lo=0, hi=None):
    """Diagonal blocks of quasi-triangular T in [lo, hi): list of (start, size, value), value with Im >= 0."""
    hi = T.shape[0] if hi is None else hi
    out, i = [], lo
    while i < hi:
        if i + 1 < hi and T[i + 1, i] != 0.0:
            a, b, c, d = T[i, i], T[i, i + 1], T[i + 1, i], T[i + 1, i + 1]
            tr, det = a + d, a * d - b * c
            disc = tr * tr / 4 - det
            if disc < 0:
                val = complex(tr / 2, np.sqrt(-disc))
            else:  # a non-standardised 2x2 block with real eigenvalues (rare): report the larger
                val = complex(tr / 2 + np.sqrt(disc), 0.0)
            out.append((i, 2, val))
            i += 2
        else:
            out.append((i, 1, complex(T[i, i], 0.0)))
            i += 1
    return out


def ordered_schur(S, lo, key, nsort=None):
    """Real Schur form T = U^T S U of S, S block upper triangular w.r.t. lo (S[lo:, :lo] = 0, S[:lo, :lo]
    quasi-triangular and left alone = locked). The blocks in [lo, p) are sorted by key(value) descending
    (best first); only the first `nsort` positions are guaranteed sorted (default: all).
    `key` maps a complex value (Im >= 0) to a float."""
    p = S.shape[0]
    T = np.array(S, dtype=np.float64, copy=True)
    U = np.eye(p)
    if lo < p:
        Tr, Z = sla.schur(S[lo:, lo:], output="real")
        T[lo:, lo:] = Tr
        T[:lo, lo:] = S[:lo, lo:] @ Z
        T[lo:, :lo] = 0.0
        U[lo:, lo:] = Z
    nsort = p if nsort is None else min(p, nsort)
    pos = lo
    while pos < nsort:
        blocks = schur_blocks(T, pos)
        if not blocks:
            break
        keys = [key(b[2]) for b in blocks]
        j = int(np.argmax(keys))
        st = blocks[j][0]
        if st != pos:
            T2, U2, info = dtrexc(T, U, st + 1, pos + 1)  # 1-based; info != 0: swap refused (ill-conditioned)
            if info == 0:
                T, U = T2, U2
            else:  # leave it; move on past the current block at pos
                pass
        # advance past the block now at pos
        pos += 2 if (pos + 1 < p and T[pos + 1, pos] != 0.0) else 1
    return T, U


def ritz_vectors(T, blocks):
    """Unit eigenvectors y (in the Schur basis, complex) of quasi-triangular T for each block's value."""
    w, Y = np.linalg.eig(T)
    out = []
    used = set()
    for (st, sz, val) in blocks:
        # eigenvector of T for `val`: the eigenvalue nearest val, preferring unused ones
        order = np.argsort(np.abs(w - val))
        j = next((int(i) for i in order if int(i) not in used), int(order[0]))
        used.add(j)
        y = Y[:, j]
        out.append(y / np.linalg.norm(y))
    return out


def real_block_vectors(ys, blocks):
    """Stack eigenvectors of blocks as real rows: a real value gives Re y, a pair gives (Re y, Im y).
    Returns (Yr (r, p), Cm (r, r) with Yr-rows * A = Cm @ Yr-rows for exact eigenvectors)."""
    rows, r = [], 0
    cs = []
    for y, (st, sz, val) in zip(ys, blocks):
        if sz == 1:
            rows.append(y.real)
            cs.append(np.array([[val.real]]))
        else:
            rows.append(y.real)
            rows.append(y.imag)
            a, c = val.real, val.imag
            cs.append(np.array([[a, -c], [c, a]]))
    Yr = np.array(rows)
    Cm = sla.block_diag(*cs) if cs else np.zeros((0, 0))
    return Yr, Cm
