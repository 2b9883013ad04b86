// Trains a tiny tfjs model end to end with the MLCD loss kernels (mlcdLossOp) on the
// toolkit's GPU device: a dense layer maps random inputs to embeddings, the class centers
// are a trainable variable, positives are each input's l nearest "true" clusters, and
// 10 % of the classes are sampled per step (Partial FC).
//
//   deno run -A examples/tfjs_loss.ts [--steps 30]
import { parseArgs } from "node:util";
import { createGpu } from "../src/gpu/gpu.ts";
import { tf, useTfBackend } from "../src/model/tf.ts";
import { mlcdLossOp } from "../src/loss/tfjs_op.ts";
import { sampleClasses } from "../src/loss/sample_classes.ts";

const { values } = parseArgs({ options: { steps: { type: "string", default: "30" } } });
const steps = Number(values.steps);
const gpu = await createGpu();
await useTfBackend(gpu);

const n = 256, inDim = 64, d = 32, C = 1000, l = 4;
// Random inputs; each row's positives are l classes drawn from a fixed random table.
const x = tf.randomNormal([n, inDim], 0, 1, "float32", 1) as tf.Tensor2D;
const positives = new Uint32Array(n * l);
let seed = 7;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
for (let i = 0; i < n; i++) {
  const row = new Set<number>();
  while (row.size < l) row.add(Math.floor(rand() * C));
  [...row].forEach((c, t) => positives[i * l + t] = c);
}
const model = tf.sequential({
  layers: [tf.layers.dense({ inputShape: [inDim], units: d, useBias: false })],
});
const centers = tf.variable(
  tf.randomNormal([C, d], 0, 0.01, "float32", 2),
  true,
  "centers",
) as tf.Variable<tf.Rank.R2>;
const optimizer = tf.train.adam(1e-2);
console.log(`${gpu.info.description}: n=${n}, d=${d}, C=${C}, l=${l}, r=0.1`);
let first = NaN, last = NaN;
for (let step = 0; step < steps; step++) {
  const sampled = sampleClasses(positives, { classes: C, ratio: 0.1, seed: step });
  const loss = optimizer.minimize(
    () => mlcdLossOp(gpu, model.apply(x) as tf.Tensor2D, centers, positives, { sampled }),
    true,
  )!;
  const v = (await loss.data())[0]!;
  loss.dispose();
  if (step === 0) first = v;
  last = v;
  if (step % 5 === 0 || step === steps - 1) console.log(`step ${step}: loss ${v.toFixed(4)}`);
}
console.log(`loss ${first.toFixed(4)} → ${last.toFixed(4)}${last < first ? " (decreasing)" : ""}`);
gpu.destroy();
