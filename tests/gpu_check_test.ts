import assert from "node:assert/strict";
import { findTorch } from "../bench/torch_peer.ts";
import { staticImports } from "./_import_graph.ts";
import { type Peer, peerTest } from "./_peer.ts";
import { withDir } from "./_tmp.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SCRIPT = new URL("../scripts/gpu_check.ts", import.meta.url).pathname;

// The PyTorch peer runs when an interpreter imports torch (Debian: apt-get install python3-torch);
// gpu-check picks it the same way (bench/torch_peer.ts findTorch).
const FOUND = await findTorch();
const TORCH: Peer = {
  name: "PyTorch (apt-get install python3-torch)",
  missing: "exe" in FOUND ? null : `torch does not import: ${FOUND.reason}`,
};

/** One `gpu-check --quick` run, shared by the tests below: its exit code, stderr, md and json. */
interface QuickRun {
  code: number;
  stderr: string;
  files: string[];
  md: string;
  // deno-lint-ignore no-explicit-any
  json: any;
}
let quick: Promise<QuickRun> | null = null;
function quickRun(): Promise<QuickRun> {
  quick ??= (async () => {
    return await withDir(async (out) => {
      const run = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", SCRIPT, "--quick", "--out", out],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
      const read = (ext: string) => {
        const f = files.find((f) => f.endsWith(ext));
        return f ? Deno.readTextFileSync(`${out}/${f}`) : "";
      };
      const json = read(".json");
      return {
        code: run.code,
        stderr: new TextDecoder().decode(run.stderr),
        files,
        md: read(".md"),
        json: json ? JSON.parse(json) : null,
      };
    }, "mlcd_gpu_check_");
  })();
  return quick;
}

Deno.test("deno task gpu-check --quick checks every kernel exactly and writes the report", async () => {
  {
    const { code, stderr, files, json, md } = await quickRun();
    assert.equal(code, 0, stderr);
    assert.equal(files.length, 2, files.join(", "));
    assert.deepEqual(
      json.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]),
      [
        ["k-means assignment pass", true],
        ["k-means, one iteration (end to end)", true],
        ["top-8", true],
        ["MLCD loss, forward + backward", true],
        ["k-means K=3000, one IVF iteration", true],
        ["top-8 over K=3000 centers (IVF)", true],
      ],
    );
    assert.equal(typeof json.adapter.description, "string");
    assert.match(
      md,
      new RegExp(`^# gpu-check: ${json.adapter.description.replace(/[()]/g, "\\$&")}`),
    );
    // The bench suite runs only on GPU-sized runs (or with --suite); the report says so.
    assert.equal(json.suite.ran, false);
    assert.match(md, /Benchmark suite: not run with --quick \(--suite runs it\)\./);
    // The peer is always reported: it ran, or the report says why not (never a silent pass).
    assert.ok(["ok", "not available"].includes(json.peers.torch.status), json.peers.torch);
    if (json.peers.torch.status === "not available") {
      assert.match(md, /torch: not available \(.+\)/);
    }
  }
});

peerTest({
  name: "gpu-check --quick runs the PyTorch matmul + topk peer and it agrees with ours",
  needs: [TORCH],
  async fn() {
    const { code, stderr, json, md } = await quickRun();
    assert.equal(code, 0, stderr);
    const p = json.peers.torch;
    assert.equal(p.status, "ok", JSON.stringify(p));
    assert.equal(p.python, (FOUND as { exe: string }).exe);
    assert.equal(p.shape, "queries=97 keys=3001 d=64 k=8");
    // The agreement is computed, not assumed: every figure is in range and consistent.
    assert.ok(p.recall >= 0.999 && p.recall <= 1, `recall ${p.recall}`);
    assert.ok(p.rowsIdentical >= 90 && p.rowsIdentical <= 97, `${p.rowsIdentical} rows`);
    assert.equal(p.torchBeyondTies, 0);
    assert.equal(p.agrees, true);
    for (const key of ["oursSeconds", "torchSeconds", "torchComputeSeconds"]) {
      assert.ok(p[key] > 0 && Number.isFinite(p[key]), `${key} ${p[key]}`);
    }
    assert.ok(Math.abs(p.ratio - p.torchSeconds / p.oursSeconds) < 1e-9);
    assert.match(md, /## PyTorch matmul \+ topk peer/);
    assert.match(md, new RegExp(`\\| ${p.ratio.toFixed(2)}× \\| recall of ours in torch's top-k`));
  },
});

Deno.test("scripts/gpu_check.ts has no npm package on its static import path", async () => {
  // npm packages resolve into node_modules/ (nodeModulesDir "manual"): follow every static
  // import from the script and collect the npm specifiers met on the way. A dynamic import
  // loads only when it runs, so the script starts on a machine without node_modules.
  const { modules, imports } = await staticImports(SCRIPT, /^npm:/);
  const npm = imports.filter((i) => i.specifier.startsWith("npm:"))
    .map((i) => `${i.from} imports ${i.specifier}`);
  assert.deepEqual(npm, []);
  assert.ok(modules.length > 10, "the import graph was read");
});

Deno.test("scripts/gpu_check.ts loads in a copy of the tree without node_modules", async () => {
  // What a bare GPU machine has: the Deno binary, the sources and the kernels.
  await withDir(async (tmp) => {
    for (const dir of ["src", "kernels", "scripts", "bench"]) {
      await new Deno.Command("cp", { args: ["-r", `${ROOT}${dir}`, `${tmp}/${dir}`] }).output();
    }
    await Deno.copyFile(`${ROOT}deno.json`, `${tmp}/deno.json`);
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/gpu_check.ts", "--help"],
      cwd: tmp,
      stdout: "piped",
      stderr: "piped",
      env: { DENO_NO_UPDATE_CHECK: "1" },
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, stderr);
    assert.match(new TextDecoder().decode(run.stdout), /^mlcd gpu-check/);
  }, "mlcd_gpu_check_bare_");
});

Deno.test("scripts/gpu_check.ts exits 2 with one line on an unknown flag", async () => {
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, "--bogus"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(run.code, 2);
  const lines = new TextDecoder().decode(run.stderr).trim().split("\n");
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^mlcd gpu-check: /);
});
