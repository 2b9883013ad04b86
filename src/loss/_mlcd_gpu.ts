// The GPU pipeline shared by mlcdLoss (host matrices) and mlcdLossOp (tfjs tensors).
import normalizeCode from "../../kernels/loss_normalize.wgsl" with { type: "text" };
import logitsCode from "../../kernels/loss_logits.wgsl" with { type: "text" };
import rowsCode from "../../kernels/loss_rows.wgsl" with { type: "text" };
import gemmCode from "../../kernels/loss_gemm.wgsl" with { type: "text" };
import jacobianCode from "../../kernels/loss_jacobian.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import { createStorage, upload } from "../gpu/buffers.ts";
import { dispatch, foldDispatch, type Program, submit } from "../gpu/program.ts";
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

function rowPass(code: string, key: string, rows: number, d: number, dp: number): Program {
  return {
    shaderKey: key,
    code,
    workgroups: foldDispatch(Math.ceil(rows / 64)),
    uniforms: new Uint32Array([rows, d, dp, 0]),
  };
}

/**
 * Records and submits the whole forward + backward pipeline.
 * `e` holds the raw embeddings (n × d), `w` the raw sampled centers (S × d, in `sampled`
 * order). The batch is processed in row blocks whose n_b × S coefficient buffer fits one
 * storage binding.
 */
export function runLossGpu(
  gpu: Gpu,
  e: GPUBuffer,
  w: GPUBuffer,
  prep: PreparedLoss,
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
    workgroups: [Math.ceil(S / 32), Math.ceil(rows / 32), 1],
    uniforms: new Uint32Array([rows, S, d4, r0]),
  });
  // out rows [outRow0, outRow0 + u[0]) (+)= A × b rows [bRow0, bRow0 + T)
  const gemm = (u: number[]): Program => ({
    shaderKey: "loss_gemm",
    code: gemmCode,
    workgroups: [Math.ceil(d4 / 32), Math.ceil(u[0]! / 32), 1],
    uniforms: new Uint32Array(u),
  });

  const enc = gpu.device.createCommandEncoder({ label: "mlcd loss" });
  dispatch(gpu, rowPass(normalizeCode, "loss_normalize", n, d, dp), [e, fhat, fInv], enc);
  dispatch(gpu, rowPass(normalizeCode, "loss_normalize", S, d, dp), [w, what, wInv], enc);
  const mode = (prep.marginType === "cosine" ? 1 : 0) | (prep.loss === "mlc" ? 2 : 0);
  for (let r0 = 0; r0 < n; r0 += blockRows) {
    const rows = Math.min(blockRows, n - r0);
    dispatch(gpu, logits(rows, r0), [fhat, what, coef], enc);
    const u = new ArrayBuffer(32);
    new Uint32Array(u, 0, 4).set([rows, S, l, r0]);
    new Float32Array(u, 16, 3).set([prep.scale, prep.margin, 1 / n]);
    new Uint32Array(u, 28, 1)[0] = mode;
    dispatch(
      gpu,
      {
        shaderKey: "loss_rows",
        code: rowsCode,
        workgroups: foldDispatch(rows),
        uniforms: new Uint8Array(u),
      },
      [coef, pos, posCos, perSample],
      enc,
    );
    // grad f̂ rows [r0, r0 + rows) = coef × ŵ
    dispatch(gpu, gemm([rows, d4, S, S, 1, 0, r0, 0]), [coef, what, gF], enc);
    // grad ŵ (+)= coefᵀ × f̂ rows [r0, r0 + rows)
    dispatch(gpu, gemm([S, d4, rows, 1, S, r0, 0, r0 > 0 ? 1 : 0]), [coef, fhat, gW], enc);
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
