#!/usr/bin/env bash
# Submits MLCD's hierarchical clustering and labelling as three chained Slurm jobs:
#   parts (array of N) --afterok--> merge --afterok--> assign (array of N)
#
#   examples/slurm/submit.sh --input shards/ --work runs/laion --parts 20 --k1 1000000 --k 1000000
#
# Options (defaults in brackets):
#   --input PATH     embedding shards: a directory of .npy/Arrow files, or one file (required)
#   --work DIR       outputs: DIR/parts/, DIR/centers.npy, DIR/labels/, DIR/logs/ (required)
#   --parts N        number of parts = array tasks per step (required)
#   --k1 N           centroids per part (required)
#   --k N            final centers (required)
#   --l N            labels per row [8]
#   --niter N        Lloyd iterations per k-means [25]
#   --nredo N        k-means runs per part and merge, best kept [1]
#   --seed N         seed [1234]
#   --format F       labels file format: parquet | arrow | npy [parquet]
#   --gres SPEC      GPU request per task [gpu:1]; `none` on a cluster without GPUs
#   --partition P    Slurm partition [the cluster's default]
#   --               everything after is passed to every sbatch call
#
# Every step is restartable: rerun the same command after a failure and the parts, merge and
# labels already written with a matching manifest are skipped. Prints one line per job:
# `parts <jobid>`, `merge <jobid>`, `assign <jobid>`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/examples/slurm"
input="" work="" parts="" k1="" k="" l=8 niter=25 nredo=1 seed=1234 format=parquet gres="gpu:1" partition=""
extra=()
die() { echo "submit.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --input) input="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --parts) parts="$2"; shift 2 ;;
    --k1) k1="$2"; shift 2 ;;
    --k) k="$2"; shift 2 ;;
    --l) l="$2"; shift 2 ;;
    --niter) niter="$2"; shift 2 ;;
    --nredo) nredo="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --format) format="$2"; shift 2 ;;
    --gres) gres="$2"; shift 2 ;;
    --partition) partition="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ -n "$input" ] || die "missing --input"
[ -n "$work" ] || die "missing --work"
for v in parts k1 k l niter nredo seed; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "expected --$v to be a decimal integer but found '${!v}'"
done
[ "$parts" -ge 1 ] || die "expected --parts ≥ 1 but found $parts"
[ -e "$input" ] || die "no such file or directory: $input"
command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node"
mkdir -p "$work/logs"
input="$(cd "$(dirname "$input")" && pwd)/$(basename "$input")"
work="$(cd "$work" && pwd)"
export MLCD_ROOT="$root" MLCD_INPUT="$input" MLCD_WORK="$work" MLCD_K1="$k1" MLCD_K="$k" \
  MLCD_L="$l" MLCD_NITER="$niter" MLCD_NREDO="$nredo" MLCD_SEED="$seed" MLCD_PARTS="$parts" MLCD_FORMAT="$format"
common=(--parsable --export=ALL "--gres=$gres")
[ -n "$partition" ] && common+=("--partition=$partition")
common+=("${extra[@]}")
last=$((parts - 1))
p=$(sbatch "${common[@]}" --array="0-$last" -o "$work/logs/parts-%a.log" "$here/cluster_parts.sbatch")
m=$(sbatch "${common[@]}" --dependency="afterok:$p" -o "$work/logs/merge.log" "$here/merge.sbatch")
a=$(sbatch "${common[@]}" --dependency="afterok:$m" --array="0-$last" \
  -o "$work/logs/assign-%a.log" "$here/assign_parts.sbatch")
echo "parts $p"
echo "merge $m"
echo "assign $a"
