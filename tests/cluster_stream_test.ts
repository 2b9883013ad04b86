// `cluster --assignments` streams the final assignments to disk batch by batch (kmeans'
// onAssignments), and a run that fails part-way leaves no output and no temporary file.
import assert from "node:assert/strict";
import { openFileAtomic } from "../src/fs/atomic.ts";
import { readNpyArray, writeNpy } from "../src/data/npy.ts";
import { openRowSource } from "../src/data/row_source.ts";
import { kmeans } from "../src/kmeans/kmeans.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { runDeno } from "./_cli.ts";
import { withDir } from "./_tmp.ts";

const CLI = new URL("../src/cli/cluster.ts", import.meta.url).pathname;

/** Three shards of odd sizes (rows 0–122, 123–345, 346–400), d = 9. */
async function shards(dir: string, nanAt?: number): Promise<string[]> {
  const x = randomMatrix(401, 9, 31);
  if (nanAt !== undefined) x.data[nanAt * 9 + 4] = NaN;
  const cuts = [0, 123, 346, 401];
  const files: string[] = [];
  for (let i = 0; i < 3; i++) {
    const f = `${dir}/emb_${i}.npy`;
    await writeNpy(f, x.data.subarray(cuts[i]! * 9, cuts[i + 1]! * 9), [
      cuts[i + 1]! - cuts[i]!,
      9,
    ]);
    files.push(f);
  }
  return files;
}

// 5 × 16 = 80 training rows of 401: the final pass streams every row from the files.
const OPTIONS = {
  k: 5,
  niter: 4,
  seed: 7,
  maxPointsPerCentroid: 16,
  variant: "registers",
} as const;

Deno.test("kmeans onAssignments: contiguous batches in row order, equal to the kept assignments", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const files = await shards(dir);
    const kept = await kmeans(gpu, await openRowSource(files), { ...OPTIONS, batchRows: 50 });
    const starts: number[] = [];
    const parts: Uint32Array[] = [];
    const streamed = await kmeans(gpu, await openRowSource(files), {
      ...OPTIONS,
      batchRows: 50,
      keepAssignments: false,
      onAssignments: (a, rowStart) => {
        starts.push(rowStart);
        parts.push(a.slice());
      },
    });
    assert.equal(streamed.assignments.length, 0);
    // Batches of at most 50 rows; a batch does not cross a file here, so 3 + 5 + 2 batches.
    let at = 0;
    for (const [i, s] of starts.entries()) {
      assert.equal(s, at, `batch ${i} starts at row ${s}`);
      assert.ok(parts[i]!.length >= 1 && parts[i]!.length <= 50);
      at += parts[i]!.length;
    }
    assert.equal(at, 401);
    assert.ok(starts.length >= 9, `${starts.length} batches`);
    const all = new Uint32Array(401);
    parts.forEach((p, i) => all.set(p, starts[i]!));
    assert.deepEqual(all, kept.assignments);
    assert.deepEqual(streamed.counts, kept.counts);

    // All rows on the GPU (a Matrix): one call with every row.
    const x = randomMatrix(37, 4, 3);
    const calls: [number, number][] = [];
    const m = await kmeans(gpu, x, {
      k: 3,
      niter: 2,
      onAssignments: (a, rowStart) => void calls.push([rowStart, a.length]),
    });
    assert.deepEqual(calls, [[0, 37]]);
    assert.equal(m.assignments.length, 37);
  });
});

Deno.test("cluster --assignments streamed to disk equals kmeans' in-memory assignments", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const inDir = `${dir}/in`, out = `${dir}/out`;
    await Deno.mkdir(inDir);
    await Deno.mkdir(out);
    const files = await shards(inDir);
    const r = await runDeno([
      CLI,
      "--input",
      inDir,
      "--k",
      "5",
      "--niter",
      "4",
      "--seed",
      "7",
      "--max-points-per-centroid",
      "16",
      "--variant",
      "registers",
      "--batch-rows",
      "50",
      "--out",
      `${out}/c.npy`,
      "--assignments",
      `${out}/a.npy`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const want = await kmeans(gpu, await openRowSource(files), { ...OPTIONS, batchRows: 50 });
    const got = await readNpyArray(`${out}/a.npy`);
    assert.deepEqual(got.shape, [401]);
    assert.ok(got.data instanceof Uint32Array);
    assert.deepEqual(got.data, want.assignments);
    const head = (await Deno.stat(`${out}/a.npy`)).size - 401 * 4;
    assert.ok(head > 0 && head % 64 === 0, `header of ${head} bytes`);
    assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), ["a.npy", "c.npy"]);
  });
});

Deno.test("cluster --assignments: a run that fails during the streamed pass leaves nothing", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const inDir = `${dir}/in`, out = `${dir}/out`;
    await Deno.mkdir(inDir);
    await Deno.mkdir(out);
    // A NaN in the last shard, in a row the training sample does not hold: the run fails
    // only when the final pass reaches it, after earlier batches were written.
    const files = await shards(inDir, 396);
    const batches: number[] = [];
    await assert.rejects(
      kmeans(gpu, await openRowSource(files), {
        ...OPTIONS,
        batchRows: 50,
        keepAssignments: false,
        onAssignments: (_a, rowStart) => void batches.push(rowStart),
      }),
      /Expected finite values in .*emb_2\.npy but found NaN at row 50, column 4/,
    );
    assert.ok(batches.length >= 5, `the failure came after ${batches.length} batches`);
    const r = await runDeno([
      CLI,
      "--input",
      inDir,
      "--k",
      "5",
      "--niter",
      "4",
      "--seed",
      "7",
      "--max-points-per-centroid",
      "16",
      "--batch-rows",
      "50",
      "--out",
      `${out}/c.npy`,
      "--assignments",
      `${out}/a.npy`,
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^mlcd cluster: Expected finite values in .*emb_2\.npy .* row 50/m);
    assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), [], "no output, no temp");
  });
});

Deno.test("openFileAtomic: nothing at the path until commit; abort removes the partial file", async () => {
  await withDir(async (dir) => {
    const enc = new TextEncoder();
    const a = await openFileAtomic(`${dir}/a.bin`);
    await a.write(enc.encode("part"));
    const names = () => [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(names().map((n) => n.replace(/[0-9a-f]{12}$/, "X")), ["a.bin.tmp-X"]);
    await a.abort();
    await a.abort(); // twice is fine
    assert.deepEqual(names(), []);
    await assert.rejects(a.write(enc.encode("x")), /Cannot write .*a\.bin: already/);

    await Deno.writeTextFile(`${dir}/b.bin`, "old");
    const b = await openFileAtomic(`${dir}/b.bin`);
    await b.write(enc.encode("new "));
    await b.write(enc.encode("content"));
    assert.equal(await Deno.readTextFile(`${dir}/b.bin`), "old", "untouched until commit");
    await b.commit();
    assert.equal(await Deno.readTextFile(`${dir}/b.bin`), "new content");
    assert.deepEqual(names(), ["b.bin"]);

    await assert.rejects(openFileAtomic(`${dir}/missing/c.bin`), (e: Error) => {
      assert.ok(e instanceof Deno.errors.NotFound);
      assert.match(e.message, /^Cannot write .*missing\/c\.bin/);
      assert.doesNotMatch(e.message, /tmp-/);
      return true;
    });
  });
});
