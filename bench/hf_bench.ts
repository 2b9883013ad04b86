// Embedding throughput of a released-model-shaped tower: a ViT-B/16-shaped CLIP vision tower
// (width 768, 12 layers, 12 heads, MLP 3072, 224 px) with random weights, through `embed()`
// (forward + L2 normalisation + read back), timed after one warm-up batch; and the CLIP image
// processor (sharp decode + PIL-exact bicubic + crop + normalise) on a synthetic PNG.
//
//   deno run -A bench/hf_bench.ts [--quick]     (also `deno task bench --only hf`)
import type { Gpu } from "../src/gpu/gpu.ts";
import { createGpu } from "../src/gpu/gpu.ts";
import {
  createHfModel,
  hfImageTransform,
  initHfWeights,
  parseHfVisionSpec,
  parsePreprocessorConfig,
} from "../src/hf/mod.ts";
import { embed, useTfBackend } from "../src/model/mod.ts";
import { encodePng } from "../src/model/images.ts";
import { mulberry32 } from "../src/random/mulberry32.ts";
import type { Row } from "./report.ts";

/** The section's title in the table. */
export const HF_BENCH_SECTION = "HF tower embed";

const VIT_B16 = {
  model_type: "clip_vision_model",
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  patch_size: 16,
  image_size: 224,
  hidden_act: "quick_gelu",
};

/**
 * Times `embed()` on a ViT-B/16-shaped tower and the image processor; one row each.
 *
 * @param gpu The GPU context.
 * @param quick Fewer images.
 * @param emit Receives the rows (also a failed one, with the error).
 * @param log Progress lines.
 * @returns images/s by row.
 */
export async function benchHfEmbed(
  gpu: Gpu,
  quick: boolean,
  emit: (row: Row) => void,
  log: (line: string) => void,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const batch = gpu.quirks.profile === "gpu" ? 64 : quick ? 1 : 4;
  const timed = quick ? 1 : 2;
  const tool = "ViT-B/16-shaped CLIP tower, 224 px (ours)";
  const shape = `batch ${batch}, 224×224×3, width 768, 12 layers, random weights`;
  await useTfBackend(gpu);
  const config = parseHfVisionSpec(VIT_B16, "ViT-B/16");
  const model = createHfModel(config, initHfWeights(config, { seed: 1 }), { inputSize: 224 });
  try {
    log(`${HF_BENCH_SECTION}: ${tool}, 1 warm-up + ${timed} timed batches of ${batch}`);
    const per = 224 * 224 * 3, rand = mulberry32(5);
    const x = new Float32Array(batch * per).map(() => rand() * 2 - 1);
    const rows = { data: x, rows: batch, cols: per };
    await embed(model.encoder, rows, { normalize: true, batchSize: batch });
    const t0 = performance.now();
    for (let i = 0; i < timed; i++) {
      await embed(model.encoder, rows, { normalize: true, batchSize: batch });
    }
    const seconds = (performance.now() - t0) / 1000 / timed;
    out[tool] = batch / seconds;
    emit({
      section: HF_BENCH_SECTION,
      kind: "ours",
      tool,
      shape,
      seconds,
      quality: `${(batch / seconds).toPrecision(3)} images/s`,
      ratio: null,
      note: `seconds per batch, mean of ${timed} after 1 warm-up; forward, L2 norm, read back; ` +
        `${(35.1 * batch / seconds).toPrecision(3)} GFLOP/s at 35.1 GFLOP per image (2·MACs)`,
    });
  } catch (e) {
    fail(emit, tool, shape, e);
  } finally {
    model.dispose();
  }
  const ptool = "CLIP processor, 640×480 PNG → 224 px (ours)";
  try {
    const n = quick ? 8 : 32;
    const r = mulberry32(8);
    const jpg = await encodePng(
      new Uint8Array(640 * 480 * 3).map((_, i) => (i % 1920) / 8 + r() * 16),
      640,
      480,
      3,
    );
    const t = hfImageTransform(
      parsePreprocessorConfig({ size: 224, crop_size: 224 }, "processor"),
      224,
    );
    await t(jpg, { size: 224 });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await t(jpg, { size: 224 });
    const seconds = (performance.now() - t0) / 1000 / n;
    out[ptool] = 1 / seconds;
    emit({
      section: HF_BENCH_SECTION,
      kind: "ours",
      tool: ptool,
      shape: `${n} images, one at a time`,
      seconds,
      quality: `${(1 / seconds).toFixed(1)} images/s`,
      ratio: null,
      note: "seconds per image: sharp decode, PIL-exact bicubic resize, centre crop, normalise",
    });
  } catch (e) {
    fail(emit, ptool, "—", e);
  }
  return out;
}

function fail(emit: (row: Row) => void, tool: string, shape: string, e: unknown): void {
  const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 240);
  emit({
    section: HF_BENCH_SECTION,
    kind: "ours",
    tool,
    shape,
    seconds: null,
    quality: "—",
    ratio: null,
    note: `error: ${msg}`,
  });
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const gpu = await createGpu();
  const rows: Row[] = [];
  await benchHfEmbed(gpu, quick, (r) => rows.push(r), (l) => console.error(l));
  for (const r of rows) {
    console.log(`${r.tool}: ${r.quality}, ${r.seconds} s (${r.shape}) ${r.note}`);
  }
  gpu.destroy();
}
