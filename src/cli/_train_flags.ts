// The flags of `deno task train`: its help, and the config keys and data sources they give
// (validated here; the run directory checks them against a run it resumes).
import type { CreateGpuOptions } from "../gpu/gpu.ts";
import { DEVICE_FLAG_OPTIONS, deviceHelp, gpuOptions } from "./_device_flag.ts";
import { parseArgs } from "node:util";
import {
  DEFAULT_TRAIN_CONFIG,
  parseConfigValue,
  resolveTrainConfig,
  TRAIN_CONFIG_HELP,
  type TrainConfig,
} from "../train/config.ts";
import type { RunSources } from "../train/run_record.ts";
import { resolve } from "node:path";
import { intFlag, joinNegativeValues, UsageError } from "./_cli.ts";
import { withModelConfig } from "./_hf.ts";

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
const KEYS = Object.keys(DEFAULT_TRAIN_CONFIG) as (keyof TrainConfig)[];

/** `deno task train --help`. */
export const TRAIN_HELP = [
  "mlcd train --data <mnist|files/dirs of .npy/.parquet/.arrow|image dir> [options]",
  "",
  "Clusters the inputs (spherical k-means, C = --classes), gives every sample its l nearest",
  "centers as positive labels, and trains the encoder + C class centers with the MLCD loss.",
  "Writes run.json (config and data sources), checkpoint.json +",
  "checkpoint-<step>.safetensors, labels.safetensors and metrics.jsonl to --run-dir, which",
  "must be empty unless --resume or --overwrite is given. Progress on stderr.",
  "",
  "Data and run:",
  "  --data <path|mnist>     inputs (repeatable): mnist, .npy/.parquet/.arrow embeddings, an image folder,",
  "                          or WebDataset shards (dir of .tar, or 'shards/{00000..00099}.tar')",
  "  --labels <file>         precomputed positives (n × l, e.g. from mlcd assign); a Parquet",
  "                          file with a key column or an Arrow file with an id column joins",
  "                          images by sample key",
  "  --config <file.json>    a JSON object of config keys (flags override it)",
  "  --run-dir <dir>         output directory (default runs/train)",
  "  --resume                continue the run in --run-dir from its checkpoint, with its",
  "                          stored config and data (other flags must agree with them)",
  "  --extend                with --resume and a larger --epochs: train the run further (a",
  "                          finished one too); the learning rate follows the cosine decay",
  "                          over the new total, so it steps up from where it had ended",
  "  --overwrite             start afresh in a --run-dir that holds a run, replacing it",
  "  --limit <n>             use the first n samples (MNIST: training digits, default 8000)",
  "  --column <name>         Parquet/Arrow column of the embeddings",
  "  --model <dir>           fine-tune a Hugging Face model directory (MLCDVisionModel or a CLIP",
  "                          vision tower) on images with --labels; it sets the encoder keys",
  "  --save-hf <dir>         with --model: write the fine-tuned model there, same layout",
  "  --json                  print a summary JSON object on stdout",
  deviceHelp(26),
  "  -h, --help              this help",
  "",
  "Config (flag, default, meaning):",
  ...KEYS.map((k) =>
    `  --${kebab(k).padEnd(18)} ${JSON.stringify(DEFAULT_TRAIN_CONFIG[k]).padEnd(10)} ${
      TRAIN_CONFIG_HELP[k]
    }`
  ),
].join("\n");

/** What the flags of `deno task train` say. */
export interface TrainFlags {
  help: boolean;
  runDir: string;
  resume: boolean;
  /** `--extend`: with `--resume`, train the run further to a larger `--epochs`. */
  extend: boolean;
  overwrite: boolean;
  json: boolean;
  /** Config keys given, from `--config` and the flags (flags win). */
  config: Record<string, unknown>;
  /** createGpu() options (`--device`). */
  gpu: CreateGpuOptions;
  /** The `--config` file, if given. */
  configFile: string | undefined;
  /** Data sources given (paths absolute; `mnist` as is). */
  sources: Partial<RunSources>;
  /** `--save-hf`: where to write the fine-tuned `--model`, if given. */
  saveHf: string | undefined;
}

/** Absolute path of a data source (`mnist` kept as is). */
const absolute = (p: string) => (p === "mnist" ? p : resolve(p));

/** Parses and validates the flags (reading `--config`), before the run directory is read. */
export async function trainFlags(args: string[]): Promise<TrainFlags> {
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
      extend: { type: "boolean", default: false },
      overwrite: { type: "boolean", default: false },
      limit: { type: "string" },
      column: { type: "string" },
      model: { type: "string" },
      "save-hf": { type: "string" },
      json: { type: "boolean", default: false },
      ...DEVICE_FLAG_OPTIONS,
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const v = values as Record<string, unknown>;
  const flags: TrainFlags = {
    help: values.help,
    runDir: values["run-dir"],
    resume: values.resume,
    extend: values.extend,
    overwrite: values.overwrite,
    json: values.json,
    config: {},
    configFile: values.config,
    sources: {},
    saveHf: values["save-hf"],
    gpu: gpuOptions(values),
  };
  if (flags.help) return flags;
  if (values.resume && values.overwrite) {
    throw new UsageError("Expected at most one of --resume and --overwrite");
  }
  // Everything is validated before anything is written: flags, run dir, inputs, labels.
  if (values.config !== undefined) {
    const text = await Deno.readTextFile(values.config);
    try {
      flags.config = JSON.parse(text);
    } catch {
      throw new UsageError(`Cannot parse ${values.config}: not valid JSON`);
    }
    resolveTrainConfig(flags.config); // unknown keys / bad values in the file fail here
  }
  for (const k of KEYS) {
    const raw = v[kebab(k)];
    if (typeof raw === "string") flags.config[k] = parseConfigValue(k, raw);
  }
  if (values.model !== undefined && !values.resume) {
    flags.config = await withModelConfig(values.model, flags.config);
  }
  if (!values.resume) resolveTrainConfig(flags.config); // bad values fail before the run dir
  if (values.data?.length) flags.sources.data = values.data.map(absolute);
  if (values.labels !== undefined) flags.sources.labels = absolute(values.labels);
  if (values.limit !== undefined) flags.sources.limit = intFlag("limit", values.limit, 0, 1);
  if (values.column !== undefined) flags.sources.column = values.column;
  if (values.model !== undefined) flags.sources.model = absolute(values.model);
  return flags;
}
