// deno task test: runs `deno test -A tests/` (plus any extra args), streams its output, and ends
// with a plain "N passed, N failed" line. Deno on the software Vulkan driver (lavapipe) can crash
// with SIGSEGV, or abort on glibc's "corrupted size vs. prev_size" (SIGABRT), while tearing down
// GPU devices after the last test has finished; when that happens after a summary with 0
// failures, the run still passes, with a warning saying so.
// Any failed test, or a crash before the summary, fails the run.
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
const crashed = status.signal === "SIGSEGV" || status.signal === "SIGABRT" ||
  status.code === 139 || status.code === 134;
let code = status.code;
if (code !== 0 && crashed && summary && failed === 0 && passed > 0) {
  console.error(
    `mlcd test: deno crashed (${
      status.signal ?? `exit ${status.code}`
    }) after every test had passed (GPU driver teardown); ` +
      "counting the run as passed",
  );
  code = 0;
}
if (summary) console.log(`${passed} passed, ${failed} failed`);
else console.log(`0 passed, 1 failed`);
Deno.exit(summary ? code : (code === 0 ? 1 : code));
