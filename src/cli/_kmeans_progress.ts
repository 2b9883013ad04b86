// The k-means progress lines of every command: one formatter for an iteration's stats, used
// by `cluster` (every iteration), the cluster jobs (at most one a second per stage) and
// `train` (every 5th iteration, stats kept for the run report).
import type { KMeansAssignment, KMeansIterationStats } from "../kmeans/kmeans_options.ts";
import {
  type ClusterSizeStats,
  clusterSizeStats,
  formatClusterSizes,
} from "../kmeans/cluster_size_stats.ts";
import { formatSeconds, progress } from "./_cli.ts";

/**
 * What an iteration line says: `"cluster"` everything, `"job"` all but the imbalance factor,
 * `"brief"` the iteration (from 1) and objective (train).
 */
export type IterationLineForm = "cluster" | "job" | "brief";

/** One k-means iteration as a progress line. */
export function iterationLine(s: KMeansIterationStats, form: IterationLineForm): string {
  if (form === "brief") return `iteration ${s.iteration + 1} objective ${s.objective.toFixed(3)}`;
  const imbalance = form === "cluster" ? `imbalance ${s.imbalanceFactor.toFixed(3)}  ` : "";
  return `iter ${String(s.iteration).padStart(3)}  objective ${s.objective.toPrecision(8)}  ` +
    `time ${formatSeconds(s.time)}  ETA ${formatSeconds(s.eta)}  ` +
    `${imbalance}empty clusters split ${s.nsplit}`;
}

/**
 * The `onLog` and `onIteration` of a job's k-means stage: lines after `<prefix>: `, an
 * iteration at most once a second (the first always).
 */
export function jobKmeansLog(prefix: string): {
  onLog: (m: string) => void;
  onIteration: (s: KMeansIterationStats) => void;
} {
  let t = 0;
  return {
    onLog: kmeansLog((m) => progress(`${prefix}: ${m}`)),
    onIteration: (s) => {
      const now = performance.now();
      if (now - t < 1000 && s.iteration > 0) return;
      t = now;
      progress(`${prefix}: ${iterationLine(s, "job")}`);
    },
  };
}

/** Collects k-means iteration stats and reports every 5th iteration on stderr (train). */
export function kmeansProgress(): {
  stats: KMeansIterationStats[];
  onIteration: (s: KMeansIterationStats) => void;
} {
  const stats: KMeansIterationStats[] = [];
  return {
    stats,
    onIteration: (s) => {
      stats.push(s);
      if ((s.iteration + 1) % 5 === 0) progress(`cluster: ${iterationLine(s, "brief")}`);
    },
  };
}

/** The assignment step of a run in words: `exact` or `ivf (141 cells, nprobe 9)`, and its source. */
export function assignmentText(a: KMeansAssignment): string {
  const what = a.method === "ivf" ? `ivf (${a.cells} cells, nprobe ${a.nprobe})` : "exact";
  return `${what}, ${a.source}`;
}

/**
 * The cluster-size distribution of a run (its final counts: rows, or the rows part centroids
 * stand for) as the summary line says it and as `--json` records it; null without clusters.
 */
export function clusterSizes(
  counts: ArrayLike<number>,
): { line: string; stats: ClusterSizeStats } | null {
  if (counts.length === 0) return null;
  const stats = clusterSizeStats(counts);
  return { line: formatClusterSizes(stats), stats };
}

/** Seconds between two "Checkpoint: …" lines of k-means (the first after as long a run). */
export const CHECKPOINT_LINE_SECONDS = 30;

/**
 * The `onLog` of a k-means run for a command: drops "No checkpoint at … yet" (a fresh start
 * is what a first run does) and keeps a "Checkpoint: …" line only once
 * {@linkcode CHECKPOINT_LINE_SECONDS} have passed since the start or the last one, so that a
 * short run prints none and a long one shows where it stands.
 */
export function kmeansLog(say: (m: string) => void, now = () => performance.now()): (
  m: string,
) => void {
  let last = now();
  return (m) => {
    if (m.startsWith("No checkpoint at ")) return;
    if (m.startsWith("Checkpoint: ")) {
      if (now() - last < CHECKPOINT_LINE_SECONDS * 1000) return;
      last = now();
    }
    say(m);
  };
}

/**
 * The `onIteration` of `cluster`: every iteration, until the objective stops changing; then
 * one line saying so, and nothing while it stays (lines resume if it changes, e.g. after a
 * split).
 */
export function convergedIterations(
  say: (line: string) => void,
  form: IterationLineForm,
  prefix: string,
): (s: KMeansIterationStats) => void {
  let previous: KMeansIterationStats | undefined, quiet = false;
  return (s) => {
    const same = previous !== undefined && s.objective === previous.objective && s.nsplit === 0;
    if (same && quiet) return;
    if (same) {
      quiet = true;
      say(
        `${prefix}: converged at iteration ${previous!.iteration}: the objective stays ${
          s.objective.toPrecision(8)
        } (the remaining iterations are not shown)`,
      );
    } else {
      quiet = false;
      say(iterationLine(s, form));
    }
    previous = s;
  };
}
