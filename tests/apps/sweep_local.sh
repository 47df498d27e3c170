#!/usr/bin/env bash
# convdyn sweep without Slurm: plan -> submit --local -> merge, against a serial run and the plain command
# (bit for bit), a corrupt checkpoint as a failed item, a worker killed mid-item (TERM and KILL) and resumed,
# and the errors a user meets.
#   sweep_local.sh CONVDYN FIXTURES_DIR WORK_DIR PYTHON
set -euo pipefail
convdyn=$1; fx=$2; work=$3; py=$4
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"; mkdir -p "$work/ckpts"
fail() { echo "FAIL: $*" >&2; exit 1; }
# One thread everywhere: the serial run and the workers must do the same arithmetic.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

for c in cordsnet_d2_plain cordsnet_d4_param_module cordsnet_d4_legacy_train; do cp "$fx/$c.pth" "$work/ckpts/"; done
cp "$fx/bad_truncated.pth" "$work/ckpts/zz_corrupt.pth"
opts='--k 6 --tol 1e-10'

echo "== plan, submit --local 2 (3 shards)"
"$convdyn" sweep plan "$work/ckpts/*.pth" --all --options "$opts" --out "$work/a" -q
"$convdyn" sweep submit "$work/a" --tasks 3 --local 2
[ -f "$work/a/merged.h5" ] || fail "no merged file"

echo "== the same plan run serially by one process"
"$convdyn" sweep plan "$work/ckpts/*.pth" --all --options "$opts" --out "$work/b" -q
"$convdyn" sweep run "$work/b" --threads 1 -q
"$convdyn" sweep merge "$work/b" --out "$work/b.h5"
"$py" "$here/compare_sweeps.py" "$work/a/merged.h5" "$work/b.h5" --failed 1 --error-contains "corrupt or truncated zip"

echo "== a sweep item equals the command run by hand"
"$convdyn" spectrum "$work/ckpts/cordsnet_d4_param_module.pth" --layer area_conv.2 $opts --out "$work/direct.h5" -q >/dev/null
"$py" - "$work/a/merged.h5" "$work/direct.h5" <<'PY'
import sys, h5py
m, d = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
idx = m["sweep/index"][()]
row = [r for r in idx if r["checkpoint"].decode().endswith("cordsnet_d4_param_module.pth") and r["layer"] == b"area_conv.2"]
assert len(row) == 1, row
g = m["items"][row[0]["id"].decode()]
for ds in ("eigenvalues", "residuals", "converged"):
    a, b = g["layers/area_conv.2"][ds][()], d["layers/area_conv.2"][ds][()]
    assert a.tobytes() == b.tobytes(), ds
assert g.attrs["checkpoint_sha256"] == d.attrs["checkpoint_sha256"]
print("sweep item == convdyn spectrum, bit for bit")
PY

echo "== status: complete (exit 0), the failed item and its error, the overhead line"
out=$("$convdyn" sweep status "$work/a") || fail "status of a complete sweep exited $?"
echo "$out"
echo "$out" | grep -q "1 failed, 0 pending" || fail "status counts"
echo "$out" | grep -q "zz_corrupt.pth (model): .*corrupt or truncated" || fail "status lists the failed item"
echo "$out" | grep -q "overhead: load+hash" || fail "status prints the overhead"

echo "== a worker killed mid-item loses only that item; a rerun completes exactly the missing ones"
for c in cordsnet_d4_legacy_module cordsnet_d4_proto4 cordsnet_d4_silent cordsnet_d4_unstable; do cp "$fx/$c.pth" "$work/ckpts/"; done
count_items() { "$py" -c "import h5py,sys; print(len(h5py.File(sys.argv[1])['items']))" "$1" 2>/dev/null || echo 0; }
for sig in TERM KILL; do
  d="$work/kill_$sig"
  "$convdyn" sweep plan "$work/ckpts/cordsnet_d4_*.pth" --command stability --out "$d" -q
  "$convdyn" sweep run "$d" --threads 1 -q & pid=$!
  for _ in $(seq 600); do [ "$(count_items "$d/shards/0.h5")" -ge 1 ] && break; sleep 0.1; done
  kill -"$sig" "$pid"; wait "$pid" 2>/dev/null || true
  done_before=$(count_items "$d/shards/0.h5")
  [ "$done_before" -ge 1 ] && [ "$done_before" -lt 6 ] || fail "$sig: $done_before items in the shard when killed"
  if [ "$sig" = TERM ]; then
    left=$(find "$d" -name '.*tmp-*' | wc -l); [ "$left" -eq 0 ] || fail "TERM left temporaries: $(find "$d" -name '.*tmp-*')"
  fi
  set +e; "$convdyn" sweep status "$d" >"$work/status_$sig.txt"; rc=$?; set -e
  [ $rc -eq 3 ] || fail "status of an interrupted sweep exited $rc, not 3"
  grep -q "$((6 - done_before)) pending" "$work/status_$sig.txt" || fail "$sig: status does not count the pending items"
  "$convdyn" sweep run "$d" --threads 1 2>"$work/rerun_$sig.txt"
  grep -q "$done_before already done" "$work/rerun_$sig.txt" || fail "$sig: the rerun did not skip the finished items"
  [ "$(count_items "$d/shards/0.h5")" -eq 6 ] || fail "$sig: the rerun did not complete the shard"
  left=$(find "$d" -name '.*tmp-*' | wc -l); [ "$left" -eq 0 ] || fail "$sig: temporaries left after the rerun"
  "$convdyn" sweep status "$d" >/dev/null || fail "$sig: status after the rerun"
  "$convdyn" sweep merge "$d" --out "$d.h5"
  echo "$sig: killed with $done_before of 6 done, rerun completed the other $((6 - done_before))"
done

# Killed at different moments, resumed: the same results, bit for bit.
"$py" "$here/compare_sweeps.py" "$work/kill_TERM.h5" "$work/kill_KILL.h5" --failed 0

echo "== errors: one line, exit 2"
expect_error() {  # expect_error TEXT command...
  local text=$1; shift
  set +e; "$@" >"$work/err.out" 2>"$work/err.txt"; local rc=$?; set -e
  [ $rc -eq 2 ] || fail "exit $rc (not 2) from: $*"
  grep -q -- "$text" "$work/err.txt" || { cat "$work/err.txt"; fail "no '$text' in the error of: $*"; }
  [ "$(wc -l <"$work/err.txt")" -le 3 ] || { cat "$work/err.txt"; fail "error longer than a few lines: $*"; }
}
expect_error "no such checkpoint" "$convdyn" sweep plan "$work/nope.pth" --all --out "$work/e1"
expect_error "no checkpoint matches" "$convdyn" sweep plan "$work/ckpts/*.nothing" --all --out "$work/e1"
expect_error "set by the sweep itself" "$convdyn" sweep plan "$work/ckpts/*.pth" --all --options '--out x.h5' --out "$work/e1"
expect_error "options for spectrum" "$convdyn" sweep plan "$work/ckpts/*.pth" --all --options '--bogus 3' --out "$work/e1"
expect_error "no sweep plan here" "$convdyn" sweep run "$work/nothing"
expect_error "holds shards of another plan" "$convdyn" sweep plan "$work/ckpts/cordsnet_d2_plain.pth" --all --out "$work/b" -q
mkdir -p "$work/mixed/shards"; cp "$work/b/plan.json" "$work/mixed/"; cp "$work/kill_TERM/shards/0.h5" "$work/mixed/shards/0.h5"
expect_error "a shard of another plan" "$convdyn" sweep merge "$work/mixed" --out "$work/mixed.h5"
[ ! -e "$work/mixed.h5" ] || fail "a refused merge left a file"
expect_error "sweep submit .* --local J" env PATH=/nonexistent "$convdyn" sweep submit "$work/a" --tasks 2
echo "sweep_local: all checks passed"
