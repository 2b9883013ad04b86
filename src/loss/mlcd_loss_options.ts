import type { Matrix } from "../matrix/matrix.ts";

/** Margin applied to the positives' cosines: ArcFace (`"arc"`) or additive cosine (`"cosine"`). */
export type MarginType = "arc" | "cosine";

/** Which loss to compute: MLCD (paper Eq. 5) or the plain multi-label softmax baseline. */
export type LossKind = "mlcd" | "mlc";

/** Hyper-parameters shared by {@linkcode mlcdLoss}, `mlcdLossOp` and `mlcdLossTf`. */
export interface MlcdLossOptions {
  /**
   * Class ids taking part this step (Partial-FC negative sampling, e.g. from
   * `sampleClasses`); every positive of the batch must be in it. All `C` classes when
   * omitted. @default {undefined}
   */
  sampled?: Uint32Array;
  /** Logit scale s. @default {64} */
  scale?: number;
  /** Margin m on the positives. @default {0.3} */
  margin?: number;
  /**
   * `"arc"`: φ(c) = cos(θ + m) while θ + m < π, else c − m·sin m (ArcFace fallback);
   * `"cosine"`: φ(c) = c − m. @default {"arc"}
   */
  marginType?: MarginType;
  /**
   * `"mlcd"`: log(1 + Σ_P exp(−s·φ(c))) + log(1 + Σ_N exp(s·c)); `"mlc"`: the multi-label
   * softmax baseline −mean_P log softmax over P ∪ N of s·c (no margin). @default {"mlcd"}
   */
  loss?: LossKind;
}

/** Options of {@linkcode mlcdLoss}: the loss's {@linkcode MlcdLossOptions} and what to return. */
export interface MlcdLossGpuOptions extends MlcdLossOptions {
  /** Also return every sample's loss. @default {false} */
  perSample?: boolean;
}

/** Result of {@linkcode mlcdLoss}. */
export interface MlcdLossResult {
  /** Mean loss over the batch. */
  loss: number;
  /** ∂loss/∂embeddings (raw), `n × d`. */
  gradEmbeddings: Matrix;
  /** ∂loss/∂centers (raw), `C × d`; zero rows outside `sampled`. */
  gradCenters: Matrix;
  /** Each sample's loss, when `perSample` was set. */
  perSample?: Float32Array;
}
