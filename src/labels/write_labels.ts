import { loadParquet } from "../data/load_parquet.ts";
import { writeNpy } from "../data/npy.ts";
import { atomicWrites } from "../data/atomic.ts";
import { loadArrow } from "../data/load_arrow.ts";

/** Labels and scores to write with {@linkcode writeLabels}. */
export interface LabelsTable {
  /** `rows × l` center indices, row-major (as `assignLabels` returns them). */
  indices: Uint32Array;
  /** `rows × l` similarities. */
  scores: Float32Array;
  /** Labels per row. */
  l: number;
  /**
   * Optional row identifiers (Arrow and Parquet output), written as column `id`; sample keys
   * (strings) go to Parquet's `key` column.
   */
  ids?: BigInt64Array | Int32Array | string[];
}

/**
 * Path of the scores file written beside a `.npy` labels file: `labels.npy` →
 * `labels.scores.npy`.
 *
 * @param path The labels path (ending in `.npy`).
 * @returns The scores path.
 *
 * @example Usage
 * ```ts
 * import { scoresPath } from "./write_labels.ts";
 * console.log(scoresPath("out/labels.npy")); // out/labels.scores.npy
 * ```
 */
export function scoresPath(path: string): string {
  return path.replace(/\.npy$/i, "") + ".scores.npy";
}

/**
 * Writes multi-label assignments atomically: `.npy` gives a uint32 `rows × l` labels file
 * plus float32 scores in {@linkcode scoresPath} (both or neither are left); `.parquet` gives
 * `key` (or `id`), `labels: list<uint32>` and `scores: list<float32>`, zstd-compressed (what
 * DuckDB, pandas and Spark open); `.arrow`,
 * `.feather` or `.ipc` give one Arrow IPC file with columns
 * `labels: FixedSizeList<UInt32>[l]`, `scores: FixedSizeList<Float32>[l]` and optional `id`.
 *
 * @param path Output path.
 * @param table Labels, scores, `l` and optional ids.
 *
 * @example Usage
 * ```ts ignore
 * await writeLabels("labels.arrow", { indices, scores, l: 8 });
 * ```
 */
export async function writeLabels(path: string, table: LabelsTable): Promise<void> {
  const { indices: labels, scores, l } = table;
  if (labels.length !== scores.length || labels.length % l !== 0) {
    throw new TypeError(
      `Expected indices and scores of rows × l values but found ${labels.length} and ${scores.length} for l = ${l}`,
    );
  }
  const rows = labels.length / l;
  if (/\.npy$/i.test(path)) {
    await atomicWrites(async () => {
      await writeNpy(scoresPath(path), scores, [rows, l]);
      await writeNpy(path, labels, [rows, l]);
    });
  } else if (/\.parquet$/i.test(path)) {
    // Loaded here only: Parquet is not part of the npm-free core.
    const { writeParquetLabels } = await loadParquet();
    const ids = table.ids;
    await writeParquetLabels(
      path,
      Array.isArray(ids)
        ? { indices: labels, scores, l, keys: ids }
        : ids
        ? { indices: labels, scores, l, ids }
        : { indices: labels, scores, l },
    );
  } else if (/\.(arrow|feather|ipc)$/i.test(path)) {
    const { writeArrowLabels } = await loadArrow();
    await writeArrowLabels(
      path,
      table.ids ? { indices: labels, scores, l, ids: table.ids } : { indices: labels, scores, l },
    );
  } else {
    throw new RangeError(
      `Expected the output path to end in .npy, .parquet, .arrow, .feather or .ipc but found ${path}`,
    );
  }
}
