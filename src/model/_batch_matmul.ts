// A batched matMul for small matrices (attention scores and context) as a tfjs WebGPU program
// with a registers-only kernel, and its gradients. Used on CPU adapters, where tfjs's tiled
// matMul (workgroup memory + barriers) is 3-4× slower on these shapes.
import code from "../../kernels/batch_matmul_registers.wgsl" with { type: "text" };
import { specialize } from "../gpu/template.ts";
import { quirksFor } from "../gpu/quirks.ts";
import { tf, tfQuirks } from "./tf.ts";

interface Backend {
  runWebGPUProgram(
    program: unknown,
    inputs: tf.TensorInfo[],
    dtype: "float32",
    uniforms: { type: "int32"; data: number[] }[],
  ): tf.TensorInfo;
}

const WORKGROUP = 64;
/** The kernel's uniform fields, all i32, in declaration order (tfjs computes the layout). */
const UNIFORM_FIELDS = ["batch", "m", "n", "k", "kStart", "kEnd"] as const;

function run(a: tf.Tensor3D, b: tf.Tensor3D, tA: boolean, tB: boolean): tf.Tensor3D {
  const [batch, a1, a2] = a.shape;
  const [, b1, b2] = b.shape;
  const M = tA ? a2 : a1, K = tA ? a1 : a2, N = tB ? b1 : b2;
  const count = batch * Math.ceil(M / 4) * Math.ceil(N / 4);
  const tags = [tA ? "at" : "an", tB ? "bt" : "bn"];
  const program = {
    outputShape: [batch, M, N],
    shaderKey: `mlcd_batch_matmul_registers_${tags.join("_")}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(count / WORKGROUP), 1, 1],
    variableNames: ["A", "B"],
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: UNIFORM_FIELDS.map((f) => `${f} : i32,`).join(" "),
    getUserCode: () => specialize(code, false, {}, tags),
  };
  // One uniform entry per i32 field: tfjs aligns a multi-value entry as a vector.
  const values: Record<(typeof UNIFORM_FIELDS)[number], number> = {
    batch,
    m: M,
    n: N,
    k: K,
    kStart: 0,
    kEnd: K,
  };
  const uniforms = UNIFORM_FIELDS.map((f) => ({ type: "int32" as const, data: [values[f]] }));
  const info = (tf.backend() as unknown as Backend).runWebGPUProgram(
    program,
    [a, b],
    "float32",
    uniforms,
  );
  return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor3D;
}

/**
 * `op(a) · op(b)` per batch entry, like `tf.matMul(a, b, transposeA, transposeB)` on rank-3
 * tensors of the same batch, with gradients; falls back to `tf.matMul` off the "webgpu"
 * backend or when a size exceeds what one kernel invocation may loop over
 * (`gpu.quirks.registersMatMulMaxDim` of the device bound by `useTfBackend`; the CPU
 * adapters' cap when none is bound).
 *
 * @param a `[batch, M, K]` (or `[batch, K, M]` with `transposeA`).
 * @param b `[batch, K, N]` (or `[batch, N, K]` with `transposeB`).
 * @param transposeA Use `a` transposed. @default {false}
 * @param transposeB Use `b` transposed. @default {false}
 * @returns `[batch, M, N]`.
 *
 * @example Usage
 * ```ts ignore
 * const scores = batchMatMulRegisters(q, k, false, true); // q·kᵀ per batch entry
 * ```
 */
export function batchMatMulRegisters(
  a: tf.Tensor3D,
  b: tf.Tensor3D,
  transposeA = false,
  transposeB = false,
): tf.Tensor3D {
  const K = transposeA ? a.shape[1] : a.shape[2];
  const Kb = transposeB ? b.shape[2] : b.shape[1];
  if (a.shape[0] !== b.shape[0] || K !== Kb) {
    throw new TypeError(
      `Expected matching batch and inner sizes but found ${JSON.stringify(a.shape)} and ${
        JSON.stringify(b.shape)
      } (transposeA ${transposeA}, transposeB ${transposeB})`,
    );
  }
  const big = Math.max(...a.shape.slice(1), ...b.shape.slice(1));
  const maxDim = (tfQuirks() ?? quirksFor("cpu")).registersMatMulMaxDim;
  if (tf.getBackend() !== "webgpu" || big > maxDim) {
    return tf.matMul(a, b, transposeA, transposeB);
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor3D, y = args[1] as tf.Tensor3D;
    const save = args[2] as tf.GradSaveFunc;
    save([x, y]);
    return {
      value: run(x, y, transposeA, transposeB),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
        const dc = dy as tf.Tensor3D;
        if (!transposeA && !transposeB) return [run(dc, sb, false, true), run(sa, dc, true, false)];
        if (!transposeA && transposeB) return [run(dc, sb, false, false), run(dc, sa, true, false)];
        if (transposeA && !transposeB) return [run(sb, dc, false, true), run(sa, dc, false, false)];
        return [run(sb, dc, true, true), run(dc, sa, true, true)];
      },
    };
  });
  return op(a, b) as tf.Tensor3D;
}
