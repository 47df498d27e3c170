#!/usr/bin/python3
"""Tests of notebooks/convdyn_results.py (unittest; run with Debian's /usr/bin/python3).

    /usr/bin/python3 notebooks/test_convdyn_results.py RESULTS.h5      # a `convdyn spectrum --vectors` file
    /usr/bin/python3 notebooks/test_convdyn_results.py --make-stability-copy SRC.h5 DST.h5

Without RESULTS.h5 (or $CONVDYN_RESULTS) the tests that need a real results file are skipped.
`--make-stability-copy` writes a copy of SRC with a made-up `/stability` group (its schema is not defined yet),
used to run stability.ipynb through its `/stability` branch.
"""
import os
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import convdyn_results as cr  # noqa: E402

GOOD = None   # set from argv / $CONVDYN_RESULTS in main()


def make_stability_copy(src, dst):
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        st = f.create_group("stability")
        st.attrs["alpha"] = 0.2
        st.attrs["method"] = np.bytes_(b"made-up for tests")
        st.create_dataset("timesteps", data=np.arange(5))
        for i, name in enumerate(f["layers"]):
            g = st.create_group(name)
            g.attrs["spectral_abscissa"] = 1.0 - 0.1 * i
            g.attrs["stable"] = np.int64(i % 2)
            g.attrs["verdict"] = "STABLE" if i % 2 else "UNSTABLE"
            g.create_dataset("lyapunov", data=np.float64(-0.01 * i))
            g.create_dataset("trajectory_norm", data=np.linspace(1, 2, 7))
        st.create_group("area_conv.0/detail").attrs["note"] = b"nested group"


class LoaderWithoutResultsFile(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="convdyn_results_test_"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _minimal(self, path, version, layers=True):
        with h5py.File(path, "w") as f:
            if version is not None:
                f.attrs["schema_version"] = np.int64(version)
            f.attrs["architecture"] = b"CordsNet (depth 1)"          # bytes attribute
            f.attrs["checkpoint"] = "model.pth"                       # str (variable-length) attribute
            if layers:
                g = f.create_group("layers/area_conv.0")
                g.create_dataset("eigenvalues", data=np.array([1 + 2j, 1 - 2j, 0.5]))
                g.attrs["which"] = np.bytes_(b"LR")
                g.attrs["method"] = "dense"
                g.attrs["n"] = np.int64(3)
                g.attrs["all_converged"] = np.int64(1)

    def test_schema_version_2_is_refused(self):
        p = self.tmp / "v2.h5"
        self._minimal(p, 2)
        with self.assertRaises(cr.SchemaError) as ctx:
            cr.load(p)
        msg = str(ctx.exception)
        self.assertIn(str(p), msg)
        self.assertIn("2", msg)
        self.assertIn(str(cr.SUPPORTED), msg)
        self.assertRegex(msg, r"version 2\b")
        self.assertRegex(msg, rf"version {cr.SUPPORTED}\b")
        self.assertIsInstance(ctx.exception, cr.ResultsError)   # SchemaError is a ResultsError

    def test_random_bytes_are_refused(self):
        p = self.tmp / "corrupt.h5"
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        with self.assertRaises(cr.ResultsError) as ctx:
            cr.load(p)
        self.assertNotIsInstance(ctx.exception, cr.SchemaError)
        self.assertIn(str(p), str(ctx.exception))

    def test_truncated_hdf5_is_refused(self):
        p = self.tmp / "whole.h5"
        self._minimal(p, 1)
        data = p.read_bytes()
        q = self.tmp / "truncated.h5"
        q.write_bytes(data[: len(data) // 2])
        with self.assertRaises(cr.ResultsError) as ctx:
            cr.load(q)
        self.assertIn(str(q), str(ctx.exception))

    def test_missing_file(self):
        p = self.tmp / "does_not_exist.h5"
        with self.assertRaises(cr.ResultsError) as ctx:
            cr.load(p)
        self.assertIn(str(p), str(ctx.exception))

    def test_no_schema_version(self):
        p = self.tmp / "noversion.h5"
        self._minimal(p, None)
        with self.assertRaises(cr.ResultsError) as ctx:
            cr.load(p)
        self.assertNotIsInstance(ctx.exception, cr.SchemaError)
        self.assertIn("schema_version", str(ctx.exception))
        self.assertIn(str(p), str(ctx.exception))

    def test_no_layers(self):
        p = self.tmp / "nolayers.h5"
        self._minimal(p, 1, layers=False)
        with self.assertRaises(cr.ResultsError) as ctx:
            cr.load(p)
        self.assertIn("layers", str(ctx.exception))
        self.assertIn(str(p), str(ctx.exception))

    def test_minimal_file_bytes_and_str_attributes(self):
        p = self.tmp / "minimal.h5"
        self._minimal(p, 1)
        res = cr.load(p)
        self.assertEqual(res.schema_version, 1)
        self.assertEqual(res.architecture, "CordsNet (depth 1)")
        self.assertEqual(res.checkpoint, "model.pth")
        self.assertIsNone(res.stability)
        L = res.layers["area_conv.0"]
        self.assertEqual(L.which, "LR")
        self.assertIsInstance(L.which, str)
        self.assertEqual(L.method, "dense")
        self.assertIs(L.all_converged, True)
        self.assertIsNone(L.residuals)
        self.assertIsNone(L.eigenvectors)
        self.assertIsNone(L.converged)
        self.assertTrue(L.converged_mask.all())
        self.assertTrue(L.complete)
        self.assertAlmostEqual(L.margin, 0.0)

    def test_results_path(self):
        old = os.environ.pop("CONVDYN_RESULTS", None)
        try:
            self.assertEqual(Path(cr.results_path()), HERE.parent / "results.h5")
            os.environ["CONVDYN_RESULTS"] = "/somewhere/r.h5"
            self.assertEqual(cr.results_path(), "/somewhere/r.h5")
        finally:
            os.environ.pop("CONVDYN_RESULTS", None)
            if old is not None:
                os.environ["CONVDYN_RESULTS"] = old

    def test_discrete_map(self):
        mu = cr.discrete_map(np.array([1.0, 0.0, 1j]), 0.2)
        np.testing.assert_allclose(mu, [1.0, 0.8, 0.8 + 0.2j])


class CommittedNotebooks(unittest.TestCase):
    def test_notebooks_are_committed_without_outputs(self):
        import nbformat
        notebooks = sorted(HERE.glob("*.ipynb"))
        self.assertTrue(notebooks)
        for path in notebooks:
            nb = nbformat.read(path, as_version=4)
            nbformat.validate(nb)
            code = [c for c in nb.cells if c.cell_type == "code"]
            self.assertIn("RESULTS = convdyn_results.results_path()", code[0].source, path.name)
            for c in code:
                self.assertEqual(c.outputs, [], f"{path.name}: a cell has outputs (clear them before committing)")
                self.assertIsNone(c.execution_count, f"{path.name}: execution_count set")


class LoaderOnResultsFile(unittest.TestCase):
    def setUp(self):
        if not GOOD:
            self.skipTest("no results file given (argument or $CONVDYN_RESULTS)")
        self.res = cr.load(GOOD)

    def test_root_attributes(self):
        r = self.res
        self.assertEqual(r.schema_version, cr.SUPPORTED)
        for name in cr.ROOT_ATTRS[1:]:
            self.assertIsInstance(getattr(r, name), str, name)
        self.assertEqual(len(r.checkpoint_sha256), 64)
        self.assertRegex(r.created_utc, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_layers(self):
        self.assertTrue(self.res.layers)
        for name, L in self.res.layers.items():
            self.assertEqual(L.name, name)
            self.assertEqual(L.eigenvalues.dtype, np.complex128)
            self.assertEqual(L.eigenvalues.shape, (L.k,))
            self.assertIsInstance(L.which, str)
            self.assertIn(L.which, ("LR", "LM", "SR", "SM", "LI"))
            self.assertIsInstance(L.method, str)
            self.assertIsInstance(L.stop_reason, str)
            self.assertEqual(L.n, L.channels * L.height * L.width)
            self.assertIsInstance(L.all_converged, bool)
            self.assertEqual(L.converged.dtype, bool)
            self.assertEqual(L.converged.shape, (L.k,))
            for attr in cr.LAYER_ATTRS:
                self.assertIsNotNone(getattr(L, attr), f"{name}.{attr}")
                self.assertIn(attr, L.attrs)

    def test_eigenvectors(self):
        with_vectors = [L for L in self.res.layers.values() if L.has_vectors]
        self.assertTrue(with_vectors, "the test file should be written with --vectors")
        for L in with_vectors:
            p = len(L.eigenvalues)
            self.assertEqual(L.eigenvectors.shape, (p, L.channels, L.height, L.width))
            self.assertTrue(np.iscomplexobj(L.eigenvectors))
            norms = np.linalg.norm(L.eigenvectors.reshape(p, -1), axis=1)
            np.testing.assert_allclose(norms, 1.0, atol=1e-6)
            self.assertEqual(L.residuals.shape, (p,))
        res = cr.load(GOOD, vectors=False)
        self.assertTrue(all(L.eigenvectors is None for L in res.layers.values()))

    def test_stability_group_is_read_generically(self):
        tmp = Path(tempfile.mkdtemp(prefix="convdyn_results_test_"))
        try:
            dst = tmp / "with_stability.h5"
            make_stability_copy(GOOD, dst)
            st = cr.load(dst).stability
            self.assertEqual(set(st), {"attrs", "datasets", "groups"})
            self.assertEqual(st["attrs"]["method"], "made-up for tests")
            self.assertEqual(st["attrs"]["alpha"], 0.2)
            np.testing.assert_array_equal(st["datasets"]["timesteps"], np.arange(5))
            g0 = st["groups"]["area_conv.0"]
            self.assertEqual(g0["attrs"]["verdict"], "UNSTABLE")
            self.assertEqual(g0["datasets"]["trajectory_norm"].shape, (7,))
            self.assertEqual(g0["groups"]["detail"]["attrs"]["note"], "nested group")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    global GOOD
    argv = sys.argv[1:]
    if argv[:1] == ["--make-stability-copy"]:
        if len(argv) != 3:
            sys.exit("usage: test_convdyn_results.py --make-stability-copy SRC.h5 DST.h5")
        make_stability_copy(argv[1], argv[2])
        print("wrote", argv[2])
        return 0
    files = [a for a in argv if not a.startswith("-")]
    GOOD = files[0] if files else os.environ.get("CONVDYN_RESULTS")
    rest = [a for a in argv if a.startswith("-")]
    prog = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False)
    result = prog.result
    if GOOD is None:
        print("note: no results file given: LoaderOnResultsFile skipped", file=sys.stderr)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
