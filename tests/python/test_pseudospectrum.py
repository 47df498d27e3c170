"""`convdyn pseudospectrum` against numpy: every grid value equals the smallest singular value of zI - W from a
dense SVD, each eps-pseudospectral abscissa is a point of the eps-pseudospectrum right of max Re lambda + eps,
the distance to instability equals a brute-force minimisation along Re z = 1, and the file's layout and errors."""
import h5py
import numpy as np
import pytest

import convdyn
from conftest import DEMO, FIXTURES

CKPT = FIXTURES / "cordsnet_d4_lm_lr.pth"


def smin(W, z):
    return np.linalg.svd(z * np.eye(W.shape[0]) - W, compute_uv=False)[-1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ps") / "ps.h5"
    import subprocess, os
    from conftest import ROOT
    exe = os.environ.get("CONVDYN_CLI") or str(ROOT / "build" / "bin" / "convdyn")
    p = subprocess.run([exe, "pseudospectrum", str(CKPT), "--layer", "area_conv.0", "--layer", "area_conv.2",
                        "--grid", "14", "--eps", "1e-2,1e-1", "--quiet", "--out", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return out, p.stdout


@pytest.mark.parametrize("layer", ["area_conv.0", "area_conv.2"])
def test_grid_abscissae_and_distance_against_numpy(run, layer):
    out, stdout = run
    assert "distance to instability" in stdout
    res = convdyn.results.load(out)
    L = res.layers[layer]
    P = L.pseudospectrum
    assert L.method == "schur" and P.all_converged
    W = convdyn.load(CKPT).operator(layer).to_dense()
    lam = np.linalg.eigvals(W)
    assert len(P.eigenvalues) == W.shape[0]
    dist = np.abs(P.eigenvalues[:, None] - lam[None, :])
    assert dist.min(axis=0).max() < 1e-9 and dist.min(axis=1).max() < 1e-9
    assert (np.diff(P.eigenvalues.real) <= 0).all()           # by decreasing real part
    assert P.max_real == pytest.approx(lam.real.max(), abs=1e-10)
    assert P.sigma_min.shape == (14, 14)
    ref = np.array([[smin(W, x + 1j * y) for x in P.re] for y in P.im])
    np.testing.assert_allclose(P.sigma_min, ref, rtol=1e-8, atol=1e-13)
    assert (P.sigma_min > 0).all()
    for e, a, y, edge in zip(P.eps, P.abscissa, P.abscissa_im, P.abscissa_at_right_edge):
        assert not edge
        assert smin(W, a + 1j * y) <= e * (1 + 1e-7)          # a point of the eps-pseudospectrum
        assert a >= lam.real.max() + e - 1e-9                  # right of the eps-disk of the rightmost eigenvalue
        # nothing further right on the grid's rows is inside
        right = P.re > a + 1e-6 * (P.re[-1] - P.re[0])
        assert (P.sigma_min[:, right] > e * (1 - 1e-7)).all()
    # the distance: a brute-force scan along Re z = 1 never finds a smaller value, and it is attained
    d = P.distance_to_instability
    assert not P.unstable and P.threshold == 1.0
    assert smin(W, 1 + 1j * P.distance_im) == pytest.approx(d, rel=1e-8)
    ys = np.linspace(0, 1.2 * np.abs(lam).max() + 2, 2001)
    assert min(smin(W, 1 + 1j * y) for y in ys) >= d * (1 - 1e-7)
    assert d <= 1 - lam.real.max() + 1e-12                    # never more than the eigenvalue margin


def test_appends_to_a_spectrum_file_and_refuses_a_second(tmp_path, cli):
    out = tmp_path / "r.h5"
    cli("spectrum", CKPT, "--layer", "area_conv.3", "--k", "4", "--quiet", "--out", out)
    cli("pseudospectrum", CKPT, "--layer", "area_conv.3", "--grid", "6", "--quiet", "--out", out, "--append")
    layers = convdyn.results.load(out).layers
    assert list(layers) == ["area_conv.3"]        # the pseudospectrum subgroup is not a layer of its own
    L = layers["area_conv.3"]
    assert L.method == "krylov-schur" and len(L.eigenvalues) == 4   # the spectrum is kept
    assert L.pseudospectrum.sigma_min.shape == (6, 6)
    p = cli("pseudospectrum", CKPT, "--layer", "area_conv.3", "--grid", "6", "--quiet", "--out", out, "--append",
            ok=(2,))
    assert "already holds /layers/area_conv.3/pseudospectrum" in p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["r.h5"], "a temporary file was left behind"
    with h5py.File(out, "r") as f:
        assert f["layers/area_conv.3/pseudospectrum/sigma_min"].shape == (6, 6)


@pytest.mark.parametrize("args, message", [
    (["--layer", "area_conv.0", "--max-n", "100"], "exceeds the pseudospectrum's dense limit --max-n 100"),
    (["--layer", "area_conv.0", "--window", "1,0,0,1"], "RE_LO < RE_HI"),
    (["--layer", "area_conv.0", "--eps", "0"], "--eps 0"),
    (["--layer", "nope"], "nope"),
])
def test_bad_input_is_a_one_line_error(cli, tmp_path, args, message):
    p = cli("pseudospectrum", CKPT, *args, "--grid", "4", "--quiet", "--out", tmp_path / "x.h5", ok=(2,))
    lines = [s for s in p.stderr.splitlines() if s.strip()]
    assert len(lines) == 1 and message in lines[0], p.stderr
    assert not list(tmp_path.iterdir()), "a file was written despite the error"


def test_zoo_is_refused(cli):
    p = cli("pseudospectrum", FIXTURES / "convrnn" / "gru_shallow" / "model.ckpt", "--size", "5,5", "--layer", "conv3",
            ok=(2,))
    assert "discrete map" in p.stderr
