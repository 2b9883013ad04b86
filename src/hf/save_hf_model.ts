// Writes a (fine-tuned) vision tower back in the Hugging Face layout: config.json,
// preprocessor_config.json and float32 safetensors (sharded with an index above the shard
// size), all-or-nothing, one tensor read back from the device at a time.
import { atomicWrites, writeFileAtomic } from "../fs/atomic.ts";
import type { tf } from "../model/tf.ts";
import type { HfVisionSpec } from "./hf_config.ts";
import { HF_INDEX_FILE, HF_WEIGHTS_FILE } from "./hf_weights.ts";
import type { HfPreprocessor } from "./preprocessor_config.ts";
import { encodeSafetensorsHeader } from "./safetensors_file.ts";

/** What {@linkcode saveHfModel} writes: the fields of an `HfModel`. */
export interface SavableHfModel {
  /** The config read from the source directory. */
  config: HfVisionSpec;
  /** The processor read from the source directory. */
  preprocessor: HfPreprocessor;
  /** Whether the model has CLIP's `visual_projection`. */
  projection: boolean;
  /** Every parameter by Hugging Face name. */
  weights: Map<string, tf.Variable>;
}

/** Options of {@linkcode saveHfModel}. */
export interface SaveHfModelOptions {
  /** Largest shard in bytes (transformers' default `max_shard_size` is 5 GB). @default {5e9} */
  maxShardBytes?: number;
}

/**
 * The `config.json` written for a model: the source's, with float32 weights declared; a CLIP
 * tower read from a full CLIP config becomes a `clip_vision_model` config.
 *
 * @param c The config read.
 * @param projection Whether `visual_projection` is written.
 * @returns The JSON object.
 *
 * @example Usage
 * ```ts
 * import { parseHfVisionSpec } from "./hf_config.ts";
 * import { hfConfigJson } from "./save_hf_model.ts";
 * const c = parseHfVisionSpec({ model_type: "clip", vision_config: { hidden_size: 64, num_attention_heads: 4 } }, "config.json");
 * console.log(hfConfigJson(c, true).architectures); // [ "CLIPVisionModelWithProjection" ]
 * ```
 */
export function hfConfigJson(c: HfVisionSpec, projection: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(c.raw);
  if (c.kind === "clip") {
    out.model_type = "clip_vision_model";
    out.architectures = [projection ? "CLIPVisionModelWithProjection" : "CLIPVisionModel"];
    if (projection) out.projection_dim = c.projectionDim;
  } else {
    out.model_type ??= c.modelType;
    out.architectures ??= ["MLCDVisionModel"];
  }
  out.torch_dtype = "float32";
  if ("dtype" in out) out.dtype = "float32";
  return out;
}

/**
 * Writes `model` to `dir` in the Hugging Face layout, so that `MLCDVisionModel` /
 * `CLIPVisionModel(WithProjection).from_pretrained(dir)` loads it unchanged. `dir` must not
 * exist or be empty; every file appears at once (temporary files renamed together) or none.
 *
 * @param model The model (e.g. an `HfModel` after training).
 * @param dir The output directory.
 * @param options See {@linkcode SaveHfModelOptions}.
 * @returns The files written.
 * @throws {Deno.errors.AlreadyExists} When `dir` holds files.
 *
 * @example Usage
 * ```ts ignore
 * await saveHfModel(model, "models/mlcd-finetuned");
 * ```
 */
export async function saveHfModel(
  model: SavableHfModel,
  dir: string,
  options: SaveHfModelOptions = {},
): Promise<string[]> {
  const d = dir.replace(/\/+$/, "") || ".";
  await checkEmptyDir(d);
  const max = options.maxShardBytes ?? 5e9;
  if (!(max > 0)) throw new RangeError(`Expected maxShardBytes > 0 but found ${max}`);
  const shards: [string, tf.Variable][][] = [[]];
  let bytes = 0, total = 0;
  for (const entry of model.weights) {
    const n = entry[1].size * 4;
    if (bytes > 0 && bytes + n > max) {
      shards.push([]);
      bytes = 0;
    }
    shards.at(-1)!.push(entry);
    bytes += n;
    total += n;
  }
  const names = shards.length === 1
    ? [HF_WEIGHTS_FILE]
    : shards.map((_, i) =>
      `model-${String(i + 1).padStart(5, "0")}-of-${
        String(shards.length).padStart(5, "0")
      }.safetensors`
    );
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + "\n");
  await Deno.mkdir(d, { recursive: true });
  await atomicWrites(async () => {
    await writeFileAtomic(`${d}/config.json`, json(hfConfigJson(model.config, model.projection)));
    await writeFileAtomic(`${d}/preprocessor_config.json`, json(model.preprocessor.raw));
    for (const [i, shard] of shards.entries()) {
      const { header } = encodeSafetensorsHeader(
        shard.map(([name, v]) => [name, "F32", [...v.shape]]),
      );
      await writeFileAtomic(`${d}/${names[i]}`, async function* () {
        yield header;
        for (const [, v] of shard) {
          const data = await v.data() as Float32Array;
          yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        }
      });
    }
    if (shards.length > 1) {
      const weightMap: Record<string, string> = {};
      shards.forEach((s, i) => s.forEach(([name]) => weightMap[name] = names[i]!));
      await writeFileAtomic(
        `${d}/${HF_INDEX_FILE}`,
        json({ metadata: { total_size: total }, weight_map: weightMap }),
      );
    }
  });
  return [
    "config.json",
    "preprocessor_config.json",
    ...names,
    ...(shards.length > 1 ? [HF_INDEX_FILE] : []),
  ].map((f) => `${d}/${f}`);
}

/**
 * Throws unless `dir` is absent or an empty directory (an output must not overwrite files).
 *
 * @param dir The output directory.
 * @throws {Deno.errors.AlreadyExists} When it holds files, or is a file.
 *
 * @example Usage
 * ```ts ignore
 * await checkEmptyDir("models/out"); // before training, so a finished run is not lost
 * ```
 */
export async function checkEmptyDir(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!info.isDirectory) {
    throw new Deno.errors.AlreadyExists(`Refusing to write a model to ${dir}: it is a file`);
  }
  for await (const e of Deno.readDir(dir)) {
    throw new Deno.errors.AlreadyExists(
      `Refusing to write a model to ${dir}: it is not empty (${e.name})`,
    );
  }
}
