// Private GPU plumbing of k-means: centroid storage, programs and the fused assignment
// pass over row chunks (a GpuMatrix, stride = paddedWidth(d)) × centroid chunks.
import registersCode from "../../kernels/kmeans_assign_registers.wgsl" with { type: "text" };
import tiledCode from "../../kernels/kmeans_assign_tiled.wgsl" with { type: "text" };
import accumulateCode from "../../kernels/kmeans_accumulate.wgsl" with { type: "text" };
import finalizeCode from "../../kernels/kmeans_finalize.wgsl" with { type: "text" };
import nudgeCode from "../../kernels/kmeans_nudge.wgsl" with { type: "text" };
import packCode from "../../kernels/kmeans_pack_f16.wgsl" with { type: "text" };
import objectiveCode from "../../kernels/kmeans_objective.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import { specialize, uniformBlockRows } from "../gpu/_template.ts";
import { createStorage, STORAGE_USAGE } from "../gpu/buffers.ts";
import { type Binding, dispatch, foldDispatch, type Program, submit } from "../gpu/program.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import type { KMeansVariant } from "./kmeans_options.ts";

/** Resolved kernel design. */
export type Variant = "registers" | "tiled";

/**
 * A resolved assignment kernel: the design and, for "registers", the rows each
 * invocation holds (0: the default of {@linkcode registerRows}).
 */
export type AssignKernel = {
  /** Kernel design. */
  variant: Variant;
  /** Rows per invocation of the register kernel; 0 for the default (and for "tiled"). */
  rows: number;
};

/**
 * Widest rows for which `"auto"` picks the register kernel on CPU adapters: its unrolled
 * shader grows with d, and above this its compile time outweighs its speed.
 */
export const REGISTERS_MAX_AUTO_DIM = 128;

/**
 * Picks the assignment kernel for the adapter and row width: registers on CPU adapters
 * for rows up to {@linkcode REGISTERS_MAX_AUTO_DIM}, tiles otherwise.
 */
export function resolveVariant(
  gpu: Gpu,
  variant: KMeansVariant | undefined,
  d: number,
): Variant {
  const v = variant ?? "auto";
  if (v !== "auto" && v !== "registers" && v !== "tiled") {
    throw new RangeError(
      `Expected variant to be "auto", "registers" or "tiled" but found ${JSON.stringify(v)}`,
    );
  }
  if (v !== "auto") return v;
  const q = gpu.quirks;
  return q.preferRegisters && d <= Math.min(q.registersMaxDim, REGISTERS_MAX_AUTO_DIM)
    ? "registers"
    : "tiled";
}

/** Padded row width: `d` rounded up to a multiple of 4. */
export function paddedWidth(d: number): number {
  return Math.ceil(d / 4) * 4;
}

/** Centroids on the GPU in chunks of `kc` rows: f32 master, optional packed copy, 0.5‖c‖². */
export interface CentroidStore {
  k: number;
  d: number;
  dp: number;
  f16: boolean;
  kc: number;
  /** One padded f32 row, staging for split copies within a buffer. */
  scratch: GPUBuffer;
  chunks: {
    kBase: number;
    rows: number;
    f32: GPUBuffer;
    packed: GPUBuffer | null;
    cn: GPUBuffer;
  }[];
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

/** Refreshes the packed f16 copy of every chunk (no-op for f32 stores). */
export function packCentroids(gpu: Gpu, store: CentroidStore, enc: GPUCommandEncoder): void {
  if (!store.f16) return;
  for (const c of store.chunks) {
    const count = (c.rows * store.dp) / 4;
    const program: Program = {
      shaderKey: "kmeans_pack_f16",
      code: packCode,
      workgroups: foldDispatch(Math.ceil(count / 64)),
      uniforms: new Uint32Array([count, 0, 0, 0]),
    };
    dispatch(gpu, program, [f32Binding(c, store.dp), c.packed!], enc);
  }
}

/** Per-row-chunk outputs of the assignment pass. */
export interface AssignOutputs {
  idx: GPUBuffer[];
  score: GPUBuffer[];
  destroy(): void;
}

/** Allocates assignment/score buffers matching the row chunks of `x`. */
export function createOutputs(gpu: Gpu, x: GpuMatrix): AssignOutputs {
  const idx = x.chunks.map((c) => createStorage(gpu, c.rows * 4, "assign"));
  const score = x.chunks.map((c) => createStorage(gpu, c.rows * 4, "score"));
  return {
    idx,
    score,
    destroy() {
      for (const b of [...idx, ...score]) b.destroy();
    },
  };
}

/**
 * Rows per invocation of the registers kernel for padded width `dp`: R × dp/4 ≤ 128 (more
 * spills and compiles slowly on lavapipe), or ≤ 256 when it reads packed f16 centroids
 * (half the centroid loads per FMA, so the extra rows pay off).
 */
export function registerRows(dp: number, f16: boolean): number {
  const cap = packedCentroidBlocks(dp, f16) ? 256 : 128;
  return Math.max(1, Math.min(f16 ? 12 : 16, Math.floor(cap / (dp / 4))));
}

/** Program of one fused assignment pass over a row chunk × a block of centroids. */
export function assignProgram(
  variant: Variant,
  rows: number,
  k: number,
  kBase: number,
  cnOff: number,
  dp: number,
  f16: boolean,
  flags: number,
  rowsPerInvocation = 0,
): Program {
  const d4 = dp / 4;
  if (variant === "registers") {
    const R = rowsPerInvocation > 0 ? rowsPerInvocation : registerRows(dp, f16);
    const packed = packedCentroidBlocks(dp, f16);
    const units = packed ? dp / 8 : d4;
    const CU = uniformBlockRows(dp, packed) * units;
    const tags = packed ? ["v4"] : f16 ? ["v2", "f"] : ["f32", "f"];
    return {
      shaderKey: `kmeans_assign_registers:R${R}:U${units}:CU${CU}:${tags[0]}`,
      code: () => specialize(registersCode, f16, { R, D4: units, CU }, tags),
      workgroups: foldDispatch(Math.ceil(rows / (64 * R))),
      uniforms: new Uint32Array([rows, k, kBase, flags, cnOff, 0, 0, 0]),
    };
  }
  return {
    shaderKey: `kmeans_assign_tiled:${f16 ? "f16" : "f32"}`,
    code: () => specialize(tiledCode, f16),
    workgroups: foldDispatch(Math.ceil(rows / 32)),
    uniforms: new Uint32Array([rows, k, kBase, flags, cnOff, d4, 0, 0]),
  };
}

/**
 * Records the fused assignment of every row of `x` to its best centroid: one dispatch per
 * row chunk × centroid block (registers: 64 KiB uniform blocks; tiled: whole chunks), the
 * running best kept in `out` between blocks.
 */
export function recordAssign(
  gpu: Gpu,
  kernel: Variant | AssignKernel,
  x: GpuMatrix,
  cents: CentroidStore,
  out: AssignOutputs,
  spherical: boolean,
  enc: GPUCommandEncoder,
): void {
  const packed = packedCentroidBlocks(x.stride, x.dtype === "f16");
  const kb = uniformBlockRows(x.stride, packed);
  const wanted = typeof kernel === "string" ? kernel : kernel.variant;
  const rowsPerInvocation = typeof kernel === "string" ? 0 : kernel.rows;
  const variant: Variant = wanted === "registers" && kb < 1 ? "tiled" : wanted;
  const unitBytes = packed ? 2 : 4;
  const blocks: { c: Binding; cn: GPUBuffer; rows: number; kBase: number; cnOff: number }[] = [];
  for (const cc of cents.chunks) {
    if (variant === "registers") {
      for (let b = 0; b * kb < cc.rows; b++) {
        blocks.push({
          c: {
            buffer: packed ? cc.packed! : cc.f32,
            offset: b * kb * x.stride * unitBytes,
            size: kb * x.stride * unitBytes,
          },
          cn: cc.cn,
          rows: Math.min(kb, cc.rows - b * kb),
          kBase: cc.kBase + b * kb,
          cnOff: b * kb,
        });
      }
    } else {
      const c = x.dtype === "f16" ? cc.packed! : f32Binding(cc, x.stride);
      blocks.push({ c, cn: cc.cn, rows: cc.rows, kBase: cc.kBase, cnOff: 0 });
    }
  }
  x.chunks.forEach((xc, i) => {
    if (xc.rows === 0) return;
    blocks.forEach((blk, j) => {
      const flags = (j === 0 ? 1 : 0) | (j === blocks.length - 1 ? 2 : 0) |
        (spherical ? 4 : 0);
      const program = assignProgram(
        variant,
        xc.rows,
        blk.rows,
        blk.kBase,
        blk.cnOff,
        x.stride,
        x.dtype === "f16",
        flags,
        rowsPerInvocation,
      );
      dispatch(gpu, program, [xc.buffer, blk.c, blk.cn, out.idx[i]!, out.score[i]!], enc);
    });
  });
}

/** Records the deterministic objective partial sums (256 floats) of `out`'s scores. */
export function recordObjective(
  gpu: Gpu,
  x: GpuMatrix,
  out: AssignOutputs,
  partial: GPUBuffer,
  enc: GPUCommandEncoder,
): void {
  x.chunks.forEach((xc, i) => {
    const program: Program = {
      shaderKey: "kmeans_objective",
      code: objectiveCode,
      workgroups: [1, 1, 1],
      uniforms: new Uint32Array([xc.rows, i === 0 ? 1 : 0, 0, 0]),
    };
    dispatch(gpu, program, [out.score[i]!, partial], enc);
  });
}

/** GPU buffers of the update step: counts and per-chunk fixed-point sums. */
export interface UpdateState {
  counts: GPUBuffer;
  sums: GPUBuffer[];
  destroy(): void;
}

/** Allocates the update step's accumulators for `cents`. */
export function createUpdateState(gpu: Gpu, cents: CentroidStore): UpdateState {
  if (cents.k * 4 > gpu.maxBindingBytes) {
    throw new RangeError(
      `Cannot bind the counts of k = ${cents.k} clusters (${
        cents.k * 4
      } bytes): the storage binding limit is ${gpu.maxBindingBytes} bytes`,
    );
  }
  const counts = createStorage(gpu, cents.k * 4, "counts");
  const sums = cents.chunks.map((c) => createStorage(gpu, c.rows * cents.dp * 8, "sums"));
  return {
    counts,
    sums,
    destroy() {
      counts.destroy();
      for (const s of sums) s.destroy();
    },
  };
}

/** The two passes of an update step: what the plain and the weighted update each bind. */
export interface UpdatePasses {
  /** Shader key of the accumulate pass (the f16/f32 storage suffix is added). */
  accumulateKey: string;
  /** WGSL template of the accumulate pass, specialised for the row storage on a cache miss. */
  accumulateCode: string;
  /** Bindings of the accumulate pass for row chunk `i` and centroid chunk `j`. */
  accumulateBindings(xc: GpuMatrix["chunks"][number], i: number, j: number): Binding[];
  /** Shader key and WGSL of the finalize pass. */
  finalizeKey: string;
  finalizeCode: string;
  /** Bindings of the finalize pass for centroid chunk `cc` (index `j`). */
  finalizeBindings(cc: CentroidStore["chunks"][number], j: number): Binding[];
}

/**
 * Records an update step's passes (accumulators already cleared): accumulate every row chunk
 * into every centroid chunk, then finalize each centroid chunk. `scale` is the fixed-point
 * scale of the sums.
 */
export function recordUpdatePasses(
  gpu: Gpu,
  x: GpuMatrix,
  cents: CentroidStore,
  spherical: boolean,
  scale: number,
  passes: UpdatePasses,
  enc: GPUCommandEncoder,
): void {
  const d4 = cents.dp / 4;
  const accCode = () => specialize(passes.accumulateCode, x.dtype === "f16");
  cents.chunks.forEach((cc, j) => {
    x.chunks.forEach((xc, i) => {
      if (xc.rows === 0) return;
      const u = new ArrayBuffer(32);
      new Uint32Array(u, 0, 4).set([xc.rows, cc.kBase, cc.rows, d4]);
      new Float32Array(u, 16, 1)[0] = scale;
      const program: Program = {
        shaderKey: `${passes.accumulateKey}:${x.dtype}`,
        code: accCode,
        workgroups: foldDispatch(Math.ceil(xc.rows / 64)),
        uniforms: new Uint8Array(u),
      };
      dispatch(gpu, program, passes.accumulateBindings(xc, i, j), enc);
    });
  });
  cents.chunks.forEach((cc, j) => {
    const u = new ArrayBuffer(32);
    new Uint32Array(u, 0, 4).set([cc.rows, cc.kBase, d4, spherical ? 1 : 0]);
    new Float32Array(u, 16, 1)[0] = 1 / scale;
    const program: Program = {
      shaderKey: passes.finalizeKey,
      code: passes.finalizeCode,
      workgroups: foldDispatch(Math.ceil(cc.rows / 64)),
      uniforms: new Uint8Array(u),
    };
    dispatch(gpu, program, passes.finalizeBindings(cc, j), enc);
  });
}

/**
 * Records the update step: clear accumulators, count + fixed-point sum every row into its
 * centroid, then centroids = sums / counts (normalised when spherical) and 0.5‖c‖².
 * `scale` maps the largest absolute input value to at most 2^30.
 */
export function recordUpdate(
  gpu: Gpu,
  x: GpuMatrix,
  out: AssignOutputs,
  cents: CentroidStore,
  state: UpdateState,
  spherical: boolean,
  scale: number,
  enc: GPUCommandEncoder,
): void {
  enc.clearBuffer(state.counts);
  for (const s of state.sums) enc.clearBuffer(s);
  recordUpdatePasses(gpu, x, cents, spherical, scale, {
    accumulateKey: "kmeans_accumulate",
    accumulateCode,
    accumulateBindings: (xc, i, j) => [xc.buffer, out.idx[i]!, state.counts, state.sums[j]!],
    finalizeKey: "kmeans_finalize",
    finalizeCode,
    finalizeBindings: (cc, j) => [state.counts, state.sums[j]!, f32Binding(cc, cents.dp), cc.cn],
  }, enc);
}

/**
 * Records faiss-style splits: for each (empty, donor) pair in order, copy the donor
 * centroid onto the empty one, then nudge them by ±1/1024 in opposite directions.
 */
export function recordSplits(
  gpu: Gpu,
  cents: CentroidStore,
  pairs: [number, number][],
  spherical: boolean,
  enc: GPUCommandEncoder,
): void {
  const { kc, dp } = cents;
  const nudge = (c: number, sign: number) => {
    const chunk = cents.chunks[Math.floor(c / kc)]!;
    const u = new ArrayBuffer(16);
    new Uint32Array(u, 0, 3).set([c - chunk.kBase, dp, spherical ? 1 : 0]);
    new Float32Array(u, 12, 1)[0] = sign;
    dispatch(
      gpu,
      {
        shaderKey: "kmeans_nudge",
        code: nudgeCode,
        workgroups: [1, 1, 1],
        uniforms: new Uint8Array(u),
      },
      [f32Binding(chunk, dp), chunk.cn],
      enc,
    );
  };
  for (const [empty, donor] of pairs) {
    const src = cents.chunks[Math.floor(donor / kc)]!;
    const dst = cents.chunks[Math.floor(empty / kc)]!;
    enc.copyBufferToBuffer(src.f32, (donor - src.kBase) * dp * 4, cents.scratch, 0, dp * 4);
    enc.copyBufferToBuffer(cents.scratch, 0, dst.f32, (empty - dst.kBase) * dp * 4, dp * 4);
    nudge(empty, 1);
    nudge(donor, -1);
  }
}
