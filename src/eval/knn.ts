// kNN classification with cosine similarity through the toolkit's exact top-k kernel.
import type { Gpu } from "../gpu/gpu.ts";
import type { Matrix } from "../matrix/matrix.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { topk } from "../topk/topk.ts";

/** Options of {@linkcode knnTop1}. */
export interface KnnOptions {
  /** Neighbours that vote. @default {20} */
  k?: number;
  /** Vote weight exp(similarity / temperature); 0 = plain majority vote. @default {0.07} */
  temperature?: number;
}

/**
 * kNN top-1 accuracy: each test row's `k` most cosine-similar training rows vote for their
 * label (weighted by exp(sim / T), DINO-style), ties go to the lower label.
 *
 * @param gpu The GPU context.
 * @param trainX Training features (on the host or a `GpuMatrix` on the GPU).
 * @param trainY Training labels.
 * @param testX Test features (same width; host or GPU).
 * @param testY Test labels.
 * @param options See {@linkcode KnnOptions}.
 * @returns Accuracy in [0, 1].
 *
 * @example Usage
 * ```ts ignore
 * const acc = await knnTop1(gpu, trainEmb, trainY, testEmb, testY, { k: 20 });
 * ```
 */
export async function knnTop1(
  gpu: Gpu,
  trainX: Matrix | GpuMatrix,
  trainY: ArrayLike<number>,
  testX: Matrix | GpuMatrix,
  testY: ArrayLike<number>,
  options: KnnOptions = {},
): Promise<number> {
  const k = Math.min(options.k ?? 20, trainX.rows);
  const temp = options.temperature ?? 0.07;
  if (trainY.length !== trainX.rows) {
    throw new TypeError(`Expected ${trainX.rows} training labels but found ${trainY.length}`);
  }
  if (testY.length !== testX.rows) {
    throw new TypeError(`Expected ${testX.rows} test labels but found ${testY.length}`);
  }
  if (testX.rows === 0) return 0;
  const { indices, scores } = await topk(gpu, testX, trainX, k, {
    metric: "cosine",
  });
  let correct = 0;
  const votes = new Map<number, number>();
  for (let q = 0; q < testX.rows; q++) {
    votes.clear();
    for (let j = 0; j < k; j++) {
      const y = trainY[indices[q * k + j]!]!;
      const w = temp > 0 ? Math.exp(scores[q * k + j]! / temp) : 1;
      votes.set(y, (votes.get(y) ?? 0) + w);
    }
    let best = -1, bw = -Infinity;
    for (const [y, w] of votes) if (w > bw || (w === bw && y < best)) [best, bw] = [y, w];
    if (best === testY[q]) correct++;
  }
  return correct / testX.rows;
}
