// The register kernels walk rows wider than the adapter's registersMaxDim in slices (issue 20):
// the slice plan, k-means assignment and top-k against float64 at d = 129 … 1664 on odd shapes,
// and the sliced kernels' scores bit for bit equal to the kernels that hold whole rows.
import assert from "node:assert/strict";
import type { Gpu } from "../src/gpu/gpu.ts";
import { registerSlices, SLICE_WINDOW_UNITS } from "../src/gpu/register_slices.ts";
import { assignNearest } from "../src/kmeans/assign_nearest.ts";
import { kmeansKernelCandidates } from "../src/kmeans/kernel_choice.ts";
import { kmeans } from "../src/kmeans/kmeans.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { topk, uploadTopkKeys } from "../src/topk/topk.ts";
import { topkRegistersPlan } from "../src/topk/topk_registers_search.ts";
import { quirksFor } from "../src/gpu/quirks.ts";
import { uploadMatrix } from "../src/gpu/gpu_matrix.ts";
import { readBack } from "../src/gpu/buffers.ts";
import { recordAssign } from "../src/kmeans/_assign_programs.ts";
import { assignSlices, slicedFits } from "../src/kmeans/_assign_sliced.ts";
import { createAssignOutputs } from "../src/kmeans/assignment_step.ts";
import { centroidsPerChunk, createCentroids, paddedWidth } from "../src/kmeans/centroid_store.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";

const gpu = await testGpu();
/** The same device with every row held whole (the kernels before slicing). */
const whole: Gpu = { ...gpu, quirks: { ...gpu.quirks, registersMaxDim: Infinity } };
/** The same device slicing every row wider than 32 values. */
const narrow: Gpu = { ...gpu, quirks: { ...gpu.quirks, registersMaxDim: 32 } };
const sliced = gpu.quirks.registersMaxDim < 129;

/** Float64 dot products of the (optionally normalised) rows of `a` with those of `b`. */
function dots64(a: Matrix, b: Matrix, unit: boolean): Float64Array[] {
  const rows = (m: Matrix) =>
    Array.from({ length: m.rows }, (_, r) => {
      const v = Float64Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
      const s = unit ? Math.sqrt(v.reduce((t, e) => t + e * e, 0)) : 1;
      return v.map((e) => e / s);
    });
  const bs = rows(b);
  return rows(a).map((av) =>
    Float64Array.from(bs, (bv) => bv.reduce((t, e, c) => t + e * av[c]!, 0))
  );
}

function sameBits(
  a: Float32Array | Uint32Array,
  b: Float32Array | Uint32Array,
  what: string,
): void {
  assert.equal(a.length, b.length, what);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) assert.equal(ua[i], ub[i], `${what}: element ${i}`);
}

Deno.test("registerSlices() cuts every width into the fewest even slices", () => {
  for (const max of [1, 8, 11, 16]) {
    for (let units = 1; units <= 2000; units++) {
      const s = registerSlices(units, max);
      assert.equal(s.count, Math.ceil(units / max), `${units}/${max}`);
      assert.ok(s.width <= max && s.lastWidth >= 1 && s.lastWidth <= s.width, `${units}/${max}`);
      assert.equal((s.count - 1) * s.width + s.lastWidth, units);
      assert.equal(s.rowsPerWindow, Math.floor(SLICE_WINDOW_UNITS / s.width));
    }
  }
  assert.deepEqual(registerSlices(50, 16), {
    units: 50,
    count: 4,
    width: 13,
    lastWidth: 11,
    rowsPerWindow: 315,
  });
  assert.throws(() => registerSlices(0, 16), { name: "RangeError", message: /units .* found 0/ });
  assert.throws(() => registerSlices(8, 1.5), { name: "RangeError", message: /maxWidth/ });
});

// [n rows, k centroids, d]: odd n, k not a multiple of the workgroup, k = 1, n < k.
const ASSIGN_SHAPES: [number, number, number][] = [
  [37, 71, 129],
  [301, 1, 200],
  [5, 300, 512],
  [65, 129, 768],
  [33, 17, 1664],
];

for (const [n, k, d] of ASSIGN_SHAPES) {
  for (const f16 of [false, true]) {
    Deno.test(`assignNearest() registers matches float64 at n=${n}, k=${k}, d=${d}${f16 ? " (f16)" : ""}`, async () => {
      const x = randomMatrix(n, d, 1 + d), c = randomMatrix(k, d, 2 + d);
      for (const metric of ["cosine", "l2"] as const) {
        const got = await assignNearest(gpu, x, c, {
          metric,
          f16,
          variant: "registers",
          autotune: false,
        });
        const ref = dots64(x, c, metric === "cosine");
        for (let r = 0; r < n; r++) {
          const xx = x.data.subarray(r * d, (r + 1) * d).reduce((t, e) => t + e * e, 0);
          // f16 storage moves scores by up to ~4e-3 (README); f32 by rounding only. l2 scores
          // scale with ‖x‖² + ‖c‖² (about 2d here).
          const tol = (f16 ? 5e-3 : 1e-5) * (metric === "cosine" ? 1 : xx + 2 * d);
          const score = (j: number) =>
            metric === "cosine" ? ref[r]![j]! : xx - 2 * ref[r]![j]! +
              c.data.subarray(j * d, (j + 1) * d).reduce((t, e) => t + e * e, 0);
          let best = 0;
          for (let j = 1; j < k; j++) {
            if (metric === "cosine" ? score(j) > score(best) : score(j) < score(best)) best = j;
          }
          const i = got.assignments[r]!;
          assert.ok(i < k, `row ${r}: index ${i}`);
          assert.ok(
            Math.abs(got.scores[r]! - score(best)) <= tol,
            `row ${r}: ${got.scores[r]} vs ${score(best)}`,
          );
          // Another index only for a (near-)tie, within the storage's error.
          assert.ok(
            i === best || Math.abs(score(i) - score(best)) <= tol,
            `row ${r}: ${i} vs ${best}`,
          );
        }
        if (!f16 && d <= 512) {
          const w = await assignNearest(whole, x, c, {
            metric,
            variant: "registers",
            autotune: false,
          });
          sameBits(got.scores, w.scores, `${metric} scores vs whole rows`);
          sameBits(got.assignments, w.assignments, `${metric} assignments vs whole rows`);
        }
      }
    });
  }
}

Deno.test("the sliced assignment equals the whole-row kernel bit for bit at d ≤ 128, f32 and f16", async () => {
  const x = randomMatrix(203, 100, 5), c = randomMatrix(45, 100, 6);
  for (const f16 of [false, true]) {
    for (const metric of ["cosine", "l2"] as const) {
      const o = { metric, f16, variant: "registers" as const, autotune: false };
      const a = await assignNearest(narrow, x, c, o), b = await assignNearest(gpu, x, c, o);
      sameBits(a.scores, b.scores, `${metric} f16=${f16}`);
      sameBits(a.assignments, b.assignments, `${metric} f16=${f16}`);
    }
  }
});

/** The assignment of `x` to `c` by the registers kernel with `rows` rows per invocation. */
async function assignWith(g: Gpu, x: Matrix, c: Matrix, rows: number, f16: boolean) {
  const dp = paddedWidth(x.cols);
  const padded = new Float32Array(c.rows * dp);
  for (let r = 0; r < c.rows; r++) {
    padded.set(c.data.subarray(r * c.cols, (r + 1) * c.cols), r * dp);
  }
  const gx = uploadMatrix(g, x, { stride: dp, dtype: f16 ? "f16" : "f32" });
  const cents = createCentroids(g, c.rows, c.cols, f16, centroidsPerChunk(g, dp, false), padded);
  const out = createAssignOutputs(g, gx);
  try {
    const enc = g.device.createCommandEncoder();
    recordAssign(g, { variant: "registers", rows }, gx, cents, out, false, enc);
    const [idx, score] = await readBack(g, [
      { buffer: out.idx[0]!, bytes: x.rows * 4 },
      { buffer: out.score[0]!, bytes: x.rows * 4 },
    ], enc);
    return { idx: new Uint32Array(idx!), score: new Float32Array(score!) };
  } finally {
    gx.destroy();
    cents.destroy();
    out.destroy();
  }
}

Deno.test("the sliced assignment gives the same bits with 1, 5 and 12 rows per invocation", async () => {
  const x = randomMatrix(203, 300, 11), c = randomMatrix(70, 300, 12);
  for (const f16 of [false, true]) {
    const ref = await assignWith(whole, x, c, 1, f16);
    for (const rows of f16 ? [12] : [1, 5, 12]) {
      const got = await assignWith(gpu, x, c, rows, f16);
      sameBits(got.score, ref.score, `${rows} rows, f16=${f16}`);
      sameBits(got.idx, ref.idx, `${rows} rows, f16=${f16}`);
    }
  }
});

Deno.test("kmeans() with sliced rows equals the whole-row kernel bit for bit (d=200, chunked)", async () => {
  const x = randomMatrix(301, 200, 7);
  const small = await testGpu({ maxBindingBytes: 32768 });
  for (const metric of ["cosine", "l2"] as const) {
    const o = { k: 9, niter: 3, metric, variant: "registers" as const, autotune: false };
    const a = await kmeans(gpu, x, o);
    const b = await kmeans(whole, x, o);
    const s = await kmeans(small, x, o);
    sameBits(a.centroids.data, b.centroids.data, `${metric} centroids`);
    sameBits(a.assignments, b.assignments, `${metric} assignments`);
    sameBits(a.centroids.data, s.centroids.data, `${metric} centroids, small bindings`);
    assert.equal(a.objective, b.objective);
  }
});

// [n queries, C keys, d, k]: odd n, k not a multiple of the workgroup, k = 1, n < k, k = 64.
const TOPK_SHAPES: [number, number, number, number][] = [
  [37, 301, 129, 13],
  [101, 77, 200, 1],
  [3, 290, 512, 16],
  [65, 300, 768, 64],
  [33, 71, 1664, 5],
];

for (const [n, C, d, k] of TOPK_SHAPES) {
  Deno.test(`topk() registers matches float64 at n=${n}, C=${C}, d=${d}, k=${k}, f32 and f16`, async () => {
    const q = randomMatrix(n, d, 3 + d), x = randomMatrix(C, d, 4 + d);
    for (const metric of ["cosine", "ip"] as const) {
      const ref32 = dots64(q, x, metric === "cosine");
      for (const f16 of [false, true]) {
        // f16: queries and keys stored as f16 on the GPU (top-k re-packs them as f32 rows),
        // against float64 over the f16-rounded values.
        const dtype = f16 ? "f16" as const : "f32" as const;
        const gk = uploadMatrix(gpu, x, { dtype, maxRowsPerChunk: 97 });
        const gq = uploadMatrix(gpu, q, { dtype });
        const index = uploadTopkKeys(gpu, gk, { metric, variant: "registers" });
        const got = await index.search(gq, { k });
        index.destroy();
        gk.destroy();
        gq.destroy();
        const round = (m: Matrix) => ({ ...m, data: Float32Array.from(new Float16Array(m.data)) });
        const ref = f16 ? dots64(round(q), round(x), metric === "cosine") : ref32;
        const tol = metric === "cosine" ? 1e-5 : 1e-5 * 2 * d;
        for (let r = 0; r < n; r++) {
          const row = ref[r]!;
          const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
          const seen = new Set<number>();
          for (let t = 0; t < k; t++) {
            const i = got.indices[r * k + t]!;
            assert.ok(i < C && !seen.has(i), `row ${r} slot ${t}: index ${i}`);
            seen.add(i);
            const want = row[order[t]!]!;
            assert.ok(Math.abs(got.scores[r * k + t]! - want) <= tol, `row ${r} slot ${t}`);
            assert.ok(
              i === order[t] || Math.abs(row[i]! - want) <= tol,
              `row ${r} slot ${t}: ${i}`,
            );
          }
        }
        if (!f16 && d <= 512) {
          const w = await topk(whole, q, x, { k, metric, variant: "registers", autotune: false });
          sameBits(got.scores, w.scores, `${metric} scores vs whole rows`);
          sameBits(got.indices, w.indices, `${metric} indices vs whole rows`);
        }
      }
    }
  });
}

Deno.test("the sliced top-k equals the whole-row kernel bit for bit at d ≤ 128, and searches twice", async () => {
  const q = randomMatrix(131, 100, 8), x = randomMatrix(515, 100, 9);
  const index = uploadTopkKeys(narrow, x, { variant: "registers", metric: "ip" });
  const a1 = await index.search(q, { k: 7 });
  const a2 = await index.search(q, { k: 64 });
  index.destroy();
  const b1 = await topk(gpu, q, x, { k: 7, variant: "registers", metric: "ip" });
  const b2 = await topk(gpu, q, x, { k: 64, variant: "registers", metric: "ip" });
  sameBits(a1.scores, b1.scores, "k=7");
  sameBits(a1.indices, b1.indices, "k=7");
  sameBits(a2.scores, b2.scores, "k=64");
  sameBits(a2.indices, b2.indices, "k=64");
});

Deno.test("auto picks the register kernels at every width on CPU adapters", () => {
  const index = uploadTopkKeys(gpu, randomMatrix(10, 768, 1), { autotune: false });
  const cands = kmeansKernelCandidates(gpu, 1664, true);
  index.destroy();
  if (sliced && gpu.quirks.preferRegisters) {
    assert.equal(index.variant, "registers");
    assert.deepEqual(cands, [
      { variant: "registers", rows: 8 },
      { variant: "registers", rows: 12 },
      { variant: "tiled", rows: 0 },
    ]);
  } else {
    assert.equal(index.variant, "tiled");
  }
  // The plan keeps a dispatch's partial sums within a binding and its loops under the cap.
  const limits = { maxBindingBytes: 40000, quirks: quirksFor("cpu") };
  const plan = topkRegistersPlan(limits, { n: 5000, d4: 192, k: 64 });
  assert.equal(plan.slices?.count, 12);
  assert.ok(plan.rowsPerDispatch * plan.slices!.rowsPerWindow * 4 <= 40000);
  assert.ok(plan.keysPerDispatch * (1 + 8 * 64) + 8 * 64 <= 65535 / 2);
  assert.equal(topkRegistersPlan(limits, { n: 50, d4: 32, k: 8 }).slices, null);
  // l2's ‖x‖² loop in the last slice: R × units iterations, kept under half of llvmpipe's cap.
  const cpu = { ...gpu, quirks: quirksFor("cpu") };
  const at = (d: number) => assignSlices(cpu, d, false)!;
  assert.ok(slicedFits(cpu, at(1664), 12, false));
  assert.ok(!slicedFits(cpu, at(12000), 12, false));
  assert.ok(slicedFits(cpu, at(12000), 12, true));
  assert.ok(slicedFits(cpu, at(12000), 1, false));
});
