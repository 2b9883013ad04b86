// The `mlcd` command (src/cli/mlcd.ts) as a user meets it: relative paths are the caller's
// through `deno task` and through the installed command (deno task install), every
// subcommand takes --json, and the compiled executable (deno task compile) when a denort
// runtime is at hand.
import assert from "node:assert/strict";
import { errLines, runDeno } from "./_cli.ts";
import { withDir } from "./_tmp.ts";
import { NO_ADAPTER_ENV } from "./_no_adapter.ts";
import { randomMatrix } from "./_gpu.ts";
import { writeNpy } from "../src/data/npy.ts";
import { readNpyArray } from "../src/data/npy_read.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MLCD = `${ROOT}src/cli/mlcd.ts`;
const SUBCOMMANDS = [
  "cluster",
  "assign",
  "train",
  "eval",
  "embed",
  "report",
  "demo",
  "bench",
  "gpu-check",
];

/** The environment of a user's shell: no INIT_CWD from the `deno task test` above us. */
function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  delete env.MLCD_CWD;
  return { ...env, DENO_NO_UPDATE_CHECK: "1", ...extra };
}

async function run(cmd: string, args: string[], cwd: string, env = userEnv()) {
  const o = await new Deno.Command(cmd, {
    args,
    cwd,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

/** `data/x.npy` (40 × 6 rows) and an empty `work/` beside it, under `dir`. */
async function layout(dir: string): Promise<{ data: string; work: string }> {
  const data = `${dir}/data`, work = `${dir}/work`;
  await Deno.mkdir(data);
  await Deno.mkdir(work);
  const x = randomMatrix(40, 6, 7);
  await writeNpy(`${data}/x.npy`, x.data, [x.rows, x.cols]);
  return { data, work };
}

Deno.test("mlcd --help lists every subcommand; no or an unknown command is one line, exit 2", async () => {
  const help = await runDeno([MLCD, "--help"]);
  assert.equal(help.code, 0);
  for (const c of SUBCOMMANDS) assert.match(help.stdout, new RegExp(`^  ${c} `, "m"), c);
  for (const args of [[], ["clustr"]]) {
    const r = await runDeno([MLCD, ...args]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    const err = errLines(r.stderr);
    assert.equal(err.length, 1, r.stderr);
    assert.match(err[0]!, /^mlcd: (Expected a command|Unknown command clustr): one of cluster, /);
  }
});

Deno.test("every mlcd subcommand takes --json", async () => {
  // --help after --json: parseArgs (strict) refuses an unknown flag before --help is read.
  for (const c of SUBCOMMANDS) {
    const r = await runDeno([MLCD, c, "--json", "--help"]);
    assert.equal(r.code, 0, `${c}: ${r.stderr}`);
    assert.match(r.stdout, /--json/, c);
  }
  // A run of one that had none: report --json prints its summary, alone on stdout.
  await withDir(async (dir) => {
    const steps = [1, 2, 3].map((step) =>
      JSON.stringify({ step, totalSteps: 3, epoch: 1, loss: 4 - step, lr: 1e-3, time: "" })
    );
    await Deno.writeTextFile(`${dir}/metrics.jsonl`, steps.join("\n") + "\n");
    const r = await runDeno([MLCD, "report", "--run-dir", dir, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      runDir: dir,
      out: `${dir}/report.html`,
      steps: 3,
      kmeansIterations: 0,
      evalRows: 0,
    });
    assert.ok((await Deno.stat(`${dir}/report.html`)).size > 1000);
  });
});

Deno.test("deno task <command> reads and writes relative paths where the user stands", async () => {
  await withDir(async (dir) => {
    const { work } = await layout(dir);
    const r = await run(Deno.execPath(), [
      "task",
      "--config",
      `${ROOT}deno.json`,
      "cluster",
      "--input",
      "../data/x.npy",
      "--k",
      "3",
      "--out",
      "c.npy",
      "--json",
    ], work);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).out, "c.npy");
    assert.deepEqual((await readNpyArray(`${work}/c.npy`)).shape, [3, 6]);
    assert.equal(await Deno.stat(`${ROOT}c.npy`).then(() => true, () => false), false);
    // A missing relative input is named as the user typed it.
    const miss = await run(Deno.execPath(), [
      "task",
      "--config",
      `${ROOT}deno.json`,
      "cluster",
      "--input",
      "nothere.npy",
      "--k",
      "3",
    ], work);
    assert.equal(miss.code, 2);
    assert.match(errLines(miss.stderr).at(-1)!, /^mlcd cluster: .*nothere\.npy/);
  }, "mlcd_task_cwd_");
});

Deno.test("the installed mlcd command runs from any directory, with the npm packages and the hnswlib addon", async () => {
  await withDir(async (dir) => {
    const { work } = await layout(dir);
    const installRoot = `${dir}/root`;
    const inst = await run(
      Deno.execPath(),
      ["run", "-A", `${ROOT}scripts/install.ts`],
      dir,
      userEnv({ DENO_INSTALL_ROOT: installRoot }),
    );
    assert.equal(inst.code, 0, inst.stderr);
    assert.match(inst.stderr, /^mlcd install: installed .*\/root\/bin\/mlcd/m);
    const mlcd = `${installRoot}/bin/mlcd${Deno.build.os === "windows" ? ".cmd" : ""}`;
    // It runs the Deno that installed it, whatever is on PATH.
    assert.ok((await Deno.readTextFile(mlcd)).includes(Deno.execPath()));
    const env = userEnv({ PATH: "/nonexistent" });
    const c = await run(
      mlcd,
      [
        "cluster",
        "--input",
        "../data/x.npy",
        "--k",
        "4",
        "--out",
        "c.npy",
        "--json",
      ],
      work,
      env,
    );
    assert.equal(c.code, 0, c.stderr);
    assert.equal(JSON.parse(c.stdout).k, 4);
    // assign --ann: Arrow-free, but hnswlib-node's addon from this clone's node_modules.
    const a = await run(
      mlcd,
      [
        "assign",
        "--input",
        "../data/x.npy",
        "--centers",
        "c.npy",
        "--l",
        "2",
        "--ann",
        "--out",
        "labels.npy",
        "--json",
      ],
      work,
      env,
    );
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual((await readNpyArray(`${work}/labels.npy`)).shape, [40, 2]);
    // The repository scripts run in a process of their own, from the same directory.
    const g = await run(mlcd, ["gpu-check", "--json", "--help"], work, env);
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /^mlcd gpu-check/);
  }, "mlcd_install_");
});

Deno.test("no GPU adapter: one line, two sentences with a full stop between them, exit 2", async () => {
  await withDir(async (dir) => {
    const x = randomMatrix(5, 3, 1);
    await writeNpy(`${dir}/x.npy`, x.data, [5, 3]);
    const n = await runDeno([MLCD, "cluster", "--input", `${dir}/x.npy`, "--k", "2"], {
      env: NO_ADAPTER_ENV,
    });
    assert.equal(n.code, 2);
    const err = errLines(n.stderr);
    assert.equal(err.length, 1, n.stderr);
    assert.match(err[0]!, /^mlcd cluster: No WebGPU adapter found/);
    // Either the install command ends the line, or a full stop follows it.
    assert.match(err[0]!, /libvulkan1(\. Only the [^ ]+ backends were tried.*)?$/);
  });
});

// deno compile fetches its runtime (denort) from dl.deno.land on first use; where that host is
// out of reach (this workplace and its CI), DENORT_BIN must name a denort of this Deno's
// version, else the test is skipped. The build takes a minute and about 500 MB.
const DENORT = Deno.env.get("DENORT_BIN");
Deno.test({
  name: "deno task compile builds an executable that runs from any directory" +
    (DENORT ? "" : " (skipped: needs DENORT_BIN, a denort runtime for deno compile)"),
  ignore: !DENORT,
  fn: async () => {
    await withDir(async (dir) => {
      const { work } = await layout(dir);
      const exe = `${dir}/mlcd`;
      const b = await run(
        Deno.execPath(),
        ["run", "-A", `${ROOT}scripts/compile.ts`, "--out", exe],
        dir,
      );
      assert.equal(b.code, 0, b.stderr);
      const c = await run(exe, [
        "cluster",
        "--input",
        "../data/x.npy",
        "--k",
        "3",
        "--out",
        "c.npy",
        "--json",
      ], work);
      assert.equal(c.code, 0, c.stderr);
      assert.deepEqual((await readNpyArray(`${work}/c.npy`)).shape, [3, 6]);
      for (const sub of ["bench", "gpu-check"]) {
        const r = await run(exe, [sub], work);
        assert.equal(r.code, 2);
        assert.match(
          errLines(r.stderr).join("\n"),
          new RegExp(`^mlcd ${sub}: ${sub} is not in the compiled executable`),
        );
      }
    }, "mlcd_compile_");
  },
});
