// deno task test: runs `deno test -A tests/` (plus any extra args), streams its output, and ends
// with a plain "N passed, N failed" line. Deno on the software Vulkan driver (lavapipe) can crash
// with SIGSEGV while tearing down GPU devices after the last test has finished; when that
// happens after a summary with 0 failures, the run still passes, with a warning saying so.
// Any failed test, or a crash before the summary, fails the run.
const args = ["test", "-A", ...(Deno.args.length ? Deno.args : ["tests/"])];
const child = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "inherit" })
  .spawn();
const decoder = new TextDecoder();
let tail = "";
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4000);
}
const status = await child.status;
// deno-lint-ignore no-control-regex
const plain = tail.replace(/\x1b\[[0-9;]*m/g, "");
const summary = [
  ...plain.matchAll(/(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g),
]
  .pop();
const passed = summary ? Number(summary[2]) : 0;
const failed = summary ? Number(summary[3]) : 0;
const crashed = status.signal === "SIGSEGV" || status.code === 139;
let code = status.code;
if (code !== 0 && crashed && summary && failed === 0 && passed > 0) {
  console.error(
    "mlcd test: deno crashed with SIGSEGV after every test had passed (GPU driver teardown); " +
      "counting the run as passed",
  );
  code = 0;
}
if (summary) console.log(`${passed} passed, ${failed} failed`);
else console.log(`0 passed, 1 failed`);
Deno.exit(summary ? code : (code === 0 ? 1 : code));
