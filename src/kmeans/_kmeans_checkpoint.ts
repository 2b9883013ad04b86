// Private: k-means checkpoints. One file, written atomically: a magic string, the sha256 of
// everything after it (64 hex digits), a JSON header (run fingerprint, position, splits pending,
// stats) and the GPU state that determines the rest of the run bit for bit (the f32 centroids as
// padded on the GPU and their 0.5‖c‖², plus the best finished run's when several runs are made).
//
// Rule: a checkpoint is resumed only when its sha256 matches; a corrupt one (a flipped byte, a
// truncated or extended file) is refused naming the file, never repaired and never silently
// replaced by a fresh start: the message says to remove it to start over. (`tail -c +73 FILE |
// sha256sum` prints the stored digest.)
import { writeFileAtomic } from "../fs/atomic.ts";
import type {
  KMeansAssignment,
  KMeansIterationStats,
  KMeansKernelChoice,
} from "./kmeans_options.ts";
import { pausePoint } from "../testing/pause_point.ts";

const MAGIC = "MLCDKMC2";
/** The magic string of the format before checksums (refused: it cannot be verified). */
const MAGIC_V1 = "MLCDKMC1";
/** Bytes of the magic string and the hex digest; the header length field follows. */
const PREFIX = 8 + 64;

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(h), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What must match for a checkpoint to be resumed. */
export type Fingerprint = Record<string, string | number | boolean | null>;

/** Centroid state as stored on the GPU: `k × dp` padded f32 rows and `k` half squared norms. */
export interface CentroidState {
  f32: Float32Array;
  cn: Float32Array;
}

/** Everything a checkpoint holds. */
export interface KMeansCheckpoint {
  fingerprint: Fingerprint;
  kernel: KMeansKernelChoice;
  /** The assignment step chosen; absent in checkpoints written before it was recorded (exact). */
  assignment?: KMeansAssignment;
  /** The run (redo) in progress. */
  redo: number;
  /** Next Lloyd iteration to run in that redo. */
  iteration: number;
  /** Whether that redo's Lloyd iterations are over (only the final pass is left). */
  lloydDone: boolean;
  /** Splits planned by the last iteration, applied at the start of the next. */
  pending: [number, number][];
  /** Stats of the redo in progress. */
  stats: KMeansIterationStats[];
  /** Centroids of the redo in progress. */
  state: CentroidState;
  /**
   * The training rows' last assignment, which the next iteration (IVF) also scores; absent
   * when the assignment does not read it (exact).
   */
  previous?: Uint32Array;
  /** The best finished redo so far (with the assignment its final pass started from). */
  best:
    | {
      redo: number;
      objective: number;
      stats: KMeansIterationStats[];
      state: CentroidState;
      previous?: Uint32Array;
    }
    | null;
}

/** Writes a checkpoint atomically. */
export async function writeCheckpoint(path: string, c: KMeansCheckpoint): Promise<void> {
  const header = {
    fingerprint: c.fingerprint,
    kernel: c.kernel,
    ...(c.assignment ? { assignment: c.assignment } : {}),
    redo: c.redo,
    iteration: c.iteration,
    lloydDone: c.lloydDone,
    pending: c.pending,
    stats: c.stats,
    sizes: [c.state.f32.length, c.state.cn.length],
    ...(c.previous ? { previous: c.previous.length } : {}),
    best: c.best
      ? {
        redo: c.best.redo,
        objective: c.best.objective,
        stats: c.best.stats,
        sizes: [c.best.state.f32.length, c.best.state.cn.length],
        ...(c.best.previous ? { previous: c.best.previous.length } : {}),
      }
      : null,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headLen = PREFIX + 4 + json.length;
  const pad = (4 - (headLen % 4)) % 4;
  const arrays: (Float32Array | Uint32Array)[] = [c.state.f32, c.state.cn];
  if (c.previous) arrays.push(c.previous);
  if (c.best) arrays.push(c.best.state.f32, c.best.state.cn);
  if (c.best?.previous) arrays.push(c.best.previous);
  const bytes = new Uint8Array(headLen + pad + arrays.reduce((s, a) => s + a.byteLength, 0));
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(bytes.buffer).setUint32(PREFIX, json.length, true);
  bytes.set(json, PREFIX + 4);
  let at = headLen + pad;
  for (const a of arrays) {
    bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += a.byteLength;
  }
  bytes.set(new TextEncoder().encode(await sha256Hex(bytes.subarray(PREFIX))), 8);
  // Renamed at once even inside an atomicWrites() batch: a checkpoint must be on disk when it
  // is announced, not when the batch ends.
  await writeFileAtomic(path, bytes, { immediate: true });
  await pausePoint(`kmeans-checkpoint ${path}`); // test-only: kill tests stop here
}

/** Reads a checkpoint; null when the file does not exist. */
export async function readCheckpoint(path: string): Promise<KMeansCheckpoint | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const bad = (why: string) =>
    new RangeError(`Expected ${path} to be a k-means checkpoint but ${why}`);
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic === MAGIC_V1) {
    throw new RangeError(
      `Cannot resume from ${path}: it was written by an older version, without a checksum; remove it to start over`,
    );
  }
  if (bytes.length < PREFIX + 4 || magic !== MAGIC) {
    throw bad("it does not start with the checkpoint magic string");
  }
  const stored = new TextDecoder().decode(bytes.subarray(8, PREFIX));
  if (stored !== await sha256Hex(bytes.subarray(PREFIX))) {
    throw new RangeError(
      `Cannot resume from ${path}: the checkpoint is corrupt (its sha256 does not match its contents); remove it to start over`,
    );
  }
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(PREFIX, true);
  const headEnd = PREFIX + 4 + len;
  if (headEnd > bytes.length) throw bad("its header is truncated");
  let h;
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(PREFIX + 4, headEnd)));
  } catch {
    throw bad("its header is not valid JSON");
  }
  let at = headEnd + ((4 - (headEnd % 4)) % 4);
  const words = (count: number): ArrayBuffer => {
    if (at + count * 4 > bytes.length) throw bad("its data is truncated");
    const out = bytes.slice(at, at + count * 4).buffer;
    at += count * 4;
    return out;
  };
  const take = (count: number) => new Float32Array(words(count));
  const state = { f32: take(h.sizes[0]), cn: take(h.sizes[1]) };
  const previous = h.previous === undefined ? undefined : new Uint32Array(words(h.previous));
  const best = h.best
    ? {
      redo: h.best.redo,
      objective: h.best.objective,
      stats: h.best.stats,
      state: { f32: take(h.best.sizes[0]), cn: take(h.best.sizes[1]) },
      ...(h.best.previous === undefined
        ? {}
        : { previous: new Uint32Array(words(h.best.previous)) }),
    }
    : null;
  if (at !== bytes.length) throw bad("it has trailing bytes");
  return {
    fingerprint: h.fingerprint,
    kernel: h.kernel,
    ...(h.assignment ? { assignment: h.assignment } : {}),
    redo: h.redo,
    iteration: h.iteration,
    lloydDone: h.lloydDone,
    pending: h.pending,
    stats: h.stats,
    state,
    ...(previous ? { previous } : {}),
    best,
  };
}

/** Throws a RangeError naming the first field where a checkpoint differs from this run. */
export function checkFingerprint(path: string, saved: Fingerprint, now: Fingerprint): void {
  for (const key of new Set([...Object.keys(now), ...Object.keys(saved)])) {
    if (saved[key] !== now[key]) {
      throw new RangeError(
        `Cannot resume from ${path}: it was written with ${key} = ${
          JSON.stringify(saved[key])
        } but this run has ${key} = ${JSON.stringify(now[key])}`,
      );
    }
  }
}
