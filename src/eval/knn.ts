// kNN classification with cosine similarity through the toolkit's exact top-k kernel.
import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { topk } from "../topk/topk.ts";
import { TOPK_MAX_K } from "../topk/topk_programs.ts";
import { checkOptionsObject } from "../options/check_options_object.ts";
import type { LabelledFeatures } from "./evaluate.ts";

/** Options of {@linkcode knnTop1}. */
export interface KnnOptions {
  /**
   * Neighbours that vote, an integer in `[1, 64]` (fewer when the training split is
   * smaller). @default {20}
   */
  k?: number;
  /** Vote weight exp(similarity / temperature); 0 = plain majority vote. @default {0.07} */
  temperature?: number;
}

/**
 * kNN top-1 accuracy: each test row's `k` most cosine-similar training rows vote for their
 * label (weighted by exp(sim / T), DINO-style), ties go to the lower label.
 *
 * @param gpu The GPU context.
 * @param train Training features `x` (host or `GpuMatrix`) and labels `y` (the database searched).
 * @param test Test features (same width) and labels.
 * @param options `k` and `temperature` ({@linkcode KnnOptions}).
 * @returns Accuracy in [0, 1].
 * @throws {RangeError} When `k` is not an integer in `[1, 64]`, the temperature is negative or
 * not finite, or the training split is empty.
 * @throws {TypeError} When the widths differ or a split's label count is not its row count.
 *
 * @example Usage
 * ```ts ignore
 * const acc = await knnTop1(gpu, { x: trainEmb, y: trainY }, { x: testEmb, y: testY }, { k: 20 });
 * ```
 */
export async function knnTop1(
  gpu: Gpu,
  train: LabelledFeatures<Matrix | GpuMatrix>,
  test: LabelledFeatures<Matrix | GpuMatrix>,
  options: KnnOptions = {},
): Promise<number> {
  checkOptionsObject("knnTop1", options, "{ k: 20 }");
  const { x: trainX, y: trainY } = train;
  const { x: testX, y: testY } = test;
  const wantK = options.k ?? 20;
  if (!Number.isInteger(wantK) || wantK < 1 || wantK > TOPK_MAX_K) {
    throw new RangeError(
      `Expected knnTop1's k (neighbours that vote) to be an integer in [1, ${TOPK_MAX_K}] but found ${wantK}`,
    );
  }
  const temp = options.temperature ?? 0.07;
  if (!Number.isFinite(temp) || temp < 0) {
    throw new RangeError(
      `Expected knnTop1's temperature to be a finite number >= 0 but found ${temp}`,
    );
  }
  if (trainX.cols !== testX.cols) {
    throw new TypeError(
      `Expected test features of width ${trainX.cols} like the training features but found ${testX.cols}`,
    );
  }
  if (trainY.length !== trainX.rows) {
    throw new TypeError(`Expected ${trainX.rows} training labels but found ${trainY.length}`);
  }
  if (testY.length !== testX.rows) {
    throw new TypeError(`Expected ${testX.rows} test labels but found ${testY.length}`);
  }
  if (trainX.rows === 0) {
    throw new RangeError(
      "Expected knnTop1's training split to hold at least one row but found none",
    );
  }
  const k = Math.min(wantK, trainX.rows);
  if (testX.rows === 0) return 0;
  const { indices, scores } = await topk(gpu, testX, trainX, { k, metric: "cosine" });
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
