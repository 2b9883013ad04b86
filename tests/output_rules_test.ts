// Issue 21, items 1, 2, 3 and 17: what a command may overwrite (src/jobs/output_paths.ts and
// output_owner.ts). No command writes over a file of a run directory or of a job except the
// command that owns it (--overwrite included), nor over a path that is not a regular file, and
// the job modes check their output directory before the work.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeNpy } from "../src/data/npy.ts";
import { TOOLKIT_VERSION } from "../src/version.ts";
import { errLines, runDeno } from "./_cli.ts";
import { snapshot, withDir } from "./_tmp.ts";

const cli = (name: string) => new URL(`../src/cli/${name}.ts`, import.meta.url).pathname;

/** Runs a command expecting exit 2 and exactly one line (no work began) matching `re`. */
async function refused(cmd: string, args: string[], re: RegExp): Promise<string> {
  const r = await runDeno([cli(cmd), ...args]);
  const lines = errLines(r.stderr);
  const what = `${cmd} ${args.join(" ")}:\n${r.stderr}`;
  assert.equal(r.code, 2, what);
  assert.equal(lines.length, 1, what);
  assert.match(lines[0]!, new RegExp(`^mlcd ${cmd}: `), what);
  assert.match(lines[0]!, re, what);
  return lines[0]!;
}

/** Waits for every check, then fails with all the failures (not only the first). */
async function all<T>(checks: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(checks);
  const failed = settled.filter((r) => r.status === "rejected");
  if (failed.length) {
    throw new Error(failed.map((r) => String((r as PromiseRejectedResult).reason)).join("\n\n"));
  }
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

const sha256 = async (path: string) =>
  createHash("sha256").update(await Deno.readFile(path)).digest("hex");

/** The parts of a finished `cluster --shard i/2` job, as the job writes them. */
async function writeParts(dir: string): Promise<void> {
  await Deno.mkdir(dir);
  for (let i = 0; i < 2; i++) {
    const stem = `${dir}/part-${i}-of-2`;
    await writeNpy(`${stem}.npy`, new Float32Array([1, 0, 0, 1]).map((v) => v + i), [2, 2]);
    await writeNpy(`${stem}.counts.npy`, new Uint32Array([3, 4]), [2]);
    const outputs = [];
    for (const name of [`part-${i}-of-2.npy`, `part-${i}-of-2.counts.npy`]) {
      const size = (await Deno.stat(`${dir}/${name}`)).size;
      outputs.push({ name, size, sha256: await sha256(`${dir}/${name}`) });
    }
    const manifest = {
      format: "mlcd-manifest",
      kind: "cluster-part",
      toolkit: TOOLKIT_VERSION,
      shard: { index: i, count: 2 },
      inputs: [],
      params: { k1: 2 },
      outputs,
      info: { rows: 7 },
    };
    await Deno.writeTextFile(`${stem}.json`, JSON.stringify(manifest, null, 2) + "\n");
  }
}

/** A run directory as `train` leaves it (contents are not read by the refused commands). */
async function writeRunDir(dir: string): Promise<void> {
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/run.json`, '{"format": "mlcd-run"}\n');
  await Deno.writeTextFile(`${dir}/checkpoint.json`, '{"format": "mlcd-checkpoint"}\n');
  await Deno.writeFile(`${dir}/checkpoint-00000014.safetensors`, new Uint8Array([1, 2, 3]));
  await Deno.writeTextFile(`${dir}/metrics.jsonl`, '{"step":1,"loss":2,"lr":0.001}\n');
}

Deno.test("item 1: report and eval never write over a run directory's files", async () => {
  await withDir(async (dir) => {
    const run = `${dir}/R`;
    await writeRunDir(run);
    await writeNpy(`${dir}/x.npy`, new Float32Array(12), [4, 3]);
    await writeNpy(`${dir}/y.npy`, new Uint32Array([0, 1, 0, 1]), [4]);
    const before = await snapshot(dir);
    const data = ["--data", `${dir}/x.npy`, "--labels", `${dir}/y.npy`];
    const test = ["--test-data", `${dir}/x.npy`, "--test-labels", `${dir}/y.npy`];
    await all([
      refused(
        "report",
        ["--run-dir", run, "--out", `${run}/metrics.jsonl`],
        /Refusing to write --out .*R\/metrics\.jsonl: it belongs to the run directory .*R, which only mlcd train writes/,
      ),
      refused(
        "report",
        ["--run-dir", run, "--out", `${run}/eval.json`],
        /it belongs to the run directory .*R, which only mlcd eval writes/,
      ),
      refused(
        "eval",
        ["--checkpoint", run, ...data, ...test, "--out", `${run}/checkpoint-00000014.safetensors`],
        /Refusing to write --out .*checkpoint-00000014\.safetensors: it belongs to the run directory .*R, which only mlcd train writes/,
      ),
    ]);
    assert.deepEqual(await snapshot(dir), before, "the run directory is unchanged");
  });
});

Deno.test("item 2: no output lands on a part's files, --overwrite or not", async () => {
  await withDir(async (dir) => {
    const P = `${dir}/P`;
    await writeParts(P);
    await writeNpy(`${dir}/x.npy`, new Float32Array(12).map((_, i) => i + 1), [4, 3]);
    await writeNpy(`${dir}/c.npy`, new Float32Array(6).map((_, i) => i + 1), [2, 3]);
    const before = await snapshot(dir);
    const lines = await all([
      refused(
        "cluster",
        ["--merge", P, "--k", "2", "--out", `${P}/part-0-of-2.counts.npy`, "--overwrite"],
        /Refusing to write --out .*P\/part-0-of-2\.counts\.npy into the input directory .*P/,
      ),
      // .NPY: its manifest would be part 0's part-0-of-2.json
      refused(
        "cluster",
        ["--merge", P, "--k", "2", "--out", `${P}/part-0-of-2.NPY`, "--overwrite"],
        /Refusing to write --out .*P\/part-0-of-2\.NPY into the input directory .*P/,
      ),
      // outside the job: P is no input of a plain cluster, its files are still the parts'
      refused(
        "cluster",
        ["--input", `${dir}/x.npy`, "--k", "2", "--out", `${P}/part-1-of-2.counts.npy`],
        /Refusing to write --out .*P\/part-1-of-2\.counts\.npy: it belongs to the cluster-part 1\/2 job \(.*P\/part-1-of-2\.json\)/,
      ),
      // another kind of job on the same part names: refused even with --overwrite
      refused(
        "assign",
        [
          ...["--input", `${dir}/x.npy`, "--centers", `${dir}/c.npy`, "--l", "1"],
          ...["--shard", "0/2", "--out", P, "--format", "npy", "--overwrite"],
        ],
        /Refusing to write --out .*P\/part-0-of-2\.npy: it belongs to the cluster-part 0\/2 job/,
      ),
    ]);
    for (const l of lines) assert.doesNotMatch(l, /use --overwrite/, l);
    assert.deepEqual(await snapshot(dir), before, "the parts are unchanged");
  });
});

Deno.test("item 3: an output that exists and is not a regular file is refused", async () => {
  await withDir(async (dir) => {
    await writeParts(`${dir}/P`);
    await writeNpy(`${dir}/x.npy`, new Float32Array(12).map((_, i) => i + 1), [4, 3]);
    await new Deno.Command("mkfifo", { args: [`${dir}/fifo.npy`] }).output();
    assert.ok((await Deno.lstat(`${dir}/fifo.npy`)).isFifo, "mkfifo made a FIFO");
    await Deno.symlink(`${dir}/fifo.npy`, `${dir}/link.npy`);
    const before = await snapshot(dir);
    const x = ["--input", `${dir}/x.npy`, "--k", "2", "--niter", "1"];
    await all([
      refused(
        "cluster",
        [...x, "--out", `${dir}/fifo.npy`],
        /Refusing to write --out .*fifo\.npy: it exists and is a FIFO, not a regular file/,
      ),
      refused(
        "cluster",
        [...x, "--assignments", `${dir}/link.npy`],
        /Refusing to write --assignments .*link\.npy: it exists and is a FIFO, not a regular file/,
      ),
      refused(
        "cluster",
        ["--merge", `${dir}/P`, "--k", "2", "--out", `${dir}/link.npy`],
        /Refusing to write --out .*link\.npy: it exists and is a FIFO, not a regular file/,
      ),
    ]);
    assert.deepEqual(await snapshot(dir), before, "the FIFO and its link are unchanged");
  });
});

/**
 * How to get a directory that this process cannot create files in: one without write
 * permission ("chmod"), or, for root (who writes anywhere), sysfs (which refuses new files even
 * to root). Undefined when neither works.
 */
async function unwritableKind(): Promise<"chmod" | "/sys" | undefined> {
  const canWrite = async (d: string) => {
    try {
      await Deno.writeFile(`${d}/.probe`, new Uint8Array());
      await Deno.remove(`${d}/.probe`);
      return true;
    } catch {
      return false;
    }
  };
  const dir = await Deno.makeTempDir({ prefix: "mlcd_test_ro_" });
  await Deno.chmod(dir, 0o555);
  const chmod = !(await canWrite(dir));
  await Deno.remove(dir);
  if (chmod) return "chmod";
  const sys = await Deno.stat("/sys").then((s) => s.isDirectory, () => false);
  return sys && !(await canWrite("/sys")) ? "/sys" : undefined;
}

const RO = await unwritableKind();

Deno.test({
  name: "item 17: the job modes check that --out is writable before the work" +
    (RO === undefined ? " (ignored: no unwritable directory for this user)" : ""),
  ignore: RO === undefined && !Deno.env.get("CI"),
  fn: async () => {
    if (RO === undefined) assert.fail("no unwritable directory to test with");
    await withDir(async (dir) => {
      let ro = "/sys";
      if (RO === "chmod") {
        ro = `${dir}/ro`;
        await Deno.mkdir(ro, { mode: 0o555 });
        await Deno.chmod(ro, 0o555);
      }
      await writeParts(`${dir}/P`);
      await writeNpy(`${dir}/x.npy`, new Float32Array(12).map((_, i) => i + 1), [4, 3]);
      await writeNpy(`${dir}/c.npy`, new Float32Array(6).map((_, i) => i + 1), [2, 3]);
      const notWritable = (file: string) =>
        new RegExp(`Cannot write --out ${ro}/${file}: ${ro} is not writable`);
      await all([
        refused(
          "cluster",
          ["--input", `${dir}/x.npy`, "--k", "2", "--shard", "0/1", "--out", ro],
          notWritable("part-0-of-1\\.npy"),
        ),
        refused(
          "cluster",
          ["--merge", `${dir}/P`, "--k", "2", "--out", `${ro}/c.npy`],
          notWritable("c\\.npy"),
        ),
        refused(
          "assign",
          [
            ...["--input", `${dir}/x.npy`, "--centers", `${dir}/c.npy`, "--l", "1"],
            ...["--shard", "0/1", "--out", ro],
          ],
          notWritable("part-0-of-1\\.parquet"),
        ),
      ]);
    });
  },
});
