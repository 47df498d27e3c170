"""Shared fixtures of the Python package's tests (run by ctest: tests/python.cmake sets PYTHONPATH to
build/python and CONVDYN_CLI to the built command line)."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
DEMO = ROOT / "apps" / "demo" / "cordsnet_fmnist_d4.pth"


@pytest.fixture(scope="session")
def cli():
    """Runs the convdyn CLI; returns the CompletedProcess (stdout/stderr as text)."""
    exe = os.environ.get("CONVDYN_CLI") or str(ROOT / "build" / "bin" / "convdyn")
    assert Path(exe).is_file(), f"the convdyn CLI is not built at {exe} (set CONVDYN_CLI)"

    def run(*args, ok=(0,)):
        p = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
        assert p.returncode in ok, f"convdyn {' '.join(map(str, args))} exited {p.returncode}: {p.stderr}"
        return p
    return run


def random_weight(C, k, seed, scale=0.3):
    """A (C, C, k, k) kernel with a spectrum of general position (complex pairs, no ties)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((C, C, k, k)) * scale / np.sqrt(C * k * k)


def rightmost(values, k):
    """The k eigenvalues of largest real part, in convdyn's order (real part, then +imag first)."""
    v = np.asarray(values)
    return v[np.lexsort((-v.imag, -v.real))][:k]
