// kill -9 during `deno task cluster`, --resume, and the centroids and assignments equal an
// uninterrupted run's, bit for bit.
import assert from "node:assert/strict";
import { writeArrowEmbeddings, writeNpy } from "../src/data/mod.ts";
import { randomMatrix } from "./_gpu.ts";
import { runDeno } from "./_cli.ts";
import { pauseEnv, waitForPause } from "./_pause.ts";
import { withDir } from "./_tmp.ts";

const CLI = new URL("../src/cli/cluster.ts", import.meta.url).pathname;

Deno.test("cluster --resume after kill -9 ends with the uninterrupted run's centroids", async () => {
  await withDir(async (dir) => {
    const x = randomMatrix(12000, 24, 31);
    const part = (a: number, b: number) => ({
      data: x.data.slice(a * 24, b * 24),
      rows: b - a,
      cols: 24,
    });
    await writeNpy(`${dir}/emb_0.npy`, part(0, 5000).data, [5000, 24]);
    await writeArrowEmbeddings(`${dir}/emb_1.arrow`, part(5000, 7000));
    await writeNpy(`${dir}/emb_2.npy`, part(7000, 12000).data, [5000, 24], { dtype: "f2" });
    const w = new Float32Array(12000).map((_, i) => 1 + (i % 4));
    await writeNpy(`${dir}/w.npy`, w, [12000]);
    const args = (tag: string) => [
      "--input",
      `${dir}/emb_0.npy`,
      "--input",
      `${dir}/emb_1.arrow`,
      "--input",
      `${dir}/emb_2.npy`,
      "--k",
      "60",
      "--niter",
      "80",
      "--max-points-per-centroid",
      "150",
      "--weights",
      `${dir}/w.npy`,
      "--variant",
      "registers",
      "--batch-rows",
      "3000",
      "--checkpoint",
      `${dir}/${tag}.ckpt`,
      "--checkpoint-every",
      "2",
      "--out",
      `${dir}/${tag}.c.npy`,
      "--assignments",
      `${dir}/${tag}.a.npy`,
    ];
    const whole = await runDeno([CLI, ...args("a")]);
    assert.equal(whole.code, 0, whole.stderr);
    assert.match(whole.stderr, /ETA/);

    // The same run, killed with SIGKILL where it pauses: right after writing its third
    // checkpoint (6 iterations done; src/testing/pause_point.ts), not when a log line shows up.
    const marker = `${dir}/paused`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, ...args("b")],
      env: pauseEnv("kmeans-checkpoint#3", marker),
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    assert.match(await waitForPause(marker, child, stderr), /^kmeans-checkpoint .*\/b\.ckpt$/);
    child.kill("SIGKILL");
    const status = await child.status;
    await stderr;
    assert.equal(status.signal, "SIGKILL");
    await assert.rejects(() => Deno.stat(`${dir}/b.c.npy`), Deno.errors.NotFound);

    const resumed = await runDeno([CLI, ...args("b"), "--resume"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /Resuming from .*b\.ckpt at run 1\/1, iteration 6\n/);
    assert.doesNotMatch(resumed.stderr, /iter +0 /, "iterations before the checkpoint rerun");
    assert.deepEqual(await Deno.readFile(`${dir}/b.c.npy`), await Deno.readFile(`${dir}/a.c.npy`));
    assert.deepEqual(await Deno.readFile(`${dir}/b.a.npy`), await Deno.readFile(`${dir}/a.a.npy`));
  }, "mlcd_cluster_resume_");
});
