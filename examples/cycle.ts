// The MLCD cycle using ONLY the public entry points, which may be URLs: the core (mod.ts:
// k-means, labels; no npm package), ./mnist.ts (the digits), ./train.ts (tfjs training) and
// ./eval.ts (metrics), each found beside the core module.
//
//   deno run -A examples/cycle.ts                                  # ../mod.ts
//   deno run -A examples/cycle.ts http://127.0.0.1:8000/mod.ts     # served over HTTP
//   MLCD_MODULE=https://example.org/mlcd/mod.ts deno run -A examples/cycle.ts
//
// Flags after the URL: --train N --test N --classes C --l L --epochs E (small defaults).
// Prints the final metrics as one JSON object on stdout; progress on stderr.
import type * as Core from "../mod.ts";
import type * as Mnist from "../mnist.ts";
import type * as Train from "../train.ts";
import type * as Model from "../model.ts";
import type * as Eval from "../eval.ts";

const argv = [...Deno.args];
const urlArg = argv[0] && !argv[0].startsWith("--") ? argv.shift() : undefined;
const spec = urlArg ?? Deno.env.get("MLCD_MODULE") ?? new URL("../mod.ts", import.meta.url).href;
const beside = (name: string) => new URL(`./${name}`, spec).href;
const mlcd: typeof Core & typeof Mnist & typeof Train & typeof Model & typeof Eval = {
  ...(await import(spec) as typeof Core),
  ...(await import(beside("mnist.ts")) as typeof Mnist),
  ...(await import(beside("train.ts")) as typeof Train),
  ...(await import(beside("model.ts")) as typeof Model),
  ...(await import(beside("eval.ts")) as typeof Eval),
};
const flag = (name: string, def: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const log = (s: string) => console.error(`[cycle] ${s}`);

const gpu = await mlcd.createGpu();
log(`module ${spec}, GPU ${gpu.info.description}`);
const data = mlcd.loadMnist({ train: flag("train", 2000), test: flag("test", 1000), seed: 1234 });
const config = mlcd.resolveTrainConfig({
  classes: flag("classes", 100),
  l: flag("l", 8),
  hidden: [256],
  embedDim: 64,
  epochs: flag("epochs", 2),
  batchSize: 128,
  warmupSteps: 5,
});

// 1–2. cluster the pixels, 3. top-l nearest centers as labels
const pl = await mlcd.pseudoLabels(gpu, data.train.x, {
  classes: config.classes,
  l: config.l,
  niter: 10,
});
log(
  `clustered ${data.train.x.rows} digits into ${config.classes}, objective ${
    pl.objective.toFixed(1)
  }`,
);

// 4. train the encoder + centers with the MLCD loss
const { encoder, centers, step, finalLoss } = await mlcd.train(gpu, {
  x: data.train.x,
  inputShape: [784],
  positives: pl.indices,
}, config);
log(`trained ${step} steps, final loss ${finalLoss.toFixed(4)}`);

// 5. evaluate the frozen embeddings on held-out digits
const metrics = await mlcd.evaluateFeatures(
  gpu,
  { x: await mlcd.embed(encoder, data.train.x), y: data.train.y },
  { x: await mlcd.embed(encoder, data.test.x), y: data.test.y },
);
encoder.dispose();
centers.dispose();
console.log(JSON.stringify({ module: spec, steps: step, ...metrics }));
gpu.destroy();
