#!/usr/bin/env bash
# A private one-node Slurm cluster on this machine, for the sweep tests (and for trying `convdyn sweep submit`).
#
#   scripts/slurm-local.sh start STATE_DIR    start munged, slurmctld and slurmd; wait until the node is idle
#   scripts/slurm-local.sh stop STATE_DIR     stop them
#   scripts/slurm-local.sh status STATE_DIR   exit 0 when the cluster answers
# then: export SLURM_CONF=STATE_DIR/slurm.conf  (sbatch, squeue, scancel, sinfo use it)
#
# Everything lives in STATE_DIR: slurm.conf (this host's name, CPUs and memory), a fresh munge key and munged
# socket, spool, state and logs, on free ports; /etc is not touched and a cluster already running here is left
# alone. Needs root (slurmd runs jobs as their user) and Debian's slurmctld, slurmd, slurm-client and munge
# (scripts/install-deps.sh). Exit 77 when those are missing (the tests then skip, saying why), 1 when the
# cluster does not come up (the logs are printed).
set -euo pipefail

cmd=${1:-}; state=${2:-}
if [ -z "$cmd" ] || [ -z "$state" ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2
fi
mkdir -p "$state"
state=$(cd "$state" && pwd)
conf=$state/slurm.conf
export SLURM_CONF=$conf

answers() { [ -f "$conf" ] && timeout 10 sinfo -h -o %T >/dev/null 2>&1; }

stop() {
  if [ -f "$conf" ]; then timeout 20 scontrol shutdown >/dev/null 2>&1 || true; fi
  for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/munge/munged.pid"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

case "$cmd" in
  status) answers; exit $? ;;
  stop) stop; echo "slurm-local: stopped ($state)"; exit 0 ;;
  start) ;;
  *) echo "slurm-local: unknown command '$cmd' (start, stop, status)" >&2; exit 2 ;;
esac

if answers; then echo "slurm-local: already running ($conf)"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "slurm-local: needs root (slurmd starts jobs as their user); not started"; exit 77; fi
for prog in munged slurmctld slurmd sbatch sinfo scontrol; do
  if ! command -v "$prog" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$prog" ]; then
    echo "slurm-local: $prog not found (apt-get install slurmctld slurmd slurm-client munge); not started"; exit 77
  fi
done
stop  # leftovers of an earlier run of this state folder

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
free_port() {  # the first port from $1 on that nothing listens on
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
ctld_port=$(free_port 16817)
d_port=$(free_port $((ctld_port + 1)))

mkdir -p "$state/munge" "$state/ctld" "$state/spool" "$state/log"
chmod 0700 "$state/munge"
rm -f "$state/munge/munge.key"
dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
chmod 0400 "$state/munge/munge.key"
/usr/sbin/munged --force --key-file="$state/munge/munge.key" --socket="$state/munge/munge.socket" \
  --pid-file="$state/munge/munged.pid" --log-file="$state/log/munged.log" --seed-file="$state/munge/munged.seed"

cat > "$conf" <<CONF
# Written by convdyn's scripts/slurm-local.sh for $host ($cpus CPUs, $mem_mb MB)
ClusterName=convdyn-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$state/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=5
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

# slurmd loads a cgroup plugin even with linuxproc/none. Autodetection fails where no cgroup file system is
# mounted (a chroot without /sys) and its cgroup/v2 wants systemd; the v1 plugin, which nothing here uses,
# loads anywhere.
echo "CgroupPlugin=cgroup/v1" > "$state/cgroup.conf"
for daemon in slurmctld slurmd; do
  if ! "/usr/sbin/$daemon" -f "$conf"; then
    echo "slurm-local: $daemon did not start; its log:" >&2
    tail -n 20 "$state/log/$daemon.log" >&2 || true
    stop
    exit 1
  fi
done
for _ in $(seq 60); do
  st=$(timeout 5 sinfo -h -o %T 2>/dev/null | head -1 || true)
  if [ "$st" = "idle" ]; then
    echo "slurm-local: up: node $host idle ($cpus CPUs, $mem_mb MB), ports $ctld_port/$d_port; export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 0.5
done
echo "slurm-local: the node did not become idle within 30 s (state: '${st:-no answer}')" >&2
tail -n 20 "$state"/log/*.log >&2 || true
stop
exit 1
