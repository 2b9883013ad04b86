// `train` on the command line: the warm-up warning, and training a finished run further
// (--resume --extend --epochs N), with the learning rate on the cosine decay over the new total.
import assert from "node:assert/strict";
import { errLines, runDeno } from "./_cli.ts";
import { withDir } from "./_tmp.ts";
import { randomMatrix } from "./_gpu.ts";
import { writeNpy } from "../src/data/npy.ts";
import { learningRate } from "../src/train/adamw.ts";

const TRAIN = new URL("../src/cli/train.ts", import.meta.url).pathname;

/** 64 rows of 6 values, 4 steps of 16 per epoch. */
async function data(dir: string): Promise<string> {
  const x = randomMatrix(64, 6, 3);
  await writeNpy(`${dir}/x.npy`, x.data, [x.rows, x.cols]);
  return `${dir}/x.npy`;
}

const SMALL = [
  "--classes",
  "4",
  "--l",
  "2",
  "--batch-size",
  "16",
  "--hidden",
  "8",
  "--embed-dim",
  "4",
  "--kmeans-iters",
  "2",
];

async function train(args: string[]) {
  const r = await runDeno([TRAIN, ...args]);
  return { code: r.code, out: r.stdout, err: errLines(r.stderr) };
}

async function metrics(runDir: string): Promise<{ step: number; lr: number }[]> {
  return (await Deno.readTextFile(`${runDir}/metrics.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
}

Deno.test("train warns when --warmup-steps is not shorter than the run, naming the flag", async () => {
  await withDir(async (dir) => {
    const x = await data(dir);
    const r = await train([
      "--data",
      x,
      "--run-dir",
      `${dir}/r`,
      "--epochs",
      "1",
      "--warmup-steps",
      "100",
      ...SMALL,
    ]);
    assert.equal(r.code, 0, r.err.join("\n"));
    const warned = r.err.filter((l) => l.includes("--warmup-steps 100 is not shorter"));
    assert.equal(warned.length, 1, r.err.join("\n"));
    assert.match(warned[0]!, /^train: --warmup-steps 100 is not shorter than the run's 4 steps/);
    // "auto" (the default) fits the run: no warning.
    const auto = await train(["--data", x, "--run-dir", `${dir}/a`, "--epochs", "1", ...SMALL]);
    assert.equal(auto.code, 0, auto.err.join("\n"));
    assert.ok(!auto.err.some((l) => l.includes("not shorter")), auto.err.join("\n"));
  });
});

Deno.test("train --resume --extend --epochs N trains a finished run further; without --extend the refusal says how", async () => {
  await withDir(async (dir) => {
    const x = await data(dir);
    const run = `${dir}/r`;
    const first = await train([
      "--data",
      x,
      "--run-dir",
      run,
      "--epochs",
      "2",
      "--warmup-steps",
      "2",
      "--json",
      ...SMALL,
    ]);
    assert.equal(first.code, 0, first.err.join("\n"));
    assert.equal(JSON.parse(first.out).step, 8);
    const created = JSON.parse(await Deno.readTextFile(`${run}/run.json`)).createdAt;

    const refused = await train(["--run-dir", run, "--resume", "--epochs", "4"]);
    assert.equal(refused.code, 2);
    assert.equal(refused.err.length, 1, refused.err.join("\n"));
    assert.match(
      refused.err[0]!,
      /^mlcd train: Cannot resume .* --epochs 4 \(the run has 2\); --resume needs only --run-dir; to train it further, to 4 epochs, add --extend/,
    );
    for (
      const [args, message] of [
        [["--extend", "--epochs", "4"], /^mlcd train: Expected --extend with --resume/],
        [
          ["--resume", "--extend"],
          /^mlcd train: Expected --epochs larger than the run's 2 with --extend but found none/,
        ],
        [["--resume", "--extend", "--epochs", "2"], /found 2$/],
        [
          ["--resume", "--extend", "--epochs", "4", "--lr", "0.1"],
          /--lr 0\.1 \(the run has 0\.001\)/,
        ],
      ] as const
    ) {
      const r = await train(["--run-dir", run, ...args]);
      assert.equal(r.code, 2, r.err.join("\n"));
      assert.match(r.err.at(-1)!, message);
    }

    const more = await train(["--run-dir", run, "--resume", "--extend", "--epochs", "4", "--json"]);
    assert.equal(more.code, 0, more.err.join("\n"));
    assert.equal(JSON.parse(more.out).step, 16);
    assert.ok(more.err.some((l) => /^train: training .* further, to 4 epochs/.test(l)));
    const record = JSON.parse(await Deno.readTextFile(`${run}/run.json`));
    assert.equal(record.config.epochs, 4);
    assert.equal(record.createdAt, created);
    // Each step once; from step 9 on, the cosine decay runs over 16 steps, not 8.
    const m = await metrics(run);
    assert.deepEqual(m.map((s) => s.step), Array.from({ length: 16 }, (_, i) => i + 1));
    for (const s of m.slice(8)) {
      assert.ok(Math.abs(s.lr - learningRate(s.step - 1, 16, 2, 1e-3)) < 1e-12, String(s.step));
    }
    assert.ok(m[8]!.lr > m[7]!.lr, "the learning rate steps up from the old schedule's end");
    // The extended run is a run like any other: a plain --resume of it has nothing left to do.
    const again = await train(["--run-dir", run, "--resume", "--json"]);
    assert.equal(again.code, 0, again.err.join("\n"));
    assert.equal(JSON.parse(again.out).step, 16);
  });
});
