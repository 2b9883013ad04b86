/**
 * Reading and writing NumPy `.npy` files (format versions 1, 2 and 3, little-endian, C order),
 * the format of clip-retrieval's `img_emb_*.npy` embedding files. The one entry for the
 * format, by job: whole files (`npy_read.ts`), headers and row ranges of files larger
 * than memory (`npy_rows.ts`), writing (`npy_write.ts`); the byte format itself
 * is private (`_npy_format.ts`).
 *
 * @module
 */

export type { NpyData, NpyDtype, NpyHeader } from "./_npy_format.ts";
export { decodeNpy, decodeNpyMatrix, type NpyArray, readNpy, readNpyArray } from "./npy_read.ts";
export { npyMatrixShape, readNpyFileHeader, readNpyHeader, readNpyRows } from "./npy_rows.ts";
export { encodeNpy, encodeNpyHeader, type EncodeNpyOptions, writeNpy } from "./npy_write.ts";
