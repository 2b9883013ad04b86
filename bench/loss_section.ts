// Bench section: the MLCD loss forward + backward against plain tfjs ops.
import type { Gpu } from "../src/gpu/gpu.ts";
import { mulberry32 } from "../src/random/mulberry32.ts";
import { addRoofline, details, emit, fail, log } from "./report.ts";
import type { Shapes } from "./shapes.ts";
import { normals } from "./synthetic.ts";
export type LossModule = typeof import("../src/loss/mod.ts");
export type TfModule = typeof import("../src/model/tf.ts");
export async function sectionLoss(gpu: Gpu, shapes: Shapes, peak: number | null): Promise<void> {
  const S = shapes.loss;
  const section = "MLCD loss fwd+bwd";
  const shape = `n=${S.n} d=${S.d} C=${S.C} l=${S.l} sampled ${S.ratio}`;
  const info: Record<string, unknown> = { shape: S };
  details.loss = info;
  let lm: LossModule;
  try {
    lm = await import("../src/loss/mod.ts");
  } catch (e) {
    fail(section, "mlcd (ours)", shape, e);
    return;
  }
  const rand = mulberry32(5);
  const embeddings = { data: normals(S.n * S.d, rand), rows: S.n, cols: S.d };
  const centers = { data: normals(S.C * S.d, rand), rows: S.C, cols: S.d };
  const positives = new Uint32Array(S.n * S.l);
  for (let i = 0; i < S.n; i++) {
    const seen = new Set<number>();
    for (let t = 0; t < S.l; t++) {
      let c: number;
      do c = Math.floor(rand() * S.C); while (seen.has(c));
      seen.add(c);
      positives[i * S.l + t] = c;
    }
  }
  const sampled = lm.sampleClasses(positives, { classes: S.C, ratio: S.ratio, seed: 3 });
  const Ssz = sampled.length;
  const gflop = (3 * 2 * S.n * Ssz * S.d) / 1e9; // logits GEMM + two gradient GEMMs
  // tfjs first: its row survives if our kernels hang and the section is stopped.
  let tfLoss = NaN;
  try {
    const tfm: TfModule = await import("../src/model/tf.ts");
    log(`${section}: plain tfjs ops (webgpu backend)`);
    const tf = await tfm.useTfBackend(gpu);
    const e = tf.tensor2d(embeddings.data, [S.n, S.d]);
    const c = tf.tensor2d(centers.data, [S.C, S.d]);
    const grad = tf.grads((...[a, b]) =>
      lm.mlcdLossTf(a as typeof e, b as typeof c, positives, { sampled })
    );
    const step = async (): Promise<number> => {
      const [ge, gc] = grad([e, c]);
      const lossT = lm.mlcdLossTf(e, c, positives, { sampled });
      const [lv] = await Promise.all([lossT.data(), ge!.data(), gc!.data()]);
      tf.dispose([ge!, gc!, lossT]);
      return lv![0]!;
    };
    await step(); // compile
    let best = Infinity;
    for (let r = 0; r < S.repeats; r++) {
      const t0 = performance.now();
      tfLoss = await step();
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    tf.dispose([e, c]);
    emit({
      section,
      kind: "peer",
      tool: "tfjs 4.22 ops (webgpu)",
      shape,
      seconds: best,
      quality: `loss ${tfLoss.toFixed(4)}`,
      ratio: null,
      note: `best of ${S.repeats}; tf.grads + a forward for the value (same device)`,
    });
    info.tfjs = { seconds: best, loss: tfLoss };
  } catch (e) {
    fail(section, "tfjs ops", shape, e);
  }
  let oursLoss = NaN;
  try {
    log(`${section}: mlcd (ours)`);
    await lm.mlcdLoss(gpu, embeddings, centers, positives, { sampled }); // compile
    let best = Infinity;
    for (let r = 0; r < S.repeats; r++) {
      const t0 = performance.now();
      const res = await lm.mlcdLoss(gpu, embeddings, centers, positives, { sampled });
      best = Math.min(best, (performance.now() - t0) / 1000);
      oursLoss = res.loss;
    }
    emit({
      section,
      kind: "ours",
      tool: "mlcd (ours)",
      shape,
      seconds: best,
      quality: `loss ${oursLoss.toFixed(4)}`,
      ratio: null,
      note: `best of ${S.repeats}; host in/out incl. the C×d center gradient` +
        (Number.isFinite(tfLoss)
          ? `; |Δloss| vs tfjs ${Math.abs(tfLoss - oursLoss).toExponential(1)}`
          : ""),
    });
    info.ours = { seconds: best, loss: oursLoss };
    if (peak) {
      addRoofline(
        "MLCD loss fwd+bwd",
        shape,
        gflop,
        best * 1000,
        peak,
        "wall, incl. upload + readback",
      );
    }
  } catch (e) {
    fail(section, "mlcd (ours)", shape, e);
  }
}
