// The weight files of a Hugging Face model directory: one model.safetensors, or shards named
// by model.safetensors.index.json. Headers only; tensors are read one at a time later.
import { readJson } from "./hf_config.ts";
import {
  FLOAT_DTYPES,
  readSafetensorsHeader,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from "./safetensors_file.ts";

/** Where one tensor lives. */
export interface HfWeightRef {
  /** Its file's header. */
  file: SafetensorsHeader;
  /** Its entry in that header. */
  entry: SafetensorsEntry;
}

/** The single-file weights name. */
export const HF_WEIGHTS_FILE = "model.safetensors";
/** The sharded weights' index name. */
export const HF_INDEX_FILE = "model.safetensors.index.json";

/**
 * Reads the headers of a model directory's safetensors weights (every shard of the index,
 * each checked against its size) and maps every tensor name to its file and span.
 *
 * @param dir The model directory.
 * @returns Tensors by name.
 * @throws {Deno.errors.NotFound} When neither weights file exists.
 * @throws {TypeError} For a malformed index, a shard that lacks a tensor the index assigns
 * to it, or a malformed or truncated shard (each named).
 *
 * @example Usage
 * ```ts ignore
 * const weights = await listHfWeights("models/mlcd-vit-bigG-patch14-448");
 * console.log(weights.get("vision_model.class_pos_emb")?.entry.shape);
 * ```
 */
export async function listHfWeights(dir: string): Promise<Map<string, HfWeightRef>> {
  const d = dir.replace(/\/+$/, "");
  const indexPath = `${d}/${HF_INDEX_FILE}`;
  const out = new Map<string, HfWeightRef>();
  if (await exists(indexPath)) {
    const index = await readJson(indexPath) as { weight_map?: unknown };
    const map = index?.weight_map;
    if (typeof map !== "object" || map === null || Array.isArray(map)) {
      throw new TypeError(`Cannot read ${indexPath}: expected a "weight_map" object`);
    }
    const headers = new Map<string, SafetensorsHeader>();
    for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
      if (typeof shard !== "string" || shard.includes("/") || shard.startsWith(".")) {
        throw new TypeError(
          `Cannot read ${indexPath}: tensor "${name}" maps to ${
            JSON.stringify(shard)
          }, not a file name`,
        );
      }
      let h = headers.get(shard);
      if (!h) {
        try {
          h = await readSafetensorsHeader(`${d}/${shard}`);
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) {
            throw new Deno.errors.NotFound(
              `Cannot load ${d}: shard ${shard} named by ${HF_INDEX_FILE} does not exist`,
            );
          }
          throw e;
        }
        headers.set(shard, h);
      }
      const entry = h.entries.get(name);
      if (!entry) {
        throw new TypeError(
          `Cannot load ${d}/${shard}: tensor "${name}" is missing (${HF_INDEX_FILE} puts it there)`,
        );
      }
      out.set(name, { file: h, entry });
    }
    return out;
  }
  const single = `${d}/${HF_WEIGHTS_FILE}`;
  if (!(await exists(single))) {
    throw new Deno.errors.NotFound(
      `Cannot load ${d}: neither ${HF_WEIGHTS_FILE} nor ${HF_INDEX_FILE} exists (only safetensors weights are read; convert a pytorch_model.bin first)`,
    );
  }
  const h = await readSafetensorsHeader(single);
  for (const [name, entry] of h.entries) out.set(name, { file: h, entry });
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Checks that every expected tensor is present with its shape and a float dtype, before any
 * data is read.
 *
 * @param dir The model directory, for messages.
 * @param weights From {@linkcode listHfWeights}.
 * @param expected `[name, shape]` pairs (from `hfParamShapes`).
 * @throws {TypeError} Naming the first missing or mismatched tensor and its file.
 *
 * @example Usage
 * ```ts ignore
 * checkHfWeights(dir, weights, hfParamShapes(config, false));
 * ```
 */
export function checkHfWeights(
  dir: string,
  weights: Map<string, HfWeightRef>,
  expected: [string, number[]][],
): void {
  for (const [name, shape] of expected) {
    const w = weights.get(name);
    if (!w) {
      throw new TypeError(
        `Cannot load ${dir}: tensor "${name}" is missing (expected shape ${JSON.stringify(shape)})`,
      );
    }
    const same = w.entry.shape.length === shape.length &&
      w.entry.shape.every((s, i) => s === shape[i]);
    if (!same) {
      throw new TypeError(
        `Cannot load ${w.file.path}: tensor "${name}" has shape ${
          JSON.stringify(w.entry.shape)
        }, expected ${JSON.stringify(shape)}`,
      );
    }
    if (!FLOAT_DTYPES.includes(w.entry.dtype)) {
      throw new TypeError(
        `Cannot load ${w.file.path}: tensor "${name}" has dtype ${w.entry.dtype}, expected F32, F16 or BF16`,
      );
    }
  }
}
