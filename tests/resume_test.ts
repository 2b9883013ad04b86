// Kill -9 during training, --resume, and the final weights equal an uninterrupted run's.
import assert from "node:assert/strict";
import { loadCheckpoint } from "../src/train/checkpoint.ts";

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

function trainCmd(runDir: string, extra: string[] = []): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, ...TINY, "--run-dir", runDir, ...extra],
    stdout: "null",
    stderr: "piped",
  });
}

async function runToEnd(runDir: string, extra: string[] = []): Promise<string> {
  const out = await trainCmd(runDir, extra).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  return err;
}

Deno.test("train --resume after kill -9 ends with the uninterrupted run's weights", async () => {
  const base = await Deno.makeTempDir({ prefix: "mlcd_resume_" });
  try {
    await runToEnd(`${base}/a`);
    const full = await loadCheckpoint(`${base}/a`);
    assert.equal(full.manifest.done, true);
    const total = full.manifest.totalSteps;
    assert.equal(total, 32);

    // Start the same run, SIGKILL it once its second checkpoint is on disk.
    const child = trainCmd(`${base}/b`).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    let killed = false;
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
      if (!killed && /checkpoint step 8 /.test(seen)) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
    const status = await child.status;
    assert.ok(killed, "the run ended before it could be killed:\n" + seen);
    assert.equal(status.signal, "SIGKILL");
    const partial = await loadCheckpoint(`${base}/b`);
    assert.ok(partial.manifest.step >= 8 && partial.manifest.step < total);
    assert.equal(partial.manifest.done, false);

    const err = await runToEnd(`${base}/b`, ["--resume"]);
    assert.match(err, /pseudo-labels from/);
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
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
