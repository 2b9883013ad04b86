// deno task test: runs `deno test -A tests/` (plus any extra args), streams its output, and ends
// with a plain "N passed, N failed" line. Any failed test, a crash, or a signal fails the run.
// (The exit-time SIGSEGV/SIGABRT once seen on lavapipe is avoided by waiting for each test
// module's GPU teardown, see tests/_gpu.ts waitForGpuTeardown and
// scripts/repro/teardown_crash.ts; it is no longer tolerated here.)
// Kernel autotuning runs as it would for a user, but into a fresh cache directory, so
// that tests neither read nor change the user's ~/.cache/mlcd.
const args = ["test", "-A", ...(Deno.args.length ? Deno.args : ["tests/"])];
const cacheDir = Deno.env.get("MLCD_CACHE_DIR") ??
  await Deno.makeTempDir({ prefix: "mlcd_test_cache_" });
const child = new Deno.Command(Deno.execPath(), {
  args,
  stdout: "piped",
  stderr: "inherit",
  env: { MLCD_CACHE_DIR: cacheDir },
}).spawn();
const decoder = new TextDecoder();
let tail = "";
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4000);
}
const status = await child.status;
if (!Deno.env.get("MLCD_CACHE_DIR")) {
  await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
}
// deno-lint-ignore no-control-regex
const plain = tail.replace(/\x1b\[[0-9;]*m/g, "");
const summary = [
  ...plain.matchAll(/(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g),
]
  .pop();
const passed = summary ? Number(summary[2]) : 0;
const failed = summary ? Number(summary[3]) : 0;
if (status.signal) console.error(`mlcd test: deno test was killed by ${status.signal}`);
if (summary) console.log(`${passed} passed, ${failed} failed`);
else console.log(`0 passed, 1 failed`);
Deno.exit(status.code !== 0 ? (status.code || 1) : (summary ? 0 : 1));
