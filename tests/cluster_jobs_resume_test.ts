// cluster --shard killed mid-run resumes from its checkpoint to the same outputs.
import assert from "node:assert/strict";
import { runDeno } from "./_cli.ts";
import { pauseEnv, waitForPause } from "./_pause.ts";
import { CLUSTER, NO_ARRAY } from "./_cluster_jobs.ts";
import { clustered } from "./_gpu.ts";
import { writeShards } from "./_shards.ts";
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
    // Kill -9 where it pauses, right after its first checkpoint (src/testing/pause_point.ts),
    // then run the same command again.
    await Deno.mkdir(`${dir}/b`);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...args(`${dir}/b`)],
      env: { ...NO_ARRAY, ...pauseEnv("kmeans-checkpoint", `${dir}/paused`) },
      stdout: "null",
      stderr: "null",
    }).spawn();
    assert.match(
      await waitForPause(`${dir}/paused`, child),
      /\/b\/part-1-of-2\.[0-9a-f]{12}\.ckpt$/,
    );
    child.kill("SIGKILL");
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL", "killed before it finished");
    await Deno.writeFile(`${dir}/b/part-1-of-2.npy.tmp-0a0b0c0d0e0f`, new Uint8Array(3)); // a torn write
    // ...and a checkpoint write torn by the kill (what a SIGKILL mid-checkpoint leaves)
    const ckpt = [...Deno.readDirSync(`${dir}/b`)].find((e) => e.name.endsWith(".ckpt"))!.name;
    await Deno.writeFile(`${dir}/b/${ckpt}.tmp-0123456789ab`, new Uint8Array(5));
    const again = await runDeno(args(`${dir}/b`), { env: NO_ARRAY });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /Resuming from .*part-1-of-2\.[0-9a-f]{12}\.ckpt/);
    assert.match(again.stderr, /removed stale temporary file .*part-1-of-2\.npy\.tmp-0a0b0c0d0e0f/);
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
