#!/usr/bin/env bash
# Submits MLCD's hierarchical clustering and labelling as chained Slurm jobs:
#   parts (array of N) --afterok--> merge --afterok--> R x (refine (array of N) --afterok-->
#   reduce) --afterok--> assign (array of N)
#
#   examples/slurm/submit.sh --input shards/ --work runs/laion --parts 20 --k1 1000000 --k 1000000 --refine 2
#
# Options (defaults in brackets):
#   --input PATH     embedding shards: a directory of .npy/Arrow files, or one file (required)
#   --work DIR       outputs: DIR/parts/, DIR/centers.npy (the final centers), DIR/labels/,
#                    DIR/logs/; with --refine R also DIR/centers-0.npy (merged), DIR/sums-<r>/
#                    and DIR/centers-<r>.npy (after pass r < R) (required)
#   --parts N        number of parts = array tasks per step (required)
#   --k1 N           centroids per part (required)
#   --k N            final centers (required)
#   --l N            labels per row [8]
#   --refine R       Lloyd passes over all rows from the merged centers, each an array job of N
#                    parts (cluster --refine) and a reduce (cluster --reduce) [0]
#   --niter N        Lloyd iterations per k-means [25]
#   --nredo N        k-means runs per part and merge, best kept [1]
#   --seed N         seed [1234]
#   --format F       labels file format: parquet | arrow | npy [parquet]
#   --gres SPEC      GPU request per task [gpu:1]; `none` on a cluster without GPUs
#   --partition P    Slurm partition [the cluster's default]
#   --               everything after is passed to every sbatch call
#
# Every step is restartable: rerun the same command after a failure and the parts, merge,
# refinement parts, reduces and labels already written with a matching manifest are skipped.
# Prints one line per job:
# `parts <jobid>`, `merge <jobid>`, `refine-<r> <jobid>` and `reduce-<r> <jobid>` per pass,
# `assign <jobid>`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/examples/slurm"
input="" work="" parts="" k1="" k="" l=8 refine=0 niter=25 nredo=1 seed=1234 format=parquet gres="gpu:1" partition=""
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
    --refine) refine="$2"; shift 2 ;;
    --niter) niter="$2"; shift 2 ;;
    --nredo) nredo="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --format) format="$2"; shift 2 ;;
    --gres) gres="$2"; shift 2 ;;
    --partition) partition="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ -n "$input" ] || die "missing --input"
[ -n "$work" ] || die "missing --work"
for v in parts k1 k l refine niter nredo seed; do
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
# Each job's variables are taken at submission (--export=ALL): set them before each sbatch.
centers() { if [ "$1" -eq "$refine" ]; then echo "$work/centers.npy"; else echo "$work/centers-$1.npy"; fi; }
export MLCD_MERGE_OUT="$(centers 0)"
p=$(sbatch "${common[@]}" --array="0-$last" -o "$work/logs/parts-%a.log" "$here/cluster_parts.sbatch")
m=$(sbatch "${common[@]}" --dependency="afterok:$p" -o "$work/logs/merge.log" "$here/merge.sbatch")
jobs=("parts $p" "merge $m")
after=$m
for ((r = 1; r <= refine; r++)); do
  export MLCD_REFINE_CENTERS="$(centers $((r - 1)))" MLCD_REFINE_SUMS="$work/sums-$r" \
    MLCD_REDUCE_OUT="$(centers "$r")"
  f=$(sbatch "${common[@]}" --dependency="afterok:$after" --array="0-$last" \
    -o "$work/logs/refine-$r-%a.log" "$here/refine_parts.sbatch")
  g=$(sbatch "${common[@]}" --dependency="afterok:$f" -o "$work/logs/reduce-$r.log" "$here/reduce.sbatch")
  jobs+=("refine-$r $f" "reduce-$r $g")
  after=$g
done
a=$(sbatch "${common[@]}" --dependency="afterok:$after" --array="0-$last" \
  -o "$work/logs/assign-%a.log" "$here/assign_parts.sbatch")
jobs+=("assign $a")
printf '%s\n' "${jobs[@]}"
