// Issue 21, items 1 (eval results accumulate, never silently replaced), 9 (non-finite
// embeddings named by what made them) and 16 (labels remapped to 0..C-1 before the probe).
import assert from "node:assert/strict";
import { writeNpy } from "../src/data/npy.ts";
import { readRunReport } from "../src/eval/run_report.ts";
import { errLines, runDeno } from "./_cli.ts";
import { writeUntrainedCheckpoint } from "./_checkpoint.ts";
import { withDir } from "./_tmp.ts";

const EVAL = new URL("../src/cli/eval.ts", import.meta.url).pathname;
const HEAD = { kind: "head" as const, inputShape: [6], embedDim: 4, hidden: [8] };
const METRICS = {
  linearProbeTop1: 1,
  knnTop1: 1,
  nmi: 1,
  ari: 1,
  recallAt1: 1,
  recallAt5: 1,
  recallAt10: 1,
};

Deno.test("eval: results accumulate (item 1), label ids are remapped (item 16), non-finite embeddings are named (item 9)", async () => {
  await withDir(async (dir) => {
    const run = `${dir}/run`;
    await writeUntrainedCheckpoint(run, HEAD);
    await writeUntrainedCheckpoint(`${dir}/nan`, HEAD, {
      edit: (t) => {
        const w = [...t].find(([name]) => name.startsWith("encoder."))!;
        (w[1].data as Float32Array)[1] = NaN;
      },
    });
    // 30 rows in three groups; the same labels as class numbers and as large, sparse ids
    const x = new Float32Array(30 * 6).map((_, i) =>
      ((i % 6) === Math.floor(i / 6) % 3 ? 4 : 0) + Math.sin(i)
    );
    const y = new Uint32Array(30).map((_, i) => i % 3);
    await writeNpy(`${dir}/x.npy`, x, [30, 6]);
    await writeNpy(`${dir}/y.npy`, y, [30]);
    await writeNpy(`${dir}/ids.npy`, y.map((v) => v * 4_000_000), [30]);
    // What the demo leaves: a log, and eval.json with the untrained baseline and the raw inputs.
    await Deno.writeTextFile(`${run}/metrics.jsonl`, '{"step":1,"loss":2,"lr":0.001,"epoch":1}\n');
    const demo = { step: "final", ...METRICS, baseline: METRICS, raw: METRICS };
    await Deno.writeTextFile(`${run}/eval.json`, JSON.stringify(demo));
    const evalOf = (ck: string, labels: string, extra: string[]) =>
      runDeno([
        EVAL,
        ...["--checkpoint", ck, "--data", `${dir}/x.npy`, "--labels", labels],
        ...["--test-data", `${dir}/x.npy`, "--test-labels", labels, "--json", ...extra],
      ]);
    const [again, ids, nan, base] = await Promise.all([
      evalOf(run, `${dir}/y.npy`, []), // "evaluate it again", as the demo says
      evalOf(run, `${dir}/ids.npy`, ["--no-raw", "--out", `${dir}/ids.json`]),
      evalOf(`${dir}/nan`, `${dir}/y.npy`, ["--out", `${dir}/nan.json`]),
      evalOf(run, `${dir}/y.npy`, ["--baseline", "--out", `${dir}/base.json`]),
    ]);
    const failures: string[] = [];
    const check = (item: string, fn: () => void | Promise<void>) =>
      Promise.resolve().then(fn).catch((e) => failures.push(`${item}: ${e}`));

    await check("item 1", async () => {
      assert.equal(again.code, 0, again.stderr);
      const file = JSON.parse(await Deno.readTextFile(`${run}/eval.json`));
      assert.equal(file.results?.length, 2, "the demo's result and the new one");
      assert.deepEqual(file.results[0], demo);
      const names = (await readRunReport(run)).eval!.map(([name]) => name);
      assert.deepEqual(names, [
        "raw inputs",
        "untrained encoder",
        "trained (step final)",
        "trained (step 0)",
      ]);
    });
    await check("item 16", () => {
      assert.equal(ids.code, 0, ids.stderr);
      const a = JSON.parse(again.stdout), b = JSON.parse(ids.stdout);
      for (const k of Object.keys(METRICS)) assert.equal(b[k], a[k], k);
    });
    await check("item 9", () => {
      assert.equal(nan.code, 2, nan.stderr);
      assert.match(
        errLines(nan.stderr).at(-1)!,
        /^mlcd eval: Expected finite embeddings of the --data samples from the checkpoint .*nan but found NaN at sample 0, column \d \(the encoder's weights are not finite\)$/,
      );
    });
    await check("issue 22 item 8: the table's rows in evalRows' order", () => {
      assert.equal(base.code, 0, base.stderr);
      assert.ok(
        errLines(base.stderr).includes(
          "| metric | raw input embeddings | untrained encoder | checkpoint (step 0) |",
        ),
        base.stderr,
      );
    });
    assert.deepEqual(failures, []);
  });
});
