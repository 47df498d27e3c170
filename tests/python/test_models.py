"""convdyn.load / spectrum / stability give the CLI's numbers to the last bit (same seed), on the demo model,
CordsNet fixtures and the ConvRNN zoo fixtures, and write the same results files."""
import h5py
import numpy as np
import pytest

import convdyn
from conftest import DEMO, FIXTURES

# Attributes that legitimately differ between two runs: when and how they ran.
RUN_SPECIFIC = {"command_line", "created_utc", "seconds"}


def same(a, b):
    """Bit-equal values, NaN equal to NaN (an unknown error bound is NaN in both files)."""
    a, b = np.asarray(a), np.asarray(b)
    return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc" and b.dtype.kind in "fc")


def assert_same_file(a, b, groups=("layers", "stability")):
    """Every dataset and attribute under `groups` (and the root's identity) bit-identical, except run times."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for key in ("schema_version", "checkpoint_sha256", "architecture", "checkpoint"):
            assert fa.attrs[key] == fb.attrs[key], key
        seen = []

        def compare(name, obj):
            seen.append(name)
            other = fb[obj.name]
            assert set(obj.attrs) == set(other.attrs), name
            for k, v in obj.attrs.items():
                if k not in RUN_SPECIFIC:
                    assert same(v, other.attrs[k]), f"{name}@{k}: {v!r} != {other.attrs[k]!r}"
            if isinstance(obj, h5py.Dataset):
                assert same(obj[()], other[()]), f"{name} differs"
            else:
                assert set(obj.keys()) == set(other.keys()), name

        for g in groups:
            assert (g in fa) == (g in fb), g
            if g in fa:
                compare(g, fa[g])
                fa[g].visititems(compare)
        assert seen, "nothing compared"


@pytest.fixture(scope="module")
def demo():
    return convdyn.load(DEMO)


def test_load_demo(demo):
    assert demo.kind == "cordsnet" and "CordsNet" in demo.architecture
    assert demo.names == [f"area_conv.{i}" for i in range(len(demo.names))] and len(demo.names) >= 2
    o = demo.operators[0]
    assert o.n == np.prod(o.shape) and o.square
    A = demo.operator(o.name)
    assert A.shape == (o.n, o.n) and A.name == o.name
    with pytest.raises(KeyError, match="no operator 'area_conv.99'.*area_conv.0"):
        demo.operator("area_conv.99")
    assert repr(demo).startswith("<convdyn.Model")


def test_spectrum_equals_cli_bit_for_bit(demo, cli, tmp_path):
    cli("spectrum", DEMO, "--all", "--which", "LR", "--k", "10", "--vectors", "--quiet", "--out", tmp_path / "cli.h5")
    s = convdyn.spectrum(demo, k=10, which="LR", return_eigenvectors=True)
    s.to_hdf5(tmp_path / "py.h5")
    assert_same_file(tmp_path / "cli.h5", tmp_path / "py.h5", groups=("layers",))
    res = convdyn.results.load(str(tmp_path / "cli.h5"))
    assert list(s.layers) == demo.names
    for name, L in s.layers.items():
        np.testing.assert_array_equal(L.result.values, res.layers[name].eigenvalues)
        np.testing.assert_array_equal(L.result.residuals, res.layers[name].residuals)
        assert L.result.all_converged and L.info["n"] == res.layers[name].attrs["n"]


def test_condition_numbers_equal_cli(demo, cli, tmp_path):
    p = cli("spectrum", DEMO, "--all", "--k", "6", "--condition", "--quiet", "--out", tmp_path / "cli.h5")
    assert "condition  error bound" in p.stdout
    s = convdyn.spectrum(demo, k=6, condition=True)
    s.to_hdf5(tmp_path / "py.h5")
    assert_same_file(tmp_path / "cli.h5", tmp_path / "py.h5", groups=("layers",))
    res = convdyn.results.load(str(tmp_path / "cli.h5"))
    assert res.schema_version == 5
    for name, L in res.layers.items():
        assert L.eigenvectors is None and (L.condition >= 1 - 1e-12).all(), name
        np.testing.assert_array_equal(L.error_bound, L.condition * L.residuals)
        np.testing.assert_array_equal(s[name].result.condition, L.condition)


def test_spectrum_options_match_cli(cli, tmp_path):
    ckpt = FIXTURES / "cordsnet_d2_plain.pth"
    cli("spectrum", ckpt, "--layer", "area_conv.1", "--which", "LM", "--k", "4", "--seed", "7", "--method", "arpack",
        "--quiet", "--out", tmp_path / "cli.h5")
    convdyn.spectrum(str(ckpt), layers="area_conv.1", which="LM", k=4, seed=7, method="arpack").to_hdf5(tmp_path / "py.h5")
    assert_same_file(tmp_path / "cli.h5", tmp_path / "py.h5", groups=("layers",))
    m = convdyn.load(ckpt)
    d = convdyn.spectrum(m, layers=["area_conv.0"], method="dense", k=0)
    A = m.operator("area_conv.0")
    ev = np.linalg.eigvals(A.to_dense())
    np.testing.assert_allclose(np.sort_complex(d["area_conv.0"].result.values), np.sort_complex(ev), rtol=1e-10,
                               atol=1e-12)


def test_stability_equals_cli(cli, tmp_path):
    ckpt = FIXTURES / "cordsnet_d4_lm_lr.pth"
    images = FIXTURES / "inputs" / "u8_nchw.npy"
    cli("stability", ckpt, "--inputs", images, "--limit", "2", "--quiet", "--out", tmp_path / "cli.h5", ok=(0, 1, 3))
    st = convdyn.stability(str(ckpt), inputs=str(images), limit=2)
    st.to_hdf5(tmp_path / "py.h5")
    assert_same_file(tmp_path / "cli.h5", tmp_path / "py.h5", groups=("stability",))
    assert st.verdict in ("STABLE", "UNSTABLE", "UNDECIDED") and st.report["inputs"][0] == "zero"
    res = convdyn.results.load(str(tmp_path / "cli.h5")).stability
    assert res.verdict == st.verdict
    assert st.levels == {"global": res.verdict_global, "linear": res.verdict_linear,
                         "fixed_points": res.verdict_fixed_points}
    for name, a in st.areas.items():
        assert a["verdict"] == res.areas[name].verdict and a["abscissa"] == res.areas[name].abscissa
        assert a["levels"]["linear"] == res.areas[name].verdict_linear
        assert a["levels"]["fixed_points"] == res.areas[name].verdict_fixed_points
        b = a["abscissa_bound"]  # NaN: a clustered eigenvalue without a condition number
        assert (np.isnan(b) and np.isnan(res.areas[name].abscissa_error_bound)) or (
            0 <= b < 1e-8 and b == res.areas[name].abscissa_error_bound)
        for fp in a["fixed_points"]:
            assert not fp["reached"] or np.isnan(fp["spectral_radius_bound"]) or 0 <= fp["spectral_radius_bound"] < 1e-8
        np.testing.assert_array_equal(a["linear"].values, res.areas[name].linear.eigenvalues)
    bounds = [fp["spectral_radius_bound"] for a in st.areas.values() for fp in a["fixed_points"] if fp["reached"]]
    assert np.isfinite(bounds).sum() >= len(bounds) // 2, bounds
    # The same images as an array (uint8 [N, C, H, W], divided by 255 as the CLI does): the same numbers.
    arr = np.load(images)
    st2 = convdyn.stability(str(ckpt), inputs=arr, limit=2)
    st2.to_hdf5(tmp_path / "py_array.h5")
    assert_same_file(tmp_path / "cli.h5", tmp_path / "py_array.h5", groups=("stability",))


def test_spectrum_then_stability_in_one_file(tmp_path, cli):
    ckpt = FIXTURES / "cordsnet_d2_plain.pth"
    m = convdyn.load(ckpt)
    out = tmp_path / "both.h5"
    convdyn.spectrum(m, k=4).to_hdf5(out)
    convdyn.stability(m, k=4).to_hdf5(out, append=True)
    res = convdyn.results.load(str(out))
    assert set(res.layers) == set(m.names) and res.stability is not None
    with pytest.raises(OSError, match="exists|--force"):
        convdyn.spectrum(m, k=4).to_hdf5(out)
    convdyn.spectrum(m, k=4).to_hdf5(out, force=True)
    assert convdyn.results.load(str(out)).stability is None
    other = convdyn.spectrum(str(FIXTURES / "cordsnet_d4_lm_lr.pth"), layers="area_conv.0", k=2)
    with pytest.raises(OSError, match="sha256|checkpoint"):
        other.to_hdf5(out, append=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["both.h5"], "a temporary file was left behind"


ZOO = FIXTURES / "convrnn"


@pytest.mark.parametrize("bundle", ["gru_shallow", "rgc_intermediate", "lstm_shallow"])
def test_zoo_spectrum_equals_cli(bundle, cli, tmp_path):
    ckpt = ZOO / bundle / "model.ckpt"
    cli("spectrum", ckpt, "--size", "5,5", "--all", "--which", "LM", "--k", "4", "--quiet", "--out", tmp_path / "cli.h5")
    m = convdyn.load(ckpt, size=(5, 5))
    assert m.kind == "convrnn" and "ConvRNN zoo" in m.architecture
    s = convdyn.spectrum(m, which="LM", k=4)
    s.to_hdf5(tmp_path / "py.h5")
    assert_same_file(tmp_path / "cli.h5", tmp_path / "py.h5", groups=("layers",))
    jac = [o for o in m.operators if o.name == o.layer][0]
    J = m.operator(jac.name)
    assert J.fixed_point is not None and J.fixed_point["converged"]
    ev = np.linalg.eigvals(J.to_dense())
    np.testing.assert_allclose(np.abs(s[jac.name].result.values), np.sort(np.abs(ev))[::-1][:4], rtol=1e-9)


def test_zoo_stability_equals_cli(cli, tmp_path):
    ckpt = ZOO / "gru_shallow" / "model.ckpt"
    cli("stability", ckpt, "--size", "5,5", "--quiet", "--out", tmp_path / "cli.h5", ok=(0, 1, 3))
    st = convdyn.stability(convdyn.load(ckpt, size=(5, 5)))
    st.to_hdf5(tmp_path / "py.h5")
    assert_same_file(tmp_path / "cli.h5", tmp_path / "py.h5", groups=("stability",))
    assert st.report["kind"] == "convrnn" and set(st.areas) == {L["name"] for L in st.report["layers"]}


@pytest.mark.parametrize("bundle", ["gru_shallow", "rgc_intermediate", "lstm_shallow", "ugrnn_intermediate"])
def test_zoo_stability_error_bounds_against_scipy(bundle):
    """The zoo verdicts' eigenvalue error bounds: the condition number of rho(J) equals the one from scipy's left
    and right eigenvectors of the dense Jacobian, and the bound is condition * residual."""
    import scipy.linalg
    ckpt = ZOO / bundle / "model.ckpt"
    m = convdyn.load(ckpt, size=(5, 5))
    st = convdyn.stability(m)
    checked = 0
    for L in st.report["layers"]:
        if L["cell"] == "timedecay":
            assert L["spectral_radius_bound"] == 0.0
            continue
        r = L["largest"]
        i = int(np.argmax(np.abs(r.values)))
        lam, kappa = r.values[i], r.condition[i]
        assert L["spectral_radius_bound"] == pytest.approx(kappa * r.residuals[i], rel=1e-14)
        J = m.operator(L["name"]).to_dense()
        w, vl, vr = scipy.linalg.eig(J, left=True, right=True)
        j = int(np.argmin(np.abs(w - lam)))
        assert abs(w[j] - lam) < 1e-9 * max(1.0, abs(lam))
        x, y = vr[:, j], vl[:, j]
        ref = np.linalg.norm(x) * np.linalg.norm(y) / abs(np.vdot(y, x))
        assert kappa == pytest.approx(ref, rel=1e-6), (L["name"], kappa, ref)
        assert kappa >= 1 - 1e-12
        rho, bound = L["spectral_radius"], L["spectral_radius_bound"]
        want = "STABLE" if rho + bound < 1 else "UNSTABLE" if rho - bound >= 1 else "UNDECIDED"
        assert L["verdict"] == want
        checked += 1
    assert checked > 0


def test_transient_growth_against_numpy_powers(tmp_path, cli):
    """max_t ||M^t||_2 of M = (1 - alpha) I + alpha W on the demo: every evaluated norm equals numpy's norm of the
    dense matrix power, no step next to the peak is larger, the file holds the same numbers, and an area whose
    linear regime grows has none."""
    m = convdyn.load(DEMO)
    st = convdyn.stability(m, transient_steps=512)
    cli("stability", DEMO, "--quiet", "--out", tmp_path / "cli.h5", ok=(0, 1, 3))
    saved = convdyn.results.load(tmp_path / "cli.h5").stability
    assert saved.transient_max_steps == 512
    alpha, grows, checked = st.report["alpha"], 0, 0
    for A in st.report["areas"]:
        T = A["transient_growth"]
        if A["levels"]["linear"] == "UNSTABLE":
            assert T is None and saved.areas[A["name"]].transient_growth is None
            grows += 1
            continue
        W = m.operator(A["name"]).to_dense()
        M = (1 - alpha) * np.eye(W.shape[0]) + alpha * W
        norm = lambda t: np.linalg.norm(np.linalg.matrix_power(M, t), 2)
        for t, v in zip(T["steps"], T["norms"]):
            assert v == pytest.approx(norm(t), rel=1e-7), (A["name"], t)
        if T["peak_step"] > 0:
            for t in (T["peak_step"] - 1, T["peak_step"] + 1):
                assert norm(t) <= T["peak"] * (1 + 1e-9), (A["name"], t)
            assert T["peak"] == pytest.approx(max(T["norms"]), rel=0)
        f = saved.areas[A["name"]].transient_growth
        assert f.peak == pytest.approx(T["peak"], rel=1e-12) and f.peak_step == T["peak_step"]
        assert f.peak_time == pytest.approx(T["peak_step"] * alpha) and f.converged
        np.testing.assert_array_equal(f.steps, T["steps"])
        checked += 1
    assert checked >= 1 and grows >= 1  # the demo has both kinds of area
