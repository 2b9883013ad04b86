// examples/cycle.ts runs unchanged when mod.ts is imported over HTTP: the repository is
// served on 127.0.0.1 (a free port) and the example imports http://127.0.0.1:<port>/mod.ts.
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;
const MODULE = Deno.env.get("MLCD_URL_TEST_MODULE") ?? "mod.ts";

Deno.test("examples/cycle.ts runs against mod.ts imported from an HTTP URL", async () => {
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      `--allow-read=${ROOT}`,
      `${ROOT}scripts/serve.ts`,
      "--root",
      ROOT,
      "--max-seconds",
      "300",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first = "";
    const deadline = Date.now() + 30_000;
    while (!first.includes("\n") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      first += value;
    }
    reader.releaseLock();
    const base = first.match(/listening (http:\/\/127\.0\.0\.1:\d+\/)/)?.[1];
    assert.ok(base, `the server did not start: ${first}`);
    const url = `${base}${MODULE}`;
    const probe = await fetch(url);
    assert.equal(probe.status, 200);
    await probe.body?.cancel();

    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        // The served modules change with every edit and the port with every run: keep
        // them out of deno.lock (a stale hash under a reused port would fail the check).
        "--no-lock",
        "--reload=http://127.0.0.1",
        `${ROOT}examples/cycle.ts`,
        url,
        "--train",
        "512",
        "--test",
        "256",
        "--classes",
        "16",
        "--l",
        "4",
        "--epochs",
        "1",
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, err);
    const result = JSON.parse(new TextDecoder().decode(out.stdout).trim());
    assert.equal(result.module, url);
    assert.match(err, new RegExp(`module ${url.replace(/[.]/g, "\\.")}`));
    for (const k of ["linearProbeTop1", "knnTop1", "nmi", "ari"]) {
      assert.ok(result[k] > 0.2 && result[k] <= 1, `${k} = ${result[k]}`);
    }
  } finally {
    server.kill("SIGTERM");
    await server.status;
    await server.stdout.cancel().catch(() => {});
  }
});
