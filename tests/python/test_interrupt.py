"""Ctrl-C (SIGINT) stops a long solve within about a second with KeyboardInterrupt and leaves the interpreter
usable: a native conv operator (GIL released) and a Python-callable operator."""
import os
import signal
import subprocess
import sys
import time

import pytest

CHILD = r"""
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # also when the parent ignores SIGINT
import numpy as np
import convdyn
rng = np.random.default_rng(0)
C, H = 32, 64
w = rng.standard_normal((C, C, 3, 3)) / np.sqrt(9 * C)
if sys.argv[1] == "native":
    A = convdyn.conv_operator(w, size=(H, H))
else:
    M = convdyn.conv_operator(w, size=(H, H))
    class A_:
        shape = M.shape
        def matvec(self, x):
            return M.matvec(x)
    A = A_()
print("solving", flush=True)
t0 = time.monotonic()
try:
    convdyn.eigs(A, k=60, tol=1e-14, maxiter=100000)
    print("finished without interrupt", flush=True)
    sys.exit(3)
except KeyboardInterrupt:
    print(f"KeyboardInterrupt after {time.monotonic() - t0:.2f} s", flush=True)
r = convdyn.eigs(np.diag(np.arange(1.0, 21.0)), k=3)
print("usable", r.values.real[:1], flush=True)
"""


@pytest.mark.parametrize("kind", ["native", "callback"])
def test_sigint_stops_a_long_solve(kind):
    p = subprocess.Popen([sys.executable, "-c", CHILD, kind], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=os.environ.copy())
    try:
        assert p.stdout.readline().strip() == "solving"
        time.sleep(2.0)  # well inside the solve (it takes minutes)
        assert p.poll() is None, p.communicate()
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        waited = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, f"exit {p.returncode}\n{out}\n{err}"
    assert "KeyboardInterrupt after" in out and "usable [20.]" in out, out + err
    assert waited < 5.0, f"took {waited:.1f} s to stop"
