// Private: the update step of k-means on the GPU, plain or weighted: accumulate every row into
// its centroid (counts and deterministic fixed-point sums), finalize centroids = sums / totals,
// and the deterministic objective partial sums of the assignment scores.
import accumulateCode from "../../kernels/kmeans_accumulate.wgsl" with { type: "text" };
import finalizeCode from "../../kernels/kmeans_finalize.wgsl" with { type: "text" };
import objectiveCode from "../../kernels/kmeans_objective.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import { specialize } from "../gpu/template.ts";
import { createStorage } from "../gpu/buffers.ts";
import { type Binding, dispatch, type Program, workgroupsFor } from "../gpu/program.ts";
import { uniformStruct } from "../gpu/uniforms.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { type CentroidStore, f32Binding } from "./centroid_store.ts";
import type { AssignOutputs } from "./assignment_step.ts";

/**
 * Which variant of the update and objective templates: `"plain"` (64-bit sums over member
 * counts) or `"weighted"` (row weights: 96-bit sums over 64-bit weight totals).
 */
export type UpdateKind = "plain" | "weighted";

const OBJECTIVE_PARAMS = uniformStruct({ rows: "u32", first: "u32" });

/**
 * Program of the objective partial sums over one row chunk (bind scores, the 256 partials,
 * and for `"weighted"` the float row weights); `first` overwrites the partials.
 */
export function objectiveProgram(kind: UpdateKind, rows: number, first: boolean): Program {
  return {
    shaderKey: `kmeans_objective:${kind}`,
    code: () => specialize(objectiveCode, false, {}, [kind]),
    workgroupSize: 256,
    workgroups: [1, 1, 1],
    uniformStruct: OBJECTIVE_PARAMS,
    uniforms: OBJECTIVE_PARAMS.pack({ rows, first: first ? 1 : 0 }),
  };
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
    dispatch(gpu, objectiveProgram("plain", xc.rows, i === 0), [out.score[i]!, partial], enc);
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
  /** Variant of the accumulate and finalize templates. */
  kind: UpdateKind;
  /** Bindings of the accumulate pass for row chunk `i` and centroid chunk `j`. */
  accumulateBindings(xc: GpuMatrix["chunks"][number], i: number, j: number): Binding[];
  /** Bindings of the finalize pass for centroid chunk `cc` (index `j`). */
  finalizeBindings(cc: CentroidStore["chunks"][number], j: number): Binding[];
}

const ACCUMULATE_PARAMS = uniformStruct({
  rows: "u32",
  kBase: "u32",
  kc: "u32",
  d4: "u32",
  scale: "f32",
});
const FINALIZE_PARAMS = uniformStruct({
  kc: "u32",
  kBase: "u32",
  d4: "u32",
  spherical: "u32",
  invScale: "f32",
});

/**
 * Program of the accumulate pass: counts and fixed-point sums of a row chunk's members of the
 * centroid chunk `[kBase, kBase + kc)` (bind rows, assignments, counts, sums; for
 * `"weighted"` also the integer row weights and the weight totals).
 */
export function accumulateProgram(
  kind: UpdateKind,
  f16: boolean,
  u: Parameters<typeof ACCUMULATE_PARAMS.pack>[0],
): Program {
  const workgroupSize = 64;
  return {
    shaderKey: `kmeans_accumulate:${kind}:${f16 ? "f16" : "f32"}`,
    code: () => specialize(accumulateCode, f16, {}, [kind]),
    workgroupSize,
    workgroups: workgroupsFor({ workgroupSize }, u.rows),
    uniformStruct: ACCUMULATE_PARAMS,
    uniforms: ACCUMULATE_PARAMS.pack(u),
  };
}

/**
 * Program of the finalize pass: centroids = sums / totals for the centroid chunk of `kc`
 * rows (bind counts, sums, the chunk's f32 centroids, its 0.5‖c‖²; for `"weighted"` also the
 * weight totals).
 */
export function finalizeProgram(
  kind: UpdateKind,
  u: Parameters<typeof FINALIZE_PARAMS.pack>[0],
): Program {
  const workgroupSize = 64;
  return {
    shaderKey: `kmeans_finalize:${kind}`,
    code: () => specialize(finalizeCode, false, {}, [kind]),
    workgroupSize,
    workgroups: workgroupsFor({ workgroupSize }, u.kc),
    uniformStruct: FINALIZE_PARAMS,
    uniforms: FINALIZE_PARAMS.pack(u),
  };
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
  cents.chunks.forEach((cc, j) => {
    x.chunks.forEach((xc, i) => {
      if (xc.rows === 0) return;
      const program = accumulateProgram(passes.kind, x.dtype === "f16", {
        rows: xc.rows,
        kBase: cc.kBase,
        kc: cc.rows,
        d4,
        scale,
      });
      dispatch(gpu, program, passes.accumulateBindings(xc, i, j), enc);
    });
  });
  cents.chunks.forEach((cc, j) => {
    const program = finalizeProgram(passes.kind, {
      kc: cc.rows,
      kBase: cc.kBase,
      d4,
      spherical: spherical ? 1 : 0,
      invScale: 1 / scale,
    });
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
    kind: "plain",
    accumulateBindings: (xc, i, j) => [xc.buffer, out.idx[i]!, state.counts, state.sums[j]!],
    finalizeBindings: (cc, j) => [state.counts, state.sums[j]!, f32Binding(cc, cents.dp), cc.cn],
  }, enc);
}
