// Issue 13: the CLIs never overwrite inputs, check outputs before the work, leave nothing on
// failure, clean stale temporary files, and name files and rows in their messages.
import assert from "node:assert/strict";
import { readNpy, writeNpy } from "../src/data/npy.ts";
import { atomicWrites, writeFileAtomic } from "../src/fs/atomic.ts";
import { randomMatrix } from "./_gpu.ts";
import { errLines, runDeno } from "./_cli.ts";
import { snapshot, withDir } from "./_tmp.ts";

const CLUSTER = new URL("../src/cli/cluster.ts", import.meta.url).pathname;
const ASSIGN = new URL("../src/cli/assign.ts", import.meta.url).pathname;
const TRAIN = new URL("../src/cli/train.ts", import.meta.url).pathname;

/**
 * Runs a CLI expecting exit code 2 and one `mlcd <cmd>: ` line matching `re`: the only line
 * on stderr, or (`afterProgress`) the last one, after progress lines.
 */
async function refused(
  cli: string,
  args: string[],
  re: RegExp,
  cwd?: string,
  afterProgress = false,
): Promise<string> {
  const r = await runDeno([cli, ...args], cwd ? { cwd } : {});
  let lines = errLines(r.stderr);
  const what = `${args.join(" ")}:\n${r.stderr}`;
  assert.equal(r.code, 2, what);
  if (afterProgress) {
    assert.ok(lines.slice(0, -1).every((l) => !l.startsWith("mlcd")), what);
    lines = lines.slice(-1);
  }
  assert.equal(lines.length, 1, what);
  assert.match(lines[0]!, /^mlcd (cluster|assign|train): /, what);
  assert.match(lines[0]!, re, what);
  assert.equal(r.stdout, "");
  return lines[0]!;
}

/** A float64 `.npy` file (the writers only make float32/float16). */
function npyF64(values: number[], rows: number, cols: number): Uint8Array {
  const dict = `{'descr': '<f8', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const out = new Uint8Array(total + values.length * 8);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, total - 10, true);
  const text = dict.padEnd(total - 11, " ") + "\n";
  for (let i = 0; i < text.length; i++) out[10 + i] = text.charCodeAt(i);
  out.set(new Uint8Array(new Float64Array(values).buffer), total);
  return out;
}

Deno.test("item 1: an output that resolves to an input, or lands as a shard in an input directory, is refused", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/in`);
    await Deno.mkdir(`${dir}/out`);
    await writeNpy(`${dir}/in/x.npy`, randomMatrix(20, 3, 1).data, [20, 3]);
    await writeNpy(`${dir}/c.npy`, randomMatrix(4, 3, 2).data, [4, 3]);
    await Deno.symlink(`${dir}/in/x.npy`, `${dir}/out/link.npy`);
    await writeNpy(`${dir}/out/x.scores.npy`, randomMatrix(5, 3, 3).data, [5, 3]);
    const before = await snapshot(dir);
    const x = ["--input", `${dir}/in/x.npy`, "--k", "2", "--niter", "1"];
    const input = /Refusing to overwrite the input .*x\.npy with --(out|assignments) /;
    await refused(CLUSTER, [...x, "--out", `${dir}/in/x.npy`], input);
    await refused(CLUSTER, [...x, "--assignments", `${dir}/out/link.npy`], input); // symlink
    await refused( // relative, through ..
      CLUSTER,
      ["--input", "in/x.npy", "--k", "2", "--out", "./out/../in/x.npy"],
      input,
      dir,
    );
    await refused(
      CLUSTER,
      ["--input", `${dir}/in`, "--k", "2", "--assignments", `${dir}/in/a.npy`],
      /Refusing to write --assignments .*in\/a\.npy into the input directory .*in, where it would be read as an embedding shard/,
    );
    const a = ["--input", `${dir}/in/x.npy`, "--centers", `${dir}/c.npy`, "--l", "2"];
    await refused(
      ASSIGN,
      [...a, "--out", `${dir}/c.npy`],
      /Refusing to overwrite the input .*c\.npy/,
    );
    await refused(
      ASSIGN,
      ["--input", `${dir}/in`, "--centers", `${dir}/c.npy`, "--out", `${dir}/in/l.arrow`],
      /into the input directory/,
    );
    // labels.npy writes labels.scores.npy beside it: that one is checked too
    await refused(
      ASSIGN,
      [...a, "--out", `${dir}/out/x.npy`, "--input", `${dir}/out/x.scores.npy`],
      /Refusing to overwrite the input .*x\.scores\.npy with --out \(scores\)/,
    );
    assert.deepEqual(await snapshot(dir), before, "nothing changed");
  });
});

/** Small inputs shared by the tests below. */
async function fixtures(dir: string): Promise<void> {
  const x = randomMatrix(10, 3, 6);
  await writeNpy(`${dir}/x.npy`, x.data, [10, 3]);
  await writeNpy(`${dir}/c.npy`, randomMatrix(4, 3, 7).data, [4, 3]);
  await Deno.mkdir(`${dir}/ok`);
  await Deno.writeTextFile(`${dir}/file`, "not a directory");
}
const C = (dir: string) => ["--centers", `${dir}/c.npy`, "--l", "2"];

Deno.test("item 4: a failed command leaves no new output; the next run removes stale temp files it owns and names them", async () => {
  await withDir(async (dir) => {
    await fixtures(dir);
    await refused(
      CLUSTER,
      [
        "--input",
        `${dir}/x.npy`,
        "--k",
        "2",
        "--out",
        `${dir}/ok/c.npy`,
        "--assignments",
        `${dir}/missing/a.npy`,
      ],
      /Cannot write --assignments .*missing\/a\.npy: the directory .*missing does not exist/,
    );
    assert.deepEqual([...Deno.readDirSync(`${dir}/ok`)], [], "no c.npy");
    // the writes of one command are all-or-nothing
    await assert.rejects(() =>
      atomicWrites(async () => {
        await writeNpy(`${dir}/ok/a.npy`, new Float32Array(2), [1, 2]);
        await writeNpy(`${dir}/missing/b.npy`, new Float32Array(2), [1, 2]);
      })
    );
    assert.deepEqual([...Deno.readDirSync(`${dir}/ok`)], [], "neither file, no temp file");

    // kill -9 during a write leaves <name>.tmp-<hex>: the next run removes its own, and says so
    const stale = `${dir}/ok/c.npy.tmp-0123456789ab`;
    const live = `${dir}/ok/c.npy.tmp-abcdefabcdef`;
    const other = `${dir}/ok/other.npy.tmp-0123456789ab`;
    for (const p of [stale, live, other]) await Deno.writeTextFile(p, "partial");
    using held = await Deno.open(live, { read: true, write: true });
    await held.lock(true); // a writer still at work holds its temp file
    const r = await runDeno([
      CLUSTER,
      ...["--input", `${dir}/x.npy`, "--k", "2", "--niter", "1", "--out", `${dir}/ok/c.npy`],
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`cluster: removed stale temporary file ${stale} \\(left by an interrupted run\\)`),
    );
    const names = [...Deno.readDirSync(`${dir}/ok`)].map((e) => e.name).sort();
    assert.deepEqual(names, ["c.npy", "c.npy.tmp-abcdefabcdef", "other.npy.tmp-0123456789ab"]);
    assert.equal((await readNpy(`${dir}/ok/c.npy`)).rows, 2);
  });
});

Deno.test("item 5: output paths are checked at start-up, before any GPU work", async () => {
  await withDir(async (dir) => {
    await fixtures(dir);
    const before = await snapshot(dir);
    const x = ["--input", `${dir}/x.npy`, "--k", "2"];
    // each is the only line on stderr: no "cluster:"/"iter" progress (no work) before it
    await refused(
      CLUSTER,
      [...x, "--out", `${dir}/file/c.npy`],
      /Cannot write --out .*file\/c\.npy: .*file is a file, not a directory/,
    );
    await refused(CLUSTER, [...x, "--out", `${dir}/missing/c.npy`], /does not exist/);
    await refused(
      CLUSTER,
      [...x, "--out", `${dir}/ok`],
      /Expected --out .*ok to be a file but it is a directory/,
    );
    await refused(
      CLUSTER,
      [...x, "--out", `${dir}/ok/c.npy`, "--assignments", `${dir}/ok/./c.npy`],
      /Expected --out and --assignments to be different files/,
    );
    await refused(
      ASSIGN,
      ["--input", `${dir}/x.npy`, ...C(dir), "--out", `${dir}/file/l.npy`],
      /file is a file, not a directory/,
    );
    await refused(
      TRAIN,
      ["--data", `${dir}/x.npy`, "--run-dir", `${dir}/file/R`],
      /Cannot create --run-dir .*file\/R: .*file is a file, not a directory/,
    );
    await refused(
      TRAIN,
      ["--data", `${dir}/x.npy`, "--run-dir", `${dir}/file`],
      /Expected --run-dir .*file to be a directory but it is a file/,
    );
    assert.deepEqual(await snapshot(dir), before, "no output, no temp file");
  });
});

Deno.test("item 10: ENOTDIR is bad input (exit code 2)", async () => {
  await withDir(async (dir) => {
    const cli = new URL("../src/cli/_cli.ts", import.meta.url).href;
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { runCli } from "${cli}";\n` +
        `await runCli("x", () => Deno.readFile("${dir}/main.ts/y").then(() => {}));\n`,
    );
    const r = await runDeno([`${dir}/main.ts`]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(errLines(r.stderr)[0]!, /^mlcd x: Not a directory/);
  });
});

Deno.test("item 11: a failed write names the user's path, not the temp file", async () => {
  await withDir(async (dir) => {
    for (
      const write of [
        () => writeFileAtomic(`${dir}/missing/c.npy`, new Uint8Array(1)),
        () => writeNpy(`${dir}/missing/c.npy`, new Float32Array(1), [1]),
      ]
    ) {
      await assert.rejects(write, (e) => {
        assert.ok(e instanceof Deno.errors.NotFound);
        assert.match(e.message, new RegExp(`^Cannot write ${dir}/missing/c\\.npy: `));
        assert.doesNotMatch(e.message, /\.tmp-/);
        return true;
      });
    }
  });
});

Deno.test("item 7: all-zero query or center rows under cosine are refused like cluster refuses them, naming file and row", async () => {
  await withDir(async (dir) => {
    await fixtures(dir);
    const zero = randomMatrix(10, 3, 6).data;
    zero.fill(0, 4 * 3, 5 * 3);
    await writeNpy(`${dir}/zero.npy`, zero, [10, 3]);
    const czero = randomMatrix(4, 3, 7).data;
    czero.fill(0, 6, 9);
    await writeNpy(`${dir}/czero.npy`, czero, [4, 3]);
    const zeroRow = (file: string, row: number, why: string) =>
      new RegExp(`Cannot L2-normalise ${dir}/${file} for ${why}: row ${row} is all zeros$`);
    await refused(
      ASSIGN,
      ["--input", `${dir}/zero.npy`, ...C(dir)],
      zeroRow("zero.npy", 4, "cosine similarity"),
    );
    await refused(
      ASSIGN,
      ["--input", `${dir}/x.npy`, "--centers", `${dir}/czero.npy`, "--l", "2"],
      zeroRow("czero.npy", 2, "cosine similarity"),
    );
    await refused(
      ASSIGN,
      ["--input", `${dir}/zero.npy`, ...C(dir), "--ann"],
      zeroRow("zero.npy", 4, "cosine similarity"),
      undefined,
      true,
    );
    await refused(
      CLUSTER,
      ["--input", `${dir}/zero.npy`, "--k", "2"],
      zeroRow("zero.npy", 4, "cosine k-means"),
    );
    const ip = await runDeno([ASSIGN, "--input", `${dir}/zero.npy`, ...C(dir), "--metric", "ip"]);
    assert.equal(ip.code, 0, ip.stderr); // the inner product is defined for zero rows
  });
});

Deno.test("item 8: inputs without rows are refused, naming the file", async () => {
  await withDir(async (dir) => {
    await fixtures(dir);
    await writeNpy(`${dir}/none.npy`, new Float32Array(0), [0, 3]);
    const noRows = new RegExp(
      `Expected ${dir}/none\\.npy to hold at least one row but found none$`,
    );
    await refused(CLUSTER, ["--input", `${dir}/none.npy`, "--k", "2"], noRows);
    await refused(ASSIGN, ["--input", `${dir}/none.npy`, ...C(dir)], noRows);
    await refused(
      ASSIGN,
      ["--input", `${dir}/none.npy`, ...C(dir), "--ann"],
      noRows,
      undefined,
      true,
    );
    await refused(ASSIGN, ["--input", `${dir}/x.npy`, "--centers", `${dir}/none.npy`], noRows);
  });
});

Deno.test("item 9: float64 .npy is converted to float32 with a one-line notice", async () => {
  await withDir(async (dir) => {
    const x = randomMatrix(12, 3, 8);
    await Deno.writeFile(`${dir}/x64.npy`, npyF64(Array.from(x.data), 12, 3));
    const r = await runDeno([CLUSTER, "--input", `${dir}/x64.npy`, "--k", "2", "--niter", "1"]);
    assert.equal(r.code, 0, r.stderr);
    const notice = `cluster: ${dir}/x64.npy holds float64; converted to float32`;
    assert.equal(errLines(r.stderr).filter((l) => l === notice).length, 1, r.stderr);
    const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
    assert.match(readme, /float32, float16 or float64 \(converted to float32/);
  });
});

Deno.test("item 12: a 0-byte .npy is an empty file, not an Arrow file without a list column", async () => {
  await withDir(async (dir) => {
    await fixtures(dir);
    await Deno.writeFile(`${dir}/empty.npy`, new Uint8Array(0));
    await Deno.writeFile(`${dir}/empty.arrow`, new Uint8Array(0));
    for (const f of ["empty.npy", "empty.arrow"]) {
      const empty = new RegExp(`${dir}/${f.replace(".", "\\.")} .*found an empty file`);
      await refused(CLUSTER, ["--input", `${dir}/${f}`, "--k", "2"], empty);
      await refused(ASSIGN, ["--input", `${dir}/${f}`, ...C(dir)], empty);
    }
  });
});

Deno.test("item 13: NaN is named by its file and the row within that file", async () => {
  await withDir(async (dir) => {
    await fixtures(dir);
    const x = randomMatrix(10, 3, 6);
    await Deno.mkdir(`${dir}/shards`);
    await writeNpy(`${dir}/shards/a_0.npy`, x.data, [10, 3]);
    const nan = x.data.slice();
    nan[7 * 3 + 1] = NaN;
    await writeNpy(`${dir}/shards/a_1.npy`, nan, [10, 3]);
    await writeNpy(`${dir}/cnan.npy`, nan.subarray(18, 27), [3, 3]);
    const at = (f: string, row: number) =>
      new RegExp(`Expected finite values in ${dir}/${f} but found NaN at row ${row}, column 1$`);
    const nanAt = at("shards/a_1\\.npy", 7);
    await refused(CLUSTER, ["--input", `${dir}/shards`, "--k", "2"], nanAt);
    // batches of a_0.npy are assigned (and reported) first
    await refused(
      ASSIGN,
      ["--input", `${dir}/shards`, ...C(dir), "--batch-rows", "4"],
      nanAt,
      undefined,
      true,
    );
    await refused(ASSIGN, ["--input", `${dir}/shards`, ...C(dir), "--ann"], nanAt, undefined, true);
    await refused(
      ASSIGN,
      ["--input", `${dir}/x.npy`, "--centers", `${dir}/cnan.npy`],
      at("cnan\\.npy", 1),
    );
    await refused(
      TRAIN,
      ["--data", `${dir}/shards`, "--run-dir", `${dir}/run`, "--classes", "2", "--l", "1"],
      nanAt,
      undefined,
      true,
    );
    await assert.rejects(() => Deno.stat(`${dir}/run`), Deno.errors.NotFound, "no run dir left");
  });
});

Deno.test("item 14: a negative flag value reaches the usual range message", async () => {
  await withDir(async (dir) => {
    await fixtures(dir);
    const i = ["--input", `${dir}/x.npy`];
    await refused(
      CLUSTER,
      [...i, "--k", "-3"],
      /^mlcd cluster: Expected --k to be an integer ≥ 1 but found -3$/,
    );
    await refused(
      ASSIGN,
      [...i, ...C(dir), "--l", "-1"],
      /^mlcd assign: Expected --l to be an integer ≥ 1 but found -1$/,
    );
    await refused(
      TRAIN,
      ["--data", "mnist", "--epochs", "-3"],
      /^mlcd train: Expected epochs to be an integer >= 1 but found -3$/,
    );
  });
});

Deno.test("item 15: a value that overflows to Infinity is printed as given, not as null", async () => {
  await withDir(async (dir) => {
    await refused(
      TRAIN,
      ["--data", "mnist", "--scale", "1e309"],
      /^mlcd train: Expected scale to be a finite number but found 1e309$/,
    );
    await Deno.writeTextFile(`${dir}/inf.json`, '{"scale": 1e999}');
    await refused(
      TRAIN,
      ["--data", "mnist", "--config", `${dir}/inf.json`],
      /^mlcd train: Expected scale to be a number in \(0, 10000\] but found Infinity$/,
    );
  });
});

Deno.test("item 16: integer flags take decimal digits only", async () => {
  await withDir(async (dir) => {
    await fixtures(dir);
    const i = ["--input", `${dir}/x.npy`];
    await refused(
      CLUSTER,
      [...i, "--k", "0x5"],
      /^mlcd cluster: Expected --k to be an integer ≥ 1 but found 0x5$/,
    );
    await refused(
      CLUSTER,
      [...i, "--k", "2", "--niter", "1e1"],
      /Expected --niter to be an integer ≥ 0 but found 1e1$/,
    );
    await refused(
      ASSIGN,
      [...i, ...C(dir), "--batch-rows", "0b11"],
      /Expected --batch-rows to be an integer ≥ 1 but found 0b11$/,
    );
    await refused(
      TRAIN,
      ["--data", "mnist", "--epochs", "0x5"],
      /^mlcd train: Expected epochs to be a decimal number but found 0x5$/,
    );
  });
});
