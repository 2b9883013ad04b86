import assert from "node:assert/strict";
import { AUTOTUNE_CACHE_FILE } from "../src/gpu/autotune.ts";
import { chooseKmeansKernel, kmeansKernelCandidates } from "../src/kmeans/kernel_choice.ts";
import { assignNearest } from "../src/kmeans/assign_nearest.ts";
import { kmeans } from "../src/kmeans/kmeans.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { withCacheDir } from "./_env.ts";
import { withDir } from "./_tmp.ts";

async function cacheKeys(dir: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${dir}/${AUTOTUNE_CACHE_FILE}`);
  return Object.keys((JSON.parse(text) as { entries: Record<string, unknown> }).entries);
}

Deno.test("kmeans() auto variant is timed once, cached per adapter, and matches a named kernel", async () => {
  const gpu = await testGpu();
  // d = 22 pads to 24 columns (a width no other test file tunes, so the entry is new).
  const x = randomMatrix(301, 22, 5);
  await withCacheDir(async (dir) => {
    const logs: string[] = [];
    const tuned = await kmeans(gpu, x, {
      k: 7,
      niter: 4,
      autotune: true,
      onLog: (m) => logs.push(m),
    });
    assert.equal(tuned.kernel.source, "tuned");
    assert.ok(tuned.kernel.ms !== null && tuned.kernel.ms > 0, `ms ${tuned.kernel.ms}`);
    const candidates = kmeansKernelCandidates(gpu, 22, false);
    assert.ok(
      candidates.some((c) => c.variant === tuned.kernel.variant && c.rows === tuned.kernel.rows),
      `chosen ${JSON.stringify(tuned.kernel)} is not among ${JSON.stringify(candidates)}`,
    );
    assert.ok(
      logs.some((m) => m.startsWith("Autotuned the assignment kernel for d=22")),
      logs.join("\n"),
    );
    assert.ok((await cacheKeys(dir)).some((k) => k.endsWith("|kmeans_assign/dp=24/f32")));

    const again = await kmeans(gpu, x, { k: 7, niter: 4, autotune: true });
    assert.equal(again.kernel.source, "cache");
    assert.deepEqual([again.kernel.variant, again.kernel.rows], [
      tuned.kernel.variant,
      tuned.kernel.rows,
    ]);

    // Every kernel computes the same exact f32 assignment: same run, same result.
    for (const variant of ["registers", "tiled"] as const) {
      const named = await kmeans(gpu, x, { k: 7, niter: 4, variant });
      assert.equal(named.kernel.source, "requested");
      assert.equal(named.kernel.variant, variant);
      assert.ok(
        Math.abs(named.objective - tuned.objective) <= 1e-4 * Math.abs(tuned.objective),
        `${variant} objective ${named.objective} vs auto ${tuned.objective}`,
      );
    }
  });
});

Deno.test("kmeans() with autotune off takes the heuristic kernel and writes no cache", async () => {
  const gpu = await testGpu();
  await withCacheDir(async (dir) => {
    const r = await kmeans(gpu, randomMatrix(50, 9, 2), { k: 3, niter: 2, autotune: false });
    assert.equal(r.kernel.source, "default");
    assert.deepEqual(r.kernel, {
      ...kmeansKernelCandidates(gpu, 9, false)[0]!,
      source: "default",
      ms: null,
    });
    await assert.rejects(() => Deno.stat(`${dir}/${AUTOTUNE_CACHE_FILE}`), Deno.errors.NotFound);
  });
});

Deno.test("assignNearest() tunes through the same cache as kmeans()", async () => {
  const gpu = await testGpu();
  await withCacheDir(async (dir) => {
    const x = randomMatrix(97, 13, 3), c = randomMatrix(11, 13, 4);
    const auto = await assignNearest(gpu, x, c, { autotune: true });
    const tiled = await assignNearest(gpu, x, c, { variant: "tiled" });
    assert.deepEqual(auto.assignments, tiled.assignments);
    if (kmeansKernelCandidates(gpu, 13, false).length > 1) {
      assert.ok((await cacheKeys(dir)).some((k) => k.endsWith("|kmeans_assign/dp=16/f32")));
    }
  });
});

Deno.test("kmeansKernelCandidates() orders the heuristic choice first and bounds the register shader", async () => {
  const gpu = await testGpu();
  const narrow = kmeansKernelCandidates(gpu, 128, false);
  const wide = kmeansKernelCandidates(gpu, 300, true);
  if (gpu.quirks.preferRegisters) {
    assert.equal(narrow[0]!.variant, "registers");
    assert.ok(narrow.some((c) => c.variant === "tiled"));
    // Wide rows: the register kernel walks them in slices (8 or 12 rows of 64 values), then tiles.
    assert.deepEqual(wide, [
      { variant: "registers", rows: 8 },
      { variant: "registers", rows: 12 },
      { variant: "tiled", rows: 0 },
    ]);
  } else {
    assert.equal(narrow[0]!.variant, "tiled");
  }
  for (const c of narrow) {
    if (c.variant === "registers") assert.ok(c.rows >= 1 && c.rows * 32 <= 256, `rows ${c.rows}`);
  }
  await assert.rejects(
    () => chooseKmeansKernel(gpu, "fast" as "auto", 8, false),
    {
      name: "RangeError",
      message: /Expected variant to be "auto", "registers" or "tiled" but found "fast"/,
    },
  );
});

Deno.test("issue 13 item 18: the autotune log says 'cached in' only when the cache was written", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const old = Deno.env.get("MLCD_CACHE_DIR");
    try {
      await Deno.writeTextFile(`${dir}/file`, "a file, so the cache directory cannot be created");
      for (
        const [cacheDir, written] of [[`${dir}/file/cache`, false], [`${dir}/ok`, true]] as const
      ) {
        Deno.env.set("MLCD_CACHE_DIR", cacheDir);
        const logs: string[] = [];
        const errors: string[] = [];
        const original = console.error;
        console.error = (...a: unknown[]) => errors.push(a.map(String).join(" "));
        try {
          const c = await chooseKmeansKernel(gpu, "auto", 14, false, {
            onLog: (m) => logs.push(m),
          });
          assert.equal(c.source, "tuned");
        } finally {
          console.error = original;
        }
        const line = logs.find((m) => m.startsWith("Autotuned the assignment kernel"));
        assert.ok(line, logs.join("\n"));
        if (written) {
          assert.match(line, new RegExp(`\\(cached in ${dir}/ok/autotune\\.json\\)$`));
        } else {
          assert.doesNotMatch(line, /cached in/);
          assert.match(line, /\(not cached: kept in memory only\)$/);
          assert.ok(
            errors.some((e) => e.includes("cannot write autotune cache")),
            errors.join("\n"),
          );
        }
      }
    } finally {
      if (old === undefined) Deno.env.delete("MLCD_CACHE_DIR");
      else Deno.env.set("MLCD_CACHE_DIR", old);
    }
  }, "mlcd_kmeans_tune_");
});
