/**
 * Which part of a scale-out job a process runs: `i/N` (the `--shard` flag), or `auto` from a
 * Slurm array job (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`) or a Kubernetes Indexed
 * Job (`JOB_COMPLETION_INDEX` with `--shards N`); and the file names of the parts.
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "./usage_error.ts";

/**
 * One part of a job split into `count` parts: `index` in `[0, count)`.
 *
 * @example Usage
 * ```ts
 * import type { PartSpec } from "./part_spec.ts";
 * const part: PartSpec = { index: 2, count: 8, source: "flag" };
 * console.log(part.index < part.count); // true
 * ```
 */
export interface PartSpec {
  /** The part, from 0. */
  index: number;
  /** How many parts the job has. */
  count: number;
  /** Where the spec came from: the flag, Slurm or Kubernetes. */
  source: "flag" | "slurm" | "k8s";
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

function decimal(v: string | undefined): number | undefined {
  if (v === undefined || !DECIMAL.test(v.trim())) return undefined;
  const n = Number(v.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Parses the part spec of `--shard` (and `--shards` for `auto`).
 *
 * - `i/N`: part `i` (from 0) of `N`; decimal integers with `0 ≤ i < N`.
 * - `auto`: in a Slurm array job, `SLURM_ARRAY_TASK_ID` of `--shards N` or else of
 *   `SLURM_ARRAY_TASK_COUNT` (arrays numbered from 0, as `--array=0-<N-1>`); in a Kubernetes
 *   Indexed Job, `JOB_COMPLETION_INDEX` of `--shards N`. Empty variables count as unset.
 *
 * @param spec The `--shard` value.
 * @param shards The `--shards` value, if given.
 * @param getEnv Reads an environment variable (tests pass their own).
 * @returns The part.
 * @throws {UsageError} For anything else, naming the value.
 *
 * @example Usage
 * ```ts
 * import { parsePartSpec } from "./part_spec.ts";
 * console.log(parsePartSpec("3/8", undefined)); // { index: 3, count: 8, source: "flag" }
 * ```
 */
export function parsePartSpec(
  spec: string,
  shards: string | undefined,
  getEnv: (name: string) => string | undefined = (name) => Deno.env.get(name),
): PartSpec {
  // An empty variable counts as unset.
  const env = (name: string) => getEnv(name) || undefined;
  let count: number | undefined;
  if (shards !== undefined) {
    count = decimal(shards);
    if (count === undefined || count < 1) {
      throw new UsageError(`Expected --shards to be an integer ≥ 1 but found ${shards}`);
    }
  }
  if (spec !== "auto") {
    if (shards !== undefined) {
      throw new UsageError(`Expected --shards only with --shard auto but found --shard ${spec}`);
    }
    const m = /^([^/]*)\/([^/]*)$/.exec(spec);
    const index = decimal(m?.[1]), n = decimal(m?.[2]);
    if (index === undefined || n === undefined) {
      throw new UsageError(
        `Expected --shard to be i/N (decimal integers, 0 ≤ i < N) or auto but found ${spec}`,
      );
    }
    if (n < 1) throw new UsageError(`Expected --shard i/N with N ≥ 1 but found ${spec}`);
    if (index >= n) {
      throw new UsageError(`Expected --shard i/N with 0 ≤ i < N but found ${spec}`);
    }
    return { index, count: n, source: "flag" };
  }
  const slurmId = env("SLURM_ARRAY_TASK_ID");
  if (slurmId !== undefined) {
    const index = decimal(slurmId);
    if (index === undefined) {
      throw new UsageError(
        `Expected SLURM_ARRAY_TASK_ID to be an integer ≥ 0 but found ${slurmId}`,
      );
    }
    if (count === undefined) {
      const slurmCount = env("SLURM_ARRAY_TASK_COUNT");
      count = decimal(slurmCount);
      if (count === undefined || count < 1) {
        throw new UsageError(
          `Expected SLURM_ARRAY_TASK_COUNT to be an integer ≥ 1 (or --shards N) but found ${
            slurmCount ?? "it unset"
          }`,
        );
      }
    }
    if (index >= count) {
      throw new UsageError(
        `Expected SLURM_ARRAY_TASK_ID below the part count ${count} (number the array from 0, as --array=0-${
          count - 1
        }) but found ${index}`,
      );
    }
    return { index, count, source: "slurm" };
  }
  const k8sIndex = env("JOB_COMPLETION_INDEX");
  if (k8sIndex !== undefined) {
    const index = decimal(k8sIndex);
    if (index === undefined) {
      throw new UsageError(
        `Expected JOB_COMPLETION_INDEX to be an integer ≥ 0 but found ${k8sIndex}`,
      );
    }
    if (count === undefined) {
      throw new UsageError(
        "Expected --shards N with --shard auto in a Kubernetes Indexed Job (JOB_COMPLETION_INDEX is set) but found none",
      );
    }
    if (index >= count) {
      throw new UsageError(
        `Expected JOB_COMPLETION_INDEX below --shards ${count} but found ${index}`,
      );
    }
    return { index, count, source: "k8s" };
  }
  throw new UsageError(
    "Expected --shard auto to run in a Slurm array job (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) but found neither set",
  );
}

/**
 * File stem of part `index` of `count`: `part-<i>-of-<N>`.
 *
 * @param part `index`, the part (from 0), and `count`, how many parts.
 * @returns The stem, without directory or extension.
 *
 * @example Usage
 * ```ts
 * import { partStem } from "./part_spec.ts";
 * console.log(partStem({ index: 0, count: 4 })); // part-0-of-4
 * ```
 */
export function partStem(part: { index: number; count: number }): string {
  return `part-${part.index}-of-${part.count}`;
}

/**
 * Parsed name of a part file: `part-<i>-of-<N><suffix>`.
 *
 * @example Usage
 * ```ts
 * import type { PartName } from "./part_spec.ts";
 * const name: PartName = { index: 0, count: 4 };
 * console.log(name.count); // 4
 * ```
 */
export interface PartName {
  /** The part index as written. */
  index: number;
  /** The part count as written. */
  count: number;
}

/**
 * Parses a part file name `part-<i>-of-<N>.<ext>` (leading zeros allowed, so that duplicates
 * such as `part-03-of-8.npy` beside `part-3-of-8.npy` are caught), or returns undefined.
 *
 * @param name A file name.
 * @param ext The extension wanted, with its dot (`.npy`).
 * @returns The index and count as written, or undefined for another name.
 *
 * @example Usage
 * ```ts
 * import { parsePartName } from "./part_spec.ts";
 * console.log(parsePartName("part-1-of-4.npy", ".npy")); // { index: 1, count: 4 }
 * console.log(parsePartName("part-1-of-4.json", ".npy")); // undefined
 * ```
 */
export function parsePartName(name: string, ext: string): PartName | undefined {
  const m = /^part-([0-9]+)-of-([0-9]+)(\..+)$/.exec(name);
  if (!m || m[3] !== ext) return undefined;
  return { index: Number(m[1]), count: Number(m[2]) };
}

/**
 * Every `part-<i>-of-<N>.npy` in `dirs`, in part order: all N parts of one count, each once.
 * The one place that finds the parts a merge (`--merge DIR`) or a reduce (`--reduce DIR`) reads.
 *
 * @param dirs Directories holding the parts (the flag is repeatable).
 * @param flag The flag that named them, for the messages.
 * @param what What the parts are, for the messages ("parts", "refinement parts").
 * @returns The part files, from part 0 to part N - 1.
 * @throws {UsageError} Naming the missing directory, or the missing, duplicated or mismatched part.
 *
 * @example Usage
 * ```ts ignore
 * const files = findPartFiles(["runs/a/parts"], "--merge", "parts");
 * console.log(files[0]); // runs/a/parts/part-0-of-8.npy
 * ```
 */
export function findPartFiles(dirs: string[], flag: string, what: string): string[] {
  const found: (PartName & { file: string })[] = [];
  for (const dir of dirs) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new UsageError(`Expected ${flag} ${dir} to be a directory of ${what} but found none`);
      }
      if (e instanceof Error && /not a directory/i.test(e.message)) {
        throw new UsageError(
          `Expected ${flag} ${dir} to be a directory of ${what} but found a file`,
        );
      }
      throw e;
    }
    for (const name of entries.filter((e) => e.isFile).map((e) => e.name).sort()) {
      const pn = parsePartName(name, ".npy");
      if (pn) found.push({ file: join(dir, name), ...pn });
    }
  }
  if (found.length === 0) {
    throw new UsageError(`Expected part-<i>-of-<N>.npy files in ${dirs.join(", ")} but found none`);
  }
  const count = found[0]!.count;
  const byIndex = new Map<number, string>();
  for (const f of found) {
    if (f.count !== count) {
      throw new UsageError(
        `Mismatched part ${f.file}: it is one of ${f.count} parts, but ${
          found[0]!.file
        } is one of ${count}`,
      );
    }
    if (f.index >= f.count) {
      throw new UsageError(`Mismatched part ${f.file}: part ${f.index} of ${f.count} cannot exist`);
    }
    const other = byIndex.get(f.index);
    if (other !== undefined) {
      throw new UsageError(`Duplicated part ${f.index} of ${count}: ${other} and ${f.file}`);
    }
    byIndex.set(f.index, f.file);
  }
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = byIndex.get(i);
    if (file === undefined) {
      throw new UsageError(
        `Missing part ${
          join(dirs[0]!, partStem({ index: i, count }))
        }.npy: found ${byIndex.size} of ${count} parts`,
      );
    }
    files.push(file);
  }
  return files;
}
