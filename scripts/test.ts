// deno task test: runs `deno test -A tests/` (plus any extra args), streams its output, and ends
// with a plain "N passed, N failed, N skipped" line, after one "skipped: <test>" line per
// ignored test (a test that needs a missing optional peer carries the reason in its name, see
// tests/_peer.ts). Any failed test, a crash, or a signal fails the run.
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
// deno-lint-ignore no-control-regex
const plainText = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "");
let tail = "", line = "";
const skipped: string[] = [];
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  const text = decoder.decode(chunk, { stream: true });
  tail = (tail + text).slice(-4000);
  const lines = (line + text).split("\n");
  line = lines.pop()!;
  for (const l of lines) {
    const m = /^(.*) \.\.\. ignored \(/.exec(plainText(l));
    if (m) skipped.push(m[1]!);
  }
}
const status = await child.status;
if (!Deno.env.get("MLCD_CACHE_DIR")) {
  await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
}
const plain = plainText(tail);
const summary = [
  ...plain.matchAll(
    /(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \(\d+ steps?\))?(?: \| (\d+) ignored)?/g,
  ),
].pop();
const passed = summary ? Number(summary[2]) : 0;
const failed = summary ? Number(summary[3]) : 0;
const ignored = summary ? Number(summary[4] ?? 0) : 0;
if (status.signal) console.error(`mlcd test: deno test was killed by ${status.signal}`);
for (const name of skipped) console.log(`skipped: ${name}`);
if (summary) console.log(`${passed} passed, ${failed} failed, ${ignored} skipped`);
else console.log(`0 passed, 1 failed, 0 skipped`);
Deno.exit(status.code !== 0 ? (status.code || 1) : (summary ? 0 : 1));
