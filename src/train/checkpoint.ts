// Checkpoints: one safetensors file (model, centers, AdamW state) + a JSON manifest.
import { createHash } from "node:crypto";
import { writeFileAtomic } from "../fs/atomic.ts";
import type { EncoderSpec } from "../model/encoder.ts";
import type { TrainConfig } from "./config.ts";
import { decodeSafetensors, type NamedTensor } from "./safetensors.ts";
import { safetensorsStream, type StreamedTensor } from "./safetensors_stream.ts";
import { pausePoint } from "../testing/pause_point.ts";

/** The manifest's file name inside a run directory. */
export const MANIFEST_NAME = "checkpoint.json";

/** The JSON manifest of a checkpoint. */
export interface CheckpointManifest {
  /** Always `"mlcd-checkpoint"`. */
  format: "mlcd-checkpoint";
  /** Manifest format version (1). */
  formatVersion: 1;
  /** Toolkit version that wrote it. */
  toolkitVersion: string;
  /** The training config. */
  config: TrainConfig;
  /** The encoder architecture. */
  encoder: Required<EncoderSpec>;
  /** Steps done. */
  step: number;
  /** Steps of the whole run. */
  totalSteps: number;
  /** True when training finished. */
  done: boolean;
  /** Optimizer step count. */
  optimizerT: number;
  /** RNG state: the seed and the negative-sampling stream's state. */
  rng: { seed: number; samplerState: number };
  /** Training data the run was started on (checked on resume). */
  data: { rows: number; inputDim: number; l: number };
  /** The safetensors file (relative to the run directory). */
  file: string;
  /** Hex sha256 of that file's bytes. */
  sha256: string;
  /** Tensor names stored in the file. */
  tensors: string[];
  /** ISO time of writing. */
  createdAt: string;
}

/** Hex SHA-256 of bytes. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(h), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Writes a checkpoint into `dir`: the tensors to `checkpoint-<step>.safetensors` (temp file
 * + rename), then the manifest (temp file + rename), then removes older tensor files. A kill
 * at any moment leaves a consistent manifest/tensor pair on disk. The tensors stream to the
 * file one by one (the bytes of `encodeSafetensors`), hashed as they are written: the file is
 * never built in memory, and values given as functions are read only when the file reaches
 * them (a bounded read-ahead), so the host need not hold every tensor at once.
 *
 * @param dir The run directory.
 * @param tensors Tensors by name (values, or functions reading them).
 * @param manifest Everything but `file`, `sha256`, `tensors`, `createdAt`.
 * @returns The manifest written.
 *
 * @example Usage
 * ```ts ignore
 * await saveCheckpoint("runs/a", tensors, { ...fields });
 * ```
 */
export async function saveCheckpoint(
  dir: string,
  tensors: Map<string, StreamedTensor>,
  manifest: Omit<CheckpointManifest, "file" | "sha256" | "tensors" | "createdAt">,
): Promise<CheckpointManifest> {
  await Deno.mkdir(dir, { recursive: true });
  const file = `checkpoint-${String(manifest.step).padStart(8, "0")}.safetensors`;
  const { chunks } = safetensorsStream(tensors, {
    metadata: { format: "mlcd", step: String(manifest.step) },
  });
  const hash = createHash("sha256");
  await writeFileAtomic(`${dir}/${file}`, async function* () {
    for await (const c of chunks()) {
      hash.update(c);
      yield c;
    }
  });
  const full: CheckpointManifest = {
    ...manifest,
    file,
    sha256: hash.digest("hex"),
    tensors: [...tensors.keys()],
    createdAt: new Date().toISOString(),
  };
  await writeFileAtomic(
    `${dir}/${MANIFEST_NAME}`,
    new TextEncoder().encode(JSON.stringify(full, null, 2) + "\n"),
  );
  for await (const e of Deno.readDir(dir)) {
    if (/^checkpoint-\d+\.safetensors$/.test(e.name) && e.name !== file) {
      await Deno.remove(`${dir}/${e.name}`).catch(() => {});
    }
  }
  await pausePoint(`train-checkpoint step ${full.step}`); // test-only: kill tests stop here
  return full;
}

/**
 * Reads a run directory's checkpoint manifest (`checkpoint.json`) and checks its format; the
 * one reader of the file (loading and resuming), so that every problem names it.
 *
 * @param dir The run directory (or the manifest's path).
 * @returns The manifest.
 * @throws {Deno.errors.NotFound} When there is no checkpoint.
 * @throws {TypeError} Naming the file when it is not valid JSON, not a checkpoint manifest, or
 * names no valid tensor file.
 *
 * @example Usage
 * ```ts ignore
 * const { step } = await readCheckpointManifest("runs/a");
 * ```
 */
export async function readCheckpointManifest(dir: string): Promise<CheckpointManifest> {
  if (dir.endsWith(".json")) dir = dir.slice(0, dir.lastIndexOf("/") + 1) || ".";
  const mpath = `${dir}/${MANIFEST_NAME}`;
  let text: string;
  try {
    text = await Deno.readTextFile(mpath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`No checkpoint in ${dir}: ${mpath} does not exist`);
    }
    throw e;
  }
  let m: CheckpointManifest;
  try {
    m = JSON.parse(text);
  } catch {
    throw new TypeError(`Cannot read checkpoint ${mpath}: the manifest is not valid JSON`);
  }
  if (m?.format !== "mlcd-checkpoint" || m.formatVersion !== 1) {
    throw new TypeError(
      `Cannot read checkpoint ${mpath}: expected format "mlcd-checkpoint" version 1 but found ${
        JSON.stringify(m?.format)
      } version ${JSON.stringify(m?.formatVersion)}`,
    );
  }
  if (typeof m.file !== "string" || m.file.includes("/") || typeof m.sha256 !== "string") {
    throw new TypeError(`Cannot read checkpoint ${mpath}: the manifest has no valid file/sha256`);
  }
  return m;
}

/**
 * Reads and verifies a checkpoint: manifest fields, the sha256 of the tensor file, and that
 * every listed tensor is present. Any problem throws a `TypeError` naming the file and the
 * problem; nothing is returned partially.
 *
 * @param dir The run directory (or the manifest's path).
 * @returns The manifest and the tensors.
 *
 * @example Usage
 * ```ts ignore
 * const { manifest, tensors } = await loadCheckpoint("runs/a");
 * ```
 */
export async function loadCheckpoint(
  dir: string,
): Promise<{ manifest: CheckpointManifest; tensors: Map<string, NamedTensor> }> {
  if (dir.endsWith(".json")) dir = dir.slice(0, dir.lastIndexOf("/") + 1) || ".";
  const mpath = `${dir}/${MANIFEST_NAME}`;
  const m = await readCheckpointManifest(dir);
  const tpath = `${dir}/${m.file}`;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(tpath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot read checkpoint ${mpath}: ${tpath} is missing`);
    }
    throw e;
  }
  const hash = await sha256Hex(bytes);
  if (hash !== m.sha256) {
    throw new TypeError(
      `Refusing corrupt checkpoint ${tpath}: sha256 ${hash} does not match the manifest's ${m.sha256}`,
    );
  }
  const { tensors } = decodeSafetensors(bytes, tpath);
  for (const n of m.tensors ?? []) {
    if (!tensors.has(n)) {
      throw new TypeError(`Cannot read checkpoint ${tpath}: tensor "${n}" is missing`);
    }
  }
  return { manifest: m, tensors };
}
