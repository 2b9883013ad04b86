import assert from "node:assert/strict";
import { checkRows } from "../src/matrix/matrix.ts";

Deno.test("checkRows() names the file and the row within it, also for rows gathered from several files", () => {
  const m = { data: new Float32Array([1, 2, 0, 0, 3, NaN]), rows: 3, cols: 2 };
  assert.throws(() => checkRows(m, "x.npy", { firstRow: 10 }), {
    name: "RangeError",
    message: "Expected finite values in x.npy but found NaN at row 12, column 1",
  });
  assert.throws(() => checkRows(m, "x.npy", { firstRow: 10, nonZero: "cosine similarity" }), {
    name: "RangeError",
    message: "Cannot L2-normalise x.npy for cosine similarity: row 11 is all zeros",
  });
  // A sample gathered from two files: row r of m is row 7 + r of b.npy.
  const where = (r: number) => ({ file: "b.npy", fileRow: 7 + r });
  assert.throws(() => checkRows(m, "sample", { nonZero: "cosine k-means", where }), {
    name: "RangeError",
    message: "Cannot L2-normalise b.npy for cosine k-means: row 8 is all zeros",
  });
  assert.throws(() => checkRows(m, "sample", { where }), {
    message: "Expected finite values in b.npy but found NaN at row 9, column 1",
  });
  checkRows({ data: new Float32Array([1, 0]), rows: 1, cols: 2 }, "ok", { nonZero: "cosine" });
});
