// The one order of evaluation rows, for every table and chart (eval CLI, report, demo).
import type { EvalMetrics } from "./evaluate.ts";

/** The rows {@linkcode evalRows} puts in order. */
export interface EvalRowParts {
  /** Metrics of the raw inputs (input embeddings or pixels). @default {undefined} */
  raw?: EvalMetrics;
  /** The raw row's label. @default {"raw inputs"} */
  rawLabel?: string;
  /** Metrics of the untrained (random-init) encoder. @default {undefined} */
  untrained?: EvalMetrics;
  /** Trained encoders, labelled, in the order given. @default {[]} */
  trained?: [string, EvalMetrics][];
}

/**
 * Evaluation rows in the order every table and chart of the toolkit shows them: the raw
 * inputs, the untrained encoder, then the trained encoders (a reading from the baseline to
 * the result). Missing parts are left out.
 *
 * @param parts The rows, by role.
 * @returns `[label, metrics]` pairs in order.
 *
 * @example Usage
 * ```ts ignore
 * const rows = evalRows({ raw, untrained: baseline, trained: [["trained (step 33)", m]] });
 * // [["raw inputs", raw], ["untrained encoder", baseline], ["trained (step 33)", m]]
 * ```
 */
export function evalRows(parts: EvalRowParts): [string, EvalMetrics][] {
  const rows: [string, EvalMetrics][] = [];
  if (parts.raw) rows.push([parts.rawLabel ?? "raw inputs", parts.raw]);
  if (parts.untrained) rows.push(["untrained encoder", parts.untrained]);
  rows.push(...(parts.trained ?? []));
  return rows;
}
