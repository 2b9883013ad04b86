/**
 * The files of the refinement jobs: each `cluster --refine --shard i/N` part writes
 * `part-<i>-of-<N>.npy` (int64 `k × d`: the exact fixed-point sums Σ round(x · 2^e) of each
 * center's members), `part-<i>-of-<N>.counts.npy` (uint32 `k`: the members) and its manifest
 * (the centers' sha256 in its parameters; the exponent `e`, rows and objective in its info);
 * `cluster --reduce` finds, checks and reads every part.
 *
 * @module
 */
import { basename } from "node:path";
import { writeFileAtomic } from "../fs/atomic.ts";
import { encodeNpyHeader, readNpyArray, readNpyFileHeader } from "../data/npy.ts";
import {
  type Manifest,
  manifestDifference,
  manifestPath,
  readManifest,
  verifyOutputs,
} from "./manifest.ts";
import { findPartFiles } from "./part_spec.ts";
import { UsageError } from "./usage_error.ts";

/** The manifest kind of a refinement part. */
export const REFINE_PART_KIND = "cluster-refine-part";

/**
 * A writer of `k × d` int64 sums as a `.npy` file (`<i8`, C order) through the atomic writer,
 * for `commitOutputs`.
 *
 * @param sums The sums, row-major.
 * @param shape `[k, d]`.
 * @returns The writer, given the final path.
 *
 * @example Usage
 * ```ts
 * import { readSumsNpy, sumsNpyWriter } from "./refine_parts.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await sumsNpyWriter(BigInt64Array.from([1n, -2n]), [1, 2])(path);
 * console.log(await readSumsNpy(path, [1, 2])); // BigInt64Array(2) [ 1n, -2n ]
 * await Deno.remove(path);
 * ```
 */
export function sumsNpyWriter(
  sums: BigInt64Array,
  shape: [number, number],
): (path: string) => Promise<void> {
  return (path) =>
    writeFileAtomic(path, async function* () {
      yield encodeNpyHeader("i8", shape);
      const per = 1 << 23; // 64 MiB
      for (let i = 0; i < sums.length; i += per) {
        const part = sums.subarray(i, Math.min(sums.length, i + per));
        yield new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
      }
    });
}

/**
 * Reads `k × d` int64 sums written by {@linkcode sumsNpyWriter}.
 *
 * @param path The `.npy` file.
 * @param shape The `[k, d]` expected.
 * @returns The sums, row-major.
 * @throws {UsageError} For another dtype or shape.
 *
 * @example Usage
 * ```ts ignore
 * const sums = await readSumsNpy("sums/part-0-of-8.npy", [1000, 512]);
 * ```
 */
export async function readSumsNpy(path: string, shape: [number, number]): Promise<BigInt64Array> {
  using file = await Deno.open(path);
  const h = await readNpyFileHeader(file, path);
  if (
    h.dtype !== "i8" || h.shape.length !== 2 || h.shape[0] !== shape[0] || h.shape[1] !== shape[1]
  ) {
    throw new UsageError(
      `Expected ${path} to hold ${shape[0]} × ${
        shape[1]
      } int64 sums but found ${h.dtype} of shape [${h.shape}]`,
    );
  }
  const out = new BigInt64Array(shape[0] * shape[1]);
  const bytes = new Uint8Array(out.buffer);
  await file.seek(h.dataOffset, Deno.SeekMode.Start);
  let at = 0;
  while (at < bytes.length) {
    const n = await file.read(bytes.subarray(at));
    if (n === null) throw new UsageError(`Expected ${path} to hold ${bytes.length} data bytes`);
    at += n;
  }
  return out;
}

/**
 * A checked refinement part, before its sums are read.
 *
 * @example Usage
 * ```ts ignore
 * const { parts } = await loadRefineParts(["sums/"]);
 * console.log(parts[0].file, parts[0].exponent, parts[0].rows);
 * ```
 */
export interface RefinePart {
  /** The sums file, `part-<i>-of-<N>.npy`. */
  file: string;
  /** The counts file, `part-<i>-of-<N>.counts.npy`. */
  countsFile: string;
  /** The part's manifest. */
  manifest: Manifest;
  /** The sums' fixed-point exponent. */
  exponent: number;
  /** The part's rows. */
  rows: number;
  /** The part's objective against the centers. */
  objective: number;
}

/**
 * Every part of a refinement pass, found in `dirs` and checked: all N parts there once, each
 * complete (sums, counts, manifest; the files match their recorded sha256), made from the same
 * inputs with the same parameters, for the same centers (sha256), by this toolkit version.
 *
 * @param dirs Directories holding the parts (`--reduce DIR`, repeatable).
 * @returns The parts in order, and `centers`: the sha256 they were made for and the path the
 * first part read them from.
 * @throws {UsageError} Naming the missing, duplicated, incomplete or mismatched part.
 *
 * @example Usage
 * ```ts ignore
 * const { parts, centers } = await loadRefineParts(["runs/a/sums-1"]);
 * ```
 */
export async function loadRefineParts(
  dirs: string[],
): Promise<{ parts: RefinePart[]; centers: { sha256: string; path: string } }> {
  const files = findPartFiles(dirs, "--reduce", "refinement parts");
  const count = files.length;
  const parts: RefinePart[] = [];
  for (let i = 0; i < count; i++) {
    const file = files[i]!;
    const countsFile = file.replace(/\.npy$/, ".counts.npy");
    const mpath = manifestPath(file);
    let manifest: Manifest;
    try {
      manifest = await readManifest(mpath);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new UsageError(`Missing ${mpath} (part ${i} of ${count} is incomplete)`);
      }
      throw new UsageError(`Mismatched part ${file}: ${(e as Error).message}`);
    }
    if (
      manifest.kind !== REFINE_PART_KIND || manifest.shard?.index !== i ||
      manifest.shard?.count !== count
    ) {
      throw new UsageError(
        `Mismatched part ${file}: its manifest ${mpath} describes ${manifest.kind} ${
          JSON.stringify(manifest.shard)
        }, not refinement part ${i} of ${count}`,
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
    const first = parts[0]?.manifest ?? manifest;
    const diff = manifestDifference(manifest, { ...first, shard: manifest.shard });
    if (diff !== undefined) {
      const what = diff.startsWith("parameter centers ") ? "it was made for other centers" : diff;
      throw new UsageError(
        `Mismatched part ${file}: ${what}${
          parts.length ? ` (compared with ${parts[0]!.file})` : ""
        }`,
      );
    }
    const { exponent, rows, objective } = manifest.info;
    if (![exponent, rows, objective].every((v) => typeof v === "number")) {
      throw new UsageError(
        `Mismatched part ${file}: its manifest lacks the exponent, rows or objective`,
      );
    }
    parts.push({
      file,
      countsFile,
      manifest,
      exponent: exponent as number,
      rows: rows as number,
      objective: objective as number,
    });
  }
  const m = parts[0]!.manifest;
  return {
    parts,
    centers: { sha256: String(m.params.centers), path: String(m.info.centersPath) },
  };
}

/**
 * Reads one part's counts (uint32 `k`), checked.
 *
 * @param part The part.
 * @param options `k`: the number of centers.
 * @returns The counts.
 *
 * @example Usage
 * ```ts ignore
 * const counts = await readRefineCounts(parts[0], { k: 1000 });
 * ```
 */
export async function readRefineCounts(
  part: RefinePart,
  options: { k: number },
): Promise<Uint32Array> {
  const { k } = options;
  const a = await readNpyArray(part.countsFile);
  if (!(a.data instanceof Uint32Array) || a.shape.length !== 1 || a.shape[0] !== k) {
    throw new UsageError(`Expected ${part.countsFile} to hold ${k} uint32 counts`);
  }
  return a.data;
}
