import assert from "node:assert/strict";
import { mlcdLoss } from "../src/loss/mlcd_loss.ts";
import { mlcdLossReference, type MlcdLossReferenceInput } from "../src/loss/mlcd_loss_reference.ts";
import type { MlcdLossOptions } from "../src/loss/mlcd_loss_options.ts";
import { sampleClasses } from "../src/loss/sample_classes.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { randomMatrix, randomPositives, relErr, testGpu } from "./_gpu.ts";

function assertFinite(a: ArrayLike<number>, what: string): void {
  for (let i = 0; i < a.length; i++) assert.ok(Number.isFinite(a[i]!), `${what}[${i}] = ${a[i]}`);
}

function toF64(m: Matrix): { data: Float64Array; rows: number; cols: number } {
  return { data: Float64Array.from(m.data), rows: m.rows, cols: m.cols };
}

/** Indices of the `k` largest |g| entries. */
function largest(g: ArrayLike<number>, k: number): number[] {
  return [...Array(g.length).keys()].sort((a, b) => Math.abs(g[b]!) - Math.abs(g[a]!)).slice(0, k);
}

/**
 * Central finite differences of the float64 reference loss at the given coordinates of
 * embeddings ("e") or centers ("w").
 */
function finiteDiff(
  input: MlcdLossReferenceInput,
  which: "e" | "w",
  coords: number[],
  eps = 1e-6,
): number[] {
  const E = toF64(input.embeddings as Matrix), W = toF64(input.centers as Matrix);
  const target = which === "e" ? E.data : W.data;
  return coords.map((k) => {
    const v = target[k]!;
    target[k] = v + eps;
    const up = mlcdLossReference({ ...input, embeddings: E, centers: W }).loss;
    target[k] = v - eps;
    const down = mlcdLossReference({ ...input, embeddings: E, centers: W }).loss;
    target[k] = v;
    return (up - down) / (2 * eps);
  });
}

interface Case {
  name: string;
  n: number;
  C: number;
  d: number;
  l: number;
  ratio?: number;
  options?: MlcdLossOptions;
  fd?: boolean;
  /** The exact gradients vanish (d = 1: normalised rows are ±1): check they are ~0. */
  zeroGrad?: boolean;
}

async function checkCase(c: Case, gpuOptions = {}): Promise<void> {
  const gpu = await testGpu(gpuOptions);
  const embeddings = randomMatrix(c.n, c.d, 11 + c.n);
  const centers = randomMatrix(c.C, c.d, 23 + c.C);
  const positives = randomPositives(c.n, c.l, c.C, 5);
  const input: MlcdLossReferenceInput = { embeddings, centers, positives, ...c.options };
  if (c.ratio !== undefined) {
    input.sampled = sampleClasses(positives, { classes: c.C, ratio: c.ratio, seed: 7 });
  }
  const { embeddings: _e, centers: _c, positives: _p, ...options } = input;
  const got = await mlcdLoss(gpu, embeddings, centers, positives, { ...options, perSample: true });
  const ref = mlcdLossReference(input);
  assert.ok(
    Math.abs(got.loss - ref.loss) <= 1e-5 * Math.abs(ref.loss),
    `${c.name}: loss ${got.loss} vs float64 ${ref.loss}`,
  );
  assert.ok(relErr(got.perSample!, ref.perSample) <= 1e-5, `${c.name}: per-sample losses`);
  if (c.zeroGrad) {
    // f32 leaves x̂² − 1 ≈ 1e-7, times coefficients up to the scale (64).
    for (const v of got.gradEmbeddings.data) assert.ok(Math.abs(v) < 1e-2, `${c.name}: ${v}`);
    for (const v of got.gradCenters.data) assert.ok(Math.abs(v) < 1e-2, `${c.name}: ${v}`);
    return;
  }
  const eE = relErr(got.gradEmbeddings.data, ref.gradEmbeddings);
  const eW = relErr(got.gradCenters.data, ref.gradCenters);
  assert.ok(eE <= 1e-3, `${c.name}: grad embeddings rel err ${eE}`);
  assert.ok(eW <= 1e-3, `${c.name}: grad centers rel err ${eW}`);
  if (input.sampled) {
    const inS = new Uint8Array(c.C);
    for (const s of input.sampled) inS[s] = 1;
    for (let r = 0; r < c.C; r++) {
      if (inS[r]) continue;
      for (let k = 0; k < c.d; k++) assert.equal(got.gradCenters.data[r * c.d + k], 0);
    }
  }
  if (c.fd ?? true) {
    for (const which of ["e", "w"] as const) {
      const g = which === "e" ? got.gradEmbeddings.data : got.gradCenters.data;
      const gRef = which === "e" ? ref.gradEmbeddings : ref.gradCenters;
      const coords = largest(gRef, 6);
      const fd = finiteDiff(input, which, coords);
      const scale = Math.abs(gRef[coords[0]!]!);
      coords.forEach((k, q) => {
        assert.ok(
          Math.abs(g[k]! - fd[q]!) <= 1e-3 * scale,
          `${c.name}: grad ${which}[${k}] GPU ${g[k]} vs finite difference ${fd[q]}`,
        );
        assert.ok(
          Math.abs(gRef[k]! - fd[q]!) <= 1e-5 * scale,
          `${c.name}: reference grad ${which}[${k}] ${gRef[k]} vs finite difference ${fd[q]}`,
        );
      });
    }
  }
}

const main = { n: 37, C: 1001, d: 77, l: 8, ratio: 0.1 };

for (const marginType of ["arc", "cosine"] as const) {
  Deno.test(`mlcdLoss() matches float64 and finite differences (${marginType}, n=37 C=1001 d=77 l=8 r=0.1)`, async () => {
    await checkCase({ name: marginType, ...main, options: { marginType } });
  });
  Deno.test(`mlcdLoss() matches float64 with one positive per sample (${marginType}, l=1)`, async () => {
    await checkCase({ name: `${marginType} l=1`, ...main, l: 1, options: { marginType } });
  });
  Deno.test(`mlcdLoss() matches float64 when every class is positive (${marginType}, C=l)`, async () => {
    await checkCase({
      name: `${marginType} C=l`,
      n: 13,
      C: 8,
      d: 77,
      l: 8,
      options: { marginType },
    });
  });
  Deno.test(`mlcdLoss() matches float64 at scale 128 (${marginType})`, async () => {
    await checkCase({ name: `${marginType} s=128`, ...main, options: { marginType, scale: 128 } });
  });
  Deno.test(`mlcdLoss() computes the MLC baseline (${marginType} ignored)`, async () => {
    await checkCase({ name: `mlc ${marginType}`, ...main, options: { marginType, loss: "mlc" } });
  });
}

Deno.test("mlcdLoss() processes the batch in blocks when the logits exceed one binding", async () => {
  // 400 sampled logits per row = 1600 bytes; a 32 KiB binding holds 20 rows: 2 blocks.
  await checkCase(
    { name: "chunked", n: 37, C: 4000, d: 16, l: 3, ratio: 0.1, fd: false },
    { maxBindingBytes: 32768 },
  );
});

Deno.test("mlcdLoss() uses all classes without sampled and d=1, n=1", async () => {
  await checkCase({ name: "d=1", n: 1, C: 5, d: 1, l: 2, zeroGrad: true });
  await checkCase({ name: "all classes", n: 3, C: 70, d: 5, l: 2 });
});

Deno.test("mlcdLoss() has no NaN at scale 128 with aligned and opposite vectors", async () => {
  const gpu = await testGpu();
  const d = 9, C = 6;
  const centers = randomMatrix(C, d, 3);
  // Row 0 equals center 0 (θ = 0 with its positive); row 1 is the negation of center 1
  // (θ = π with its positive); row 2 equals negative center 3 and is opposite center 4.
  const e = new Float32Array(3 * d);
  for (let k = 0; k < d; k++) {
    e[k] = centers.data[k]!;
    e[d + k] = -centers.data[d + k]!;
    e[2 * d + k] = centers.data[3 * d + k]!;
  }
  for (let k = 0; k < d; k++) centers.data[4 * d + k] = -centers.data[3 * d + k]!;
  const embeddings = { data: e, rows: 3, cols: d };
  const positives = new Uint32Array([0, 2, 1, 5, 4, 2]);
  for (const marginType of ["arc", "cosine"] as const) {
    for (const loss of ["mlcd", "mlc"] as const) {
      const options = { scale: 128, marginType, loss };
      const got = await mlcdLoss(gpu, embeddings, centers, positives, options);
      const ref = mlcdLossReference({ embeddings, centers, positives, ...options });
      assert.ok(Number.isFinite(got.loss), `${marginType} ${loss}: loss ${got.loss}`);
      assertFinite(got.gradEmbeddings.data, `${marginType} ${loss} gradEmbeddings`);
      assertFinite(got.gradCenters.data, `${marginType} ${loss} gradCenters`);
      assert.ok(
        Math.abs(got.loss - ref.loss) <= 1e-4 * Math.max(1, Math.abs(ref.loss)),
        `${marginType} ${loss}: ${got.loss} vs ${ref.loss}`,
      );
    }
  }
});

Deno.test("mlcdLoss() gives zero gradients for an all-zero embedding row", async () => {
  const gpu = await testGpu();
  const embeddings = randomMatrix(2, 4, 1);
  embeddings.data.fill(0, 0, 4);
  const got = await mlcdLoss(gpu, embeddings, randomMatrix(5, 4, 2), new Uint32Array([0, 1]));
  assert.deepEqual([...got.gradEmbeddings.data.subarray(0, 4)], [0, 0, 0, 0]);
  assert.ok(Number.isFinite(got.loss));
});

Deno.test("mlcdLoss() and mlcdLossReference() throw RangeError naming the offending row and value", async () => {
  // The reference validates on its own (it shares no preparation with mlcdLoss): both must
  // refuse the same inputs with the same message.
  const gpu = await testGpu();
  const embeddings = randomMatrix(3, 4, 1), centers = randomMatrix(10, 4, 2);
  const cases: [
    number[],
    MlcdLossOptions & { centers?: Matrix },
    { name: string; message?: string },
  ][] = [
    [[0, 1, 2, 3, 4, 10], {}, {
      name: "RangeError",
      message: "Expected positives[5] (row 2) to be a class id in [0, 9] but found 10",
    }],
    [[0, 1, 2, 3, 4, 5], { sampled: new Uint32Array([0, 1, 2, 4, 5]) }, {
      name: "RangeError",
      message: "Expected the positives of row 1 to be sampled but class 3 is not",
    }],
    [[0, 1, 2, 2, 4, 5], {}, {
      name: "RangeError",
      message: "Expected distinct positives in row 1 but found class 2 twice",
    }],
    [[0, 1, 2, 3], {}, {
      name: "TypeError",
      message: "Expected positives.length to be a positive multiple of n = 3 but found 4",
    }],
    [[0, 1, 2], { centers: randomMatrix(10, 5, 2) }, {
      name: "TypeError",
      message: "Expected centers to have 4 columns like embeddings but found 5",
    }],
    [[0, 1, 2], { sampled: new Uint32Array([0, 1, 2, 12]) }, {
      name: "RangeError",
      message: "Expected sampled[3] to be a class id in [0, 9] but found 12",
    }],
    [[0, 1, 2], { sampled: new Uint32Array([0, 1, 2, 1]) }, {
      name: "RangeError",
      message: "Expected distinct sampled class ids but found 1 twice",
    }],
    [[0, 1, 2], { scale: -1 }, {
      name: "RangeError",
      message: "Expected scale to be a positive finite number but found -1",
    }],
    [[0, 1, 2], { margin: 2 }, {
      name: "RangeError",
      message: "Expected margin to be in [0, π/2) but found 2",
    }],
    [[0, 1, 2], { centers: { data: new Float32Array(3), rows: 2, cols: 2 } }, {
      name: "TypeError",
    }],
  ];
  for (const [positives, extra, want] of cases) {
    const input = { embeddings, centers, positives: new Uint32Array(positives), ...extra };
    const { embeddings: e, centers: c, positives: p, ...options } = input;
    await assert.rejects(() => mlcdLoss(gpu, e, c, p, options), want, `mlcdLoss: ${want.message}`);
    assert.throws(() => mlcdLossReference(input), want, `reference: ${want.message}`);
  }
});

Deno.test("mlcdLossReference() uses the paper's defaults: scale 64, margin 0.3, ArcFace, MLCD", () => {
  const input = {
    embeddings: randomMatrix(5, 7, 1),
    centers: randomMatrix(9, 7, 2),
    positives: randomPositives(5, 2, 9, 3),
  };
  const explicit = { scale: 64, margin: 0.3, marginType: "arc", loss: "mlcd" } as const;
  assert.deepEqual(mlcdLossReference(input), mlcdLossReference({ ...input, ...explicit }));
  for (const other of [{ scale: 32 }, { margin: 0.2 }, { marginType: "cosine" }, { loss: "mlc" }]) {
    assert.notEqual(
      mlcdLossReference({ ...input, ...other } as typeof input).loss,
      mlcdLossReference(input).loss,
    );
  }
});

Deno.test("mlcdLossReference() equals Eq. 5 evaluated by hand on one sample", () => {
  // d = 2, three unit centers at angles 0, π/2, π; the sample at angle π/6; P = {0}, N = {1, 2}.
  const t = Math.PI / 6, s = 64, m = 0.3;
  const r = mlcdLossReference({
    embeddings: { data: new Float64Array([2 * Math.cos(t), 2 * Math.sin(t)]), rows: 1, cols: 2 },
    centers: { data: new Float64Array([3, 0, 0, 0.5, -1, 0]), rows: 3, cols: 2 },
    positives: new Uint32Array([0]),
  });
  // cos θ = cos(π/6) with the positive, cos(π/3) and cos(5π/6) with the negatives.
  const want = Math.log1p(Math.exp(-s * Math.cos(t + m))) +
    Math.log1p(Math.exp(s * Math.cos(Math.PI / 2 - t)) + Math.exp(s * Math.cos(Math.PI - t)));
  assert.ok(Math.abs(r.loss - want) < 1e-12 * want, `${r.loss} vs ${want}`);
});

Deno.test("mlcdLoss() refuses the old one-object form and positional options with a TypeError showing the new form", async () => {
  const gpu = await testGpu();
  const embeddings = randomMatrix(3, 4, 1), centers = randomMatrix(10, 4, 2);
  const positives = new Uint32Array([0, 1, 2]);
  await assert.rejects(
    // @ts-expect-error: the old form mlcdLoss(gpu, { embeddings, centers, positives, ... })
    () => mlcdLoss(gpu, { embeddings, centers, positives, scale: 32 }),
    {
      name: "TypeError",
      message:
        "Expected mlcdLoss(gpu, embeddings, centers, positives, options) but found one object { embeddings, centers, positives, ... } in place of the embeddings",
    },
  );
  await assert.rejects(
    // @ts-expect-error: a scale where the options go
    () => mlcdLoss(gpu, embeddings, centers, positives, 32),
    {
      name: "TypeError",
      message:
        "Expected the options of mlcdLoss() to be an object such as { sampled, scale: 64, margin: 0.3 } but found 32",
    },
  );
  // Without options: the defaults, as the reference computes them.
  const got = await mlcdLoss(gpu, embeddings, centers, positives);
  const ref = mlcdLossReference({ embeddings, centers, positives });
  assert.ok(
    Math.abs(got.loss - ref.loss) <= 1e-5 * Math.abs(ref.loss),
    `${got.loss} vs ${ref.loss}`,
  );
  assert.equal(got.perSample, undefined);
});
