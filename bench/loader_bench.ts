// The streaming image loader on its own: images/s from WebDataset shards (tar-stream read,
// sharp decode, random-resized crop + flip, CLIP normalisation, batches through the prefetch
// queue), next to the vit-tiny train step's samples/s at 32 px, so that the table shows
// whether the loader can keep up with training.
//
//   deno run -A bench/loader_bench.ts [--quick]
import { parseArgs } from "node:util";
import { indexImages, streamImageBatches } from "../src/data/image_loader.ts";
import { loadMnist } from "../src/data/mnist.ts";
import { writeShard } from "../src/data/webdataset.ts";
import { encodePng } from "../src/model/images.ts";
import type { Row } from "./report.ts";

async function makeShards(dir: string, shards: number, per: number, side: number) {
  const { train } = loadMnist({ train: shards * per, test: 0, seed: 5 });
  for (let s = 0; s < shards; s++) {
    const samples = [];
    for (let i = 0; i < per; i++) {
      const r = s * per + i;
      // MNIST digit scaled to side × side RGB (nearest), like a small web image.
      const px = new Uint8Array(side * side * 3);
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const v = Math.round(
            train.x.data[r * 784 + Math.floor(y * 28 / side) * 28 + Math.floor(x * 28 / side)]! *
              255,
          );
          px.set([v, 255 - v, (v + 85) % 256], (y * side + x) * 3);
        }
      }
      samples.push({
        key: `${s}-${i}`,
        files: new Map([["png", await encodePng(px, side, side, 3)]]),
      });
    }
    await writeShard(`${dir}/${String(s).padStart(5, "0")}.tar`, samples);
  }
}

async function loaderRate(dir: string, size: number, batchSize: number) {
  const index = await indexImages([dir]);
  const t0 = performance.now();
  let n = 0;
  for await (
    const b of streamImageBatches(index, { size, batchSize, train: true, shuffleBuffer: 256 })
  ) n += b.rows;
  const s = (performance.now() - t0) / 1000;
  return { n, s, rate: n / s };
}

async function trainStepRate(steps: number): Promise<number> {
  const { createGpu } = await import("../src/gpu/gpu.ts");
  const { resolveTrainConfig } = await import("../src/train/config.ts");
  const { train } = await import("../src/train/trainer.ts");
  const gpu = await createGpu();
  const bs = 32, n = bs * (steps + 1), dim = 32 * 32 * 3;
  const x = new Float32Array(n * dim).map((_, i) => Math.sin(i * 0.37));
  const positives = Uint32Array.from({ length: n * 2 }, (_, i) => (i * 7) % 50);
  const config = resolveTrainConfig({
    encoder: "vit",
    preset: "vit-tiny",
    classes: 50,
    l: 2,
    batchSize: bs,
    epochs: 1,
    warmupSteps: 1,
  });
  let first = 0, last = 0, firstStep = 0, lastStep = 0;
  const r = await train(
    gpu,
    { x: { data: x, rows: n, cols: dim }, inputShape: [32, 32, 3], positives },
    config,
    {
      onStep: (p) => {
        const now = performance.now();
        if (p.step === 1) [first, firstStep] = [now, 1]; // the first step compiles shaders
        [last, lastStep] = [now, p.step];
      },
    },
  );
  r.encoder.dispose();
  r.centers.dispose();
  gpu.destroy();
  return ((lastStep - firstStep) * bs) / Math.max((last - first) / 1000, 1e-9);
}

/**
 * Measures the loader (32 px from 28 px PNGs; 224 px from 256 px PNGs) and the vit-tiny train
 * step at 32 px.
 */
export async function loaderBenchRows(quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  const tmp = await Deno.makeTempDir({ prefix: "mlcd-loader-bench-" });
  try {
    const small = `${tmp}/small`, big = `${tmp}/big`;
    await Deno.mkdir(small);
    await Deno.mkdir(big);
    const nSmall = quick ? 4 : 8, nBig = quick ? 2 : 4;
    await makeShards(small, nSmall, 250, 28);
    await makeShards(big, nBig, 100, 256);
    const a = await loaderRate(small, 32, 256);
    const b = await loaderRate(big, 224, 64);
    const section = "image loader";
    const note = "tar-stream + sharp, 8 decodes in flight, 3 batches prefetched";
    rows.push({
      section,
      tool: "mlcd loader, crop+flip",
      shape: `${a.n} PNG 28 px → 32 px, ${nSmall} shards`,
      seconds: a.s,
      quality: `${a.rate.toFixed(0)} images/s`,
      ratio: null,
      kind: "ours",
      note,
    });
    rows.push({
      section,
      tool: "mlcd loader, crop+flip",
      shape: `${b.n} PNG 256 px → 224 px, ${nBig} shards`,
      seconds: b.s,
      quality: `${b.rate.toFixed(0)} images/s`,
      ratio: null,
      kind: "ours",
      note,
    });
    try {
      const t = await trainStepRate(quick ? 2 : 4);
      rows.push({
        section,
        tool: "vit-tiny train step (MLCD, AdamW)",
        shape: "batch 32, 32 px",
        seconds: null,
        quality: `${t.toFixed(1)} samples/s`,
        ratio: a.rate / t,
        kind: "ours",
        note: `loader/train = ${(a.rate / t).toFixed(1)}×: ${
          a.rate > t ? "the loader is not the bottleneck" : "the loader is the bottleneck"
        }`,
      });
    } catch (e) {
      rows.push({
        section,
        tool: "vit-tiny train step",
        shape: "batch 32, 32 px",
        seconds: null,
        quality: "—",
        ratio: null,
        kind: "ours",
        note: `failed: ${(e as Error).message}`,
      });
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return rows;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { quick: { type: "boolean" } } });
  for (const r of await loaderBenchRows(values.quick ?? false)) {
    console.log(`${r.tool} | ${r.shape} | ${r.quality} | ${r.note}`);
  }
}
