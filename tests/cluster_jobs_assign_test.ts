// assign --shard parts end to end through the CLI: concatenated in order, one assign over all rows.
import assert from "node:assert/strict";
import { readNpyArray, writeNpy } from "../src/data/npy.ts";
import { readArrowLabels } from "../src/data/arrow.ts";
import { readParquetLabels } from "../src/data/parquet.ts";
import { randomMatrix } from "./_gpu.ts";
import { assign, pool } from "./_cluster_jobs.ts";
import { writeShards } from "./_shards.ts";
Deno.test("assign --shard parts concatenated in order equal one assign over all rows", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const x = randomMatrix(203, 9, 21);
    await writeShards(`${dir}/shards`, x, [50, 101, 52]);
    await writeNpy(`${dir}/centers.npy`, randomMatrix(17, 9, 22).data, [17, 9]);
    const common = [
      "--input",
      `${dir}/shards`,
      "--centers",
      `${dir}/centers.npy`,
      "--l",
      "4",
      "--variant",
      "registers",
      "--batch-rows",
      "40",
    ];
    const whole = await assign([...common, "--out", `${dir}/all.arrow`]);
    assert.equal(whole.code, 0, whole.stderr);
    const all = await readArrowLabels(`${dir}/all.arrow`);
    const runs = await pool(
      [0, 1, 2].map((i) => () =>
        assign([...common, "--shard", `${i}/3`, "--out", `${dir}/labels`])
      ),
      3,
    );
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    // Parquet by default; without sample keys, `id` holds the global row index.
    const labels: number[] = [], scores: number[] = [], ids: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await readParquetLabels(`${dir}/labels/part-${i}-of-3.parquet`);
      labels.push(...p.indices);
      scores.push(...p.scores);
      ids.push(...(p.ids as BigInt64Array));
    }
    assert.deepEqual(labels, [...all.indices]);
    assert.deepEqual(scores, [...all.scores]);
    assert.deepEqual(ids, Array.from({ length: 203 }, (_, i) => BigInt(i)));

    // --format arrow: part 1 (rows 67..135) with the same labels, scores and ids.
    const arrow = await assign([
      ...common,
      "--shard",
      "1/3",
      "--format",
      "arrow",
      "--out",
      `${dir}/arrow`,
    ]);
    assert.equal(arrow.code, 0, arrow.stderr);
    const a1 = await readArrowLabels(`${dir}/arrow/part-1-of-3.arrow`);
    assert.deepEqual([...a1.indices], [...all.indices.subarray(67 * 4, 135 * 4)]);
    assert.deepEqual([...a1.scores], [...all.scores.subarray(67 * 4, 135 * 4)]);
    assert.deepEqual([...(a1.ids as BigInt64Array)], ids.slice(67, 135));

    // --format npy: labels and scores of part 1 (rows 67..135).
    const npy = await assign([
      ...common,
      "--shard",
      "1/3",
      "--format",
      "npy",
      "--out",
      `${dir}/npy`,
    ]);
    assert.equal(npy.code, 0, npy.stderr);
    const l1 = await readNpyArray(`${dir}/npy/part-1-of-3.npy`);
    const s1 = await readNpyArray(`${dir}/npy/part-1-of-3.scores.npy`);
    assert.deepEqual(l1.shape, [68, 4]);
    assert.deepEqual([...l1.data], [...all.indices.subarray(67 * 4, 135 * 4)]);
    assert.deepEqual([...s1.data], [...all.scores.subarray(67 * 4, 135 * 4)]);
    const m = JSON.parse(await Deno.readTextFile(`${dir}/npy/part-1-of-3.json`));
    assert.deepEqual(m.outputs.map((o: { name: string }) => o.name), [
      "part-1-of-3.npy",
      "part-1-of-3.scores.npy",
    ]);
    assert.equal(m.inputs.length, 4, "three shards and the centers");
    // The part's objective over its rows: the sum of every row's first score.
    let objective = 0;
    for (let r = 0; r < 68; r++) objective += s1.data[r * 4]!;
    assert.equal(m.info.objective, objective);

    // A rerun skips; a Slurm array task finds its part from the environment.
    const again = await assign([...common, "--shard", "auto", "--out", `${dir}/labels`], {
      SLURM_ARRAY_TASK_ID: "2",
      SLURM_ARRAY_TASK_COUNT: "3",
    });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /part 2\/3 already done \(manifest matches\)/);
    const k8s = await assign([
      ...common,
      "--shard",
      "auto",
      "--shards",
      "3",
      "--out",
      `${dir}/labels`,
    ], {
      JOB_COMPLETION_INDEX: "0",
    });
    assert.equal(k8s.code, 0, k8s.stderr);
    assert.match(k8s.stderr, /part 0\/3 already done \(manifest matches\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
