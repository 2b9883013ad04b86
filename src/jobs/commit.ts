/**
 * The commit protocol of the scale-out jobs. Before the work, {@linkcode checkOutputs}
 * decides from the manifest whether a job is done, fresh, or refused; after it,
 * {@linkcode commitOutputs} writes every output and then the manifest in one `atomicWrites`
 * batch: each output through exactly one temporary file, its sha256 computed while its bytes
 * are written, and the manifest renamed into place last, so a manifest is only ever present
 * beside complete outputs. A killed job leaves only locked-then-stale `*.tmp-*` files, which
 * the next run's one sweep (`removeStaleTemps`) removes.
 *
 * @module
 */
import { basename, dirname, relative } from "node:path";
import { atomicWrites, findStaleTemps, writeFileAtomic } from "../fs/atomic.ts";
import { TOOLKIT_VERSION } from "../version.ts";
import {
  type Json,
  type Manifest,
  manifestDifference,
  type ManifestKey,
  type ManifestOutput,
  manifestPath,
  readManifest,
  verifyOutputs,
} from "./manifest.ts";
import { checkOutputFiles, removeStaleOutputTemps } from "./output_paths.ts";
import { UsageError } from "./usage_error.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * What {@linkcode checkOutputs} found: `"done"` (skip the work) or `"fresh"` (do it).
 *
 * @example Usage
 * ```ts
 * import type { OutputState } from "./commit.ts";
 * const state: OutputState = "fresh";
 * console.log(state === "done" ? "skip" : "work"); // work
 * ```
 */
export type OutputState = "done" | "fresh";

/**
 * Options of {@linkcode checkOutputs}.
 *
 * @example Usage
 * ```ts
 * import type { CheckOutputsOptions } from "./commit.ts";
 * const o: CheckOutputsOptions = { overwrite: false, inputs: ["embeddings/"] };
 * console.log(o.overwrite); // false
 * ```
 */
export interface CheckOutputsOptions {
  /** Replace outputs that another run of this job made. */
  overwrite: boolean;
  /** Progress lines (stale temporary files removed, an interrupted commit finished). */
  onLog?: ((line: string) => void) | undefined;
  /** Files and directories the job reads: no output may overlap them. @default {[]} */
  inputs?: string[];
  /** The manifest's path. @default {beside the first output: `manifestPath(outputs[0])`} */
  manifest?: string;
  /** The flag that named the outputs' place, for messages. @default {"--out"} */
  flag?: string;
}

/** The outputs' names as a manifest records them: relative to the manifest's directory. */
function outputNames(outputs: string[], mpath: string): string[] {
  return outputs.map((o) => relative(dirname(mpath), o));
}

const sameNames = (a: string[], b: string[]) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The manifest that an interrupted commit of this same job staged: a killed process renames
 * its outputs first and the manifest last, so a complete stale temporary file of the manifest
 * that matches `want` and names the job's outputs is the record of its own earlier try.
 */
async function interruptedCommit(
  mpath: string,
  want: ManifestKey,
  names: string[],
): Promise<{ manifest: Manifest; bytes: Uint8Array } | undefined> {
  const name = basename(mpath);
  for (const tmp of await findStaleTemps(dirname(mpath), (n) => n === name)) {
    try {
      const bytes = await Deno.readFile(tmp);
      const manifest = await readManifest(tmp);
      if (
        manifestDifference(manifest, want) === undefined &&
        sameNames(manifest.outputs.map((o) => o.name), names)
      ) return { manifest, bytes };
    } catch { /* cut short by the kill: not a record */ }
  }
  return undefined;
}

/**
 * Decides, before any work, what to do with a job's outputs. First the output rule of
 * `checkOutputFiles` (a regular file or nothing; its directory exists and is writable; not
 * an input; not a file that belongs to a run directory or to another kind of job, which
 * `overwrite` never replaces). Then:
 * - `"done"`: the manifest matches `want`, lists exactly the job's outputs and every output
 *   verifies: skip the work. A commit of this same job that was killed between renaming its
 *   outputs and renaming its manifest is finished here (its manifest renamed into place) when
 *   the outputs verify against it;
 * - `"fresh"`: nothing there, or only this job's own interrupted commit, or `overwrite` is
 *   set: do the work. Stale `*.tmp-*` files of these outputs that no live writer holds are
 *   removed and named through `onLog`.
 *
 * @param outputs The job's outputs.
 * @param want What the run would record in its manifest.
 * @param options {@linkcode CheckOutputsOptions}.
 * @returns The state.
 * @throws {UsageError} When an output or manifest exists from another run (naming the
 * difference), without a manifest, or with a manifest that does not list exactly the job's
 * outputs, and `overwrite` is not set; when the output rule refuses an output.
 *
 * @example Usage
 * ```ts ignore
 * if (await checkOutputs(outputs, key, { overwrite: false }) === "done") return;
 * ```
 */
export async function checkOutputs(
  outputs: string[],
  want: ManifestKey,
  options: CheckOutputsOptions,
): Promise<OutputState> {
  const mpath = options.manifest ?? manifestPath(outputs[0]!);
  const flag = options.flag ?? "--out";
  await checkOutputFiles(
    [...outputs, mpath].map((path) => ({ flag, path })),
    options.inputs ?? [],
    { writer: { command: "", job: { kind: want.kind, shard: want.shard } }, sweep: false },
  );
  const names = outputNames(outputs, mpath);
  const pending = await interruptedCommit(mpath, want, names);
  await removeStaleOutputTemps([...outputs, mpath], options);
  if (await exists(mpath)) {
    const stored = await readManifest(mpath).catch((e) => {
      if (options.overwrite) return undefined;
      throw new UsageError(`${e.message} (use --overwrite to replace it)`);
    });
    if (stored === undefined) return "fresh";
    const diff = manifestDifference(stored, want);
    if (diff === undefined) {
      const listed = stored.outputs.map((o) => o.name);
      if (!sameNames(listed, names)) {
        if (options.overwrite) return "fresh";
        throw new UsageError(
          `Refusing to trust ${mpath}: it lists ${
            listed.join(", ") || "no output"
          }, not this job's ${names.join(", ")} (use --overwrite to redo it)`,
        );
      }
      const bad = await verifyOutputs(mpath, stored);
      if (bad === undefined) return "done";
      if (options.overwrite) return "fresh";
      throw new UsageError(
        `Refusing to replace the outputs of ${mpath}: ${bad} (use --overwrite to redo it)`,
      );
    }
    if (options.overwrite) return "fresh";
    throw new UsageError(
      `Refusing to replace the outputs of another run (${mpath}: ${diff}); use --overwrite to replace them`,
    );
  }
  if (pending) {
    if (await verifyOutputs(mpath, pending.manifest) === undefined) {
      await writeFileAtomic(mpath, pending.bytes);
      options.onLog?.(`finished the interrupted commit of ${mpath} (its outputs verify)`);
      return "done";
    }
    options.onLog?.(`redoing the interrupted commit of ${mpath}`);
    return "fresh";
  }
  for (const out of outputs) {
    if (await exists(out) && !options.overwrite) {
      throw new UsageError(
        `Refusing to replace ${out}, which has no manifest ${mpath}; use --overwrite to replace it`,
      );
    }
  }
  return "fresh";
}

/**
 * One output of {@linkcode commitOutputs}: its final path and its writer.
 *
 * @example Usage
 * ```ts ignore
 * const out: PendingOutput = { path: "parts/part-0-of-4.npy", write: (p) => writeNpy(p, c, [k, d]) };
 * ```
 */
export interface PendingOutput {
  /** Final path. */
  path: string;
  /**
   * Writes the complete content to the given path (the final one) through the atomic writer
   * (`writeFileAtomic`, or a writer built on it such as `writeNpy` or `writeArrowLabels`), which
   * joins the commit's batch: the bytes go to one temporary file, hashed as they are written.
   */
  write: (path: string) => Promise<void>;
}

/**
 * Writes every output, then the manifest, in one `atomicWrites` batch: each output goes to one
 * temporary file beside it, its size and sha256 counted as its bytes are written, and the
 * files are renamed into place in order, the manifest last. A failure or kill before the
 * renames leaves only `*.tmp-*` files (removed at once, or by the next run's sweep); a manifest
 * is only ever present beside complete outputs.
 *
 * @param outputs The outputs, in order; the manifest goes beside the first unless
 * `options.manifest` names it (outputs are recorded by their path relative to it).
 * @param key What decides whether a rerun may skip the work.
 * @param info Informational fields (rows, objective); `written` (the time) is added.
 * @param options `manifest`: the manifest's path.
 * @returns The manifest written.
 * @throws {Error} When a writer does not write exactly its own path through the atomic
 * writer (nothing is committed then).
 *
 * @example Usage
 * ```ts
 * import { commitOutputs } from "./commit.ts";
 * import { writeFileAtomic } from "../fs/atomic.ts";
 * const dir = await Deno.makeTempDir();
 * const m = await commitOutputs(
 *   [{ path: `${dir}/part-0-of-1.npy`, write: (p) => writeFileAtomic(p, new Uint8Array(4)) }],
 *   { kind: "example", shard: { index: 0, count: 1 }, inputs: [], params: {} },
 *   {},
 * );
 * console.log(m.outputs[0]!.size); // 4
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function commitOutputs(
  outputs: PendingOutput[],
  key: ManifestKey,
  info: { [key: string]: Json },
  options: { manifest?: string } = {},
): Promise<Manifest> {
  const mpath = options.manifest ?? manifestPath(outputs[0]!.path);
  return await atomicWrites(async (batch) => {
    const recorded: ManifestOutput[] = [];
    for (const o of outputs) {
      const before = batch.files.length;
      await o.write(o.path);
      const staged = batch.files.slice(before);
      if (staged.length !== 1 || staged[0]!.path !== o.path) {
        throw new Error(
          `Expected the writer of ${o.path} to write that file through writeFileAtomic but it wrote ${
            staged.map((s) => s.path).join(", ") || "nothing"
          }`,
        );
      }
      recorded.push({
        name: relative(dirname(mpath), o.path),
        size: staged[0]!.size,
        sha256: staged[0]!.sha256,
      });
    }
    const manifest: Manifest = {
      format: "mlcd-manifest",
      kind: key.kind,
      toolkit: TOOLKIT_VERSION,
      shard: key.shard,
      inputs: key.inputs,
      params: key.params,
      outputs: recorded,
      info: { ...info, written: new Date().toISOString() },
    };
    // Staged last, so renamed last.
    await writeFileAtomic(
      mpath,
      new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n"),
    );
    return manifest;
  }, { digest: true });
}
