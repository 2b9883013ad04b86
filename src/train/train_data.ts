/**
 * What `train()` trains on: inputs held in memory or on the GPU with their positives
 * ({@linkcode TrainData}), or batches produced on demand ({@linkcode TrainStream}, e.g. decoded
 * from WebDataset shards by `imageTrainStream`).
 *
 * @module
 */

import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import type { Matrix } from "../matrix/matrix.ts";

/** One training batch from a {@linkcode TrainStream}. */
export interface TrainBatch {
  /** `rows × inputDim` flattened inputs. */
  x: Float32Array;
  /** `rows × l` positive class ids. */
  positives: Uint32Array;
  /** Rows in the batch (at most the batch size; 0 skips the step's update). */
  rows: number;
}

/**
 * Training data that does not fit in memory: batches are produced on demand (e.g. decoded
 * from WebDataset shards). Batch `s` must be the same whenever it is asked for, so a resumed
 * run sees the same data in the same order.
 */
export interface TrainStream {
  /** Samples per epoch. */
  rows: number;
  /**
   * Batches from global step `fromStep` on, in step order, `batchSize` rows each (fewer when
   * samples are skipped); epoch `e` covers steps `[e·stepsPerEpoch, (e+1)·stepsPerEpoch)`.
   */
  batches(fromStep: number, batchSize: number, stepsPerEpoch: number): AsyncIterable<TrainBatch>;
}

/** Training data: flattened inputs and every row's `l` positive class ids. */
export interface TrainData {
  /**
   * Inputs, one flattened sample per row (`inputShape` values); or give `stream`. A host
   * `Matrix` is uploaded once and stays on the GPU for the run; a float32 `GpuMatrix` on
   * `gpu`'s device (e.g. the one `pseudoLabels` clustered) is used in place and not freed.
   * Each step gathers its batch on the GPU, uploading only the batch's row ids.
   */
  x?: Matrix | GpuMatrix;
  /** Streamed inputs and positives instead of `x` and `positives`. @default {undefined} */
  stream?: TrainStream;
  /** Shape of one input sample: `[dim]` (head) or `[h, w, c]` (cnn). */
  inputShape: number[];
  /** Positive class ids, `x.rows × l`, row-major (from top-l assignment); unused with `stream`. */
  positives?: Uint32Array;
  /** Class centers from k-means (`classes × embedDim`), for `centersInit: "kmeans"`. */
  centroids?: Matrix;
  /**
   * Hard k-means cluster of every row; for `centersInit: "kmeans"` when `centroids` is not
   * in embedding space, each center starts at the mean of its cluster's initial embeddings.
   */
  assignments?: Uint32Array;
}
