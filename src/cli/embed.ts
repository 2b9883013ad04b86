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
import { resolve } from "node:path";
import { createGpu, type Gpu } from "../gpu/gpu.ts";
import { DEVICE_FLAG_OPTIONS, deviceHelp, gpuOptions } from "./_device_flag.ts";
import { embed, type Encoder } from "../model/encoder.ts";
import { useTfBackend } from "../model/tf.ts";
import { loadEncoder } from "../train/load_encoder.ts";
import { readCheckpointManifest } from "../train/checkpoint.ts";
import { checkOutputDir, refuseInputOverlap } from "../jobs/output_paths.ts";
import { formatSeconds, intFlag, logTo, progress, runCli, UsageError } from "./_cli.ts";
import { type EmbedSamples, openSamples } from "./_embed_samples.ts";
import { loadModelFlag } from "./_hf.ts";
import type { SampleText } from "../data/sample_text.ts";
import type { HfModel } from "../hf/load_hf_model.ts";
import {
  commitEmbedPart,
  type EmbedPart,
  type EmbedPlan,
  partRows,
  planEmbedParts,
  removeEmptyDirs,
  removeOthers,
} from "./_embed_parts.ts";

const HELP =
  `Usage: mlcd embed --checkpoint <run dir>|--model <dir> --data <images|shards|embeddings> --out <dir>

Embeds every sample with a trained encoder (L2-normalised, in read order) and writes
clip-retrieval's layout, in parts of --rows-per-file samples:
  <out>/img_emb/img_emb_<i>.npy          float32 (or float16 with --f16), rows × embedDim
  <out>/metadata/metadata_<i>.parquet    column "key": the sample keys, same order, and
                                         "url", "caption" when WebDataset samples have them
                                         (.json/.txt); zstd, clip-retrieval, DuckDB and
                                         pandas read it
  <out>/part-<i>-of-<N>.json             the part's manifest, written last
Images: folders or WebDataset shards (directory of .tar, .tar files, or a brace pattern
such as shards/{00000..00099}.tar), resized and centre-cropped, CLIP-normalised.
Embeddings (.npy/Parquet/Arrow, for head encoders): keys from their clip-retrieval metadata, else
the row number. Streams with bounded memory. Each part is committed atomically with its
manifest, like the shard jobs: rerun the same command after an interruption and it
finishes the missing parts (finished ones are skipped); readers refuse an <out> whose
parts are not all there.

Options:
  --checkpoint DIR     run directory with checkpoint.json (this or --model)
  --model DIR          a Hugging Face model directory (MLCDVisionModel or CLIP vision tower);
                       images are preprocessed as its preprocessor_config.json says
  --data PATH          inputs (repeatable; required)
  --out DIR            output directory (required)
  --overwrite          replace outputs of another embed (other inputs, checkpoint or settings)
  --f16                store float16
  --batch-size N       samples per encoder batch (default 256)
  --rows-per-file N    samples per part, img_emb_<i>.npy (default 100000)
  --image-size PX      image side (default: the checkpoint's)
  --column NAME        Parquet/Arrow column of input embeddings
${deviceHelp(23)}
  --json               print a JSON summary on stdout
  -h, --help           this help`;

/** `mlcd embed`'s entry point: parses `args` (see `--help`) and runs the command. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      checkpoint: { type: "string" },
      model: { type: "string" },
      data: { type: "string", multiple: true },
      out: { type: "string" },
      overwrite: { type: "boolean", default: false },
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
  if (!values.checkpoint === !values.model) {
    throw new UsageError("Expected one of --checkpoint <run dir> and --model <dir>");
  }
  if (values.model && values["image-size"] !== undefined) {
    throw new UsageError("Expected no --image-size with --model (its preprocessor sets the size)");
  }
  if (!values.data?.length) throw new UsageError("Expected --data <path> but found none");
  if (!values.out) throw new UsageError("Expected --out <dir> but found none");
  const out = values.out.replace(/\/+$/, "");
  const batchSize = intFlag("batch-size", values["batch-size"], 256, 1);
  const perFile = intFlag("rows-per-file", values["rows-per-file"], 100000, 1);
  await checkOutputDir("--out", out);
  await refuseInputOverlap([`${out}/img_emb/img_emb_0.npy`], values.data);
  const t0 = performance.now();
  // The inputs are indexed before the GPU starts (a model directory is loaded first): an input
  // without samples fails at once.
  let gpu: Gpu | undefined, hf: HfModel | undefined;
  if (values.model) {
    gpu = await createGpu(gpuOptions(values));
    await useTfBackend(gpu);
    hf = await loadModelFlag(gpu, values.model, "embed");
  }
  const spec = hf ? hf.encoder.spec : (await readCheckpointManifest(values.checkpoint!)).encoder;
  const source = values.checkpoint ?? values.model!;
  let skipped = 0;
  const samples = await openSamples(values.data, spec, {
    checkpoint: source,
    batchSize,
    ...(hf ? { transform: hf.transform } : {}),
    ...(values["image-size"] !== undefined ? { imageSize: values["image-size"] } : {}),
    ...(values.column !== undefined ? { column: values.column } : {}),
    onSkip: (s) => {
      skipped++;
      progress(`embed: skipped ${s.key} (${s.source}): ${s.message} [${skipped} skipped]`);
    },
  });
  if (samples.total === 0) {
    throw new RangeError(
      `Expected samples to embed in ${
        values.data.join(", ")
      } but found none (0 readable ${samples.kind})`,
    );
  }
  if (!gpu) {
    gpu = await createGpu(gpuOptions(values));
    await useTfBackend(gpu);
  }
  const { encoder, centers, manifest } = hf
    ? { encoder: hf.encoder, centers: undefined, manifest: undefined }
    : await loadEncoder(values.checkpoint!);
  centers?.dispose();
  const d = encoder.spec.embedDim;
  const made: string[] = await Deno.stat(out).then(() => [], () => [out]);
  await Deno.mkdir(out, { recursive: true });
  const plan = await planEmbedParts(out, samples, {
    perFile,
    params: {
      checkpoint: resolve(source),
      weights: manifest?.sha256 ?? null,
      dtype: values.f16 ? "float16" : "float32",
      imageSize: samples.imageSize ?? null,
      column: values.column ?? null,
    },
    overwrite: values.overwrite,
    inputs: values.data,
    onLog: logTo("embed"),
  }).catch(async (e) => {
    await removeEmptyDirs(made);
    throw e;
  });
  made.push(...plan.made);
  try {
    await embedParts(plan, samples, encoder, {
      batchSize,
      perFile,
      f16: values.f16,
      t0,
      checkpoint: source,
    });
  } catch (e) {
    await removeEmptyDirs(made); // a failed first part leaves no empty folder behind
    throw e;
  }
  encoder.dispose();
  gpu.destroy();
  await removeOthers(plan, logTo("embed"));
  let rows = 0;
  for (const p of plan.parts) rows += await partRows(p);
  if (rows === 0) {
    throw new RangeError(
      `Expected at least one readable sample in ${values.data.join(", ")} but none could be read`,
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  const files = plan.parts.map((p) => p.npy);
  progress(
    `embed: ${rows} rows × ${d} in ${files.length} file(s) under ${out}/img_emb in ${
      formatSeconds(seconds)
    }${skipped ? ` (${skipped} corrupt sample(s) skipped)` : ""}`,
  );
  if (values.json) {
    console.log(JSON.stringify({
      rows,
      dim: d,
      files,
      skipped,
      dtype: values.f16 ? "float16" : "float32",
      checkpoint: values.checkpoint,
      model: values.model,
      step: manifest?.step,
      seconds,
    }));
  }
}

/** Embeds the samples of the plan's parts still to do, committing each part in turn. */
async function embedParts(
  plan: EmbedPlan,
  samples: EmbedSamples,
  encoder: Encoder,
  o: { batchSize: number; perFile: number; f16: boolean; t0: number; checkpoint: string },
): Promise<void> {
  const d = encoder.spec.embedDim;
  const fresh = plan.parts.filter((p) => p.state === "fresh");
  if (fresh.length < plan.parts.length) {
    progress(
      `embed: ${
        plan.parts.length - fresh.length
      } of ${plan.parts.length} part(s) already done (manifest matches); embedding the other ${fresh.length}`,
    );
  }
  const report = rowsReport(fresh.reduce((a, p) => a + p.hi - p.lo, 0), o.t0);
  const parts = partWriter(fresh, d, o.perFile, o.f16, samples.text);
  const part = (ordinal: number) => Math.floor(ordinal / o.perFile);
  const todo = new Set(fresh.map((p) => p.index));
  // The encoder sees each part's samples in batches cut at the part's start and every
  // batchSize samples after it, whatever else the run embeds: a part's bytes do not depend on
  // which other parts a run does (a resumed run ends with the bytes of an uninterrupted one).
  const dim = encoder.inputDim;
  const x = new Float32Array(o.batchSize * dim);
  let n = 0, at = -1, keys: string[] = [], ordinals: number[] = [];
  const flush = async () => {
    if (n === 0) return;
    const z = await embed(encoder, { data: x.subarray(0, n * dim), rows: n, cols: dim }, {
      normalize: true,
      batchSize: o.batchSize,
    });
    checkEmbeddings(z.data, d, keys, o.checkpoint);
    await parts.add(z.data, keys, ordinals);
    report(n);
    n = 0;
    keys = [];
    ordinals = [];
  };
  for await (const b of samples.batches((i) => todo.has(part(i)))) {
    for (let r = 0; r < b.rows; r++) {
      const ordinal = b.ordinals[r]!;
      if (part(ordinal) !== at || n === o.batchSize) await flush();
      at = part(ordinal);
      x.set(b.x.subarray(r * dim, (r + 1) * dim), n * dim);
      keys.push(b.keys[r]!);
      ordinals.push(ordinal);
      n++;
    }
  }
  await flush();
  await parts.finish();
}

/**
 * Checks every embedding before it is written: a non-finite value (a broken checkpoint) is
 * refused, naming the sample.
 */
function checkEmbeddings(z: Float32Array, d: number, keys: string[], checkpoint: string): void {
  for (let i = 0; i < z.length; i++) {
    if (!Number.isFinite(z[i]!)) {
      throw new RangeError(
        `Expected finite embeddings but ${checkpoint}'s encoder gave ${z[i]} for sample ${
          keys[Math.floor(i / d)]
        } (column ${i % d}): its weights are not finite; nothing of this part was written`,
      );
    }
  }
}

/**
 * Collects the embeddings of the parts to do, in order, and commits each part once the stream
 * has passed it (a part whose samples all failed to decode is committed empty).
 */
function partWriter(
  fresh: EmbedPart[],
  d: number,
  perFile: number,
  f16: boolean,
  text: Map<string, SampleText> | undefined,
): {
  add: (z: Float32Array, keys: string[], ordinals: ArrayLike<number>) => Promise<void>;
  finish: () => Promise<void>;
} {
  let next = 0, n = 0;
  let buf = new Float32Array(Math.min(perFile, 65536) * d);
  let keys: string[] = [];
  const commitNext = async () => {
    await commitEmbedPart(fresh[next]!, buf, n, d, keys, f16, text);
    next++;
    n = 0;
    keys = [];
  };
  return {
    add: async (z, rowKeys, ordinals) => {
      for (let r = 0; r < rowKeys.length; r++) {
        const o = ordinals[r]!;
        while (fresh[next] && o >= fresh[next]!.hi) await commitNext();
        if ((n + 1) * d > buf.length) {
          const grown = new Float32Array(Math.min(perFile * d, buf.length * 2));
          grown.set(buf);
          buf = grown;
        }
        buf.set(z.subarray(r * d, (r + 1) * d), n * d);
        keys.push(rowKeys[r]!);
        n++;
      }
    },
    finish: async () => {
      while (next < fresh.length) await commitNext();
    },
  };
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

if (import.meta.main) await runCli("embed", main);
