"""convdyn.conv_operator against PyTorch's conv2d; array layouts and dtypes in; the scipy bridge."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convdyn
from conftest import random_weight


def torch_conv(w, x, H, W, circular=False):
    C, k = w.shape[0], w.shape[2]
    t = torch.from_numpy(np.asarray(x, dtype=np.float64).reshape(-1, C, H, W))
    wt = torch.from_numpy(w)
    if circular:
        p = k // 2
        return F.conv2d(F.pad(t, (p, p, p, p), mode="circular"), wt).reshape(t.shape[0], -1).numpy()
    return F.conv2d(t, wt, padding=k // 2).reshape(t.shape[0], -1).numpy()


@pytest.mark.parametrize("C,k,H,W,padding", [(3, 3, 7, 5, "zero"), (4, 5, 6, 6, "circular"), (2, 1, 4, 9, "zero")])
def test_matvec_matches_torch(C, k, H, W, padding):
    w = random_weight(C, k, seed=C * 10 + k)
    A = convdyn.conv_operator(w, size=(H, W), padding=padding)
    n = C * H * W
    assert A.shape == (n, n) and A.n == n and A.dtype == np.float64
    x = np.random.default_rng(1).standard_normal(n)
    ref = torch_conv(w, x, H, W, circular=padding == "circular")[0]
    np.testing.assert_allclose(A.matvec(x), ref, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(A @ x, ref, rtol=1e-13, atol=1e-13)
    # (n, 1) keeps its shape; a block (n, k) is applied column by column.
    assert A.matvec(x[:, None]).shape == (n, 1)
    X = np.random.default_rng(2).standard_normal((n, 3))
    np.testing.assert_allclose(A.matmat(X), torch_conv(w, X.T, H, W, padding == "circular").T, rtol=1e-13, atol=1e-13)


def test_rmatvec_and_dense_are_the_transpose_and_the_matrix():
    w = random_weight(3, 3, seed=5)
    A = convdyn.conv_operator(w, size=(5, 4))
    D = A.to_dense()
    assert D.shape == A.shape
    x = np.random.default_rng(3).standard_normal(A.n)
    np.testing.assert_allclose(D @ x, A.matvec(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(D.T @ x, A.rmatvec(x), rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="exceeds|max_n|n ="):
        A.to_dense(max_n=10)


def test_any_float_dtype_and_order_and_torch_tensors_give_the_same_operator():
    w = random_weight(4, 3, seed=7)
    x = np.random.default_rng(4).standard_normal(4 * 6 * 6)
    ref = convdyn.conv_operator(w, size=(6, 6)).matvec(x)
    for weight in (np.asfortranarray(w), torch.from_numpy(w), torch.from_numpy(w).requires_grad_(True),
                   [[[list(row) for row in plane] for plane in out] for out in w]):
        np.testing.assert_array_equal(convdyn.conv_operator(weight, size=(6, 6)).matvec(x), ref)
    A = convdyn.conv_operator(w, size=(6, 6))
    np.testing.assert_array_equal(A.matvec(torch.from_numpy(x)), ref)
    np.testing.assert_array_equal(A.matvec(x.astype(np.float32)), A.matvec(x.astype(np.float32).astype(np.float64)))
    # float32 weights are promoted exactly; a float32 operator computes in float32.
    w32 = w.astype(np.float32)
    np.testing.assert_array_equal(convdyn.conv_operator(w32, size=(6, 6)).matvec(x),
                                  convdyn.conv_operator(w32.astype(np.float64), size=(6, 6)).matvec(x))
    A32 = convdyn.conv_operator(w, size=(6, 6), dtype="float32")
    assert A32.dtype == np.float32
    np.testing.assert_allclose(A32.matvec(x), ref, rtol=1e-5, atol=1e-5)


def test_dlpack_only_objects_are_accepted():
    w = random_weight(2, 3, seed=8)

    class DLPackOnly:
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, stream=None):
            return self.a.__dlpack__()

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    A = convdyn.conv_operator(DLPackOnly(w), size=(4, 4))
    np.testing.assert_array_equal(A.to_dense(), convdyn.conv_operator(w, size=(4, 4)).to_dense())


def test_aslinearoperator_feeds_scipy():
    from scipy.sparse.linalg import eigs as scipy_eigs
    w = random_weight(3, 3, seed=9)
    A = convdyn.conv_operator(w, size=(6, 6))
    L = A.aslinearoperator()
    x = np.random.default_rng(5).standard_normal(A.n)
    np.testing.assert_array_equal(L.matvec(x), A.matvec(x))
    np.testing.assert_array_equal(L.rmatvec(x), A.rmatvec(x))
    vals = scipy_eigs(L, k=3, which="LM", tol=1e-12, return_eigenvectors=False)
    ref = convdyn.eigs(A, k=3, which="LM", tol=1e-12).values
    np.testing.assert_allclose(np.sort_complex(vals), np.sort_complex(ref), rtol=1e-9, atol=1e-10)
