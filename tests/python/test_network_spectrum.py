"""`convdyn spectrum --layer network` on whole zoo networks: the joint Jacobian's largest eigenvalues at the fixed
point under a constant image against the independent reference's dense finite-difference Jacobian
(tests/fixtures/convrnn_network/expected.pth, from zoo_network_reference.py); without feedback they are the cells'
own (the joint spectrum is the union of the cells' plus zeros), with rgc's feedback edges they are not."""
import numpy as np
import pytest
import torch

from conftest import FIXTURES

import convdyn.results as cr

NET = FIXTURES / "convrnn_network"
MEAN = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)


@pytest.fixture(scope="module")
def expected():
    return torch.load(NET / "expected.pth")


def top(values, k):
    v = np.asarray(values)
    return v[np.argsort(-np.abs(v), kind="stable")][:k]


@pytest.mark.parametrize("name", ["gru_shallow", "ugrnn_intermediate", "rgc_intermediate_nofb", "rgc_intermediate"])
def test_largest_eigenvalues(cli, tmp_path, expected, name):
    e = {k[len(name) + 1:]: v for k, v in expected.items() if k.startswith(name + "/")}
    x = e["fp/image"].double().numpy()
    pixels = x * STD + MEAN                      # the reference's image is already normalised
    assert pixels.min() >= 0 and pixels.max() <= 1
    path = tmp_path / "image.npy"
    np.save(path, pixels)
    out = tmp_path / "net.h5"
    k = 4
    cli("spectrum", NET / name / "model.ckpt", "--layer", "network", "--image", path, "--any-size", "--which", "LM",
        "--k", k, "--tol", "1e-12", "--out", out, "-q")
    L = cr.load(out).layers["network"]
    assert L.n == int(e["fp/n"]) and L.all_converged
    got = top(L.eigenvalues, k)
    joint = e["fp/eigvals_real"].numpy() + 1j * e["fp/eigvals_imag"].numpy()
    cond = e["fp/eig_cond"].numpy()
    want = top(joint, k)
    # compare where the reference's eigenvalues are well conditioned (finite differences, ~1e-10 accurate)
    order = np.argsort(-np.abs(joint), kind="stable")[:k]
    for g, w, c in zip(got, want, cond[order]):
        if c < 1e4:
            assert abs(g - w) <= 1e-8 * max(1, abs(w)), (name, g, w, c)
    if "fp/cell/" + "conv4/eigvals_real" in e or "fp/cell/conv3/eigvals_real" in e:   # no feedback: the union
        cells = np.concatenate([e[key].numpy() + 1j * e[key.replace("real", "imag")].numpy()
                                for key in e if key.startswith("fp/cell/") and key.endswith("eigvals_real")])
        u = top(cells, k)
        np.testing.assert_allclose(np.abs(got), np.abs(u), rtol=1e-9)
    if name == "rgc_intermediate":                # the feedback changes the spectrum: not the nofb net's
        nofb = expected["rgc_intermediate_nofb/fp/eigvals_real"].numpy() + \
            1j * expected["rgc_intermediate_nofb/fp/eigvals_imag"].numpy()
        assert abs(np.abs(got[0]) - np.abs(top(nofb, 1)[0])) > 1e-3


def test_network_layer_needs_an_image_and_a_whole_zoo_network(cli, tmp_path):
    p = cli("spectrum", NET / "gru_shallow" / "model.ckpt", "--layer", "network", ok=(2,))
    assert "needs --image" in p.stderr
    img = tmp_path / "i.npy"
    np.save(img, np.full((1, 3, 32, 32), 0.5))
    p = cli("spectrum", FIXTURES / "convrnn" / "gru_shallow" / "model.ckpt", "--layer", "network", "--image", img,
            "--any-size", ok=(2,))
    assert "whole network" in p.stderr
    p = cli("spectrum", FIXTURES / "cordsnet_d4_param_module.pth", "--layer", "network", "--image", img, ok=(2,))
    assert "ConvRNN zoo" in p.stderr


@pytest.mark.parametrize("name", ["gru_shallow", "rgc_intermediate"])
def test_stability_network(cli, tmp_path, expected, name):
    """`stability --network`: rho of the joint Jacobian (with its error bound) equals the reference's, the verdict
    follows rho + bound < 1."""
    x = expected[f"{name}/fp/image"].double().numpy()
    path = tmp_path / "image.npy"
    np.save(path, x * STD + MEAN)
    out = tmp_path / "st.h5"
    p = cli("stability", NET / name / "model.ckpt", "--network", "--image", path, "--any-size",
            "--fixed-point-tol", "1e-13", "--out", out, "-q", ok=(0, 1, 3))
    assert "the whole network, linearised jointly" in p.stdout
    st = cr.load(out).stability
    a = st.areas["network"]
    joint = expected[f"{name}/fp/eigvals_real"].numpy() + 1j * expected[f"{name}/fp/eigvals_imag"].numpy()
    rho = np.abs(joint).max()
    assert a.spectral_radius == pytest.approx(rho, rel=1e-8)
    bound = a.attrs["spectral_radius_error_bound"]
    want = "STABLE" if rho + bound < 1 else "UNSTABLE" if rho - bound >= 1 else "UNDECIDED"
    assert a.verdict == want == st.verdict
