// The batched products of attention (scores and context) on the kernel that suits the adapter.
import { tf, tfOnCpuAdapter } from "./tf.ts";
import { batchMatMulRegisters } from "./_batch_matmul.ts";

/**
 * `op(a) · op(b)` per batch entry for attention's small products: a registers-only kernel on
 * CPU adapters (3-4× faster there than tfjs's tiled matMul), `tf.matMul` elsewhere; both with
 * gradients.
 *
 * @param a `[batch, M, K]` (or `[batch, K, M]` with `transposeA`).
 * @param b `[batch, K, N]` (or `[batch, N, K]` with `transposeB`).
 * @param transposeA Use `a` transposed. @default {false}
 * @param transposeB Use `b` transposed. @default {false}
 * @returns `[batch, M, N]`.
 *
 * @example Usage
 * ```ts ignore
 * const scores = attentionMatMul(q, k, false, true); // q·kᵀ per batch entry
 * ```
 */
export function attentionMatMul(
  a: tf.Tensor3D,
  b: tf.Tensor3D,
  transposeA = false,
  transposeB = false,
): tf.Tensor3D {
  return tfOnCpuAdapter()
    ? batchMatMulRegisters(a, b, transposeA, transposeB)
    : tf.matMul(a, b, transposeA, transposeB);
}
