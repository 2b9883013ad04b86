import assert from "node:assert/strict";
import { detectProfile, quirksFor } from "../src/gpu/quirks.ts";
import { assignNearest } from "../src/kmeans/assign_nearest.ts";
import { chooseKmeansKernel } from "../src/kmeans/kernel_choice.ts";
import { topk, uploadTopkKeys } from "../src/topk/topk.ts";
import { topkKeysPerDispatch } from "../src/topk/topk_programs.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { batchMatMulRegisters } from "../src/model/_batch_matmul.ts";
import { tf, tfQuirks, useTfBackend } from "../src/model/tf.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";

/** Cosine similarities in float64, `q.rows × x.rows`. */
function cosine64(q: Matrix, x: Matrix): Float64Array[] {
  const unit = (m: Matrix, r: number) => {
    const v = Float64Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
    const s = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
    return v.map((e) => e / s);
  };
  const xs = Array.from({ length: x.rows }, (_, j) => unit(x, j));
  return Array.from({ length: q.rows }, (_, i) => {
    const qv = unit(q, i);
    return Float64Array.from(xs, (xv) => xv.reduce((a, e, c) => a + e * qv[c]!, 0));
  });
}

Deno.test("quirksFor() gives the CPU caps only to the cpu profile", () => {
  const cpu = quirksFor("cpu"), gpu = quirksFor("gpu");
  assert.equal(cpu.maxLoopIterations, 65535);
  assert.equal(cpu.maxMacsPerDispatch, 2 ** 27);
  assert.equal(cpu.preferRegisters, true);
  assert.equal(gpu.maxLoopIterations, Infinity);
  assert.equal(gpu.maxMacsPerDispatch, Infinity);
  assert.equal(gpu.registersMaxDim, Infinity);
  assert.equal(cpu.registersMatMulMaxDim, 65_000);
  assert.ok(cpu.registersMatMulMaxDim < cpu.maxLoopIterations);
  assert.equal(gpu.registersMatMulMaxDim, Infinity);
  assert.equal(gpu.preferRegisters, false);
  assert.ok(gpu.passesPerSubmit > cpu.passesPerSubmit);
  assert.equal(topkKeysPerDispatch(32, 8, cpu.maxLoopIterations), 992);
  assert.equal(topkKeysPerDispatch(32, 8, gpu.maxLoopIterations), Number.MAX_SAFE_INTEGER);
  assert.throws(() => quirksFor("tpu" as "gpu"), {
    name: "RangeError",
    message: 'Expected quirks to be "cpu" or "gpu" but found "tpu"',
  });
});

Deno.test("detectProfile() names software rasterisers cpu and others gpu", () => {
  assert.equal(detectProfile("llvmpipe (LLVM 15.0.6, 256 bits)"), "cpu");
  assert.equal(detectProfile("SwiftShader Device (Subzero)"), "cpu");
  assert.equal(detectProfile("whatever", true), "cpu");
  assert.equal(detectProfile("NVIDIA H100 80GB HBM3"), "gpu");
});

for (const profile of ["cpu", "gpu"] as const) {
  Deno.test(`createGpu({ quirks: "${profile}" }) picks that profile's kernels and stays exact`, async () => {
    const gpu = await testGpu({ quirks: profile });
    assert.equal(gpu.quirks.profile, profile);
    const design = profile === "cpu" ? "registers" : "tiled";

    // k-means assignment: the heuristic kernel of the profile, exact against float64.
    const x = randomMatrix(333, 37, 1), c = randomMatrix(29, 37, 2);
    const kernel = await chooseKmeansKernel(gpu, "auto", x.cols, false, { autotune: false });
    assert.equal(kernel.variant, design);
    const { assignments } = await assignNearest(gpu, x, c, { autotune: false });
    const sims = cosine64(x, c);
    sims.forEach((row, i) => {
      const best = row.reduce((bi, s, j) => s > row[bi]! ? j : bi, 0);
      const got = assignments[i]!;
      assert.ok(
        got === best || row[best]! - row[got]! < 1e-5,
        `row ${i}: centroid ${got} (${row[got]}) vs ${best} (${row[best]})`,
      );
    });

    // Top-k at k = 64 (every key an insertion for sorted keys): exact against float64.
    const q = randomMatrix(70, 19, 3), keys = randomMatrix(301, 19, 4);
    const index = uploadTopkKeys(gpu, keys, { autotune: false });
    assert.equal(index.variant, design);
    index.destroy();
    const k = 64;
    const got = await topk(gpu, q, keys, { k, autotune: false });
    cosine64(q, keys).forEach((row, i) => {
      const order = [...row.keys()].sort((a, b) => row[b]! - row[a]! || a - b);
      for (let t = 0; t < k; t++) {
        const gi = got.indices[i * k + t]!;
        assert.ok(
          gi === order[t] || Math.abs(row[gi]! - row[order[t]!]!) < 1e-5,
          `row ${i} rank ${t}: ${gi} vs ${order[t]}`,
        );
        assert.ok(Math.abs(got.scores[i * k + t]! - row[order[t]!]!) < 1e-5);
      }
    });
  });
}

Deno.test("batchMatMulRegisters() hands sizes above the bound device's registersMatMulMaxDim to tf.matMul", async () => {
  const big = 65_001;
  for (const profile of ["cpu", "gpu"] as const) {
    const gpu = await testGpu({ quirks: profile });
    await useTfBackend(gpu);
    assert.equal(tfQuirks(), gpu.quirks);
    // The registers kernel is a program of its own, not a tfjs kernel: tf.profile lists
    // "BatchMatMul" only when the product went to tf.matMul.
    const kernels = async (m: number, k: number) => {
      const a = tf.ones([1, m, k]) as tf.Tensor3D, b = tf.ones([1, k, 1]) as tf.Tensor3D;
      let sum = NaN;
      const info = await tf.profile(async () => {
        const y = batchMatMulRegisters(a, b);
        sum = (await y.data())[0]!;
        y.dispose();
      });
      tf.dispose([a, b]);
      return { names: info.kernelNames, sum };
    };
    const small = await kernels(3, 1000);
    assert.ok(!small.names.includes("BatchMatMul"), `${profile}: ${small.names}`);
    assert.equal(small.sum, 1000);
    const wide = await kernels(1, big);
    assert.equal(
      wide.names.includes("BatchMatMul"),
      profile === "cpu",
      `${profile}: ${wide.names}`,
    );
    if (profile === "cpu") assert.equal(wide.sum, big);
  }
});
