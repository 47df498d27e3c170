#!/usr/bin/env bash
# convdyn sweep on a real Slurm (the private one-node cluster of scripts/slurm-local.sh, started by the
# ctest fixture slurm.start): submit -> array job -> dependent merge job, equal item by item to a serial
# local run; a corrupt checkpoint as a failed item; a task cancelled mid-run (scancel) reported by status and
# completed by --resume, each item then merged once.
#   sweep_slurm.sh CONVDYN FIXTURES_DIR WORK_DIR PYTHON      (SLURM_CONF set; exit 77 when Slurm is not up)
set -euo pipefail
convdyn=$1; fx=$2; work=$3; py=$4
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
if [ -z "${SLURM_CONF:-}" ] || ! timeout 10 sinfo -h >/dev/null 2>&1; then
  echo "SKIP: no Slurm cluster answers (SLURM_CONF=${SLURM_CONF:-unset}); slurm.start says why"; exit 77
fi
rm -rf "$work"; mkdir -p "$work/ckpts"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# Waits until job $1 has left the queue (done, failed or cancelled).
wait_job() {
  for _ in $(seq 1200); do
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
    sleep 0.25
  done
  squeue; fail "job $1 still queued after 300 s"
}
job_of() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1/submit.json" "$2"; }

for c in cordsnet_d2_plain cordsnet_d4_param_module cordsnet_d4_legacy_train cordsnet_d4_lm_lr; do cp "$fx/$c.pth" "$work/ckpts/"; done
cp "$fx/bad_truncated.pth" "$work/ckpts/zz_corrupt.pth"
opts='--k 6 --tol 1e-10'

echo "== 4 checkpoints x all layers + a corrupt one: sbatch array of 3 tasks, merged by the dependent job"
"$convdyn" sweep plan "$work/ckpts/*.pth" --all --options "$opts" --out "$work/s" -q
"$convdyn" sweep submit "$work/s" --tasks 3
grep -q '^#SBATCH --array=0-2$' "$work/s/sweep.sbatch" || fail "array line"
merge_job=$(job_of "$work/s" merge_job)
wait_job "$merge_job"
[ -f "$work/s/merged.h5" ] || { cat "$work/s"/logs/*; fail "the merge job wrote no file"; }
for t in 0 1 2; do [ -f "$work/s/shards/$t.h5" ] || fail "no shard $t"; done

"$convdyn" sweep plan "$work/ckpts/*.pth" --all --options "$opts" --out "$work/serial" -q
"$convdyn" sweep run "$work/serial" --threads 1 -q
"$convdyn" sweep merge "$work/serial" --out "$work/serial.h5"
"$py" "$here/compare_sweeps.py" "$work/s/merged.h5" "$work/serial.h5" --failed 1 --error-contains "corrupt or truncated zip"

echo "== a task cancelled mid-run: status reports it, --resume completes it"
for c in cordsnet_d4_legacy_module cordsnet_d4_proto4 cordsnet_d4_silent cordsnet_d4_unstable; do cp "$fx/$c.pth" "$work/ckpts/"; done
"$convdyn" sweep plan "$work/ckpts/cordsnet_d4_*.pth" --command stability --out "$work/k" -q
"$convdyn" sweep submit "$work/k" --tasks 2
array=$(job_of "$work/k" array_job)
count_items() { "$py" -c "import h5py,sys; print(len(h5py.File(sys.argv[1])['items']))" "$1" 2>/dev/null || echo 0; }
for _ in $(seq 1200); do [ "$(count_items "$work/k/shards/0.h5")" -ge 1 ] && break; sleep 0.1; done
scancel "${array}_0"
wait_job "${array}_0"
done0=$(count_items "$work/k/shards/0.h5")
wait_job "${array}_1"
set +e; "$convdyn" sweep status "$work/k" >"$work/status.txt"; rc=$?; set -e
cat "$work/status.txt"
[ $rc -eq 3 ] || fail "status after scancel exited $rc, not 3 (pending items)"
pending=$(grep -o '[0-9]* pending$' "$work/status.txt" | head -1 | cut -d' ' -f1)
[ "${pending:-0}" -ge 1 ] || fail "status shows no pending item after the cancel (task 0 had $done0 done)"
[ ! -f "$work/k/merged.h5" ] || fail "the merge ran although a task was cancelled"
"$convdyn" sweep submit "$work/k" --resume
grep -q '^#SBATCH --array=0$' "$work/k/sweep.sbatch" || fail "--resume did not resubmit only shard 0"
wait_job "$(job_of "$work/k" merge_job)"
[ -f "$work/k/merged.h5" ] || { tail -n 5 "$work/k"/logs/*; fail "no merged file after --resume"; }
"$convdyn" sweep status "$work/k" >/dev/null || fail "status after --resume: items still pending"
"$convdyn" sweep plan "$work/ckpts/cordsnet_d4_*.pth" --command stability --out "$work/kserial" -q
"$convdyn" sweep run "$work/kserial" --threads 1 -q
"$convdyn" sweep merge "$work/kserial" --out "$work/kserial.h5"
"$py" "$here/compare_sweeps.py" "$work/k/merged.h5" "$work/kserial.h5" --failed 0
echo "sweep_slurm: cancelled task 0 with $done0 item(s) done and $pending pending; resumed; all checks passed"
