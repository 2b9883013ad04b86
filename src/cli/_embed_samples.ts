// The samples `deno task embed` reads: decoded images (folders or WebDataset shards) or
// embedding rows, each with its ordinal (its position in read order, which decides its output
// part), its key, and the input files that hold every range of ordinals.
import { readEmbeddingKeys } from "../data/clip_layout.ts";
import { listEmbeddingFiles, streamEmbeddings } from "../data/embedding_files.ts";
import { streamImageBatches, type StreamImageBatchesOptions } from "../data/image_loader.ts";
import { openRowSource } from "../data/row_source.ts";
import { readSampleText, type SampleText } from "../data/sample_text.ts";
import type { EncoderSpec } from "../model/encoder.ts";
import { checkRows } from "../matrix/matrix.ts";
import { indexImageInputs, isImageInput } from "./_data_source.ts";
import { intFlag, noticeInputDirectories, UsageError } from "./_cli.ts";

/** One batch of samples: `rows` inputs of the encoder, their keys and ordinals. */
export interface SampleBatch {
  x: Float32Array;
  rows: number;
  keys: string[];
  ordinals: ArrayLike<number>;
}

/** The inputs of an embed, opened: their samples in read order. */
export interface EmbedSamples {
  /** "images" or "embeddings". */
  kind: string;
  /** Samples in all (ordinals 0..total-1). */
  total: number;
  /** The files read, with the first ordinal of each (`files.length + 1` starts). */
  files: string[];
  starts: number[];
  /** The key of an ordinal, where the index knows it before reading (images). */
  keyOf?: (ordinal: number) => string;
  /** Image side, for images. */
  imageSize?: number;
  /** The batches of the samples `include` accepts, in read order. */
  batches: (include: (ordinal: number) => boolean) => AsyncIterable<SampleBatch>;
  /** WebDataset samples' url and caption (img2dataset's .json/.txt), by key, for the metadata. */
  text?: Map<string, SampleText>;
}

/** Options of {@linkcode openSamples}. */
export interface OpenSamplesOptions {
  checkpoint: string;
  batchSize: number;
  imageSize?: string;
  column?: string;
  /** Image preprocessing (a Hugging Face model's processor) instead of the default. */
  transform?: StreamImageBatchesOptions["transform"];
  onSkip: (s: { key: string; source: string; message: string }) => void;
}

/** The inputs as encoder batches (images decoded, or embedding rows), and their files. */
export async function openSamples(
  data: string[],
  spec: Required<EncoderSpec>,
  o: OpenSamplesOptions,
): Promise<EmbedSamples> {
  const inputDim = spec.inputShape.reduce((a, b) => a * b, 1);
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
    const text = index.kind === "shards" ? await readSampleText(index.sources) : undefined;
    return {
      ...(text ? { text } : {}),
      kind: "images",
      total: index.keys.length,
      files: index.sources,
      starts: index.starts,
      keyOf: (i) => index.keys[i]!,
      imageSize: size,
      batches: async function* (include) {
        for await (
          const b of streamImageBatches(index, {
            size,
            channels,
            batchSize: o.batchSize,
            include,
            onSkip: o.onSkip,
            ...(o.transform ? { transform: o.transform } : {}),
          })
        ) {
          if (b.rows) yield { x: b.x, rows: b.rows, keys: b.keys, ordinals: b.ordinals };
        }
      },
    };
  }
  const inputs = await listEmbeddingFiles(data);
  await noticeInputDirectories("embed", data);
  const column = o.column ? { column: o.column } : {};
  const rowsOf = (await openRowSource(inputs, column)).slices.map((s) => s.rowEnd);
  const starts = [0];
  for (const r of rowsOf) starts.push(starts.at(-1)! + r);
  const inKeys = await readEmbeddingKeys(inputs, rowsOf);
  return {
    kind: "embeddings",
    total: starts.at(-1)!,
    files: inputs,
    starts,
    batches: async function* (include) {
      for await (
        const b of streamEmbeddings(inputs, {
          batchRows: o.batchSize,
          ...(o.column ? { column: o.column } : {}),
        })
      ) {
        if (b.matrix.cols !== inputDim) {
          throw new TypeError(
            `Expected ${b.file} to hold rows of ${inputDim} values (the checkpoint's encoder input) but found ${b.matrix.cols}`,
          );
        }
        const picked: number[] = [];
        for (let i = 0; i < b.matrix.rows; i++) if (include(b.rowStart + i)) picked.push(i);
        if (picked.length === 0) continue;
        const d = b.matrix.cols;
        const x = new Float32Array(picked.length * d);
        picked.forEach((i, r) => x.set(b.matrix.data.subarray(i * d, (i + 1) * d), r * d));
        // A bad input row is named by its file and row, before the encoder sees it.
        checkRows({ data: x, rows: picked.length, cols: d }, b.file, {
          where: (r) => ({ file: b.file, fileRow: b.fileRowStart + picked[r]! }),
        });
        const ordinals = picked.map((i) => b.rowStart + i);
        const keys = ordinals.map((g) => inKeys ? inKeys[g]! : String(g));
        yield { x, rows: picked.length, keys, ordinals };
      }
    },
  };
}
