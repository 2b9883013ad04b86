// gpu-check's loss case: the MLCD loss and its embedding gradient against float64.
import type { Gpu } from "../../src/gpu/gpu.ts";
import { mlcdLoss } from "../../src/loss/mlcd_loss.ts";
import { mlcdLossReference } from "../../src/loss/mlcd_loss_reference.ts";
import { sampleClasses } from "../../src/loss/sample_classes.ts";
import { type CheckResult, log, randomMatrix, sampleRows, type Shapes } from "./common.ts";

/**
 * The MLCD loss, forward and backward, at GPU-sized shapes; sampled rows against the float64
 * reference (src/loss/mlcd_loss_reference.ts, which shares no code with the GPU path).
 */
export async function checkLoss(gpu: Gpu, shapes: Shapes): Promise<CheckResult> {
  const { n, C, d, l, ratio } = shapes.loss;
  const shape = `n=${n} C=${C} d=${d} l=${l} r=${ratio}`;
  const embeddings = randomMatrix(n, d, 21), centers = randomMatrix(C, d, 22);
  const positives = new Uint32Array(n * l);
  let s = 7;
  for (let i = 0; i < n; i++) {
    const set = new Set<number>();
    while (set.size < l) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      set.add(s % C);
    }
    positives.set([...set], i * l);
  }
  const sampled = sampleClasses(positives, { classes: C, ratio, seed: 3 });
  log(`MLCD loss ${shape} (S=${sampled.length}): GPU forward + backward`);
  const t0 = performance.now();
  const got = await mlcdLoss(gpu, embeddings, centers, positives, { sampled, perSample: true });
  const ms = performance.now() - t0;
  // Every sample's loss and embedding gradient depend on its own row only: check sampled rows
  // as a sub-batch (the gradient of a mean scales with 1 / batch size).
  const rows = sampleRows(n, shapes.sampleRows.loss);
  const sub = new Float32Array(rows.length * d);
  const subPos = new Uint32Array(rows.length * l);
  rows.forEach((r, i) => {
    sub.set(embeddings.data.subarray(r * d, (r + 1) * d), i * d);
    subPos.set(positives.subarray(r * l, (r + 1) * l), i * l);
  });
  log(`MLCD loss: ${ms.toFixed(0)} ms; float64 reference on ${rows.length} rows`);
  const ref = mlcdLossReference({
    embeddings: { data: sub, rows: rows.length, cols: d },
    centers,
    positives: subPos,
    sampled,
  });
  let lossErr = 0, gradErr = 0;
  rows.forEach((r, i) => {
    const want = ref.perSample[i]!;
    lossErr = Math.max(lossErr, Math.abs(got.perSample![r]! - want) / Math.max(1, Math.abs(want)));
    let num = 0, den = 0;
    for (let c = 0; c < d; c++) {
      const g = got.gradEmbeddings.data[r * d + c]! * n;
      const w = ref.gradEmbeddings[i * d + c]! * rows.length;
      num += (g - w) ** 2;
      den += w * w;
    }
    gradErr = Math.max(gradErr, Math.sqrt(num / Math.max(den, 1e-30)));
  });
  const S = sampled.length;
  return {
    name: "MLCD loss, forward + backward",
    shape,
    ok: lossErr < 1e-3 && gradErr < 1e-3,
    detail:
      `${rows.length} sampled rows: per-sample loss rel. error ${lossErr.toExponential(2)}, ` +
      `embedding-gradient rel. error ${gradErr.toExponential(2)}`,
    ms,
    gflops: (3 * 2 * n * S * d) / (ms * 1e6),
  };
}
