// The k-means centroids on the GPU: a store of padded f32 rows in chunks of `kc` (each chunk
// within one storage binding), with their 0.5‖c‖² and, for f16 runs, a packed copy; how they
// are written, packed, read back, saved and restored. Public (no `_`) so that an assignment
// implemented in another folder (see assignment_step.ts) can read the centroids; not part of
// the package's API (src/kmeans/mod.ts does not export it).
import packCode from "../../kernels/kmeans_pack_f16.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import { uniformBlockRows } from "../gpu/template.ts";
import { createStorage, readBack, STORAGE_USAGE } from "../gpu/buffers.ts";
import { dispatch, type Program, submit, workgroupsFor } from "../gpu/program.ts";
import { uniformStruct } from "../gpu/uniforms.ts";
import type { Matrix } from "../matrix/matrix.ts";
import type { CentroidState } from "./_kmeans_checkpoint.ts";

/** Padded row width: `d` rounded up to a multiple of 4. */
export function paddedWidth(d: number): number {
  return Math.ceil(d / 4) * 4;
}

/** Centroids on the GPU in chunks of `kc` rows: f32 master, optional packed copy, 0.5‖c‖². */
export interface CentroidStore {
  /** Number of centroids. */
  k: number;
  /** Row width. */
  d: number;
  /** Padded row width, {@linkcode paddedWidth}(d). */
  dp: number;
  /** Whether a packed f16 copy is kept (the rows are stored as f16). */
  f16: boolean;
  /** Centroids per chunk (the last chunk may hold fewer). */
  kc: number;
  /** One padded f32 row, staging for split copies within a buffer. */
  scratch: GPUBuffer;
  /** The chunks, in centroid order. */
  chunks: {
    /** Global index of the chunk's first centroid. */
    kBase: number;
    /** Centroids in the chunk. */
    rows: number;
    /** `rows × dp` f32 values (padded to whole uniform blocks; also bindable as uniform). */
    f32: GPUBuffer;
    /** The f32 rows packed as f16 pairs (f16 stores), refreshed by packCentroids. */
    packed: GPUBuffer | null;
    /** 0.5‖c‖² of each centroid of the chunk. */
    cn: GPUBuffer;
  }[];
  /** Frees every buffer. */
  destroy(): void;
}

/**
 * Centroid rows per chunk: the f32 rows, 8-byte fixed-point sums and 0.5‖c‖² of one
 * chunk must each fit one binding.
 */
export function centroidsPerChunk(gpu: Gpu, dp: number, withSums: boolean): number {
  const rowBytes = dp * (withSums ? 8 : 4);
  const kc = Math.floor(gpu.maxBindingBytes / rowBytes);
  if (kc < 1) {
    throw new RangeError(
      `Cannot bind a centroid of ${dp} padded columns (${rowBytes} bytes): the storage binding limit is ${gpu.maxBindingBytes} bytes`,
    );
  }
  return kc;
}

/**
 * Whether the registers kernel reads the packed f16 centroids (eight halves per vec4<u32>
 * uniform unit): f16 storage with an even number of vec4s per padded row. Otherwise it
 * reads the f32 centroids.
 */
export function packedCentroidBlocks(dp: number, f16: boolean): boolean {
  return f16 && dp % 8 === 0 && uniformBlockRows(dp, true) > 0;
}

/** The f32 rows of a centroid chunk as a storage binding (without the block padding). */
export function f32Binding(
  c: { f32: GPUBuffer; rows: number },
  dp: number,
): { buffer: GPUBuffer; size: number } {
  return { buffer: c.f32, size: Math.max(4, c.rows * dp * 4) };
}

/** Allocates centroid chunks and fills them from host `k × dp` padded f32 values. */
export function createCentroids(
  gpu: Gpu,
  k: number,
  d: number,
  f16: boolean,
  kc: number,
  padded?: Float32Array,
  encoder?: GPUCommandEncoder,
): CentroidStore {
  const dp = paddedWidth(d);
  const chunks: CentroidStore["chunks"] = [];
  for (let kBase = 0; kBase < k; kBase += kc) {
    const rows = Math.min(kc, k - kBase);
    const kb = uniformBlockRows(dp);
    const padded = kb > 0 ? Math.ceil(rows / kb) * kb : rows;
    chunks.push({
      kBase,
      rows,
      // Padded to whole uniform blocks and also bindable as a uniform buffer, for the
      // registers kernel (see uniformBlockRows).
      f32: gpu.device.createBuffer({
        label: `centroids[${kBase}..)`,
        size: padded * dp * 4,
        usage: STORAGE_USAGE | GPUBufferUsage.UNIFORM,
      }),
      // Also padded to whole uniform blocks when the registers kernel reads it.
      packed: f16
        ? gpu.device.createBuffer({
          label: `centroids.f16[${kBase}..)`,
          size: packedCentroidBlocks(dp, true)
            ? Math.ceil(rows / uniformBlockRows(dp, true)) * uniformBlockRows(dp, true) * dp * 2
            : rows * dp * 2,
          usage: STORAGE_USAGE | GPUBufferUsage.UNIFORM,
        })
        : null,
      cn: createStorage(gpu, rows * 4, `centroid_norms[${kBase}..)`),
    });
  }
  const scratch = createStorage(gpu, dp * 4, "centroid_scratch");
  const store: CentroidStore = {
    k,
    d,
    dp,
    f16,
    kc,
    scratch,
    chunks,
    destroy() {
      scratch.destroy();
      for (const c of chunks) {
        c.f32.destroy();
        c.packed?.destroy();
        c.cn.destroy();
      }
    },
  };
  if (padded) writeCentroids(gpu, store, padded, encoder);
  return store;
}

/** Uploads host `k × dp` centroids with their 0.5‖c‖², and packs them when f16. */
export function writeCentroids(
  gpu: Gpu,
  store: CentroidStore,
  padded: Float32Array,
  encoder?: GPUCommandEncoder,
): void {
  const { dp } = store;
  for (const c of store.chunks) {
    const part = padded.slice(c.kBase * dp, (c.kBase + c.rows) * dp);
    const cn = new Float32Array(c.rows);
    for (let r = 0; r < c.rows; r++) {
      let s = 0;
      for (let j = 0; j < dp; j++) s += part[r * dp + j]! * part[r * dp + j]!;
      cn[r] = 0.5 * s;
    }
    gpu.device.queue.writeBuffer(c.f32, 0, part);
    gpu.device.queue.writeBuffer(c.cn, 0, cn);
  }
  const enc = encoder ?? gpu.device.createCommandEncoder();
  packCentroids(gpu, store, enc);
  if (!encoder) submit(gpu, enc);
}

const PACK_PARAMS = uniformStruct({ count: "u32" });

/** Refreshes the packed f16 copy of every chunk (no-op for f32 stores). */
export function packCentroids(gpu: Gpu, store: CentroidStore, enc: GPUCommandEncoder): void {
  if (!store.f16) return;
  for (const c of store.chunks) {
    const count = (c.rows * store.dp) / 4;
    const workgroupSize = 64;
    const program: Program = {
      shaderKey: "kmeans_pack_f16",
      code: packCode,
      workgroupSize,
      workgroups: workgroupsFor({ workgroupSize }, count),
      uniformStruct: PACK_PARAMS,
      uniforms: PACK_PARAMS.pack({ count }),
    };
    dispatch(gpu, program, [f32Binding(c, store.dp), c.packed!], enc);
  }
}

/** Reads the GPU centroid state (padded f32 rows and 0.5‖c‖²) for a checkpoint. */
export async function readCentroidState(gpu: Gpu, cents: CentroidStore): Promise<CentroidState> {
  const parts = await readBack(gpu, [
    ...cents.chunks.map((c) => ({ buffer: c.f32, bytes: c.rows * cents.dp * 4 })),
    ...cents.chunks.map((c) => ({ buffer: c.cn, bytes: c.rows * 4 })),
  ]);
  const f32 = new Float32Array(cents.k * cents.dp), cn = new Float32Array(cents.k);
  const nc = cents.chunks.length;
  cents.chunks.forEach((c, i) => {
    f32.set(new Float32Array(parts[i]!), c.kBase * cents.dp);
    cn.set(new Float32Array(parts[nc + i]!), c.kBase);
  });
  return { f32, cn };
}

/** Writes a saved centroid state back exactly (no recomputed norms), then packs it. */
export function restoreCentroids(gpu: Gpu, cents: CentroidStore, s: CentroidState): void {
  if (s.f32.length !== cents.k * cents.dp || s.cn.length !== cents.k) {
    throw new RangeError(
      `Expected a checkpoint state of ${cents.k} × ${cents.dp} centroids but found ${s.f32.length} values`,
    );
  }
  for (const c of cents.chunks) {
    gpu.device.queue.writeBuffer(
      c.f32,
      0,
      s.f32.slice(c.kBase * cents.dp, (c.kBase + c.rows) * cents.dp),
    );
    gpu.device.queue.writeBuffer(c.cn, 0, s.cn.slice(c.kBase, c.kBase + c.rows));
  }
  const enc = gpu.device.createCommandEncoder();
  packCentroids(gpu, cents, enc);
  submit(gpu, enc);
}

/** The centroids as a `k × d` matrix. */
export async function readCentroids(gpu: Gpu, cents: CentroidStore, d: number): Promise<Matrix> {
  const parts = await readBack(
    gpu,
    cents.chunks.map((c) => ({ buffer: c.f32, bytes: c.rows * cents.dp * 4 })),
  );
  const data = new Float32Array(cents.k * d);
  cents.chunks.forEach((c, j) => {
    const v = new Float32Array(parts[j]!);
    for (let r = 0; r < c.rows; r++) {
      data.set(v.subarray(r * cents.dp, r * cents.dp + d), (c.kBase + r) * d);
    }
  });
  return { data, rows: cents.k, cols: d };
}
