#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this host (as root), for the pipeline test and for trying
# examples/slurm/ on a laptop or CI machine. Needs Debian's slurm-wlm and munge (22.05).
#
#   bash scripts/slurm/start.sh [DIR]   # state, spool, logs, pids and slurm.conf under DIR
#   bash scripts/slurm/stop.sh  [DIR]   # stops exactly the daemons this script started, by PID
#
# Prints `export SLURM_CONF=DIR/slurm.conf` on success; exits non-zero with one line otherwise.
set -euo pipefail
dir="${1:-/tmp/mlcd-slurm}"
say() { echo "slurm/start: $*" >&2; }
for b in munged slurmctld slurmd sinfo; do
  command -v "$b" >/dev/null || { say "$b not found (apt-get install -y slurm-wlm munge)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { say "must run as root (the daemons run as SlurmUser=root)"; exit 1; }
mkdir -p "$dir"/{state,spool,log,run}
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {printf "%d", $2/1024*0.9}' /proc/meminfo)
conf="$dir/slurm.conf"
cat > "$conf" <<CONF
ClusterName=mlcd
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldPort=6817
SlurmdPort=6818
MinJobAge=600
KillWait=5
InactiveLimit=0
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
# munge: reuse a running munged, else start one (its pid file is recorded for stop.sh).
if ! munge -n </dev/null >/dev/null 2>&1; then
  [ -f /etc/munge/munge.key ] || { /usr/sbin/mungekey --create >/dev/null 2>&1 || create-munge-key -f >/dev/null 2>&1; }
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  mkdir -p /run/munge && chown munge:munge /run/munge
  munged --force --pid-file="$dir/run/munged.pid" 2>>"$dir/log/munged.log"
  for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
fi
export SLURM_CONF="$conf"
slurmctld -f "$conf" 2>>"$dir/log/slurmctld.err"
slurmd -f "$conf" 2>>"$dir/log/slurmd.err"
for _ in $(seq 100); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 0.2
done
say "the node did not come up within 20 s; see $dir/log/"
tail -n 5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 2>/dev/null || true
exit 1
