// All evaluation metrics of frozen features in one call.
import type { Gpu } from "../gpu/gpu.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { type GpuMatrix, uploadMatrix } from "../gpu/gpu_matrix.ts";
import { kmeans } from "../kmeans/kmeans.ts";
import { ari, nmi } from "./cluster_metrics.ts";
import { knnTop1 } from "./knn.ts";
import { linearProbe, type LinearProbeOptions } from "./linear_probe.ts";
import { retrievalRecall } from "./retrieval.ts";

/**
 * Labelled features of one split: `x` on the host (the default), or `X = Matrix | GpuMatrix`
 * where a function also takes rows already on the GPU (`knnTop1`).
 */
export interface LabelledFeatures<X extends Matrix | GpuMatrix = Matrix> {
  /** Features, one row per sample. */
  x: X;
  /** Labels (integers from 0). */
  y: ArrayLike<number>;
}

/** Metrics reported by {@linkcode evaluateFeatures}. */
export interface EvalMetrics {
  /** Linear-probe top-1 accuracy on the test split. */
  linearProbeTop1: number;
  /** kNN (cosine, k=20) top-1 accuracy on the test split. */
  knnTop1: number;
  /** NMI of spherical k-means (k = number of labels) on the test features vs the labels. */
  nmi: number;
  /** ARI of the same clustering. */
  ari: number;
  /** Test → train retrieval recall@1 (same label = relevant). */
  recallAt1: number;
  /** Recall@5. */
  recallAt5: number;
  /** Recall@10. */
  recallAt10: number;
}

/** Options of {@linkcode evaluateFeatures}. */
export interface EvaluateOptions {
  /** kNN neighbours. @default {20} */
  knnK?: number;
  /** Linear-probe options. @default {{}} */
  probe?: LinearProbeOptions;
  /** k-means seed for NMI/ARI. @default {1234} */
  seed?: number;
  /**
   * Called after every epoch of the linear probe and after each other metric.
   * @default {undefined}
   */
  onProgress?: (progress: EvalProgress) => void;
}

/** The metrics of {@linkcode evaluateFeatures}, in the order they are computed. */
export type EvalStage = "linear probe" | "kNN" | "retrieval" | "k-means";

/** One progress report of {@linkcode evaluateFeatures}. */
export interface EvalProgress {
  /** The metric being computed. */
  stage: EvalStage;
  /** Its steps done: epochs of the linear probe; 1 for the others, once they are done. */
  done: number;
  /** Its steps in all. */
  total: number;
  /** Seconds since `evaluateFeatures` started. */
  seconds: number;
}

/**
 * Linear probe, kNN top-1, retrieval recall@1/5/10 and clustering NMI/ARI of frozen
 * features against their labels.
 *
 * @param gpu The GPU context.
 * @param train Training features and labels (probe training set, kNN/retrieval database).
 * @param test Held-out features and labels.
 * @param options See {@linkcode EvaluateOptions}.
 * @returns The metrics.
 *
 * @example Usage
 * ```ts ignore
 * const m = await evaluateFeatures(gpu, { x: trainEmb, y: trainY }, { x: testEmb, y: testY });
 * ```
 */
export async function evaluateFeatures(
  gpu: Gpu,
  train: LabelledFeatures,
  test: LabelledFeatures,
  options: EvaluateOptions = {},
): Promise<EvalMetrics> {
  const t0 = performance.now();
  const report = (stage: EvalStage, done = 1, total = 1) =>
    options.onProgress?.({ stage, done, total, seconds: (performance.now() - t0) / 1000 });
  const probe = await linearProbe(gpu, train, test, {
    ...options.probe,
    onProgress: (p) => {
      options.probe?.onProgress?.(p);
      report("linear probe", p.epoch, p.epochs);
    },
  });
  // Each split is uploaded once, normalised on the GPU, and shared by kNN, retrieval and
  // k-means (all cosine; the linear probe uploads its own standardised copy).
  const trainG = uploadMatrix(gpu, train.x, { normalize: true, label: "train.x" });
  let testG;
  try {
    testG = uploadMatrix(gpu, test.x, { normalize: true, label: "test.x" });
  } catch (e) {
    trainG.destroy();
    throw e;
  }
  let knn, rec, km;
  try {
    knn = await knnTop1(gpu, { x: trainG, y: train.y }, { x: testG, y: test.y }, {
      k: options.knnK ?? 20,
    });
    report("kNN");
    rec = await retrievalRecall(gpu, testG, trainG, {
      relevant: (q, k) => test.y[q] === train.y[k],
      ks: [1, 5, 10],
    });
    report("retrieval");
    const labels = new Set<number>();
    for (let i = 0; i < test.y.length; i++) labels.add(test.y[i]!);
    const k = Math.max(1, Math.min(labels.size, test.x.rows));
    km = await kmeans(gpu, testG, {
      k,
      niter: 25,
      seed: options.seed ?? 1234,
      nredo: 3,
      // Stop a run once its objective repeats exactly: Lloyd's iterations have reached a
      // fixed point, and the iterations left would change nothing (the same clusters, in
      // about half the time on converging data).
      tolerance: 1e-12,
    });
    report("k-means");
  } finally {
    trainG.destroy();
    testG.destroy();
  }
  return {
    linearProbeTop1: probe.top1,
    knnTop1: knn,
    nmi: nmi(test.y, km.assignments),
    ari: ari(test.y, km.assignments),
    recallAt1: rec["R@1"]!,
    recallAt5: rec["R@5"]!,
    recallAt10: rec["R@10"]!,
  };
}
