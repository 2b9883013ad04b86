// Must show (issue 14): WebDataset shards of real images (MNIST digits as PNG) → vit-tiny
// trained with MLCD through the CLI → its linear probe beats the untrained encoder's; the run's
// report renders. Small on purpose: 300 training digits at 16 px, 4 epochs, on lavapipe.
import assert from "node:assert/strict";
import { writeNpy } from "../src/data/npy.ts";
import { errLines, runDeno } from "./_cli.ts";
import { makeMnistShards } from "./_shards.ts";
import { withDir } from "./_tmp.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const cli = async (args: string[]) => {
  const r = await runDeno([`${ROOT}src/cli/${args[0]}`, ...args.slice(1)]);
  return { code: r.code, out: r.stdout, err: errLines(r.stderr).join("\n") };
};

Deno.test("vit-tiny trained with MLCD on WebDataset shards of MNIST PNGs beats the untrained encoder's linear probe", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/train`);
    await Deno.mkdir(`${dir}/test`);
    const tr = await makeMnistShards(`${dir}/train`, { shards: 2, perShard: 150 });
    const te = await makeMnistShards(`${dir}/test`, {
      shards: 1,
      perShard: 150,
      offset: 300,
      prefix: "t",
    });
    await writeNpy(`${dir}/train.npy`, Uint32Array.from(tr.labels), [300]);
    await writeNpy(`${dir}/test.npy`, Uint32Array.from(te.labels), [150]);
    const run = `${dir}/run`;
    let r = await cli([
      "train.ts",
      "--data",
      `${dir}/train/{00000..00001}.tar`,
      "--preset",
      "vit-tiny",
      "--image-size",
      "16",
      "--classes",
      "10",
      "--l",
      "2",
      "--batch-size",
      "32",
      "--epochs",
      "4",
      "--warmup-steps",
      "5",
      "--lr",
      "0.001",
      "--min-crop-scale",
      "0.8",
      // The margin below was measured with k-means++ pseudo-labels; with 300 digits the trained
      // probe moves by more than the margin from one k-means partition to another of the same
      // objective (k-means||, the "auto" choice since issue 20, gives 0.413 here), so the test
      // pins the initialisation it was measured with.
      "--kmeans-init",
      "kmeans++",
      "--run-dir",
      run,
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /train: 300 images in 2 shard\(s\)/);
    assert.match(r.err, /train: streaming 300 labelled images, 16×16×3/);
    assert.equal(JSON.parse(r.out).step, 36);

    r = await cli([
      "eval.ts",
      "--checkpoint",
      run,
      "--data",
      `${dir}/train`,
      "--labels",
      `${dir}/train.npy`,
      "--test-data",
      `${dir}/test`,
      "--test-labels",
      `${dir}/test.npy`,
      "--baseline",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    const m = JSON.parse(r.out);
    console.error(r.err.split("\n").filter((l) => l.startsWith("|")).join("\n"));
    // The margin: at least 0.05 (8 of the 150 test digits) above the untrained encoder. One
    // digit more, what a strict > accepted, is within the noise of a probe on 150 digits (its
    // standard error near 0.45 is √(0.45·0.55/150) ≈ 0.04). The seeded run on lavapipe gives
    // 0.480 vs 0.393 (13 digits); the other 5 leave room for float differences between devices.
    const margin = 0.05;
    assert.ok(
      m.linearProbeTop1 >= m.baseline.linearProbeTop1 + margin,
      `trained ${m.linearProbeTop1} vs untrained ${m.baseline.linearProbeTop1} (+${margin} needed)`,
    );
    assert.ok(m.raw.linearProbeTop1 > 0.5, "raw pixels row present and sane");

    r = await cli(["report.ts", "--run-dir", run]);
    assert.equal(r.code, 0, r.err);
    const html = await Deno.readTextFile(`${run}/report.html`);
    assert.equal((html.match(/<svg[\s>]/g) ?? []).length, 5);
    if (Deno.env.get("MLCD_KEEP_REPORT")) {
      await Deno.copyFile(`${run}/report.html`, Deno.env.get("MLCD_KEEP_REPORT")!);
    }
  });
});
