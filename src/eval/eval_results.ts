/**
 * A run's eval results file (`eval.json`, or `eval --out`): results accumulate, they are never
 * silently replaced. The file holds every result, oldest first, under `results`, and the latest
 * result's fields at its top level (what a reader of one result expects). A file of one result
 * (the demo's, or one written before results accumulated) reads as a list of one.
 *
 * @module
 */
import { writeFileAtomic } from "../fs/atomic.ts";
import type { EvalMetrics } from "./evaluate.ts";
import { evalRows } from "./eval_rows.ts";

/**
 * One evaluation: the checkpoint's metrics at its top level, and the untrained encoder's
 * (`baseline`) and the raw inputs' (`raw`) when they were computed.
 *
 * @example Usage
 * ```ts ignore
 * const r: EvalResult = { checkpoint: "runs/a", step: 310, ...metrics, raw: rawMetrics };
 * ```
 */
export type EvalResult = Partial<EvalMetrics> & {
  /** The checkpoint evaluated. */
  checkpoint?: string;
  /** Its step (the demo writes `"final"`). */
  step?: number | string;
  /** The untrained encoder's metrics on the same data. */
  baseline?: EvalMetrics;
  /** The raw inputs' metrics on the same data. */
  raw?: EvalMetrics;
  [key: string]: unknown;
};

const isMetrics = (o: unknown): o is EvalMetrics =>
  typeof o === "object" && o !== null && typeof (o as EvalMetrics).linearProbeTop1 === "number";

const METRICS: (keyof EvalMetrics)[] = [
  "linearProbeTop1",
  "knnTop1",
  "nmi",
  "ari",
  "recallAt1",
  "recallAt5",
  "recallAt10",
];

/** The metrics of `o` alone (a result's top level also holds its checkpoint, step, …). */
function metricsOf(o: EvalMetrics): EvalMetrics {
  return Object.fromEntries(
    METRICS.filter((k) => typeof o[k] === "number").map((k) => [k, o[k]]),
  ) as unknown as EvalMetrics;
}

/**
 * Reads the results of an eval results file, oldest first.
 *
 * @param path The file.
 * @returns The results, or undefined when the file does not exist.
 * @throws {TypeError} Naming the file when it is not valid JSON or holds no eval results.
 *
 * @example Usage
 * ```ts ignore
 * const results = await readEvalResults("runs/a/eval.json") ?? [];
 * ```
 */
export async function readEvalResults(path: string): Promise<EvalResult[] | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new TypeError(`Cannot read ${path}: ${(e as Error).message}`);
  }
  const results = (j as { results?: unknown })?.results;
  if (Array.isArray(results) && results.every(isMetrics)) return results as EvalResult[];
  if (isMetrics(j)) return [j as EvalResult];
  throw new TypeError(`Expected ${path} to hold eval results but found another JSON file`);
}

/**
 * Adds `result` to the eval results file at `path` (created when missing), atomically: the
 * results already there are kept.
 *
 * @param path The file.
 * @param result The new result.
 * @returns How many results the file holds now.
 * @throws {TypeError} When an existing file holds no eval results (it is left as it is).
 *
 * @example Usage
 * ```ts
 * import { addEvalResult, readEvalResults } from "./eval_results.ts";
 * const dir = await Deno.makeTempDir();
 * const m = { linearProbeTop1: 0.9, knnTop1: 0.9, nmi: 0.5, ari: 0.4, recallAt1: 0.8, recallAt5: 0.9, recallAt10: 1 };
 * await addEvalResult(`${dir}/eval.json`, { step: 10, ...m, baseline: m });
 * console.log(await addEvalResult(`${dir}/eval.json`, { step: 20, ...m })); // 2
 * console.log((await readEvalResults(`${dir}/eval.json`))![0]!.baseline !== undefined); // true
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function addEvalResult(path: string, result: EvalResult): Promise<number> {
  const results = [...(await readEvalResults(path) ?? []), result];
  const body = { ...result, results };
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(body, null, 2) + "\n"));
  return results.length;
}

/**
 * The rows of a report's eval table from accumulated results, in {@linkcode evalRows}' one
 * order: the raw inputs and the untrained encoder of the latest result that has them, and the
 * trained encoder at every step evaluated (the latest result of each step), so that a later
 * eval without `--baseline` keeps the untrained row.
 *
 * @param results The results, oldest first.
 * @returns Rows by name.
 *
 * @example Usage
 * ```ts ignore
 * const rows = evalResultRows(await readEvalResults("runs/a/eval.json") ?? []);
 * ```
 */
export function evalResultRows(results: EvalResult[]): [string, EvalMetrics][] {
  let raw: EvalMetrics | undefined, untrained: EvalMetrics | undefined;
  const trained = new Map<string, EvalMetrics>();
  for (const r of results) {
    if (isMetrics(r.raw)) raw = metricsOf(r.raw);
    if (isMetrics(r.baseline)) untrained = metricsOf(r.baseline);
    const step = String(r.step ?? "?");
    trained.delete(step); // the latest result of a step goes last
    trained.set(step, metricsOf(r as EvalMetrics));
  }
  return evalRows({
    ...(raw ? { raw } : {}),
    ...(untrained ? { untrained } : {}),
    trained: [...trained].map(([step, m]) => [`trained (step ${step})`, m]),
  });
}
