#!/usr/bin/env python3
"""Prototype: block Rayleigh-Ritz with residual expansion (Davidson-type, no preconditioner) for the k = 20
rightmost eigenvalues of a random zero-padded conv, counting matvecs to tol 1e-10 (float64).

Reproduces the "block residual expansion" row of the README's lever table (not adopted: on a random
64x14x14 conv it needed 12,474 matvecs, while krylov-schur needs ~2,300 on such a layer). Throwaway
research code, not part of convdyn or its tests.

Usage: /usr/bin/python3 scripts/levers/block_davidson.py THREADS CxHxW f64 M BLOCK
  e.g. /usr/bin/python3 scripts/levers/block_davidson.py 1 64x14x14 f64 80 10   (~1-2 min)
The mode "f32 M BLOCK TOL1" first converges in float32 to TOL1, then refines in float64 from that basis.
"""
import sys
import time

import numpy as np
import scipy.linalg as sl
import torch
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv)>1 else 2)
C,H,W = [int(s) for s in (sys.argv[2] if len(sys.argv)>2 else "64x56x56").split("x")]
k=20; n=C*H*W
g=torch.Generator().manual_seed(0)
w64=torch.randn(C,C,3,3,dtype=torch.float64,generator=g)/np.sqrt(9*C)
class Op:
    def __init__(s,dt):
        s.dt=dt; s.w=w64.to(dt); s.mv=0; s.t=0
    def __call__(s,X):  # X (b,n)
        t=time.perf_counter(); b=X.shape[0]; s.mv+=b
        x=X.view(b,C,H,W)
        if s.dt==torch.float32: x=x.contiguous(memory_format=torch.channels_last)
        y=torch.nn.functional.conv2d(x,s.w,padding=1).contiguous().view(b,n)
        s.t+=time.perf_counter()-t
        return y
def orth_against(V,X):
    for _ in range(2):
        if V is not None and V.shape[0]: X=X-(X@V.T)@V
        # orthonormalise X itself (CholQR-ish via QR on small gram)
        Q,R=torch.linalg.qr(X.T)
        keep=(R.diagonal().abs()>1e-8*R.diagonal().abs().max())
        X=Q.T[keep]
    return X
def sschur(M,lam,keep):
    re=lam.real
    j=keep
    while j<len(re) and re[j]>=re[keep-1]-1e-9*max(1,abs(re[keep-1])): j+=1
    thr=(re[j-1]+re[j])/2 if j<len(re) else -1e300
    T,Z,sdim=sl.schur(M,output='real',sort=lambda a,b: a>thr)
    return T,Z,sdim
def run(A,V0,tol,m,b,maxmv,label):
    t0=time.perf_counter(); mv0=A.mv
    V=orth_against(None,V0); W=A(V); M=(V@W.T).double().numpy()
    it=0
    while True:
        it+=1
        lam,Y=np.linalg.eig(M)
        order=np.argsort(-lam.real,kind='stable')
        lam=lam[order]; Y=Y[:,order]
        # residuals of top k+? 
        kk=k
        Yt=torch.from_numpy(Y[:,:kk+4]).to(torch.complex128)
        Vc=V.double(); Wc=W.double()
        Xr=Yt.real.T@Vc; Xi=Yt.imag.T@Vc
        Rr=Yt.real.T@Wc - (torch.from_numpy(lam[:kk+4].real)[:,None]*Xr - torch.from_numpy(lam[:kk+4].imag)[:,None]*Xi)
        Ri=Yt.imag.T@Wc - (torch.from_numpy(lam[:kk+4].real)[:,None]*Xi + torch.from_numpy(lam[:kk+4].imag)[:,None]*Xr)
        res=(torch.sqrt((Rr**2).sum(1)+(Ri**2).sum(1))/torch.sqrt((Xr**2).sum(1)+(Xi**2).sum(1))).numpy()
        rel=res/np.maximum(1,abs(lam[:kk+4]))
        conv=rel[:k]<=tol
        if it%10==0 or conv.all(): print(f"  {label} it {it} dim {V.shape[0]} mv {A.mv-mv0} nconv {conv.sum()} worst {rel[:k].max():.2e} conv-time {A.t:.1f}",flush=True)
        if conv.all() or A.mv-mv0>maxmv: break
        # expansion: residuals of unconverged wanted, (first b by order), real/imag
        dirs=[]
        seen=set()
        for i in range(k+4):
            if len(dirs)>=b: break
            if i<k and conv[i]: continue
            key=(round(lam[i].real,12),round(abs(lam[i].imag),12))
            if key in seen: continue
            seen.add(key)
            dirs.append(Rr[i]); 
            if abs(lam[i].imag)>0 and len(dirs)<b: dirs.append(Ri[i])
        Xn=torch.stack(dirs).to(V.dtype)
        if V.shape[0]+Xn.shape[0]>m:
            keep=m//2
            # real Schur sorted: wanted first
            T,Z,sdim=sschur(M,lam,keep)
            Zk=torch.from_numpy(Z[:,:sdim].copy()).to(V.dtype)
            V=Zk.T@V; W=Zk.T@W; M=T[:sdim,:sdim].copy()
        Xn=orth_against(V,Xn)
        Wn=A(Xn)
        M=np.block([[M,(V@Wn.T).double().numpy()],[(Xn@W.T).double().numpy(),(Xn@Wn.T).double().numpy()]])
        V=torch.cat([V,Xn]); W=torch.cat([W,Wn])
    print(f"{label}: {time.perf_counter()-t0:.1f} s, {A.mv-mv0} matvecs, conv {A.t:.1f} s, worst {rel[:k].max():.2e}")
    # return kept basis: Schur vectors of top k+8
    T,Z,sdim=sschur(M,lam,k+8)
    return torch.from_numpy(Z[:,:sdim].copy()).to(V.dtype).T@V, lam[:k]
if __name__=="__main__":
    mode=sys.argv[3]; m=int(sys.argv[4]); b=int(sys.argv[5])
    V0=torch.randn(b,n,dtype=torch.float64,generator=g)
    if mode=="f64":
        A=Op(torch.float64); Q,l=run(A,V0,1e-10,m,b,20000,"f64")
    else:
        tol1=float(sys.argv[6])
        A32=Op(torch.float32); Q,l1=run(A32,V0.float(),tol1,m,b,20000,"f32")
        A=Op(torch.float64); Q2,l=run(A,Q.double(),1e-10,m,b,20000,"f64")
        print("max |l32-l64|",abs(l1-l).max())
    print(l[:6])
