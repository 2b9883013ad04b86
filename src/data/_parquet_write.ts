// Private: an Arrow table written as a Parquet file, atomically (temp file, then rename), in
// row groups of at most `rowGroupRows` rows, compressed with zstd unless told otherwise.
import { pw } from "./_parquet_wasm.ts";
import { arrow } from "./_arrow_ipc.ts";
import { writeFileAtomic } from "./atomic.ts";
import type { ArrowTable } from "./parquet_file.ts";

/** Codecs the writer offers. */
export type ParquetCompression = "zstd" | "snappy" | "gzip" | "none";

/** Options shared by the Parquet writers. */
export interface ParquetWriteOptions {
  /** Rows per row group. @default {65536} */
  rowGroupRows?: number;
  /** The codec. @default {"zstd"} */
  compression?: ParquetCompression;
}

const CODECS: Record<ParquetCompression, pw.Compression> = {
  zstd: pw.Compression.ZSTD,
  snappy: pw.Compression.SNAPPY,
  gzip: pw.Compression.GZIP,
  none: pw.Compression.UNCOMPRESSED,
};

/** Checks the writer options; returns them with defaults. */
export function writeOptions(
  options: ParquetWriteOptions,
): { rowGroupRows: number; compression: ParquetCompression } {
  const rowGroupRows = options.rowGroupRows ?? 65536;
  const compression = options.compression ?? "zstd";
  if (!Number.isInteger(rowGroupRows) || rowGroupRows < 1) {
    throw new RangeError(
      `Expected rowGroupRows to be a positive integer but found ${rowGroupRows}`,
    );
  }
  if (!(compression in CODECS)) {
    throw new RangeError(
      `Expected compression to be one of ${
        Object.keys(CODECS).join(", ")
      } but found ${compression}`,
    );
  }
  return { rowGroupRows, compression };
}

/**
 * Writes `table` to `path` atomically. The table is handed to the WebAssembly writer one
 * row group at a time, and its output bytes stream to the temporary file.
 */
export async function writeTableParquet(
  path: string,
  table: ArrowTable,
  options: ParquetWriteOptions,
): Promise<void> {
  const { rowGroupRows, compression } = writeOptions(options);
  const props = new pw.WriterPropertiesBuilder()
    .setCompression(CODECS[compression])
    .setMaxRowGroupSize(rowGroupRows)
    .setCreatedBy("mlcd (parquet-wasm 0.8.0)")
    .build();
  if (table.numRows === 0) {
    // No batch to stream: the schema alone, through the one-shot writer.
    const wasm = pw.Table.fromIPCStream(arrow.tableToIPC(table, "stream"));
    await writeFileAtomic(path, pw.writeParquet(wasm, props));
    return;
  }
  let at = 0;
  const batches = new ReadableStream<pw.RecordBatch>({
    pull(controller) {
      if (at >= table.numRows) {
        controller.close();
        return;
      }
      const part = table.slice(at, Math.min(table.numRows, at + rowGroupRows));
      at += part.numRows;
      const wasm = pw.Table.fromIPCStream(arrow.tableToIPC(part, "stream"));
      for (const b of wasm.recordBatches()) controller.enqueue(b);
      wasm.free();
    },
  });
  const bytes = await pw.transformParquetStream(batches, props);
  await writeFileAtomic(path, async function* () {
    for await (const chunk of bytes as ReadableStream<Uint8Array>) yield chunk;
  });
}
