// The Parquet modules work when imported over HTTP (as `@mlcd/mlcd/parquet` would be): the
// repository is served on 127.0.0.1 and a script imports
// http://127.0.0.1:<port>/src/data/parquet.ts, writes labels and reads them back (parquet-wasm's
// WebAssembly loads from its npm package).
import assert from "node:assert/strict";
import { withDir } from "./_tmp.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("src/data/parquet.ts imported from an HTTP URL writes and reads Parquet", () =>
  withDir(async (dir) => {
    const server = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        `--allow-read=${ROOT}`,
        `${ROOT}scripts/serve.ts`,
        "--root",
        ROOT,
        "--max-seconds",
        "120",
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
      const script = `${dir}/use.ts`;
      await Deno.writeTextFile(
        script,
        `import * as pq from "${base}src/data/parquet.ts";
const path = Deno.args[0]!;
await pq.writeParquetLabels(path, {
  indices: new Uint32Array([4, 2, 9, 1]),
  scores: new Float32Array([0.5, 0.25, 1, 0.75]),
  l: 2,
  keys: ["a", "b"],
});
const back = await pq.readParquetLabels(path);
console.log(JSON.stringify({ ids: back.ids, indices: [...back.indices], scores: [...back.scores] }));
`,
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-lock", "--reload=http://127.0.0.1", script, `${dir}/l.parquet`],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
        ids: ["a", "b"],
        indices: [4, 2, 9, 1],
        scores: [0.5, 0.25, 1, 0.75],
      });
    } finally {
      server.kill("SIGTERM");
      await server.status;
      await server.stdout.cancel().catch(() => {});
    }
  }));
