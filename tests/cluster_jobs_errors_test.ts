// The cluster and assign jobs on bad input: exit 2, one line, nothing written.
import assert from "node:assert/strict";
import { writeNpy } from "../src/data/npy.ts";
import { randomMatrix } from "./_gpu.ts";
import { errLines } from "./_cli.ts";
import { assign, cluster, writeShards } from "./_cluster_jobs.ts";
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
        /Expected --format to be parquet, arrow or npy but found csv/,
      ],
      [
        "assign",
        [...labels.slice(0, -1), `${dir}/l.parquet`, "--format", "npy"],
        /Expected --out to end in \.npy for --format npy but found .*l\.parquet$/,
      ],
      [
        "assign",
        [...labels.slice(0, -1), `${dir}/l.npy`, "--format", "arrow"],
        /Expected --out to end in \.arrow, \.feather or \.ipc for --format arrow but found .*l\.npy$/,
      ],
      ["assign", [...labels.slice(0, -2), "--format", "npy"], /Expected --format only with --out/],
      ["assign", [...labels, "--overwrite"], /Expected --overwrite only with --shard/],
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
