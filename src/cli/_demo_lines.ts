// The demo's own lines: the training config as it applies to its encoder, and the closing
// summary with the next commands (in the README's form, `mlcd <command>`).
import { formatSeconds } from "./_cli.ts";
import type { TrainConfig } from "../train/config.ts";

/** Config keys of image encoders (cnn, vit, a Hugging Face fine-tune) and image inputs. */
const IMAGE_KEYS: ReadonlySet<string> = new Set([
  "channels",
  "preset",
  "imageSize",
  "patch",
  "width",
  "depth",
  "heads",
  "mlpRatio",
  "augment",
  "minCropScale",
  "trainLayers",
]);

/**
 * The config keys that apply to the run, as `key=value` words: for the `head` encoder (an MLP
 * on vectors) none of the image encoders' keys, nor `checkpointEvery`.
 */
export function configLine(config: TrainConfig): string {
  return Object.entries(config)
    .filter(([k]) =>
      k !== "checkpointEvery" && (config.encoder !== "head" || !IMAGE_KEYS.has(k)) &&
      (config.encoder === "head" || k !== "hidden")
    )
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : v}`)
    .join(" ");
}

/** `s` as one shell word: unchanged when it is plain, else single-quoted. */
function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The summary, then where the run is, how to evaluate it again, how to run it on your data. */
export function closingLines(
  base: TrainConfig,
  o: {
    nTrain: number;
    nTest: number;
    quick: boolean;
    seconds: number;
    runDir: string;
    out: string;
  },
): string[] {
  const limits = o.quick ? ` --limit ${o.nTrain} --test-limit ${o.nTest}` : "";
  return [
    `mlcd demo: clustered ${o.nTrain} MNIST digits into ${base.classes} clusters, gave each its 8 nearest ` +
    `clusters as labels, trained a 784→${
      base.hidden.join("→")
    }→${base.embedDim} MLP with the MLCD loss ` +
    `(${base.epochs} epochs) and evaluated it on ${o.nTest} held-out digits in ${
      formatSeconds(o.seconds)
    }.`,
    `mlcd demo: the run is in ${o.runDir}/ (checkpoint.json, metrics.jsonl, report.html; all metrics in ${o.out}/metrics.json)`,
    `mlcd demo: evaluate it again: mlcd eval --checkpoint ${
      shellQuote(o.runDir)
    } --data mnist${limits}`,
    "mlcd demo: the same cycle on your own .npy, Parquet or Arrow embeddings (files or a directory of " +
    "shards): mlcd train --data path/to/embeddings/ --classes 1000 --run-dir runs/mine",
  ];
}
