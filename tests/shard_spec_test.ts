import assert from "node:assert/strict";
import { parsePartName, parsePartSpec, partStem } from "../src/jobs/part_spec.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];
const none = env({});

Deno.test("parsePartSpec() reads i/N", () => {
  assert.deepEqual(parsePartSpec("0/1", undefined, none), { index: 0, count: 1, source: "flag" });
  assert.deepEqual(parsePartSpec("7/8", undefined, none), { index: 7, count: 8, source: "flag" });
});

Deno.test("parsePartSpec() refuses bad i/N with one message naming the value", () => {
  const cases: [string, RegExp][] = [
    ["3/2", /^Expected --shard i\/N with 0 ≤ i < N but found 3\/2$/],
    ["2/2", /^Expected --shard i\/N with 0 ≤ i < N but found 2\/2$/],
    ["0/0", /^Expected --shard i\/N with N ≥ 1 but found 0\/0$/],
    ["a/b", /^Expected --shard to be i\/N .* or auto but found a\/b$/],
    ["-1/4", /found -1\/4$/],
    ["1.5/4", /found 1\.5\/4$/],
    ["0x1/4", /found 0x1\/4$/],
    ["01/4", /found 01\/4$/],
    ["1/4/2", /found 1\/4\/2$/],
    ["", /found $/],
    ["3", /found 3$/],
  ];
  for (const [spec, message] of cases) {
    assert.throws(() => parsePartSpec(spec, undefined, none), { name: "UsageError", message });
  }
  assert.throws(() => parsePartSpec("1/4", "4", none), {
    name: "UsageError",
    message: "Expected --shards only with --shard auto but found --shard 1/4",
  });
});

Deno.test("parsePartSpec() auto reads a Slurm array task, --shards overriding the count", () => {
  const slurm = env({ SLURM_ARRAY_TASK_ID: "3", SLURM_ARRAY_TASK_COUNT: "8" });
  assert.deepEqual(parsePartSpec("auto", undefined, slurm), {
    index: 3,
    count: 8,
    source: "slurm",
  });
  // A single resubmitted task (--array=3) has SLURM_ARRAY_TASK_COUNT=1: --shards says N.
  const again = env({ SLURM_ARRAY_TASK_ID: "3", SLURM_ARRAY_TASK_COUNT: "1" });
  assert.deepEqual(parsePartSpec("auto", "8", again), { index: 3, count: 8, source: "slurm" });
  assert.throws(() => parsePartSpec("auto", undefined, again), {
    name: "UsageError",
    message:
      "Expected SLURM_ARRAY_TASK_ID below the part count 1 (number the array from 0, as --array=0-0) but found 3",
  });
  assert.throws(() => parsePartSpec("auto", undefined, env({ SLURM_ARRAY_TASK_ID: "x" })), {
    name: "UsageError",
    message: "Expected SLURM_ARRAY_TASK_ID to be an integer ≥ 0 but found x",
  });
});

Deno.test("parsePartSpec() auto reads a Kubernetes Indexed Job with --shards", () => {
  const k8s = env({ JOB_COMPLETION_INDEX: "2" });
  assert.deepEqual(parsePartSpec("auto", "4", k8s), { index: 2, count: 4, source: "k8s" });
  assert.throws(() => parsePartSpec("auto", undefined, k8s), {
    name: "UsageError",
    message:
      "Expected --shards N with --shard auto in a Kubernetes Indexed Job (JOB_COMPLETION_INDEX is set) but found none",
  });
  assert.throws(() => parsePartSpec("auto", "2", k8s), {
    name: "UsageError",
    message: "Expected JOB_COMPLETION_INDEX below --shards 2 but found 2",
  });
  assert.throws(() => parsePartSpec("auto", "0", k8s), {
    name: "UsageError",
    message: "Expected --shards to be an integer ≥ 1 but found 0",
  });
});

Deno.test("parsePartSpec() auto outside an array job is refused", () => {
  assert.throws(() => parsePartSpec("auto", undefined, none), {
    name: "UsageError",
    message:
      "Expected --shard auto to run in a Slurm array job (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) but found neither set",
  });
});

Deno.test("partStem() and parsePartName() agree", () => {
  assert.equal(partStem({ index: 3, count: 8 }), "part-3-of-8");
  assert.deepEqual(parsePartName("part-3-of-8.npy", ".npy"), { index: 3, count: 8 });
  assert.deepEqual(parsePartName("part-03-of-8.npy", ".npy"), { index: 3, count: 8 });
  assert.equal(parsePartName("part-3-of-8.counts.npy", ".npy"), undefined);
  assert.deepEqual(parsePartName("part-3-of-8.counts.npy", ".counts.npy"), { index: 3, count: 8 });
  assert.equal(parsePartName("part-3-of-8.npy.tmp-abcdef", ".npy"), undefined);
  assert.equal(parsePartName("centers.npy", ".npy"), undefined);
});
