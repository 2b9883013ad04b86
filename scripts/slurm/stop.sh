#!/usr/bin/env bash
# Stops the daemons scripts/slurm/start.sh started, by the PIDs it recorded under DIR.
dir="${1:-/tmp/mlcd-slurm}"
for name in slurmd slurmctld munged; do
  f="$dir/run/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
done
