"""Polynomial-filtered restarted Arnoldi with a Rayleigh-Ritz step with A itself.

Basis V (orthonormal rows), and U = A V stored alongside (u_j = A v_j is the first product of the
Chebyshev recurrence that expands v_j, so it costs nothing extra; memory doubles).

  cycle:   for j = p .. m-1:   (w, u_j) = (p(A) v_j, A v_j)    d matvecs
                               v_{j+1} = CGS(w against V[:j+1]) one orthogonalisation per d matvecs
  Rayleigh-Ritz with A:        G = V_m U_m^T = V_m^T A V_m (m x m) -> ordered real Schur G = Q T Q^T (LR)
                               residuals of the k wanted Ritz pairs, explicitly: R = Z U_m - C Z V_m
                               (Z = Ritz vectors' coefficients) -- no matvec, two GEMMs
  convergence:                 all k residuals <= tol max(1,|theta|)  ->  certify with k true residuals
                               through the operator (x = Z V_m, ||A x - theta x||)
  restart  (restart='A', flexible):  keep the leading `keep` Schur vectors of G (wanted first):
                               V <- Q_keep^T V_m, U <- Q_keep^T U_m, continue from v_m;
                               the filter may change at every restart (refitted from the Ritz values).
  restart  (restart='B', Krylov-Schur on p(A)): keep the leading `keep` Schur vectors of the p(A)
                               Hessenberg H (B-Ritz values sorted by |p|, largest first) -> a Krylov-Schur
                               decomposition of B = p(A); the filter is fixed after the first cycle.

The first cycle is plain Arnoldi with A (d = 1), whose Ritz values outline the whole cloud; the filter is
fitted from them (and refitted at restarts in restart='A' mode).
"""
import numpy as np
from kscore import Stats, cgs, true_residuals, group_residuals, expand_pairs
from schur_utils import ordered_schur, schur_blocks, ritz_vectors, real_block_vectors
from chebfilter import ChebFilter, fit_ellipse, filter_ratio
from ks_baseline import select_best

EPS = np.finfo(float).eps


def ritz_values(T):
    vals = []
    for (st, sz, v) in schur_blocks(T):
        vals.append(v)
        if sz == 2:
            vals.append(np.conj(v))
    return np.array(vals)


def pf_arnoldi(op, k, d=4, m=None, tol=1e-10, seed=0, v0=None, restart="A", fit="ellipse", shift=1.0,
               kw=None, refit=True, keep_fraction=0.5, first_cycle=None, max_restarts=2000, log=None,
               outline_memory=True, safety=0.5, filt0=None, bsort="LM", check_every=0, pcert=False):
    n = op.n
    mv0 = op.matvecs
    st = Stats()
    m = min(max(4 * k, k + 40), n) if m is None else m
    kw = k + max(2, k // 2) if kw is None else kw  # how many the filter treats as wanted
    m1 = m if first_cycle is None else first_cycle
    rng = np.random.default_rng(seed)
    V = np.zeros((m + 1, n))
    U = np.zeros((m, n))
    H = np.zeros((m + 1, m))
    v = rng.standard_normal(n) if v0 is None else np.array(v0, dtype=float).reshape(-1)
    V[0] = v / np.linalg.norm(v)
    p = 0
    filt = filt0
    outline = None  # unwanted Ritz values of the first (plain) cycle: the left part of the cloud
    res_factor = 1.0
    history, filters = [], []
    msize = m1 if filt is None else m
    mid_checks = 0
    state = {}

    def rayleigh_ritz(p):
        """A-Ritz pairs of span(V[:p]) (G = V U^T), the k wanted with explicit residuals (no matvec)."""
        G = V[:p] @ U[:p].T
        st.gemm(2 * p, p, n)  # reads V and U (counted as 2p reads producing p columns)
        TA, QA = ordered_schur(G, 0, lambda z: z.real)
        ablocks = schur_blocks(TA)
        wanted = [blk for blk in ablocks if blk[0] < k]
        extra = []
        if pcert and filt is not None:
            # p-order certificate: every A-Ritz value with |p| >= t = |p(x_k)| (x_k = real part of the k-th
            # rightmost) must have converged too: the p(A)-Krylov space finds eigenvalues in decreasing |p|,
            # and for the circle filter every eigenvalue with Re >= x_k has |p| >= t.
            xk = min(b[2].real for b in wanted)
            t = min(abs(filt(xk)), min(abs(filt(b[2])) for b in wanted))
            extra = [blk for blk in ablocks if blk[0] >= k and abs(filt(blk[2])) >= t]
        check = wanted + extra
        ys = ritz_vectors(TA, check)
        Yr, Cm = real_block_vectors(ys, check)
        Z = Yr @ QA.T  # Ritz vectors' coefficients in the basis V[:p]
        Rv = Z @ U[:p] - (Cm @ Z) @ V[:p]
        st.gemm(2 * p, Z.shape[0], n)
        rn = np.linalg.norm(Rv, axis=1)
        xn = np.linalg.norm(Z, axis=1)  # V orthonormal: ||Z V|| = ||Z||
        res = group_residuals(rn, xn, check)
        rel = np.array([r / max(1.0, abs(b[2])) for r, b in zip(res, check)])
        nconv = 0
        for r, blk in zip(rel[:len(wanted)], wanted):
            if r > tol * res_factor:
                break
            nconv = blk[0] + blk[1]
        ready = nconv >= k and bool(np.all(rel[len(wanted):] <= tol * res_factor))
        nw = sum(b[1] for b in wanted)
        state["extra"] = max(state.get("extra", 0), len(extra))
        return TA, QA, wanted, Z[:nw], Cm[:nw, :nw], rel, (nconv if ready else min(nconv, k - 1)) if pcert else nconv

    def certify(p, wanted, Z, Cm):
        """True residuals through the operator of the k wanted Ritz pairs (len(Z) matvecs)."""
        X = Z @ V[:p]
        st.gemm(p, Z.shape[0], n)
        rn, xn = true_residuals(op, X, Cm)
        tres = group_residuals(rn, xn, wanted)
        vals, rs = expand_pairs([b[2] for b in wanted], tres, [b[1] for b in wanted])
        vals, rs = select_best(vals, rs, k, "LR")
        ok = bool(np.all(rs <= tol * np.maximum(1.0, np.abs(vals))))
        return ok, vals, rs

    def result(vals, rs, reason):
        return dict(method=f"pf-{restart}", values=vals, residuals=rs, matvecs=op.matvecs - mv0,
                    reason=reason, m=m, d=d, kw=kw, fit=fit, history=history, filters=filters,
                    mid_checks=mid_checks, pcert_extra=state.get("extra", 0), **st.as_dict())

    while True:
        # ---- expansion
        p_start = p
        for j in range(p, msize):
            if filt is None:
                u = op.apply(V[j])
                w = u.copy()
            else:
                w, u = filt.apply(op, V[j])
            U[j] = u
            h, nin, beta = cgs(V, j + 1, w, st)
            st.steps += 1
            H[:j + 1, j] = h
            if beta <= 100 * EPS * nin:
                r = rng.standard_normal(n)
                cgs(V, j + 1, r, st)
                H[j + 1, j] = 0.0
                V[j + 1] = r / np.linalg.norm(r)
            else:
                H[j + 1, j] = beta
                V[j + 1] = w / beta
            if check_every and filt is not None and j + 1 < msize and (j + 1 - p_start) % check_every == 0:
                # mid-cycle convergence check (a cycle of p(A) steps is d times as many matvecs)
                mid_checks += 1
                _, _, wq, Zq, Cq, _, nq = rayleigh_ritz(j + 1)
                if nq >= k:
                    ok, vals, rs = certify(j + 1, wq, Zq, Cq)
                    if ok:
                        return result(vals, rs, "converged")
        p = msize
        # ---- Rayleigh-Ritz with A on span(V[:p])
        TA, QA, wanted, Z, Cm, rel, nconv = rayleigh_ritz(p)
        ablocks = schur_blocks(TA)
        theta = ritz_values(TA)
        history.append(dict(restart=st.restarts, matvecs=op.matvecs - mv0, nconv=int(nconv),
                            worst=float(rel.max()), filter=repr(filt)))
        if log:
            log(history[-1])
        if nconv >= k or st.restarts >= max_restarts:
            ok, vals, rs = certify(p, wanted, Z, Cm)
            if ok or st.restarts >= max_restarts:
                return result(vals, rs, "converged" if ok else "max_restarts")
            res_factor *= 0.1 * safety
            nconv = 0
        # ---- filter (re)fit from the A-Ritz values
        new_filter = filt is None or (refit and restart == "A")
        if new_filter and d > 1:
            up = theta[theta.imag >= -1e-14]
            order = np.argsort(-up.real)
            # wanted: the kw rightmost values (counting conjugates) -> those in the upper half plane
            kth = np.sort(theta.real)[::-1][min(kw, len(theta)) - 1]
            wv = up[up.real >= kth]
            uv = up[up.real < kth]
            if outline is None:
                outline = uv.copy()
            elif outline_memory:  # keep the far (left) part of the first cycle's outline
                uv = np.concatenate([uv, outline[outline.real < np.min(uv.real)]])
            c, e2, ratio = fit_ellipse(wv, uv, mode=fit, shift=shift)
            alpha = float(np.max(theta.real))
            filt = ChebFilter(c, e2, alpha, d)
            filters.append(dict(restart=st.restarts, c=c, e2=e2, alpha=alpha, ratio=ratio))
            if restart == "B":
                # switch the operator: explicit restart from the sum of the kw wanted Ritz vectors
                blocks_w = [blk for blk in ablocks if blk[0] < kw]
                ysw = ritz_vectors(TA, blocks_w)
                Yw, _ = real_block_vectors(ysw, blocks_w)
                Yw = Yw / np.linalg.norm(Yw, axis=1, keepdims=True)
                x = (np.sum(Yw, axis=0) @ QA.T) @ V[:p]
                st.gemm(p, 1, n)
                V[0] = x / np.linalg.norm(x)
                p = 0
                msize = m
                st.restarts += 1
                continue
        msize = m
        # ---- restart
        if restart == "A" or filt is None:
            T, Q, key_nconv = TA, QA, nconv
        else:  # Krylov-Schur on B = p(A): Schur form of the B-Hessenberg, largest |p| first
            if bsort == "LM":
                T, Q = ordered_schur(H[:p, :p], 0, lambda z: abs(z))
            else:  # sort the p(A)-Ritz blocks by the real part of their A-Rayleigh quotient
                wB, YB = np.linalg.eig(H[:p, :p])
                rq = np.einsum("ij,ik,kj->j", YB.conj(), G, YB) / np.einsum("ij,ij->j", YB.conj(), YB)
                keyB = lambda z: float(np.max(rq.real[np.abs(wB - z) <= 1e-9 * max(1.0, abs(z)) + np.min(np.abs(wB - z))]))
                T, Q = ordered_schur(H[:p, :p], 0, keyB)
            key_nconv = nconv
        keep = max(key_nconv + max(1, int((p - key_nconv) * keep_fraction)), kw)
        keep = min(keep, p - 1)
        if T[keep, keep - 1] != 0.0:
            keep = keep + 1 if keep + 1 <= p - 1 else keep - 1
        bvec = H[p, :p] @ Q
        V[:keep] = Q[:, :keep].T @ V[:p]
        U[:keep] = Q[:, :keep].T @ U[:p]
        st.gemm(2 * p, keep, n)
        V[keep] = V[p]
        Hn = np.zeros_like(H)
        Hn[:keep, :keep] = T[:keep, :keep]   # valid as a B-Krylov-Schur relation only in mode 'B'
        Hn[keep, :keep] = bvec[:keep]
        H = Hn
        p = keep
        st.restarts += 1
