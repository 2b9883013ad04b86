// --device on every GPU command: one flag definition (src/cli/_device_flag.ts), listed in each
// --help, passed to createGpu({ device }); a GPU this node does not have is one line, exit 2.
import assert from "node:assert/strict";
import { writeNpy } from "../src/data/npy.ts";
import { randomMatrix } from "./_gpu.ts";
import { errLines, runDeno } from "./_cli.ts";
import { withDir } from "./_tmp.ts";

const cli = (name: string) => new URL(`../src/cli/${name}.ts`, import.meta.url).pathname;
const COMMANDS = ["cluster", "assign", "train", "eval", "embed", "demo"];

Deno.test("every GPU command lists --device in its help", async () => {
  for (const name of COMMANDS) {
    const r = await runDeno([cli(name), "--help"]);
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.match(r.stdout, /--device D +the GPU on a multi-GPU node: an index/, name);
  }
});

Deno.test("--device naming no GPU of this node is one line and exit 2, before any output", async () => {
  await withDir(async (dir) => {
    await writeNpy(`${dir}/x.npy`, randomMatrix(30, 4, 1).data, [30, 4]);
    const runs: [string, string[]][] = [
      ["cluster", ["--input", `${dir}/x.npy`, "--k", "3", "--out", `${dir}/c.npy`]],
      ["cluster", ["--input", `${dir}/x.npy`, "--k", "3", "--shard", "0/2", "--out", `${dir}/p`]],
      ["assign", ["--input", `${dir}/x.npy`, "--centers", `${dir}/x.npy`, "--out", `${dir}/l.npy`]],
      ["demo", ["--out", `${dir}/demo`]],
    ];
    for (const [name, args] of runs) {
      const r = await runDeno([cli(name), ...args, "--device", "GPU-not-on-this-node"]);
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      const lines = errLines(r.stderr).filter((l) => l.startsWith(`mlcd ${name}:`));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0]!,
        /Expected device to name a GPU of this node .*"GPU-not-on-this-node"/,
      );
    }
    for (const f of ["c.npy", "l.npy", "p/part-0-of-2.npy"]) {
      await assert.rejects(() => Deno.stat(`${dir}/${f}`), Deno.errors.NotFound);
    }
    const empty = await runDeno([
      cli("cluster"),
      "--input",
      `${dir}/x.npy`,
      "--k",
      "3",
      "--device",
      " ",
    ]);
    assert.equal(empty.code, 2);
    assert.deepEqual(errLines(empty.stderr), [
      "mlcd cluster: Expected --device to name a GPU but found nothing",
    ]);
  });
});
