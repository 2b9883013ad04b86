/**
 * Which command owns a file, so that no command writes over another's: the files of a training
 * run directory belong to the command that writes each, and the outputs of a job (a part, a
 * merge, an embed) belong to that job, as its manifest records them. `--overwrite` replaces a
 * job's own earlier outputs, never a file that another command owns.
 *
 * The rule, stated once (README "Command line"):
 * - a **run directory** is a directory holding `run.json` or `checkpoint.json`; its files
 *   {@linkcode RUN_FILE_OWNERS} are written by `train` (the run), `eval` (`eval.json`) and
 *   `report` (`report.html`) only;
 * - a **job's file** is a manifest (a `.json` file of format `mlcd-manifest`), a file that a
 *   manifest lists (manifests sit beside their outputs, or one level up, as `embed`'s
 *   `part-<i>-of-<N>.json` above `img_emb/` and `metadata/`), or a file named as a part
 *   (`part-<i>-of-<N>.<ext>`, reserved for the jobs of part i of N); only that job writes it.
 *
 * @module
 */
import { basename, dirname, join, relative } from "node:path";

/**
 * The files a training run directory holds, by name, with the command that writes each
 * (`checkpoint-<step>.safetensors` files are written by `train` too).
 *
 * @example Usage
 * ```ts
 * import { RUN_FILE_OWNERS } from "./output_owner.ts";
 * console.log(RUN_FILE_OWNERS["eval.json"]); // eval
 * ```
 */
export const RUN_FILE_OWNERS: Readonly<Record<string, string>> = {
  "run.json": "train",
  "labels.safetensors": "train",
  "checkpoint.json": "train",
  "metrics.jsonl": "train",
  "kmeans.json": "train", // k-means stats for deno task report
  "eval.json": "eval",
  "report.html": "report",
};

/**
 * The command that writes `name` in a run directory, or undefined for a file that is not a
 * run's.
 *
 * @param name A file name.
 * @returns `"train"`, `"eval"`, `"report"` or undefined.
 *
 * @example Usage
 * ```ts
 * import { runFileOwner } from "./output_owner.ts";
 * console.log(runFileOwner("checkpoint-00000310.safetensors"), runFileOwner("notes.txt")); // train undefined
 * ```
 */
export function runFileOwner(name: string): string | undefined {
  if (Object.hasOwn(RUN_FILE_OWNERS, name)) return RUN_FILE_OWNERS[name];
  return /^checkpoint-\d+\.safetensors$/.test(name) ? "train" : undefined;
}

/**
 * Who writes an output: a command (`cluster`, `eval`, …), or a job, named by its manifest
 * key's kind and part.
 *
 * @example Usage
 * ```ts
 * import type { OutputWriter } from "./output_owner.ts";
 * const w: OutputWriter = { command: "cluster", job: { kind: "cluster-part", shard: { index: 0, count: 2 } } };
 * console.log(w.job?.kind); // cluster-part
 * ```
 */
export interface OutputWriter {
  /** The command (`cluster`, `assign`, `eval`, `report`, `embed`, `train`). */
  command: string;
  /** The job, for outputs committed with a manifest. */
  job?: { kind: string; shard: { index: number; count: number } | null };
}

/**
 * The owner of a file that belongs to a run directory or to a job, from
 * {@linkcode outputOwner}.
 *
 * @example Usage
 * ```ts
 * import type { OutputOwner } from "./output_owner.ts";
 * const o: OutputOwner = { command: "train", what: "the run directory runs/a" };
 * console.log(o.what); // the run directory runs/a
 * ```
 */
export interface OutputOwner {
  /** The command that owns it (a run directory's file). */
  command?: string;
  /** The job kind that owns it (a manifest's `kind`); unset for a part name without manifest. */
  kind?: string;
  /** The job's part (a manifest's `shard`, or the part a part name names). */
  shard?: { index: number; count: number } | null;
  /** What it belongs to, in words (for messages). */
  what: string;
}

const PART_NAME = /^part-(\d+)-of-(\d+)\./;

interface ManifestHead {
  kind: string;
  shard: { index: number; count: number } | null;
  outputs: string[];
}

/** Manifests read so far, by path, with the size and mtime they were read at. */
const heads = new Map<string, { at: string; head: ManifestHead | undefined }>();

/** The kind, part and output names of an mlcd manifest at `path`, or undefined. */
async function manifestHead(path: string): Promise<ManifestHead | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    return undefined;
  }
  if (!info.isFile || info.size > 64 << 20) return undefined;
  const at = `${info.size} ${info.mtime?.getTime()} ${info.ino}`;
  const known = heads.get(path);
  if (known?.at === at) return known.head;
  const head = await readHead(path);
  heads.set(path, { at, head });
  return head;
}

async function readHead(path: string): Promise<ManifestHead | undefined> {
  let m;
  try {
    m = JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
  if (m?.format !== "mlcd-manifest" || typeof m.kind !== "string") return undefined;
  const outputs = Array.isArray(m.outputs)
    ? m.outputs.map((o: { name?: unknown }) => o?.name).filter((n: unknown) =>
      typeof n === "string"
    )
    : [];
  return { kind: m.kind, shard: m.shard ?? null, outputs };
}

function jobOwner(head: ManifestHead, manifest: string): OutputOwner {
  const part = head.shard ? ` ${head.shard.index}/${head.shard.count}` : "";
  return { kind: head.kind, shard: head.shard, what: `the ${head.kind}${part} job (${manifest})` };
}

async function isRunDir(dir: string): Promise<boolean> {
  for (const name of ["run.json", "checkpoint.json"]) {
    if (await Deno.stat(join(dir, name)).then((s) => s.isFile, () => false)) return true;
  }
  return false;
}

/** The part manifests (`part-<i>-of-<N>.json`) directly in `dir`. */
async function partManifests(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && /^part-\d+-of-\d+\.json$/.test(e.name)) out.push(join(dir, e.name));
    }
  } catch { /* a missing directory holds none */ }
  return out.sort();
}

/**
 * The owner of `path` when it belongs to a run directory or to a job (see the module doc), or
 * undefined when any command may write it.
 *
 * @param path A file that a command is about to write (it may not exist yet).
 * @returns Its owner, or undefined.
 *
 * @example Usage
 * ```ts ignore
 * const owner = await outputOwner("runs/a/metrics.jsonl");
 * console.log(owner?.what); // the run directory runs/a
 * ```
 */
export async function outputOwner(path: string): Promise<OutputOwner | undefined> {
  const dir = dirname(path), name = basename(path);
  const command = runFileOwner(name);
  if (command && await isRunDir(dir)) return { command, what: `the run directory ${dir}` };
  if (/\.json$/i.test(name)) {
    const head = await manifestHead(path);
    if (head) return jobOwner(head, path);
  }
  const part = PART_NAME.exec(name);
  if (part) {
    const manifest = join(dir, `part-${part[1]}-of-${part[2]}.json`);
    const head = await manifestHead(manifest);
    if (head) return jobOwner(head, manifest);
    const shard = { index: Number(part[1]), count: Number(part[2]) };
    return { shard, what: `part ${shard.index} of ${shard.count} (a job's file name)` };
  }
  const beside = join(dir, name.replace(/\.[^.]*$/, "") + ".json");
  if (beside !== path) {
    const head = await manifestHead(beside);
    if (head?.outputs.includes(name)) return jobOwner(head, beside);
  }
  for (const d of [dir, dirname(dir)]) {
    for (const manifest of await partManifests(d)) {
      const head = await manifestHead(manifest);
      if (head?.outputs.includes(relative(d, path))) return jobOwner(head, manifest);
    }
    if (dirname(dir) === dir) break;
  }
  return undefined;
}

/**
 * Whether `writer` owns a file that `owner` describes: the same command for a run
 * directory's file; a job of the same kind for a job's file (another run of that job, which
 * `--overwrite` may replace); a job of the same part for a part name that no manifest
 * describes yet.
 *
 * @param owner From {@linkcode outputOwner}.
 * @param writer Who is about to write.
 * @returns True when the write is the owner's own.
 *
 * @example Usage
 * ```ts
 * import { ownsOutput } from "./output_owner.ts";
 * console.log(ownsOutput({ command: "eval", what: "the run directory r" }, { command: "eval" })); // true
 * ```
 */
export function ownsOutput(owner: OutputOwner, writer: OutputWriter): boolean {
  if (owner.command !== undefined) return owner.command === writer.command;
  if (!writer.job) return false;
  if (owner.kind !== undefined) return owner.kind === writer.job.kind;
  return JSON.stringify(owner.shard ?? null) === JSON.stringify(writer.job.shard);
}
