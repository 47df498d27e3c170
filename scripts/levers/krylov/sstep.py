"""s-step (communication-avoiding) expansion of a Krylov-Schur decomposition: the SAME Krylov subspace of A
as s single Arnoldi steps, but s matvecs share one block Gram-Schmidt (GEMMs over the basis) -- the basis
is read ~2 (or 4 with the second pass) times per s new vectors instead of 2 s times.

Given A V_p = V_{p+1} H_old  ((p+1) x p, any Krylov-Schur form, v_p = V[p] the continuation vector):
  1. Newton basis from w_0 = v_p:  w_{i+1} = (A w_i - sigma_i w_i) / eta_i,  i = 0..s-1
     => A [w_0..w_{s-1}] = [w_0..w_s] Bn,  Bn (s+1 x s) bidiagonal: Bn[i,i] = sigma_i, Bn[i+1,i] = eta_i.
     Only vector norms in the loop (no basis pass).
  2. Block CGS of [w_1..w_s] against V[:p+1] (DGKS test per column, second pass when needed),
     then Householder QR of the block: w_i = sum_j C[j,i] v_j + sum_l R[l,i] q_l.
  3. Recover the new Hessenberg columns: with Wc = coordinates of [w_0..w_s] in [V[:p+1], q_1..q_s],
         A [v_p, q_1..q_{s-1}] S = [V, Q] (Wc Bn - H_old Wc[:p, :s]),   S = Wc[p:p+s, :s] upper triangular
     so  H[:, p:p+s] = (Wc Bn - H_old_padded Wc[:p, :s]) S^{-1}   (a small triangular solve).
The condition of S (of the s-step basis) multiplies the rounding errors of H: for a disk-shaped spectrum
centred near 0 the monomial basis (sigma = 0) is already well conditioned (z^j are orthogonal on a circle).
"""
import numpy as np
from scipy.linalg import solve_triangular
from kscore import block_cgs, block_qr


def sstep_shifts(H, p, s, mode, state):
    if mode == "zero":
        return np.zeros(s)
    ritz = state.get("ritz")
    if mode == "centre":  # centre of the cloud, estimated once from the first cycle's Ritz values
        return np.full(s, state.get("centre", 0.0))
    if mode == "leja":  # real parts of the Ritz values, Leja-ordered (Bai, Hu & Reichel 1994)
        if not ritz:
            return np.zeros(s)
        x = np.unique(np.round(np.array([z.real for z in ritz]), 12))
        out = [x[np.argmax(np.abs(x))]]
        while len(out) < s:
            prod = np.prod([np.abs(x - y) for y in out], axis=0)
            out.append(x[int(np.argmax(prod))])
        return np.array(out[:s])
    raise ValueError(mode)


def sstep_expand(op, V, H, p, s, shifts, st):
    """Extend A V_p = V_{p+1} H[:p+1, :p] to A V_{p+s} = V_{p+s+1} H[:p+s+1, :p+s] (in place)."""
    n = V.shape[1]
    W = np.empty((s + 1, n))
    W[0] = V[p]
    Bn = np.zeros((s + 1, s))
    for i in range(s):
        y = op.apply(W[i]) - shifts[i] * W[i]
        eta = np.linalg.norm(y)
        W[i + 1] = y / eta
        Bn[i, i], Bn[i + 1, i] = shifts[i], eta
    Wn = W[1:].copy()
    C = block_cgs(V, p + 1, Wn, st)           # (p+1, s)
    Q, R = block_qr(Wn, st)                    # Wn = R^T Q
    V[p + 1:p + 1 + s] = Q
    N = p + 1 + s
    Wc = np.zeros((N, s + 1))
    Wc[p, 0] = 1.0
    Wc[:p + 1, 1:] = C
    Wc[p + 1:, 1:] = R
    Hold = np.zeros((N, p))
    Hold[:p + 1, :p] = H[:p + 1, :p]
    rhs = Wc @ Bn - Hold @ Wc[:p, :s]
    S = Wc[p:p + s, :s]
    X = solve_triangular(S, rhs.T, trans="T", lower=False).T   # X S = rhs
    # X is upper Hessenberg below row p (column p+i reaches row p+i+1); drop the rounding below it
    for i in range(s):
        X[p + i + 2:, i] = 0.0
    H[:N, p:p + s] = X
    st.steps += s
    cond = float(np.linalg.cond(S))
    st.cond_s = max(getattr(st, "cond_s", 0.0), cond)
    return cond
