"""Every error path raises a Python exception naming the argument or the file; the interpreter survives."""
import numpy as np
import pytest

import convdyn
from conftest import DEMO, FIXTURES, random_weight

W = random_weight(3, 3, seed=21)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(weight=np.zeros((3, 3, 3))), ValueError, "weight: expected a 4-D"),
    (dict(weight=np.zeros((3, 2, 3, 3))), ValueError, r"weight: expected shape \(C, C, k, k\)"),
    (dict(weight=np.zeros((3, 3, 2, 2))), ValueError, "k odd"),
    (dict(weight=np.full((2, 2, 3, 3), np.nan)), ValueError, "weight: contains NaN"),
    (dict(weight=np.zeros((2, 2, 3, 3), dtype=complex)), ValueError, "weight: expected real"),
    (dict(weight="abc"), ValueError, "weight"),
    (dict(size=(0, 4)), ValueError, "size"),
    (dict(size=5), ValueError, "size"),
    (dict(padding="reflect"), ValueError, "padding='reflect'"),
    (dict(dtype="float16"), ValueError, "dtype='float16'"),
])
def test_conv_operator_errors(kwargs, exc, match):
    args = dict(weight=W, size=(4, 4))
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        convdyn.conv_operator(args.pop("weight"), **args)


def test_circular_padding_needs_a_large_enough_grid():
    with pytest.raises(ValueError, match="circular"):
        convdyn.conv_operator(random_weight(2, 7, seed=1), size=(2, 2), padding="circular")


A = convdyn.conv_operator(W, size=(4, 4))


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(k=0), ValueError, "k=0"),
    (dict(k=47), ValueError, "k"),
    (dict(k=2.5), ValueError, "k=2.5"),
    (dict(which="XX"), ValueError, "which='XX'"),
    (dict(method="lanczos"), ValueError, "method='lanczos'"),
    (dict(tol=0), ValueError, "tol=0"),
    (dict(tol=2.0), ValueError, "tol"),
    (dict(ncv=3, k=4), ValueError, "ncv"),
    (dict(maxiter=-1), ValueError, "maxiter"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=2**64), ValueError, "seed"),
    (dict(maxiter=2**31), ValueError, "maxiter"),
])
def test_eigs_option_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        convdyn.eigs(A, **kwargs)


def test_eigs_operator_errors():
    with pytest.raises(TypeError, match="A: expected"):
        convdyn.eigs(42)
    with pytest.raises(ValueError, match="square"):
        convdyn.eigs(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="A: contains NaN"):
        convdyn.eigs(np.full((5, 5), np.nan), k=2)

    class Op:
        def __init__(self, shape, fn):
            self.shape, self.fn = shape, fn

        def matvec(self, x):
            return self.fn(x)

    with pytest.raises(ValueError, match=r"Op.matvec\(x\): returned shape \(3,\), expected \(10,\)"):
        convdyn.eigs(Op((10, 10), lambda x: x[:3]), k=2)
    with pytest.raises(ValueError, match=r"Op.matvec\(x\): contains NaN"):
        convdyn.eigs(Op((10, 10), lambda x: x * np.nan), k=2)

    def boom(x):
        raise RuntimeError("user matvec failed")
    with pytest.raises(RuntimeError, match="user matvec failed"):
        convdyn.eigs(Op((10, 10), boom), k=2)
    with pytest.raises(ValueError, match="shape"):
        convdyn.eigs(Op(("a", 2), boom))
    # the interpreter and the package still work
    assert convdyn.eigs(np.diag(np.arange(1.0, 11.0)), k=2).values[0] == pytest.approx(10.0)


def test_matvec_shape_errors():
    with pytest.raises(ValueError, match=r"x: expected shape \(48,\)"):
        A.matvec(np.zeros(5))
    with pytest.raises(ValueError, match="x: contains NaN"):
        A.matvec(np.full(48, np.nan))


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("bad_*.pth")), ids=lambda p: p.name)
def test_bad_checkpoints_raise(path):
    with pytest.raises((ValueError, OSError)) as e:
        convdyn.load(path)
    assert path.name in str(e.value)


def test_load_errors(tmp_path):
    with pytest.raises(OSError, match="nope.pth"):
        convdyn.load(tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="path"):
        convdyn.load(3)
    with pytest.raises(ValueError, match="size"):
        convdyn.load(DEMO, size=(5,))
    with pytest.raises(ValueError, match="model"):
        convdyn.spectrum(3.0)


def test_model_call_errors(tmp_path):
    m = convdyn.load(FIXTURES / "cordsnet_d2_plain.pth")
    with pytest.raises(KeyError, match="nope"):
        convdyn.spectrum(m, layers=["nope"])
    with pytest.raises(ValueError, match="inputs: expected a 4-D"):
        convdyn.stability(m, inputs=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="inputs: contains NaN"):
        convdyn.stability(m, inputs=np.full((1, 1, 28, 28), np.nan))
    with pytest.raises(ValueError, match="drive"):
        convdyn.stability(m, drive=np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="alpha"):
        convdyn.stability(m, alpha=0)
    with pytest.raises(ValueError, match="drive"):
        convdyn.spectrum(m, drive=np.zeros((1, 2, 2)))
    zoo = convdyn.load(FIXTURES / "convrnn" / "gru_shallow" / "model.ckpt", size=(5, 5))
    with pytest.raises(ValueError, match="dtype='float32'.*loaded in float64"):
        convdyn.spectrum(zoo, dtype="float32")
    with pytest.raises(ValueError, match="inputs"):
        convdyn.stability(zoo, inputs=np.zeros((1, 1, 5, 5)))
    with pytest.raises(OSError, match="missing.npy"):
        convdyn.stability(m, inputs=str(tmp_path / "missing.npy"))
    with pytest.raises(OSError):
        convdyn.spectrum(m, k=2).to_hdf5(tmp_path / "no" / "such" / "dir.h5")
    assert list(tmp_path.iterdir()) == []
