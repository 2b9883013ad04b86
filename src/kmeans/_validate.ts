// Input checks shared by kmeans() and assignNearest().
import { checkFinite, checkMatrix, type Matrix } from "../matrix/matrix.ts";

/** Checks shape, finiteness and (when spherical) that no row is all zeros. */
export function checkInput(x: Matrix, name: string, spherical: boolean): void {
  checkMatrix(x, name);
  checkFinite(x, name);
  if (spherical) {
    const { data, rows, cols } = x;
    for (let r = 0; r < rows; r++) {
      let zero = true;
      for (let c = 0; c < cols && zero; c++) zero = data[r * cols + c] === 0;
      if (zero) {
        throw new RangeError(
          `Cannot L2-normalise ${name} for spherical k-means: row ${r} is all zeros`,
        );
      }
    }
  }
}

/** Throws a RangeError unless `v` is an integer in [lo, hi]. */
export function checkInt(name: string, v: unknown, lo: number, hi = Infinity): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    const range = hi === Infinity ? `≥ ${lo}` : `in [${lo}, ${hi}]`;
    throw new RangeError(`Expected ${name} to be an integer ${range} but found ${v}`);
  }
  return v;
}
