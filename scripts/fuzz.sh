#!/usr/bin/env bash
# Builds convdyn's libFuzzer targets (fuzz/, clang-14, ASan + UBSan + libFuzzer) in build-fuzz/ and runs
# each for FUZZ_SECONDS. Any finding (crash, sanitizer report, leak, uncaught non-convdyn exception,
# timeout, out-of-memory) fails the script; the input is left in build-fuzz/artifacts/<target>/.
#
# Usage: scripts/fuzz.sh [target ...]          (default: all targets)
# Environment:
#   FUZZ_SECONDS  seconds per target (default 60; libFuzzer -max_total_time)
#   FUZZ_JOBS     build parallelism (default 2)
#   FUZZ_BUILD    build directory (default build-fuzz)
#   FUZZ_ARGS     extra libFuzzer arguments (e.g. "-runs=1000" or "-seed=1")
# Reproduce one input:  build-fuzz/bin/fuzz_pth build-fuzz/artifacts/fuzz_pth/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_ARGS=${FUZZ_ARGS:-}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(fuzz_unpickle fuzz_pth fuzz_inputs fuzz_tf_bundle)

# Fuzzing needs clang's libFuzzer and sanitizer runtimes (only here, not in install-deps.sh).
FUZZ_PKGS="clang-14 libclang-rt-14-dev"
missing=()
for p in $FUZZ_PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "fuzz: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Build (the main build's dependencies, LibTorch etc., come from scripts/install-deps.sh).
if [ ! -f "$FUZZ_BUILD/CMakeCache.txt" ]; then
  gen=$(command -v ninja >/dev/null 2>&1 && echo "-G Ninja" || true)
  CC=clang-14 CXX=clang++-14 cmake -S fuzz -B "$FUZZ_BUILD" $gen -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$FUZZ_BUILD" -j "$FUZZ_JOBS"

# Seed corpora from the test fixtures (and every committed regression input). libFuzzer adds the new
# interesting inputs it finds to the same folders, so later runs start from there.
corpus=$FUZZ_BUILD/corpus
mkdir -p "$corpus"/fuzz_unpickle "$corpus"/fuzz_pth "$corpus"/fuzz_inputs "$corpus"/fuzz_tf_bundle
cp -f tests/fixtures/*.pth "$corpus"/fuzz_pth/
cp -f tests/fixtures/inputs/*.npy tests/fixtures/inputs/*ubyte* tests/fixtures/inputs/bad_random.bin \
  "$corpus"/fuzz_inputs/   # not the .h5 files: fuzz_inputs skips HDF5 (see fuzz/fuzz_inputs.cpp)
/usr/bin/python3 - "$corpus/fuzz_unpickle" tests/fixtures/*.pth <<'PY'
import os, sys, zipfile
out = sys.argv[1]
for f in sys.argv[2:]:
    try:
        with zipfile.ZipFile(f) as z:
            for n in z.namelist():
                if n.endswith("/data.pkl") or n == "data.pkl":
                    with open(os.path.join(out, os.path.basename(f)[:-4] + ".pkl"), "wb") as o:
                        o.write(z.read(n))
    except (zipfile.BadZipFile, OSError, EOFError):
        pass  # the bad_*.pth fixtures that are not zips
PY
# fuzz_tf_bundle inputs: uint32 LE shard length, the data shard, then the index (see fuzz/fuzz_tf_bundle.cpp).
/usr/bin/python3 - "$corpus/fuzz_tf_bundle" tests/fixtures/tf_fixture/*/*.index tests/fixtures/tf_roundtrip/*.index \
  tests/fixtures/tf_bad/*.index <<'PY'
import os, struct, sys
out = sys.argv[1]
for index in sys.argv[2:]:
    shard = index[:-len(".index")] + ".data-00000-of-00001"
    data = open(shard, "rb").read() if os.path.exists(shard) else b""
    name = os.path.basename(os.path.dirname(index)) + "_" + os.path.basename(index)[:-len(".index")]
    with open(os.path.join(out, name + ".bin"), "wb") as o:
        o.write(struct.pack("<I", len(data)) + data + open(index, "rb").read())
PY
for t in fuzz_unpickle fuzz_pth fuzz_inputs fuzz_tf_bundle; do
  if [ -d tests/fixtures/fuzz-regressions/$t ]; then
    find tests/fixtures/fuzz-regressions/$t -type f -exec cp -f {} "$corpus/$t/" \;
  fi
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:handle_abort=1}
# Third-party leaks only (LibTorch's zip reader); see the file.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
summary=()
for t in "${TARGETS[@]}"; do
  art=$FUZZ_BUILD/artifacts/$t
  mkdir -p "$art"
  log=$FUZZ_BUILD/$t.log
  echo "fuzz: $t for ${FUZZ_SECONDS}s (log $log)"
  rc=0
  # shellcheck disable=SC2086
  "$FUZZ_BUILD/bin/$t" "$corpus/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$art/" $FUZZ_ARGS >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "fuzz: $t FAILED (exit $rc); last lines of $log:"
    tail -n 40 "$log"
    summary+=("$t: FINDING after ${execs:-?} executions (artifacts in $art)")
  else
    summary+=("$t: ok, ${execs:-?} executions in ${FUZZ_SECONDS}s")
  fi
done
echo "fuzz: summary"
for s in "${summary[@]}"; do echo "  $s"; done
exit $status
