// Private GPU passes of the k-means|| initialisation (kmeans_parallel_init.ts): fold a round's
// new candidates into every sample row's D², sum w·D² deterministically, and draw the next
// candidates with a per-row hash uniform.
import mergeCode from "../../kernels/init_d2_merge.wgsl" with { type: "text" };
import sumCode from "../../kernels/init_d2_sum.wgsl" with { type: "text" };
import selectCode from "../../kernels/init_d2_select.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { createStorage } from "../gpu/buffers.ts";
import { type Binding, dispatch, workgroupsFor } from "../gpu/program.ts";
import { uniformStruct } from "../gpu/uniforms.ts";
import type { AssignOutputs } from "./assignment_step.ts";

/** Values one workgroup of the sum pass adds: the fixed blocks of the deterministic sum. */
export const SUM_BLOCK = 4096;

/** Chris Wellons' lowbias32 integer hash, as in kernels/init_d2_select.wgsl. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The per-round key of the select pass: a hash of the seed and the round. */
export function roundKey(seed: number, round: number): number {
  return mix32((round ^ mix32(seed)) >>> 0);
}

/** The uniform in [0, 1) the select pass draws for sample row `row` (24 bits, exact in f32). */
export function rowUniform(seed: number, round: number, row: number): number {
  return (mix32((row ^ roundKey(seed, round)) >>> 0) >>> 8) / 16777216;
}

/** GPU state of the rounds: per sample row D² and nearest candidate, sums, the draw list. */
export interface D2State {
  rows: number;
  minD: GPUBuffer;
  near: GPUBuffer;
  /** Row weights as f32 (a 4-byte dummy when unweighted). */
  w: GPUBuffer;
  weighted: boolean;
  partials: GPUBuffer;
  total: GPUBuffer;
  count: GPUBuffer;
  list: GPUBuffer;
  destroy(): void;
}

/** Allocates the rounds' state for `rows` sample rows (each array must fit one binding). */
export function createD2State(
  gpu: Gpu,
  rows: number,
  weights: Float32Array<ArrayBuffer> | null,
): D2State {
  const blocks = Math.max(1, Math.ceil(rows / SUM_BLOCK));
  const minD = createStorage(gpu, rows * 4, "init.minD");
  const near = createStorage(gpu, rows * 4, "init.near");
  const w = createStorage(gpu, weights ? rows * 4 : 4, "init.w");
  if (weights && rows > 0) gpu.device.queue.writeBuffer(w, 0, weights);
  const partials = createStorage(gpu, blocks * 4, "init.partials");
  const total = createStorage(gpu, Math.max(1, Math.ceil(blocks / SUM_BLOCK)) * 4, "init.total");
  const count = createStorage(gpu, 4, "init.count");
  const list = createStorage(gpu, rows * 4, "init.list");
  const all = [minD, near, w, partials, total, count, list];
  return {
    rows,
    minD,
    near,
    w,
    weighted: weights !== null,
    partials,
    total,
    count,
    list,
    destroy() {
      for (const b of all) b.destroy();
    },
  };
}

const MERGE_PARAMS = uniformStruct({ rows: "u32", rowStart: "u32", base: "u32", flags: "u32" });

/**
 * Records the merge of an assignment against new candidates `[base, base + m)` (already in
 * `out`) into the running D² and nearest candidate of every row of `xs`.
 */
export function recordMerge(
  gpu: Gpu,
  xs: GpuMatrix,
  out: AssignOutputs,
  st: D2State,
  base: number,
  spherical: boolean,
  first: boolean,
  enc: GPUCommandEncoder,
): void {
  xs.chunks.forEach((xc, i) => {
    if (xc.rows === 0) return;
    const workgroupSize = 64;
    const flags = (spherical ? 1 : 0) | (first ? 2 : 0);
    dispatch(
      gpu,
      {
        shaderKey: "init_d2_merge",
        code: mergeCode,
        workgroupSize,
        workgroups: workgroupsFor({ workgroupSize }, xc.rows),
        uniformStruct: MERGE_PARAMS,
        uniforms: MERGE_PARAMS.pack({ rows: xc.rows, rowStart: xc.rowStart, base, flags }),
      },
      [out.score[i]!, out.idx[i]!, st.minD, st.near],
      enc,
    );
  });
}

const SUM_PARAMS = uniformStruct({ rows: "u32", weighted: "u32" });

function recordSum(
  gpu: Gpu,
  v: Binding,
  w: GPUBuffer,
  rows: number,
  weighted: boolean,
  out: GPUBuffer,
  enc: GPUCommandEncoder,
): number {
  const blocks = Math.max(1, Math.ceil(rows / SUM_BLOCK));
  dispatch(
    gpu,
    {
      shaderKey: "init_d2_sum",
      code: sumCode,
      workgroupSize: 256,
      workgroups: workgroupsFor({ workgroupSize: 1 }, blocks),
      uniformStruct: SUM_PARAMS,
      uniforms: SUM_PARAMS.pack({ rows, weighted: weighted ? 1 : 0 }),
    },
    [v, w, out],
    enc,
  );
  return blocks;
}

/** Records Σ w·D² over the sample into `st.total[0]`: block partials, then their sum. */
export function recordTotal(gpu: Gpu, st: D2State, enc: GPUCommandEncoder): void {
  let blocks = recordSum(gpu, st.minD, st.w, st.rows, st.weighted, st.partials, enc);
  let src = st.partials, dst = st.total;
  // ≤ 4096 partials (16.7M rows) take one more pass; more take one per factor 4096.
  while (true) {
    blocks = recordSum(gpu, src, st.w, blocks, false, dst, enc);
    if (blocks === 1) break;
    [src, dst] = [dst, src];
  }
  if (dst !== st.total) enc.copyBufferToBuffer(dst, 0, st.total, 0, 4);
}

const SELECT_PARAMS = uniformStruct({
  rows: "u32",
  key: "u32",
  cap: "u32",
  weighted: "u32",
  ell: "f32",
});

/** Records the D² draw of round `round` (count cleared first). */
export function recordSelect(
  gpu: Gpu,
  st: D2State,
  seed: number,
  round: number,
  ell: number,
  enc: GPUCommandEncoder,
): void {
  enc.clearBuffer(st.count);
  const workgroupSize = 64;
  dispatch(
    gpu,
    {
      shaderKey: "init_d2_select",
      code: selectCode,
      workgroupSize,
      workgroups: workgroupsFor({ workgroupSize }, st.rows),
      uniformStruct: SELECT_PARAMS,
      uniforms: SELECT_PARAMS.pack({
        rows: st.rows,
        key: roundKey(seed, round),
        cap: st.rows,
        weighted: st.weighted ? 1 : 0,
        ell,
      }),
    },
    [st.minD, st.w, st.total, st.count, st.list],
    enc,
  );
}
