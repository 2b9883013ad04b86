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
  checkFileFrame(bytes, name);
  try {
    return tableFromIPC(bytes);
  } catch (cause) {
    const cut = /^Expected to read (\d+) bytes for message \w+, but only read (\d+)/.exec(
      (cause as Error)?.message ?? "",
    );
    if (cut) {
      throw new RangeError(
        `Expected ${name} to be a complete Arrow IPC stream but found it truncated (a message needs ${
          cut[1]
        } bytes and ${cut[2]} remain)`,
        { cause },
      );
    }
    throw new RangeError(
      `Expected ${name} to be an Arrow IPC file or stream but could not parse it: ${
        (cause as Error)?.message ?? cause
      }`,
      { cause },
    );
  }
}

const MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"

function magicAt(bytes: Uint8Array, at: number): boolean {
  return at >= 0 && at + 6 <= bytes.length && MAGIC.every((b, i) => bytes[at + i] === b);
}

/**
 * The IPC file format's frame: `ARROW1`, padding, the stream, the footer, its int32 length and
 * `ARROW1` again at the very end. The reader finds the footer from the end, so a truncated file
 * or one with bytes appended has no footer where it looks, and apache-arrow fails on a null
 * pointer: check the frame first and say which it is. (Streams need no check: they are read from
 * the start and end at their end-of-stream marker.)
 */
function checkFileFrame(bytes: Uint8Array, name: string): void {
  if (!magicAt(bytes, 0)) return; // a stream
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // A footer ending at `end` (its length field at end - 4, the magic after it) fits the file.
  const footerEndsAt = (end: number) =>
    magicAt(bytes, end) && end - 4 >= 8 && view.getInt32(end - 4, true) > 0 &&
    view.getInt32(end - 4, true) <= end - 4 - 8;
  if (bytes.length >= 16 && footerEndsAt(bytes.length - 6)) return;
  for (let end = bytes.length - 7; end >= 12; end--) {
    if (footerEndsAt(end)) {
      throw new RangeError(
        `Expected ${name} to end with its Arrow IPC file footer but found ${
          bytes.length - end - 6
        } bytes after it`,
      );
    }
  }
  throw new RangeError(
    `Expected ${name} to be a complete Arrow IPC file but found it truncated (it does not end with the file footer and the ARROW1 magic)`,
  );
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
