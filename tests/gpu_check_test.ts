import assert from "node:assert/strict";

const SCRIPT = new URL("../scripts/gpu_check.ts", import.meta.url).pathname;

Deno.test("deno task gpu-check --quick checks every kernel exactly and writes the report", async () => {
  const out = await Deno.makeTempDir({ prefix: "mlcd_gpu_check_" });
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SCRIPT, "--quick", "--out", out],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, stderr);
    const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assert.equal(files.length, 2, files.join(", "));
    const json = JSON.parse(
      await Deno.readTextFile(`${out}/${files.find((f) => f.endsWith(".json"))}`),
    );
    assert.deepEqual(
      json.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]),
      [
        ["k-means assignment pass", true],
        ["k-means, one iteration (end to end)", true],
        ["top-8", true],
        ["MLCD loss, forward + backward", true],
      ],
    );
    assert.equal(typeof json.adapter.description, "string");
    const md = await Deno.readTextFile(`${out}/${files.find((f) => f.endsWith(".md"))}`);
    assert.match(
      md,
      new RegExp(`^# gpu-check: ${json.adapter.description.replace(/[()]/g, "\\$&")}`),
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("scripts/gpu_check.ts has no npm package on its import path", async () => {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", SCRIPT],
    stdout: "piped",
  }).output();
  assert.equal(info.code, 0);
  const graph = JSON.parse(new TextDecoder().decode(info.stdout));
  const npm = (graph.modules as { specifier: string }[]).filter((m) =>
    m.specifier.startsWith("npm:")
  );
  assert.deepEqual(npm, []);
  assert.ok(graph.modules.length > 10, "the import graph was read");
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
