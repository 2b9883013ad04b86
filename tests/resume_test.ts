// Kill -9 during training, --resume, and the final weights equal an uninterrupted run's.
import assert from "node:assert/strict";
import { loadCheckpoint } from "../src/train/checkpoint.ts";
import { pauseEnv, waitForPause } from "./_pause.ts";
import { withDir } from "./_tmp.ts";

const TRAIN = new URL("../src/cli/train.ts", import.meta.url).pathname;
const TINY = [
  "--data",
  "mnist",
  "--limit",
  "512",
  "--classes",
  "16",
  "--l",
  "4",
  "--hidden",
  "32",
  "--embed-dim",
  "16",
  "--batch-size",
  "32",
  "--epochs",
  "2",
  "--warmup-steps",
  "3",
  "--checkpoint-every",
  "4",
  "--kmeans-iters",
  "5",
];

function trainCmd(
  runDir: string,
  extra: string[] = [],
  flags = TINY,
  env: Record<string, string> = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, ...flags, "--run-dir", runDir, ...extra],
    env,
    stdout: "null",
    stderr: "piped",
  });
}

async function runToEnd(runDir: string, extra: string[] = [], flags = TINY): Promise<string> {
  const out = await trainCmd(runDir, extra, flags).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  return err;
}

/** Runs train expecting exit code 2; returns its last stderr line. */
async function refusedRun(runDir: string, extra: string[], flags: string[]): Promise<string> {
  const out = await trainCmd(runDir, extra, flags).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2, err);
  const lines = err.split("\n").filter((l) => l && !l.includes("XDG_RUNTIME_DIR"));
  return lines.at(-1)!;
}

/** Every file of a run dir with its bytes and mtime: a refused command must change nothing. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    const info = await Deno.stat(p);
    const bytes = await Deno.readFile(p);
    out.push(
      `${e.name} ${info.mtime?.getTime()} ${bytes.length} ${
        bytes.reduce((a, b) => (a * 31 + b) >>> 0, 7)
      }`,
    );
  }
  return out.sort();
}

/** The steps recorded in a run's metrics.jsonl, in order. */
async function metricSteps(dir: string): Promise<number[]> {
  const text = await Deno.readTextFile(`${dir}/metrics.jsonl`);
  return text.split("\n").filter((l) => l).map((l) => JSON.parse(l).step);
}

Deno.test("train --resume after kill -9 ends with the uninterrupted run's weights", async () => {
  await withDir(async (base) => {
    await runToEnd(`${base}/a`);
    const full = await loadCheckpoint(`${base}/a`);
    assert.equal(full.manifest.done, true);
    const total = full.manifest.totalSteps;
    assert.equal(total, 32);

    // Issue 13 item 2: a fresh run into a finished run's dir is refused, changing nothing.
    const finished = await snapshot(`${base}/a`);
    assert.match(
      await refusedRun(`${base}/a`, [], TINY),
      /^mlcd train: Refusing to start a new run in .*\/a: it is not empty \(.*checkpoint\.json.*\); continue it with --resume, replace it with --overwrite/,
    );
    assert.deepEqual(await snapshot(`${base}/a`), finished);

    // Start the same run, SIGKILL it where it pauses: right after its second checkpoint
    // (step 8; src/testing/pause_point.ts), not when a log line shows up.
    const marker = `${base}/paused`;
    const child = trainCmd(`${base}/b`, [], TINY, pauseEnv("train-checkpoint#2", marker)).spawn();
    const stderr = new Response(child.stderr).text();
    assert.equal(await waitForPause(marker, child, stderr), "train-checkpoint step 8");
    child.kill("SIGKILL");
    const status = await child.status;
    await stderr;
    assert.equal(status.signal, "SIGKILL");
    const partial = await loadCheckpoint(`${base}/b`);
    assert.equal(partial.manifest.step, 8);
    assert.equal(partial.manifest.done, false);

    // A killed run has logged steps past its checkpoint (and maybe half a line): make sure.
    await Deno.writeTextFile(
      `${base}/b/metrics.jsonl`,
      `{"step":${partial.manifest.step + 1},"loss":1}\n{"step":${partial.manifest.step + 2},"lo`,
      { append: true },
    );

    // Issue 13 items 3 and 6: a flag that differs from the run's record is refused, naming
    // it, and a refused --resume (changed flags or changed data) leaves the run dir as it was.
    const killedRun = await snapshot(`${base}/b`);
    assert.match(
      await refusedRun(`${base}/b`, ["--resume", "--epochs", "3", "--l", "4"], []),
      /^mlcd train: Cannot resume .*\/b with different settings: --epochs 3 \(the run has 2\); --resume needs only --run-dir/,
    );
    const record = await Deno.readTextFile(`${base}/b/run.json`);
    const changed = JSON.parse(record);
    changed.sources.limit = 256; // as if the data had changed since
    await Deno.writeTextFile(`${base}/b/run.json`, JSON.stringify(changed));
    const edited = await snapshot(`${base}/b`);
    assert.match(
      await refusedRun(`${base}/b`, ["--resume"], []),
      /^mlcd train: Cannot resume: the checkpoint in .*\/b was trained on 512 rows of 784 values but the data now has 256 rows of 784/,
    );
    assert.deepEqual(await snapshot(`${base}/b`), edited, "labels.safetensors not rewritten");
    await Deno.writeTextFile(`${base}/b/run.json`, record);
    assert.deepEqual(
      (await snapshot(`${base}/b`)).filter((l) => !l.startsWith("run.json")),
      killedRun.filter((l) => !l.startsWith("run.json")),
    );

    // Item 6: --resume needs only --run-dir: the config and data come from the run dir.
    const err = await runToEnd(`${base}/b`, ["--resume"], []);
    assert.match(err, /pseudo-labels from/);
    // metrics.jsonl was cut back to the checkpoint: every step exactly once.
    assert.deepEqual(
      await metricSteps(`${base}/b`),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    const resumed = await loadCheckpoint(`${base}/b`);
    assert.equal(resumed.manifest.step, total);
    let compared = 0;
    for (const [name, t] of full.tensors) {
      const r = resumed.tensors.get(name);
      assert.ok(r, `missing ${name}`);
      assert.deepEqual(r.shape, t.shape);
      let maxDiff = 0;
      for (let i = 0; i < t.data.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(t.data[i]! - r.data[i]!));
      }
      assert.ok(maxDiff <= 1e-6, `${name} differs by ${maxDiff}`);
      compared++;
    }
    assert.ok(compared >= 3 * 5); // encoder (4) + centers, each with two Adam moments

    // Item 2: --overwrite starts clean: one new run, its steps only.
    await runToEnd(`${base}/a`, ["--overwrite", "--epochs", "1"]);
    const replaced = await loadCheckpoint(`${base}/a`);
    assert.deepEqual([replaced.manifest.step, replaced.manifest.done], [16, true]);
    assert.deepEqual(await metricSteps(`${base}/a`), Array.from({ length: 16 }, (_, i) => i + 1));
  }, "mlcd_resume_");
});

Deno.test("issue 21 item 19: --resume with an invalid checkpoint.json is one line naming the file", async () => {
  await withDir(async (dir) => {
    const { writeNpy } = await import("../src/data/npy.ts");
    await writeNpy(`${dir}/x.npy`, new Float32Array(40 * 6).map((_, i) => Math.sin(i)), [40, 6]);
    await Deno.mkdir(`${dir}/run`);
    const record = {
      format: "mlcd-run",
      formatVersion: 1,
      toolkitVersion: "0.1.0",
      config: { hidden: [8], embedDim: 4, classes: 3, l: 1, epochs: 1, batchSize: 20 },
      sources: { data: [`${dir}/x.npy`], labels: null, limit: null, imageSize: null, column: null },
      createdAt: "2024-01-01T00:00:00Z",
    };
    await Deno.writeTextFile(`${dir}/run/run.json`, JSON.stringify(record));
    await Deno.writeTextFile(`${dir}/run/checkpoint.json`, '{"format": "mlcd-checkpoint", "step":');
    const o = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", TRAIN, "--run-dir", `${dir}/run`, "--resume"],
      stdout: "null",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(o.stderr);
    assert.equal(o.code, 2, err);
    assert.equal(
      err.trim().split("\n").at(-1),
      `mlcd train: Cannot read checkpoint ${dir}/run/checkpoint.json: the manifest is not valid JSON`,
    );
  });
});
