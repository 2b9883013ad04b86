/**
 * `deno task embed`: turns images (folders or WebDataset shards) or input embeddings into a
 * trained encoder's embeddings, in clip-retrieval's layout: `img_emb/img_emb_<i>.npy` plus
 * `metadata/metadata_<i>.parquet` (the sample keys, same order). The output feeds
 * `deno task cluster` and `deno task assign` directly.
 *
 * @example Usage
 * ```sh
 * deno task embed --checkpoint runs/a --data shards/ --out emb/
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { readEmbeddingKeys } from "../data/clip_layout.ts";
import { streamImageBatches } from "../data/image_loader.ts";
import { writeNpy } from "../data/npy.ts";
import { listEmbeddingFiles, streamEmbeddings } from "../data/embedding_files.ts";
import { createGpu } from "../gpu/gpu.ts";
import { DEVICE_FLAG_OPTIONS, deviceHelp, gpuOptions } from "./_device_flag.ts";
import { embed, type Encoder } from "../model/encoder.ts";
import { useTfBackend } from "../model/tf.ts";
import { loadEncoder } from "../train/load_encoder.ts";
import { indexImageInputs, isImageInput } from "./_data_source.ts";
import { openRowSource } from "../data/row_source.ts";
import { readSampleText, type SampleText, sampleTextColumns } from "../data/sample_text.ts";
import { formatSeconds, intFlag, progress, runCli, UsageError } from "./_cli.ts";
import { checkOutputDir } from "../jobs/output_paths.ts";

const HELP =
  `Usage: deno task embed --checkpoint <run dir> --data <images|shards|embeddings> --out <dir>

Embeds every sample with a trained encoder (L2-normalised, in read order) and writes
clip-retrieval's layout:
  <out>/img_emb/img_emb_<i>.npy          float32 (or float16 with --f16), rows × embedDim
  <out>/metadata/metadata_<i>.parquet    column "key": the sample keys, same order, and
                                         "url", "caption" when WebDataset samples have them
                                         (.json/.txt); zstd, clip-retrieval, DuckDB and
                                         pandas read it
Images: folders or WebDataset shards (directory of .tar, .tar files, or a brace pattern
such as shards/{00000..00099}.tar), resized and centre-cropped, CLIP-normalised.
Embeddings (.npy/Parquet/Arrow, for head encoders): keys from their clip-retrieval metadata, else
the row number. Streams with bounded memory; every file is written atomically.

Options:
  --checkpoint DIR     run directory with checkpoint.json (required)
  --data PATH          inputs (repeatable; required)
  --out DIR            output directory; must not hold embeddings already (required)
  --f16                store float16
  --batch-size N       samples per encoder batch (default 256)
  --rows-per-file N    rows per img_emb_<i>.npy (default 100000)
  --image-size PX      image side (default: the checkpoint's)
  --column NAME        Parquet/Arrow column of input embeddings
${deviceHelp(23)}
  --json               print a JSON summary on stdout
  -h, --help           this help`;

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      checkpoint: { type: "string" },
      data: { type: "string", multiple: true },
      out: { type: "string" },
      f16: { type: "boolean", default: false },
      "batch-size": { type: "string" },
      "rows-per-file": { type: "string" },
      "image-size": { type: "string" },
      column: { type: "string" },
      json: { type: "boolean", default: false },
      ...DEVICE_FLAG_OPTIONS,
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.checkpoint) throw new UsageError("Expected --checkpoint <run dir> but found none");
  if (!values.data?.length) throw new UsageError("Expected --data <path> but found none");
  if (!values.out) throw new UsageError("Expected --out <dir> but found none");
  const out = values.out.replace(/\/+$/, "");
  const batchSize = intFlag("batch-size", values["batch-size"], 256, 1);
  const perFile = intFlag("rows-per-file", values["rows-per-file"], 100000, 1);
  await checkOutputDir("--out", out);
  await refuseEmbeddings(out);
  const t0 = performance.now();
  const gpu = await createGpu(gpuOptions(values));
  await useTfBackend(gpu);
  const { encoder, centers, manifest } = await loadEncoder(values.checkpoint);
  centers.dispose();
  const d = encoder.spec.embedDim;
  let skipped = 0;
  const samples = await openSamples(values.data, encoder, {
    checkpoint: values.checkpoint,
    batchSize,
    ...(values["image-size"] !== undefined ? { imageSize: values["image-size"] } : {}),
    ...(values.column !== undefined ? { column: values.column } : {}),
    onSkip: (s) => {
      skipped++;
      progress(`embed: skipped ${s.key} (${s.source}): ${s.message} [${skipped} skipped]`);
    },
  });
  const writer = await clipLayoutWriter(out, {
    d,
    perFile,
    f16: values.f16,
    ...(samples.text ? { text: samples.text } : {}),
  });
  const report = rowsReport(samples.total, t0);
  for await (const b of samples.batches) {
    const z = await embed(encoder, { data: b.x, rows: b.rows, cols: encoder.inputDim }, {
      normalize: true,
      batchSize,
    });
    await writer.add(z.data, b.rows, b.keys);
    report(b.rows);
  }
  await writer.flush();
  encoder.dispose();
  gpu.destroy();
  const seconds = (performance.now() - t0) / 1000;
  progress(
    `embed: ${writer.rows} rows × ${d} in ${writer.files.length} file(s) under ${out}/img_emb in ${
      formatSeconds(seconds)
    }${skipped ? ` (${skipped} corrupt sample(s) skipped)` : ""}`,
  );
  if (values.json) {
    console.log(JSON.stringify({
      rows: writer.rows,
      dim: d,
      files: writer.files,
      skipped,
      dtype: values.f16 ? "float16" : "float32",
      checkpoint: values.checkpoint,
      step: manifest.step,
      seconds,
    }));
  }
}

/** Refuses an --out that already holds embeddings or metadata. */
async function refuseEmbeddings(out: string): Promise<void> {
  for (const sub of ["img_emb", "metadata"]) {
    try {
      for await (const e of Deno.readDir(`${out}/${sub}`)) {
        if (!e.name.startsWith(".")) {
          throw new UsageError(
            `Refusing to overwrite ${out}/${sub}/${e.name}: --out already holds embeddings`,
          );
        }
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}

/** One batch of samples: `rows` inputs of the encoder, and their keys. */
interface SampleBatch {
  x: Float32Array;
  rows: number;
  keys: string[];
}

/**
 * The inputs as encoder batches (images decoded, or embedding rows), their number, and the
 * WebDataset samples' url and caption (img2dataset's .json/.txt) for the metadata files.
 */
async function openSamples(
  data: string[],
  encoder: Encoder,
  o: {
    checkpoint: string;
    batchSize: number;
    imageSize?: string;
    column?: string;
    onSkip: (s: { key: string; source: string; message: string }) => void;
  },
): Promise<
  { total: number; batches: AsyncIterable<SampleBatch>; text?: Map<string, SampleText> }
> {
  const spec = encoder.spec;
  if (await isImageInput(data, spec.kind)) {
    if (spec.kind === "head") {
      throw new UsageError(
        `Expected a checkpoint of an image encoder for images but ${o.checkpoint} has a "head" encoder`,
      );
    }
    const index = await indexImageInputs("embed", data);
    const size = o.imageSize !== undefined
      ? intFlag("image-size", o.imageSize, 0, 1)
      : spec.inputShape[0]!;
    const channels = spec.inputShape[2] === 1 ? 1 : 3;
    const batches = async function* () {
      for await (
        const b of streamImageBatches(index, {
          size,
          channels,
          batchSize: o.batchSize,
          onSkip: o.onSkip,
        })
      ) {
        if (b.rows) yield { x: b.x, rows: b.rows, keys: b.keys };
      }
    };
    const text = index.kind === "shards" ? await readSampleText(index.sources) : undefined;
    return { total: index.keys.length, batches: batches(), ...(text ? { text } : {}) };
  }
  const inputs = await listEmbeddingFiles(data);
  const column = o.column ? { column: o.column } : {};
  const rowsOf = (await openRowSource(inputs, column)).slices.map((s) => s.rowEnd);
  const inKeys = await readEmbeddingKeys(inputs, rowsOf);
  const batches = async function* () {
    for await (
      const b of streamEmbeddings(inputs, {
        batchRows: o.batchSize,
        ...(o.column ? { column: o.column } : {}),
      })
    ) {
      if (b.matrix.cols !== encoder.inputDim) {
        throw new TypeError(
          `Expected ${b.file} to hold rows of ${encoder.inputDim} values (the checkpoint's encoder input) but found ${b.matrix.cols}`,
        );
      }
      const keys = Array.from(
        { length: b.matrix.rows },
        (_, i) => inKeys ? inKeys[b.rowStart + i]! : String(b.rowStart + i),
      );
      yield { x: b.matrix.data, rows: b.matrix.rows, keys };
    }
  };
  return { total: rowsOf.reduce((a, b) => a + b, 0), batches: batches() };
}

/** Progress of `total` rows: a line at most once a second, and at the last row. */
function rowsReport(total: number, t0: number): (rows: number) => void {
  let done = 0, last = 0;
  return (rows) => {
    done += rows;
    const now = performance.now();
    if (now - last > 1000 || done === total) {
      last = now;
      const rate = done / Math.max((now - t0) / 1000, 1e-9);
      progress(
        `embed: ${done}/${total} rows  ${Math.round(rate)} rows/s  ETA ${
          formatSeconds((total - done) / Math.max(rate, 1e-9))
        }`,
      );
    }
  };
}

/**
 * Writes embeddings in clip-retrieval's layout, `perFile` rows per part:
 * `img_emb/img_emb_<i>.npy` and `metadata/metadata_<i>.parquet` (the keys, and the samples'
 * `url` and `caption` where `text` has them), each atomically.
 */
async function clipLayoutWriter(
  out: string,
  o: { d: number; perFile: number; f16: boolean; text?: Map<string, SampleText> },
): Promise<{
  add: (z: Float32Array, rows: number, keys: string[]) => Promise<void>;
  flush: () => Promise<void>;
  files: string[];
  readonly rows: number;
}> {
  const { d, perFile } = o;
  // Rows accumulate into one output part at a time.
  let part = 0, partRows = 0, rows = 0;
  let buf = new Float32Array(Math.min(perFile, 65536) * d);
  let keys: string[] = [];
  const files: string[] = [];
  await Deno.mkdir(`${out}/img_emb`, { recursive: true });
  await Deno.mkdir(`${out}/metadata`, { recursive: true });
  const flush = async () => {
    if (partRows === 0) return;
    const emb = `${out}/img_emb/img_emb_${part}.npy`;
    await writeNpy(emb, buf.subarray(0, partRows * d), [partRows, d], {
      ...(o.f16 ? { dtype: "f2" as const } : {}),
    });
    // Loaded here only: Parquet is not part of the npm-free core.
    const { writeParquetMetadata } = await import("../data/parquet.ts");
    await writeParquetMetadata(`${out}/metadata/metadata_${part}.parquet`, {
      key: keys,
      ...sampleTextColumns(keys, o.text),
    });
    files.push(emb);
    part++;
    partRows = 0;
    keys = [];
  };
  return {
    add: async (z, n, rowKeys) => {
      for (let r = 0; r < n; r++) {
        if ((partRows + 1) * d > buf.length) {
          const grown = new Float32Array(Math.min(perFile * d, buf.length * 2));
          grown.set(buf);
          buf = grown;
        }
        buf.set(z.subarray(r * d, (r + 1) * d), partRows * d);
        keys.push(rowKeys[r]!);
        partRows++;
        if (partRows === perFile) await flush();
      }
      rows += n;
    },
    flush,
    files,
    get rows() {
      return rows;
    },
  };
}

if (import.meta.main) await runCli("embed", main);
