// `--model DIR` of embed, eval and train: a local Hugging Face model directory (MLCDVisionModel
// or a CLIP vision tower), loaded with progress; the train config it implies; `--save-hf`.
import type { Gpu } from "../gpu/gpu.ts";
import { HF_PROJECTION, readHfVisionSpec, readJson } from "../hf/hf_config.ts";
import { listHfWeights } from "../hf/hf_weights.ts";
import { type HfModel, inspectHfModel, loadHfModel } from "../hf/load_hf_model.ts";
import { formatBytes } from "../hf/memory.ts";
import { hfImageTransform, type ImageTransform } from "../hf/preprocess.ts";
import { parsePreprocessorConfig, preprocessorSide } from "../hf/preprocessor_config.ts";
import { checkEmptyDir, saveHfModel } from "../hf/save_hf_model.ts";
import type { RunDir } from "../train/run_dir.ts";
import { resolve } from "node:path";
import { progress, UsageError } from "./_cli.ts";

/** Loads `--model` onto the GPU, reporting its shape, size and load time. */
export async function loadModelFlag(
  gpu: Gpu,
  dir: string,
  cmd: string,
  options: { trainLayers?: number; batchSize?: number } = {},
): Promise<HfModel> {
  const t0 = performance.now();
  let last = t0;
  const m = await loadHfModel(gpu, dir, {
    ...options,
    onTensor: (done, total) => {
      const now = performance.now();
      if (now - last < 2000 && done < total) return;
      last = now;
      progress(`${cmd}: loading ${dir}: ${done}/${total} tensors`);
    },
  });
  const c = m.config;
  progress(
    `${cmd}: ${
      c.kind === "mlcd" ? "MLCD (2D RoPE)" : "CLIP"
    } vision tower, width ${c.hiddenSize}, ${c.numHiddenLayers} layers, ${
      (m.plan.params / 1e6).toFixed(0)
    }M parameters (${
      formatBytes(m.plan.weightBytes)
    } f32), ${m.inputSize} px, output ${m.encoder.spec.embedDim}${
      m.projection ? " (visual_projection)" : ""
    }, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return m;
}

/** Checks `--model` (files, tensors, memory) before a command changes anything. */
export async function checkModelFlag(
  gpu: Gpu,
  dir: string,
  options: { trainLayers?: number; batchSize?: number } = {},
): Promise<void> {
  await inspectHfModel(gpu, dir, options);
}

/** Train-config keys that `--model` sets: the tower's ViT shape, image side and output size. */
export async function modelTrainConfig(dir: string): Promise<Record<string, unknown>> {
  const c = await readHfVisionSpec(dir);
  const ppFile = `${dir.replace(/\/+$/, "")}/preprocessor_config.json`;
  const side = preprocessorSide(parsePreprocessorConfig(await readJson(ppFile), ppFile), ppFile);
  const projection = c.kind === "clip" && (await listHfWeights(dir)).has(HF_PROJECTION);
  return {
    encoder: "vit",
    imageSize: side,
    patch: c.patchSize,
    width: c.hiddenSize,
    depth: c.numHiddenLayers,
    heads: c.numAttentionHeads,
    mlpRatio: c.intermediateSize / c.hiddenSize,
    embedDim: projection ? c.projectionDim : c.hiddenSize,
  };
}

/**
 * Merges the keys `--model` sets into a new run's config flags; a flag that sets one of them
 * to another value is a usage error.
 */
export async function withModelConfig(
  dir: string,
  partial: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const keys = await modelTrainConfig(dir);
  const kebab = (k: string) => k.replace(/[A-Z]/g, (ch) => "-" + ch.toLowerCase());
  for (const [k, v] of Object.entries(keys)) {
    if (k in partial && JSON.stringify(partial[k]) !== JSON.stringify(v)) {
      throw new UsageError(
        `--model ${dir} sets ${kebab(k)} to ${JSON.stringify(v)}; drop --${kebab(k)} ${
          JSON.stringify(partial[k])
        }`,
      );
    }
  }
  if (partial.preset !== undefined && partial.preset !== "none") {
    throw new UsageError(`--model ${dir} sets the encoder; drop --preset ${partial.preset}`);
  }
  return { ...partial, ...keys };
}

/** The image transform of `--model`'s processor (read before the weights are loaded). */
export async function modelTransform(dir: string): Promise<ImageTransform> {
  const ppFile = `${dir.replace(/\/+$/, "")}/preprocessor_config.json`;
  const pp = parsePreprocessorConfig(await readJson(ppFile), ppFile);
  return hfImageTransform(pp, preprocessorSide(pp, ppFile));
}

/** Checks `--save-hf` before any work: an empty or new directory, not the model itself. */
export async function checkSaveHf(out: string, model: string): Promise<void> {
  if (resolve(out) === resolve(model)) {
    throw new UsageError(`Refusing --save-hf ${out}: it is the --model directory`);
  }
  await checkEmptyDir(out);
}

/**
 * Checks a train run's `--model` (from the flags or the resumed run), `--train-layers` and
 * `--save-hf` before any work; returns the model directory, or null without one.
 */
export async function checkTrainModelFlags(
  run: RunDir,
  saveHf: string | undefined,
): Promise<string | null> {
  const model = run.sources.model ?? null;
  if (!model && (run.config.trainLayers !== 0 || saveHf !== undefined)) {
    throw new UsageError("Expected --model with --train-layers or --save-hf");
  }
  if (model && run.sources.labels === null) {
    throw new UsageError(
      "Expected --labels with --model: embed with the model (mlcd embed --model), cluster and assign, then train with the labels",
    );
  }
  if (model && saveHf !== undefined) await checkSaveHf(saveHf, model);
  return model;
}

/** Writes the fine-tuned model with `--save-hf`, reporting the files. */
export async function saveModelFlag(model: HfModel, out: string, cmd: string): Promise<void> {
  const files = await saveHfModel(model, out);
  progress(`${cmd}: wrote the fine-tuned model to ${out} (${files.length} files)`);
}
