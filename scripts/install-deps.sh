#!/usr/bin/env bash
# Installs the Debian packages convdyn needs (only those missing) and reports which BLAS is active.
# Usage: scripts/install-deps.sh            (uses sudo when not root)
set -euo pipefail

BUILD_PKGS="cmake g++ make ninja-build pkg-config
  libtorch-dev libeigen3-dev libspectra-dev libhdf5-dev libfmt-dev libcli11-dev libgtest-dev libssl-dev
  libopenblas0-pthread libblas-dev libarpack2-dev zlib1g-dev libsnappy-dev pybind11-dev python3-dev nlohmann-json3-dev"
# Python side: Debian's own interpreter and packages (the convdyn package and its pytest suite, fixture
# generators, reference checks, notebooks).
PY_PKGS="python3 python3-torch python3-numpy python3-scipy python3-h5py python3-matplotlib python3-pytest python3-tqdm
  python3-pandas jupyter-nbconvert python3-ipykernel"
# convdyn sweep's tests start a private one-node Slurm cluster (scripts/slurm-local.sh).
SLURM_PKGS="slurmctld slurmd slurm-client munge"

missing=()
for p in $BUILD_PKGS $PY_PKGS $SLURM_PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: all packages present"
fi

# Debian's reference BLAS makes float64 conv ~7x and dgemm ~20x slower than OpenBLAS.
blas=$(readlink -f /usr/lib/"$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"/libblas.so.3 2>/dev/null || true)
case "$blas" in
  *openblas*) echo "install-deps: active BLAS: OpenBLAS ($blas)" ;;
  "") echo "install-deps: warning: no libblas.so.3 found" ;;
  *) echo "install-deps: warning: active BLAS is $blas, not OpenBLAS: float64 convolutions will be ~7x slower" ;;
esac
