// Private: empty clusters. faiss's split rule (planSplits, on the host, from the member
// counts) and its GPU side (recordSplits: copy the donor onto the empty centroid, nudge both).
import nudgeCode from "../../kernels/kmeans_nudge.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import { dispatch } from "../gpu/program.ts";
import { uniformStruct } from "../gpu/uniforms.ts";
import { type CentroidStore, f32Binding } from "./centroid_store.ts";

/** faiss's split rule with a deterministic donor: the currently largest cluster. */
export function planSplits(countsIn: Uint32Array): [number, number][] {
  const counts = Float64Array.from(countsIn);
  const pairs: [number, number][] = [];
  for (let ci = 0; ci < counts.length; ci++) {
    if (counts[ci] !== 0) continue;
    let cj = 0;
    for (let j = 1; j < counts.length; j++) if (counts[j]! > counts[cj]!) cj = j;
    if (counts[cj]! < 2) break; // nothing left to split
    pairs.push([ci, cj]);
    counts[ci] = Math.floor(counts[cj]! / 2);
    counts[cj] = counts[cj]! - counts[ci]!;
  }
  return pairs;
}

const NUDGE_PARAMS = uniformStruct({ row: "u32", d: "u32", spherical: "u32", sign: "f32" });

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
    dispatch(
      gpu,
      {
        shaderKey: "kmeans_nudge",
        code: nudgeCode,
        workgroupSize: 1,
        workgroups: [1, 1, 1],
        uniformStruct: NUDGE_PARAMS,
        uniforms: NUDGE_PARAMS.pack({
          row: c - chunk.kBase,
          d: dp,
          spherical: spherical ? 1 : 0,
          sign,
        }),
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
