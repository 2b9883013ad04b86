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
import { basename, dirname, join } from "node:path";
import { atomicWrites, removeStaleTemps, writeFileAtomic } from "../data/atomic.ts";
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
 * Decides, before any work, what to do with a job's outputs:
 * - `"done"`: the manifest matches `want` and every output verifies: skip the work;
 * - `"fresh"`: nothing there (stale `*.tmp-*` files of these outputs that no live writer
 *   holds are removed and named through `onLog`), or `overwrite` is set: do the work.
 *
 * @param outputs The job's outputs; the manifest is beside the first.
 * @param want What the run would record in its manifest.
 * @param options `overwrite`: replace another run's outputs; `onLog`: progress lines.
 * @returns The state.
 * @throws {UsageError} When an output or manifest exists from another run (naming the
 * difference) or without a manifest, and `overwrite` is not set; when an output is a
 * directory or its directory does not exist.
 *
 * @example Usage
 * ```ts ignore
 * if (await checkOutputs(outputs, key, { overwrite: false }) === "done") return;
 * ```
 */
export async function checkOutputs(
  outputs: string[],
  want: ManifestKey,
  options: { overwrite: boolean; onLog?: (line: string) => void },
): Promise<OutputState> {
  const mpath = manifestPath(outputs[0]!);
  for (const out of [...outputs, mpath]) {
    const dir = dirname(out);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(dir);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new UsageError(`Expected the output directory ${dir} to exist but found none`);
      }
      throw e;
    }
    if (!info.isDirectory) {
      throw new UsageError(`Expected ${dir} to be a directory but found a file`);
    }
    try {
      if ((await Deno.stat(out)).isDirectory) {
        throw new UsageError(`Expected ${out} to be a file but found a directory`);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  for (const out of [...outputs, mpath]) {
    const dir = dirname(out), name = basename(out);
    for (const stale of await removeStaleTemps(dir, (n) => n === name)) {
      options.onLog?.(
        `removed stale temporary file ${join(dir, basename(stale))} (left by an interrupted run)`,
      );
    }
  }
  if (await exists(mpath)) {
    const stored = await readManifest(mpath).catch((e) => {
      if (options.overwrite) return undefined;
      throw new UsageError(`${e.message} (use --overwrite to replace it)`);
    });
    if (stored === undefined) return "fresh";
    const diff = manifestDifference(stored, want);
    if (diff === undefined) {
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
 * @param outputs The outputs, in order; the manifest goes beside the first.
 * @param key What decides whether a rerun may skip the work.
 * @param info Informational fields (rows, objective); `written` (the time) is added.
 * @returns The manifest written.
 * @throws {Error} When a writer does not write exactly its own path through the atomic
 * writer (nothing is committed then).
 *
 * @example Usage
 * ```ts
 * import { commitOutputs } from "./commit.ts";
 * import { writeFileAtomic } from "../data/atomic.ts";
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
): Promise<Manifest> {
  const mpath = manifestPath(outputs[0]!.path);
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
      recorded.push({ name: basename(o.path), size: staged[0]!.size, sha256: staged[0]!.sha256 });
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
