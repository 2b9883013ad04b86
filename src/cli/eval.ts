// deno task eval: linear probe, kNN top-1, retrieval recall@K and clustering NMI/ARI of a
// trained checkpoint's embeddings; prints a table and writes JSON.
import { parseArgs } from "node:util";
import { type EvalMetrics, type EvalProgress, evaluateFeatures } from "../eval/evaluate.ts";
import { evalRows } from "../eval/eval_rows.ts";
import { addEvalResult, readEvalResults } from "../eval/eval_results.ts";
import { createGpu } from "../gpu/gpu.ts";
import { DEVICE_FLAG_OPTIONS, deviceHelp, gpuOptions } from "./_device_flag.ts";
import { createEncoder, embed, type Encoder } from "../model/encoder.ts";
import { mixSeed } from "../random/rng.ts";
import { useTfBackend } from "../model/tf.ts";
import { loadEncoder } from "../train/load_encoder.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { loadInputs, readLabels } from "./_data_source.ts";
import {
  formatSeconds,
  intFlag,
  joinNegativeValues,
  logTo,
  progress,
  runCli,
  UsageError,
} from "./_cli.ts";
import { checkOutputFiles } from "../jobs/output_paths.ts";
import { loadModelFlag } from "./_hf.ts";
import type { ImageTransform } from "../hf/preprocess.ts";

const HELP = `mlcd eval --checkpoint <run dir>|--model <dir> --data <mnist|path> [options]

Embeds labelled data with a trained encoder and reports linear-probe top-1 (logistic
regression on the GPU), kNN top-1 (k=20, cosine), retrieval recall@1/5/10 (test → train,
same label = relevant) and NMI/ARI of spherical k-means (k = number of labels) vs the labels,
beside the same metrics of the raw inputs (input embeddings or pixels). Images may be folders
or WebDataset shards (directories of .tar, brace patterns); .npy labels follow the read order
(shards sorted by name, members in tar order).

Options:
  --checkpoint <dir>     run directory with checkpoint.json (from mlcd train)
  --model <dir>          or a Hugging Face model directory (MLCD / CLIP vision; needs --out)
  --data <path|mnist>    training inputs (repeatable); mnist brings its own labels and test split
  --labels <file.npy>    integer labels of --data (not for mnist)
  --test-data <path>     held-out inputs (repeatable; not for mnist)
  --test-labels <npy>    integer labels of --test-data
  --limit <n>            MNIST training digits (default 8000)
  --test-limit <n>       MNIST held-out digits (default 2000)
  --image-size <px>      image side for cnn/vit checkpoints (default: the checkpoint's)
  --knn-k <k>            kNN neighbours (default 20)
  --out <file.json>      add the metrics to this JSON file (default <checkpoint>/eval.json);
                         results accumulate there, earlier ones are kept
  --baseline             also evaluate the untrained (random-init) encoder
  --no-raw               skip the row for the raw inputs
${deviceHelp(25)}
  --json                 print the metrics JSON on stdout
  -h, --help             this help`;

function table(rows: [string, EvalMetrics][]): string {
  const keys = Object.keys(rows[0]![1]) as (keyof EvalMetrics)[];
  const lines = [
    `| metric | ${rows.map((r) => r[0]).join(" | ")} |`,
    `|---|${rows.map(() => "---|").join("")}`,
  ];
  for (const k of keys) lines.push(`| ${k} | ${rows.map((r) => r[1][k].toFixed(4)).join(" | ")} |`);
  return lines.join("\n");
}

/** `mlcd eval`'s entry point: parses `args` (see `--help`) and runs the command. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args: joinNegativeValues(args),
    strict: true,
    options: {
      checkpoint: { type: "string" },
      model: { type: "string" },
      data: { type: "string", multiple: true },
      labels: { type: "string" },
      "test-data": { type: "string", multiple: true },
      "test-labels": { type: "string" },
      limit: { type: "string" },
      "test-limit": { type: "string" },
      "image-size": { type: "string" },
      "knn-k": { type: "string", default: "20" },
      out: { type: "string" },
      baseline: { type: "boolean", default: false },
      "no-raw": { type: "boolean", default: false },
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
  if (values.model && (values.out === undefined || values.baseline || values["image-size"])) {
    throw new UsageError("Expected --out and no --baseline or --image-size with --model");
  }
  if (!values.data?.length) throw new UsageError("Expected --data <mnist|path> but found none");
  const ck = !values.checkpoint
    ? ""
    : values.checkpoint.endsWith(".json")
    ? values.checkpoint.slice(0, values.checkpoint.lastIndexOf("/") + 1) || "."
    : values.checkpoint;
  const inputs = [
    ...values.data.filter((d) => d !== "mnist"),
    ...(values.labels ? [values.labels] : []),
    ...(values["test-data"] ?? []),
    ...(values["test-labels"] ? [values["test-labels"]] : []),
    ...(ck ? ["checkpoint.json", "run.json", "labels.safetensors", "metrics.jsonl"] : []).map((
      f,
    ) => `${ck}/${f}`),
  ];
  const out = values.out ?? `${ck}/eval.json`;
  // Results accumulate in --out (a file there must hold eval results): never replaced.
  const checkOut = async () => {
    await checkOutputFiles([{ flag: "--out", path: out }], inputs, {
      writer: { command: "eval" },
      onLog: logTo("eval"),
    });
    await readEvalResults(out);
  };
  if (values.out !== undefined) await checkOut();
  const gpu = await createGpu(gpuOptions(values));
  await useTfBackend(gpu);
  const hf = values.model ? await loadModelFlag(gpu, values.model, "eval") : undefined;
  const { encoder, centers, manifest } = hf
    ? { encoder: hf.encoder, centers: undefined, manifest: undefined }
    : await loadEncoder(values.checkpoint!);
  centers?.dispose();
  if (values.out === undefined) await checkOut();
  const data = await loadEvalData(values, encoder, hf?.transform);
  const knnK = optionalInt("knn-k", values["knn-k"])!;
  progress(
    `eval: embedding ${data.train.x.rows} + ${data.test.x.rows} samples with ${
      values.checkpoint ?? values.model
    }`,
  );
  const metricsOf = async (e: Encoder, which: string) =>
    await evaluateFeatures(
      gpu,
      { x: finite(await embed(e, data.train.x), which, "--data"), y: data.train.y },
      { x: finite(await embed(e, data.test.x), which, "--test-data"), y: data.test.y },
      { knnK, onProgress: evalProgress(which) },
    );
  const trainedLabel = manifest ? `checkpoint (step ${manifest.step})` : `model ${values.model}`;
  const m = await metricsOf(
    encoder,
    manifest ? `the checkpoint ${values.checkpoint}` : `the model ${values.model}`,
  );
  encoder.dispose();
  let baseline: EvalMetrics | undefined;
  if (values.baseline && manifest) {
    progress("eval: the untrained encoder (--baseline)");
    const init = createEncoder(encoder.spec, { seed: mixSeed(manifest.config.seed, 101) });
    baseline = await metricsOf(init, "the untrained encoder");
    init.dispose();
  }
  let raw: EvalMetrics | undefined;
  if (!values["no-raw"]) {
    progress(`eval: raw inputs (${data.train.x.cols} values per sample)`);
    raw = await evaluateFeatures(gpu, data.train, data.test, {
      knnK,
      onProgress: evalProgress("the raw inputs"),
    });
  }
  // One order for every table: raw inputs, untrained, trained.
  const rows = evalRows({
    ...(raw ? { raw } : {}),
    rawLabel: data.kind === "embeddings" ? "raw input embeddings" : "raw pixels",
    ...(baseline ? { untrained: baseline } : {}),
    trained: [[trainedLabel, m]],
  });
  console.error(table(rows));
  const result = {
    ...(values.checkpoint !== undefined ? { checkpoint: values.checkpoint } : {}),
    ...(values.model !== undefined ? { model: values.model } : {}),
    ...(manifest ? { step: manifest.step } : {}),
    ...m,
    ...(baseline ? { baseline } : {}),
    ...(raw ? { raw } : {}),
  };
  const count = await addEvalResult(out, result);
  progress(
    count === 1
      ? `eval: metrics written to ${out}`
      : `eval: metrics added to ${out} (${count} results)`,
  );
  if (values.json) console.log(JSON.stringify(result));
  gpu.destroy();
}

/**
 * Where an evaluation stands, at most one line every 2 s, naming what is evaluated:
 * `eval: the checkpoint r: linear probe 40/100 epochs (3.1s)`.
 */
function evalProgress(which: string): (p: EvalProgress) => void {
  let last = performance.now();
  return (p) => {
    const now = performance.now();
    if (now - last < 2000) return;
    last = now;
    progress(
      `eval: ${which}: ${p.stage}${p.total > 1 ? ` ${p.done}/${p.total} epochs` : " done"} (${
        formatSeconds(p.seconds)
      })`,
    );
  };
}

/** The embeddings `z` of `flag`'s samples by `which` encoder, refused when not finite. */
function finite(z: Matrix, which: string, flag: string): Matrix {
  for (let i = 0; i < z.data.length; i++) {
    if (!Number.isFinite(z.data[i]!)) {
      const row = Math.floor(i / z.cols);
      throw new RangeError(
        `Expected finite embeddings of the ${flag} samples from ${which} but found ${
          z.data[i]
        } at sample ${row}, column ${i % z.cols} (the encoder's weights are not finite)`,
      );
    }
  }
  return z;
}

/**
 * Labels as class numbers 0..C-1, C the distinct labels of both splits in increasing order, so
 * that the probe and kNN are sized by the classes present, not by the largest label id.
 */
function remapLabels(
  train: ArrayLike<number>,
  test: ArrayLike<number>,
): { train: Uint32Array; test: Uint32Array } {
  const ids = [...new Set([...Array.from(train), ...Array.from(test)])].sort((a, b) => a - b);
  const to = new Map(ids.map((id, c) => [id, c]));
  const map = (y: ArrayLike<number>) => Uint32Array.from(y, (v) => to.get(v)!);
  return { train: map(train), test: map(test) };
}

/** An optional flag: undefined when absent, else an integer ≥ 1 (intFlag's check). */
const optionalInt = (name: string, s: string | undefined): number | undefined =>
  s === undefined ? undefined : intFlag(name, s, 1, 1);

/** The labelled train and test rows of the eval's inputs. */
interface EvalData {
  kind: string;
  train: { x: Matrix; y: ArrayLike<number> };
  test: { x: Matrix; y: ArrayLike<number> };
}

/** Loads the train and test inputs and their labels (MNIST brings its own). */
async function loadEvalData(
  values: {
    data?: string[];
    labels?: string | undefined;
    "test-data"?: string[] | undefined;
    "test-labels"?: string | undefined;
    limit?: string | undefined;
    "test-limit"?: string | undefined;
    "image-size"?: string | undefined;
  },
  encoder: Encoder,
  transform?: ImageTransform,
): Promise<EvalData> {
  const spec = encoder.spec;
  const limit = optionalInt("limit", values.limit);
  const testLimit = optionalInt("test-limit", values["test-limit"]);
  const imageSize = optionalInt("image-size", values["image-size"]) ??
    (spec.kind !== "head" ? spec.inputShape[0] : undefined);
  const common = {
    encoder: spec.kind,
    cmd: "eval",
    ...(transform ? { transform } : {}),
    ...(imageSize !== undefined ? { imageSize } : {}),
  };
  const tr = await loadInputs(values.data!, {
    ...common,
    ...(limit !== undefined ? { limit } : {}),
    ...(testLimit !== undefined ? { testLimit } : {}),
  });
  let trainY: ArrayLike<number>, test: { x: Matrix; y: ArrayLike<number> };
  if (tr.kind === "mnist") {
    trainY = tr.y!;
    test = tr.test!;
  } else {
    if (!values.labels || !values["test-data"]?.length || !values["test-labels"]) {
      throw new UsageError("Expected --labels, --test-data and --test-labels for non-MNIST data");
    }
    // Labels follow the read order; rows of images that failed to decode are left out.
    const labelsOf = async (path: string, d: typeof tr) => {
      const y = (await readLabels(path, d.index ? d.index.keys.length : d.x.rows)).data;
      return d.ordinals ? Uint32Array.from(d.ordinals, (o) => y[o]!) : y;
    };
    trainY = await labelsOf(values.labels, tr);
    const te = await loadInputs(values["test-data"], common);
    test = { x: te.x, y: await labelsOf(values["test-labels"], te) };
  }
  if (tr.x.cols !== encoder.inputDim) {
    throw new TypeError(
      `Expected data rows of ${encoder.inputDim} values (the checkpoint's encoder input) but found ${tr.x.cols}`,
    );
  }
  const y = remapLabels(trainY, test.y);
  return { kind: tr.kind, train: { x: tr.x, y: y.train }, test: { x: test.x, y: y.test } };
}

if (import.meta.main) await runCli("eval", main);
