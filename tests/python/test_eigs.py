"""convdyn.eigs: against numpy.linalg.eigvals, every method, Python-callable operators (a dense matrix, scipy,
torch autograd), eigenvectors, NotConverged, progress, and the GIL released during native solves."""
import sys
import threading
import time

import numpy as np
import pytest
import torch

import convdyn
from conftest import random_weight, rightmost


@pytest.fixture(scope="module")
def conv():
    w = random_weight(4, 3, seed=11, scale=0.5)
    A = convdyn.conv_operator(w, size=(6, 5))
    return A, A.to_dense()


@pytest.mark.parametrize("method", ["krylov-schur", "dense", "spectra", "arpack"])
def test_rightmost_eigenvalues_match_numpy(conv, method):
    A, D = conv
    r = convdyn.eigs(A, k=6, which="LR", tol=1e-11, method=method)
    assert r.method == method and r.values.dtype == np.complex128 and len(r) == 6
    assert r.all_converged and r.converged.all()
    if method == "dense":  # residuals come with the eigenvectors only
        assert r.residuals.size == 0
        r = convdyn.eigs(A, k=6, which="LR", method=method, return_eigenvectors=True)
    assert r.residuals.shape == (6,)
    assert (r.residuals <= 1e-11 * np.maximum(1, np.abs(r.values))).all()
    np.testing.assert_allclose(r.values, rightmost(np.linalg.eigvals(D), 6), rtol=1e-9, atol=1e-10)
    if method != "dense":
        assert r.matvecs > 0


def test_largest_magnitude_and_eigenvectors(conv):
    A, D = conv
    r = convdyn.eigs(A, k=5, which="LM", tol=1e-12, return_eigenvectors=True)
    ev = np.linalg.eigvals(D)
    ref = ev[np.argsort(-np.abs(ev))][:5]
    np.testing.assert_allclose(np.sort(np.abs(r.values)), np.sort(np.abs(ref)), rtol=1e-10)
    assert r.vectors.shape == (A.n, 5) and r.vectors.dtype == np.complex128
    for i in range(5):
        v = r.vectors[:, i]
        assert abs(np.linalg.norm(v) - 1) < 1e-12
        assert np.linalg.norm(D @ v - r.values[i] * v) <= 1e-12 * max(1, abs(r.values[i]))


def test_same_seed_same_bits_other_seed_same_values(conv):
    A, _ = conv
    a = convdyn.eigs(A, k=4, seed=3)
    b = convdyn.eigs(A, k=4, seed=3)
    c = convdyn.eigs(A, k=4, seed=4)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.residuals, b.residuals)
    np.testing.assert_allclose(a.values, c.values, rtol=1e-9, atol=1e-10)


class DenseMatvec:
    """A user's operator: .shape and .matvec only."""

    def __init__(self, M):
        self.M, self.shape, self.calls = M, M.shape, 0

    def matvec(self, x):
        self.calls += 1
        return self.M @ x


@pytest.mark.parametrize("method", ["krylov-schur", "arpack", "dense"])
def test_python_callable_operator_gives_the_native_values(conv, method):
    A, D = conv
    native = convdyn.eigs(A, k=6, method=method, tol=1e-11)
    user = DenseMatvec(D)
    called = convdyn.eigs(user, k=6, method=method, tol=1e-11)
    assert user.calls > 0 and called.all_converged
    np.testing.assert_allclose(called.values, native.values, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(convdyn.eigs(D, k=6, method=method, tol=1e-11).values, native.values,
                               rtol=1e-10, atol=1e-11)


def test_scipy_linear_operator_is_called_back(conv):
    from scipy.sparse.linalg import aslinearoperator
    A, D = conv
    r = convdyn.eigs(aslinearoperator(D), k=4, which="LR", tol=1e-11)
    np.testing.assert_allclose(r.values, rightmost(np.linalg.eigvals(D), 4), rtol=1e-9, atol=1e-10)


def test_torch_autograd_jacobian_vector_product():
    # J = diag(1 - tanh(W x0)^2) W at x0 of f(x) = tanh(W x), applied by torch.autograd.functional.jvp.
    rng = np.random.default_rng(12)
    n = 60
    W = torch.from_numpy(rng.standard_normal((n, n)) / np.sqrt(n))
    x0 = torch.from_numpy(rng.standard_normal(n))

    class Jacobian:
        shape = (n, n)

        def matvec(self, v):
            return torch.autograd.functional.jvp(lambda x: torch.tanh(W @ x), x0, torch.from_numpy(v))[1]

    J = (1 - torch.tanh(W @ x0) ** 2)[:, None] * W
    r = convdyn.eigs(Jacobian(), k=4, which="LM", tol=1e-11)
    ev = np.linalg.eigvals(J.numpy())
    np.testing.assert_allclose(np.sort(np.abs(r.values)), np.sort(np.abs(ev))[::-1][:4][::-1], rtol=1e-9)


def test_not_converged_carries_the_partial_result(conv):
    A, _ = conv
    with pytest.raises(convdyn.NotConverged, match="did not converge") as e:
        convdyn.eigs(A, k=6, tol=1e-14, ncv=8, maxiter=0)
    r = e.value.result
    assert isinstance(r, convdyn.EigResult) and not r.all_converged and r.stop_reason == "max-restarts"
    assert len(r) == 6 and r.residuals.shape == (6,)
    ok = convdyn.eigs(A, k=6, tol=1e-14, ncv=8, maxiter=0, allow_unconverged=True)
    np.testing.assert_array_equal(ok.values, r.values)
    # The published method has no convergence test: its pairs are flagged, not trusted.
    q = convdyn.eigs(A, k=6, method="arnoldi-qr", allow_unconverged=True)
    assert q.method == "arnoldi-qr" and q.residuals.shape == (6,)


def test_progress_bar_and_plain_lines(conv, capsys, monkeypatch):
    w = random_weight(8, 3, seed=13)
    A = convdyn.conv_operator(w, size=(24, 24))
    convdyn.eigs(A, k=10, tol=1e-12, progress=True)
    err = capsys.readouterr().err
    assert "eigs" in err and "pair" in err  # the tqdm bar
    monkeypatch.setitem(sys.modules, "tqdm", None)  # tqdm missing: plain lines
    convdyn.eigs(A, k=10, tol=1e-12, progress=True)
    err = capsys.readouterr().err
    assert "restart" in err and "converged" in err and "it/s" not in err


def test_gil_is_released_during_a_native_solve():
    w = random_weight(16, 3, seed=14)
    A = convdyn.conv_operator(w, size=(48, 48))
    done = threading.Event()
    ticks = []

    def solve():
        convdyn.eigs(A, k=20, tol=1e-12)
        done.set()

    t = threading.Thread(target=solve)
    t0 = time.monotonic()
    t.start()
    while not done.is_set():
        ticks.append(time.monotonic())
        time.sleep(0.005)
    t.join()
    elapsed = time.monotonic() - t0
    # With the GIL held the loop would stall for the whole solve; released, it ticks throughout.
    assert elapsed > 0.2, "solve too short to tell"
    gaps = np.diff([t0] + ticks)
    assert gaps.max() < max(0.25, elapsed / 4), f"main thread stalled {gaps.max():.2f} s of {elapsed:.2f} s"


def test_one_operator_shared_by_threads():
    w = random_weight(8, 3, seed=15)
    A = convdyn.conv_operator(w, size=(16, 16))
    out = [None] * 4

    def solve(i):
        out[i] = convdyn.eigs(A, k=6, seed=1).values

    threads = [threading.Thread(target=solve, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for v in out[1:]:
        np.testing.assert_array_equal(v, out[0])


@pytest.mark.parametrize("method", ["krylov-schur", "dense"])
def test_condition_numbers_match_scipy_left_and_right_vectors(conv, method):
    import scipy.linalg
    A, D = conv
    r = convdyn.eigs(A, k=6, which="LR", tol=1e-12, method=method, condition=True)
    assert r.vectors is None  # computed for the condition numbers, not returned unless asked for
    w, vl, vr = scipy.linalg.eig(D, left=True, right=True)
    for i, lam in enumerate(r.values):
        j = np.argmin(np.abs(w - lam))
        x, y = vr[:, j], vl[:, j]  # scipy: y^H A = lam y^H
        kappa = np.linalg.norm(x) * np.linalg.norm(y) / abs(np.vdot(y, x))
        assert r.condition[i] == pytest.approx(kappa, rel=1e-6)
        assert r.error_bound[i] == pytest.approx(kappa * r.residuals[i], rel=1e-6)
        assert abs(lam - w[j]) <= 2 * r.error_bound[i] + 1e-13 * kappa
    # A Python operator with rmatvec gets them too; without one, a clear error.
    user = convdyn.eigs(D, k=6, tol=1e-12, condition=True)
    np.testing.assert_allclose(user.condition, r.condition, rtol=1e-6)
    with pytest.raises(ValueError, match="transpose"):
        convdyn.eigs(DenseMatvec(D), k=6, condition=True)
    assert convdyn.eigs(A, k=6).condition is None
