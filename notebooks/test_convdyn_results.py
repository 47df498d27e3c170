#!/usr/bin/python3
"""Tests of the results loader convdyn.results (python/convdyn/results.py; unittest; run with Debian's
/usr/bin/python3 and the build's package on PYTHONPATH).

    PYTHONPATH=build/python /usr/bin/python3 notebooks/test_convdyn_results.py RESULTS.h5
                                        # RESULTS.h5: `convdyn spectrum --vectors`, then `convdyn stability --append`
    PYTHONPATH=build/python /usr/bin/python3 notebooks/test_convdyn_results.py --make-stability-copy SRC.h5 DST.h5

Without RESULTS.h5 (or $CONVDYN_RESULTS) the tests that need a real results file are skipped.
`--make-stability-copy` writes a copy of SRC whose `/stability` group is replaced by a synthetic one laid out as
in docs/results-format.md (an UNSTABLE, an UNDECIDED area and an unreached fixed point), used to run
stability.ipynb through those cases.
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
try:
    import convdyn.results as cr
except ImportError as e:
    sys.exit(f"{Path(__file__).name}: cannot import convdyn.results ({e}); "
             "set PYTHONPATH to the build's python folder, e.g. PYTHONPATH=build/python")

GOOD = None   # set from argv / $CONVDYN_RESULTS in main()


SYNTHETIC_INPUTS = ["zero", "image 0", "image 1"]


def _block(group, name, eigenvalues, which):
    b = group.create_group(name)
    b.create_dataset("eigenvalues", data=np.asarray(eigenvalues, dtype=np.complex128))
    b.create_dataset("residuals", data=np.full(len(eigenvalues), 1e-14))
    b.attrs["method"] = np.bytes_(b"dense")
    b.attrs["which"] = np.bytes_(which.encode())
    b.attrs["tol"] = 1e-10
    b.attrs["all_converged"] = np.int64(1)
    b.attrs["matvecs"] = np.int64(42)


def write_synthetic_stability(f, areas, alpha=0.2):
    """A made-up `/stability` group laid out as in docs/results-format.md, for the areas named: the abscissae
    cycle through 0.7, 0.9, 1.1, 0.8 (the third area is UNSTABLE), the first area is a contraction, the second has
    transient amplification, and in area_conv.3 (if any; else the last area) `image 1` reached no fixed point
    (that area is UNDECIDED)."""
    st = f.create_group("stability")
    st.attrs["alpha"] = alpha
    st.attrs["inputs"] = np.bytes_(";".join(SYNTHETIC_INPUTS).encode())
    undecided = "area_conv.3" if "area_conv.3" in areas else areas[-1]
    verdicts = []
    for i, name in enumerate(areas):
        g = st.create_group(name)
        absc = (0.7, 0.9, 1.1, 0.8)[i % 4]
        rho, norm2, omega = absc + 0.05, (0.95 if i == 0 else absc + 0.5), (0.9 if i == 0 else absc + 0.3)
        verdict = "UNSTABLE" if absc >= 1 else ("UNDECIDED" if name == undecided else "STABLE")
        verdicts.append(verdict)
        attrs = dict(n=np.int64(16 * (i + 1)), abscissa=absc, margin=1 - absc, spectral_radius=rho, norm2=norm2,
                     norm2_residual=1e-14, norm2_converged=np.int64(1), numerical_abscissa=omega,
                     numerical_abscissa_residual=2e-14, numerical_abscissa_converged=np.int64(1),
                     norm_over_radius=norm2 / rho, contraction=np.int64(norm2 < 1),
                     transient_amplification=np.int64(absc < 1 and omega >= 1))
        for k, v in attrs.items():
            g.attrs[k] = v
        g.attrs["verdict"] = np.bytes_(verdict.encode())
        g.attrs["reason"] = f"synthetic area {i}: {verdict}"          # a variable-length str attribute
        _block(g, "linear", [absc + 0.1j, absc - 0.1j, absc - 0.2], "LR")
        _block(g, "largest", [rho, -rho + 0.1, 0.3j], "LM")
        inputs = g.create_group("inputs")
        for j, label in enumerate(SYNTHETIC_INPUTS):
            fp = inputs.create_group(str(j))
            reached = not (name == undecided and j == 1)
            fp.attrs["input"] = np.bytes_(label.encode())
            fp.attrs["reached"] = np.int64(reached)
            fp.attrs["status"] = np.bytes_(b"converged" if reached else b"diverging")
            fp.attrs["fixed_point_residual"] = 1e-11 * (j + 1) if reached else 0.5
            fp.attrs["steps"] = np.int64(400 + 50 * j)
            fp.attrs["active_fraction"] = 0.4 + 0.05 * j
            if not reached:
                fp.attrs["verdict"] = np.bytes_(b"UNDECIDED")
                continue
            masked = 0.5 + 0.1 * j + 0.1 * i
            mu = (1 - alpha) + alpha * masked
            fp.attrs["verdict"] = np.bytes_(b"STABLE" if mu < 1 else b"UNSTABLE")
            fp.attrs["masked_abscissa"] = masked
            fp.attrs["spectral_radius"] = mu
            _block(fp, "masked", [masked, masked - 0.1 + 0.05j, masked - 0.1 - 0.05j], "LR")
            _block(fp, "discrete", [mu, mu - 0.02 + 0.01j, mu - 0.02 - 0.01j], "LM")
    model = "UNSTABLE" if "UNSTABLE" in verdicts else ("UNDECIDED" if "UNDECIDED" in verdicts else "STABLE")
    st.attrs["verdict"] = np.bytes_(model.encode())
    return model


def make_stability_copy(src, dst):
    """Copy SRC (its /stability, if any, replaced) with a synthetic /stability group over its layers."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        if "stability" in f:
            del f["stability"]
        write_synthetic_stability(f, sorted(f["layers"], key=cr.natural_key))


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

    def test_schema_version_6_is_refused(self):
        p = self.tmp / "v6.h5"
        self._minimal(p, 6)
        with self.assertRaises(cr.SchemaError) as ctx:
            cr.load(p)
        msg = str(ctx.exception)
        self.assertIn(str(p), msg)
        self.assertRegex(msg, r"version 6\b")
        self.assertIn(", ".join(map(str, cr.READABLE)), msg)   # says what it reads
        self.assertIn(cr.SUPPORTED, cr.READABLE)
        self.assertIsInstance(ctx.exception, cr.ResultsError)   # SchemaError is a ResultsError

    def test_schema_version_1_still_loads(self):
        p = self.tmp / "v1.h5"
        self._minimal(p, 1)
        self.assertEqual(cr.load(p).schema_version, 1)

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

    def test_synthetic_stability(self):
        p = self.tmp / "synthetic.h5"
        self._minimal(p, 1)
        with h5py.File(p, "r+") as f:
            model = write_synthetic_stability(f, ["area_conv.0", "area_conv.1", "area_conv.2", "area_conv.3"])
        st = cr.load(p).stability
        self.assertIsInstance(st, cr.Stability)
        self.assertEqual(st.verdict, model)
        self.assertEqual(st.verdict, "UNSTABLE")
        self.assertEqual(st.alpha, 0.2)
        self.assertEqual(st.inputs, SYNTHETIC_INPUTS)
        self.assertEqual(list(st.areas), ["area_conv.0", "area_conv.1", "area_conv.2", "area_conv.3"])
        a0, a1, a2, a3 = st.areas.values()
        self.assertEqual([a.verdict for a in st.areas.values()], ["STABLE", "STABLE", "UNSTABLE", "UNDECIDED"])
        self.assertIsInstance(a0, cr.AreaStability)
        self.assertEqual(a0.reason, "synthetic area 0: STABLE")
        self.assertIs(a0.contraction, True)
        self.assertIs(a1.contraction, False)
        self.assertIs(a1.transient_amplification, True)
        self.assertIs(a0.transient_amplification, False)
        self.assertIs(a0.norm2_converged, True)
        self.assertIsInstance(a0.n, int)
        self.assertAlmostEqual(a2.margin, -0.1)
        self.assertAlmostEqual(a3.margin, 0.2)
        self.assertAlmostEqual(a2.linear.max_real, a2.abscissa)
        self.assertAlmostEqual(a2.largest.max_abs, a2.spectral_radius)
        self.assertEqual(a2.linear.which, "LR")
        self.assertEqual(a2.largest.which, "LM")
        self.assertIs(a2.linear.all_converged, True)
        self.assertEqual(a2.linear.matvecs, 42)
        self.assertEqual(a2.linear.eigenvalues.dtype, np.complex128)
        self.assertEqual(a2.linear.residuals.shape, (3,))
        for a in st.areas.values():
            self.assertEqual([fp.index for fp in a.inputs], [0, 1, 2])
            self.assertEqual([fp.input for fp in a.inputs], SYNTHETIC_INPUTS)
        unreached = a3.inputs[1]
        self.assertIsInstance(unreached, cr.FixedPointStability)
        self.assertIs(unreached.reached, False)
        self.assertEqual(unreached.status, "diverging")
        self.assertIsNone(unreached.masked)
        self.assertIsNone(unreached.discrete)
        self.assertIsNone(unreached.spectral_radius)
        self.assertIsNone(unreached.masked_abscissa)
        self.assertTrue(np.isnan(unreached.discrete_margin))
        fp = a3.inputs[2]
        self.assertIs(fp.reached, True)
        self.assertEqual(fp.steps, 500)
        self.assertAlmostEqual(fp.discrete.max_abs, fp.spectral_radius)
        self.assertAlmostEqual(fp.masked.max_real, fp.masked_abscissa)
        self.assertAlmostEqual(fp.discrete_margin, 1 - fp.spectral_radius)
        self.assertEqual(fp.masked.which, "LR")
        self.assertIn("reached", fp.attrs)

    def test_stability_errors_name_the_file(self):
        p = self.tmp / "bad_stability.h5"
        self._minimal(p, 1)
        with h5py.File(p, "r+") as f:
            write_synthetic_stability(f, ["area_conv.0"])
            f["stability/area_conv.0"].attrs["norm2"] = np.bytes_(b"not a number")
        with self.assertRaises(cr.ResultsError) as ctx:
            cr.load(p)
        self.assertIn(str(p), str(ctx.exception))
        self.assertIn("norm2", str(ctx.exception))
        with h5py.File(p, "r+") as f:
            f["stability/area_conv.0"].attrs["norm2"] = 1.5
            del f["stability/area_conv.0/linear/eigenvalues"]
        with self.assertRaises(cr.ResultsError) as ctx:
            cr.load(p)
        self.assertIn("/stability/area_conv.0/linear", str(ctx.exception))
        with h5py.File(p, "r+") as f:
            del f["stability"]
            f.create_dataset("stability", data=np.arange(3))
        with self.assertRaises(cr.ResultsError) as ctx:
            cr.load(p)
        self.assertIn("/stability", str(ctx.exception))

    def test_results_path(self):
        old = os.environ.pop("CONVDYN_RESULTS", None)
        cwd = os.getcwd()
        try:
            os.chdir(HERE)                      # as Jupyter runs the notebooks: <repo>/results.h5
            self.assertEqual(Path(cr.results_path()), HERE.parent / "results.h5")
            os.environ["CONVDYN_RESULTS"] = "/somewhere/r.h5"
            self.assertEqual(cr.results_path(), "/somewhere/r.h5")
        finally:
            os.chdir(cwd)
            os.environ.pop("CONVDYN_RESULTS", None)
            if old is not None:
                os.environ["CONVDYN_RESULTS"] = old

    def test_discrete_map(self):
        mu = cr.discrete_map(np.array([1.0, 0.0, 1j]), 0.2)
        np.testing.assert_allclose(mu, [1.0, 0.8, 0.8 + 0.2j])

    def test_spectral_margins(self):
        p = self.tmp / "minimal.h5"
        self._minimal(p, 1)                     # eigenvalues 1 ± 2i, 0.5: complete (n = 3), on the boundary
        rows = cr.spectral_margins(cr.load(p), 0.2)
        self.assertEqual(len(rows), 1)
        r = rows[0]
        self.assertEqual(r["layer"], "area_conv.0")
        self.assertAlmostEqual(r["margin_w"], 0.0)
        self.assertEqual((r["ver_w"], r["ok_w"]), ("UNSTABLE", True))
        self.assertAlmostEqual(r["max_mu"], abs(1 + 0.4j))
        self.assertEqual((r["ver_m"], r["ok_m"]), ("UNSTABLE", True))

    def test_eigenpair(self):
        p = self.tmp / "vectors.h5"
        self._minimal(p, 1)
        v = np.zeros((3, 2, 2, 2), dtype=np.complex128)
        v[0, 1, 0, 1] = -1j                     # largest entry -i: the phase fix makes it +1
        v[1, 0, 0, 0] = 0.6
        v[1, 1, 1, 1] = 0.8
        v[2, 0, 1, 0] = 1.0
        with h5py.File(p, "r+") as f:
            f["layers/area_conv.0"].create_dataset("eigenvectors", data=v)
        L = cr.load(p).layers["area_conv.0"]
        ep = cr.eigenpair(L, 0)
        self.assertAlmostEqual(ep.vector[1, 0, 1], 1.0)
        self.assertTrue(ep.is_complex)
        self.assertEqual(ep.label, "λ = 1 + 2i")
        ep = cr.eigenpair(L, 2)
        self.assertFalse(ep.is_complex)
        self.assertEqual(ep.label, "λ = 0.5")
        np.testing.assert_allclose(cr.eigenpair(L, 1).channel_energy, [0.36, 0.64])
        with self.assertRaises(IndexError):
            cr.eigenpair(L, 3)
        with self.assertRaises(cr.ResultsError):
            cr.eigenpair(cr.load(p, vectors=False).layers["area_conv.0"], 0)



class Package(unittest.TestCase):
    def test_import_needs_no_matplotlib(self):
        import subprocess
        code = ("import sys, convdyn.results, convdyn.plot; "
                "sys.exit('matplotlib imported' if 'matplotlib' in sys.modules else 0)")
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)


class CommittedNotebooks(unittest.TestCase):
    def test_notebooks_are_committed_without_outputs(self):
        import nbformat
        notebooks = sorted(HERE.glob("*.ipynb"))
        self.assertTrue(notebooks)
        for path in notebooks:
            nb = nbformat.read(path, as_version=4)
            nbformat.validate(nb)
            code = [c for c in nb.cells if c.cell_type == "code"]
            if path.name == "training.ipynb":  # reads a merged sweep file, not a results file
                self.assertIn("sweep = cr.load_sweep(SWEEP)", code[0].source, path.name)
                self.assertIn("import convdyn.results as cr", code[0].source, path.name)
            elif path.name != "python_api.ipynb":  # the API walkthrough computes its own results
                self.assertIn("RESULTS = cr.results_path()", code[0].source, path.name)
                self.assertIn("import convdyn.results as cr", code[0].source, path.name)
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

    def test_stability(self):
        st = self.res.stability
        self.assertIsInstance(st, cr.Stability, "the test file should include `convdyn stability --append`")
        self.assertIn(st.verdict, cr.VERDICTS)
        self.assertIsInstance(st.alpha, float)
        self.assertGreater(st.alpha, 0)
        self.assertEqual(st.inputs[0], "zero")
        self.assertTrue(all(isinstance(x, str) and x for x in st.inputs))
        self.assertEqual(list(st.areas), list(self.res.layers))
        for level in cr.LEVEL_ATTRS:
            parts = [getattr(a, level) for a in st.areas.values()]
            worst = "UNSTABLE" if "UNSTABLE" in parts else "UNDECIDED" if "UNDECIDED" in parts else "STABLE"
            self.assertEqual(getattr(st, level), worst, level)
        expected = "UNSTABLE" if any(a.verdict == "UNSTABLE" for a in st.areas.values()) else None
        if expected:
            self.assertEqual(st.verdict, expected)
        self.assertEqual(st.transient_max_steps, 512)
        for name, a in st.areas.items():
            self.assertEqual(a.name, name)
            # Transient growth: computed unless the linear regime grows; a curve through its peak.
            t = a.transient_growth
            self.assertEqual(t is None, a.verdict_linear == "UNSTABLE", name)
            if t is not None:
                self.assertTrue(t.converged)
                self.assertEqual(len(t.steps), len(t.norms))
                self.assertTrue((np.diff(t.steps) > 0).all())
                self.assertEqual(t.peak, max([1.0] + list(t.norms)))
                self.assertAlmostEqual(t.peak_time, t.peak_step * st.alpha, places=12)
            for attr in cr.AREA_STABILITY_ATTRS:
                self.assertIsNotNone(getattr(a, attr), f"{name}.{attr}")
                self.assertIn(attr, a.attrs)
            self.assertIn(a.verdict, cr.VERDICTS)
            self.assertIsInstance(a.reason, str)
            self.assertEqual(a.n, self.res.layers[name].n)
            self.assertAlmostEqual(a.margin, 1 - a.abscissa, places=12)
            self.assertAlmostEqual(a.norm_over_radius, a.norm2 / a.spectral_radius, places=9)
            for flag in ("contraction", "transient_amplification", "norm2_converged", "numerical_abscissa_converged"):
                self.assertIsInstance(getattr(a, flag), bool, f"{name}.{flag}")
            self.assertEqual(a.contraction, bool(a.norm2 < 1 and a.norm2_converged))
            self.assertLessEqual(a.abscissa, a.numerical_abscissa + 1e-9)       # Re lambda <= omega(W)
            self.assertLessEqual(a.spectral_radius, a.norm2 + 1e-9)            # rho <= ||W||_2
            if a.verdict == "UNSTABLE":
                self.assertGreaterEqual(a.abscissa, 1.0)
            # The verdict by level and the rule that combines the levels (docs/results-format.md).
            self.assertEqual(a.verdict_global, "STABLE" if a.contraction else "UNDECIDED")
            levels = (a.verdict_linear, a.verdict_fixed_points)
            rule = ("STABLE" if a.verdict_global == "STABLE" else "UNSTABLE" if "UNSTABLE" in levels
                    else "STABLE" if levels == ("STABLE", "STABLE") else "UNDECIDED")
            self.assertEqual(a.verdict, rule, name)
            for block, which in ((a.linear, "LR"), (a.largest, "LM")):
                self.assertIsInstance(block, cr.EigenBlock)
                self.assertEqual(block.which, which)
                self.assertEqual(block.eigenvalues.dtype, np.complex128)
                self.assertEqual(block.residuals.shape, block.eigenvalues.shape)
                self.assertIsInstance(block.all_converged, bool)
                for attr in cr.EIGEN_BLOCK_ATTRS:
                    self.assertIsNotNone(getattr(block, attr), f"{name}/{block.name}.{attr}")
            self.assertAlmostEqual(a.linear.max_real, a.abscissa, places=8)
            self.assertAlmostEqual(a.largest.max_abs, a.spectral_radius, places=8)
            self.assertEqual([fp.input for fp in a.inputs], st.inputs)
            self.assertEqual([fp.index for fp in a.inputs], list(range(len(st.inputs))))
            for fp in a.inputs:
                self.assertIsInstance(fp.reached, bool)
                self.assertIn(fp.status, ("converged", "oscillating", "diverging", "max-steps"))
                self.assertIsInstance(fp.steps, int)
                self.assertTrue(0 <= fp.active_fraction <= 1)
                self.assertGreaterEqual(fp.fixed_point_residual, 0)
                self.assertIn(fp.verdict, cr.VERDICTS)
                if fp.reached:
                    self.assertIsInstance(fp.masked, cr.EigenBlock)
                    self.assertIsInstance(fp.discrete, cr.EigenBlock)
                    self.assertAlmostEqual(fp.discrete.max_abs, fp.spectral_radius, places=8)
                    self.assertAlmostEqual(fp.masked.max_real, fp.masked_abscissa, places=8)
                    # |mu| >= Re mu for the rightmost eigenvalue of D W
                    self.assertGreaterEqual(fp.spectral_radius, 1 - st.alpha + st.alpha * fp.masked_abscissa - 1e-9)
                else:
                    self.assertIsNone(fp.masked)
                    self.assertIsNone(fp.discrete)

    def test_file_without_stability(self):
        tmp = Path(tempfile.mkdtemp(prefix="convdyn_results_test_"))
        try:
            dst = tmp / "spectra_only.h5"
            shutil.copyfile(GOOD, dst)
            with h5py.File(dst, "r+") as f:
                if "stability" in f:
                    del f["stability"]
            res = cr.load(dst)
            self.assertIsNone(res.stability)
            self.assertEqual(list(res.layers), list(self.res.layers))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_synthetic_stability_copy(self):
        tmp = Path(tempfile.mkdtemp(prefix="convdyn_results_test_"))
        try:
            dst = tmp / "with_stability.h5"
            make_stability_copy(GOOD, dst)
            st = cr.load(dst).stability
            self.assertEqual(list(st.areas), list(self.res.layers))
            self.assertEqual(st.inputs, SYNTHETIC_INPUTS)
            self.assertTrue(any(not fp.reached for a in st.areas.values() for fp in a.inputs))
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
