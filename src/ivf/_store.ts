// Private: centers on the GPU in k-means' centroid layout (the CenterStore an IVF index reads),
// made from a host Matrix exactly as assignNearest makes its centroids, or from a GpuMatrix.
import packCode from "../../kernels/kmeans_pack_f16.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import { STORAGE_USAGE } from "../gpu/buffers.ts";
import { type GpuMatrix, isGpuMatrix, repackMatrix } from "../gpu/gpu_matrix.ts";
import { dispatch, type Program, submit, workgroupsFor } from "../gpu/program.ts";
import { uniformStruct } from "../gpu/uniforms.ts";
import { checkFinite, checkMatrix, type Matrix, normalizeRows } from "../matrix/matrix.ts";
import { cellsProgram, paddedWidth } from "./_programs.ts";

/**
 * Centers on the GPU in the layout of k-means' centroid store (`src/kmeans/centroid_store.ts`
 * `CentroidStore`, which satisfies this type): chunks of `rows` centers from `kBase`, each
 * with its `rows × dp` f32 values, its packed f16 copy when `f16`, and its 0.5‖c‖².
 */
export interface CenterStore {
  /** Centers. */
  readonly k: number;
  /** Columns. */
  readonly d: number;
  /** Padded width (`d` rounded up to 4): values per stored row. */
  readonly dp: number;
  /** Whether `packed` holds f16 copies (rows searched against it are f16 too). */
  readonly f16: boolean;
  /** The chunks, in order. */
  readonly chunks: readonly {
    readonly kBase: number;
    readonly rows: number;
    readonly f32: GPUBuffer;
    readonly packed: GPUBuffer | null;
    readonly cn: GPUBuffer;
  }[];
}

const PACK_PARAMS = uniformStruct({ count: "u32" });

/** Records the packing of f32 rows into halves (k-means' packing kernel, bit for bit). */
function recordPack(
  gpu: Gpu,
  src: GPUBuffer,
  dst: GPUBuffer,
  values: number,
  enc: GPUCommandEncoder,
) {
  const count = values / 4;
  if (count === 0) return;
  const program: Program = {
    shaderKey: "kmeans_pack_f16",
    code: packCode,
    workgroupSize: 64,
    workgroups: workgroupsFor({ workgroupSize: 64 }, count),
    uniformStruct: PACK_PARAMS,
    uniforms: PACK_PARAMS.pack({ count }),
  };
  dispatch(gpu, program, [{ buffer: src, size: values * 4 }, dst], enc);
}

/**
 * A store of `centers` owned by an index: a host Matrix is normalised (cosine), padded and
 * its 0.5‖c‖² computed on the host as assignNearest does; a GpuMatrix is re-packed on the GPU.
 */
export function createStore(
  gpu: Gpu,
  centers: Matrix | GpuMatrix,
  normalize: boolean,
  f16: boolean,
): CenterStore & { destroy(): void } {
  const k = centers.rows, d = centers.cols, dp = paddedWidth(d);
  if (k < 1) throw new RangeError(`Expected at least 1 center but found ${k}`);
  const kc = Math.floor(gpu.maxBindingBytes / (dp * 4));
  if (kc < 1) {
    throw new RangeError(
      `Cannot bind a center of ${dp} padded columns: the storage binding limit is ${gpu.maxBindingBytes} bytes`,
    );
  }
  const owned: GPUBuffer[] = [];
  const buffer = (bytes: number, label: string, usage = STORAGE_USAGE) => {
    const b = gpu.device.createBuffer({ label, size: Math.max(16, bytes), usage });
    owned.push(b);
    return b;
  };
  const enc = gpu.device.createCommandEncoder({ label: "ivf.store" });
  const chunks: CenterStore["chunks"][number][] = [];
  if (isGpuMatrix(centers)) {
    const g = repackMatrix(gpu, centers, {
      label: "ivf.centers",
      stride: dp,
      normalize,
      maxRowsPerChunk: kc,
    });
    owned.push(...g.chunks.map((c) => c.buffer));
    for (const c of g.chunks) {
      const cn = buffer(c.rows * 4, "ivf.centers.cn");
      dispatch(
        gpu,
        cellsProgram("norms", { count: c.rows, d4: dp / 4, srcBase: 0, srcRows: 0, flags: 0 }),
        [
          c.buffer,
          cn,
        ],
        enc,
      );
      chunks.push({ kBase: c.rowStart, rows: c.rows, f32: c.buffer, packed: null, cn });
    }
  } else {
    checkMatrix(centers, "centers");
    checkFinite(centers, "centers");
    const unit = normalize ? normalizeRows(centers, "centers") : centers;
    for (let kBase = 0; kBase < k; kBase += kc) {
      const rows = Math.min(kc, k - kBase);
      const values = new Float32Array(rows * dp);
      const cn = new Float32Array(rows);
      for (let r = 0; r < rows; r++) {
        const src = unit.data.subarray((kBase + r) * d, (kBase + r + 1) * d);
        values.set(src, r * dp);
        let s = 0;
        for (let j = 0; j < dp; j++) s += values[r * dp + j]! * values[r * dp + j]!;
        cn[r] = 0.5 * s;
      }
      const f32 = buffer(values.byteLength, "ivf.centers");
      const cnb = buffer(cn.byteLength, "ivf.centers.cn");
      gpu.device.queue.writeBuffer(f32, 0, values);
      gpu.device.queue.writeBuffer(cnb, 0, cn);
      chunks.push({ kBase, rows, f32, packed: null, cn: cnb });
    }
  }
  if (f16) {
    chunks.forEach((c, i) => {
      const packed = buffer(c.rows * dp * 2, "ivf.centers.f16");
      recordPack(gpu, c.f32, packed, c.rows * dp, enc);
      chunks[i] = { ...c, packed };
    });
  }
  submit(gpu, enc);
  return {
    k,
    d,
    dp,
    f16,
    chunks,
    destroy() {
      for (const b of owned) b.destroy();
    },
  };
}
