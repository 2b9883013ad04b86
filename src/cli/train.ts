// deno task train: cluster → assign → train an encoder with the MLCD loss; checkpoints and
// a JSONL log in the run directory; --resume continues a killed run exactly.
import { parseArgs } from "node:util";
import { createGpu, type Gpu } from "../gpu/gpu.ts";
import { type GpuMatrix, uploadMatrix } from "../gpu/gpu_matrix.ts";
import {
  DEFAULT_TRAIN_CONFIG,
  parseConfigValue,
  resolveTrainConfig,
  TRAIN_CONFIG_HELP,
  type TrainConfig,
} from "../train/config.ts";
import { pseudoLabels } from "../train/pseudo_labels.ts";
import { encodeSafetensors } from "../train/safetensors.ts";
import { train } from "../train/trainer.ts";
import { mixSeed } from "../random/rng.ts";
import { writeFileAtomic } from "../data/atomic.ts";
import { isImageInput, loadInputs, readLabels } from "../train/_data_source.ts";
import type { TrainData } from "../train/trainer.ts";
import { kmeansProgress } from "./_kmeans_progress.ts";
import { prepareImageTraining } from "./_train_images.ts";
import { clusterSizes, writeKmeansStats } from "../eval/run_report.ts";
import { type CheckpointManifest, MANIFEST_NAME } from "../train/checkpoint.ts";
import {
  encodeRunRecord,
  isRunFile,
  readRunLabels,
  readRunRecord,
  removeRunFiles,
  RUN_RECORD_NAME,
  type RunSources,
} from "../train/_run_dir.ts";
import { atomicWrites, removeStaleTemps } from "../data/atomic.ts";
import { resolve } from "node:path";
import {
  formatSeconds,
  intFlag,
  joinNegativeValues,
  progress,
  runCli,
  UsageError,
} from "./_cli.ts";
import { checkNotInputs, checkOutputDir } from "./_paths.ts";
import {
  checkModelFlag,
  checkSaveHf,
  loadModelFlag,
  modelTransform,
  saveModelFlag,
  withModelConfig,
} from "./_hf.ts";

/** Data-source flags compared on --resume. */
const SOURCE_FLAGS: [keyof RunSources, string][] = [
  ["data", "--data"],
  ["labels", "--labels"],
  ["limit", "--limit"],
  ["column", "--column"],
  ["model", "--model"],
];

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
const KEYS = Object.keys(DEFAULT_TRAIN_CONFIG) as (keyof TrainConfig)[];

const HELP = [
  "deno task train --data <mnist|files/dirs of .npy/.arrow|image dir> [options]",
  "",
  "Clusters the inputs (spherical k-means, C = --classes), gives every sample its l nearest",
  "centers as positive labels, and trains the encoder + C class centers with the MLCD loss.",
  "Writes run.json (config and data sources), checkpoint.json +",
  "checkpoint-<step>.safetensors, labels.safetensors and metrics.jsonl to --run-dir, which",
  "must be empty unless --resume or --overwrite is given. Progress on stderr.",
  "",
  "Data and run:",
  "  --data <path|mnist>     inputs (repeatable): mnist, .npy/.arrow embeddings, an image folder,",
  "                          or WebDataset shards (dir of .tar, or 'shards/{00000..00099}.tar')",
  "  --labels <file>         precomputed positives (n × l, e.g. from deno task assign); an Arrow",
  "                          file with an id column joins images by sample key",
  "  --config <file.json>    a JSON object of config keys (flags override it)",
  "  --run-dir <dir>         output directory (default runs/train)",
  "  --resume                continue the run in --run-dir from its checkpoint, with its",
  "                          stored config and data (other flags must agree with them)",
  "  --overwrite             start afresh in a --run-dir that holds a run, replacing it",
  "  --limit <n>             use the first n samples (MNIST: training digits, default 8000)",
  "  --column <name>         Arrow column of the embeddings",
  "  --model <dir>           fine-tune a Hugging Face model directory (MLCDVisionModel or a CLIP",
  "                          vision tower) on images with --labels; it sets the encoder keys",
  "  --save-hf <dir>         with --model: write the fine-tuned model there, same layout",
  "  --json                  print a summary JSON object on stdout",
  "  -h, --help              this help",
  "",
  "Config (flag, default, meaning):",
  ...KEYS.map((k) =>
    `  --${kebab(k).padEnd(18)} ${JSON.stringify(DEFAULT_TRAIN_CONFIG[k]).padEnd(10)} ${
      TRAIN_CONFIG_HELP[k]
    }`
  ),
].join("\n");

/** Absolute path of a data source (`mnist` kept as is). */
const absolute = (p: string) => (p === "mnist" ? p : resolve(p));

/**
 * `deno task train`'s entry point, callable in-process (tests count its GPU uploads).
 *
 * @param args Command-line arguments (see `--help`).
 * @param options `gpu`: run on this GPU context instead of creating one (it is not destroyed).
 * @returns When the run is done.
 *
 * @example Usage
 * ```ts ignore
 * await main(["--data", "mnist", "--run-dir", "runs/a", "--epochs", "1"], { gpu });
 * ```
 */
export async function main(args: string[], options: { gpu?: Gpu } = {}): Promise<void> {
  const configFlags = Object.fromEntries(KEYS.map((k) => [kebab(k), { type: "string" as const }]));
  const { values } = parseArgs({
    args: joinNegativeValues(args),
    strict: true,
    options: {
      ...configFlags,
      data: { type: "string", multiple: true },
      labels: { type: "string" },
      config: { type: "string" },
      "run-dir": { type: "string", default: "runs/train" },
      resume: { type: "boolean", default: false },
      overwrite: { type: "boolean", default: false },
      limit: { type: "string" },
      column: { type: "string" },
      model: { type: "string" },
      "save-hf": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const v = values as Record<string, unknown>;
  if (values.resume && values.overwrite) {
    throw new UsageError("Expected at most one of --resume and --overwrite");
  }
  // Everything is validated before anything is written: flags, run dir, inputs, labels.
  let partial: Record<string, unknown> = {};
  if (typeof v.config === "string") {
    const text = await Deno.readTextFile(v.config);
    try {
      partial = JSON.parse(text);
    } catch {
      throw new UsageError(`Cannot parse ${v.config}: not valid JSON`);
    }
    resolveTrainConfig(partial); // unknown keys / bad values in the file fail here
  }
  for (const k of KEYS) {
    const raw = v[kebab(k)];
    if (typeof raw === "string") partial[k] = parseConfigValue(k, raw);
  }
  if (typeof v.model === "string" && !values.resume) {
    partial = await withModelConfig(v.model, partial);
  }
  if (!values.resume) resolveTrainConfig(partial); // bad values fail before the run dir is read
  const optionalInt = (name: string): number | undefined => {
    const s = v[name];
    return typeof s === "string" ? intFlag(name, s, 0, 1) : undefined;
  };
  const runDir = v["run-dir"] as string;
  const givenSources: Partial<RunSources> = {};
  if ((v.data as string[] | undefined)?.length) {
    givenSources.data = (v.data as string[]).map(absolute);
  }
  if (typeof v.labels === "string") givenSources.labels = absolute(v.labels);
  const limitFlag = optionalInt("limit");
  if (limitFlag !== undefined) givenSources.limit = limitFlag;
  if (typeof v.column === "string") givenSources.column = v.column;
  if (typeof v.model === "string") givenSources.model = absolute(v.model);

  const exists = await checkOutputDir("--run-dir", runDir);
  let config: TrainConfig;
  let sources: RunSources;
  let hasCheckpoint = false;
  if (values.resume) {
    const record = await readRunRecord(runDir);
    hasCheckpoint = exists &&
      (await Deno.stat(`${runDir}/${MANIFEST_NAME}`).catch(() => null)) !== null;
    if (!record) {
      throw new Deno.errors.NotFound(
        `Cannot resume: ${runDir} holds no run (no ${RUN_RECORD_NAME}); start it without --resume`,
      );
    }
    // A flag given with --resume must agree with the run's record.
    const given = resolveTrainConfig(partial, record.config);
    const diffs: string[] = [];
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    for (const k of Object.keys(partial) as (keyof TrainConfig)[]) {
      if (!same(given[k], record.config[k])) {
        diffs.push(
          `--${kebab(k)} ${JSON.stringify(given[k])} (the run has ${
            JSON.stringify(record.config[k])
          })`,
        );
      }
    }
    for (const [k, flag] of SOURCE_FLAGS) {
      const g = givenSources[k];
      if (g !== undefined && !same(g, record.sources[k])) {
        diffs.push(
          `${flag} ${JSON.stringify(g)} (the run has ${JSON.stringify(record.sources[k])})`,
        );
      }
    }
    if (diffs.length > 0) {
      throw new UsageError(
        `Cannot resume ${runDir} with different settings: ${
          diffs.join(", ")
        }; --resume needs only --run-dir (start a new run with --overwrite or another --run-dir)`,
      );
    }
    config = record.config;
    sources = record.sources;
  } else {
    if (!givenSources.data) throw new UsageError("Expected --data <mnist|path> but found none");
    config = resolveTrainConfig(partial);
    sources = {
      data: givenSources.data,
      labels: givenSources.labels ?? null,
      limit: givenSources.limit ?? null,
      imageSize: null,
      column: givenSources.column ?? null,
      model: givenSources.model ?? null,
    };
    const present = exists ? (await Array.fromAsync(Deno.readDir(runDir))).map((e) => e.name) : [];
    if (present.length > 0 && !values.overwrite) {
      const named = present.filter(isRunFile);
      throw new UsageError(
        `Refusing to start a new run in ${runDir}: it is not empty (${
          (named.length ? named : present).slice(0, 4).join(", ")
        }${
          present.length > 4 ? ", …" : ""
        }); continue it with --resume, replace it with --overwrite, or choose another --run-dir`,
      );
    }
  }
  const inputs = [
    ...sources.data.filter((d) => d !== "mnist"),
    ...(sources.labels ? [sources.labels] : []),
    ...(typeof v.config === "string" ? [v.config] : []),
  ];
  await checkNotInputs(
    [RUN_RECORD_NAME, "labels.safetensors", MANIFEST_NAME, "metrics.jsonl"].map((n) => ({
      flag: "--run-dir",
      path: `${runDir}/${n}`,
    })),
    inputs,
  );
  const model = sources.model ?? null, saveHf = v["save-hf"] as string | undefined;
  if (!model && (config.trainLayers !== 0 || saveHf !== undefined)) {
    throw new UsageError("Expected --model with --train-layers or --save-hf");
  }
  if (model && sources.labels === null) {
    throw new UsageError(
      "Expected --labels with --model: embed with the model (deno task embed --model), cluster and assign, then train with the labels",
    );
  }
  if (model && saveHf !== undefined) await checkSaveHf(saveHf, model);

  const gpu = options.gpu ?? await createGpu();
  progress(`train: GPU ${gpu.info.description}`);
  if (model) {
    await checkModelFlag(gpu, model, {
      trainLayers: config.trainLayers,
      batchSize: config.batchSize,
    });
  }
  const t0 = performance.now();
  // The checkpoint must fit the data before anything is written (train() checks the rest).
  const checkCheckpointFits = async (n: number, inputShape: number[]) => {
    if (!hasCheckpoint) return;
    const m = JSON.parse(
      await Deno.readTextFile(`${runDir}/${MANIFEST_NAME}`),
    ) as CheckpointManifest;
    const inputDim = inputShape.reduce((a, b) => a * b, 1);
    if (m?.data?.rows !== n || m.data.inputDim !== inputDim) {
      throw new TypeError(
        `Cannot resume: the checkpoint in ${runDir} was trained on ${m?.data?.rows} rows of ${m?.data?.inputDim} values but the data now has ${n} rows of ${inputDim}`,
      );
    }
  };
  let trainData: TrainData;
  let n: number;
  // Vector inputs go to the GPU once and stay there: k-means, top-l and training read them.
  let resident: GpuMatrix | undefined;
  let write: (() => Promise<void>) | undefined;
  const labelsPath = `${runDir}/labels.safetensors`;
  if (await isImageInput(sources.data, config.encoder)) {
    // Images (WebDataset shards or folders) stream through the loader, labels join by key.
    const prepared = await prepareImageTraining(gpu, sources.data, config, {
      runDir,
      ...(sources.labels !== null ? { labels: sources.labels } : {}),
      resume: values.resume,
      ...(sources.limit !== null ? { limit: sources.limit } : {}),
      imageSize: config.imageSize,
      ...(model ? { transform: await modelTransform(model) } : {}),
    });
    trainData = prepared.data;
    n = prepared.n;
    await checkCheckpointFits(n, trainData.inputShape);
    write = prepared.write;
  } else {
    if (model) throw new UsageError("Expected image folders or shards as --data with --model");
    ({ trainData, n, write } = await prepareVectors());
  }
  async function prepareVectors(): Promise<
    { trainData: TrainData; n: number; write?: () => Promise<void> }
  > {
    const loaded = await loadInputs(sources.data, {
      encoder: config.encoder,
      ...(sources.limit !== null ? { limit: sources.limit } : {}),
      testLimit: 0,
      imageSize: config.imageSize,
      ...(sources.column !== null ? { column: sources.column } : {}),
    });
    const n = loaded.x.rows;
    progress(`train: ${n} samples of ${loaded.x.cols} values (${loaded.kind})`);
    let write: (() => Promise<void>) | undefined;
    if (n === 0) {
      throw new RangeError(
        `Expected ${sources.data.join(", ")} to hold at least one row but found none`,
      );
    }
    if (config.classes > n) {
      throw new RangeError(
        `Expected classes to be at most the ${n} samples but found ${config.classes}`,
      );
    }
    await checkCheckpointFits(n, loaded.inputShape);
    const x = resident = uploadMatrix(gpu, loaded.x, { label: "train.x" });
    let positives: Uint32Array;
    let assignments: Uint32Array | undefined;
    if (sources.labels !== null) {
      const lab = await readLabels(sources.labels, n);
      if (lab.cols !== config.l) {
        throw new TypeError(
          `Expected ${sources.labels} to hold l=${config.l} labels per row but found ${lab.cols}`,
        );
      }
      positives = lab.data;
      assignments = new Uint32Array(n).map((_, i) => positives[i * config.l]!);
    } else if (values.resume) {
      const f = await readRunLabels(labelsPath);
      const p = f.get("positives"), a = f.get("assignments");
      if (!p || !a || p.shape[0] !== n || p.shape[1] !== config.l) {
        throw new TypeError(
          `Cannot resume: ${labelsPath} holds pseudo-labels of shape ${
            JSON.stringify(p?.shape ?? null)
          } but the run needs ${n} × l=${config.l}`,
        );
      }
      positives = p.data as Uint32Array;
      assignments = a.data as Uint32Array;
      progress(`train: pseudo-labels from ${labelsPath}`);
    } else {
      progress(
        `cluster: spherical k-means into C=${config.classes} (${config.kmeansIters} iterations)`,
      );
      const { stats, onIteration } = kmeansProgress();
      const pl = await pseudoLabels(gpu, x, {
        classes: config.classes,
        l: config.l,
        niter: config.kmeansIters,
        seed: mixSeed(config.seed, 1),
        onIteration,
      });
      positives = pl.indices;
      assignments = pl.assignments;
      const pos = positives, asg = assignments;
      write = async () => {
        await writeFileAtomic(
          labelsPath,
          encodeSafetensors(
            new Map(
              [
                ["positives", { dtype: "U32", shape: [n, config.l], data: pos }],
                ["assignments", { dtype: "U32", shape: [n], data: asg }],
              ] as const,
            ),
          ),
        );
        await writeKmeansStats(runDir, stats, clusterSizes(asg, { k: config.classes }));
      };
    }
    return {
      trainData: {
        x,
        inputShape: loaded.inputShape,
        positives,
        ...(assignments ? { assignments } : {}),
      },
      n,
      ...(write ? { write } : {}),
    };
  }
  // Validation done: now the run dir may change.
  const owns = (name: string) => isRunFile(name);
  for (const p of await removeStaleTemps(runDir, owns)) {
    progress(`train: removed stale temporary file ${p} (left by an interrupted run)`);
  }
  if (!values.resume) {
    if (values.overwrite) {
      const removed = await removeRunFiles(runDir);
      if (removed.length) {
        progress(`train: --overwrite removed ${removed.join(", ")} from ${runDir}`);
      }
    }
    await Deno.mkdir(runDir, { recursive: true });
    await atomicWrites(async () => {
      await write?.();
      await writeFileAtomic(`${runDir}/${RUN_RECORD_NAME}`, encodeRunRecord(config, sources));
    });
    if (write && sources.labels === null) {
      progress(`assign: top-${config.l} centers per sample → ${labelsPath}`);
    }
  }
  const hf = model
    ? await loadModelFlag(gpu, model, "train", {
      trainLayers: config.trainLayers,
      batchSize: config.batchSize,
    })
    : undefined;
  let last = 0;
  const result = await train(
    gpu,
    trainData,
    config,
    {
      runDir,
      resume: hasCheckpoint,
      onStep: (p) => {
        const now = performance.now();
        if (now - last > 1000 || p.step === p.totalSteps) {
          last = now;
          progress(
            `train: step ${p.step}/${p.totalSteps} epoch ${p.epoch}/${config.epochs} loss ${
              p.loss.toFixed(4)
            } lr ${p.lr.toExponential(2)} ${p.samplesPerSec.toFixed(0)} samples/s ETA ${
              formatSeconds(p.etaSec)
            }`,
          );
        }
      },
      onCheckpoint: (m) => progress(`train: checkpoint step ${m.step} → ${runDir}/${m.file}`),
      ...(hf ? { encoder: hf.encoder } : {}),
    },
  );
  const summary = {
    runDir,
    step: result.step,
    finalLoss: result.finalLoss,
    checkpoint: `${runDir}/checkpoint.json`,
    seconds: (performance.now() - t0) / 1000,
  };
  progress(`train: done, ${result.step} steps, checkpoint ${summary.checkpoint}`);
  if (hf && saveHf !== undefined) await saveModelFlag(hf, saveHf, "train");
  if (values.json) console.log(JSON.stringify(summary));
  result.encoder.dispose();
  result.centers.dispose();
  resident?.destroy();
  if (!options.gpu) gpu.destroy();
}

if (import.meta.main) await runCli("train", main);
