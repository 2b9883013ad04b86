/**
 * The record a training run keeps in its run directory (`run.json`: config and data sources,
 * so that a resume needs only the directory), and the files a run owns.
 *
 * @module
 */
import { runFileOwner } from "../jobs/output_owner.ts";
import { TOOLKIT_VERSION } from "../version.ts";
import { resolveTrainConfig, type TrainConfig } from "./config.ts";

/**
 * File name of the run record inside a run directory.
 *
 * @example Usage
 * ```ts
 * import { RUN_RECORD_NAME } from "./run_record.ts";
 * console.log(RUN_RECORD_NAME); // run.json
 * ```
 */
export const RUN_RECORD_NAME = "run.json";

/**
 * Where a run's training data came from (paths absolute; `mnist` as is).
 *
 * @example Usage
 * ```ts
 * import type { RunSources } from "./run_record.ts";
 * const s: RunSources = { data: ["mnist"], labels: null, limit: 8000, imageSize: null, column: null };
 * console.log(s.data); // ["mnist"]
 * ```
 */
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

/**
 * The content of `run.json`.
 *
 * @example Usage
 * ```ts ignore
 * const record: RunRecord | null = await readRunRecord("runs/a");
 * console.log(record?.config.epochs);
 * ```
 */
export interface RunRecord {
  /** Always "mlcd-run". */
  format: "mlcd-run";
  /** Always 1. */
  formatVersion: 1;
  /** The toolkit version that started the run. */
  toolkitVersion: string;
  /** The run's config. */
  config: TrainConfig;
  /** The run's data. */
  sources: RunSources;
  /** When the run started (ISO 8601). */
  createdAt: string;
}

/**
 * Whether `name` is one of a run directory's files (written by `train`, `eval` or `report`:
 * `RUN_FILE_OWNERS` in `src/jobs/output_owner.ts`).
 *
 * @param name A file name.
 * @returns True for the run's own files.
 *
 * @example Usage
 * ```ts
 * import { isRunFile } from "./run_record.ts";
 * console.log(isRunFile("checkpoint-00000310.safetensors"), isRunFile("notes.txt")); // true false
 * ```
 */
export function isRunFile(name: string): boolean {
  return runFileOwner(name) !== undefined;
}

/**
 * The bytes of a run record.
 *
 * @param config The run's config.
 * @param sources The run's data.
 * @param createdAt When the run started (a record rewritten by an extension keeps it);
 *   default now.
 * @returns `run.json`'s content.
 *
 * @example Usage
 * ```ts ignore
 * await writeFileAtomic(`${dir}/${RUN_RECORD_NAME}`, encodeRunRecord(config, sources));
 * ```
 */
export function encodeRunRecord(
  config: TrainConfig,
  sources: RunSources,
  createdAt: string = new Date().toISOString(),
): Uint8Array {
  const record: RunRecord = {
    format: "mlcd-run",
    formatVersion: 1,
    toolkitVersion: TOOLKIT_VERSION,
    config,
    sources,
    createdAt,
  };
  return new TextEncoder().encode(JSON.stringify(record, null, 2) + "\n");
}

/**
 * Reads `dir/run.json`.
 *
 * @param dir The run directory.
 * @returns The record, or null when there is none.
 * @throws {TypeError} Naming the file when it is corrupt.
 *
 * @example Usage
 * ```ts ignore
 * const record = await readRunRecord("runs/a");
 * ```
 */
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

/**
 * Removes the files a run owns from `dir` (for an overwrite); other files are kept.
 *
 * @param dir The run directory (a missing one is fine).
 * @returns The names removed.
 *
 * @example Usage
 * ```ts ignore
 * const removed = await removeRunFiles("runs/a"); // ["run.json", "metrics.jsonl", …]
 * ```
 */
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
