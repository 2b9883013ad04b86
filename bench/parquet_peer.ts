// One reader of the Parquet comparison (bench/parquet_bench.ts runs it in its own process, so
// that its peak RSS is its own): reads one file row group by row group with one library and
// prints one JSON line { rows, values, seconds, peakRssMiB }.
//
//   deno run -A --no-config --node-modules-dir=manual bench/parquet_peer.ts LIB FILE COLUMN...
//
// LIB is parquet-wasm, hyparquet or duckdb; it runs with the candidates' node_modules as its
// working directory (the bench installs them there with npm), so it takes no project package.
// Two more forms: `sql FILE.sql` runs DuckDB statements (the bench's generator), and
// `write LIB CODEC OUT` writes a small labels-like table with LIB's writer and codec (and
// fails when the writer cannot).
import process from "node:process";

// The candidates that are not project dependencies load by a specifier `deno check` does not
// follow (they live in the bench's npm prefix, not in the project's node_modules), typed here
// as far as this script uses them.
interface DuckDb {
  DuckDBInstance: {
    create(path: string, options?: Record<string, string>): Promise<{
      connect(): Promise<{
        run(sql: string): Promise<unknown>;
        runAndReadAll(sql: string): Promise<{ getRows(): unknown[][] }>;
      }>;
    }>;
  };
}
interface Hyparquet {
  parquetMetadataAsync(file: unknown): Promise<{ row_groups: { num_rows: bigint | number }[] }>;
  parquetRead(options: {
    file: unknown;
    metadata: unknown;
    columns: string[];
    rowStart: number;
    rowEnd: number;
    compressors: unknown;
    onChunk: (
      chunk: { columnName: string; columnData: unknown; rowStart: number; rowEnd: number },
    ) => void;
  }): Promise<void>;
}
interface HyparquetWriter {
  parquetWriteBuffer(options: Record<string, unknown>): ArrayBuffer;
}
const load = <T>(name: string): Promise<T> => import(name);
const DUCKDB = "npm:@duckdb/node-api@1.5.6-r.1";

if (Deno.args[0] === "sql") {
  const { DuckDBInstance } = await load<DuckDb>(DUCKDB);
  const c = await (await DuckDBInstance.create(":memory:", { threads: "2" })).connect();
  for (const q of Deno.readTextFileSync(Deno.args[1]!).split(";\n")) if (q.trim()) await c.run(q);
  console.log("{}");
  Deno.exit(0);
}
if (Deno.args[0] === "write") {
  const [, lib, codec, out] = Deno.args as [string, string, string, string];
  const n = 1000;
  const keys = Array.from({ length: n }, (_, i) => `k${i}`);
  const labels = Array.from({ length: n }, (_, i) => [i % 7, (i * 3) % 11]);
  if (lib === "parquet-wasm") {
    const pw = await import("npm:parquet-wasm@0.8.0");
    const arrow = await import("npm:apache-arrow@21.2.0");
    const t = arrow.tableFromArrays({ key: keys, label: Int32Array.from(labels, (l) => l[0]!) });
    const props = new pw.WriterPropertiesBuilder()
      .setCompression(pw.Compression[codec.toUpperCase() as "ZSTD"]).build();
    const bytes = pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(t, "stream")), props);
    Deno.writeFileSync(out, bytes);
  } else if (lib === "hyparquet") {
    const { parquetWriteBuffer } = await load<HyparquetWriter>("npm:hyparquet-writer@0.17.0");
    const buf = parquetWriteBuffer({
      columnData: [{ name: "key", data: keys }, { name: "labels", data: labels }],
      codec: codec.toUpperCase() as "SNAPPY",
    });
    Deno.writeFileSync(out, new Uint8Array(buf));
  } else throw new Error(`unknown writer ${lib}`);
  Deno.exit(0);
}

const [lib, file, ...columns] = Deno.args;
if (!lib || !file || columns.length === 0) {
  console.error("usage: parquet_peer.ts LIB FILE COLUMN...");
  Deno.exit(2);
}

/** The process's peak resident set (VmHWM), in MiB. */
function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Sums what a value holds, so that every value is decoded and looked at. */
function touch(v: unknown): number {
  if (typeof v === "string") return v.length;
  if (typeof v === "number") return 1;
  if (typeof v === "bigint") return 1;
  if (ArrayBuffer.isView(v)) return (v as Float32Array).length;
  if (Array.isArray(v)) {
    let s = 0;
    for (const x of v) s += touch(x);
    return s;
  }
  return 0;
}

const fh = await Deno.open(file, { read: true });
const size = (await fh.stat()).size;
let queue: Promise<unknown> = Promise.resolve();
/** Reads bytes [start, end) of the file; one read at a time (seek + read share the handle). */
function readRange(start: number, end: number): Promise<ArrayBuffer> {
  const next = queue.then(() => readRangeNow(start, end));
  queue = next.catch(() => {});
  return next;
}
async function readRangeNow(start: number, end: number): Promise<ArrayBuffer> {
  const buf = new Uint8Array(end - start);
  await fh.seek(start, Deno.SeekMode.Start);
  let off = 0;
  while (off < buf.length) {
    const n = await fh.read(buf.subarray(off));
    if (n === null) throw new Error(`${file}: short read`);
    off += n;
  }
  return buf.buffer;
}

let rows = 0;
let values = 0;
const t0 = performance.now();
if (lib === "hyparquet") {
  const { parquetMetadataAsync, parquetRead } = await load<Hyparquet>("npm:hyparquet@1.31.5");
  const { compressors } = await load<{ compressors: unknown }>("npm:hyparquet-compressors@1.1.2");
  const asyncBuffer = {
    byteLength: size,
    slice: (s: number, e?: number) => readRange(s, e ?? size),
  };
  const metadata = await parquetMetadataAsync(asyncBuffer);
  let start = 0;
  for (const rg of metadata.row_groups) {
    const end = start + Number(rg.num_rows);
    await parquetRead({
      file: asyncBuffer,
      metadata,
      columns,
      rowStart: start,
      rowEnd: end,
      compressors,
      onChunk: (chunk) => {
        values += touch(chunk.columnData);
        if (chunk.columnName === columns[0]) rows += chunk.rowEnd - chunk.rowStart;
      },
    });
    start = end;
  }
} else if (lib === "parquet-wasm") {
  const pw = await import("npm:parquet-wasm@0.8.0");
  const arrow = await import("npm:apache-arrow@21.2.0");
  // A Blob whose slices read the file on demand: parquet-wasm's async reader asks only for the
  // footer and the row group's column chunks.
  class FileBlob extends Blob {
    constructor(private start = 0, private end = size) {
      super([]);
    }
    override get size() {
      return this.end - this.start;
    }
    override slice(s = 0, e = this.size): Blob {
      return new FileBlob(this.start + s, this.start + Math.min(e, this.size));
    }
    override arrayBuffer(): Promise<ArrayBuffer> {
      return readRange(this.start, this.end);
    }
  }
  const pf = await pw.ParquetFile.fromFile(new FileBlob());
  const groups = pf.metadata().numRowGroups();
  for (let g = 0; g < groups; g++) {
    const wasmTable = await pf.read({ rowGroups: [g], columns, batchSize: 1 << 20 });
    const table = arrow.tableFromIPC(wasmTable.intoIPCStream());
    rows += table.numRows;
    for (const name of columns) {
      const col = table.getChild(name)!;
      for (const d of col.data) {
        const leaf = d.children[0] ?? d;
        values += leaf.valueOffsets && leaf.typeId === arrow.Type.Utf8
          ? leaf.valueOffsets[leaf.length] - leaf.valueOffsets[0]
          : (d.children[0] ? d.children[0].length : d.length);
      }
    }
  }
} else if (lib === "duckdb") {
  const { DuckDBInstance } = await load<DuckDb>(DUCKDB);
  const inst = await DuckDBInstance.create(":memory:", { threads: "1" });
  const c = await inst.connect();
  const src = `read_parquet('${file}')`;
  const types = new Map(
    (await c.runAndReadAll(`DESCRIBE SELECT * FROM ${src}`)).getRows().map((r) => [r[0], r[1]]),
  );
  // Strings count their characters and lists their elements, like the other readers.
  const sums = columns.map((n) => {
    const t = String(types.get(n));
    return t === "VARCHAR" || t.endsWith("]") ? `sum(len("${n}"))` : `count("${n}")`;
  }).join(", ");
  const r = await c.runAndReadAll(`SELECT count(*), ${sums} FROM ${src}`);
  const row = r.getRows()[0]!;
  rows = Number(row[0]);
  for (const v of row.slice(1)) values += Number(v);
} else {
  console.error(`unknown library ${lib}`);
  Deno.exit(2);
}
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage();
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(JSON.stringify({ lib, rows, values, seconds, cpuSeconds, peakRssMiB: peakRssMiB() }));
