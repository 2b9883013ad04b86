// The warm-up of a run's learning-rate schedule: as given, or "auto" (a tenth of the steps, at
// most the paper's 2000), and a warning when a given warm-up outlasts the run.
import type { TrainConfig } from "./config.ts";

/** The share of a run's steps that `warmupSteps: "auto"` warms up over. */
export const AUTO_WARMUP_FRACTION = 0.1;
/** The longest automatic warm-up: the paper's 2000 steps. */
export const AUTO_WARMUP_MAX = 2000;

/** What {@linkcode resolveWarmup} returns. */
export interface ResolvedWarmup {
  /** Warm-up steps of the run. */
  warmupSteps: number;
  /** Why the schedule cannot do what was asked, when it cannot (a warm-up not shorter than the run). */
  warning?: string;
}

/**
 * The warm-up of a run of `totalSteps` steps: `config.warmupSteps` as given, or for `"auto"` a
 * tenth of the steps (rounded up), at most 2000. A given warm-up that is not shorter than the
 * run comes with a warning: the learning rate then never reaches its peak (or reaches it only at
 * the last step) and never decays.
 *
 * @param config The run's config (`warmupSteps` and `lr` are read).
 * @param options `totalSteps`: the run's optimizer steps (epochs × steps per epoch).
 * @returns The warm-up steps, and a warning when the warm-up outlasts the run.
 *
 * @example Usage
 * ```ts
 * import { resolveTrainConfig } from "./config.ts";
 * import { resolveWarmup } from "./warmup.ts";
 * console.log(resolveWarmup(resolveTrainConfig({}), { totalSteps: 33 }).warmupSteps); // 4
 * const given = resolveWarmup(resolveTrainConfig({ warmupSteps: 100 }), { totalSteps: 33 });
 * console.log(given.warning !== undefined); // true
 * ```
 */
export function resolveWarmup(
  config: Pick<TrainConfig, "warmupSteps" | "lr">,
  options: { totalSteps: number },
): ResolvedWarmup {
  const { totalSteps } = options;
  if (!Number.isInteger(totalSteps) || totalSteps < 0) {
    throw new RangeError(
      `Expected resolveWarmup's totalSteps to be an integer >= 0 but found ${totalSteps}`,
    );
  }
  const w = config.warmupSteps;
  if (w === "auto") {
    return { warmupSteps: Math.min(AUTO_WARMUP_MAX, Math.ceil(AUTO_WARMUP_FRACTION * totalSteps)) };
  }
  if (totalSteps === 0 || w < totalSteps) return { warmupSteps: w };
  const top = config.lr * totalSteps / w;
  return {
    warmupSteps: w,
    warning:
      `warmupSteps ${w} is not shorter than the run's ${totalSteps} steps: the learning rate ${
        w > totalSteps
          ? `rises only to ${top.toPrecision(3)} of its peak ${config.lr}`
          : `reaches its peak ${config.lr} only at the last step`
      } and never decays; set warmupSteps below ${totalSteps}, or "auto" (${
        Math.min(AUTO_WARMUP_MAX, Math.ceil(AUTO_WARMUP_FRACTION * totalSteps))
      } steps here)`,
  };
}
