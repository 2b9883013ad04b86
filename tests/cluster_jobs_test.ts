// The scale-out jobs end to end through the CLIs: cluster parts, merge, --hierarchical, assign
// parts; reruns, refusals and bad input.
import assert from "node:assert/strict";
import { readNpy, readNpyArray, writeNpy } from "../src/data/npy.ts";
import { readArrowLabels } from "../src/data/arrow.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { randomMatrix, rng } from "./_gpu.ts";
import { errLines, runDeno } from "./_cli.ts";

const CLUSTER = new URL("../src/cli/cluster.ts", import.meta.url).pathname;
const ASSIGN = new URL("../src/cli/assign.ts", import.meta.url).pathname;

// Array-job variables of an enclosing Slurm or Kubernetes job must not leak in (empty = unset).
const NO_ARRAY = { SLURM_ARRAY_TASK_ID: "", SLURM_ARRAY_TASK_COUNT: "", JOB_COMPLETION_INDEX: "" };
const cluster = (args: string[], env: Record<string, string> = {}) =>
  runDeno([CLUSTER, ...args], { env: { ...NO_ARRAY, ...env } });
const assign = (args: string[], env: Record<string, string> = {}) =>
  runDeno([ASSIGN, ...args], { env: { ...NO_ARRAY, ...env } });

/** n rows × d around `c` random unit directions (noise 0.25 per coordinate / √d), shuffled. */
function clustered(n: number, d: number, c: number, seed: number): Matrix {
  const dirs = randomMatrix(c, d, seed);
  const noise = randomMatrix(n, d, seed + 1);
  const r = rng(seed + 2);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const j = Math.floor(r() * c);
    let norm = 0;
    for (let t = 0; t < d; t++) norm += dirs.data[j * d + t]! ** 2;
    for (let t = 0; t < d; t++) {
      data[i * d + t] = dirs.data[j * d + t]! / Math.sqrt(norm) +
        (0.25 / Math.sqrt(d)) * noise.data[i * d + t]!;
    }
  }
  return { data, rows: n, cols: d };
}

/** The flat spherical objective in float64: Σ over rows of the best cosine to a center. */
function objective(x: Matrix, centers: Matrix): number {
  const d = x.cols;
  const unit = (m: Matrix, r: number) => {
    const v = Float64Array.from(m.data.subarray(r * d, (r + 1) * d));
    const s = Math.hypot(...v);
    return v.map((e) => e / s);
  };
  const cs = Array.from({ length: centers.rows }, (_, r) => unit(centers, r));
  let total = 0;
  for (let r = 0; r < x.rows; r++) {
    const v = unit(x, r);
    let best = -Infinity;
    for (const c of cs) {
      let s = 0;
      for (let t = 0; t < d; t++) s += v[t]! * c[t]!;
      best = Math.max(best, s);
    }
    total += best;
  }
  return total;
}

/** Writes `x` as .npy shards of the given row counts: emb_0.npy, emb_1.npy, … */
async function writeShards(dir: string, x: Matrix, sizes: number[]): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  let at = 0;
  for (const [i, s] of sizes.entries()) {
    await writeNpy(`${dir}/emb_${i}.npy`, x.data.slice(at * x.cols, (at + s) * x.cols), [
      s,
      x.cols,
    ]);
    at += s;
  }
  assert.equal(at, x.rows);
}

/** Runs `jobs` at most `width` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]!();
      }
    }),
  );
  return out;
}

// Two runs per k-means (best kept) for parts, merge and flat alike: a single k-means++ run on
// 250 rows lands in a local optimum often enough to make either side lose a few percent.
const KM = ["--niter", "12", "--seed", "7", "--nredo", "2"];

Deno.test("cluster --shard parts then --merge give --hierarchical's centers, within 1 % of flat k-means", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const n = 2000, d = 16, k = 10;
    const x = clustered(n, d, k, 11);
    await writeShards(`${dir}/shards`, x, [700, 300, 450, 550]);
    const parts = `${dir}/parts`;
    const runs = await pool(
      Array.from({ length: 8 }, (_, i) => () =>
        cluster([
          "--input",
          `${dir}/shards`,
          "--k",
          String(k),
          "--shard",
          `${i}/8`,
          "--out",
          parts,
          ...KM,
        ])),
      3,
    );
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    let members = 0;
    for (let i = 0; i < 8; i++) {
      const c = await readNpy(`${parts}/part-${i}-of-8.npy`);
      const counts = await readNpyArray(`${parts}/part-${i}-of-8.counts.npy`);
      assert.deepEqual([c.rows, c.cols], [k, d]);
      assert.ok(counts.data instanceof Uint32Array);
      const rows = Math.floor(((i + 1) * n) / 8) - Math.floor((i * n) / 8);
      assert.equal(counts.data.reduce((a, b) => a + b, 0), rows, `part ${i} counts`);
      members += rows;
      const m = JSON.parse(await Deno.readTextFile(`${parts}/part-${i}-of-8.json`));
      assert.equal(m.kind, "cluster-part");
      assert.deepEqual(m.shard, { index: i, count: 8 });
      assert.equal(m.inputs.length, 4);
      assert.equal(m.params.k1, k);
      assert.equal(m.info.rowStart, Math.floor((i * n) / 8));
    }
    assert.equal(members, n);

    const merge = await cluster([
      "--merge",
      parts,
      "--k",
      String(k),
      "--out",
      `${dir}/centers.npy`,
      ...KM,
    ]);
    assert.equal(merge.code, 0, merge.stderr);
    const hier = await cluster([
      "--input",
      `${dir}/shards`,
      "--k",
      String(k),
      "--hierarchical",
      "8",
      "--out",
      `${dir}/hier.npy`,
      ...KM,
    ]);
    assert.equal(hier.code, 0, hier.stderr);
    const centers = await readNpy(`${dir}/centers.npy`);
    const same = await readNpy(`${dir}/hier.npy`);
    assert.deepEqual([centers.rows, centers.cols], [k, d]);
    assert.deepEqual(same.data, centers.data, "--hierarchical gives the jobs' centers");

    const flat = await cluster([
      "--input",
      `${dir}/shards`,
      "--k",
      String(k),
      "--out",
      `${dir}/flat.npy`,
      ...KM,
    ]);
    assert.equal(flat.code, 0, flat.stderr);
    const objFlat = objective(x, await readNpy(`${dir}/flat.npy`));
    const objHier = objective(x, centers);
    assert.ok(objHier >= 0.99 * objFlat, `hierarchical ${objHier} vs flat ${objFlat}`);
    // The objective can tell centers apart: random centers are far worse.
    assert.ok(objective(x, randomMatrix(k, d, 99)) < 0.9 * objFlat);

    // Reruns with matching manifests skip the work and leave the files alone.
    const before = (await Deno.stat(`${parts}/part-3-of-8.npy`)).mtime?.getTime();
    const again = await cluster([
      "--input",
      `${dir}/shards`,
      "--k",
      String(k),
      "--shard",
      "3/8",
      "--out",
      parts,
      ...KM,
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /part 3\/8 already done \(manifest matches\)/);
    assert.equal((await Deno.stat(`${parts}/part-3-of-8.npy`)).mtime?.getTime(), before);
    const mergeAgain = await cluster([
      "--merge",
      parts,
      "--k",
      String(k),
      "--out",
      `${dir}/centers.npy`,
      ...KM,
    ]);
    assert.equal(mergeAgain.code, 0, mergeAgain.stderr);
    assert.match(mergeAgain.stderr, /merge already done \(manifest matches\)/);

    // Another run's outputs are refused (exit 2, one line) unless --overwrite.
    const other = [
      "--input",
      `${dir}/shards`,
      "--k",
      String(k),
      "--shard",
      "3/8",
      "--out",
      parts,
      "--niter",
      "3",
      "--seed",
      "7",
      "--nredo",
      "2",
    ];
    const refused = await cluster(other);
    assert.equal(refused.code, 2, refused.stderr);
    assert.deepEqual(errLines(refused.stderr).length, 1, refused.stderr);
    assert.match(
      refused.stderr,
      /^mlcd cluster: Refusing to replace the outputs of another run \(.*part-3-of-8\.json: parameter niter 12 ≠ 3\); use --overwrite/m,
    );
    assert.equal((await Deno.stat(`${parts}/part-3-of-8.npy`)).mtime?.getTime(), before);
    const replaced = await cluster([...other, "--overwrite"]);
    assert.equal(replaced.code, 0, replaced.stderr);
    // Now part 3 was made with other parameters: the merge names it.
    const mismatched = await cluster([
      "--merge",
      parts,
      "--k",
      String(k),
      "--out",
      `${dir}/c2.npy`,
    ]);
    assert.equal(mismatched.code, 2, mismatched.stderr);
    assert.deepEqual(errLines(mismatched.stderr), [
      `mlcd cluster: Mismatched part ${parts}/part-3-of-8.npy: parameter niter 3 ≠ 12 (compared with ${parts}/part-0-of-8.npy)`,
    ]);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "centers.json",
      "centers.npy",
      "flat.npy",
      "hier.json",
      "hier.npy",
      "parts",
      "shards",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

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
    const labels: number[] = [], scores: number[] = [], ids: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await readArrowLabels(`${dir}/labels/part-${i}-of-3.arrow`);
      labels.push(...p.indices);
      scores.push(...p.scores);
      ids.push(...(p.ids as BigInt64Array));
    }
    assert.deepEqual(labels, [...all.indices]);
    assert.deepEqual(scores, [...all.scores]);
    assert.deepEqual(ids, Array.from({ length: 203 }, (_, i) => BigInt(i)));

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

Deno.test("cluster and assign jobs exit 2 with one line for bad input and write nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const x = randomMatrix(40, 3, 5);
    await writeShards(`${dir}/shards`, x, [20, 20]);
    await writeNpy(`${dir}/centers.npy`, randomMatrix(4, 3, 6).data, [4, 3]);
    await Deno.mkdir(`${dir}/empty`);
    const zero = randomMatrix(4, 3, 6);
    zero.data.fill(0, 6, 9);
    await writeNpy(`${dir}/zero.npy`, zero.data, [4, 3]);
    // A parts directory with part 1 of 3 missing, and one with a duplicated part.
    for (const name of ["gap", "dup"]) {
      for (const i of [0, 2]) {
        const r = await cluster([
          "--input",
          `${dir}/shards`,
          "--k",
          "2",
          "--niter",
          "2",
          "--shard",
          `${i}/3`,
          "--out",
          `${dir}/${name}`,
        ]);
        assert.equal(r.code, 0, r.stderr);
      }
    }
    const r1 = await cluster([
      "--input",
      `${dir}/shards`,
      "--k",
      "2",
      "--niter",
      "2",
      "--shard",
      "1/3",
      "--out",
      `${dir}/dup`,
    ]);
    assert.equal(r1.code, 0, r1.stderr);
    await Deno.mkdir(`${dir}/full`);
    for (const e of Deno.readDirSync(`${dir}/dup`)) {
      await Deno.copyFile(`${dir}/dup/${e.name}`, `${dir}/full/${e.name}`);
    }
    await Deno.copyFile(`${dir}/dup/part-2-of-3.npy`, `${dir}/dup/part-02-of-3.npy`);
    const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    const slurm = { SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "4" };
    const part = ["--input", `${dir}/shards`, "--k", "2", "--out", `${dir}/p`];
    const labels = [
      "--input",
      `${dir}/shards`,
      "--centers",
      `${dir}/centers.npy`,
      "--l",
      "2",
      "--out",
      `${dir}/l`,
    ];
    const cases: [string, string[], RegExp, Record<string, string>?][] = [
      [
        "cluster",
        [...part, "--shard", "3/2"],
        /Expected --shard i\/N with 0 ≤ i < N but found 3\/2/,
      ],
      ["cluster", [...part, "--shard", "0/0"], /Expected --shard i\/N with N ≥ 1 but found 0\/0/],
      ["cluster", [...part, "--shard", "a/b"], /Expected --shard to be i\/N .* but found a\/b/],
      ["assign", [...labels, "--shard", "3/2"], /found 3\/2/],
      ["assign", [...labels, "--shard", "a/b"], /found a\/b/],
      [
        "cluster",
        [...part, "--shard", "auto"],
        /Expected --shard auto to run in a Slurm array job/,
      ],
      [
        "assign",
        [...labels, "--shard", "auto"],
        /Expected --shard auto to run in a Slurm array job/,
      ],
      [
        "cluster",
        [...part, "--shard", "auto"],
        /SLURM_ARRAY_TASK_ID below the part count 4 .* found 5/,
        { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "4" },
      ],
      [
        "cluster",
        [...part, "--shard", "1/4", "--merge", `${dir}/gap`],
        /Expected one of --shard, --merge and --hierarchical/,
      ],
      [
        "cluster",
        [...part, "--shard", "1/4", "--assignments", `${dir}/a.npy`],
        /Expected no --assignments with --shard/,
      ],
      ["cluster", [...part, "--shards", "4"], /Expected --shards only with --shard auto/],
      ["cluster", [...part, "--shard", "0/2", "--resume"], /Expected no --resume with --shard/],
      [
        "cluster",
        ["--merge", `${dir}/empty`, "--k", "2", "--out", `${dir}/c.npy`],
        /Expected part-<i>-of-<N>\.npy files in .*empty but found none/,
      ],
      [
        "cluster",
        ["--merge", `${dir}/nothere`, "--k", "2", "--out", `${dir}/c.npy`],
        /Expected --merge .*nothere to be a directory of parts but found none/,
      ],
      [
        "cluster",
        ["--merge", `${dir}/gap`, "--k", "2", "--out", `${dir}/c.npy`],
        /Missing part .*gap\/part-1-of-3\.npy: found 2 of 3 parts/,
      ],
      [
        "cluster",
        ["--merge", `${dir}/dup`, "--k", "2", "--out", `${dir}/c.npy`],
        /Duplicated part 2 of 3: .*part-02-of-3\.npy and .*part-2-of-3\.npy/,
      ],
      ["cluster", [
        "--merge",
        `${dir}/dup`,
        "--merge",
        `${dir}/gap`,
        "--k",
        "2",
        "--out",
        `${dir}/c.npy`,
      ], /Duplicated part/],
      [
        "cluster",
        ["--merge", `${dir}/gap`, "--k", "2", "--out", `${dir}/c.arrow`],
        /Expected --out to end in \.npy with --merge/,
      ],
      ["cluster", [
        "--merge",
        `${dir}/gap`,
        "--input",
        `${dir}/shards`,
        "--k",
        "2",
        "--out",
        `${dir}/c.npy`,
      ], /Expected no --input with --merge/],
      ["cluster", [
        "--input",
        `${dir}/shards`,
        "--k",
        "2",
        "--hierarchical",
        "0",
        "--out",
        `${dir}/c.npy`,
      ], /Expected --hierarchical to be an integer ≥ 1 but found 0/],
      [
        "cluster",
        ["--input", `${dir}/shards`, "--k", "2", "--k1", "3", "--out", `${dir}/c.npy`],
        /Expected --k1 only with/,
      ],
      [
        "assign",
        [...labels, "--shard", "0/2", "--format", "csv"],
        /Expected --format to be arrow, parquet or npy but found csv/,
      ],
      ["assign", [...labels, "--format", "npy"], /Expected --format only with --shard/],
      ["assign", [...labels, "--shards", "3"], /Expected --shards only with --shard auto/],
      [
        "assign",
        [
          "--input",
          `${dir}/shards`,
          "--centers",
          `${dir}/zero.npy`,
          "--shard",
          "0/2",
          "--l",
          "2",
          "--out",
          `${dir}/l`,
        ],
        /Cannot L2-normalise .*zero\.npy for cosine similarity: row 2 is all zeros$/,
      ],
      [
        "cluster",
        ["--merge", `${dir}/full`, "--k", "7", "--out", `${dir}/c.npy`],
        /Expected --k to be at most the number of part centroids with members \(6\) but found 7/,
      ],
      [
        "cluster",
        [
          "--input",
          `${dir}/shards`,
          "--k",
          "9",
          "--k1",
          "2",
          "--hierarchical",
          "4",
          "--out",
          `${dir}/c.npy`,
        ],
        /Expected --k to be at most min\(rows, N × k1\) = 8 but found 9/,
      ],
      [
        "cluster",
        ["--input", `${dir}/shards`, "--k", "2", "--shard", "0/2", "--out", `${dir}/shards`],
        /Refusing to write .*shards\/part-0-of-2\.npy into the input directory .*shards, where it would be read as a shard/,
      ],
      [
        "cluster",
        [
          "--input",
          `${dir}/shards/`,
          "--k",
          "2",
          "--hierarchical",
          "2",
          "--out",
          `${dir}/shards/../shards/c.npy`,
        ],
        /Refusing to write .*c\.npy into the input directory/,
      ],
      [
        "cluster",
        [
          "--input",
          `${dir}/shards/emb_0.npy`,
          "--k",
          "2",
          "--hierarchical",
          "2",
          "--out",
          `${dir}/shards/emb_0.npy`,
        ],
        /Refusing to write .*emb_0\.npy: it is the input/,
      ],
      [
        "cluster",
        ["--merge", `${dir}/gap`, "--k", "2", "--out", `${dir}/gap/part-1-of-3.npy`],
        /Refusing to write the merged centers to .*part-1-of-3\.npy, a part file name/,
      ],
      [
        "assign",
        [...labels.slice(0, -1), `${dir}/centers.npy`, "--shard", "0/2"],
        /Expected --out .*centers\.npy to be a directory but found a file/,
      ],
      [
        "assign",
        [...labels, "--shard", "auto"],
        /Expected --shards N with --shard auto in a Kubernetes Indexed Job/,
        { JOB_COMPLETION_INDEX: "1" },
      ],
    ];
    for (const [cmd, args, message, env] of cases) {
      const r = await (cmd === "cluster" ? cluster : assign)(args, env);
      const what = `${cmd} ${args.join(" ")}`;
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      const lines = errLines(r.stderr);
      assert.equal(lines.length, 1, `${what}: ${r.stderr}`);
      assert.match(lines[0]!, new RegExp(`^mlcd ${cmd}: `));
      assert.match(lines[0]!, message, what);
    }
    // The Slurm environment is read when set.
    const ok = await cluster([...part, "--shard", "auto", "--niter", "1"], slurm);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /part 1\/4/);
    const after = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(after, [...before, "p"].sort(), "nothing written by the refused commands");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cluster --merge weights each part centroid by its member count", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Part 0: 90 rows near e0 and 10 near e1; part 1: 50 near e2 and 50 near e3. With k = 1
    // the merged center is the count-weighted mean direction of the four part centroids.
    const d = 5, n = 200;
    const noise = randomMatrix(n, d, 3);
    const data = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const axis = i < 90 ? 0 : i < 100 ? 1 : i < 150 ? 2 : 3;
      for (let t = 0; t < d; t++) data[i * d + t] = 0.05 * noise.data[i * d + t]!;
      data[i * d + axis] = data[i * d + axis]! + 1;
    }
    await writeShards(`${dir}/shards`, { data, rows: n, cols: d }, [120, 80]);
    for (const i of [0, 1]) {
      const r = await cluster([
        "--input",
        `${dir}/shards`,
        "--k",
        "2",
        "--shard",
        `${i}/2`,
        "--out",
        `${dir}/parts`,
        "--niter",
        "10",
      ]);
      assert.equal(r.code, 0, r.stderr);
    }
    const want = new Float64Array(d);
    for (const i of [0, 1]) {
      const c = await readNpy(`${dir}/parts/part-${i}-of-2.npy`);
      const counts = (await readNpyArray(`${dir}/parts/part-${i}-of-2.counts.npy`)).data;
      for (let j = 0; j < c.rows; j++) {
        for (let t = 0; t < d; t++) want[t] = want[t]! + counts[j]! * c.data[j * d + t]!;
      }
    }
    const norm = Math.hypot(...want);
    const r = await cluster([
      "--merge",
      `${dir}/parts`,
      "--k",
      "1",
      "--niter",
      "3",
      "--out",
      `${dir}/c.npy`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const got = await readNpy(`${dir}/c.npy`);
    for (let t = 0; t < d; t++) {
      assert.ok(Math.abs(got.data[t]! - want[t]! / norm) < 1e-4, `${got.data} vs ${want}`);
    }
    // e0 (90 members) outweighs e1 (10): an unweighted mean would give them the same share.
    assert.ok(got.data[0]! > 2 * got.data[1]!, `${got.data}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cluster --shard killed mid-run resumes from its checkpoint to the same outputs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeShards(`${dir}/shards`, clustered(3000, 16, 30, 5), [1500, 1500]);
    const args = (out: string) => [
      CLUSTER,
      "--input",
      `${dir}/shards`,
      "--k",
      "30",
      "--shard",
      "1/2",
      "--niter",
      "80",
      "--out",
      out,
    ];
    const clean = await runDeno(args(`${dir}/a`), { env: NO_ARRAY });
    assert.equal(clean.code, 0, clean.stderr);
    // Kill -9 once the first checkpoint is on disk, then run the same command again.
    await Deno.mkdir(`${dir}/b`);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...args(`${dir}/b`)],
      env: NO_ARRAY,
      stdout: "null",
      stderr: "null",
    }).spawn();
    let seen = false;
    for (let t = 0; t < 3000 && !seen; t++) {
      seen = [...Deno.readDirSync(`${dir}/b`)].some((e) => e.name.endsWith(".ckpt"));
      if (!seen) await new Promise((r) => setTimeout(r, 10));
    }
    child.kill("SIGKILL");
    const status = await child.status;
    assert.ok(seen, "a checkpoint appeared");
    assert.equal(status.signal, "SIGKILL", "killed before it finished");
    await Deno.writeFile(`${dir}/b/part-1-of-2.npy.tmp-0a0b0c`, new Uint8Array(3)); // a torn write
    // ...and a checkpoint write torn by the kill (what a SIGKILL mid-checkpoint leaves)
    const ckpt = [...Deno.readDirSync(`${dir}/b`)].find((e) => e.name.endsWith(".ckpt"))!.name;
    await Deno.writeFile(`${dir}/b/${ckpt}.tmp-0123456789ab`, new Uint8Array(5));
    const again = await runDeno(args(`${dir}/b`), { env: NO_ARRAY });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /Resuming from .*part-1-of-2\.[0-9a-f]{12}\.ckpt/);
    assert.match(again.stderr, /removed stale temporary file .*part-1-of-2\.npy\.tmp-0a0b0c/);
    assert.match(again.stderr, /removed stale temporary file .*\.ckpt\.tmp-0123456789ab/);
    for (const name of ["part-1-of-2.npy", "part-1-of-2.counts.npy"]) {
      assert.deepEqual(
        await Deno.readFile(`${dir}/b/${name}`),
        await Deno.readFile(`${dir}/a/${name}`),
        name,
      );
    }
    const left = [...Deno.readDirSync(`${dir}/b`)].map((e) => e.name).sort();
    assert.deepEqual(left, ["part-1-of-2.counts.npy", "part-1-of-2.json", "part-1-of-2.npy"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
