// Private: an Arrow list-of-float column (List, LargeList or FixedSizeList of Float16, Float32
// or Float64) copied into float32 rows, with nulls and ragged lengths refused by row.
import { arrow } from "./_arrow_ipc.ts";
import { float16ToFloat32 } from "./float16.ts";
import type { ArrowTable, ParquetColumn } from "./parquet_file.ts";

type ArrowField = arrow.Field;
type ArrowData = arrow.Data;

/** The element type of a list-of-float field, or undefined when it is something else. */
export function floatListDtype(field: ArrowField): "f2" | "f4" | "f8" | undefined {
  const t = field.type;
  if (
    !arrow.DataType.isList(t) && !arrow.DataType.isFixedSizeList(t) &&
    t.typeId !== arrow.Type.LargeList
  ) return undefined;
  const child = t.children?.[0]?.type;
  if (!child || !arrow.DataType.isFloat(child)) return undefined;
  const p = (child as arrow.Float).precision;
  return p === arrow.Precision.HALF ? "f2" : p === arrow.Precision.SINGLE ? "f4" : "f8";
}

/**
 * The embedding column of a file: `name` when given (it must be a list of floats), else the
 * first list-of-float column.
 */
export function pickListColumn(
  path: string,
  fields: readonly ArrowField[],
  columns: readonly ParquetColumn[],
  name: string | undefined,
): { field: ArrowField; dtype: "f2" | "f4" | "f8" } {
  const list = columns.map((c) => `${c.name} (${c.type})`).join(", ");
  if (name !== undefined) {
    const field = fields.find((f) => f.name === name);
    if (!field) {
      throw new TypeError(`Expected ${path} to have a column "${name}" but found ${list}`);
    }
    const dtype = floatListDtype(field);
    if (!dtype) {
      throw new TypeError(
        `Expected column "${name}" of ${path} to be a list of float16/float32 but found ${field.type}`,
      );
    }
    return { field, dtype };
  }
  for (const field of fields) {
    const dtype = floatListDtype(field);
    if (dtype) return { field, dtype };
  }
  throw new TypeError(`Expected ${path} to have a list-of-float column but found ${list}`);
}

/** The fixed list size of a field, or undefined for a variable-size list. */
export function fixedListSize(field: ArrowField): number | undefined {
  return arrow.DataType.isFixedSizeList(field.type) ? field.type.listSize : undefined;
}

function isNull(d: ArrowData, i: number): boolean {
  if (!d.nullCount || !d.nullBitmap) return false;
  const bit = d.offset + i;
  return (d.nullBitmap[bit >> 3]! & (1 << (bit & 7))) === 0;
}

/**
 * Copies rows `[from, to)` of a table's list column into `out` (row `from` lands at row
 * `outRow`). Every row must be non-null with `cols` finite-or-not float values, none null.
 *
 * @param where Names the rows in errors: `(i) => "<file> row <n>"`.
 */
export function copyListRows(
  table: ArrowTable,
  name: string,
  cols: number,
  from: number,
  to: number,
  out: Float32Array,
  outRow: number,
  where: (row: number) => string,
): void {
  const vector = table.getChild(name);
  if (!vector) throw new TypeError(`Expected a column "${name}" in ${where(0)}`);
  let base = 0; // table row of this chunk's first row
  for (const d of vector.data) {
    const lo = Math.max(from, base), hi = Math.min(to, base + d.length);
    if (hi > lo) {
      copyChunk(d, lo - base, hi - base, cols, out, outRow + lo - from, (i) => where(base + i));
    }
    base += d.length;
  }
}

function copyChunk(
  d: ArrowData,
  from: number,
  to: number,
  cols: number,
  out: Float32Array,
  outRow: number,
  where: (row: number) => string,
): void {
  const child = d.children[0]!;
  const fixed = arrow.DataType.isFixedSizeList(d.type);
  const offsets = fixed ? undefined : (d.valueOffsets as Int32Array | BigInt64Array);
  for (let i = from; i < to; i++) {
    if (isNull(d, i)) {
      throw new RangeError(`Expected an embedding in ${where(i)} but found null`);
    }
    let start: number, len: number;
    if (offsets) {
      start = Number(offsets[d.offset + i]!);
      len = Number(offsets[d.offset + i + 1]!) - start;
    } else {
      len = (d.type as arrow.FixedSizeList).listSize;
      start = (d.offset + i) * len;
    }
    if (len !== cols) {
      throw new RangeError(
        `Expected ${cols} values in ${
          where(i)
        } (as in the rows before) but found ${len}: ragged list column`,
      );
    }
    if (child.nullCount) {
      for (let j = 0; j < len; j++) {
        if (isNull(child, start + j)) {
          throw new RangeError(`Expected no null values in ${where(i)} but found one at ${j}`);
        }
      }
    }
    const at = child.offset + start;
    const dest = out.subarray((outRow + i - from) * cols, (outRow + i - from + 1) * cols);
    const values = child.values as Float32Array | Float64Array | Uint16Array;
    if (values instanceof Uint16Array) float16ToFloat32(values.subarray(at, at + len), dest);
    else dest.set(values.subarray(at, at + len));
  }
}

/** The list length of a table's first row of the column (for a variable-size column). */
export function firstListLength(table: ArrowTable, name: string, where: string): number {
  const d = table.getChild(name)?.data[0];
  if (!d || d.length === 0) return 0;
  if (isNull(d, 0)) throw new RangeError(`Expected an embedding in ${where} but found null`);
  if (arrow.DataType.isFixedSizeList(d.type)) return d.type.listSize;
  const offsets = d.valueOffsets as Int32Array | BigInt64Array;
  return Number(offsets[d.offset + 1]!) - Number(offsets[d.offset]!);
}
