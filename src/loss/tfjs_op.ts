import type { Gpu } from "../gpu/gpu.ts";
import { tensorBuffer, tf } from "../model/tf.ts";
import { gpuMatrixView } from "../gpu/gpu_matrix.ts";
import { prepareLoss } from "./_prepare.ts";
import { runLossGpu } from "./_mlcd_gpu.ts";
import { checkLossCall } from "./_call_shape.ts";
import type { MlcdLossOptions } from "./mlcd_loss_options.ts";

/**
 * The MLCD loss as a differentiable tfjs op (`tf.customGrad`) that runs the toolkit's
 * WGSL kernels on the tfjs WebGPU backend's own device: inputs are read from the tensors'
 * GPU buffers and the gradients come back as GPU tensors, with no host round trip. Call
 * `useTfBackend(gpu)` first so tfjs and the kernels share `gpu.device`.
 *
 * The forward pass computes the gradients too (one fused pipeline) and keeps them for the
 * backward pass. Gradients reach the full `C × d` centers through `tf.gather` of the
 * sampled rows (zero outside `sampled`).
 *
 * @param gpu The GPU context tfjs was bound to with `useTfBackend`.
 * @param embeddings Raw embeddings, `[n, d]` float32.
 * @param centers Raw class centers, `[C, d]` float32.
 * @param positives Positive class ids, `n × l` row-major.
 * @param options The {@linkcode MlcdLossOptions}.
 * @returns The mean loss, a scalar on the GPU.
 * @throws {TypeError} Like `mlcdLoss` on bad shapes, options or call forms.
 * @throws {RangeError} Like `mlcdLoss` on bad ids or option values.
 *
 * @example Usage
 * ```ts ignore
 * const tf = await useTfBackend(gpu);
 * const opt = tf.train.adam(1e-3);
 * opt.minimize(() => mlcdLossOp(gpu, model.apply(x) as tf.Tensor2D, centers, positives, { sampled }));
 * ```
 */
export function mlcdLossOp(
  gpu: Gpu,
  embeddings: tf.Tensor2D,
  centers: tf.Tensor2D,
  positives: Uint32Array,
  options: MlcdLossOptions = {},
): tf.Scalar {
  checkLossCall("mlcdLossOp", embeddings, options);
  const [n, d] = shape2(embeddings, "embeddings");
  const [C, dc] = shape2(centers, "centers");
  const prep = prepareLoss(n, d, C, dc, positives, options);
  const S = prep.sampled.length;
  const core = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const e = args[0] as tf.Tensor, w = args[1] as tf.Tensor, save = args[2] as tf.GradSaveFunc;
    const eb = gpuBuffer(e);
    const wb = gpuBuffer(w);
    let out;
    try {
      out = runLossGpu(
        gpu,
        gpuMatrixView(eb.buffer, { rows: n, cols: d }),
        gpuMatrixView(wb.buffer, { rows: S, cols: d }),
        prep,
      );
    } finally {
      eb.dispose();
      wb.dispose();
    }
    const per = tf.tensor({ buffer: out.perSample }, [n], "float32");
    const ge = tf.tensor({ buffer: out.gradE }, [n, d], "float32");
    const gw = tf.tensor({ buffer: out.gradW }, [S, d], "float32");
    out.destroy();
    save([ge, gw]);
    return {
      value: tf.mean(per) as tf.Scalar,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = dy as tf.Tensor;
        return [tf.mul(saved[0]!, g), tf.mul(saved[1]!, g)];
      },
    };
  });
  if (options.sampled === undefined) {
    return core(embeddings, centers) as tf.Scalar;
  }
  return tf.tidy(() => {
    const idx = tf.tensor1d(Int32Array.from(prep.sampled), "int32");
    return core(embeddings, tf.gather(centers, idx)) as tf.Scalar;
  });
}

/**
 * The same loss written in plain tfjs ops (normalise, matMul, margin, masked
 * log-sum-exps), differentiated by tfjs autograd: the peer of {@linkcode mlcdLossOp} in
 * the benchmark and a cross-check in the tests. Materialises the `n × S` logits. The same
 * call shape as {@linkcode mlcdLossOp} without the `gpu` (tfjs runs on its own backend).
 *
 * @param embeddings Raw embeddings, `[n, d]`.
 * @param centers Raw class centers, `[C, d]`.
 * @param positives Positive class ids, `n × l` row-major.
 * @param options The {@linkcode MlcdLossOptions}.
 * @returns The mean loss as a scalar tensor.
 * @throws {TypeError} Like `mlcdLoss` on bad shapes, options or call forms (a `Gpu` passed
 * first: this op takes none).
 * @throws {RangeError} Like `mlcdLoss` on bad ids or option values.
 *
 * @example Usage
 * ```ts ignore
 * const loss = mlcdLossTf(embeddings, centers, positives, { marginType: "cosine" });
 * ```
 */
export function mlcdLossTf(
  embeddings: tf.Tensor2D,
  centers: tf.Tensor2D,
  positives: Uint32Array,
  options: MlcdLossOptions = {},
): tf.Scalar {
  checkLossCall("mlcdLossTf", embeddings, options);
  const [n, d] = shape2(embeddings, "embeddings");
  const [C, dc] = shape2(centers, "centers");
  const prep = prepareLoss(n, d, C, dc, positives, options);
  const { l, scale: s, margin: m } = prep;
  const S = prep.sampled.length;
  const w = options.sampled === undefined
    ? centers
    : tf.gather(centers, tf.tensor1d(Int32Array.from(prep.sampled), "int32"));
  const fh = tf.div(embeddings, tf.norm(embeddings, "euclidean", 1, true));
  const wh = tf.div(w, tf.norm(w, "euclidean", 1, true));
  const cos = tf.matMul(fh, wh, false, true);
  const pairs = new Int32Array(n * l * 2);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < l; t++) {
      pairs[(i * l + t) * 2] = i;
      pairs[(i * l + t) * 2 + 1] = prep.posLocal[i * l + t]!;
    }
  }
  const idx = tf.tensor2d(pairs, [n * l, 2], "int32");
  const mask = tf.scatterND(idx, tf.ones([n * l]), [n, S]);
  // Positives' cosines from the gathered positive centers (GatherNd has no gradient).
  const wPos = tf.reshape(tf.gather(wh, tf.tensor1d(Int32Array.from(prep.posLocal), "int32")), [
    n,
    l,
    d,
  ]);
  const cp = tf.sum(tf.mul(wPos, tf.expandDims(fh, 1)), 2);
  const negLogits = tf.sub(tf.mul(cos, s), tf.mul(mask, 1e4 * (s + 1)));
  let per: tf.Tensor;
  if (prep.loss === "mlc") {
    const posLogits = tf.mul(cp, s);
    per = tf.sub(
      tf.logSumExp(tf.concat([posLogits, negLogits], 1), 1),
      tf.mean(posLogits, 1),
    );
  } else {
    let phi: tf.Tensor;
    if (prep.marginType === "cosine") {
      phi = tf.sub(cp, m);
    } else {
      const sinT = tf.sqrt(tf.maximum(tf.sub(1, tf.square(cp)), 1e-12));
      const arc = tf.sub(tf.mul(cp, Math.cos(m)), tf.mul(sinT, Math.sin(m)));
      const onArc = tf.step(tf.add(cp, Math.cos(m))); // 1 while θ + m < π (zero gradient)
      const fallback = tf.sub(cp, m * Math.sin(m));
      phi = tf.add(fallback, tf.mul(onArc, tf.sub(arc, fallback)));
    }
    const zeros = tf.zeros([n, 1]);
    const spP = tf.logSumExp(tf.concat([zeros, tf.mul(phi, -s)], 1), 1);
    const spN = tf.logSumExp(tf.concat([zeros, negLogits], 1), 1);
    per = tf.add(spP, spN);
  }
  return tf.mean(per) as tf.Scalar;
}

// tensorBuffer() needs the data on the GPU; tensors made from host arrays are uploaded
// lazily by the webgpu backend, so upload them first.
function gpuBuffer(t: tf.Tensor): { buffer: GPUBuffer; dispose: () => void } {
  const backend = tf.backend() as unknown as { uploadToGPU?: (dataId: object) => void };
  backend.uploadToGPU?.(t.dataId);
  return tensorBuffer(t);
}

function shape2(t: tf.Tensor, name: string): [number, number] {
  if (!(t instanceof tf.Tensor) || t.rank !== 2) {
    throw new TypeError(`Expected ${name} to be a 2-D tensor but found shape [${t?.shape}]`);
  }
  if (t.dtype !== "float32") {
    throw new TypeError(`Expected ${name} to be float32 but found ${t.dtype}`);
  }
  return [t.shape[0]!, t.shape[1]!];
}
