// Private: the shape of every embedding file (npy header, or Arrow scanned without
// converting), shared by shards.ts and row_source.ts.
import { npyMatrixShape, readNpyFileHeader } from "./npy.ts";

/**
 * How to read a file: by its extension (`.npy`; `.arrow`, `.feather`, `.ipc`), else by its
 * first bytes (the npy magic string, else Arrow). An empty file is refused by name.
 */
export async function isNpy(path: string): Promise<boolean> {
  using file = await Deno.open(path);
  const size = (await file.stat()).size;
  if (size === 0) {
    throw new RangeError(`Expected ${path} to hold embeddings but found an empty file (0 bytes)`);
  }
  const lower = path.toLowerCase();
  if (lower.endsWith(".npy")) return true;
  if ([".arrow", ".feather", ".ipc"].some((ext) => lower.endsWith(ext))) return false;
  const head = new Uint8Array(6);
  let got = 0;
  while (got < 6) {
    const n = await file.read(head.subarray(got));
    if (n === null) break;
    got += n;
  }
  return got === 6 && head[0] === 0x93 && head[1] === 0x4e && head[2] === 0x55 &&
    head[3] === 0x4d && head[4] === 0x50 && head[5] === 0x59;
}

/** A Parquet file (embeddings in a list column), by its extension. */
export function isParquet(path: string): boolean {
  return /\.parquet$/i.test(path);
}

/** The Parquet library, loaded only for Parquet input (it is not part of the npm-free core). */
export function parquetLib(): Promise<typeof import("../parquet/mod.ts")> {
  return import("../parquet/mod.ts");
}

export interface Shard {
  file: string;
  npy: boolean;
  /** A Parquet file (rows from a list column). */
  parquet?: boolean;
  rows: number;
  cols: number;
  /** The npy or Parquet dtype (`f2`, `f4`, `f8`), or `arrow`. */
  dtype: string;
}

/** Reads each file's shape (npy: header only; Arrow: parsed but not converted). */
export async function planShards(files: string[], column: string | undefined): Promise<Shard[]> {
  const shards: Shard[] = [];
  for (const file of files) {
    if (isParquet(file)) {
      const options = column === undefined ? {} : { column };
      const s = await (await parquetLib()).parquetEmbeddingShape(file, options);
      shards.push({ file, npy: false, parquet: true, dtype: s.dtype, rows: s.rows, cols: s.cols });
    } else if (await isNpy(file)) {
      using handle = await Deno.open(file);
      const header = await readNpyFileHeader(handle, file);
      shards.push({ file, npy: true, dtype: header.dtype, ...npyMatrixShape(header, file) });
    } else {
      const options = column === undefined ? {} : { column };
      shards.push({
        file,
        npy: false,
        dtype: "arrow",
        ...(await import("./arrow.ts")).scanArrowEmbeddings(
          await Deno.readFile(file),
          options,
          file,
        ),
      });
    }
    const first = shards[0]!, last = shards[shards.length - 1]!;
    if (last.cols !== first.cols) {
      throw new TypeError(
        `Expected every embedding file to have ${first.cols} columns (as ${first.file}) but found ${last.cols} in ${last.file}`,
      );
    }
  }
  return shards;
}
