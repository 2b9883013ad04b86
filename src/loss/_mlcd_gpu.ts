// The GPU pipeline shared by mlcdLoss (host matrices) and mlcdLossOp (tfjs tensors).
import logitsCode from "../../kernels/loss_logits.wgsl" with { type: "text" };
import rowsCode from "../../kernels/loss_rows.wgsl" with { type: "text" };
import gemmCode from "../../kernels/loss_gemm.wgsl" with { type: "text" };
import jacobianCode from "../../kernels/loss_jacobian.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import { createStorage, upload } from "../gpu/buffers.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { PACK, recordPackRows } from "../gpu/pack_rows.ts";
import { dispatch, foldDispatch, type Program, submit, workgroupsFor } from "../gpu/program.ts";
import { uniformStruct } from "../gpu/uniforms.ts";
import type { PreparedLoss } from "./_prepare.ts";

/** GPU buffers produced by {@linkcode runLossGpu}; free them with `destroy`. */
export interface LossGpuOutput {
  /** n float32 per-sample losses. */
  perSample: GPUBuffer;
  /** n × d gradient with respect to the raw embeddings. */
  gradE: GPUBuffer;
  /** S × d gradient with respect to the raw sampled centers (rows in `sampled` order). */
  gradW: GPUBuffer;
  destroy(): void;
}

function checkBinding(gpu: Gpu, bytes: number, what: string): void {
  if (bytes > gpu.maxBindingBytes) {
    throw new RangeError(
      `Expected ${what} to fit one storage binding of ${gpu.maxBindingBytes} bytes but it needs ${bytes}`,
    );
  }
}

const ROW_PARAMS = uniformStruct({ rows: "u32", d: "u32", dp: "u32" });
const LOGITS_PARAMS = uniformStruct({ rows: "u32", S: "u32", d4: "u32", rowStart: "u32" });
const ROWS_PARAMS = uniformStruct({
  rows: "u32",
  S: "u32",
  l: "u32",
  rowStart: "u32",
  scale: "f32",
  margin: "f32",
  invN: "f32",
  mode: "u32",
});
const GEMM_PARAMS = uniformStruct({
  R: "u32",
  N4: "u32",
  T: "u32",
  aRs: "u32",
  aTs: "u32",
  bRow0: "u32",
  outRow0: "u32",
  accumulate: "u32",
});

function rowPass(code: string, key: string, rows: number, d: number, dp: number): Program {
  const workgroupSize = 64;
  return {
    shaderKey: key,
    code,
    workgroupSize,
    workgroups: workgroupsFor({ workgroupSize }, rows),
    uniformStruct: ROW_PARAMS,
    uniforms: ROW_PARAMS.pack({ rows, d, dp }),
  };
}

/**
 * Records the L2-normalised copy of `src`'s rows (those listed in `index`, when given) into
 * `dst` (`rows × dp` f32, zero-padded) and each row's inverse norm into `inv`, with the shared
 * row-packing kernel of GpuMatrix (any stride, f32 or f16, any chunking; `index` gathers
 * across chunks on the GPU).
 */
function recordNormalized(
  gpu: Gpu,
  src: GpuMatrix,
  index: GPUBuffer | undefined,
  rows: number,
  dp: number,
  dst: GPUBuffer,
  inv: GPUBuffer,
  enc: GPUCommandEncoder,
): void {
  const flags = PACK.normalize | PACK.invNorm | (src.dtype === "f16" ? PACK.srcF16 : 0) |
    (index ? PACK.gather : 0);
  for (const c of src.chunks) {
    recordPackRows(gpu, {
      rows: index ? rows : c.rows,
      cols: src.cols,
      srcStride: src.stride,
      dstStride: dp,
      srcRow0: index ? c.rowStart : 0,
      srcRows: c.rows,
      dstRow0: index ? 0 : c.rowStart,
      rowBase: index ? 0 : c.rowStart,
      indexOff: 0,
      flags,
      src: c.buffer,
      dst,
      ...(index ? { index } : {}),
      invNorm: inv,
    }, enc);
  }
}

/**
 * Records and submits the whole forward + backward pipeline.
 * `e` holds the raw embeddings (n × d), `w` the raw centers: the S sampled ones in `sampled`
 * order, or, with `gather`, all C of them (the sampled rows are then gathered on the GPU).
 * Either may be any {@linkcode GpuMatrix} (stride, dtype, chunks). The batch is processed in
 * row blocks whose n_b × S coefficient buffer fits one storage binding.
 */
export function runLossGpu(
  gpu: Gpu,
  e: GpuMatrix,
  w: GpuMatrix,
  prep: PreparedLoss,
  gather = false,
): LossGpuOutput {
  const { n, d, l, posLocal } = prep;
  const S = prep.sampled.length;
  const d4 = Math.ceil(d / 4), dp = d4 * 4;
  checkBinding(gpu, n * dp * 4, `the ${n} × ${d} embeddings`);
  checkBinding(gpu, S * dp * 4, `the ${S} × ${d} sampled centers`);
  checkBinding(gpu, n * l * 4, `the ${n} × ${l} positives`);
  if (Math.ceil(S / 32) > gpu.maxWorkgroupsPerDimension) {
    throw new RangeError(
      `Expected at most ${32 * gpu.maxWorkgroupsPerDimension} sampled classes but found ${S}`,
    );
  }
  const blockRows = Math.min(n, Math.floor(gpu.maxBindingBytes / (S * 4)));
  if (blockRows < 1) checkBinding(gpu, S * 4, `one row of ${S} sampled logits`);

  const temps: GPUBuffer[] = [];
  const tmp = (bytes: number, label: string) => {
    const b = createStorage(gpu, bytes, label);
    temps.push(b);
    return b;
  };
  const fhat = tmp(n * dp * 4, "loss.fhat");
  const fInv = tmp(n * 4, "loss.fInv");
  const what = tmp(S * dp * 4, "loss.what");
  const wInv = tmp(S * 4, "loss.wInv");
  const pos = upload(gpu, posLocal, "loss.pos");
  temps.push(pos);
  const posCos = tmp(n * l * 4, "loss.posCos");
  const coef = tmp(blockRows * S * 4, "loss.coef");
  const gF = tmp(n * dp * 4, "loss.gradFhat");
  const gW = tmp(S * dp * 4, "loss.gradWhat");
  const perSample = createStorage(gpu, n * 4, "loss.perSample");
  const gradE = createStorage(gpu, n * d * 4, "loss.gradE");
  const gradW = createStorage(gpu, S * d * 4, "loss.gradW");

  // Register-tiled kernels (4 × 4 vec4 blocks per invocation, read straight from storage).
  const logits = (rows: number, r0: number): Program => ({
    shaderKey: "loss_logits",
    code: logitsCode,
    workgroupSize: [8, 8, 1], // 32 × 32 outputs per workgroup
    workgroups: [Math.ceil(S / 32), Math.ceil(rows / 32), 1],
    uniformStruct: LOGITS_PARAMS,
    uniforms: LOGITS_PARAMS.pack({ rows, S, d4, rowStart: r0 }),
  });
  // out rows [outRow0, outRow0 + R) (+)= A × b rows [bRow0, bRow0 + T)
  const gemm = (u: Parameters<typeof GEMM_PARAMS.pack>[0]): Program => ({
    shaderKey: "loss_gemm",
    code: gemmCode,
    workgroupSize: [8, 8, 1],
    workgroups: [Math.ceil(d4 / 32), Math.ceil(u.R / 32), 1],
    uniformStruct: GEMM_PARAMS,
    uniforms: GEMM_PARAMS.pack(u),
  });

  const index = gather ? upload(gpu, prep.sampled, "loss.sampled") : undefined;
  if (index) temps.push(index);
  const enc = gpu.device.createCommandEncoder({ label: "mlcd loss" });
  recordNormalized(gpu, e, undefined, n, dp, fhat, fInv, enc);
  recordNormalized(gpu, w, index, S, dp, what, wInv, enc);
  const mode = (prep.marginType === "cosine" ? 1 : 0) | (prep.loss === "mlc" ? 2 : 0);
  for (let r0 = 0; r0 < n; r0 += blockRows) {
    const rows = Math.min(blockRows, n - r0);
    dispatch(gpu, logits(rows, r0), [fhat, what, coef], enc);
    dispatch(
      gpu,
      {
        shaderKey: "loss_rows",
        code: rowsCode,
        workgroupSize: 64, // one workgroup per row
        workgroups: foldDispatch(rows),
        uniformStruct: ROWS_PARAMS,
        uniforms: ROWS_PARAMS.pack({
          rows,
          S,
          l,
          rowStart: r0,
          scale: prep.scale,
          margin: prep.margin,
          invN: 1 / n,
          mode,
        }),
      },
      [coef, pos, posCos, perSample],
      enc,
    );
    // grad f̂ rows [r0, r0 + rows) = coef × ŵ
    dispatch(
      gpu,
      gemm({ R: rows, N4: d4, T: S, aRs: S, aTs: 1, bRow0: 0, outRow0: r0, accumulate: 0 }),
      [coef, what, gF],
      enc,
    );
    // grad ŵ (+)= coefᵀ × f̂ rows [r0, r0 + rows)
    dispatch(
      gpu,
      gemm({
        R: S,
        N4: d4,
        T: rows,
        aRs: 1,
        aTs: S,
        bRow0: r0,
        outRow0: 0,
        accumulate: r0 > 0 ? 1 : 0,
      }),
      [coef, fhat, gW],
      enc,
    );
  }
  dispatch(gpu, rowPass(jacobianCode, "loss_jacobian", n, d, dp), [fhat, fInv, gF, gradE], enc);
  dispatch(gpu, rowPass(jacobianCode, "loss_jacobian", S, d, dp), [what, wInv, gW, gradW], enc);
  submit(gpu, enc);
  for (const b of temps) b.destroy();
  return {
    perSample,
    gradE,
    gradW,
    destroy() {
      perSample.destroy();
      gradE.destroy();
      gradW.destroy();
    },
  };
}
