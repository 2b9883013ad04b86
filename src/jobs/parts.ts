/**
 * The parts a merge reads: every `part-<i>-of-<N>.npy` of a `cluster --shard` job with its
 * `.counts.npy` and manifest, found, checked against one another and read.
 *
 * @module
 */
import { basename } from "node:path";
import { readNpyArray } from "../data/npy.ts";
import type { Matrix } from "../matrix/matrix.ts";
import {
  type Manifest,
  manifestDifference,
  manifestPath,
  readManifest,
  verifyOutputs,
} from "./manifest.ts";
import { findPartFiles } from "./part_spec.ts";
import { UsageError } from "./usage_error.ts";

/**
 * A validated part of a merge: its files, manifest, centroids and counts.
 *
 * @example Usage
 * ```ts ignore
 * const [first]: LoadedPart[] = await loadParts(["parts/"]);
 * console.log(first.file, first.centroids.rows, first.counts.length);
 * ```
 */
export interface LoadedPart {
  /** The centroids file, `part-<i>-of-<N>.npy`. */
  file: string;
  /** The member counts file, `part-<i>-of-<N>.counts.npy`. */
  countsFile: string;
  /** The part's manifest. */
  manifest: Manifest;
  /** The part's centroids. */
  centroids: Matrix;
  /** Each centroid's member count. */
  counts: Uint32Array;
}

/**
 * Finds, validates and reads every part in `dirs`, in part order. Every part of one count N
 * must be there once, complete (centroids, counts and manifest, whose recorded sha256 the files
 * match), and made by the same run (same inputs, parameters and toolkit version).
 *
 * @param dirs Directories holding the parts (`--merge DIR`, repeatable).
 * @returns The parts, from 0 to N - 1.
 * @throws {UsageError} Naming the missing, duplicated, incomplete or mismatched part.
 *
 * @example Usage
 * ```ts ignore
 * const parts = await loadParts(["runs/laion/parts"]);
 * const { centroids } = await mergeCentroids(gpu, parts, { k: 1000 });
 * ```
 */
export async function loadParts(dirs: string[]): Promise<LoadedPart[]> {
  const files = findPartFiles(dirs, "--merge", "parts");
  const count = files.length;
  const parts: LoadedPart[] = [];
  let first: LoadedPart | undefined;
  for (let i = 0; i < count; i++) {
    const file = files[i]!;
    const base = file.replace(/\.npy$/, "");
    const countsFile = `${base}.counts.npy`;
    const mpath = manifestPath(file);
    for (const needed of [countsFile, mpath]) {
      try {
        await Deno.stat(needed);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new UsageError(`Missing ${needed} (part ${i} of ${count} is incomplete)`);
        }
        throw e;
      }
    }
    let manifest: Manifest;
    try {
      manifest = await readManifest(mpath);
    } catch (e) {
      throw new UsageError(`Mismatched part ${file}: ${(e as Error).message}`);
    }
    if (
      manifest.kind !== "cluster-part" || manifest.shard?.index !== i ||
      manifest.shard?.count !== count
    ) {
      throw new UsageError(
        `Mismatched part ${file}: its manifest ${mpath} describes ${manifest.kind} ${
          JSON.stringify(manifest.shard)
        }, not part ${i} of ${count}`,
      );
    }
    const names = manifest.outputs.map((o) => o.name);
    if (!names.includes(basename(file)) || !names.includes(basename(countsFile))) {
      throw new UsageError(
        `Mismatched part ${file}: its manifest ${mpath} lists ${names.join(", ")}`,
      );
    }
    const bad = await verifyOutputs(mpath, manifest);
    if (bad !== undefined) throw new UsageError(`Mismatched part ${file}: ${bad}`);
    const c = await readNpyArray(file);
    const n = await readNpyArray(countsFile);
    if (!(c.data instanceof Float32Array) || c.shape.length !== 2) {
      throw new UsageError(`Mismatched part ${file}: expected a float32 matrix of centroids`);
    }
    if (!(n.data instanceof Uint32Array) || n.shape.length !== 1 || n.shape[0] !== c.shape[0]) {
      throw new UsageError(
        `Mismatched part ${countsFile}: expected ${c.shape[0]} uint32 counts (one per centroid)`,
      );
    }
    const loaded: LoadedPart = {
      file,
      countsFile,
      manifest,
      centroids: { data: c.data, rows: c.shape[0]!, cols: c.shape[1]! },
      counts: n.data,
    };
    if (first) {
      if (loaded.centroids.cols !== first.centroids.cols) {
        throw new UsageError(
          `Mismatched part ${file}: ${loaded.centroids.cols} columns, but ${first.file} has ${first.centroids.cols}`,
        );
      }
      const diff = manifestDifference(manifest, { ...first.manifest, shard: manifest.shard });
      if (diff !== undefined) {
        throw new UsageError(`Mismatched part ${file}: ${diff} (compared with ${first.file})`);
      }
    } else {
      // The parts were made by this toolkit version (same check as a rerun's).
      const diff = manifestDifference(manifest, manifest);
      if (diff !== undefined) throw new UsageError(`Mismatched part ${file}: ${diff}`);
      first = loaded;
    }
    parts.push(loaded);
  }
  return parts;
}
