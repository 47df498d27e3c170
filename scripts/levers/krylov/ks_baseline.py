"""Baseline: restarted Arnoldi with Krylov-Schur restarts and locking, as the production C++ solver
(linalg/krylov_schur.cpp): m = max(4k, k+40) (grown once by half after 10 restarts without a new converged
pair), keep nconv + max(1, (m - nconv)/2) Schur vectors, CGS + DGKS, Ritz estimate |b^T y| (+ deflated
coefficients of locked columns) then a true-residual check through the operator, orthogonality check of
the kept basis at every restart (counted as restart traffic)."""
import numpy as np
from kscore import Stats, cgs, true_residuals, group_residuals, expand_pairs
from schur_utils import ordered_schur, schur_blocks, ritz_vectors, real_block_vectors
from sstep import sstep_expand, sstep_shifts

EPS = np.finfo(float).eps
LOCK_MARGIN = 0.01
STALL_RESTARTS = 10
AUTO_PLAIN = 16  # s-step 'auto': plain Arnoldi steps before the centre estimate
COND_MAX = 1e6  # s-step: largest accepted condition number of the block's basis matrix S


def which_key(which):
    return {"LR": lambda z: z.real, "LM": lambda z: abs(z)}[which]


def select_best(values, residuals, k, which, return_order=False):
    key = which_key(which)
    order = sorted(range(len(values)), key=lambda i: -key(values[i]))[:k]
    if return_order:
        return values[order], residuals[order], order
    return values[order], residuals[order]


def complex_vectors(X, blocks):
    """Rows (Re, Im) of the evaluated Ritz vectors -> complex vectors, both members of each pair."""
    out, row = [], 0
    for (st, sz, val) in blocks:
        if sz == 1:
            out.append(X[row].astype(complex))
        else:
            x = X[row] + 1j * X[row + 1]
            out += [x, x.conj()]
        row += sz
    return out


def krylov_schur(op, k, m=None, tol=1e-10, seed=0, v0=None, which="LR", max_restarts=3000, grow=True,
                 keep_fraction=0.5, log=None, s=1, shifts="zero", return_vectors=False):
    n = op.n
    mv0 = op.matvecs
    st = Stats()
    auto = m is None
    m = min(max(4 * k, k + 40), n) if auto else m
    m_max = min(n, m + m // 2) if (auto and grow) else m
    cap = m_max
    key = which_key(which)
    rng = np.random.default_rng(seed)
    V = np.zeros((cap + 1, n))
    H = np.zeros((cap + 1, cap))
    defl = np.zeros(cap)
    v = rng.standard_normal(n) if v0 is None else np.array(v0, dtype=float).reshape(-1)
    V[0] = v / np.linalg.norm(v)
    p, l, msize = 0, 0, m
    est_factor, best_failed, stagnant = 1.0, np.inf, 0
    best_nconv, since = 0, 0
    history = []
    shift_state = {}
    while True:
        # ---- expansion: Arnoldi steps p .. msize-1 (s = 1), or s-step blocks (s > 1)
        if s == 1:
            for j in range(p, msize):
                w = op.apply(V[j])
                h, nin, beta = cgs(V, j + 1, w, st)
                st.steps += 1
                H[:j + 1, j] = h
                if beta <= 100 * EPS * nin:  # breakdown: continue with a random direction (b = 0)
                    r = rng.standard_normal(n)
                    cgs(V, j + 1, r, st)
                    H[j + 1, j] = 0.0
                    V[j + 1] = r / np.linalg.norm(r)
                else:
                    H[j + 1, j] = beta
                    V[j + 1] = w / beta
        else:
            # shifts 'auto': the first cycle is plain Arnoldi (no Ritz values yet), then the monomial basis
            # of (A - c), c = mean real part of the last Ritz values (the cloud's centre). Guard: a block
            # whose basis matrix S has cond > COND_MAX halves s for the rest of the run.
            j = p
            s_cur = shift_state.setdefault("s_cur", s)
            while j < msize:
                plain = shifts == "auto" and "centre" not in shift_state
                if plain and j >= AUTO_PLAIN:  # centre of the cloud from the Ritz values of the first steps
                    th = np.linalg.eigvals(H[:j, :j])
                    shift_state["centre"] = 0.5 * (th.real.max() + th.real.min())
                    plain = False
                if plain or s_cur == 1:
                    w = op.apply(V[j])
                    h, nin, beta = cgs(V, j + 1, w, st)
                    st.steps += 1
                    H[:j + 1, j] = h
                    H[j + 1, j] = beta
                    V[j + 1] = w / beta
                    j += 1
                    continue
                sb = min(s_cur, msize - j)
                sh = sstep_shifts(H, j, sb, "centre" if shifts == "auto" else shifts, shift_state)
                c = sstep_expand(op, V, H, j, sb, sh, st)
                if c > COND_MAX:  # ill-conditioned s-step basis: discard the block, halve s, redo it
                    s_cur = shift_state["s_cur"] = max(1, s_cur // 2)
                    shift_state["s_reduced"] = shift_state.get("s_reduced", 0) + 1
                    H[:, j:j + sb] = 0.0
                    continue
                j += sb
        p = msize
        # ---- projected problem: ordered Schur form, wanted blocks, estimates
        T, U = ordered_schur(H[:p, :p], l, key)
        b = H[p, :p] @ U
        blocks = schur_blocks(T)
        wanted = [blk for blk in blocks if blk[0] < k]
        ys = ritz_vectors(T, wanted)
        est = np.array([(abs(b @ y) + np.sum(np.abs(defl[:l]) * np.abs(y[:l]))) / max(1.0, abs(blk[2]))
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
        if nconv >= k:
            Yr, Cm = real_block_vectors(ys, wanted)
            X = (Yr @ U.T) @ V[:p]
            st.gemm(p, Yr.shape[0], n)
            rn, xn = true_residuals(op, X, Cm)
            res = group_residuals(rn, xn, wanted)
            vals, rs = expand_pairs([blk[2] for blk in wanted], res, [blk[1] for blk in wanted])
            vals, rs, order = select_best(vals, rs, k, which, return_order=True)
            if return_vectors:
                cv = complex_vectors(X, wanted)
                vectors = [cv[i] for i in order]
            ratio = np.max(rs / (tol * np.maximum(1.0, np.abs(vals))))
            if ratio <= 1.0:
                done, reason = True, "converged"
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
        if not done and st.restarts >= max_restarts:
            Yr, Cm = real_block_vectors(ys, wanted)
            X = (Yr @ U.T) @ V[:p]
            rn, xn = true_residuals(op, X, Cm)
            res = group_residuals(rn, xn, wanted)
            vals, rs = expand_pairs([blk[2] for blk in wanted], res, [blk[1] for blk in wanted])
            vals, rs, order = select_best(vals, rs, k, which, return_order=True)
            if return_vectors:
                cv = complex_vectors(X, wanted)
                vectors = [cv[i] for i in order]
            done, reason = True, "max_restarts"
        if done:
            extra = dict(vectors=vectors) if return_vectors else {}
            return dict(**extra, method="ks" if s == 1 else f"sstep{s}-{shifts}", values=vals, residuals=rs, matvecs=op.matvecs - mv0, reason=reason,
                        m=int(msize), m0=int(m), history=history, orth_loss=shift_state.get("orth", None),
                        s_final=shift_state.get("s_cur"), s_reduced=shift_state.get("s_reduced", 0),
                        **st.as_dict())
        # ---- restart: lock, keep, truncate
        lock = max(leading_converged(LOCK_MARGIN * est_factor), l)
        keep = max(nconv + max(1, int((p - nconv) * keep_fraction)), k, lock + 1)
        keep = min(keep, p - 1)
        if T[keep, keep - 1] != 0.0:
            keep = keep + 1 if keep + 1 <= p - 1 else keep - 1
        V[l:keep] = U[l:p, l:keep].T @ V[l:p]
        st.gemm(p - l, keep - l, n)
        V[keep] = V[p]
        Hn = np.zeros_like(H)
        Hn[:keep, :keep] = T[:keep, :keep]
        Hn[keep, :keep] = b[:keep]
        for j in range(l, lock):
            defl[j] = Hn[keep, j]
            Hn[keep, j] = 0.0
        H = Hn
        p, l = keep, lock
        st.gemm(keep + 1, keep + 1, n)  # orthogonality check V V^T of the kept basis (as production)
        st.restarts += 1
        if s > 1:
            Vk = V[:keep + 1]
            shift_state["orth"] = max(shift_state.get("orth", 0.0), float(np.max(np.abs(Vk @ Vk.T - np.eye(keep + 1)))))
            shift_state["ritz"] = [blk[2] for blk in blocks]
            if "centre" not in shift_state:  # from the first cycle's Ritz values: they outline the whole cloud
                re = [blk[2].real for blk in blocks]
                shift_state["centre"] = 0.5 * (max(re) + min(re))
        if nconv > best_nconv:
            best_nconv, since = nconv, 0
        else:
            since += 1
            if since >= STALL_RESTARTS and best_nconv > 0 and msize < m_max:
                msize = m_max
                since = 0
