// The Hugging Face vision towers at the released shapes, with random weights: ViT-L/14-336
// (CLIP vision, MLCD's ViT-L release) and MLCD ViT-bigG/14 at 224, 336 and 448 px.
//
//   deno task gpu-check:hf            # released shapes (meant for a datacenter GPU)
//   deno task gpu-check:hf --quick    # tiny shapes (the software adapter)
//   deno task gpu-check:hf --json     # the results as JSON on stdout
//
// Per architecture, a one-layer tower at the full width (and CLIP's full position grid, MLCD
// at 224 px) against the float64 TypeScript reference; then per shape the full tower's
// embedding throughput (images/s) and one forward + backward step of the last 4 layers.
// This script imports tfjs (npm:@tensorflow/tfjs), so unlike scripts/gpu_check.ts it needs the
// npm packages (`deno task setup`); `checkHfShapes()` is the case gpu_check.ts can call when
// npm packages are present. Exit code 1 when a check fails.
import { parseArgs } from "node:util";
import { createGpu, type Gpu } from "../src/gpu/gpu.ts";
import { type HfVisionSpec, parseHfVisionSpec } from "../src/hf/hf_config.ts";
import { initHfWeights } from "../src/hf/init_hf_weights.ts";
import { checkHfFits, formatBytes, hfMemoryPlan } from "../src/hf/memory.ts";
import { hfVisionForward } from "../src/hf/vision_forward.ts";
import { hfVisionReference } from "../src/hf/vision_reference.ts";
import { tf, useTfBackend } from "../src/model/tf.ts";
import { mulberry32 } from "../src/random/mulberry32.ts";
import type { CheckResult } from "./gpu_check/common.ts";

/** One check's outcome: the fields of scripts/gpu_check.ts's results. */
export type HfCheckResult = CheckResult;

interface Shape {
  name: string;
  config: Record<string, unknown>;
  side: number;
  batch: number;
  checkSide: number;
}

const bigG = {
  model_type: "mlcd_vision_model",
  hidden_size: 1664,
  intermediate_size: 8192,
  num_hidden_layers: 48,
  num_attention_heads: 16,
  patch_size: 14,
  image_size: 336,
};
const FULL: Shape[] = [
  {
    name: "ViT-L/14-336 (CLIP vision)",
    config: {
      model_type: "clip_vision_model",
      hidden_size: 1024,
      intermediate_size: 4096,
      num_hidden_layers: 24,
      num_attention_heads: 16,
      patch_size: 14,
      image_size: 336,
      hidden_act: "quick_gelu",
    },
    side: 336,
    batch: 32,
    checkSide: 336,
  },
  { name: "MLCD ViT-bigG/14-224", config: bigG, side: 224, batch: 32, checkSide: 224 },
  { name: "MLCD ViT-bigG/14-336", config: bigG, side: 336, batch: 16, checkSide: 0 },
  { name: "MLCD ViT-bigG/14-448", config: bigG, side: 448, batch: 8, checkSide: 0 },
];
const QUICK: Shape[] = [
  {
    name: "tiny CLIP vision",
    config: {
      model_type: "clip_vision_model",
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      patch_size: 8,
      image_size: 32,
    },
    side: 32,
    batch: 4,
    checkSide: 32,
  },
  {
    name: "tiny MLCD",
    config: { ...bigG, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2 },
    side: 40,
    batch: 4,
    checkSide: 24,
  },
];

/** Forward FLOPs of one image. */
function flopsPerImage(c: HfVisionSpec, side: number, layers = c.numHiddenLayers): number {
  const g = Math.floor(side / c.patchSize), T = g * g + 1, D = c.hiddenSize;
  const I = c.intermediateSize;
  return 2 * T * (layers * (4 * D * D + 2 * D * I) + D * c.numChannels * c.patchSize ** 2) +
    layers * 4 * T * T * D;
}

function pixels(n: number, seed: number): Float32Array {
  const r = mulberry32(seed), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * 1.7;
  return out;
}

/** A one-layer tower at the full width against the float64 reference. */
async function checkReference(s: Shape): Promise<HfCheckResult> {
  const c = parseHfVisionSpec(
    { ...s.config, num_hidden_layers: 1, image_size: s.checkSide },
    s.name,
  );
  const weights = initHfWeights(c, { seed: 11 });
  const fwd = hfVisionForward(c, weights, { inputSize: s.checkSide, projection: false });
  const shape =
    `1 layer, width ${c.hiddenSize}, ${c.numAttentionHeads} heads, MLP ${c.intermediateSize}, ${s.checkSide} px`;
  try {
    const host = new Map<string, Float32Array>();
    for (const [name, v] of weights) host.set(name, await v.data() as Float32Array);
    const per = s.checkSide ** 2 * c.numChannels;
    const x = pixels(2 * per, 5);
    const y = fwd.apply(tf.tensor2d(x, [2, per]));
    const got = await y.data() as Float32Array;
    y.dispose();
    const t0 = performance.now();
    let err = 0;
    for (let b = 0; b < 2; b++) {
      const ref = hfVisionReference(c, host, x.subarray(b * per, (b + 1) * per), s.checkSide);
      let d = 0, m = 0;
      for (let i = 0; i < ref.length; i++) {
        d = Math.max(d, Math.abs(got[b * ref.length + i]! - ref[i]!));
        m = Math.max(m, Math.abs(ref[i]!));
      }
      err = Math.max(err, d / m);
    }
    return {
      name: `${s.name}: forward vs float64`,
      shape,
      ok: err < 1e-3,
      detail: `relative error ${err.toExponential(2)} (limit 1e-3), 2 images`,
      ms: (performance.now() - t0) / 2,
      gflops: null,
    };
  } finally {
    fwd.dispose();
    for (const v of weights.values()) v.dispose();
  }
}

/** Embedding throughput and a fine-tuning step of the full tower. */
/** The last tower's random weights, reused by the next shape of the same architecture. */
let cached: { key: string; weights: Map<string, tf.Variable> } | undefined;
function releaseCached(): void {
  for (const v of cached?.weights.values() ?? []) v.dispose();
  cached = undefined;
}

async function checkThroughput(gpu: Gpu, s: Shape, quick: boolean): Promise<HfCheckResult[]> {
  const c = parseHfVisionSpec({ ...s.config, image_size: s.side }, s.name);
  const tl = Math.min(4, c.numHiddenLayers);
  const plan = hfMemoryPlan(c, {
    inputSize: s.side,
    trainLayers: tl,
  });
  const maxRows = checkHfFits(gpu, plan, { name: s.name, batchSize: s.batch });
  const key = JSON.stringify(s.config);
  if (cached?.key !== key) {
    releaseCached();
    cached = { key, weights: initHfWeights(c, { seed: 3, trainLayers: tl }) };
  }
  const weights = cached.weights;
  const per = s.side ** 2 * c.numChannels;
  const x = tf.tensor2d(pixels(s.batch * per, 9), [s.batch, per]);
  const shape = `batch ${s.batch}, ${s.side} px, ${(plan.params / 1e6).toPrecision(3)}M params`;
  const out: HfCheckResult[] = [];
  const timed = quick ? 1 : 2;
  try {
    const fwd = hfVisionForward(c, weights, { inputSize: s.side, projection: false, maxRows });
    let t0 = 0;
    for (let i = 0; i <= timed; i++) {
      if (i === 1) t0 = performance.now();
      const y = fwd.apply(x);
      const v = await y.data();
      y.dispose();
      if (!v.every(Number.isFinite)) throw new RangeError("non-finite pooled output");
    }
    const ms = (performance.now() - t0) / timed;
    const flops = flopsPerImage(c, s.side) * s.batch;
    out.push({
      name: `${s.name}: embed`,
      shape,
      ok: true,
      detail: `${(s.batch / (ms / 1000)).toFixed(1)} images/s; weights ${
        formatBytes(plan.weightBytes)
      }, ${maxRows} image(s) per chunk`,
      ms,
      gflops: flops / (ms / 1000) / 1e9,
    });
    fwd.dispose();
    const train = hfVisionForward(c, weights, {
      inputSize: s.side,
      projection: false,
      maxRows,
      trainLayers: tl,
    });
    const vars = [...weights.values()].filter((v) => v.trainable);
    const tb = Math.max(1, s.batch >> 1);
    const xs = tf.slice(x, [0, 0], [tb, per]);
    const step = async () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(train.apply(xs))), vars);
      await value.data();
      tf.dispose([value, ...Object.values(grads)]);
    };
    await step();
    t0 = performance.now();
    for (let i = 0; i < timed; i++) await step();
    const sms = (performance.now() - t0) / timed;
    out.push({
      name: `${s.name}: fwd+bwd, last ${tl} layers`,
      shape,
      ok: true,
      detail: `batch ${tb}: ${(tb / (sms / 1000)).toFixed(1)} images/s; trains ${
        (plan.trainableParams / 1e6).toPrecision(3)
      }M params (+${formatBytes(plan.trainStateBytes)} with AdamW)`,
      ms: sms,
      gflops: null,
    });
    train.dispose();
    xs.dispose();
  } catch (e) {
    out.push({
      name: `${s.name}: embed / fine-tune`,
      shape,
      ok: false,
      detail: `error: ${(e as Error).message.split("\n")[0]}`,
      ms: 0,
      gflops: null,
    });
  } finally {
    x.dispose();
  }
  return out;
}

/**
 * The Hugging Face tower checks at released shapes (`quick`: tiny shapes for a CPU adapter).
 *
 * @param gpu The GPU context (tfjs is bound to its device).
 * @param options `quick` shapes; `log` for progress lines.
 * @returns One result per check.
 *
 * @example Usage
 * ```ts ignore
 * const results = await checkHfShapes(gpu, { quick: true });
 * ```
 */
export async function checkHfShapes(
  gpu: Gpu,
  options: { quick?: boolean; log?: (line: string) => void } = {},
): Promise<HfCheckResult[]> {
  await useTfBackend(gpu);
  const quick = options.quick ?? false;
  const log = options.log ?? (() => {});
  const results: HfCheckResult[] = [];
  for (const s of quick ? QUICK : FULL) {
    if (s.checkSide > 0) {
      log(`${s.name}: one layer at ${s.checkSide} px against the float64 reference`);
      try {
        results.push(await checkReference(s));
      } catch (e) {
        results.push({
          name: `${s.name}: forward vs float64`,
          shape: "",
          ok: false,
          detail: `error: ${(e as Error).message.split("\n")[0]}`,
          ms: 0,
          gflops: null,
        });
      }
    }
    log(`${s.name}: random weights, embedding and fine-tuning throughput`);
    results.push(...await checkThroughput(gpu, s, quick));
  }
  releaseCached();
  return results;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const gpu = await createGpu();
  const log = (line: string) => console.error(`gpu-check:hf: ${line}`);
  log(`adapter: ${gpu.info.description} (${gpu.quirks.profile} profile)`);
  const results = await checkHfShapes(gpu, { quick: values.quick, log });
  if (values.json) console.log(JSON.stringify(results));
  else {
    console.log(
      "| check | shape | ok | ms | GFLOP/s | detail |\n| --- | --- | --- | --- | --- | --- |",
    );
    for (const r of results) {
      console.log(
        `| ${r.name} | ${r.shape} | ${r.ok ? "yes" : "**NO**"} | ${r.ms.toFixed(0)} | ${
          r.gflops === null ? "–" : r.gflops.toFixed(0)
        } | ${r.detail} |`,
      );
    }
  }
  gpu.destroy();
  if (results.some((r) => !r.ok)) Deno.exit(1);
}
