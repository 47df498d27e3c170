"""Reference rightmost eigenvalues via ARPACK (scipy.sparse.linalg.eigs, which='LR'), an independent code,
k_ref = 40 values, ncv = 200, tol 1e-13; true residuals checked through the operator."""
import sys, time, numpy as np, torch
from scipy.sparse.linalg import eigs, LinearOperator
from ops import ConvOp
torch.set_num_threads(1)
C,H,W,seed = map(int, sys.argv[1:5])
kref = int(sys.argv[5]) if len(sys.argv) > 5 else 40
op = ConvOp(C,H,W,seed)
L = LinearOperator((op.n, op.n), matvec=lambda x: op.apply(np.ascontiguousarray(x.reshape(-1))), dtype=np.float64)
t = time.time()
vals, vecs = eigs(L, k=kref, which='LR', ncv=min(op.n-1, 5*kref), tol=1e-13, maxiter=100000)
o = np.argsort(-vals.real); vals = vals[o]; vecs = vecs[:, o]
res = [np.linalg.norm(op.apply(np.ascontiguousarray(v.real)) + 1j*op.apply(np.ascontiguousarray(v.imag)) - l*v)/np.linalg.norm(v) for l, v in zip(vals, vecs.T)]
np.save(f"results/arpack_{C}x{H}x{W}_s{seed}.npy", vals)
print(f"{C}x{H}x{W} seed {seed}: {op.matvecs} matvecs, {time.time()-t:.0f}s, max residual {max(res):.2e}")
for i,(l,r) in enumerate(zip(vals,res)): print(i, l, f"{r:.1e}")
