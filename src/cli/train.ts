// deno task train: cluster → assign → train an encoder with the MLCD loss; checkpoints and
// a JSONL log in the run directory; --resume continues a killed run exactly.
import { parseArgs } from "node:util";
import { createGpu } from "../gpu/gpu.ts";
import {
  DEFAULT_TRAIN_CONFIG,
  parseConfigValue,
  resolveTrainConfig,
  TRAIN_CONFIG_HELP,
  type TrainConfig,
} from "../train/config.ts";
import { pseudoLabels } from "../train/pseudo_labels.ts";
import { decodeSafetensors, encodeSafetensors } from "../train/safetensors.ts";
import { train } from "../train/trainer.ts";
import { mixSeed } from "../random/rng.ts";
import { writeFileAtomic } from "../data/atomic.ts";
import { isImageInput, loadInputs, readLabels } from "../train/_data_source.ts";
import type { TrainData } from "../train/trainer.ts";
import type { KMeansIterationStats } from "../kmeans/kmeans_options.ts";
import { prepareImageTraining } from "./_train_images.ts";
import { clusterSizes, writeKmeansStats } from "../eval/run_report.ts";
import { formatSeconds, intFlag, progress, runCli, UsageError } from "./_cli.ts";

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
const KEYS = Object.keys(DEFAULT_TRAIN_CONFIG) as (keyof TrainConfig)[];

const HELP = [
  "deno task train --data <mnist|files/dirs of .npy/.arrow|image dir> [options]",
  "",
  "Clusters the inputs (spherical k-means, C = --classes), gives every sample its l nearest",
  "centers as positive labels, and trains the encoder + C class centers with the MLCD loss.",
  "Writes checkpoint.json + checkpoint-<step>.safetensors, labels.safetensors and",
  "metrics.jsonl to --run-dir. Progress on stderr.",
  "",
  "Data and run:",
  "  --data <path|mnist>     inputs (repeatable): mnist, .npy/.arrow embeddings, an image folder,",
  "                          or WebDataset shards (dir of .tar, or 'shards/{00000..00099}.tar')",
  "  --labels <file>         precomputed positives (n × l, e.g. from deno task assign); an Arrow",
  "                          file with an id column joins images by sample key",
  "  --config <file.json>    a JSON object of config keys (flags override it)",
  "  --run-dir <dir>         output directory (default runs/train)",
  "  --resume                continue from the checkpoint in --run-dir",
  "  --limit <n>             use the first n samples (MNIST: training digits, default 8000)",
  "  --column <name>         Arrow column of the embeddings",
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

async function main(args: string[]): Promise<void> {
  const configFlags = Object.fromEntries(KEYS.map((k) => [kebab(k), { type: "string" as const }]));
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      ...configFlags,
      data: { type: "string", multiple: true },
      labels: { type: "string" },
      config: { type: "string" },
      "run-dir": { type: "string", default: "runs/train" },
      resume: { type: "boolean", default: false },
      limit: { type: "string" },
      column: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const v = values as Record<string, unknown>;
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
  const config = resolveTrainConfig(partial);
  const data = v.data as string[] | undefined;
  if (!data?.length) throw new UsageError("Expected --data <mnist|path> but found none");
  const optionalInt = (name: string): number | undefined => {
    const s = v[name];
    return typeof s === "string" ? intFlag(name, s, 0, 1) : undefined;
  };
  const runDir = v["run-dir"] as string;
  const limit = optionalInt("limit");
  const gpu = await createGpu();
  progress(`train: GPU ${gpu.info.description}`);
  const t0 = performance.now();
  let trainData: TrainData;
  if (await isImageInput(data, config.encoder)) {
    trainData = (await prepareImageTraining(gpu, data, config, {
      runDir,
      ...(typeof v.labels === "string" ? { labels: v.labels } : {}),
      resume: values.resume as boolean,
      ...(limit !== undefined ? { limit } : {}),
      imageSize: config.imageSize,
    })).data;
  } else trainData = await prepareVectors();
  async function prepareVectors(): Promise<TrainData> {
    const inputs = await loadInputs(data!, {
      encoder: config.encoder,
      ...(limit !== undefined ? { limit } : {}),
      testLimit: 0,
      imageSize: config.imageSize,
      ...(typeof v.column === "string" ? { column: v.column } : {}),
    });
    const n = inputs.x.rows;
    progress(`train: ${n} samples of ${inputs.x.cols} values (${inputs.kind})`);
    if (config.classes > n) {
      throw new RangeError(
        `Expected classes to be at most the ${n} samples but found ${config.classes}`,
      );
    }
    let positives: Uint32Array;
    let assignments: Uint32Array | undefined;
    const labelsPath = `${runDir}/labels.safetensors`;
    if (typeof v.labels === "string") {
      const lab = await readLabels(v.labels, n);
      if (lab.cols !== config.l) {
        throw new TypeError(
          `Expected ${v.labels} to hold l=${config.l} labels per row but found ${lab.cols}`,
        );
      }
      positives = lab.data;
      assignments = new Uint32Array(n).map((_, i) => positives[i * config.l]!);
    } else {
      let cached: Uint32Array | undefined;
      if (values.resume) {
        try {
          const f = decodeSafetensors(await Deno.readFile(labelsPath), labelsPath);
          const p = f.tensors.get("positives"), a = f.tensors.get("assignments");
          if (p && a && p.shape[0] === n && p.shape[1] === config.l) {
            cached = p.data as Uint32Array;
            assignments = a.data as Uint32Array;
          }
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
      }
      if (cached) {
        positives = cached;
        progress(`train: pseudo-labels from ${labelsPath}`);
      } else {
        progress(
          `cluster: spherical k-means into C=${config.classes} (${config.kmeansIters} iterations)`,
        );
        const stats: KMeansIterationStats[] = [];
        const pl = await pseudoLabels(gpu, inputs.x, {
          classes: config.classes,
          l: config.l,
          niter: config.kmeansIters,
          seed: mixSeed(config.seed, 1),
          onIteration: (s) => {
            stats.push(s);
            if ((s.iteration + 1) % 5 === 0) {
              progress(`cluster: iteration ${s.iteration + 1} objective ${s.objective.toFixed(3)}`);
            }
          },
        });
        positives = pl.positives;
        assignments = pl.assignments;
        await writeKmeansStats(runDir, stats, clusterSizes(pl.assignments, config.classes));
        await writeFileAtomic(
          labelsPath,
          encodeSafetensors(
            new Map(
              [
                ["positives", { dtype: "U32", shape: [n, config.l], data: positives }],
                ["assignments", { dtype: "U32", shape: [n], data: assignments }],
              ] as const,
            ),
          ),
        );
        progress(`assign: top-${config.l} centers per sample → ${labelsPath}`);
      }
    }
    return {
      x: inputs.x,
      inputShape: inputs.inputShape,
      positives,
      ...(assignments ? { assignments } : {}),
    };
  }
  let last = 0;
  const result = await train(
    gpu,
    trainData,
    config,
    {
      runDir,
      resume: values.resume as boolean,
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
  if (values.json) console.log(JSON.stringify(summary));
  result.encoder.dispose();
  result.centers.dispose();
  gpu.destroy();
}

if (import.meta.main) await runCli("train", main);
