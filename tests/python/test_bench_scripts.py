"""The Python torch passes the bench compares convdyn run with: scripts/bench_zoo_torch.py's --check matches the
whole-network fixtures' logits and layer outputs at every step (tests/fixtures/convrnn_network), so it computes
what convdyn run computes; scripts/bench_run_torch.py runs on the demo and prints the line the bench parses."""
import subprocess
import sys

from conftest import DEMO, ROOT


def test_zoo_torch_pass_matches_the_fixtures():
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_zoo_torch.py"), "--check"], capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "12 bundles, 0 failure(s)" in p.stdout


def test_cordsnet_torch_pass_runs_on_the_demo():
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_run_torch.py"), str(DEMO),
                        str(ROOT / "apps" / "demo" / "fmnist-t10k-16-images-idx3-ubyte.gz"), "--n", "16", "--steps",
                        "5", "--spontaneous", "5"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith("images_per_second ")
