"""Block Krylov-Schur (b vectors per expansion): A V_p = V_p T + V_r B^T with a residual block V_r (b rows).

Expansion: W = A V[p:p+b] (one batched conv of b images), block CGS against V[:p+b] (GEMMs, DGKS test),
Householder QR of W -> next block, H gets a b x b upper-triangular subdiagonal block. Restart as the
single-vector method (ordered Schur, keep nconv + (m - nconv)/2, locking with the deflated columns'
norms added to the estimates), the residual block moves behind the kept Schur vectors.
Ritz estimate of a pair (theta, y): ||B^T y|| (B^T = H[p:p+b, :p] U)."""
import numpy as np
from kscore import Stats, block_cgs, block_qr, true_residuals, group_residuals, expand_pairs
from schur_utils import ordered_schur, schur_blocks, ritz_vectors, real_block_vectors
from ks_baseline import which_key, select_best, LOCK_MARGIN, STALL_RESTARTS


def block_krylov_schur(op, k, b=4, m=None, tol=1e-10, seed=0, V0=None, which="LR", max_restarts=3000,
                       grow=True, keep_fraction=0.5, log=None):
    n = op.n
    mv0 = op.matvecs
    st = Stats()
    auto = m is None
    m = min(max(4 * k, k + 40), n) if auto else m
    m_max = min(n, m + m // 2) if (auto and grow) else m
    cap = m_max + b
    key = which_key(which)
    rng = np.random.default_rng(seed)
    V = np.zeros((cap + b, n))
    H = np.zeros((cap + b, cap))
    defl = np.zeros(cap)
    X0 = rng.standard_normal((b, n)) if V0 is None else np.array(V0, dtype=float).reshape(b, n)
    Q0, _ = block_qr(X0, st)
    V[:b] = Q0
    p, l, msize = 0, 0, m
    est_factor, best_failed, stagnant = 1.0, np.inf, 0
    best_nconv, since = 0, 0
    history = []
    while True:
        while p < msize:
            W = op.apply(V[p:p + b])
            C = block_cgs(V, p + b, W, st)
            Q, R = block_qr(W, st)
            d = np.abs(np.diag(R))
            if np.any(d <= 1e-12 * max(1.0, d.max())):  # rank-deficient block: refill with random directions
                for i in np.where(d <= 1e-12 * max(1.0, d.max()))[0]:
                    r = rng.standard_normal(n)
                    block_cgs(V, p + b, r[None, :], st)
                    Q[i] = r - (Q @ r) @ Q
                    Q[i] /= np.linalg.norm(Q[i])
            V[p + b:p + 2 * b] = Q
            H[:p + b, p:p + b] = C
            H[p + b:p + 2 * b, p:p + b] = R
            p += b
            st.steps += 1
        T, U = ordered_schur(H[:p, :p], l, key)
        Bres = H[p:p + b, :p] @ U
        blocks = schur_blocks(T)
        wanted = [blk for blk in blocks if blk[0] < k]
        ys = ritz_vectors(T, wanted)
        est = np.array([(np.linalg.norm(Bres @ y) + np.sum(np.abs(defl[:l]) * np.abs(y[:l]))) / max(1.0, abs(blk[2]))
                        for y, blk in zip(ys, wanted)])

        def leading_converged(factor):
            end = 0
            for e, blk in zip(est, wanted):
                bend = blk[0] + blk[1]
                if bend > l and e > factor * tol:
                    break
                end = bend
            return end

        nconv = leading_converged(est_factor)
        history.append(dict(restart=st.restarts, matvecs=op.matvecs - mv0, nconv=int(nconv),
                            worst=float(est.max()) if len(est) else 0.0))
        if log:
            log(history[-1])
        done = False
        if nconv >= k or st.restarts >= max_restarts:
            Yr, Cm = real_block_vectors(ys, wanted)
            X = (Yr @ U.T) @ V[:p]
            st.gemm(p, Yr.shape[0], n)
            rn, xn = true_residuals(op, X, Cm)
            res = group_residuals(rn, xn, wanted)
            vals, rs = expand_pairs([blk[2] for blk in wanted], res, [blk[1] for blk in wanted])
            vals, rs = select_best(vals, rs, k, which)
            ratio = np.max(rs / (tol * np.maximum(1.0, np.abs(vals))))
            if ratio <= 1.0:
                done, reason = True, "converged"
            elif st.restarts >= max_restarts:
                done, reason = True, "max_restarts"
            else:
                if ratio < 0.5 * best_failed:
                    best_failed, stagnant = ratio, 0
                else:
                    stagnant += 1
                if stagnant >= 2:
                    done, reason = True, "stagnated"
                else:
                    est_factor *= 0.1
                    nconv = leading_converged(est_factor)
        if done:
            return dict(method=f"block{b}", values=vals, residuals=rs, matvecs=op.matvecs - mv0, reason=reason,
                        m=int(msize), m0=int(m), b=b, history=history, **st.as_dict())
        lock = max(leading_converged(LOCK_MARGIN * est_factor), l)
        keep = max(nconv + max(1, int((p - nconv) * keep_fraction)), k, lock + 1)
        keep = min(keep, p - 1)
        if T[keep, keep - 1] != 0.0:
            keep = keep + 1 if keep + 1 <= p - 1 else keep - 1
        V[l:keep] = U[l:p, l:keep].T @ V[l:p]
        st.gemm(p - l, keep - l, n)
        V[keep:keep + b] = V[p:p + b]
        Hn = np.zeros_like(H)
        Hn[:keep, :keep] = T[:keep, :keep]
        Hn[keep:keep + b, :keep] = Bres[:, :keep]
        for j in range(l, lock):
            defl[j] = np.linalg.norm(Hn[keep:keep + b, j])
            Hn[keep:keep + b, j] = 0.0
        H = Hn
        p, l = keep, lock
        st.gemm(keep + b, keep + b, n)
        st.restarts += 1
        if nconv > best_nconv:
            best_nconv, since = nconv, 0
        else:
            since += 1
            if since >= STALL_RESTARTS and best_nconv > 0 and msize < m_max:
                msize = m_max
                since = 0
