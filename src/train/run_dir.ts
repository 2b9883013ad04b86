/**
 * The run directory of a training run, and its lifecycle: the checks made before any work
 * ({@linkcode openRunDir}: resume only the same run, never start over a finished one or
 * overwrite an input) and the first write
 * ({@linkcode RunDir.begin}: stale temporary files swept, the old run's files removed on
 * overwrite, the record written with the pseudo-labels, all or nothing).
 *
 * @module
 */
import { atomicWrites, removeStaleTemps, writeFileAtomic } from "../fs/atomic.ts";
import { checkNotInputs, checkOutputDir } from "../jobs/output_paths.ts";
import { UsageError } from "../jobs/usage_error.ts";
import { MANIFEST_NAME, readCheckpointManifest } from "./checkpoint.ts";
import { resolveTrainConfig, type TrainConfig } from "./config.ts";
import {
  encodeRunRecord,
  isRunFile,
  readRunRecord,
  removeRunFiles,
  RUN_RECORD_NAME,
  type RunRecord,
  type RunSources,
} from "./run_record.ts";
import { decodeSafetensors, type NamedTensor } from "./safetensors.ts";

/**
 * Keeps only the lines of a `metrics.jsonl` whose `step` is at most `step` (the checkpoint a
 * run resumes from), so that a resumed run never repeats steps. A missing file is fine.
 *
 * @param path The metrics file.
 * @param step The checkpoint's step.
 * @returns When the file is cut back.
 *
 * @example Usage
 * ```ts ignore
 * await truncateMetrics("runs/a/metrics.jsonl", 120);
 * ```
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
 * Reads a run's `labels.safetensors` for a resume: its tensors by name.
 *
 * @param path The labels file inside the run dir.
 * @returns The decoded tensors.
 * @throws {Deno.errors.NotFound} "Cannot resume: … is missing" when the file is absent.
 * @throws {TypeError} For a file that is not a valid safetensors file.
 *
 * @example Usage
 * ```ts ignore
 * const positives = (await readRunLabels("runs/a/labels.safetensors")).get("positives");
 * ```
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

/** Data-source keys compared on resume, with the flags that set them. */
const SOURCE_FLAGS: [keyof RunSources, string][] = [
  ["data", "--data"],
  ["labels", "--labels"],
  ["limit", "--limit"],
  ["column", "--column"],
  ["model", "--model"],
];

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * How {@linkcode openRunDir} opens a run directory (the flags of `deno task train`).
 *
 * @example Usage
 * ```ts
 * import type { OpenRunOptions } from "./run_dir.ts";
 * const o: OpenRunOptions = { resume: false, overwrite: false, config: { epochs: 2 }, sources: { data: ["mnist"] } };
 * console.log(o.resume); // false
 * ```
 */
export interface OpenRunOptions {
  /** Continue the run in the directory (given settings must agree with its record). */
  resume: boolean;
  /** Start afresh in a directory that holds a run, replacing it. */
  overwrite: boolean;
  /**
   * With `resume`: train the run further, to the larger `epochs` given (a finished run too);
   * the record is rewritten with it. @default {false}
   */
  extend?: boolean;
  /** Config keys given (from a config file and flags). */
  config: Partial<Record<keyof TrainConfig, unknown>>;
  /** Data sources given (paths absolute). */
  sources: Partial<RunSources>;
  /** Other files the run reads (e.g. the config file), never to be overwritten. */
  inputs?: string[];
}

/**
 * An opened run directory: the run's settings, and what to do before training starts.
 *
 * @example Usage
 * ```ts ignore
 * const run = await openRunDir("runs/a", { resume: false, overwrite: false, config, sources });
 * await run.begin({ write: writePseudoLabels });
 * ```
 */
export interface RunDir {
  /** The directory. */
  dir: string;
  /** Whether this opening resumes a run. */
  resume: boolean;
  /** Whether it extends the run to more epochs than its record had (`extend`). */
  extended: boolean;
  /** The run's config (the record's, on resume). */
  config: TrainConfig;
  /** The run's data (the record's, on resume). */
  sources: RunSources;
  /** Whether a checkpoint is there to resume from. */
  hasCheckpoint: boolean;
  /**
   * Throws a TypeError unless the checkpoint (if any) was trained on `rows` rows of this
   * input shape, so a resume fails before anything is written.
   */
  checkCheckpointFits(rows: number, inputShape: number[]): Promise<void>;
  /**
   * Makes the directory the run's, once every input is validated: removes stale temporary
   * files of run files (named through `onLog`), on overwrite the old run's files, creates the
   * directory, and (when not resuming) writes `write`'s files and the run record together.
   */
  begin(options?: { write?: () => Promise<void>; onLog?: (line: string) => void }): Promise<void>;
}

/**
 * Opens a run directory before any work: checks that it is (or can be) a directory; on resume
 * reads its record and refuses given settings that differ from it; when starting, refuses a
 * directory that is not empty unless `overwrite`; refuses run files that are inputs.
 * Nothing is written.
 *
 * @param dir The run directory.
 * @param options See {@linkcode OpenRunOptions}.
 * @returns The run's settings and its first write.
 * @throws {UsageError} For settings that cannot work, naming them.
 * @throws {Deno.errors.NotFound} On resume when the directory holds no run.
 *
 * @example Usage
 * ```ts ignore
 * const run = await openRunDir("runs/a", { resume: true, overwrite: false, config: {}, sources: {} });
 * console.log(run.config.epochs, run.hasCheckpoint);
 * ```
 */
export async function openRunDir(dir: string, options: OpenRunOptions): Promise<RunDir> {
  const exists = await checkOutputDir("--run-dir", dir);
  let config: TrainConfig, sources: RunSources, hasCheckpoint = false, createdAt = "";
  if (options.extend && !options.resume) {
    throw new UsageError("Expected --extend with --resume: it trains a run further");
  }
  if (options.resume) {
    const record = await readRunRecord(dir);
    hasCheckpoint = exists &&
      (await Deno.stat(`${dir}/${MANIFEST_NAME}`).catch(() => null)) !== null;
    if (!record) {
      throw new Deno.errors.NotFound(
        `Cannot resume: ${dir} holds no run (no ${RUN_RECORD_NAME}); start it without --resume`,
      );
    }
    checkSameRun(dir, record, options);
    config = options.extend
      ? { ...record.config, epochs: options.config.epochs as number }
      : record.config;
    sources = record.sources;
    createdAt = record.createdAt;
  } else {
    const given = options.sources;
    if (!given.data) throw new UsageError("Expected --data <mnist|path> but found none");
    config = resolveTrainConfig(options.config);
    sources = {
      data: given.data,
      labels: given.labels ?? null,
      limit: given.limit ?? null,
      imageSize: null,
      column: given.column ?? null,
      ...(given.model !== undefined ? { model: given.model } : {}),
    };
    const present = exists ? (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name) : [];
    if (present.length > 0 && !options.overwrite) {
      const named = present.filter(isRunFile);
      throw new UsageError(
        `Refusing to start a new run in ${dir}: it is not empty (${
          (named.length ? named : present).slice(0, 4).join(", ")
        }${
          present.length > 4 ? ", …" : ""
        }); continue it with --resume, replace it with --overwrite, or choose another --run-dir`,
      );
    }
  }
  const inputs = [
    ...sources.data.filter((d) => d !== "mnist"),
    ...(sources.labels ? [sources.labels] : []),
    ...(options.inputs ?? []),
  ];
  await checkNotInputs(
    [RUN_RECORD_NAME, "labels.safetensors", MANIFEST_NAME, "metrics.jsonl"].map((n) => ({
      flag: "--run-dir",
      path: `${dir}/${n}`,
    })),
    inputs,
  );
  const resume = options.resume, extended = options.extend === true;
  return {
    dir,
    resume,
    extended,
    config,
    sources,
    hasCheckpoint,
    checkCheckpointFits: (rows, inputShape) =>
      hasCheckpoint ? checkpointFits(dir, rows, inputShape) : Promise.resolve(),
    begin: async ({ write, onLog } = {}) => {
      for (const p of await removeStaleTemps(dir, isRunFile)) {
        onLog?.(`removed stale temporary file ${p} (left by an interrupted run)`);
      }
      if (extended) {
        await writeFileAtomic(
          `${dir}/${RUN_RECORD_NAME}`,
          encodeRunRecord(config, sources, createdAt || undefined),
        );
      }
      if (resume) return;
      if (options.overwrite) {
        const removed = await removeRunFiles(dir);
        if (removed.length) onLog?.(`--overwrite removed ${removed.join(", ")} from ${dir}`);
      }
      await Deno.mkdir(dir, { recursive: true });
      await atomicWrites(async () => {
        await write?.();
        await writeFileAtomic(`${dir}/${RUN_RECORD_NAME}`, encodeRunRecord(config, sources));
      });
    },
  };
}

/**
 * Refuses settings given with a resume that differ from the run's record (but a larger
 * `epochs` with `extend`, which needs one).
 */
function checkSameRun(dir: string, record: RunRecord, options: OpenRunOptions): void {
  const given = resolveTrainConfig(options.config, record.config);
  const had = record.config.epochs;
  if (options.extend && !(options.config.epochs !== undefined && given.epochs > had)) {
    throw new UsageError(
      `Expected --epochs larger than the run's ${had} with --extend but found ${
        options.config.epochs === undefined ? "none" : given.epochs
      }`,
    );
  }
  const diffs: string[] = [];
  for (const k of Object.keys(options.config) as (keyof TrainConfig)[]) {
    if (k === "epochs" && options.extend) continue;
    if (!same(given[k], record.config[k])) {
      diffs.push(
        `--${kebab(k)} ${JSON.stringify(given[k])} (the run has ${
          JSON.stringify(record.config[k])
        })`,
      );
    }
  }
  for (const [k, flag] of SOURCE_FLAGS) {
    const g = options.sources[k];
    if (g !== undefined && !same(g, record.sources[k])) {
      diffs.push(`${flag} ${JSON.stringify(g)} (the run has ${JSON.stringify(record.sources[k])})`);
    }
  }
  if (diffs.length > 0) {
    const further = options.config.epochs !== undefined && given.epochs > had && !options.extend
      ? `; to train it further, to ${given.epochs} epochs, add --extend`
      : "";
    throw new UsageError(
      `Cannot resume ${dir} with different settings: ${
        diffs.join(", ")
      }; --resume needs only --run-dir${further} (start a new run with --overwrite or another --run-dir)`,
    );
  }
}

/** Throws unless the checkpoint in `dir` was trained on `rows` rows of `inputShape`. */
async function checkpointFits(dir: string, rows: number, inputShape: number[]): Promise<void> {
  const m = await readCheckpointManifest(dir);
  const inputDim = inputShape.reduce((a, b) => a * b, 1);
  if (m?.data?.rows !== rows || m.data.inputDim !== inputDim) {
    throw new TypeError(
      `Cannot resume: the checkpoint in ${dir} was trained on ${m?.data?.rows} rows of ${m?.data?.inputDim} values but the data now has ${rows} rows of ${inputDim}`,
    );
  }
}
