// The full demo is too long for CI (minutes on a software adapter); these check its
// contract: help, the no-GPU message, and the JSON keys via the library-only cycle test.
import assert from "node:assert/strict";
import { errLines, runDeno } from "./_cli.ts";
import { NO_ADAPTER_ENV } from "./_no_adapter.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function demo(args: string[], env: Record<string, string> = {}) {
  const r = await runDeno([`${ROOT}src/cli/demo.ts`, ...args], { env });
  return { code: r.code, out: r.stdout, err: errLines(r.stderr) };
}

Deno.test("deno task demo --help says what the demo does", async () => {
  const r = await demo(["--help"]);
  assert.equal(r.code, 0);
  for (const f of ["--json", "--quick", "--compare", "--out"]) assert.ok(r.out.includes(f), f);
});

Deno.test("deno task demo without a GPU adapter prints one line naming the install command, exit 2", async () => {
  const r = await demo(["--quick", "--json"], NO_ADAPTER_ENV);
  assert.equal(r.code, 2);
  assert.equal(r.out, "");
  assert.equal(r.err.length, 1, r.err.join("\n"));
  assert.match(r.err[0]!, /^mlcd demo: No WebGPU adapter found/);
  assert.ok(r.err[0]!.includes("apt-get install -y mesa-vulkan-drivers libvulkan1"));
});
