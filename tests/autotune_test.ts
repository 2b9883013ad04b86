import assert from "node:assert/strict";
import {
  autotune,
  AUTOTUNE_CACHE_FILE,
  autotuneCacheDir,
  autotuneKey,
} from "../src/gpu/autotune.ts";
import { TOOLKIT_VERSION } from "../src/version.ts";
import type { Gpu } from "../src/gpu/gpu.ts";
import { timeGpu } from "../src/gpu/peak.ts";
import { dispatch } from "../src/gpu/program.ts";
import { createStorage } from "../src/gpu/buffers.ts";
import { peakProgram } from "../src/gpu/peak.ts";
import { testGpu } from "./_gpu.ts";
import { withEnv } from "./_env.ts";
import { withDir } from "./_tmp.ts";

// autotune() only reads gpu.info, so most tests use a fake adapter (no GPU needed) and a
// fake clock: each candidate's "time" is its `cost`.
function fakeGpu(description: string): Gpu {
  return {
    info: { description, vendor: "v1", architecture: "arch1" },
  } as unknown as Gpu;
}

type Cfg = { rows: number; cost: number };
const candidates: Cfg[] = [{ rows: 4, cost: 3 }, { rows: 8, cost: 1 }, { rows: 16, cost: 2 }];

function counter() {
  const calls: number[] = [];
  const time = (c: Cfg) => {
    calls.push(c.rows);
    return Promise.resolve(c.cost);
  };
  return { calls, time };
}

async function captureStderr(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return lines;
}

Deno.test("autotune() picks the fastest candidate, times each warm-up + repeats, and caches it atomically", async () => {
  await withDir(async (dir) => {
    const gpu = fakeGpu("tune-a");
    const { calls, time } = counter();
    const r = await autotune(gpu, "fam", candidates, time, { cacheDir: dir, repeats: 2 });
    assert.equal(r.source, "tuned");
    assert.deepEqual(r.config, { rows: 8, cost: 1 });
    assert.equal(r.ms, 1);
    assert.deepEqual(calls, [4, 4, 4, 8, 8, 8, 16, 16, 16]);
    assert.deepEqual(r.timings.map((t) => t.ms), [3, 1, 2]);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(names, [AUTOTUNE_CACHE_FILE]); // no temp file left behind
    const file = JSON.parse(await Deno.readTextFile(`${dir}/${AUTOTUNE_CACHE_FILE}`));
    const key = `tune-a|v1|arch1|mlcd ${TOOLKIT_VERSION}|fam`;
    assert.equal(r.key, key);
    assert.deepEqual(file.entries[key].config, { rows: 8, cost: 1 });
    assert.equal(file.entries[key].ms, 1);
  });
});

Deno.test("autotune() reuses a choice cached by another process without timing", async () => {
  await withDir(async (dir) => {
    const gpu = fakeGpu("tune-b");
    const entry = { config: { rows: 16, cost: 2 }, ms: 0.5, candidates: 3, at: "x" };
    await Deno.writeTextFile(
      `${dir}/${AUTOTUNE_CACHE_FILE}`,
      JSON.stringify({ version: 1, entries: { [autotuneKey(gpu, "fam")]: entry } }),
    );
    const { calls, time } = counter();
    const r = await autotune(gpu, "fam", candidates, time, { cacheDir: dir });
    assert.equal(r.source, "cache");
    assert.deepEqual(r.config, { rows: 16, cost: 2 });
    assert.equal(r.ms, 0.5);
    assert.deepEqual(calls, []);
    // another adapter or family does not share the entry
    const other = await autotune(fakeGpu("tune-b2"), "fam", candidates, time, { cacheDir: dir });
    assert.equal(other.source, "tuned");
    const fam2 = await autotune(gpu, "fam2", candidates, time, { cacheDir: dir });
    assert.equal(fam2.source, "tuned");
    const file = JSON.parse(await Deno.readTextFile(`${dir}/${AUTOTUNE_CACHE_FILE}`));
    assert.equal(Object.keys(file.entries).length, 3); // merged, not overwritten
  });
});

Deno.test("autotune() tunes again when the cached choice is not among the candidates or force is set", async () => {
  await withDir(async (dir) => {
    const gpu = fakeGpu("tune-c");
    const { time } = counter();
    await autotune(gpu, "fam", candidates, time, { cacheDir: dir, repeats: 1 });
    const fewer = [{ rows: 4, cost: 3 }, { rows: 16, cost: 2 }];
    const r = await autotune(gpu, "fam", fewer, time, { cacheDir: dir, repeats: 1 });
    assert.equal(r.source, "tuned");
    assert.deepEqual(r.config, { rows: 16, cost: 2 });
    const f = await autotune(gpu, "fam", fewer, time, { cacheDir: dir, repeats: 1, force: true });
    assert.equal(f.source, "tuned");
  });
});

Deno.test("autotune() returns the first candidate untimed under MLCD_AUTOTUNE=0 and writes nothing", async () => {
  await withDir(async (dir) => {
    const { calls, time } = counter();
    await withEnv({ MLCD_AUTOTUNE: "0", MLCD_CACHE_DIR: dir }, async () => {
      const r = await autotune(fakeGpu("tune-d"), "fam", candidates, time);
      assert.equal(r.source, "default");
      assert.deepEqual(r.config, candidates[0]);
      assert.equal(r.ms, null);
    });
    const r2 = await autotune(fakeGpu("tune-d"), "fam", candidates, time, {
      cacheDir: dir,
      enabled: false,
    });
    assert.equal(r2.source, "default");
    assert.deepEqual(calls, []);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("autotuneCacheDir() prefers MLCD_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache", async () => {
  await withEnv({ MLCD_CACHE_DIR: "/tmp/x1", XDG_CACHE_HOME: "/tmp/x2", HOME: "/tmp/h" }, () => {
    assert.equal(autotuneCacheDir(), "/tmp/x1");
    return Promise.resolve();
  });
  await withEnv({ MLCD_CACHE_DIR: undefined, XDG_CACHE_HOME: "/tmp/x2", HOME: "/tmp/h" }, () => {
    assert.equal(autotuneCacheDir(), "/tmp/x2/mlcd");
    return Promise.resolve();
  });
  await withEnv({ MLCD_CACHE_DIR: undefined, XDG_CACHE_HOME: undefined, HOME: "/tmp/h" }, () => {
    assert.equal(autotuneCacheDir(), "/tmp/h/.cache/mlcd");
    return Promise.resolve();
  });
});

Deno.test("autotune() writes to MLCD_CACHE_DIR when no cacheDir is given", async () => {
  await withDir(async (dir) => {
    await withEnv({ MLCD_CACHE_DIR: `${dir}/nested`, MLCD_AUTOTUNE: undefined }, async () => {
      const r = await autotune(fakeGpu("tune-e"), "fam", candidates, counter().time, {
        repeats: 1,
      });
      assert.equal(r.source, "tuned");
    });
    const file = JSON.parse(await Deno.readTextFile(`${dir}/nested/${AUTOTUNE_CACHE_FILE}`));
    assert.equal(Object.keys(file.entries).length, 1);
  });
});

Deno.test("autotune() ignores a corrupt cache file with one stderr warning and rewrites it", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/${AUTOTUNE_CACHE_FILE}`;
    await Deno.writeTextFile(path, "{ not json");
    const lines = await captureStderr(async () => {
      const r = await autotune(fakeGpu("tune-f"), "fam", candidates, counter().time, {
        cacheDir: dir,
        repeats: 1,
      });
      assert.equal(r.source, "tuned");
      await Deno.writeTextFile(path, "[1, 2]"); // corrupt again: no second warning
      await autotune(fakeGpu("tune-f"), "fam2", candidates, counter().time, {
        cacheDir: dir,
        repeats: 1,
      });
    });
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, /^mlcd: ignoring corrupt autotune cache .*autotune\.json/);
    const file = JSON.parse(await Deno.readTextFile(path));
    assert.equal(file.version, 1);
    assert.deepEqual(Object.keys(file.entries).length, 1);
  });
});

Deno.test("autotune() skips candidates that throw and fails when all do", async () => {
  await withDir(async (dir) => {
    const time = (c: Cfg) =>
      c.rows === 8 ? Promise.reject(new Error("too big")) : Promise.resolve(c.cost);
    const r = await autotune(fakeGpu("tune-g"), "fam", candidates, time, { cacheDir: dir });
    assert.deepEqual(r.config, { rows: 16, cost: 2 });
    assert.equal(r.timings[1]!.ms, null);
    assert.equal(r.timings[1]!.error, "too big");
    await assert.rejects(
      () =>
        autotune(fakeGpu("tune-g"), "famx", candidates, () => Promise.reject(new Error("no")), {
          cacheDir: dir,
        }),
      (e: Error) => {
        assert.match(e.message, /^Every autotune candidate for famx failed: .*"rows":4.*: no/);
        return true;
      },
    );
  });
});

Deno.test("autotune() throws RangeError on no candidates and bad repeats", async () => {
  await assert.rejects(() => autotune(fakeGpu("tune-h"), "fam", [], counter().time), {
    name: "RangeError",
    message: "Expected at least 1 autotune candidate but found 0",
  });
  await assert.rejects(
    () => autotune(fakeGpu("tune-h"), "fam", candidates, counter().time, { repeats: 0 }),
    { name: "RangeError", message: "Expected repeats to be a positive integer but found 0" },
  );
});

Deno.test("TOOLKIT_VERSION matches deno.json", async () => {
  const meta = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(TOOLKIT_VERSION, meta.version);
});

Deno.test("autotune() with timeGpu() picks a working peak workgroup count on the real adapter", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const out = createStorage(gpu, 256 * 64 * 4);
    const r = await autotune(
      gpu,
      "peak_fma_test",
      [{ workgroups: 64 }, { workgroups: 256 }],
      async (c) =>
        (await timeGpu(gpu, (enc) => {
          dispatch(gpu, peakProgram("f32", c.workgroups, 8), [out], enc);
        })).ms / c.workgroups, // time per workgroup: both are valid picks
      { cacheDir: dir, repeats: 1 },
    );
    assert.equal(r.source, "tuned");
    assert.ok(r.timings.every((t) => t.ms !== null && t.ms > 0), JSON.stringify(r.timings));
    assert.ok(r.key.startsWith(`${gpu.info.description}|`));
    out.destroy();
  });
});

Deno.test("autotune() reports where the choice is cached, and null when the cache write failed", async () => {
  await withDir(async (dir) => {
    const ok = await autotune(fakeGpu("tune-w1"), "fam", candidates, counter().time, {
      cacheDir: dir,
      repeats: 1,
    });
    assert.equal(ok.cachedIn, `${dir}/${AUTOTUNE_CACHE_FILE}`);
    const hit = await autotune(fakeGpu("tune-w1"), "fam", candidates, counter().time, {
      cacheDir: dir,
    });
    assert.deepEqual([hit.source, hit.cachedIn], ["cache", `${dir}/${AUTOTUNE_CACHE_FILE}`]);
    await Deno.writeTextFile(`${dir}/file`, "");
    let r: Awaited<ReturnType<typeof autotune<Cfg>>> | undefined;
    const lines = await captureStderr(async () => {
      r = await autotune(fakeGpu("tune-w2"), "fam", candidates, counter().time, {
        cacheDir: `${dir}/file/sub`,
        repeats: 1,
      });
    });
    assert.equal(r!.source, "tuned");
    assert.equal(r!.cachedIn, null);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /cannot write autotune cache/);
    const off = await autotune(fakeGpu("tune-w3"), "fam", candidates, counter().time, {
      enabled: false,
    });
    assert.equal(off.cachedIn, null);
  });
});
