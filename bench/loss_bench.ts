// MLCD loss forward + backward: the toolkit's WGSL kernels against the same math in plain
// tfjs ops (`mlcdLossTf`) on the same device.
//
//   deno bench -A bench/loss_bench.ts                     # small shape (+ paper shape on a GPU)
//   MLCD_BENCH_FULL=1 deno bench -A bench/loss_bench.ts   # paper shape on any adapter
//   deno bench -A bench/loss_bench.ts --filter small      # small shape only
//   MLCD_BENCH_TF=0 deno bench -A bench/loss_bench.ts     # kernels only, no npm/tfjs
//
// Paper shape: n = 4096, C = 100k, d = 512, r = 0.1 (S = 10k sampled classes):
// 3 GEMMs of 2·n·S·d = 42 GFLOP each. Times are end to end: the kernel case is the public
// `mlcdLoss` (uploads from host arrays, the passes, and the readback of the loss and both
// gradients); the tfjs cases start from tensors already on the device and read the loss.
import { createGpu } from "../src/gpu/gpu.ts";
import { mlcdLoss } from "../src/loss/mlcd_loss.ts";
import { sampleClasses } from "../src/loss/sample_classes.ts";
import { mulberry32 as rand } from "../src/random/mulberry32.ts";

const gpu = await createGpu();
const withTf = Deno.env.get("MLCD_BENCH_TF") !== "0";
// tfjs only for the peer; loaded lazily so the kernel part runs with the bare binary.
const tfMods = withTf
  ? await Promise.all([import("../src/model/tf.ts"), import("../src/loss/tfjs_op.ts")])
  : null;
const tf = tfMods ? await tfMods[0].useTfBackend(gpu) : null;

function setup(n: number, C: number, d: number, l: number, ratio: number) {
  const r = rand(1);
  const e = new Float32Array(n * d).map(() => r() - 0.5);
  const w = new Float32Array(C * d).map(() => r() - 0.5);
  const positives = new Uint32Array(n * l);
  for (let i = 0; i < n; i++) {
    const s = new Set<number>();
    while (s.size < l) s.add(Math.floor(r() * C));
    [...s].forEach((v, t) => positives[i * l + t] = v);
  }
  const sampled = sampleClasses(positives, { classes: C, ratio, seed: 2 });
  const S = sampled.length;
  // Positives as indices into the sampled (gathered) centers, for the tfjs peers.
  const local = new Map([...sampled].map((c, j) => [c, j]));
  const posLocal = positives.map((c) => local.get(c)!);
  const gathered = new Float32Array(S * d);
  for (let j = 0; j < S; j++) {
    gathered.set(w.subarray(sampled[j]! * d, (sampled[j]! + 1) * d), j * d);
  }
  return { n, C, d, e, w, positives, sampled, posLocal, gathered };
}

// The C = 100k, d = 512 groups take minutes on a 2-core software adapter: they run on GPU
// adapters, or anywhere with MLCD_BENCH_FULL=1.
const full = gpu.quirks.profile === "gpu" || Deno.env.get("MLCD_BENCH_FULL") === "1";
const shapes = [
  { name: "small n=512 C=10k d=128", n: 512, C: 10_000, d: 128, iters: 5, large: false },
  { name: "mid n=1024 C=100k d=512", n: 1024, C: 100_000, d: 512, iters: 1, large: true },
  { name: "paper n=4096 C=100k d=512", n: 4096, C: 100_000, d: 512, iters: 1, large: true },
].filter((s) => full || !s.large);
if (!full) {
  console.error("loss_bench: C=100k groups skipped on a CPU adapter (MLCD_BENCH_FULL=1 runs them)");
}

for (const shape of shapes) {
  const s = setup(shape.n, shape.C, shape.d, 8, 0.1);
  const embeddings = { data: s.e, rows: s.n, cols: s.d };
  const centers = { data: s.w, rows: s.C, cols: s.d };
  const opts = { n: shape.iters, warmup: shape.iters > 1 ? 1 : 0 };
  Deno.bench({
    name: `WGSL kernels (mlcdLoss, incl. uploads), ${shape.name}`,
    group: shape.name,
    baseline: true,
    ...opts,
    async fn() {
      await mlcdLoss(gpu, embeddings, centers, s.positives, { sampled: s.sampled });
    },
  });
  // tfjs binds whole tensors: its n × S logits must fit one storage binding (lavapipe:
  // 128 MiB, so the paper shape runs the kernels only there).
  const tfFits = s.n * s.sampled.length * 4 <= gpu.maxBindingBytes;
  if (!tfFits) console.error(`loss_bench: tfjs peers skipped for ${shape.name}: n × S too large`);
  if (tf && tfMods && tfFits) {
    const { mlcdLossOp, mlcdLossTf } = tfMods[1];
    // The peers start from the same gathered S × d sampled centers as the kernel case
    // (positives as indices into them): the loss computation itself is compared, and a
    // C × d tensor above 128 MiB cannot be bound by tfjs on lavapipe.
    const e = tf.tensor2d(s.e, [s.n, s.d]);
    const w = tf.tensor2d(s.gathered, [s.sampled.length, s.d]);
    const local = s.posLocal;
    const options = {};
    const run = async (f: (a: typeof e, b: typeof w) => ReturnType<typeof mlcdLossTf>) => {
      const { value, grads } = tf.valueAndGrads((a, b) => f(a as typeof e, b as typeof w))([e, w]);
      await value.data();
      tf.dispose([value, ...grads]);
    };
    Deno.bench({
      name: `mlcdLossOp (tfjs customGrad on the kernels), ${shape.name}`,
      group: shape.name,
      ...opts,
      fn: () => run((a, b) => mlcdLossOp(gpu, a, b, local, options)),
    });
    Deno.bench({
      name: `mlcdLossTf (plain tfjs ops), ${shape.name}`,
      group: shape.name,
      ...opts,
      fn: () => run((a, b) => mlcdLossTf(a, b, local, options)),
    });
  }
}
