// The k-means progress of `deno task train` (vector and image paths): every iteration's stats
// kept for the run report, and a line on stderr every 5 iterations.
import type { KMeansIterationStats } from "../kmeans/kmeans_options.ts";
import { progress } from "./_cli.ts";

/** Collects k-means iteration stats and reports every 5th iteration on stderr. */
export function kmeansProgress(): {
  stats: KMeansIterationStats[];
  onIteration: (s: KMeansIterationStats) => void;
} {
  const stats: KMeansIterationStats[] = [];
  return {
    stats,
    onIteration: (s) => {
      stats.push(s);
      if ((s.iteration + 1) % 5 === 0) {
        progress(`cluster: iteration ${s.iteration + 1} objective ${s.objective.toFixed(3)}`);
      }
    },
  };
}
