// The ViT train step's throughput: `train()` itself (ViT forward, the MLCD loss op, backward,
// AdamW, the loss read back every step) on synthetic images, timed after two warm-up steps.
// vit-tiny at 32 px everywhere; vit-b/32 at 224 px too on a hardware adapter.
import type { Gpu } from "../src/gpu/gpu.ts";
import { resolveTrainConfig } from "../src/train/config.ts";
import { train } from "../src/train/trainer.ts";
import type { VitPresetName } from "../src/model/vit.ts";
import { mulberry32 } from "../src/random/mulberry32.ts";
import type { Row } from "./report.ts";

/** One measured configuration. */
export interface VitBenchCase {
  preset: VitPresetName;
  imageSize: number;
  batch: number;
  steps: number;
}

/** The section's title in the table. */
export const VIT_BENCH_SECTION = "ViT train step";

/** The configurations for this adapter. */
export function vitBenchCases(gpu: Gpu, quick: boolean): VitBenchCase[] {
  const cases: VitBenchCase[] = [
    { preset: "vit-tiny", imageSize: 32, batch: quick ? 32 : 64, steps: quick ? 3 : 8 },
  ];
  if (gpu.quirks.profile === "gpu") {
    cases.push({ preset: "vit-b/32", imageSize: 224, batch: 64, steps: quick ? 3 : 8 });
  }
  return cases;
}

/**
 * Times `train()` steps for every case and reports samples/s through `emit`.
 *
 * @param gpu The GPU context.
 * @param quick Smaller batch and fewer steps.
 * @param emit Receives one row per case (also for a failed case, with the error).
 * @param log Progress lines.
 * @returns Measured samples/s by case label.
 */
export async function benchVitTrainStep(
  gpu: Gpu,
  quick: boolean,
  emit: (row: Row) => void,
  log: (line: string) => void,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of vitBenchCases(gpu, quick)) {
    const tool = `${c.preset} ${c.imageSize} px (ours)`;
    const warm = 2, n = c.batch * (warm + c.steps), side = c.imageSize;
    const shape = `batch ${c.batch}, ${side}×${side}×3, embed 128, C=1000, l=8, r=0.1`;
    try {
      log(`${VIT_BENCH_SECTION}: ${tool}, ${warm} warm-up + ${c.steps} timed steps`);
      const rand = mulberry32(7);
      const x = new Float32Array(n * side * side * 3);
      for (let i = 0; i < x.length; i++) x[i] = rand() * 2 - 1;
      const positives = new Uint32Array(n * 8);
      for (let i = 0; i < n; i++) {
        const seen = new Set<number>();
        while (seen.size < 8) seen.add(Math.floor(rand() * 1000));
        positives.set([...seen], i * 8);
      }
      const config = resolveTrainConfig({
        preset: c.preset,
        imageSize: side,
        embedDim: 128,
        classes: 1000,
        l: 8,
        batchSize: c.batch,
        epochs: 1,
        warmupSteps: 1,
      });
      const times: number[] = [];
      let loss = NaN;
      const res = await train(
        gpu,
        {
          x: { data: x, rows: n, cols: side * side * 3 },
          inputShape: [side, side, 3],
          positives,
        },
        config,
        {
          onStep: (p) => {
            times.push(performance.now());
            loss = p.loss;
          },
        },
      );
      res.encoder.dispose();
      res.centers.dispose();
      const seconds = (times.at(-1)! - times[warm - 1]!) / 1000 / c.steps;
      const sps = c.batch / seconds;
      out[tool] = sps;
      emit({
        section: VIT_BENCH_SECTION,
        kind: "ours",
        tool,
        shape,
        seconds,
        quality: `${sps.toFixed(1)} samples/s`,
        ratio: null,
        note: `seconds per step, mean of ${c.steps} after ${warm} warm-up; forward, MLCD loss, ` +
          `backward, AdamW, loss read back; last loss ${loss.toFixed(3)}`,
      });
    } catch (e) {
      const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 240);
      emit({
        section: VIT_BENCH_SECTION,
        kind: "ours",
        tool,
        shape,
        seconds: null,
        quality: "—",
        ratio: null,
        note: `error: ${msg}`,
      });
    }
  }
  return out;
}
