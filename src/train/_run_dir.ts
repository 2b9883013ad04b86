// The run directory of `deno task train`: the run's own record (config and data sources,
// so that `--resume` needs only `--run-dir`), the files a run owns, and metrics truncation.
import { writeFileAtomic } from "../data/atomic.ts";
import { TOOLKIT_VERSION } from "../version.ts";
import { resolveTrainConfig, type TrainConfig } from "./config.ts";
import { decodeSafetensors, type NamedTensor } from "./safetensors.ts";

/** File name of the run record inside a run directory. */
export const RUN_RECORD_NAME = "run.json";

/** Where a run's training data came from (paths absolute; `mnist` as is). */
export interface RunSources {
  /** `--data` inputs. */
  data: string[];
  /** `--labels` file, if any. */
  labels: string | null;
  /** `--limit`, if given. */
  limit: number | null;
  /** `--image-size`, if given. */
  imageSize: number | null;
  /** `--column`, if given. */
  column: string | null;
  /** `--model`: the Hugging Face model directory fine-tuned, if any (absent in older runs). */
  model?: string | null;
}

/** The content of `run.json`. */
export interface RunRecord {
  format: "mlcd-run";
  formatVersion: 1;
  toolkitVersion: string;
  config: TrainConfig;
  sources: RunSources;
  createdAt: string;
}

/** Whether `name` is a file that a training run writes into its run directory. */
export function isRunFile(name: string): boolean {
  return [
    RUN_RECORD_NAME,
    "labels.safetensors",
    "checkpoint.json",
    "metrics.jsonl",
    "eval.json",
    "kmeans.json", // k-means stats for deno task report
    "report.html", // deno task report
  ].includes(name) || /^checkpoint-\d+\.safetensors$/.test(name);
}

/** The bytes of a run record. */
export function encodeRunRecord(config: TrainConfig, sources: RunSources): Uint8Array {
  const record: RunRecord = {
    format: "mlcd-run",
    formatVersion: 1,
    toolkitVersion: TOOLKIT_VERSION,
    config,
    sources,
    createdAt: new Date().toISOString(),
  };
  return new TextEncoder().encode(JSON.stringify(record, null, 2) + "\n");
}

/** Reads `dir/run.json`; null when it does not exist, a TypeError naming it when corrupt. */
export async function readRunRecord(dir: string): Promise<RunRecord | null> {
  const path = `${dir}/${RUN_RECORD_NAME}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  let r: RunRecord;
  try {
    r = JSON.parse(text);
  } catch {
    throw new TypeError(`Cannot read ${path}: not valid JSON`);
  }
  const s = r?.sources;
  if (
    r?.format !== "mlcd-run" || r.formatVersion !== 1 || typeof s !== "object" || s === null ||
    !Array.isArray(s.data)
  ) {
    throw new TypeError(`Cannot read ${path}: expected an "mlcd-run" record version 1`);
  }
  r.config = resolveTrainConfig(r.config as unknown as Record<string, unknown>);
  return r;
}

/** Removes the files a run owns from `dir` (for `--overwrite`); other files are kept. */
export async function removeRunFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && isRunFile(e.name)) {
        await Deno.remove(`${dir}/${e.name}`);
        removed.push(e.name);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return removed;
}

/**
 * Keeps only the lines of a `metrics.jsonl` whose `step` is at most `step` (the checkpoint a
 * run resumes from), so that a resumed run never repeats steps. A missing file is fine.
 */
export async function truncateMetrics(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const kept = lines.filter((l) => {
    try {
      const s = JSON.parse(l)?.step;
      return typeof s === "number" && s <= step;
    } catch {
      return false; // a line cut short by a kill
    }
  });
  if (kept.length === lines.length && (text === "" || text.endsWith("\n"))) return;
  await writeFileAtomic(
    path,
    new TextEncoder().encode(kept.map((l) => l + "\n").join("")),
  );
}

/**
 * Reads a run's `labels.safetensors` for `--resume`: its tensors by name.
 *
 * @param path The labels file inside the run dir.
 * @returns The decoded tensors.
 * @throws {Deno.errors.NotFound} "Cannot resume: … is missing" when the file is absent.
 * @throws {TypeError} For a file that is not a valid safetensors file.
 */
export async function readRunLabels(path: string): Promise<Map<string, NamedTensor>> {
  try {
    return decodeSafetensors(await Deno.readFile(path), path).tensors;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot resume: ${path} is missing`);
    }
    throw e;
  }
}
