import assert from "node:assert/strict";
import { findLongFiles, MAX_LINES } from "../scripts/check_file_lines.ts";
import { withDir } from "./_tmp.ts";

const lines = (n: number, end = "\n") =>
  Array.from({ length: n }, (_, i) => `const a${i} = ${i};`)
    .join("\n") + (n ? end : "");

Deno.test("findLongFiles() finds source files over the limit outside tests/", async () => {
  await withDir(async (root) => {
    const files: Record<string, string> = {
      "mod.ts": lines(5),
      "src/kmeans/long.ts": lines(6), // over
      "src/kmeans/edge.ts": lines(5), // at the limit
      "src/kmeans/no_newline.ts": lines(6, ""), // over, without a final newline
      "kernels/k.wgsl": lines(7), // over
      "scripts/tool.py": lines(6), // over
      "bench/notes.md": lines(50), // not source
      "bench/results/r.json": lines(50), // not source
      "tests/big_test.ts": lines(50), // exempt
      "tests/_fixture.ts": lines(50), // exempt
      "node_modules/x/index.js": lines(50), // not ours
      ".gpu/cache.js": lines(50), // dot-folder
      "out/run.py": lines(50), // a run output
      "src/empty.ts": "",
    };
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(`${root}/${path.split("/").slice(0, -1).join("/")}`, { recursive: true });
      await Deno.writeTextFile(`${root}/${path}`, text);
    }
    assert.deepEqual(await findLongFiles(root, 5), [
      "kernels/k.wgsl: 7 lines (at most 5 outside tests/; split it by job)",
      "scripts/tool.py: 6 lines (at most 5 outside tests/; split it by job)",
      "src/kmeans/long.ts: 6 lines (at most 5 outside tests/; split it by job)",
      "src/kmeans/no_newline.ts: 6 lines (at most 5 outside tests/; split it by job)",
    ]);
    assert.deepEqual(await findLongFiles(root, 7), []);
  });
});

Deno.test("findLongFiles() passes this repository at 400 lines", async () => {
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  assert.equal(MAX_LINES, 400);
  assert.deepEqual(await findLongFiles(root), []);
});
