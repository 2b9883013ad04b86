// Test helper: the repository served over HTTP on 127.0.0.1 (scripts/serve.ts, a free port),
// for the tests that import the public modules from a URL as a user outside it would.
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;

/**
 * Serves the repository while `fn` runs; `fn` gets the base URL (`http://127.0.0.1:<port>/`).
 * `maxSeconds`: the server stops by itself after that long. `probe`: a path that must be
 * served (status 200) before `fn` runs.
 */
export async function withServedRepo(
  fn: (base: string) => Promise<void>,
  options: { maxSeconds?: number; probe?: string } = {},
): Promise<void> {
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      `--allow-read=${ROOT}`,
      `${ROOT}scripts/serve.ts`,
      "--root",
      ROOT,
      "--max-seconds",
      String(options.maxSeconds ?? 300),
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
    if (options.probe !== undefined) {
      const probe = await fetch(`${base}${options.probe}`);
      assert.equal(probe.status, 200);
      await probe.body?.cancel();
    }
    await fn(base);
  } finally {
    server.kill("SIGTERM");
    await server.status;
    await server.stdout.cancel().catch(() => {});
  }
}
