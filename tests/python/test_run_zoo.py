"""`convdyn run` on whole ConvRNN zoo networks against the independent numpy reference written from
docs/convrnn-network.md (tests/fixtures/zoo_network_reference.py): the logits at every step and the recorded
layers from the step the zoo's runner returns them, for the zoo's presentation and for changed flags; the
normalisation (ImageNet mean/std on [0, 1] pixels, NHWC or NCHW); bad input."""
import sys

import numpy as np
import pytest

from conftest import FIXTURES

import convdyn.results as cr

sys.path.insert(0, str(FIXTURES))
import zoo_network_reference as zref  # noqa: E402
from check_zoo_vs_reference import read_bundle  # noqa: E402

NET = FIXTURES / "convrnn_network"


def bundle(name):
    prefix = NET / name / "model.ckpt"
    v = read_bundle(str(prefix))
    return prefix, v, zref.describe(v)


def pixels(n, h, w, seed):
    return np.random.default_rng(seed).uniform(0, 1, (n, h, w, 3))


@pytest.mark.parametrize("name,size,flags,times,image_off", [
    ("gru_shallow", (66, 72), [], 16, 12),
    ("lstm_shallow", (66, 72), ["--times", "9", "--image-off", "4"], 9, 4),
    ("intersectionrnn_shallow", (66, 72), ["--constant", "--times", "7", "--off-value", "-1"], 7, None),
    ("rgc_intermediate", (66, 40), [], 17, 12),
    ("timedecay_intermediate", (66, 40), ["--all-times"], 17, 12),
])
def test_run_matches_reference(cli, tmp_path, name, size, flags, times, image_off):
    prefix, v, net = bundle(name)
    x = pixels(2, *size, seed=len(name))
    path = tmp_path / "images.npy"
    np.save(path, x)
    out = tmp_path / "run.h5"
    cli("run", prefix, "--images", path, "--any-size", "--dtype", "float64", "--record", "all", "--out", out, "-q",
        *flags)
    off_value = -1.0 if "--off-value" in flags else 0.5
    ref = zref.run(v, net, zref.normalize_images(x), times, image_off, off_value=off_value)
    run = cr.load(out).run
    want = np.transpose(ref["logits"], (1, 0, 2))                  # (N, T, K)
    assert run.logits.shape == want.shape
    np.testing.assert_allclose(run.logits, want, rtol=0, atol=1e-10 * max(1, np.abs(want).max()))
    np.testing.assert_array_equal(run.predictions, want[:, -1].argmax(1))
    last = 5 if "shallow" in name else 10
    assert list(run.recorded) == [f"conv{l}" for l in range(1, last + 1)]
    for l in range(1, last + 1):
        rec = run.recorded[f"conv{l}"]
        first = 0 if "--all-times" in flags else l         # run_model.py returns conv_l from step l
        assert rec.first_step == first and rec.shape[1] == times - first
        ref_l = np.stack(ref["outputs"][f"conv{l}"][first:], 1).transpose(0, 1, 4, 2, 3)  # (N, T_l, C, H, W)
        np.testing.assert_allclose(rec.read(), ref_l, rtol=0, atol=1e-6 * max(1, np.abs(ref_l).max()))


def test_float32_and_nchw(cli, tmp_path):
    prefix, v, net = bundle("ugrnn_shallow")
    x = pixels(3, 66, 72, seed=9)
    path = tmp_path / "nchw.npy"
    np.save(path, x.transpose(0, 3, 1, 2).astype(np.float32))
    out = tmp_path / "run.h5"
    p = cli("run", prefix, "--images", path, "--any-size", "--out", out, "-q")
    assert "float32" in p.stdout and "NCHW" in p.stdout
    ref = zref.run(v, net, zref.normalize_images(x.astype(np.float32).astype(np.float64)), 16, 12)
    want = np.transpose(ref["logits"], (1, 0, 2))
    np.testing.assert_allclose(cr.load(out).run.logits, want, rtol=0, atol=1e-5 * max(1, np.abs(want).max()))


def test_bad_zoo_inputs(cli, tmp_path):
    prefix = NET / "gru_shallow" / "model.ckpt"
    small = tmp_path / "small.npy"
    np.save(small, pixels(1, 66, 72, 1))
    p = cli("run", prefix, "--images", small, ok=(2,))
    assert "224x224" in p.stderr and "--any-size" in p.stderr
    bright = tmp_path / "bright.npy"
    np.save(bright, pixels(1, 66, 72, 1) * 3)
    p = cli("run", prefix, "--images", bright, "--any-size", ok=(2,))
    assert "[0, 1]" in p.stderr
    gray = tmp_path / "gray.npy"
    np.save(gray, np.zeros((1, 1, 66, 72)))
    p = cli("run", prefix, "--images", gray, "--any-size", ok=(2,))
    assert "RGB" in p.stderr
    p = cli("run", prefix, "--images", small, "--any-size", "--steps", "5", ok=(2,))
    assert "CordsNet options" in p.stderr
    p = cli("run", prefix, "--images", small, "--any-size", "--image-off", "3", ok=(2,))
    assert "needs --times" in p.stderr
    out = tmp_path / "r.h5"
    p = cli("run", prefix, "--images", small, "--any-size", "--times", "3", "--record", "conv4", "--out", out, ok=(2,))
    assert "returned from step 4" in p.stderr and not out.exists()
    p = cli("run", prefix, "--images", small, "--any-size", "--record", "conv9", "--out", out, ok=(2,))
    assert "no layer 'conv9'" in p.stderr
    # a cell-only bundle (no conv1 / imnetds) cannot be run as a network
    p = cli("run", FIXTURES / "convrnn" / "gru_shallow" / "model.ckpt", "--images", small, "--any-size", ok=(2,))
    assert "whole network" in p.stderr
