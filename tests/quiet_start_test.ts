// The first run is quiet: a successful command prints no "error:" line even when
// XDG_RUNTIME_DIR is unset or invalid (the Vulkan loader's Wayland probe complains otherwise),
// and without any GPU adapter every command stops with one line naming the fix, exit 2.
import assert from "node:assert/strict";
import { writeNpy } from "../src/data/npy.ts";
import { randomMatrix } from "./_gpu.ts";
import { errLines } from "./_cli.ts";
import { NO_ADAPTER_ENV } from "./_no_adapter.ts";
import { withDir } from "./_tmp.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs `deno run -A script args` with the parent's environment minus `unset`, plus `set`. */
async function runWithEnv(
  script: string,
  args: string[],
  unset: string[],
  set: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Deno.env.toObject();
  for (const name of unset) delete env[name];
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}${script}`, ...args],
    clearEnv: true,
    env: { ...env, ...set },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

async function clusterFixture(dir: string): Promise<string> {
  const x = randomMatrix(150, 12, 7);
  await writeNpy(`${dir}/x.npy`, x.data, [150, 12]);
  return `${dir}/x.npy`;
}

for (
  const [name, value] of [
    ["unset", undefined],
    ["a relative path", "relative/run"],
    ["a missing directory", "/nonexistent/mlcd-xdg"],
  ] as const
) {
  Deno.test(`a successful cluster run prints no "error:" line with XDG_RUNTIME_DIR ${name}`, async () => {
    await withDir(async (dir) => {
      const input = await clusterFixture(dir);
      const tmp = `${dir}/tmp`;
      await Deno.mkdir(tmp);
      const r = await runWithEnv(
        "src/cli/cluster.ts",
        ["--input", input, "--k", "5", "--niter", "3", "--out", `${dir}/c.npy`],
        ["XDG_RUNTIME_DIR"],
        { TMPDIR: tmp, ...(value !== undefined ? { XDG_RUNTIME_DIR: value } : {}) },
      );
      assert.equal(r.code, 0, r.stderr);
      const noisy = r.stderr.split("\n").filter((l) => /error:|warning|╭/i.test(l));
      assert.deepEqual(noisy, [], r.stderr);
      assert.match(r.stderr, /cluster: objective/);
      // The toolkit's private runtime directory: under TMPDIR, this user's, mode 0700.
      const uid = Deno.uid();
      if (uid !== null) {
        const st = await Deno.lstat(`${tmp}/mlcd-runtime-${uid}`);
        assert.ok(st.isDirectory);
        assert.equal(st.uid, uid);
        assert.equal(st.mode! & 0o777, 0o700);
      }
    }, "mlcd_quiet_");
  });
}

Deno.test("without a GPU adapter every command prints one line naming the fix and exits 2", async () => {
  await withDir(async (dir) => {
    const input = await clusterFixture(dir);
    const centers = randomMatrix(3, 12, 8);
    await writeNpy(`${dir}/centers.npy`, centers.data, [3, 12]);
    const commands: [string, string, string[]][] = [
      ["cluster", "src/cli/cluster.ts", ["--input", input, "--k", "3", "--out", `${dir}/c.npy`]],
      ["assign", "src/cli/assign.ts", [
        "--input",
        input,
        "--centers",
        `${dir}/centers.npy`,
        "--l",
        "2",
        "--out",
        `${dir}/labels.npy`,
      ]],
      ["train", "src/cli/train.ts", [
        "--data",
        input,
        "--classes",
        "3",
        "--l",
        "2",
        "--epochs",
        "1",
        "--run-dir",
        `${dir}/run`,
      ]],
      ["eval", "src/cli/eval.ts", ["--checkpoint", `${dir}/run`, "--data", "mnist"]],
      ["demo", "src/cli/demo.ts", ["--quick", "--out", `${dir}/demo`]],
      ["bench", "bench/run.ts", ["--quick", "--out", `${dir}/bench`]],
    ];
    for (const [name, script, args] of commands) {
      const r = await runWithEnv(script, args, [], NO_ADAPTER_ENV);
      const err = errLines(r.stderr);
      assert.equal(r.code, 2, `${name}: exit ${r.code}\n${r.stderr}`);
      assert.equal(r.stdout, "", name);
      assert.equal(err.length, 1, `${name}:\n${r.stderr}`);
      assert.match(err[0]!, new RegExp(`^mlcd ${name}: No WebGPU adapter found`));
      assert.ok(err[0]!.includes("apt-get install -y mesa-vulkan-drivers libvulkan1"), name);
    }
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(left, ["centers.npy", "x.npy"], "no outputs written");
  }, "mlcd_noadapter_");
});
