// Private to src/train: every step's batch for train(). Streamed data: the stream's next batch,
// checked. Inputs resident on the GPU: the rows of the epoch's seeded permutation, gathered on
// the GPU (only their row ids are uploaded), with their positives.
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { residentRows } from "../model/resident_rows.ts";
import { tf } from "../model/tf.ts";
import { mixSeed, permutation } from "../random/rng.ts";
import type { TrainData } from "./train_data.ts";

/**
 * Refuses a positive class id outside `[0, classes)`.
 *
 * @throws {RangeError} Naming the range and the first bad id.
 */
export function checkPositives(p: Uint32Array, classes: number): void {
  for (let i = 0; i < p.length; i++) {
    if (p[i]! >= classes) {
      throw new RangeError(`Expected positive class ids in [0, ${classes - 1}] but found ${p[i]}`);
    }
  }
}

/** One step's batch. */
export interface StepBatch {
  /** Rows in the batch (0: every sample of a streamed batch was skipped). */
  rows: number;
  /** `rows × l` positive class ids. */
  positives: Uint32Array;
  /** The batch's inputs as a new `rows × inputDim` tensor; the caller disposes it. */
  input(): tf.Tensor2D;
}

/** The batches of a run, step by step. */
export interface StepBatches {
  /** The batch of step `step` (0-based; steps are asked for in order). */
  next(step: number): Promise<StepBatch>;
  /** Closes the stream (its shard readers) and releases the resident rows. */
  close(): Promise<void>;
}

/** How a run cuts its data into batches. */
export interface BatchPlan {
  /** The first step to produce (a resumed run's step). */
  fromStep: number;
  /** Rows per batch. */
  batchSize: number;
  /** Steps per epoch. */
  stepsPerEpoch: number;
  /** Values per input sample. */
  inputDim: number;
  /** Number of classes (positives are checked against it). */
  classes: number;
  /** Positives per sample. */
  l: number;
  /** The run's seed (the permutation of epoch `e` is seeded by it and `e`). */
  seed: number;
}

/**
 * Opens the batches of `data`: its stream from `plan.fromStep` on, or, when `x` (the inputs
 * uploaded once) is given, the permutation batches of `x` with `data.positives`.
 */
export function openStepBatches(
  data: TrainData,
  x: GpuMatrix | undefined,
  plan: BatchPlan,
): StepBatches {
  const { batchSize: bs, stepsPerEpoch, inputDim, l } = plan;
  const stream = data.stream?.batches(plan.fromStep, bs, stepsPerEpoch)[Symbol.asyncIterator]();
  const resident = x ? residentRows(x) : undefined;
  const positivesAll = data.positives ?? new Uint32Array(0);
  let permEpoch = -1;
  let perm: Uint32Array = new Uint32Array(0);
  const pb = new Uint32Array(bs * l);
  return {
    async next(step) {
      if (stream) {
        const next = await stream.next();
        if (next.done) {
          throw new RangeError(`Expected a batch for step ${step + 1} but the stream ended`);
        }
        const b = next.value;
        if (b.x.length !== b.rows * inputDim || b.positives.length !== b.rows * l) {
          throw new TypeError(
            `Expected a batch of ${b.rows} × ${inputDim} inputs and ${b.rows} × l=${l} positives but found ${b.x.length} and ${b.positives.length} values`,
          );
        }
        checkPositives(b.positives, plan.classes);
        return {
          rows: b.rows,
          positives: b.positives,
          input: () => tf.tensor2d(b.x, [b.rows, inputDim]),
        };
      }
      const epoch = Math.floor(step / stepsPerEpoch);
      if (epoch !== permEpoch) {
        perm = permutation(x!.rows, mixSeed(plan.seed, 104, epoch));
        permEpoch = epoch;
      }
      const off = (step % stepsPerEpoch) * bs;
      const ids = perm.subarray(off, off + bs);
      for (let i = 0; i < bs; i++) {
        const r = ids[i]!;
        pb.set(positivesAll.subarray(r * l, (r + 1) * l), i * l);
      }
      return { rows: bs, positives: pb, input: () => resident!.gather(ids) };
    },
    async close() {
      await stream?.return?.(); // closes the shard readers, also when a step throws
      resident?.dispose();
    },
  };
}
