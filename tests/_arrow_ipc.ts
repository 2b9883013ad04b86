// Test helper: a minimal Arrow IPC *file* reader written from the format's specification
// (format/File.fbs, Message.fbs, Schema.fbs and the columnar layout), with its own FlatBuffers
// decoding: an implementation independent of apache-arrow, which the toolkit itself uses, to
// read what the toolkit writes. It knows what label files hold: Int, FloatingPoint, Utf8 and
// FixedSizeList columns, uncompressed, no dictionaries.

/** One column as read: a flat array of values, and `listSize` for a FixedSizeList. */
export interface IpcColumn {
  name: string;
  /** e.g. "uint32", "int64", "float32", "utf8", "fixed_size_list<uint32>[2]". */
  type: string;
  values: Uint32Array | Int32Array | BigInt64Array | Float32Array | Float64Array | string[];
  listSize?: number;
}

/** FlatBuffers tables over one byte array (little-endian; offsets as the spec defines them). */
class Fb {
  readonly v: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** The root table of a buffer starting at `at`. */
  root(at: number): number {
    return at + this.v.getUint32(at, true);
  }
  /** Offset of field `i` inside `table`, or 0 when absent. */
  field(table: number, i: number): number {
    const vt = table - this.v.getInt32(table, true);
    const vtSize = this.v.getUint16(vt, true);
    return 4 + 2 * i < vtSize ? this.v.getUint16(vt + 4 + 2 * i, true) : 0;
  }
  u8(t: number, i: number, def = 0): number {
    const o = this.field(t, i);
    return o ? this.v.getUint8(t + o) : def;
  }
  i16(t: number, i: number, def = 0): number {
    const o = this.field(t, i);
    return o ? this.v.getInt16(t + o, true) : def;
  }
  i32(t: number, i: number, def = 0): number {
    const o = this.field(t, i);
    return o ? this.v.getInt32(t + o, true) : def;
  }
  i64(t: number, i: number): number {
    const o = this.field(t, i);
    return o ? Number(this.v.getBigInt64(t + o, true)) : 0;
  }
  /** The table, vector or string that field `i` points to, or null. */
  ref(t: number, i: number): number | null {
    const o = this.field(t, i);
    return o ? t + o + this.v.getUint32(t + o, true) : null;
  }
  str(t: number, i: number): string {
    const s = this.ref(t, i);
    if (s === null) return "";
    return new TextDecoder().decode(this.bytes.subarray(s + 4, s + 4 + this.v.getUint32(s, true)));
  }
  /** Element positions of a vector of tables. */
  tables(t: number, i: number): number[] {
    const vec = this.ref(t, i);
    if (vec === null) return [];
    const n = this.v.getUint32(vec, true);
    return Array.from({ length: n }, (_, k) => {
      const e = vec + 4 + 4 * k;
      return e + this.v.getUint32(e, true);
    });
  }
  /** Element positions of a vector of structs of `size` bytes. */
  structs(t: number, i: number, size: number): number[] {
    const vec = this.ref(t, i);
    if (vec === null) return [];
    return Array.from({ length: this.v.getUint32(vec, true) }, (_, k) => vec + 4 + size * k);
  }
}

interface FieldInfo {
  name: string;
  type: string;
  width?: number;
  listSize?: number;
  child?: FieldInfo;
}

// Schema.fbs: Type union members used here, FloatingPoint precisions.
const TYPE = { Int: 2, FloatingPoint: 3, Utf8: 5, FixedSizeList: 16 } as const;

function readField(fb: Fb, f: number): FieldInfo {
  const name = fb.str(f, 0); // Field: name, nullable, type_type, type, dictionary, children
  const kind = fb.u8(f, 2), t = fb.ref(f, 3);
  if (fb.ref(f, 4) !== null) throw new Error(`field ${name}: dictionaries are not supported`);
  if (kind === TYPE.Int && t !== null) {
    const bits = fb.i32(t, 0), signed = fb.u8(t, 1) === 1;
    return { name, type: `${signed ? "int" : "uint"}${bits}`, width: bits / 8 };
  }
  if (kind === TYPE.FloatingPoint && t !== null) {
    const p = fb.i16(t, 0); // HALF, SINGLE, DOUBLE
    return { name, type: ["float16", "float32", "float64"][p]!, width: [2, 4, 8][p]! };
  }
  if (kind === TYPE.Utf8) return { name, type: "utf8" };
  if (kind === TYPE.FixedSizeList && t !== null) {
    const listSize = fb.i32(t, 0);
    const child = readField(fb, fb.tables(f, 5)[0]!);
    return { name, type: `fixed_size_list<${child.type}>[${listSize}]`, listSize, child };
  }
  throw new Error(`field ${name}: type ${kind} is not supported by this reader`);
}

/**
 * Reads every record batch of an Arrow IPC file into one flat column per field (values of
 * all batches concatenated).
 */
export function readIpcFile(bytes: Uint8Array): IpcColumn[] {
  const magic = new TextDecoder().decode(bytes.subarray(0, 6));
  const tail = new TextDecoder().decode(bytes.subarray(bytes.length - 6));
  if (magic !== "ARROW1" || tail !== "ARROW1") throw new Error("not an Arrow IPC file");
  const fb = new Fb(bytes);
  const footerLen = fb.v.getInt32(bytes.length - 10, true);
  const footer = fb.root(bytes.length - 10 - footerLen);
  // Footer: version, schema, dictionaries, recordBatches.
  const schema = fb.ref(footer, 1)!;
  const fields = fb.tables(schema, 1).map((f) => readField(fb, f));
  const parts: IpcColumn["values"][][] = fields.map(() => []);
  for (const block of fb.structs(footer, 3, 24)) {
    // Block: offset i64, metaDataLength i32, (pad), bodyLength i64.
    const offset = Number(fb.v.getBigInt64(block, true));
    const metaLen = fb.v.getInt32(block + 8, true);
    const cont = fb.v.getUint32(offset, true) === 0xffffffff;
    const message = fb.root(offset + (cont ? 8 : 4));
    if (fb.u8(message, 1) !== 3) throw new Error("expected a RecordBatch message"); // header_type
    const batch = fb.ref(message, 2)!;
    const rows = fb.i64(batch, 0);
    const nodes = fb.structs(batch, 1, 16).map((n) => Number(fb.v.getBigInt64(n, true)));
    const buffers = fb.structs(batch, 2, 16).map((b) => ({
      offset: Number(fb.v.getBigInt64(b, true)),
      length: Number(fb.v.getBigInt64(b + 8, true)),
    }));
    if (fb.ref(batch, 3) !== null) throw new Error("compressed batches are not supported");
    const body = offset + metaLen;
    let node = 0, buf = 0;
    const slice = (b: { offset: number; length: number }) =>
      bytes.slice(body + b.offset, body + b.offset + b.length);
    const read = (f: FieldInfo): IpcColumn["values"] => {
      const length = nodes[node++]!;
      buf++; // validity bitmap (label files have no nulls)
      if (f.listSize !== undefined) return read(f.child!);
      if (f.type === "utf8") {
        const offs = new Int32Array(slice(buffers[buf++]!).buffer, 0, length + 1);
        const data = slice(buffers[buf++]!);
        return Array.from(
          { length },
          (_, i) => new TextDecoder().decode(data.subarray(offs[i]!, offs[i + 1]!)),
        );
      }
      return typed(f.type, slice(buffers[buf++]!).buffer, length);
    };
    fields.forEach((f, i) => {
      const values = read(f);
      const want = rows * (f.listSize ?? 1);
      if (values.length !== want) {
        throw new Error(`${f.name}: ${values.length} values, not ${want}`);
      }
      parts[i]!.push(values);
    });
  }
  return fields.map((f, i) => {
    const chunks = parts[i]!;
    const leaf = f.child ?? f;
    let values: IpcColumn["values"];
    if (leaf.type === "utf8") values = (chunks as string[][]).flat();
    else {
      const views = chunks as Exclude<IpcColumn["values"], string[]>[];
      const all = new Uint8Array(views.reduce((s, c) => s + c.byteLength, 0));
      let at = 0;
      for (const c of views) {
        all.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), at);
        at += c.byteLength;
      }
      values = typed(leaf.type, all.buffer, all.length / leaf.width!);
    }
    return {
      name: f.name,
      type: f.type,
      values,
      ...(f.listSize !== undefined ? { listSize: f.listSize } : {}),
    };
  });
}

/** `length` values of a fixed-width `type` from the start of `buffer`. */
function typed(
  type: string,
  buffer: ArrayBuffer,
  length: number,
): Exclude<IpcColumn["values"], string[]> {
  switch (type) {
    case "uint32":
      return new Uint32Array(buffer, 0, length);
    case "int32":
      return new Int32Array(buffer, 0, length);
    case "int64":
      return new BigInt64Array(buffer, 0, length);
    case "float32":
      return new Float32Array(buffer, 0, length);
    case "float64":
      return new Float64Array(buffer, 0, length);
  }
  throw new Error(`type ${type} is not supported by this reader`);
}
