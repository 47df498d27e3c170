"""`convdyn run` on CordsNet checkpoints against independent implementations: the demo training script's own PyTorch
model (scripts/train_demo.py, which trained the demo checkpoint) and the plain-functional reference written from
docs/cordsnet.md (tests/fixtures/cordsnet_reference.py); the /run layout of docs/results-format.md; bad input."""
import importlib.util
import sys

import h5py
import numpy as np
import pytest
import torch

from conftest import DEMO, FIXTURES, ROOT

import convdyn.results as cr

IMAGES = ROOT / "apps" / "demo" / "fmnist-t10k-16-images-idx3-ubyte.gz"
LABELS = ROOT / "apps" / "demo" / "fmnist-t10k-16-labels-idx1-ubyte.gz"
DEMO_LABELS = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1]   # apps/demo/README.md


def _load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def train_demo():
    return _load_module("train_demo", ROOT / "scripts" / "train_demo.py")


@pytest.fixture(scope="module")
def images(train_demo):
    raw = train_demo.read_idx(str(IMAGES))                  # uint8 [16, 28, 28]
    return torch.from_numpy(np.asarray(raw, dtype=np.float64) / 255.0).unsqueeze(1)


def training_script_run(train_demo, images, dtype, spontaneous=100, steps=100):
    """Logits at every image step [N, T, classes] and the states at every step, by the training script's model."""
    model = train_demo.CordsNet(**train_demo.CFG)
    model.load_state_dict(torch.load(DEMO))
    model = model.to(dtype).eval()
    with torch.no_grad():
        r = model.spontaneous(spontaneous)
        img = images.to(dtype)
        r = [x.expand(img.shape[0], *x.shape[1:]) for x in r]
        d0, skip = model.drives(img)
        logits, states = [], []
        for _ in range(steps):
            r = model.step(r, d0, skip)
            logits.append(model.readout(r))
            states.append([x.clone() for x in r])
    return (torch.stack(logits, 1).double().numpy(),
            [torch.stack([s[l] for s in states], 1).double().numpy() for l in range(len(r))])


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-10)])
def test_demo_matches_training_script(cli, tmp_path, train_demo, images, dtype, tol):
    out = tmp_path / "run.h5"
    p = cli("run", DEMO, "--images", IMAGES, "--labels", LABELS, "--record", "all", "--dtype", dtype,
            "--batch", 5, "--out", out)
    assert "accuracy:" in p.stdout
    logits, states = training_script_run(train_demo, images, torch.float32 if dtype == "float32" else torch.float64)
    res = cr.load(out)
    run = res.run
    assert res.schema_version == 5 and run is not None
    assert run.logits.shape == (16, 100, 10) and run.steps == 100
    scale = np.abs(logits).max()
    np.testing.assert_allclose(run.logits, logits, rtol=0, atol=tol * scale)
    expected_pred = logits[:, -1].argmax(1)
    np.testing.assert_array_equal(run.predictions, expected_pred)
    np.testing.assert_array_equal(run.labels, DEMO_LABELS)
    assert run.accuracy == pytest.approx(np.mean(expected_pred == np.array(DEMO_LABELS)))
    assert list(run.recorded) == [f"area_conv.{l}" for l in range(4)]
    for l, ref in enumerate(states):
        rec = run.recorded[f"area_conv.{l}"]
        assert rec.shape == ref.shape and rec.first_step == 0
        got = rec.read()
        assert got.dtype == np.float32
        # stored as float32: float64 runs agree to float32 rounding
        np.testing.assert_allclose(got, ref, rtol=0, atol=max(tol, 1e-6) * np.abs(ref).max())
        np.testing.assert_array_equal(rec.read(images=slice(2, 4), steps=[0, 99]), got[2:4][:, [0, 99]])


def test_protocol_flags_against_reference(cli, tmp_path):
    """--spontaneous, --steps, --alpha, --normalize on a depth-4 fixture, against cordsnet_reference.py (float64)."""
    sys.path.insert(0, str(FIXTURES))
    ref = _load_module("cordsnet_reference", FIXTURES / "cordsnet_reference.py")
    ckpt = FIXTURES / "cordsnet_d4_param_module.pth"
    rng = np.random.default_rng(5)
    raw = rng.uniform(0, 1, (3, 1, 32, 32))
    path = tmp_path / "images.npy"
    np.save(path, raw)
    out = tmp_path / "run.h5"
    cli("run", ckpt, "--images", path, "--spontaneous", 7, "--steps", 5, "--alpha", 0.3, "--normalize", "0.4,0.25",
        "--dtype", "float64", "--record", "area_conv.1,area_conv.3", "--out", out, "-q")
    net = ref.Net(ref.state_dict_of(str(ckpt)), torch.float64)
    img = (torch.from_numpy(raw) - 0.4) / 0.25
    r = [torch.zeros(3, *b.shape, dtype=torch.float64) for b in net.bias]
    zero = net.input_drive(torch.zeros_like(img))
    for _ in range(7):
        net.step(r, zero, 0.3)
    inp = net.input_drive(img)
    logits, rec1, rec3 = [], [], []
    for _ in range(5):
        net.step(r, inp, 0.3)
        logits.append(net.logits(r))
        rec1.append(r[1].clone())
        rec3.append(r[3].clone())
    run = cr.load(out).run
    expected = torch.stack(logits, 1).numpy()
    np.testing.assert_allclose(run.logits, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
    assert list(run.recorded) == ["area_conv.1", "area_conv.3"]
    for name, ref_states in (("area_conv.1", rec1), ("area_conv.3", rec3)):
        want = torch.stack(ref_states, 1).numpy()
        np.testing.assert_allclose(run.recorded[name].read(), want, rtol=0, atol=1e-6 * np.abs(want).max())
    assert "7 blank steps" in run.protocol and "5 image steps" in run.protocol and "alpha 0.3" in run.protocol
    assert "mean=[0.4]" in run.attrs["normalisation"]


def test_layout_chunked_compressed(cli, tmp_path):
    out = tmp_path / "run.h5"
    cli("run", DEMO, "--images", IMAGES, "--limit", 3, "--steps", 4, "--record", "area_conv.0", "--out", out, "-q")
    with h5py.File(out, "r") as f:
        assert int(f.attrs["schema_version"]) == 5
        g = f["run"]
        assert g["logits"].shape == (3, 4, 10) and g["logits"].dtype == np.float64
        assert g["predictions"].shape == (3,) and g["predictions"].dtype == np.int64
        assert "labels" not in g and "accuracy" not in g.attrs
        ds = g["area_conv.0"]
        assert ds.shape == (3, 4, 16, 7, 7) and ds.dtype == np.float32
        assert ds.chunks is not None and ds.compression == "gzip" and ds.chunks[0] == 1
        assert int(g.attrs["n_images"]) == 3 and int(g.attrs["steps"]) == 4


def test_without_out_prints_accuracy(cli):
    p = cli("run", DEMO, "--images", IMAGES, "--labels", LABELS, "--limit", 4, "-q")
    assert "accuracy: " in p.stdout and "/4 = " in p.stdout
    assert "predictions: " in p.stdout


@pytest.mark.parametrize("args,message", [
    (["--record", "area_conv.9"], "no area 'area_conv.9' to record"),
    (["--alpha", "0"], "alpha = 0"),
    (["--steps", "0"], "at least one"),
    (["--normalize", "0.5"], "--normalize"),
])
def test_bad_options(cli, tmp_path, args, message):
    out = tmp_path / "run.h5"
    p = cli("run", DEMO, "--images", IMAGES, "--out", out, *args, ok=(2,))
    assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_inputs(cli, tmp_path):
    big = tmp_path / "big.npy"
    np.save(big, np.zeros((2, 1, 40, 40)))
    p = cli("run", DEMO, "--images", big, ok=(2,))
    assert "area 0" in p.stderr and "fit" in p.stderr
    labels = tmp_path / "labels.txt"
    labels.write_text("1 2 3\n")
    p = cli("run", DEMO, "--images", IMAGES, "--labels", labels, ok=(2,))
    assert "3 labels for the 16 images" in p.stderr
    labels.write_text(" ".join(["12"] * 16))
    p = cli("run", DEMO, "--images", IMAGES, "--labels", labels, ok=(2,))
    assert "label 12 is not a class of this model (10 classes)" in p.stderr
    p = cli("run", DEMO, "--images", IMAGES, "--record", "all", ok=(2,))
    assert "--record needs --out" in p.stderr
    zoo = FIXTURES / "convrnn" / "gru_shallow" / "model.ckpt"
    p = cli("run", zoo, "--images", IMAGES, ok=(2,))     # the cell layers only: not a whole network
    assert "whole network" in p.stderr


def test_labels_formats(cli, tmp_path):
    """The same labels as text and .npy give the IDX file's accuracy."""
    txt = tmp_path / "labels.txt"
    txt.write_text("\n".join(map(str, DEMO_LABELS)))
    npy = tmp_path / "labels.npy"
    np.save(npy, np.array(DEMO_LABELS, dtype=np.int32))
    lines = [next(l for l in cli("run", DEMO, "--images", IMAGES, "--labels", f, "--steps", 20, "-q").stdout.splitlines()
                  if l.startswith("accuracy")) for f in (LABELS, txt, npy)]
    assert lines[0] == lines[1] == lines[2]
