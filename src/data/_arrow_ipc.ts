// Private to src/data: the one import of `apache-arrow` (npm) and the table helpers that the
// embedding and label readers and writers share: parsing IPC bytes, naming the columns in error
// messages, and building a non-null FixedSizeList vector. The Parquet modules (parquet-wasm
// hands row groups over as Arrow IPC) use the whole namespace, `arrow`.

import {
  type Data,
  type DataType,
  Field,
  FixedSizeList,
  Float16,
  Float32,
  Int32,
  Int64,
  makeData,
  makeVector,
  Precision,
  Table,
  tableFromIPC,
  tableToIPC,
  Type,
  Uint32,
  Utf8,
  type Vector,
  vectorFromArray,
} from "npm:apache-arrow@21.2.0";

export {
  type Data,
  type DataType,
  FixedSizeList,
  Float16,
  Float32,
  Int32,
  Int64,
  makeData,
  makeVector,
  Precision,
  Table,
  tableToIPC,
  Type,
  Uint32,
  Utf8,
  type Vector,
  vectorFromArray,
};

/** apache-arrow as one namespace, for the Parquet modules (parquet_file.ts and the rest). */
export * as arrow from "npm:apache-arrow@21.2.0";

/** An Arrow type as its error messages print it (`List<Float32>`). */
export function typeName(t: DataType): string {
  return String(t);
}

/** Parses Arrow IPC bytes (file or stream), naming `name` in a RangeError when it cannot. */
export function parseTable(bytes: Uint8Array, name: string): Table {
  if (bytes.length === 0) {
    throw new RangeError(
      `Expected ${name} to be an Arrow IPC file or stream but found an empty file`,
    );
  }
  try {
    return tableFromIPC(bytes);
  } catch (cause) {
    throw new RangeError(
      `Expected ${name} to be an Arrow IPC file or stream but could not parse it: ${
        (cause as Error)?.message ?? cause
      }`,
      { cause },
    );
  }
}

/** The columns of a table with their types, for error messages. */
export function columnsOf(table: Table): string {
  const fields = table.schema.fields;
  return fields.length === 0
    ? "none"
    : fields.map((f) => `${f.name} (${typeName(f.type)})`).join(", ");
}

/** A non-null `FixedSizeList<type>[size]` vector of `rows` lists over `values`. */
export function fixedList(
  type: Float32 | Float16 | Uint32,
  values: Float32Array | Uint16Array | Uint32Array,
  rows: number,
  size: number,
): Vector {
  const listType = new FixedSizeList(size, new Field("item", type, false));
  const child = makeData({ type, length: rows * size, nullCount: 0, data: values } as never);
  return makeVector(
    makeData({ type: listType, length: rows, nullCount: 0, child } as never) as Data,
  );
}
