// Private: the shape of every embedding file (npy header, or Arrow scanned without
// converting), shared by shards.ts and row_source.ts.
import { scanArrowEmbeddings } from "./arrow.ts";
import { npyMatrixShape, readNpyFileHeader } from "./npy.ts";

/** Whether a file starts with the npy magic string. */
export async function isNpy(path: string): Promise<boolean> {
  using file = await Deno.open(path);
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

export interface Shard {
  file: string;
  npy: boolean;
  rows: number;
  cols: number;
}

/** Reads each file's shape (npy: header only; Arrow: parsed but not converted). */
export async function planShards(files: string[], column: string | undefined): Promise<Shard[]> {
  const shards: Shard[] = [];
  for (const file of files) {
    if (await isNpy(file)) {
      using handle = await Deno.open(file);
      const header = await readNpyFileHeader(handle, file);
      shards.push({ file, npy: true, ...npyMatrixShape(header, file) });
    } else {
      const options = column === undefined ? {} : { column };
      shards.push({
        file,
        npy: false,
        ...scanArrowEmbeddings(await Deno.readFile(file), options, file),
      });
    }
    const first = shards[0]!, last = shards[shards.length - 1]!;
    if (last.cols !== first.cols) {
      throw new RangeError(
        `Expected every embedding file to have ${first.cols} columns (as ${first.file}) but found ${last.cols} in ${last.file}`,
      );
    }
  }
  return shards;
}
